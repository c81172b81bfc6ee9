// The Go types dockerd decodes request bodies into (moby's api/types), for decodeGoJson: a field of the wrong JSON
// type is a 400 with Go's text before any route acts on the body. Only the shape lives here; what a value means
// is checked where it is used.
import type { GoType } from './gojson';

type Struct = Extract<GoType, { struct: string }>;

const STRINGS: GoType = { slice: 'string', name: '[]string' };
const STRING_MAP: GoType = { map: 'string' };
const struct = (name: string, pkg: string, fields: Record<string, GoType>): Struct => ({ struct: name, pkg, fields });
const sliceOf = (t: Struct): GoType => ({ slice: t, name: `[]${t.pkg}.${t.struct}` });
const ptrSliceOf = (t: Struct): GoType => ({ slice: t, name: `[]*${t.pkg}.${t.struct}` });

const HEALTHCHECK = struct('HealthConfig', 'container', {
  Test: 'strslice',
  Interval: 'int64',
  Timeout: 'int64',
  StartPeriod: 'int64',
  StartInterval: 'int64',
  Retries: 'int',
});

/** container.Config: the fields of a create body, of a commit's config, of an image config. */
const CONFIG_FIELDS: Record<string, GoType> = {
  Hostname: 'string',
  Domainname: 'string',
  User: 'string',
  AttachStdin: 'bool',
  AttachStdout: 'bool',
  AttachStderr: 'bool',
  ExposedPorts: { map: 'any' },
  Tty: 'bool',
  OpenStdin: 'bool',
  StdinOnce: 'bool',
  Env: STRINGS,
  Cmd: 'strslice',
  Healthcheck: HEALTHCHECK,
  ArgsEscaped: 'bool',
  Image: 'string',
  Volumes: { map: 'any' },
  WorkingDir: 'string',
  Entrypoint: 'strslice',
  NetworkDisabled: 'bool',
  MacAddress: 'string',
  OnBuild: STRINGS,
  Labels: STRING_MAP,
  StopSignal: 'string',
  StopTimeout: 'int',
  Shell: 'strslice',
};

const THROTTLE = struct('ThrottleDevice', 'blkiodev', { Path: 'string', Rate: 'uint64' });
const WEIGHT = struct('WeightDevice', 'blkiodev', { Path: 'string', Weight: 'uint16' });

/** container.Resources: in HostConfig and the body of an update. */
const RESOURCE_FIELDS: Record<string, GoType> = {
  CpuShares: 'int64',
  Memory: 'int64',
  NanoCpus: 'int64',
  CgroupParent: 'string',
  BlkioWeight: 'uint16',
  BlkioWeightDevice: ptrSliceOf(WEIGHT),
  BlkioDeviceReadBps: ptrSliceOf(THROTTLE),
  BlkioDeviceWriteBps: ptrSliceOf(THROTTLE),
  BlkioDeviceReadIOps: ptrSliceOf(THROTTLE),
  BlkioDeviceWriteIOps: ptrSliceOf(THROTTLE),
  CpuPeriod: 'int64',
  CpuQuota: 'int64',
  CpuRealtimePeriod: 'int64',
  CpuRealtimeRuntime: 'int64',
  CpusetCpus: 'string',
  CpusetMems: 'string',
  Devices: sliceOf(
    struct('DeviceMapping', 'container', {
      PathOnHost: 'string',
      PathInContainer: 'string',
      CgroupPermissions: 'string',
    }),
  ),
  DeviceCgroupRules: STRINGS,
  DeviceRequests: sliceOf(
    struct('DeviceRequest', 'container', {
      Driver: 'string',
      Count: 'int',
      DeviceIDs: STRINGS,
      Capabilities: { slice: STRINGS, name: '[][]string' },
      Options: STRING_MAP,
    }),
  ),
  KernelMemory: 'int64',
  KernelMemoryTCP: 'int64',
  MemoryReservation: 'int64',
  MemorySwap: 'int64',
  MemorySwappiness: 'int64',
  OomKillDisable: 'bool',
  PidsLimit: 'int64',
  Ulimits: ptrSliceOf(struct('Ulimit', 'units', { Name: 'string', Hard: 'int64', Soft: 'int64' })),
  CpuCount: 'int64',
  CpuPercent: 'int64',
  IOMaximumIOps: 'uint64',
  IOMaximumBandwidth: 'uint64',
};

const MOUNT = struct('Mount', 'mount', {
  Type: 'string',
  Source: 'string',
  Target: 'string',
  ReadOnly: 'bool',
  Consistency: 'string',
  BindOptions: struct('BindOptions', 'mount', {
    Propagation: 'string',
    NonRecursive: 'bool',
    CreateMountpoint: 'bool',
    ReadOnlyNonRecursive: 'bool',
    ReadOnlyForceRecursive: 'bool',
  }),
  VolumeOptions: struct('VolumeOptions', 'mount', {
    NoCopy: 'bool',
    Labels: STRING_MAP,
    Subpath: 'string',
    DriverConfig: struct('Driver', 'mount', { Name: 'string', Options: STRING_MAP }),
  }),
  TmpfsOptions: struct('TmpfsOptions', 'mount', { SizeBytes: 'int64', Mode: 'uint64' }),
});

const HOST_CONFIG = struct('HostConfig', 'container', {
  Binds: STRINGS,
  ContainerIDFile: 'string',
  LogConfig: struct('LogConfig', 'container', { Type: 'string', Config: STRING_MAP }),
  NetworkMode: 'string',
  PortBindings: {
    map: { slice: struct('PortBinding', 'nat', { HostIp: 'string', HostPort: 'string' }), name: '[]nat.PortBinding' },
  },
  RestartPolicy: struct('RestartPolicy', 'container', { Name: 'string', MaximumRetryCount: 'int' }),
  AutoRemove: 'bool',
  VolumeDriver: 'string',
  VolumesFrom: STRINGS,
  ConsoleSize: { slice: 'uint64', name: '[2]uint' },
  Annotations: STRING_MAP,
  CapAdd: 'strslice',
  CapDrop: 'strslice',
  CgroupnsMode: 'string',
  Dns: STRINGS,
  DnsOptions: STRINGS,
  DnsSearch: STRINGS,
  ExtraHosts: STRINGS,
  GroupAdd: STRINGS,
  IpcMode: 'string',
  Cgroup: 'string',
  Links: STRINGS,
  OomScoreAdj: 'int',
  PidMode: 'string',
  Privileged: 'bool',
  PublishAllPorts: 'bool',
  ReadonlyRootfs: 'bool',
  SecurityOpt: STRINGS,
  StorageOpt: STRING_MAP,
  Tmpfs: STRING_MAP,
  UTSMode: 'string',
  UsernsMode: 'string',
  ShmSize: 'int64',
  Sysctls: STRING_MAP,
  Runtime: 'string',
  Isolation: 'string',
  ...RESOURCE_FIELDS,
  Mounts: sliceOf(MOUNT),
  MaskedPaths: STRINGS,
  ReadonlyPaths: STRINGS,
  Init: 'bool',
});

const ENDPOINT_SETTINGS = struct('EndpointSettings', 'network', {
  IPAMConfig: struct('EndpointIPAMConfig', 'network', {
    IPv4Address: 'string',
    IPv6Address: 'string',
    LinkLocalIPs: STRINGS,
  }),
  Links: STRINGS,
  Aliases: STRINGS,
  MacAddress: 'string',
  DriverOpts: STRING_MAP,
  NetworkID: 'string',
  EndpointID: 'string',
  Gateway: 'string',
  IPAddress: 'string',
  IPPrefixLen: 'int',
  IPv6Gateway: 'string',
  GlobalIPv6Address: 'string',
  GlobalIPv6PrefixLen: 'int',
  DNSNames: STRINGS,
});

/** POST /containers/create (moby's ContainerConfigWrapper: Config with HostConfig and NetworkingConfig). */
export const CONTAINER_CREATE = struct('ContainerConfigWrapper', 'runconfig', {
  ...CONFIG_FIELDS,
  HostConfig: HOST_CONFIG,
  NetworkingConfig: struct('NetworkingConfig', 'network', { EndpointsConfig: { map: ENDPOINT_SETTINGS } }),
});

/** POST /containers/{id}/update. */
export const CONTAINER_UPDATE = struct('UpdateConfig', 'container', {
  ...RESOURCE_FIELDS,
  RestartPolicy: struct('RestartPolicy', 'container', { Name: 'string', MaximumRetryCount: 'int' }),
});

/** POST /commit: the new image's config. */
export const COMMIT_CONFIG = struct('Config', 'container', CONFIG_FIELDS);

/** POST /containers/{id}/exec. */
export const EXEC_CREATE = struct('ExecOptions', 'container', {
  User: 'string',
  Privileged: 'bool',
  Tty: 'bool',
  ConsoleSize: { slice: 'uint64', name: '*[2]uint' },
  AttachStdin: 'bool',
  AttachStderr: 'bool',
  AttachStdout: 'bool',
  Detach: 'bool',
  DetachKeys: 'string',
  Env: STRINGS,
  WorkingDir: 'string',
  Cmd: 'strslice',
});

/** POST /exec/{id}/start. */
export const EXEC_START = struct('ExecStartOptions', 'container', {
  Detach: 'bool',
  Tty: 'bool',
  ConsoleSize: { slice: 'uint64', name: '*[2]uint' },
});

/** POST /volumes/create. */
export const VOLUME_CREATE = struct('CreateOptions', 'volume', {
  Name: 'string',
  Driver: 'string',
  DriverOpts: STRING_MAP,
  Labels: STRING_MAP,
});

/** moby's types.NetworkCreateRequest, for Go's type errors (400) on a create body. */
export const NETWORK_CREATE = struct('NetworkCreateRequest', 'types', {
  Name: 'string',
  CheckDuplicate: 'bool',
  Driver: 'string',
  Scope: 'string',
  EnableIPv6: 'bool',
  IPAM: {
    struct: 'IPAM',
    pkg: 'network',
    fields: {
      Driver: 'string',
      Options: STRING_MAP,
      Config: {
        name: '[]network.IPAMConfig',
        slice: {
          struct: 'IPAMConfig',
          pkg: 'network',
          fields: { Subnet: 'string', IPRange: 'string', Gateway: 'string', AuxiliaryAddresses: STRING_MAP },
        },
      },
    },
  },
  Internal: 'bool',
  Attachable: 'bool',
  Ingress: 'bool',
  ConfigOnly: 'bool',
  ConfigFrom: { struct: 'ConfigReference', pkg: 'network', fields: { Network: 'string' } },
  Options: STRING_MAP,
  Labels: STRING_MAP,
});

/** POST /networks/{id}/connect and /disconnect. */
export const NETWORK_CONNECT = struct('NetworkConnect', 'types', {
  Container: 'string',
  EndpointConfig: ENDPOINT_SETTINGS,
});
export const NETWORK_DISCONNECT = struct('NetworkDisconnect', 'types', { Container: 'string', Force: 'bool' });

/** POST /auth. */
export const AUTH_CONFIG = struct('AuthConfig', 'registry', {
  username: 'string',
  password: 'string',
  auth: 'string',
  email: 'string',
  serveraddress: 'string',
  identitytoken: 'string',
  registrytoken: 'string',
});
