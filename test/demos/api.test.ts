/**
 * The demo API's rules over real HTTP: off unless --demos; request bodies checked with stable
 * codes; bounded concurrent work (429 demo_busy); with tokens, the caller must be allowed to
 * publish to the demo's topic; closing the hub stops every demo.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import type { RunningHub } from '../../src/start.js';
import { httpRequest } from '../support/http.js';
import { startTestHub, userEventsRetained } from '../support/hub.js';
import { childrenWith, postDemo } from './support.js';

const SECRET = 'demo-api-secret-demo-api-secret-demo';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('demo API: off by default', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub();
  });
  after(() => hub.close());

  test('without --demos every demo route is 404 demos_disabled, whatever the method, saying to start with --demos', async () => {
    for (const path of ['jobs', 'logs', 'chat', 'chat/join']) {
      for (const method of ['POST', 'GET']) {
        const reply = await httpRequest(`${hub.url}/demos/api/${path}`, { method, headers: { 'Content-Type': 'application/json' }, body: method === 'POST' ? '{"prompt":"x"}' : undefined });
        assert.equal(reply.status, 404, `${method} ${path}`);
        assert.equal(reply.json().error.code, 'demos_disabled');
        assert.match(reply.json().error.message, /start it with --demos/);
      }
    }
    assert.equal(await userEventsRetained(hub.hub), 0, 'nothing ran');
  });
});

describe('demo API: requests', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ demos: true });
  });
  after(() => hub.close());

  const bad: Array<[string, string, unknown, number, string]> = [
    ['jobs: zero', 'jobs', { jobs: 0 }, 400, 'invalid_demo_request'],
    ['jobs: six', 'jobs', { jobs: 6 }, 400, 'invalid_demo_request'],
    ['jobs: fractional', 'jobs', { jobs: 2.5 }, 400, 'invalid_demo_request'],
    ['jobs: a string', 'jobs', { jobs: '3' }, 400, 'invalid_demo_request'],
    ['jobs: null', 'jobs', { jobs: null }, 400, 'invalid_demo_request'],
    ['jobs: an array body', 'jobs', [1], 400, 'invalid_demo_request'],
    ['jobs: not JSON', 'jobs', '{jobs: 1', 400, 'invalid_json'],
    ['chat: no prompt', 'chat', {}, 400, 'invalid_demo_request'],
    ['chat: no body', 'chat', undefined, 400, 'invalid_demo_request'],
    ['chat: empty prompt', 'chat', { prompt: '' }, 400, 'invalid_demo_request'],
    ['chat: blank prompt', 'chat', { prompt: ' \n\t' }, 400, 'invalid_demo_request'],
    ['chat: prompt too long', 'chat', { prompt: 'x'.repeat(501) }, 400, 'invalid_demo_request'],
    ['chat: prompt not a string', 'chat', { prompt: 42 }, 400, 'invalid_demo_request'],
    ['chat: a string body', 'chat', '"hello"', 400, 'invalid_demo_request'],
    ['logs: a JSON array body', 'logs', '[]', 400, 'invalid_demo_request'],
  ];
  for (const [name, path, body, status, code] of bad) {
    test(`refused: ${name} -> ${status} ${code}`, async () => {
      const reply = await postDemo(hub.url, path, body);
      assert.equal(reply.status, status, reply.text);
      assert.equal(reply.json().error.code, code);
    });
  }

  test('refused: a body that is not JSON, or too large', async () => {
    const text = await httpRequest(`${hub.url}/demos/api/chat`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'hello' });
    assert.equal(text.status, 415);
    assert.equal(text.json().error.code, 'unsupported_media_type');
    const big = await postDemo(hub.url, 'chat', { prompt: 'x', padding: 'y'.repeat(10_000) });
    assert.equal(big.status, 413);
    assert.equal(big.json().error.code, 'body_too_large');
  });

  test('a prompt of exactly 500 characters (not UTF-16 units) is accepted', async () => {
    const reply = await postDemo(hub.url, 'chat', { prompt: '😀'.repeat(500) });
    assert.equal(reply.status, 202, reply.text);
  });

  test('other methods are 405 with Allow: POST', async () => {
    const reply = await httpRequest(`${hub.url}/demos/api/jobs`, { method: 'GET' });
    assert.equal(reply.status, 405);
    assert.equal(reply.headers.allow, 'POST');
  });
});

describe('demo API: limits and shutdown', () => {
  test('at most 20 demos run at once; more gets 429 demo_busy with Retry-After, all or nothing', async () => {
    const hub = await startTestHub({ demos: true });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await postDemo(hub.url, 'jobs', { jobs: 5 })).status, 202);
      assert.equal((await postDemo(hub.url, 'jobs', { jobs: 4 })).status, 202); // 19 running
      const five = await postDemo(hub.url, 'jobs', { jobs: 2 });
      assert.equal(five.status, 429, 'two more would be 21: none starts');
      assert.equal(five.json().error.code, 'demo_busy');
      assert.equal(five.headers['retry-after'], '5');
      assert.equal((await postDemo(hub.url, 'chat', { prompt: 'one more' })).status, 202); // the 20th
      const busy = await postDemo(hub.url, 'chat', { prompt: 'too many' });
      assert.equal(busy.status, 429);
      assert.equal(busy.json().error.code, 'demo_busy');
    } finally {
      await hub.close();
    }
  });

  test('at most 5 log processes run at once', async () => {
    const hub = await startTestHub({ demos: true });
    try {
      for (let i = 0; i < 5; i++) assert.equal((await postDemo(hub.url, 'logs')).status, 202);
      const busy = await postDemo(hub.url, 'logs');
      assert.equal(busy.status, 429);
      assert.equal(busy.json().error.code, 'demo_busy');
      assert.equal((await postDemo(hub.url, 'jobs')).status, 202, 'other demos still start');
      assert.equal((await childrenWith('deploy 4812')).length, 5);
    } finally {
      await hub.close();
    }
    assert.deepEqual(await childrenWith('deploy 4812'), [], 'closing the hub killed them');
  });

  test('closing the hub stops every running demo: nothing is published after it', async () => {
    const hub = await startTestHub({ demos: true });
    assert.equal((await postDemo(hub.url, 'jobs', { jobs: 5 })).status, 202);
    assert.equal((await postDemo(hub.url, 'chat', { prompt: 'a long answer please' })).status, 202);
    await sleep(400);
    await hub.close();
    const retained = await userEventsRetained(hub.hub);
    assert.ok(retained > 0, 'they had started');
    await sleep(500);
    assert.equal(await userEventsRetained(hub.hub), retained);
  });
});

describe('demo API with tokens', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ demos: true, jwtSecret: SECRET });
  });
  after(() => hub.close());

  const bearer = async (publish: string[]) => ({ Authorization: `Bearer ${await mintToken({ secret: SECRET, subject: 'demo-user', lifetimeSeconds: 600, publish })}` });

  test('no token: 401; a token that may not publish to demo/…: 403; nothing runs', async () => {
    for (const path of ['jobs', 'logs', 'chat', 'chat/join']) {
      const anonymous = await postDemo(hub.url, path, { prompt: 'hi' });
      assert.equal(anonymous.status, 401, path);
      assert.equal(anonymous.json().error.code, 'token_required');
      const elsewhere = await postDemo(hub.url, path, { prompt: 'hi' }, await bearer(['orders/**', 'demo/other/*']));
      assert.equal(elsewhere.status, 403, path);
      assert.equal(elsewhere.json().error.code, 'forbidden');
    }
    assert.equal(await userEventsRetained(hub.hub), 0);
  });

  test('a token allowed to publish to the demo topic may start it', async () => {
    const jobs = await postDemo(hub.url, 'jobs', { jobs: 2 }, await bearer(['demo/jobs/*']));
    assert.equal(jobs.status, 202, jobs.text);
    const chat = await postDemo(hub.url, 'chat', { prompt: 'hi there' }, await bearer(['ai/*']));
    assert.equal(chat.status, 202, chat.text);
    const wrongKind = await postDemo(hub.url, 'chat', { prompt: 'hi there' }, await bearer(['demo/jobs/*']));
    assert.equal(wrongKind.status, 403);
  });
});
