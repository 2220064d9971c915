/**
 * Every JSON answer of the hub ends with a newline (a terminal leaves the prompt on its own line
 * after `curl`), counted in Content-Length: routes through node:http, their errors, the raw answers
 * of the publish fast path and of broken requests, and the Fetch door.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHub } from '../../src/create-hub.js';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { parseResponses, rawRequest, type RawResponse } from '../support/raw-http.js';

/** The one response a raw request got. */
async function rawAnswer(port: number, request: string): Promise<RawResponse> {
  const { data } = await rawRequest(port, [request], { until: (received) => parseResponses(received).responses.some((r) => r.complete) });
  const [response] = parseResponses(data).responses;
  assert.ok(response?.complete, `a complete response to ${JSON.stringify(request.slice(0, 40))}: ${data.toString('latin1').slice(0, 200)}`);
  return response;
}

function assertJsonLine(response: RawResponse, what: string): void {
  const body = response.body.toString('utf8');
  assert.match(response.headers['content-type'] ?? '', /^application\/json/, what);
  assert.ok(body.endsWith('}\n'), `${what}: ${JSON.stringify(body)} ends with a newline`);
  assert.equal(Number(response.headers['content-length']), response.body.byteLength, `${what}: Content-Length counts the newline`);
  JSON.parse(body);
}

describe('JSON answers end with a newline', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub();
  });
  after(() => hub.close());

  test('a route answered through node:http', async () => {
    const response = await rawAnswer(hub.port, 'GET /livez HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n');
    assert.equal(response.body.toString(), '{"status":"ok"}\n');
    assertJsonLine(response, 'GET /livez');
  });

  test('an error answered through node:http', async () => {
    const response = await rawAnswer(hub.port, 'GET /no-such-route HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n');
    assert.equal(response.status, 404);
    assertJsonLine(response, 'a 404');
  });

  test('a publish and a refused publish answered by the fast path', async () => {
    const published = await rawAnswer(hub.port, 'POST /topics/lines HTTP/1.1\r\nHost: hub\r\nContent-Type: text/plain\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx');
    assert.equal(published.status, 201);
    assertJsonLine(published, 'a publish');
    const refused = await rawAnswer(hub.port, 'POST /topics/lines HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: 1\r\nConnection: close\r\n\r\n{');
    assert.equal(refused.status, 400);
    assertJsonLine(refused, 'invalid JSON');
  });

  test('the raw answer to a broken request', async () => {
    const response = await rawAnswer(hub.port, 'GET /livez HTTP/1.1\r\nHost: hub\r\nBroken header\r\n\r\n');
    assert.equal(response.status, 400);
    assertJsonLine(response, 'a broken request');
  });

  test('the Fetch door', async () => {
    const embedded = await createHub({ logLevel: 'silent' });
    try {
      const answer = await embedded.fetch(new Request('http://app.test/livez'));
      assert.equal(await answer.text(), '{"status":"ok"}\n');
      const refused = await embedded.fetch(new Request('http://app.test/topics/x', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{' }));
      assert.ok((await refused.text()).endsWith('}\n'));
    } finally {
      await embedded.close();
    }
  });
});
