// Go's time.Duration at nanosecond precision, as Docker's formats use it (HEALTHCHECK and --health-* flags,
// history strings): parsing ("1m30s", "500ms", "1.5h") and String().

/** time.Duration's String() of nanoseconds: "1m30s", "5s", "1.5s", "500ms", "0s". */
export function formatGoDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let u = Math.abs(ns);
  if (u < 1e9) {
    const [unit, div] = u < 1e3 ? ['ns', 1] : u < 1e6 ? ['µs', 1e3] : ['ms', 1e6];
    return `${neg ? '-' : ''}${trimFraction(u / div)}${unit}`;
  }
  let out = '';
  const h = Math.floor(u / 3.6e12);
  u -= h * 3.6e12;
  const m = Math.floor(u / 6e10);
  u -= m * 6e10;
  const s = u / 1e9;
  if (h) out += `${h}h`;
  if (h || m) out += `${m}m`;
  out += `${trimFraction(s)}s`;
  return (neg ? '-' : '') + out;
}

function trimFraction(x: number): string {
  return Number(x.toFixed(9)).toString();
}

/** Go's time.ParseDuration. */
export function parseGoDuration(s: string): number | undefined {
  const re = /^([-+]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/;
  if (s === '0') return 0;
  if (!re.test(s)) return undefined;
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, μs: 1e3, ms: 1e6, s: 1e9, m: 6e10, h: 3.6e12 };
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) total += Number(m[1]) * units[m[2]];
  return Math.round(s.startsWith('-') ? -total : total);
}
