// The pieces of undici the shared client uses (Agent, and request() over an explicit dispatcher; the engine's
// registry client also builds its own connector), without
// undici's index, which also loads fetch, WebSocket, EventSource, mocks and caches: 0.3–0.5 s of the extension
// host's time at activation on a busy 2-core host. scripts/build.mjs points the extension bundle's `undici` here;
// the CLI and the engine use undici as is. Same behaviour: this is undici's own makeDispatcher for the URL form.
/* eslint-disable @typescript-eslint/no-require-imports */
const Agent = require('undici/lib/dispatcher/agent');
const Dispatcher = require('undici/lib/dispatcher/dispatcher');
const api = require('undici/lib/api');
const buildConnector = require('undici/lib/core/connect');

Object.assign(Dispatcher.prototype, api);

export function request(url: string, opts: { dispatcher: unknown; method?: string; [k: string]: unknown }) {
  const u = new URL(url);
  return api.request.call(opts.dispatcher, {
    ...opts,
    origin: u.origin,
    path: u.search ? `${u.pathname}${u.search}` : u.pathname,
    method: opts.method || (opts.body ? 'PUT' : 'GET'),
  });
}

export { Agent, buildConnector, Dispatcher };
