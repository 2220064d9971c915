/** GET /healthz, GET /stats (JSON) and GET /metrics (Prometheus text). */
import type { Handler } from './context.js';
import { sendJson } from './respond.js';

export const healthz: Handler = ({ res }) => {
  sendJson(res, 200, { status: 'ok' });
};

export const stats: Handler = ({ res }, { hub, startedAt }) => {
  sendJson(res, 200, {
    ...hub.stats(),
    engine: hub.engine.name,
    uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
  });
};

export const metrics: Handler = async ({ res }, { metrics: { registry } }) => {
  const text = await registry.metrics();
  res.writeHead(200, { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' });
  res.end(text);
};
