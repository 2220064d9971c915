/**
 * The hub inside an Express app: `app.use('/realtime', hub.handle)`, after the middleware that
 * knows the session (authorize() reads req.user) and before any body parser (the hub reads publish
 * bodies itself). Run it: node --import tsx examples/express/server.ts
 */
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import express, { type Request } from 'express';
import { createHub, type CreateHubOptions, type EmbeddedHub } from 'ssehub';
import { PAGE } from '../page.js';
import { grantFor, isUserName, login, userOf } from '../session.js';

declare global {
  namespace Express {
    interface Request {
      user?: string;
    }
  }
}

export async function startApp(port: number, options: CreateHubOptions<Request> = {}): Promise<{ url: string; hub: EmbeddedHub; close(): Promise<void> }> {
  const hub = await createHub<Request>({
    // A WebSocket upgrade never passes through Express's middleware: its request has no req.user, so the session is read from the cookie there.
    authorize: (req) => {
      const user = req.user ?? userOf(req.headers.cookie);
      return user === undefined ? null : grantFor(user);
    },
    ...options,
  });
  const app = express();
  app.use((req, _res, next) => {
    req.user = userOf(req.headers.cookie);
    next();
  });
  app.use('/realtime', hub.handle);
  app.use(express.json());

  app.get('/', (_req, res) => void res.type('html').send(PAGE));
  app.post('/login', (req, res) => {
    if (!isUserName(req.body?.user)) return void res.status(400).json({ error: 'user: 1 to 32 letters, digits, - or _' });
    res.setHeader('Set-Cookie', login(req.body.user)).json({ user: req.body.user });
  });
  // The app publishes in process: the same validation, limits and delivery as an HTTP publish.
  app.post('/orders/:id/pay', async (req, res) => {
    if (req.user === undefined) return void res.status(401).json({ error: 'log in first' });
    res.json(await hub.publish(`users/${req.user}/orders`, { order: req.params.id, status: 'paid' }, { event: 'order' }));
  });

  const server = await new Promise<Server>((resolve) => {
    const listening = app.listen(port, '127.0.0.1', () => resolve(listening));
  });
  // WebSockets never pass through Express: the server's 'upgrade' event takes them, at the mount path.
  server.on('upgrade', hub.upgradeAt('/realtime/ws'));
  const { port: bound } = server.address() as { port: number };
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
