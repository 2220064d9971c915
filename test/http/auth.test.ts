/**
 * Authorization over real HTTP: every rule of docs/security.md and the attacks on it.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { SignJWT, UnsecuredJWT } from 'jose';
import { pino } from 'pino';
import { mintToken } from '../../src/auth/tokens.js';
import { defaultConfig } from '../../src/config.js';
import { startHub, type RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { expiredToken } from '../support/tokens.js';
import { httpRequest, openStream, type OpenStream, type Reply } from '../support/http.js';

const SECRET = 'test-secret-test-secret-test-secret!';
const token = (grants: { publish?: string[]; subscribe?: string[] }, extra: { subject: string; lifetimeSeconds?: number }) =>
  mintToken({ secret: SECRET, lifetimeSeconds: extra.lifetimeSeconds ?? 600, ...grants, subject: extra.subject });
/** A token signed with the hub's secret carrying exactly these claims (none added), to test refusals. */
const signedClaims = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRET));
const inSeconds = (seconds: number) => Math.floor(Date.now() / 1000) + seconds;
const bearer = (value: string) => ({ Authorization: `Bearer ${value}` });

function post(url: string, body: string, headers: Record<string, string> = {}, type = 'text/plain'): Promise<Reply> {
  return httpRequest(url, { method: 'POST', headers: { 'Content-Type': type, ...headers }, body });
}

async function refusedStream(url: string, headers: Record<string, string> = {}): Promise<{ status: number; code: string }> {
  try {
    const stream = await openStream(url, headers);
    stream.close();
    return { status: 200, code: '' };
  } catch (error: any) {
    return { status: error.status, code: JSON.parse(error.body).error.code };
  }
}

describe('authorization', () => {
  let hub: RunningHub;
  let logs = '';
  before(async () => {
    const config = defaultConfig({
      port: 0,
      jwtSecret: SECRET,
      publicTopics: ['news/**'],
      corsOrigins: ['https://app.example'],
      ticketTtlMs: 400,
      maxStreamsPerSubject: 3,
      publishRate: 5,
      publishBurst: 5,
      rateLimitSubjects: true,
    });
    // Everything the hub logs, at the most verbose level, to check no credential leaks into it.
    const sink = new Writable({ write: (chunk, _encoding, done) => ((logs += chunk.toString()), done()) });
    hub = await startHub(config, pino({ level: 'trace' }, sink));
  });
  after(() => hub.close());

  describe('publishing', () => {
    test('without a token: 401 token_required', async () => {
      const reply = await post(`${hub.url}/topics/orders/1`, 'x');
      assert.equal(reply.status, 401);
      assert.equal(reply.json().error.code, 'token_required');
      assert.match(reply.headers['www-authenticate']!, /^Bearer/);
    });

    test('with a covering grant: 201; for another topic: 403 forbidden', async () => {
      const t = await token({ publish: ['orders/*'] }, { subject: 'pub-1' });
      assert.equal((await post(`${hub.url}/topics/orders/1`, 'x', bearer(t))).status, 201);
      const other = await post(`${hub.url}/topics/users/1`, 'x', bearer(t));
      assert.equal(other.status, 403);
      assert.equal(other.json().error.code, 'forbidden');
      assert.equal((await post(`${hub.url}/topics/orders/1/deeper`, 'x', bearer(t))).status, 403);
    });

    test('a batch mixing allowed and forbidden topics publishes nothing', async () => {
      const t = await token({ publish: ['orders/*'], subscribe: ['orders/**'] }, { subject: 'pub-2' });
      const start = (await post(`${hub.url}/topics/orders/2`, 'start', bearer(t))).json().id;
      const batch = JSON.stringify([
        { topic: 'orders/2', data: 'allowed' },
        { topic: 'admin/2', data: 'forbidden' },
      ]);
      const reply = await post(`${hub.url}/publish`, batch, bearer(t), 'application/json');
      assert.equal(reply.status, 403);
      await post(`${hub.url}/topics/orders/2`, 'sentinel', bearer(t));
      const stream = await openStream(`${hub.url}/topics/orders/2`, { ...bearer(t), 'Last-Event-ID': start });
      await stream.waitForEvents(1);
      assert.deepEqual(stream.events.map((e) => e.data), ['sentinel'], 'not even the allowed half was stored');
      stream.close();
    });

    test('forged, unsigned, expired and not-yet-valid tokens: 401', async () => {
      const now = Math.floor(Date.now() / 1000);
      const grants = { ssehub: { publish: ['**'] } };
      const cases: Array<[string, string, string]> = [
        ['forged', await mintToken({ secret: 'not-the-hub-secret-not-the-hub-secret', subject: 'forger', publish: ['**'], lifetimeSeconds: 60 }), 'invalid_token'],
        ['alg none', new UnsecuredJWT(grants).setSubject('forger').setExpirationTime(now + 60).encode(), 'invalid_token'],
        ['expired', await expiredToken(SECRET, { publish: ['**'] }), 'token_expired'],
        ['not yet valid', await signedClaims({ ...grants, sub: 'early', nbf: now + 300, exp: now + 600 }), 'token_not_yet_valid'],
        ['garbage', 'not.a.jwt', 'invalid_token'],
      ];
      for (const [name, value, code] of cases) {
        const reply = await post(`${hub.url}/topics/orders/1`, 'x', bearer(value));
        assert.equal(reply.status, 401, name);
        assert.equal(reply.json().error.code, code, name);
      }
      const basic = await post(`${hub.url}/topics/orders/1`, 'x', { Authorization: 'Basic dTpw' });
      assert.equal(basic.status, 401);
    });

    test('a token without "exp", however well signed, is refused: 401 token_missing_exp', async () => {
      const forever = await signedClaims({ sub: 'forever', iat: inSeconds(0), ssehub: { publish: ['**'], subscribe: ['**'] } });
      const reply = await post(`${hub.url}/topics/orders/1`, 'x', bearer(forever));
      assert.equal(reply.status, 401);
      assert.equal(reply.json().error.code, 'token_missing_exp');
      assert.match(reply.json().error.message, /"exp"/);
      assert.match(reply.headers['www-authenticate']!, /^Bearer error="invalid_token"/);
      assert.deepEqual(await refusedStream(`${hub.url}/topics/orders/1`, bearer(forever)), { status: 401, code: 'token_missing_exp' });
    });

    test('a token whose "sub" is missing, a number or empty is refused: 401 invalid_token', async () => {
      for (const sub of [undefined, 42, '']) {
        const t = await signedClaims({ ...(sub === undefined ? {} : { sub }), exp: inSeconds(600), ssehub: { publish: ['**'] } });
        const reply = await post(`${hub.url}/topics/orders/1`, 'x', bearer(t));
        assert.equal(reply.status, 401, String(sub));
        assert.equal(reply.json().error.code, 'invalid_token');
        assert.match(reply.json().error.message, /"sub" claim: a non-empty string/);
      }
    });

    test('a publisher over its rate gets 429 with Retry-After; others are unaffected', async () => {
      const t = await token({ publish: ['rate/**'] }, { subject: 'rate-limited' });
      const batch = JSON.stringify(Array.from({ length: 5 }, (_, i) => ({ topic: 'rate/a', data: String(i) })));
      assert.equal((await post(`${hub.url}/publish`, batch, bearer(t), 'application/json')).status, 201);
      const refused = await post(`${hub.url}/topics/rate/a`, 'one too many', bearer(t));
      assert.equal(refused.status, 429);
      assert.equal(refused.json().error.code, 'rate_limited');
      assert.ok(Number(refused.headers['retry-after']) >= 1);
      const other = await token({ publish: ['rate/**'] }, { subject: 'someone-else' });
      assert.equal((await post(`${hub.url}/topics/rate/a`, 'fine', bearer(other))).status, 201);
    });
    test('a publisher over its byte rate gets 429 rate_limited, for single events (on the fast path and through node:http) and batches', async () => {
      for (const fastPublish of [true, false]) {
        // One byte per second: what the burst of 4096 bytes leaves is what the test spends.
        const limited = await startTestHub({ jwtSecret: SECRET, publishRate: 0, maxBodyBytes: 4096, publishBytesRate: 1, publishBytesBurst: 4096, rateLimitSubjects: true, fastPublish });
        try {
          const t = await token({ publish: ['bytes/**'] }, { subject: 'heavy' });
          const at = (path: string, body: string, type?: string) => post(`${limited.url}${path}`, body, bearer(t), type);
          assert.equal((await at('/topics/bytes/a', 'x'.repeat(3000))).status, 201);
          const refused = await at('/topics/bytes/a', 'x'.repeat(2000));
          assert.equal(refused.status, 429, `fastPublish ${fastPublish}`);
          assert.equal(refused.json().error.code, 'rate_limited');
          assert.match(refused.json().error.message, /bytes\/s/);
          assert.ok(Number(refused.headers['retry-after']) >= 1);
          // A batch is charged the bytes of all its events' data: 1200 of the 1096 left, refused whole.
          const batch = (...sizes: number[]) => JSON.stringify(sizes.map((size) => ({ topic: 'bytes/b', data: 'y'.repeat(size) })));
          const batchRefused = await at('/publish', batch(600, 600), 'application/json');
          assert.equal(batchRefused.status, 429);
          assert.equal(batchRefused.json().error.code, 'rate_limited');
          assert.equal((await at('/publish', batch(500, 500), 'application/json')).status, 201);
          // 96 bytes left: event names count too.
          assert.equal((await at('/topics/bytes/a?event=ten-chars!', 'z'.repeat(90))).status, 429);
          assert.equal((await at('/topics/bytes/a', 'z'.repeat(90))).status, 201);
          const other = await token({ publish: ['bytes/**'] }, { subject: 'light' });
          assert.equal((await post(`${limited.url}/topics/bytes/a`, 'x'.repeat(3000), bearer(other))).status, 201, 'another publisher has its own bytes');
        } finally {
          await limited.close();
        }
      }
    });
  });

  describe('subscribing', () => {
    test('public topics need no token; private ones do', async () => {
      const open = await openStream(`${hub.url}/topics/news/today`);
      open.close();
      assert.deepEqual(await refusedStream(`${hub.url}/topics/orders/1`), { status: 401, code: 'token_required' });
      assert.deepEqual(await refusedStream(`${hub.url}/events?topic=news/x&topic=orders/1`), { status: 401, code: 'token_required' });
      assert.deepEqual(await refusedStream(`${hub.url}/topics/news`), { status: 401, code: 'token_required' }, 'news/** does not cover news');
    });

    test('a token for topic A cannot read topic B, nor a pattern wider than its grant', async () => {
      const t = await token({ subscribe: ['orders/1', 'users/*'] }, { subject: 'sub-1' });
      (await openStream(`${hub.url}/topics/orders/1`, bearer(t))).close();
      (await openStream(`${hub.url}/topics/users/*`, bearer(t))).close();
      assert.deepEqual(await refusedStream(`${hub.url}/topics/orders/2`, bearer(t)), { status: 403, code: 'forbidden' });
      assert.deepEqual(await refusedStream(`${hub.url}/topics/orders/*`, bearer(t)), { status: 403, code: 'forbidden' });
      assert.deepEqual(await refusedStream(`${hub.url}/topics/users/**`, bearer(t)), { status: 403, code: 'forbidden' });
    });

    test('the token may come from the cookie', async () => {
      const t = await token({ subscribe: ['orders/**'] }, { subject: 'cookie-user' });
      const stream = await openStream(`${hub.url}/topics/orders/9`, { Cookie: `theme=dark; ssehub_token=${t}` });
      stream.close();
      assert.deepEqual(await refusedStream(`${hub.url}/topics/orders/9`, { Cookie: 'ssehub_token=forged' }), { status: 401, code: 'invalid_token' });
    });

    test('replay honours authorization: a resume replays only the events the token may read', async () => {
      const publisher = await token({ publish: ['**'] }, { subject: 'replay-pub' });
      const first = (await post(`${hub.url}/topics/replay/mine`, '0', bearer(publisher))).json().id;
      await post(`${hub.url}/topics/replay/secret`, 'secret', bearer(publisher));
      await post(`${hub.url}/topics/replay/mine`, '1', bearer(publisher));
      const reader = await token({ subscribe: ['replay/mine'] }, { subject: 'replay-reader' });
      const stream = await openStream(`${hub.url}/topics/replay/mine`, { ...bearer(reader), 'Last-Event-ID': first });
      await stream.waitForEvents(1);
      await post(`${hub.url}/topics/replay/secret`, 'secret, live', bearer(publisher));
      await post(`${hub.url}/topics/replay/mine`, 'sentinel', bearer(publisher));
      await stream.waitForEvents(2);
      assert.deepEqual(stream.events.map((e) => e.data), ['1', 'sentinel']);
      stream.close();
      assert.deepEqual(await refusedStream(`${hub.url}/topics/replay/*`, { ...bearer(reader), 'Last-Event-ID': first }), { status: 403, code: 'forbidden' });
    });

    test('a stream ends when its token expires, with the ssehub.expired event', async () => {
      const t = await token({ subscribe: ['orders/**'] }, { subject: 'short-lived', lifetimeSeconds: 2 });
      const stream = await openStream(`${hub.url}/topics/orders/exp`, bearer(t));
      await stream.ended;
      assert.equal(stream.events.at(-1)?.type, 'ssehub.expired');
      assert.deepEqual(await refusedStream(`${hub.url}/topics/orders/exp`, bearer(t)), { status: 401, code: 'token_expired' });
    });

    test('open streams per subject are limited', async () => {
      const t = await token({ subscribe: ['orders/**'] }, { subject: 'greedy' });
      const streams: OpenStream[] = [];
      for (let i = 0; i < 3; i++) streams.push(await openStream(`${hub.url}/topics/orders/${i}`, bearer(t)));
      assert.deepEqual(await refusedStream(`${hub.url}/topics/orders/4`, bearer(t)), { status: 429, code: 'too_many_streams' });
      streams.pop()!.close();
      // The hub frees the slot once it sees the connection close: retry until then, not for a fixed time.
      for (const deadline = Date.now() + 5000; ; ) {
        const refused = await refusedStream(`${hub.url}/topics/orders/4`, bearer(t));
        if (refused.status === 200) break;
        assert.deepEqual(refused, { status: 429, code: 'too_many_streams' });
        assert.ok(Date.now() < deadline, 'the closed stream still holds its slot');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      for (const stream of streams) stream.close();
    });

    test('the per-subject stream limit cannot be escaped with tokens whose "sub" is missing or a number', async () => {
      // The limit is 3 here: one more than that, none of which may open.
      const opened: OpenStream[] = [];
      const refusals: Array<{ status: number; code: string }> = [];
      for (let i = 0; i < 4; i++) {
        const claims = { exp: inSeconds(600), ssehub: { subscribe: ['orders/**'] }, ...(i % 2 === 0 ? {} : { sub: 7 }) };
        try {
          opened.push(await openStream(`${hub.url}/topics/orders/escape-${i}`, bearer(await signedClaims(claims))));
        } catch (error: any) {
          refusals.push({ status: error.status, code: JSON.parse(error.body).error.code });
        }
      }
      for (const stream of opened) stream.close();
      assert.equal(opened.length, 0, 'no stream opened without a string subject');
      assert.deepEqual(refusals, Array(4).fill({ status: 401, code: 'invalid_token' }));
    });
  });

  describe('stream tickets', () => {
    test('POST /tickets needs a token, and only for topics the token may read', async () => {
      const noToken = await post(`${hub.url}/tickets`, '{"topics":["orders/1"]}', {}, 'application/json');
      assert.equal(noToken.status, 401);
      const t = await token({ subscribe: ['orders/*'] }, { subject: 'ticket-user' });
      const tooWide = await post(`${hub.url}/tickets`, '{"topics":["orders/**"]}', bearer(t), 'application/json');
      assert.equal(tooWide.status, 403);
      const bad = await post(`${hub.url}/tickets`, '{"topics":[]}', bearer(t), 'application/json');
      assert.equal(bad.status, 400);
    });

    test('a ticket opens its topics once; reuse, another topic, expiry and forgery get 401/403', async () => {
      const t = await token({ subscribe: ['orders/*'] }, { subject: 'ticket-user' });
      const issue = async () => (await post(`${hub.url}/tickets`, '{"topics":["orders/5"]}', bearer(t), 'application/json')).json();
      const issued = await issue();
      assert.equal(issued.expiresIn, 0); // 400 ms rounds to 0 s
      const stream = await openStream(`${hub.url}/events?topic=orders/5&ticket=${issued.ticket}`);
      stream.close();
      assert.deepEqual(await refusedStream(`${hub.url}/events?topic=orders/5&ticket=${issued.ticket}`), { status: 401, code: 'invalid_ticket' });
      const forOther = (await issue()).ticket;
      assert.deepEqual(await refusedStream(`${hub.url}/events?topic=orders/6&ticket=${forOther}`), { status: 403, code: 'forbidden' });
      const late = (await issue()).ticket;
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.deepEqual(await refusedStream(`${hub.url}/events?topic=orders/5&ticket=${late}`), { status: 401, code: 'invalid_ticket' });
      assert.deepEqual(await refusedStream(`${hub.url}/events?topic=orders/5&ticket=${'A'.repeat(43)}`), { status: 401, code: 'invalid_ticket' });
    });

    test('tickets and tokens never reach the logs', async () => {
      const from = logs.length;
      const t = await token({ subscribe: ['orders/*'] }, { subject: 'log-check' });
      const { ticket } = (await post(`${hub.url}/tickets`, '{"topics":["orders/7"]}', bearer(t), 'application/json')).json();
      const stream = await openStream(`${hub.url}/events?topic=orders/7&ticket=${ticket}`);
      stream.close();
      await refusedStream(`${hub.url}/events?topic=orders/7&ticket=${ticket}`);
      // The stream's last line: everything about it has been logged once it is there.
      for (const deadline = Date.now() + 5000; !logs.slice(from).includes('stream closed'); ) {
        assert.ok(Date.now() < deadline, 'the stream\'s close was not logged');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.ok(logs.includes('stream opened'), 'the log was captured');
      assert.ok(!logs.includes(ticket), 'ticket in logs');
      assert.ok(!logs.includes(t), 'token in logs');
    });
  });

  describe('CORS', () => {
    test('an allowed origin gets itself and credentials back, on streams and errors too', async () => {
      const t = await token({ subscribe: ['orders/*'] }, { subject: 'cors' });
      const stream = await openStream(`${hub.url}/topics/orders/1`, { ...bearer(t), Origin: 'https://app.example' });
      assert.equal(stream.headers['access-control-allow-origin'], 'https://app.example');
      assert.equal(stream.headers['access-control-allow-credentials'], 'true');
      stream.close();
      const error = await post(`${hub.url}/topics/orders/1`, 'x', { Origin: 'https://app.example' });
      assert.equal(error.status, 401);
      assert.equal(error.headers['access-control-allow-origin'], 'https://app.example');
    });

    test('the preflight allows publishing with Authorization and streams with Last-Event-ID', async () => {
      const reply = await httpRequest(`${hub.url}/topics/orders/1`, {
        method: 'OPTIONS',
        headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type' },
      });
      assert.equal(reply.status, 204);
      assert.equal(reply.headers['access-control-allow-origin'], 'https://app.example');
      assert.match(reply.headers['access-control-allow-methods']!, /POST/);
      assert.match(reply.headers['access-control-allow-headers']!, /Authorization/);
      assert.match(reply.headers['access-control-allow-headers']!, /Last-Event-ID/);
    });

    test('a disallowed origin gets no CORS headers, never *', async () => {
      const reply = await httpRequest(`${hub.url}/topics/orders/1`, {
        method: 'OPTIONS',
        headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
      });
      assert.equal(reply.status, 204);
      for (const name of Object.keys(reply.headers)) assert.ok(!name.startsWith('access-control-'), name);
      const stream = await openStream(`${hub.url}/topics/news/x`, { Origin: 'https://evil.example' });
      assert.equal(stream.headers['access-control-allow-origin'], undefined);
      stream.close();
    });
  });
});

describe('limits on an open hub', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ maxStreamsPerIp: 2, maxHeaderBytes: 4096 });
  });
  after(() => hub.close());

  test('open streams per client IP are limited; a closed stream gives its slot back, once', async () => {
    const a = await openStream(`${hub.url}/topics/a`);
    const b = await openStream(`${hub.url}/topics/b`);
    assert.deepEqual(await refusedStream(`${hub.url}/topics/c`), { status: 429, code: 'too_many_streams' });
    a.close();
    for (let waited = 0; hub.hub.stats().connections !== 1; waited += 10) {
      assert.ok(waited < 5000, 'the closed stream is still counted');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const c = await openStream(`${hub.url}/topics/c`);
    // Had a's close been counted twice, this one would be let in.
    assert.deepEqual(await refusedStream(`${hub.url}/topics/d`), { status: 429, code: 'too_many_streams' });
    b.close();
    c.close();
  });

  test('oversized headers get 431', async () => {
    const reply = await httpRequest(`${hub.url}/healthz`, { headers: { 'X-Big': 'x'.repeat(8000) } });
    assert.equal(reply.status, 431);
    assert.equal(reply.json().error.code, 'headers_too_large');
  });

  test('without a key, anyone may publish and subscribe; system $ssehub/ topics may be subscribed to only', async () => {
    assert.equal(hub.access.enabled, false);
    assert.equal((await post(`${hub.url}/topics/anything`, 'x')).status, 201);
    assert.equal((await post(`${hub.url}/topics/$ssehub/stats`, 'x')).json().error.code, 'invalid_topic');
    // (This hub allows 2 streams per IP: let the streams of the tests above go first.)
    for (let i = 0; i < 100 && hub.hub.stats().connections > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(await refusedStream(`${hub.url}/topics/$ssehub/stats`), { status: 200, code: '' });
    assert.deepEqual(await refusedStream(`${hub.url}/events?topic=$ssehub/*`), { status: 200, code: '' });
    assert.deepEqual(await refusedStream(`${hub.url}/topics/$other/stats`), { status: 400, code: 'invalid_topic' });
  });
});

describe('token rules set at start', () => {
  test('--jwt-max-lifetime: a token living longer is refused, 401 token_lifetime_exceeded; a shorter one is accepted', async () => {
    const hub = await startTestHub({ jwtSecret: SECRET, jwtMaxLifetimeMs: 3_600_000 });
    try {
      const long = await token({ publish: ['**'] }, { subject: 'long', lifetimeSeconds: 7200 });
      const refused = await post(`${hub.url}/topics/a`, 'x', bearer(long));
      assert.equal(refused.status, 401);
      assert.equal(refused.json().error.code, 'token_lifetime_exceeded');
      assert.match(refused.json().error.message, /--jwt-max-lifetime/);
      const short = await token({ publish: ['**'] }, { subject: 'short', lifetimeSeconds: 3000 });
      assert.equal((await post(`${hub.url}/topics/a`, 'x', bearer(short))).status, 201);
    } finally {
      await hub.close();
    }
  });

  test('an HS256 secret under 32 bytes stops the hub from starting: invalid_config, without loadConfig too', async () => {
    for (const secret of ['a', 'client-secret', 'x'.repeat(31)]) {
      const started = await startTestHub({ jwtSecret: secret }).then(
        async (hub) => (await hub.close(), 'started'),
        (error: any) => `${error.code}: ${error.message}`,
      );
      assert.match(started, /^invalid_config: .*openssl rand -base64 32/, secret);
    }
  });
});

describe('default publish rates (1000 events/s, bursts of 2000): anonymous publishers only', () => {
  /** Publishes `batches` batches of 1000 events at once; the statuses, in order. */
  async function publishBatches(url: string, batches: number, headers: Record<string, string> = {}): Promise<number[]> {
    const body = JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ topic: 'firehose/a', data: String(i) })));
    const statuses: number[] = [];
    for (let i = 0; i < batches; i++) statuses.push((await post(`${url}/publish`, body, headers, 'application/json')).status);
    return statuses;
  }

  test('a publisher with a token subject is not rate-limited by default', async () => {
    const hub = await startTestHub({ jwtSecret: SECRET });
    try {
      const t = await token({ publish: ['firehose/**'] }, { subject: 'backend' });
      assert.deepEqual(await publishBatches(hub.url, 4, bearer(t)), [201, 201, 201, 201]);
    } finally {
      await hub.close();
    }
  });

  test('an anonymous publisher (open hub, by IP) is: 429 rate_limited past the burst', async () => {
    const hub = await startTestHub();
    try {
      assert.deepEqual(await publishBatches(hub.url, 3), [201, 201, 429]);
    } finally {
      await hub.close();
    }
  });

  test('with rateLimitSubjects, token subjects get the same rates, each its own budget', async () => {
    const hub = await startTestHub({ jwtSecret: SECRET, rateLimitSubjects: true });
    try {
      const first = await token({ publish: ['firehose/**'] }, { subject: 'backend' });
      const second = await token({ publish: ['firehose/**'] }, { subject: 'other-backend' });
      assert.deepEqual(await publishBatches(hub.url, 3, bearer(first)), [201, 201, 429]);
      assert.deepEqual(await publishBatches(hub.url, 1, bearer(second)), [201]);
    } finally {
      await hub.close();
    }
  });
});
