/**
 * The hub on a bare node:http server it shares with the app: hub.handle serves what is below
 * basePath and hands everything else to the app's own routes through next(). authorize() gets the
 * IncomingMessage and finds the session from its cookie. Run it: node --import tsx examples/node-http/server.ts
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createHub, type CreateHubOptions, type EmbeddedHub } from 'ssehub';
import { PAGE } from '../page.js';
import { grantFor, isUserName, login, userOf } from '../session.js';

export async function startApp(port: number, options: CreateHubOptions<IncomingMessage> = {}): Promise<{ url: string; hub: EmbeddedHub; close(): Promise<void> }> {
  const hub = await createHub<IncomingMessage>({
    basePath: '/realtime',
    authorize: (req) => {
      const user = userOf(req.headers.cookie);
      return user === undefined ? null : grantFor(user);
    },
    ...options,
  });

  /** The app's own routes: everything the hub has no route for. */
  async function app(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
    };
    const user = userOf(req.headers.cookie);
    const pay = /^\/orders\/([^/]+)\/pay$/.exec(req.url ?? '');
    if (req.method === 'GET' && req.url === '/') return void res.writeHead(200, { 'Content-Type': 'text/html' }).end(PAGE);
    if (req.method === 'POST' && req.url === '/login') {
      let body = '';
      for await (const chunk of req) if ((body += chunk).length > 1000) return send(413, { error: 'too large' });
      const name = (JSON.parse(body || '{}') as { user?: unknown }).user;
      if (!isUserName(name)) return send(400, { error: 'user: 1 to 32 letters, digits, - or _' });
      return send(200, { user: name }, { 'Set-Cookie': login(name) });
    }
    // The app publishes in process: the same validation, limits and delivery as an HTTP publish.
    if (req.method === 'POST' && pay !== null) {
      if (user === undefined) return send(401, { error: 'log in first' });
      return send(200, await hub.publish(`users/${user}/orders`, { order: pay[1], status: 'paid' }, { event: 'order' }));
    }
    send(404, { error: 'not found' });
  }

  const server = createServer((req, res) =>
    hub.handle(req, res, () =>
      app(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
      }),
    ),
  );
  // WebSockets at /realtime/ws (basePath + /ws); other upgrades are left to the app.
  server.on('upgrade', hub.upgrade);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
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
