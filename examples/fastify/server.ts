/**
 * The hub inside a Fastify app. The hub needs node's own request and response, the whole URL, and
 * a publish body nobody has read yet, so it lives in a plugin of its own under /realtime:
 * - its only content-type parser accepts every type and reads nothing, leaving the body to the hub
 *   (Fastify's JSON parser would consume it; the parser is scoped to this plugin, so the app's
 *   routes keep theirs);
 * - the handler hijacks the reply (Fastify then leaves the response alone) and hands
 *   `request.raw` and `reply.raw` to hub.handle, whose basePath strips /realtime from the URL.
 * authorize() therefore gets node's IncomingMessage: it reads the session from the cookie, as the
 * app's onRequest hook does for its own routes. Run it: node --import tsx examples/fastify/server.ts
 */
import type { IncomingMessage } from 'node:http';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { createHub, type CreateHubOptions, type EmbeddedHub } from 'ssehub';
import { PAGE } from '../page.js';
import { grantFor, isUserName, login, userOf } from '../session.js';

declare module 'fastify' {
  interface FastifyRequest {
    user: string | undefined;
  }
}

export async function startApp(port: number, options: CreateHubOptions<IncomingMessage> = {}): Promise<{ url: string; hub: EmbeddedHub; close(): Promise<void> }> {
  const hub = await createHub<IncomingMessage>({
    basePath: '/realtime',
    authorize: (req) => {
      const user = userOf(req.headers.cookie);
      return user === undefined ? null : grantFor(user);
    },
    ...options,
  });
  const app = Fastify();
  app.decorateRequest('user', undefined);
  app.addHook('onRequest', async (request) => {
    request.user = userOf(request.headers.cookie);
  });

  await app.register(
    async (realtime) => {
      realtime.removeAllContentTypeParsers();
      realtime.addContentTypeParser('*', (_request, _payload, done) => done(null));
      realtime.all('/*', (request, reply) => {
        reply.hijack();
        hub.handle(request.raw, reply.raw);
      });
    },
    { prefix: '/realtime' },
  );

  app.get('/', (_request, reply) => reply.type('text/html').send(PAGE));
  app.post<{ Body: { user?: unknown } }>('/login', (request, reply) => {
    const user = request.body?.user;
    if (!isUserName(user)) return reply.code(400).send({ error: 'user: 1 to 32 letters, digits, - or _' });
    return reply.header('Set-Cookie', login(user)).send({ user });
  });
  // The app publishes in process: the same validation, limits and delivery as an HTTP publish.
  app.post<{ Params: { id: string } }>('/orders/:id/pay', async (request, reply) => {
    if (request.user === undefined) return reply.code(401).send({ error: 'log in first' });
    return hub.publish(`users/${request.user}/orders`, { order: request.params.id, status: 'paid' }, { event: 'order' });
  });

  // WebSockets at /realtime/ws: upgrades reach node's server, not Fastify's routes.
  app.server.on('upgrade', hub.upgrade);
  const url = await app.listen({ port, host: '127.0.0.1' });
  return {
    url,
    hub,
    close: async () => {
      await hub.close(); // ends the streams first: app.close() waits for every connection
      await app.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { url } = await startApp(Number(process.env.PORT ?? 3000));
  console.log(`listening on ${url}`);
}
