/**
 * Presence changes become webhooks once per cluster: three hubs on each shared engine (one on the
 * memory engine), members on several hubs. Every instance sees each change and one of them caused
 * it: the receiver gets exactly the changes the hubs report as caused there (hub.on's causedHere),
 * each once, and one topic.occupied and one topic.vacated.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HubConfig } from '../../src/config.js';
import { createHub, type EmbeddedHub } from '../../src/create-hub.js';
import { freePort } from '../support/hub.js';
import { openStream, type OpenStream } from '../support/http.js';
import { freshNamespace, removeNamespace, type EngineKind } from '../support/namespaces.js';
import { SHARED_ENGINES } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';
import { until } from '../support/wait.js';
import { TEST_WEBHOOK_SECRET, WebhookReceiver } from '../support/webhook-receiver.js';

const JWT_SECRET = 'a-test-secret-of-at-least-32-bytes!!';

function check(engine: () => Promise<{ url: string; kind: EngineKind | undefined }>, instances: number) {
  return async () => {
    const { url, kind } = await engine();
    const namespace = freshNamespace('whp');
    const receiver = new WebhookReceiver(await freePort(), TEST_WEBHOOK_SECRET);
    await receiver.up();
    const settings: Partial<HubConfig> = {
      logLevel: 'silent',
      engine: url,
      namespace,
      jwtSecret: JWT_SECRET,
      presence: ['room/**'],
      presenceGraceMs: 100,
      // Subscription webhooks would be sent too: this receiver asks for presence's only.
      webhooks: [`${receiver.url}#topic.*,presence.*`],
      webhookSecrets: [TEST_WEBHOOK_SECRET],
      webhookRetryMs: 50,
    };
    const hubs: Array<{ hub: EmbeddedHub; server: Server; url: string }> = [];
    const streams: OpenStream[] = [];
    /** The changes each hub says were caused there, as webhook types and subjects. */
    const caused: string[] = [];
    try {
      for (let i = 0; i < instances; i++) {
        const hub = await createHub(settings);
        for (const [event, type] of [['join', 'presence.join'], ['leave', 'presence.leave']] as const) {
          hub.on(event, (change) => void (change.causedHere && caused.push(`${type} ${change.member.subject}`)));
        }
        for (const [event, type] of [['occupied', 'topic.occupied'], ['vacated', 'topic.vacated']] as const) {
          hub.on(event, (change) => void (change.causedHere && caused.push(`${type} `)));
        }
        const server = createServer(hub.handle);
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        hubs.push({ hub, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
      }
      const open = async (hub: { url: string }, subject: string): Promise<void> => {
        const token = await mintToken({ subject, subscribe: ['room/**'], lifetimeSeconds: 600, secret: JWT_SECRET });
        streams.push(await openStream(`${hub.url}/topics/room/1`, { Authorization: `Bearer ${token}` }));
      };
      await open(hubs[0]!, 'alice');
      await open(hubs[1 % instances]!, 'bob');
      await open(hubs[2 % instances]!, 'alice'); // a second stream: no second join
      await receiver.until(() => receiver.accepted().filter((webhook) => webhook.type === 'presence.join').length === 2, 'two joins');
      // The closes come once every instance counts the three streams: a close reported to the engine
      // before another instance's open is ordered before it, and the topic is vacated in between
      // (docs/webhooks.md), which is the cluster's order, not a fault.
      await until(() => hubs.every(({ hub }) => hub.presence('room/1').subscribers === 3), 'every instance counts the three streams');
      for (const stream of streams) stream.close();
      await receiver.until(() => receiver.accepted().some((webhook) => webhook.type === 'topic.vacated'), 'topic.vacated');
      await receiver.until(() => receiver.accepted().filter((webhook) => webhook.type === 'presence.leave').length === 2, 'two leaves');

      // At least once: a dispatcher that loses its lease under load may send again what was in
      // flight, with the same webhook-id, which receivers drop (docs/webhooks.md). Once per change
      // means once per id; two changes would have two ids.
      const accepted = [...new Map(receiver.accepted().map((webhook) => [webhook.id, webhook])).values()];
      assert.ok(accepted.every((webhook) => webhook.signed && webhook.data.topic === 'room/1'));
      const of = (type: string) => accepted.filter((webhook) => webhook.type === type);
      const story = accepted.map((webhook) => `${webhook.id} ${webhook.type} ${JSON.stringify(webhook.data)}`).join('\n');
      assert.equal(of('topic.occupied').length, 1, `occupied once in the cluster; caused: ${caused.join(', ')}; webhooks:\n${story}`);
      assert.equal(of('topic.vacated').length, 1, 'vacated once in the cluster');
      const sent = accepted.map((webhook) => `${webhook.type} ${(webhook.data.member as { subject?: string } | undefined)?.subject ?? ''}`);
      assert.deepEqual([...sent].sort(), [...caused].sort(), 'each change caused somewhere in the cluster, once');
      assert.ok(sent.includes('presence.join alice') && sent.includes('presence.join bob') && sent.includes('presence.leave alice') && sent.includes('presence.leave bob'));
      assert.ok(sent.indexOf('topic.occupied ') < sent.indexOf('topic.vacated '), 'in the order they happened, on one key');
    } finally {
      for (const stream of streams) stream.close();
      for (const { hub, server } of hubs) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
        await hub.close();
      }
      await receiver.down();
      if (kind !== undefined) await removeNamespace(kind, url, namespace);
    }
  };
}

describe('presence webhooks', () => {
  test('the memory engine: one hub', check(async () => ({ url: 'memory', kind: undefined }), 1));
});

for (const [name, kind, service] of SHARED_ENGINES) {
  const server = await service();
  describeUnlessSkipped(`presence webhooks on ${name}`, { skip: server.skipReason() }, () => {
    test('three hubs: each change once in the cluster', check(async () => ({ url: server.url, kind }), 3));
  });
}
