/**
 * GET /livez (the process serves HTTP), GET /healthz (and the engine answers), GET /stats (JSON)
 * and GET /metrics (Prometheus text).
 *
 * /livez and /healthz are public: load balancers and orchestrators call them. /stats and /metrics
 * tell counts, memory and open files: on the main port they are adminOnly (a token with the admin
 * grant once any key is configured); the operator listener (--metrics-listen, on an interface
 * only the scraper reaches) serves all four without asking.
 *
 * /livez never depends on the engine: a liveness check that restarts the hub because Redis blinked
 * would drop every open stream for nothing. /healthz is for load balancers: an instance whose
 * engine cannot be reached can neither store publishes nor deliver events, so it should get no
 * traffic until the engine is back.
 */
import { authorizeAdmin } from '../auth/principal.js';
import type { EngineHealth } from '../engines/engine.js';
import { DEFAULT_HEALTH_TIMEOUT_MS } from '../engines/health.js';
import { authenticate } from './authenticate.js';
import type { Handler } from './context.js';
import { jsonAnswer } from './respond.js';

/** Extra time /healthz gives an engine past its own deadline before answering without it. */
const HEALTH_GRACE_MS = 250;

export const livez: Handler = () => jsonAnswer(200, { status: 'ok' });

export const healthz: Handler = async (_request, { hub }) => {
  const { engine } = hub;
  // Engines keep their deadline; this one holds even for an engine that does not, so /healthz never hangs.
  let timer: NodeJS.Timeout | undefined;
  const fallback = new Promise<EngineHealth>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, detail: `the ${engine.name} engine did not report within ${DEFAULT_HEALTH_TIMEOUT_MS} ms` }),
      DEFAULT_HEALTH_TIMEOUT_MS + HEALTH_GRACE_MS,
    );
  });
  const checked = engine.health(DEFAULT_HEALTH_TIMEOUT_MS).catch((error: unknown): EngineHealth => ({ ok: false, detail: String(error) }));
  const health = await Promise.race([checked, fallback]).finally(() => clearTimeout(timer));
  // A stable shape either way: {status, engine: {name, ok, latencyMs?, detail?}}.
  const body = { status: health.ok ? 'ok' : 'unavailable', engine: { name: engine.name, ...health } };
  return jsonAnswer(health.ok ? 200 : 503, body);
};

export const stats: Handler = (_request, { hub, startedAt, instance }) =>
  jsonAnswer(200, {
    instance,
    ...hub.stats(),
    engine: hub.engine.name,
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
  });

export const metrics: Handler = async (_request, { metrics: { registry } }) => {
  const text = await registry.metrics();
  return { status: 200, headers: { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' }, body: text };
};

/** The handler, for a caller whose token has the admin grant (anyone, on a hub without keys): the operator endpoints and POST /admin/disconnect. */
export function adminOnly(handler: Handler): Handler {
  return async (request, context) => {
    authorizeAdmin(await authenticate(request, context, { action: 'admin', topics: [] }), `${request.method} ${request.path}`);
    return handler(request, context);
  };
}
