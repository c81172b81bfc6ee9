// The Docker Engine API: the router with every subsystem's routes on it. Subsystems know nothing of HTTP or
// Docker's PascalCase; the route modules translate.
import { Router } from './router';
import type { EngineServices } from './services';
import { registerSystemRoutes } from './routes/system';
import { registerNetworkRoutes } from './routes/networks';
import { registerVolumeRoutes } from './routes/volumes';
import { registerDiskUsageRoutes } from './routes/df';
import { registerContainerRoutes } from './routes/containers';
import { registerExecRoutes } from './routes/exec';
import { registerArchiveRoutes } from './routes/archive';
import { registerImageRoutes } from './routes/images';
import { registerPluginRoutes, registerSwarmRoutes } from './routes/swarm';
import { registerBuildRoutes } from './routes/build';

export { ENGINE_VERSION } from './routes/system';
export { listen, parseHost } from './server';
export type { EngineServices } from './services';
export type { ApiServer } from './server';
export { API_VERSION, MIN_API_VERSION, Router } from './router';

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
  registerSwarmRoutes(router);
  registerPluginRoutes(router);
  registerBuildRoutes(router, services);
  return router;
}
