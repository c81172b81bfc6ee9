// Where `docker run --rm busybox true` spends its time, berthd (and a rootless berthd where the host can run one)
// vs the reference dockerd, default bridge and --network none: the API calls the docker CLI makes (create, wait
// armed, start, wait returns, remove) timed from the client, and berthd's own start phases from its debug log
// ("container start phases", "network attach/detach"). `npm run bench -- breakdown` (the bench starts the engines);
// the README's table is this output.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { EngineClient } from '../../src/client';

export interface BreakdownEngine {
  name: string;
  socket: string;
  /** berthd's log (started with -D): its phase lines are read from it. */
  logFile?: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

async function oneRun(client: EngineClient, image: string, network: string): Promise<Record<string, number>> {
  const t = () => performance.now();
  const ms: Record<string, number> = {};
  let t0 = t();
  const { Id: id } = await client.json('POST', '/containers/create', {
    body: { Image: image, Cmd: ['true'], Labels: { 'berth.bench': '1' }, HostConfig: { NetworkMode: network } },
  });
  ms.create = t() - t0;
  t0 = t();
  await client.json('POST', `/containers/${id}/start`);
  ms.start = t() - t0;
  // The CLI arms its wait before start; a second connection could race start, so here it asks after start
  // (not-running answers at once for an exit already seen).
  t0 = t();
  await client.json('POST', `/containers/${id}/wait?condition=not-running`);
  ms['exit seen (wait)'] = t() - t0;
  t0 = t();
  await client.json('DELETE', `/containers/${id}?force=1`);
  ms.remove = t() - t0;
  ms.total = ms.create + ms.start + ms['exit seen (wait)'] + ms.remove;
  return ms;
}

/** berthd's debug lines written since `from` (bytes): per-phase figures keyed by phase name. */
function berthPhases(logFile: string, from: number): Record<string, number[]> {
  const text = fs.readFileSync(logFile, 'utf8').slice(from);
  const out: Record<string, number[]> = {};
  for (const line of text.split('\n')) {
    if (line.includes('msg="container start phases"')) {
      for (const [, k, v] of line.matchAll(/ (\w+)=([\d.]+)/g))
        if (k !== 'container') (out[`start: ${k}`] ??= []).push(+v);
    }
    const net = /msg="network (attach|detach)".* ms=(\d+)/.exec(line);
    if (net) (out[`network ${net[1]}`] ??= []).push(+net[2]);
    // Inside network attach/detach: the namespace, and each CNI plugin process (bridge runs host-local IPAM).
    const part = /msg="(netns create|cni \w+ (?:ADD|DEL))".* ms=(\d+)/.exec(line);
    if (part) (out[`  ${part[1]}`] ??= []).push(+part[2]);
  }
  return out;
}

export async function runBreakdown(engines: BreakdownEngine[], image: string, runs = 10): Promise<string[]> {
  const lines: string[] = [];
  for (const network of ['bridge', 'none']) {
    // The machine's load as the runs begin: the figures are only comparable at a similar load.
    const load = os.loadavg()[0];
    const figures: Record<string, Record<string, number>> = {};
    // berthd's own phases, per engine that logs them (a rootful and a rootless berthd side by side).
    const inner: Record<string, Record<string, number[]>> = {};
    for (const e of engines) {
      const client = new EngineClient(`unix://${e.socket}`);
      await client.negotiateApiVersion();
      const all: Record<string, number[]> = {};
      await oneRun(client, image, network); // warm-up, not counted
      const mark = e.logFile ? fs.statSync(e.logFile).size : 0;
      for (let i = 0; i < runs; i++)
        for (const [k, v] of Object.entries(await oneRun(client, image, network))) (all[k] ??= []).push(v);
      figures[e.name] = Object.fromEntries(Object.entries(all).map(([k, v]) => [k, median(v)]));
      if (e.logFile) for (const [k, v] of Object.entries(berthPhases(e.logFile, mark))) (inner[k] ??= {})[e.name] = v;
    }
    const names = engines.map((e) => e.name);
    lines.push(
      `docker run --rm busybox true, --network ${network}: median of ${runs} (ms), load ${load.toFixed(1)} on ${os.cpus().length} cores`,
    );
    lines.push(`| phase | ${names.join(' | ')} |`, `|---|${names.map(() => '---:').join('|')}|`);
    for (const k of ['create', 'start', 'exit seen (wait)', 'remove', 'total'])
      lines.push(`| ${k} | ${names.map((n) => figures[n]?.[k]?.toFixed(1) ?? 'n/a').join(' | ')} |`);
    for (const [k, byEngine] of Object.entries(inner))
      lines.push(
        `| berthd ${k} | ${names.map((n) => (byEngine[n] ? median(byEngine[n]).toFixed(1) : '')).join(' | ')} |`,
      );
    lines.push('');
  }
  return lines;
}
