// Seccomp profiles in Docker's format (the OCI fields plus archMap, name, comment and includes/excludes rules) and
// the OCI filter one means for a container: a pure function of the profile, the container's capabilities (its
// bounding set), the host's architecture and its kernel version — what dockerd does with its default profile and
// with a user's. The default profile is moby's own default.json, kept unmodified as data in
// third_party/moby-profiles (provenance and licence there). Since Docker 25 no rule of it allows the io_uring
// calls (a ring performs operations seccomp never sees) and socket(2) is refused for AF_ALG and AF_VSOCK.
import mobyDefault from '../../../third_party/moby-profiles/seccomp/default.json';
import { invalidParameter } from '../errdefs';

/** One rule of an OCI seccomp filter. */
export interface SeccompRule {
  names: string[];
  action: string;
  args?: SeccompArg[];
  errnoRet?: number;
}
export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}
/** The OCI runtime spec's linux.seccomp. */
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls: SeccompRule[];
}

/** A kernel release as profiles compare them: "<kernel>.<major>", the rest ignored (6.18.44-x is 6.18). */
interface KernelVersion {
  kernel: number;
  major: number;
}
/** When a rule applies (includes) or does not (excludes). */
interface RuleFilter {
  arches: string[];
  caps: string[];
  minKernel?: KernelVersion;
}
interface ProfileRule extends SeccompRule {
  /** The old single-name spelling; a rule may not have both it and names. */
  name?: string;
  includes?: RuleFilter;
  excludes?: RuleFilter;
}
/** A decoded profile in Docker's format. */
export interface DockerSeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  archMap: { architecture: string; subArchitectures: string[] }[];
  flags: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls: ProfileRule[];
}

/** What of a container and its host a profile's rules depend on. */
export interface SeccompTarget {
  /** The container's bounding capabilities, as CAP_SYS_ADMIN. */
  capabilities: string[];
  /** Node's process.arch of the host (x64, arm64, …). */
  arch: string;
  /** The host kernel's release (os.release()); read only when a rule has a minKernel. */
  kernel: string;
}

/**
 * Node's process.arch as profiles name architectures in includes/excludes.arches (libseccomp's names, which
 * moby derives from Go's GOARCH), and the SCMP_ARCH_ whose archMap entry gives the filter's architectures.
 * (moby's own tables miss the archMap entry on loong64 and mipsel through a naming slip; here they get theirs.)
 */
const ARCHES: Record<string, { profile: string; scmp: string }> = {
  x64: { profile: 'amd64', scmp: 'SCMP_ARCH_X86_64' },
  ia32: { profile: 'x86', scmp: 'SCMP_ARCH_X86' },
  arm64: { profile: 'arm64', scmp: 'SCMP_ARCH_AARCH64' },
  arm: { profile: 'arm', scmp: 'SCMP_ARCH_ARM' },
  loong64: { profile: 'loongarch64', scmp: 'SCMP_ARCH_LOONGARCH64' },
  mipsel: { profile: 'mipsel', scmp: 'SCMP_ARCH_MIPSEL' },
  ppc: { profile: 'ppc', scmp: 'SCMP_ARCH_PPC' },
  // Node on Linux ppc64 is little-endian.
  ppc64: { profile: 'ppc64le', scmp: 'SCMP_ARCH_PPC64LE' },
  riscv64: { profile: 'riscv64', scmp: 'SCMP_ARCH_RISCV64' },
  s390: { profile: 's390', scmp: 'SCMP_ARCH_S390' },
  s390x: { profile: 's390x', scmp: 'SCMP_ARCH_S390X' },
};

/** The host's release as "<kernel>.<major>" (moby reads it the same way and fails the same way). */
function hostKernel(release: string): KernelVersion {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) throw new Error(`failed to parse kernel version ${JSON.stringify(release)}`);
  return { kernel: Number(m[1]), major: Number(m[2]) };
}
const atLeast = (k: KernelVersion, min: KernelVersion) =>
  k.kernel > min.kernel || (k.kernel === min.kernel && k.major >= min.major);

/**
 * The OCI filter of `profile` for one container (moby's setupSeccomp semantics): the archMap entry of the host's
 * architecture gives the filter's architectures; a rule is dropped when its excludes match (the host's arch, any
 * of the capabilities held, a kernel at least minKernel) or its includes do not (arch not listed, a capability
 * missing, an older kernel). A profile with neither a default action nor rules means no filter at all.
 */
export function seccompFor(profile: DockerSeccompProfile, target: SeccompTarget): SeccompProfile | undefined {
  if (!profile.defaultAction && !profile.syscalls.length) return undefined;
  if (profile.architectures.length && profile.archMap.length)
    throw invalidParameter(
      "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'",
    );
  const arch = ARCHES[target.arch];
  const architectures = [...profile.architectures];
  const native = arch && profile.archMap.find((a) => a.architecture === arch.scmp);
  if (native) architectures.push(native.architecture, ...native.subArchitectures);
  const held = new Set(target.capabilities);
  let kernel: KernelVersion | undefined;
  const kernelAtLeast = (min: KernelVersion) => atLeast((kernel ??= hostKernel(target.kernel)), min);
  const applies = (rule: ProfileRule) => {
    const ex = rule.excludes;
    if (ex) {
      if (arch && ex.arches.includes(arch.profile)) return false;
      if (ex.caps.some((c) => held.has(c))) return false;
      if (ex.minKernel && kernelAtLeast(ex.minKernel)) return false;
    }
    const inc = rule.includes;
    if (inc) {
      if (inc.arches.length && !(arch && inc.arches.includes(arch.profile))) return false;
      if (inc.caps.some((c) => !held.has(c))) return false;
      if (inc.minKernel && !kernelAtLeast(inc.minKernel)) return false;
    }
    return true;
  };
  const syscalls: SeccompRule[] = [];
  for (const rule of profile.syscalls) {
    if (rule.name && rule.names.length)
      throw invalidParameter(
        "both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'",
      );
    if (!applies(rule)) continue;
    const out: SeccompRule = { names: rule.name ? [rule.name] : rule.names, action: rule.action };
    if (rule.args?.length) out.args = rule.args;
    if (rule.errnoRet !== undefined) out.errnoRet = rule.errnoRet;
    syscalls.push(out);
  }
  const out: SeccompProfile = { defaultAction: profile.defaultAction, architectures, syscalls };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  if (profile.flags.length) out.flags = profile.flags;
  if (profile.listenerPath) out.listenerPath = profile.listenerPath;
  if (profile.listenerMetadata) out.listenerMetadata = profile.listenerMetadata;
  return out;
}

/** Go's encoding/json matches field names without regard to case: keys folded to the profile's spelling. */
const FIELDS = [
  'defaultAction',
  'defaultErrnoRet',
  'architectures',
  'archMap',
  'architecture',
  'subArchitectures',
  'syscalls',
  'flags',
  'listenerPath',
  'listenerMetadata',
  'name',
  'names',
  'action',
  'errnoRet',
  'args',
  'index',
  'value',
  'valueTwo',
  'op',
  'includes',
  'excludes',
  'arches',
  'caps',
  'minKernel',
  'comment',
];
const FOLD = new Map(FIELDS.map((f) => [f.toLowerCase(), f]));
function fold(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fold);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[FOLD.get(k.toLowerCase()) ?? k] = fold(x);
    return out;
  }
  return v;
}

const failed = (why: string) => invalidParameter(`Decoding seccomp profile failed: ${why}`);
const typeError = (field: string) => failed(`json: cannot unmarshal ${field} of the wrong type in seccomp.Seccomp`);
const isStrings = (v: unknown): v is string[] | null | undefined =>
  v === undefined || v === null || (Array.isArray(v) && v.every((s) => typeof s === 'string'));
const isUint = (v: unknown): v is number | null | undefined =>
  v === undefined || v === null || (typeof v === 'number' && Number.isInteger(v) && v >= 0);
const optionalString = (v: unknown, field: string): string | undefined => {
  if (v != null && typeof v !== 'string') throw typeError(field);
  return (v as string | null | undefined) ?? undefined;
};
const strings = (v: unknown, field: string): string[] => {
  if (!isStrings(v)) throw typeError(field);
  return v ?? [];
};
const uint = (v: unknown, field: string): number | undefined => {
  if (!isUint(v)) throw typeError(field);
  return v ?? undefined;
};

/** minKernel as moby's KernelVersion decodes it: "" is none, otherwise "<kernel>.<major>" of two uint8s, not 0.0. */
function decodeMinKernel(v: unknown): KernelVersion | undefined {
  const raw = JSON.stringify(v);
  const invalid = (why?: string) =>
    failed(`invalid kernel version: ${raw}, expected "<kernel>.<major>"${why ? `: ${why}` : ''}`);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(`json: cannot unmarshal ${typeof v} into Go value of type string`);
  if (v === '') return undefined;
  const parts = v.split('.');
  if (parts.length !== 2) throw invalid();
  const uint8 = (s: string) => {
    if (!/^\d+$/.test(s)) throw invalid(`strconv.ParseUint: parsing ${JSON.stringify(s)}: invalid syntax`);
    if (Number(s) > 255) throw invalid(`strconv.ParseUint: parsing ${JSON.stringify(s)}: value out of range`);
    return Number(s);
  };
  const version = { kernel: uint8(parts[0]!), major: uint8(parts[1]!) };
  if (!version.kernel && !version.major) throw invalid('version cannot be 0.0');
  return version;
}

function decodeFilter(v: unknown): RuleFilter | undefined {
  if (v == null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw typeError('syscalls.includes');
  const f = v as Record<string, unknown>;
  return {
    arches: strings(f.arches, 'syscalls.includes'),
    caps: strings(f.caps, 'syscalls.includes'),
    minKernel: decodeMinKernel(f.minKernel),
  };
}

function decodeRule(v: unknown): ProfileRule {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw typeError('syscalls');
  const s = v as Record<string, unknown>;
  if (typeof s.action !== 'string') throw typeError('syscalls');
  if (s.args != null && !Array.isArray(s.args)) throw typeError('syscalls.args');
  const args = ((s.args as unknown[] | null | undefined) ?? []).map((a): SeccompArg => {
    const x = a as Record<string, unknown> | null;
    if (!x || typeof x !== 'object' || typeof x.op !== 'string') throw typeError('syscalls.args');
    const arg: SeccompArg = {
      index: uint(x.index, 'syscalls.args') ?? 0,
      value: uint(x.value, 'syscalls.args') ?? 0,
      op: x.op,
    };
    const valueTwo = uint(x.valueTwo, 'syscalls.args');
    if (valueTwo !== undefined) arg.valueTwo = valueTwo;
    return arg;
  });
  const rule: ProfileRule = { names: strings(s.names, 'syscalls'), action: s.action };
  const name = optionalString(s.name, 'syscalls');
  if (name) rule.name = name;
  if (args.length) rule.args = args;
  const errnoRet = uint(s.errnoRet, 'syscalls');
  if (errnoRet !== undefined) rule.errnoRet = errnoRet;
  const includes = decodeFilter(s.includes);
  if (includes) rule.includes = includes;
  const excludes = decodeFilter(s.excludes);
  if (excludes) rule.excludes = excludes;
  return rule;
}

/** A profile's JSON value, decoded and checked as Go decodes it into moby's Seccomp type (with its texts). */
function decodeProfileValue(raw: unknown): DockerSeccompProfile {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw failed('json: cannot unmarshal non-object into Go value of type seccomp.Seccomp');
  const p = fold(raw) as Record<string, unknown>;
  if (p.archMap != null && !Array.isArray(p.archMap)) throw typeError('archMap');
  const archMap = ((p.archMap as unknown[] | null | undefined) ?? []).map((a) => {
    const x = a as Record<string, unknown> | null;
    if (!x || typeof x.architecture !== 'string') throw typeError('archMap');
    return { architecture: x.architecture, subArchitectures: strings(x.subArchitectures, 'archMap') };
  });
  if (p.syscalls != null && !Array.isArray(p.syscalls)) throw typeError('syscalls');
  const profile: DockerSeccompProfile = {
    defaultAction: optionalString(p.defaultAction, 'defaultAction') ?? '',
    architectures: strings(p.architectures, 'architectures'),
    archMap,
    flags: strings(p.flags, 'flags'),
    syscalls: ((p.syscalls as unknown[] | null | undefined) ?? []).map(decodeRule),
  };
  const defaultErrnoRet = uint(p.defaultErrnoRet, 'defaultErrnoRet');
  if (defaultErrnoRet !== undefined) profile.defaultErrnoRet = defaultErrnoRet;
  const listenerPath = optionalString(p.listenerPath, 'listenerPath');
  if (listenerPath) profile.listenerPath = listenerPath;
  const listenerMetadata = optionalString(p.listenerMetadata, 'listenerMetadata');
  if (listenerMetadata) profile.listenerMetadata = listenerMetadata;
  return profile;
}

/**
 * A --security-opt seccomp=<JSON> (or daemon.json seccomp-profile) profile, decoded and checked: what moby refuses
 * when it loads one, refused here with its texts — at create, so a bad profile never makes a container.
 */
export function decodeSeccompProfile(body: string): DockerSeccompProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err: any) {
    throw failed(err.message);
  }
  const profile = decodeProfileValue(raw);
  // Checked at create although moby finds these only when it builds the spec: the container could never start.
  seccompFor(profile, { capabilities: [], arch: 'x64', kernel: '0.0' });
  return profile;
}

/** Docker's default profile: moby's default.json, decoded once. */
export const DEFAULT_SECCOMP_PROFILE: DockerSeccompProfile = decodeProfileValue(mobyDefault);
