/**
 * The hub inside a Hono app: its Fetch handler on /realtime/*, with basePath so that it sees the
 * path below the mount point. A Fetch Request carries no peer address: getConnInfo gives it, for
 * the hub's per-IP limits. authorize() gets that same Request, so it reads the session from its
 * cookie, as the app's middleware does for its own routes. Served by @hono/node-server; on Bun or
 * Deno only the last lines change. Run it: node --import tsx examples/hono/server.ts
 */
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono } from 'hono';
import { createHub, type CreateHubOptions, type EmbeddedHub } from 'ssehub';
import { PAGE } from '../page.js';
import { grantFor, isUserName, login, userOf } from '../session.js';

export async function startApp(port: number, options: CreateHubOptions<Request> = {}): Promise<{ url: string; hub: EmbeddedHub; close(): Promise<void> }> {
  const hub = await createHub<Request>({
    basePath: '/realtime',
    authorize: (request) => {
      const user = userOf(request.headers.get('cookie'));
      return user === undefined ? null : grantFor(user);
    },
    ...options,
  });
  const app = new Hono<{ Variables: { user: string | undefined } }>();
  app.use(async (c, next) => {
    c.set('user', userOf(c.req.header('cookie')));
    await next();
  });

  app.all('/realtime/*', (c) => hub.fetch(c.req.raw, { clientAddress: getConnInfo(c).remote.address }));

  app.get('/', (c) => c.html(PAGE));
  app.post('/login', async (c) => {
    const { user } = await c.req.json<{ user?: unknown }>().catch(() => ({ user: undefined }));
    if (!isUserName(user)) return c.json({ error: 'user: 1 to 32 letters, digits, - or _' }, 400);
    c.header('Set-Cookie', login(user));
    return c.json({ user });
  });
  // The app publishes in process: the same validation, limits and delivery as an HTTP publish.
  app.post('/orders/:id/pay', async (c) => {
    const user = c.get('user');
    if (user === undefined) return c.json({ error: 'log in first' }, 401);
    return c.json(await hub.publish(`users/${user}/orders`, { order: c.req.param('id'), status: 'paid' }, { event: 'order' }));
  });

  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const listening = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve(listening));
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    hub,
    close: async () => {
      await hub.close(); // ends the streams first: server.close() waits for every connection
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { url } = await startApp(Number(process.env.PORT ?? 3000));
  console.log(`listening on ${url}`);
}
