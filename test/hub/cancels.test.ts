/**
 * Cancels, on every engine: embedded hubs on one namespace (one on the memory engine), a producer
 * streaming tokens in process on the first, a reader on the last. The reader's POST
 * /topics/{t}/cancel (with a subscribe grant; without one 401/403) reaches the producer's
 * hub.onCancel on the other instance, and its stream gets ssehub.cancel; the producer stops within
 * 100 ms of the acknowledged cancel, counted in tokens: at one token per TOKEN_MS, no more than
 * 100 / TOKEN_MS (+1 under way) are published after the 202.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { mintToken } from '../../src/auth/tokens.js';
import { createHub, type EmbeddedHub } from '../../src/create-hub.js';
import { httpRequest, openStream, type OpenStream } from '../support/http.js';
import { freshNamespace, removeNamespace, type EngineKind } from '../support/namespaces.js';
import { SHARED_ENGINES } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { until } from '../support/wait.js';

const SECRET = 'cancel-test-secret-cancel-test-secret!';
const TOKEN_MS = 20;
/** What 100 ms at the producer's rate allows, plus the one publish already under way. */
const MOST_AFTER_CANCEL = Math.floor(100 / TOKEN_MS) + 1;

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

async function serve(hub: EmbeddedHub): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => hub.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}`, server };
}

/** A producer in process: one token every TOKEN_MS until a cancel, counting what it published. */
function produce(hub: EmbeddedHub, topic: string): { published(): number; stopped(): boolean } {
  let published = 0;
  let cancelled = false;
  let stopped = false;
  const stopListening = hub.onCancel(topic, () => (cancelled = true));
  void (async () => {
    while (!cancelled) {
      await hub.publish(topic, `token ${published}`);
      published += 1;
      await sleep(TOKEN_MS);
    }
    stopListening();
    await hub.publish(topic, 'stopped', { end: true });
    stopped = true;
  })();
  return { published: () => published, stopped: () => stopped };
}

function checkCancel(engine: () => Promise<{ url: string; kind: EngineKind | undefined }>, instances: number) {
  return async () => {
    const { url, kind } = await engine();
    const namespace = freshNamespace('can');
    const hubs: EmbeddedHub[] = [];
    const servers: Server[] = [];
    const streams: OpenStream[] = [];
    try {
      const urls: string[] = [];
      for (let i = 0; i < instances; i++) {
        const hub = await createHub({ engine: url, namespace, jwtSecret: SECRET, logLevel: 'silent' });
        hubs.push(hub);
        const served = await serve(hub);
        servers.push(served.server);
        urls.push(served.url);
      }
      const readerUrl = urls.at(-1)!;
      const reader = await mintToken({ secret: SECRET, subject: 'reader', subscribe: ['ai/*'], lifetimeSeconds: 600 });
      const writer = await mintToken({ secret: SECRET, subject: 'writer', publish: ['ai/*'], lifetimeSeconds: 600 });
      const stream = await openStream(`${readerUrl}/topics/ai/g1`, bearer(reader));
      streams.push(stream);

      const producer = produce(hubs[0]!, 'ai/g1');
      const unheard: string[] = [];
      const stopUnheard = hubs[0]!.onCancel('ai/g1', (topic) => unheard.push(topic));
      stopUnheard();
      await stream.waitUntil(() => stream.events.filter((e) => e.data.startsWith('token')).length >= 5, 10_000, 'five tokens');

      const cancel = (headers: Record<string, string>, topic = 'ai/g1') =>
        httpRequest(`${readerUrl}/topics/${topic}/cancel`, { method: 'POST', headers });
      // No grant, or no grant to read the topic: refused, and the producer goes on.
      assert.equal((await cancel({})).status, 401);
      const publishOnly = await cancel(bearer(writer));
      assert.equal(publishOnly.status, 403, publishOnly.text);
      assert.equal((await cancel(bearer(reader), 'ai/*')).status, 400, 'a pattern is not one topic');

      const accepted = await cancel(bearer(reader));
      const atAck = producer.published();
      assert.equal(accepted.status, 202, accepted.text);
      assert.deepEqual(accepted.json(), { topic: 'ai/g1' });
      await until(producer.stopped, 'the producer to stop');
      const after = producer.published() - atAck;
      assert.ok(after <= MOST_AFTER_CANCEL, `${after} tokens published after the cancel was acknowledged; at most ${MOST_AFTER_CANCEL} fit in 100 ms`);

      // The reader's stream heard the cancel (no id: a signal, not an event of the log), then the producer's end.
      await stream.ended;
      const types = stream.events.map((e) => e.type);
      assert.ok(types.includes('ssehub.cancel'), types.join());
      assert.deepEqual(JSON.parse(stream.events.find((e) => e.type === 'ssehub.cancel')!.data), { topic: 'ai/g1' });
      assert.deepEqual(stream.events.slice(-2).map((e) => e.data), ['stopped', JSON.stringify({ topic: 'ai/g1' })]);
      assert.doesNotMatch(stream.raw(), /id: [^\n]*\nevent: ssehub\.cancel/, 'the cancel carries no id');
      assert.deepEqual(unheard, [], 'a listener that stopped listening is not called');

      // A topic nobody produces for: accepted all the same (no listener hears it).
      assert.equal((await cancel(bearer(reader), 'ai/nobody')).status, 202);
      // The app may cancel too, without a grant.
      const heard: string[] = [];
      const stop = hubs.at(-1)!.onCancel('ai/g2', (topic) => heard.push(topic));
      await hubs[0]!.cancel('ai/g2');
      await until(() => heard.length === 1, 'the app\'s cancel');
      stop();
    } finally {
      for (const stream of streams) stream.close();
      for (const server of servers) server.closeAllConnections();
      await Promise.all(hubs.map((hub) => hub.close()));
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
      if (kind !== undefined) await removeNamespace(kind, url, namespace);
    }
  };
}

describe('cancels', () => {
  test('the memory engine: one hub', checkCancel(async () => ({ url: 'memory', kind: undefined }), 1));
});

for (const [name, kind, service] of SHARED_ENGINES) {
  const check = await service();
  describeUnlessSkipped(`cancels on ${name}`, { skip: check.skipReason() }, () => {
    test('two hubs on one namespace: a reader\'s cancel on one stops the producer on the other', checkCancel(async () => ({ url: check.url, kind }), 2));
  });
}
