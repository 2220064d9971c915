/**
 * Reading request bodies (src/http/body.ts) against a real hub: a body cut off by its client is
 * never published in part, JSON nested too deep is refused by every route that reads JSON, and the
 * hub goes on serving.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { MAX_JSON_DEPTH } from '../../src/http/body.js';
import { httpRequest, publish, type Reply } from '../support/http.js';
import { startTestHub } from '../support/hub.js';

describe('publish bodies', () => {
  it('a client that goes away mid-body publishes nothing, and the next publish works', async () => {
    const hub = await startTestHub();
    try {
      await new Promise<void>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: hub.port });
        socket.on('error', reject);
        socket.once('connect', () => {
          socket.write('POST /topics/a HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nhello');
          // Long enough for the hub to have read the part that came, then gone.
          setTimeout(() => {
            socket.destroy();
            resolve();
          }, 200);
        });
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(hub.hub.stats().eventsPublished, 0);
      const response = await fetch(`${hub.url}/topics/a`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'whole' });
      assert.equal(response.status, 201);
      assert.equal(hub.hub.stats().eventsPublished, 1);
    } finally {
      await hub.close();
    }
  });
});

/** An array holding an array… `levels` deep, around `inner`. */
const nested = (levels: number, inner = ''): string => '['.repeat(levels) + inner + ']'.repeat(levels);
const postJson = (url: string, body: string): Promise<Reply> =>
  httpRequest(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });

function assertTooDeep(reply: Reply, what: string): void {
  assert.equal(reply.status, 400, `${what}: ${reply.text.slice(0, 200)}`);
  assert.equal(reply.json().error.code, 'json_too_deep', what);
}

describe('JSON nesting depth', () => {
  it('data nested 400,000 levels deep: 400 json_too_deep on POST /publish and POST /topics/{t}, and the hub goes on serving', async () => {
    const hub = await startTestHub();
    try {
      const deep = nested(400_000, '1');
      assertTooDeep(await postJson(`${hub.url}/publish`, `[{"topic":"a","data":${deep}}]`), 'batch');
      assertTooDeep(await postJson(`${hub.url}/topics/a`, deep), 'one event');
      assert.equal(hub.hub.stats().eventsPublished, 0);
      assert.equal((await postJson(`${hub.url}/publish`, '[{"topic":"a","data":{"ok":true}}]')).status, 201);
      assert.equal((await publish(hub.url, 'a', '{"ok":true}', { type: 'application/json' })).status, 201);
      assert.equal(hub.hub.stats().eventsPublished, 2);
    } finally {
      await hub.close();
    }
  });

  it(`${MAX_JSON_DEPTH} levels are accepted, one more is refused; brackets side by side or inside strings are not nesting`, async () => {
    const hub = await startTestHub();
    try {
      assert.equal((await postJson(`${hub.url}/topics/a`, nested(MAX_JSON_DEPTH))).status, 201);
      assertTooDeep(await postJson(`${hub.url}/topics/a`, nested(MAX_JSON_DEPTH + 1)), 'one level over');
      // The batch itself is a level: its data may hold one level less.
      assert.equal((await postJson(`${hub.url}/publish`, `[{"topic":"a","data":${nested(MAX_JSON_DEPTH - 2)}}]`)).status, 201);
      assertTooDeep(await postJson(`${hub.url}/publish`, `[{"topic":"a","data":${nested(MAX_JSON_DEPTH - 1)}}]`), 'batch one level over');
      // Many arrays and objects side by side are not nesting.
      assert.equal((await postJson(`${hub.url}/topics/a`, JSON.stringify(Array.from({ length: 200 }, () => [{}])))).status, 201);
      // Brackets in strings, after escaped quotes and backslashes, count for nothing.
      const inStrings = JSON.stringify({ text: '['.repeat(500), quoted: `\\"${'{'.repeat(500)}`, escaped: '\\', after: nested(3) });
      assert.equal((await postJson(`${hub.url}/topics/a`, inStrings)).status, 201);
      // Nor do they hide real nesting that follows an escaped quote.
      assertTooDeep(await postJson(`${hub.url}/topics/a`, `["\\\"[", ${nested(MAX_JSON_DEPTH)}]`), 'after an escaped quote');
      // Malformed JSON is still invalid_json.
      const malformed = await postJson(`${hub.url}/topics/a`, `${']'.repeat(100)}`);
      assert.equal(malformed.json().error.code, 'invalid_json');
    } finally {
      await hub.close();
    }
  });

  it('POST /tickets and the demo API refuse deep JSON the same way', async () => {
    const hub = await startTestHub({ demos: true });
    try {
      assertTooDeep(await postJson(`${hub.url}/tickets`, `{"topics":["a"],"x":${nested(400_000)}}`), 'ticket');
      // Demo bodies are at most 4 KiB.
      assertTooDeep(await postJson(`${hub.url}/demos/api/jobs`, `{"x":${nested(MAX_JSON_DEPTH)}}`), 'demo');
      assert.equal(hub.hub.stats().eventsPublished, 0, 'no demo ran');
      assert.equal((await postJson(`${hub.url}/tickets`, '{"topics":["a"]}')).status, 201);
    } finally {
      await hub.close();
    }
  });
});
