// Docker Engine API (v1.45) shapes the typed client methods take and return. Only the fields the CLI and the
// extension read are spelled out; everything else passes through untouched.

export interface Port {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: string;
}

export interface MountPoint {
  Type: string;
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation?: string;
}

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Command: string;
  Created: number;
  Ports: Port[];
  SizeRw?: number;
  SizeRootFs?: number;
  Labels: Record<string, string> | null;
  State: string;
  Status: string;
  HostConfig?: { NetworkMode?: string };
  NetworkSettings?: { Networks?: Record<string, unknown> | null };
  Mounts: MountPoint[];
  [key: string]: unknown;
}

export interface HostConfig {
  Binds?: string[] | null;
  Mounts?: { Type: string; Source?: string; Target: string; ReadOnly?: boolean; [key: string]: unknown }[];
  PortBindings?: Record<string, { HostIp?: string; HostPort?: string }[]>;
  PublishAllPorts?: boolean;
  RestartPolicy?: { Name: string; MaximumRetryCount?: number };
  AutoRemove?: boolean;
  NetworkMode?: string;
  Memory?: number;
  MemorySwap?: number;
  NanoCpus?: number;
  CpuShares?: number;
  Privileged?: boolean;
  [key: string]: unknown;
}

/** A healthcheck: Test ['NONE'], ['CMD', …] or ['CMD-SHELL', command]; durations in nanoseconds. */
export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

export interface ContainerCreateConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, object>;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[];
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  Image: string;
  Labels?: Record<string, string>;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  StopSignal?: string;
  StopTimeout?: number;
  Healthcheck?: HealthConfig;
  HostConfig?: HostConfig;
  NetworkingConfig?: { EndpointsConfig?: Record<string, unknown> };
  [key: string]: unknown;
}

export interface ContainerInspect {
  Id: string;
  Created: string;
  Path: string;
  Args: string[];
  State: {
    Status: string;
    Running: boolean;
    Paused: boolean;
    Restarting: boolean;
    OOMKilled: boolean;
    Dead: boolean;
    Pid: number;
    ExitCode: number;
    Error: string;
    StartedAt: string;
    FinishedAt: string;
    /** Present once a container with a healthcheck has started. */
    Health?: {
      Status: 'starting' | 'healthy' | 'unhealthy';
      FailingStreak: number;
      Log: { Start: string; End: string; ExitCode: number; Output: string }[];
    };
    [key: string]: unknown;
  };
  Image: string;
  Name: string;
  RestartCount: number;
  Config: ContainerCreateConfig;
  HostConfig: HostConfig;
  NetworkSettings: {
    Ports?: Record<string, { HostIp: string; HostPort: string }[] | null> | null;
    [key: string]: unknown;
  };
  Mounts: MountPoint[];
  [key: string]: unknown;
}

export interface ImageSummary {
  Id: string;
  ParentId: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Created: number;
  Size: number;
  SharedSize: number;
  VirtualSize?: number;
  Labels: Record<string, string> | null;
  Containers: number;
  [key: string]: unknown;
}

export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: string;
  Size: number;
  Config: Record<string, unknown> | null;
  [key: string]: unknown;
}

export interface Volume {
  Name: string;
  Driver: string;
  Mountpoint: string;
  CreatedAt?: string;
  Labels: Record<string, string> | null;
  Scope: string;
  Options: Record<string, string> | null;
  UsageData?: { Size: number; RefCount: number } | null;
  [key: string]: unknown;
}

export interface Network {
  Name: string;
  Id: string;
  Created: string;
  Scope: string;
  Driver: string;
  EnableIPv6: boolean;
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  IPAM: {
    Driver: string;
    Config: { Subnet?: string; Gateway?: string }[] | null;
    Options?: Record<string, string> | null;
  };
  Containers?: Record<string, unknown>;
  Options: Record<string, string> | null;
  Labels: Record<string, string> | null;
  [key: string]: unknown;
}

export interface ExecCreateConfig {
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  DetachKeys?: string;
  Tty?: boolean;
  Env?: string[];
  Cmd: string[];
  Privileged?: boolean;
  User?: string;
  WorkingDir?: string;
  ConsoleSize?: [number, number];
}

export interface ExecInspect {
  ID: string;
  Running: boolean;
  ExitCode: number | null;
  ContainerID: string;
  Pid: number;
  ProcessConfig: { tty: boolean; entrypoint: string; arguments: string[]; user?: string };
  [key: string]: unknown;
}

/** One line of a pull/push/load progress stream (Docker's jsonmessage). */
export interface JSONMessage {
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number; start?: number; units?: string; hidecounts?: boolean };
  stream?: string;
  from?: string;
  time?: number;
  timeNano?: number;
  error?: string;
  errorDetail?: { code?: number; message: string };
  aux?: unknown;
}

/** The X-Registry-Auth payload and the /auth request body. */
export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  serveraddress?: string;
  identitytoken?: string;
  registrytoken?: string;
}

export interface ContainerTop {
  Titles: string[];
  Processes: string[][];
}

export interface ContainerStats {
  read: string;
  preread?: string;
  pids_stats?: { current?: number; limit?: number };
  cpu_stats: {
    cpu_usage: { total_usage: number; percpu_usage?: number[] };
    system_cpu_usage?: number;
    online_cpus?: number;
  };
  precpu_stats: {
    cpu_usage: { total_usage: number; percpu_usage?: number[] };
    system_cpu_usage?: number;
    online_cpus?: number;
  };
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  blkio_stats?: { io_service_bytes_recursive?: { op: string; value: number }[] | null };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
  name?: string;
  id?: string;
}

export interface SystemDf {
  LayersSize: number;
  Images: ImageSummary[] | null;
  Containers: ContainerSummary[] | null;
  Volumes: Volume[] | null;
  BuildCache?: { Size: number; InUse: boolean; Shared: boolean }[] | null;
}

/** The stat Docker's archive API sends in X-Docker-Container-Path-Stat. */
export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

export interface PruneReport {
  ContainersDeleted?: string[] | null;
  ImagesDeleted?: { Untagged?: string; Deleted?: string }[] | null;
  VolumesDeleted?: string[] | null;
  NetworksDeleted?: string[] | null;
  CachesDeleted?: string[] | null;
  SpaceReclaimed?: number;
}

export type Filters = Record<string, string[]>;

/** POST /build's query (the classic builder's parameters). */
export interface BuildImageOptions {
  /** The Dockerfile's name in the context. */
  dockerfile?: string;
  tags?: string[];
  buildArgs?: Record<string, string>;
  labels?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  pull?: boolean;
  /** rm (the engine's default is on). */
  remove?: boolean;
  forceRemove?: boolean;
  quiet?: boolean;
  networkMode?: string;
  extraHosts?: string[];
  shmSize?: number;
  cacheFrom?: string[];
  platform?: string;
  /** Credentials for pulling FROM images, by registry (the X-Registry-Config header). */
  registryConfig?: Record<string, AuthConfig>;
  signal?: AbortSignal;
}

/** An entry of Berth's directory listing (GET /containers/{id}/files): the path stat plus owner. */
export interface DirEntryStat extends PathStat {
  uid: number;
  gid: number;
}

export interface DirListing {
  stat: PathStat;
  entries: DirEntryStat[];
}
