// Swarm and plugin endpoints, answered as a dockerd that is not in a swarm and has no plugins answers them.
// Clients rely on these statuses: 503 tells "no swarm here" apart from "an old engine without the endpoint"
// (a 404), and `GET /plugins` listing none is how they learn there are no managed plugins.
import { invalidParameter, notFound, notImplemented, unavailable } from '../../errdefs';
import { parseFilters } from '../filters';
import type { RequestContext, Router } from '../router';

const NOT_A_MANAGER =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';

const notManager = () => {
  throw unavailable(NOT_A_MANAGER);
};

/** dockerd parses an update's `version` before it looks at the swarm: a missing or bad one is a 400 first. */
const versioned = (kind: string, goError: boolean) => (ctx: RequestContext) => {
  const v = ctx.query.get('version') ?? '';
  if (!/^\d+$/.test(v))
    throw invalidParameter(
      goError
        ? `invalid ${kind} version '${v}': strconv.ParseUint: parsing "${v}": invalid syntax`
        : `invalid ${kind} version`,
    );
  notManager();
};

export function registerSwarmRoutes(router: Router): void {
  router.get('/swarm', notManager);
  router.get('/swarm/unlockkey', notManager);
  router.post('/swarm/unlock', notManager);
  router.post('/swarm/update', versioned('swarm', true));
  router.post('/swarm/leave', () => {
    throw unavailable('This node is not part of a swarm');
  });
  const noSwarmMode = () => {
    throw notImplemented('Berth does not run swarm mode: this engine cannot initialize or join a swarm');
  };
  router.post('/swarm/init', noSwarmMode);
  router.post('/swarm/join', noSwarmMode);

  for (const noun of ['nodes', 'services', 'tasks', 'secrets', 'configs']) {
    router.get(`/${noun}`, notManager);
    router.get(`/${noun}/:id`, notManager);
  }
  for (const noun of ['services', 'secrets', 'configs']) router.post(`/${noun}/create`, notManager);
  for (const noun of ['nodes', 'services', 'secrets', 'configs']) router.delete(`/${noun}/:id`, notManager);
  router.post('/nodes/:id/update', versioned('node', true));
  router.post('/services/:id/update', versioned('service', true));
  router.post('/secrets/:id/update', versioned('secret', false));
  router.post('/configs/:id/update', versioned('config', false));
  router.get('/services/:id/logs', notManager);
  router.get('/tasks/:id/logs', notManager);
}

export function registerPluginRoutes(router: Router): void {
  router.get('/plugins', (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'), ['capability', 'enabled']);
    for (const v of filters.get('enabled') ?? [])
      if (v !== 'true' && v !== 'false') throw invalidParameter(`invalid filter 'enabled=${v}'`);
    ctx.send(200, []);
  });
  const missing = (ctx: RequestContext) => {
    throw notFound(`plugin "${ctx.params.name}" not found`);
  };
  router.get('/plugins/:name*/json', missing);
  router.delete('/plugins/:name*', missing);
  for (const verb of ['enable', 'disable', 'push', 'set', 'upgrade']) router.post(`/plugins/:name*/${verb}`, missing);
  const noPlugins = () => {
    throw notImplemented('Berth does not run managed plugins: plugins cannot be installed in this engine');
  };
  router.get('/plugins/privileges', noPlugins);
  router.post('/plugins/pull', noPlugins);
  router.post('/plugins/create', noPlugins);
}
