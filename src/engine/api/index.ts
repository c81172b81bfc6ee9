// The Docker Engine API: the router with every subsystem's routes on it. Subsystems know nothing of HTTP or
// Docker's PascalCase; the route modules translate.
import type { DaemonConfig } from '../config';
import type { EventBus } from '../events';
import { Router } from './router';
import { registerSystemRoutes } from './routes/system';
import { registerNetworkRoutes } from './routes/networks';
import type { NetworkService } from '../network';
import { registerVolumeRoutes } from './routes/volumes';
import { registerDiskUsageRoutes } from './routes/df';
import type { VolumeService } from '../volumes';
import type { ContainerService } from '../containers';
import { registerContainerRoutes } from './routes/containers';
import { registerExecRoutes } from './routes/exec';
import { registerArchiveRoutes } from './routes/archive';
import { registerImageRoutes } from './routes/images';
import type { ImageService } from '../images';

export { listen, parseHost } from './server';
export type { ApiServer } from './server';
export { API_VERSION, MIN_API_VERSION, Router } from './router';

/** What the routes may use: each subsystem's public interface, nothing deeper. */
export interface EngineServices {
  config(): DaemonConfig;
  events: EventBus;
  engineId: string;
  startedAt: Date;
  runcVersion(): { version: string; commit: string; path: string } | undefined;
  /** Counts for /info. */
  counts(): { containers: number; running: number; paused: number; stopped: number; images: number };
  network: NetworkService;
  volumes: VolumeService;
  images: ImageService;
  containers: ContainerService;
}

export function createRouter(services: EngineServices): Router {
  const router = new Router();
  registerSystemRoutes(router, services);
  registerNetworkRoutes(router, services);
  registerVolumeRoutes(router, services);
  registerContainerRoutes(router, services);
  registerExecRoutes(router, services);
  registerArchiveRoutes(router, services);
  registerDiskUsageRoutes(router, services);
  registerImageRoutes(router, services);
  return router;
}
