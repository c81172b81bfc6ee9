// What the routes may use: each subsystem's public interface, nothing deeper (the daemon wires them).
import type { BuildService } from '../build';
import type { DaemonConfig } from '../config';
import type { ContainerService } from '../containers';
import type { EventBus } from '../events';
import type { ImageService } from '../images';
import type { NetworkService } from '../network';
import type { CgroupnsMode, Platform, RuntimeChoice } from '../runtime';
import type { VolumeService } from '../volumes';

export interface EngineServices {
  config(): DaemonConfig;
  events: EventBus;
  engineId: string;
  startedAt: Date;
  runcVersion(): { version: string; commit: string; path: string } | undefined;
  /** The host below the API (cgroup version and driver, runtimes, SELinux), for /info. */
  platform: { platform: Platform; runtimes: Record<string, RuntimeChoice>; defaultCgroupnsMode: CgroupnsMode };
  /** Counts for /info. */
  counts(): { containers: number; running: number; paused: number; stopped: number; images: number };
  network: NetworkService;
  volumes: VolumeService;
  images: ImageService;
  containers: ContainerService;
  /** Builds, commit and import. */
  build: BuildService;
}
