/**
 * A real nginx running deploy/nginx/ssehub.conf (the file docs/deployment.md quotes) in front of
 * real hubs, with only ports, certificate paths and a few timeouts and limits substituted. It shows
 * that through nginx each event reaches the client before the next is published, uncompressed; that
 * a stream idle longer than nginx's read timeout survives on the hub's heartbeat (and dies without
 * it); that Last-Event-ID passes through, over HTTP/1.1 and HTTP/2; that streams spread over two
 * hub instances on Redis and survive one of them stopping; and how per-client stream limits work
 * behind the proxy. The contrasting setups (the reference without its `gzip off`, a hub without
 * heartbeat, the hub's own per-IP limit, the hub's X-Accel-Buffering header on its own) show that
 * the checks can fail and what the reference file contributes. The http block around the site is
 * deliberately unfriendly (gzip for event streams, X-Accel-Buffering ignored): the site's own
 * settings must be what keeps streams flowing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect as connectHttp2, type ClientHttp2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EventStreamParser, type ParsedEvent } from '../../src/protocol/index.js';
import type { RunningHub } from '../../src/start.js';
import { checkExactlyOnceInOrder, FailoverSubscriber } from '../support/cluster.js';
import { freePort, spawnHub, startTestHub, type HubProcess } from '../support/hub.js';
import { httpRequest, openStream, publish, type OpenStream } from '../support/http.js';
import { freshNamespace, removeNamespace } from '../support/namespaces.js';
import { nginxSkipReason, renderSite, startNginx, type RunningNginx, type Substitution } from '../support/nginx.js';
import { redisService } from '../support/services.js';
import { describeUnlessSkipped } from '../support/skip.js';

const SITE = readFileSync(new URL('../../deploy/nginx/ssehub.conf', import.meta.url), 'utf8');
const hasOpenssl = spawnSync('sh', ['-c', 'command -v openssl']).status === 0;
const skip = nginxSkipReason() ?? (hasOpenssl || process.env.CI ? undefined : 'openssl is not installed (needed for the test certificate)');
const redis = await redisService();

/**
 * An http block as some installations have it: gzip for every text type, event streams included,
 * and upstreams' X-Accel-Buffering ignored. The reference site must keep streams flowing anyway.
 */
const HOSTILE_HTTP = `    gzip on;
    gzip_min_length 1;
    gzip_proxied any;
    gzip_types text/event-stream application/json text/plain;
    proxy_ignore_headers X-Accel-Buffering;`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

let certDir = '';
let cert = '';

function makeCertificate(): void {
  certDir = mkdtempSync(join(tmpdir(), 'ssehub-cert-'));
  const result = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem')],
    { encoding: 'utf8' },
  );
  assert.equal(result.status, 0, `openssl failed: ${result.stderr}`);
  cert = readFileSync(join(certDir, 'cert.pem'), 'utf8');
  cleanups.push(async () => rmSync(certDir, { recursive: true, force: true }));
}

interface Front {
  /** nginx's plain HTTP/1.1 listener (added for the test to the reference's HTTPS server block). */
  url: string;
  /** The reference's HTTPS + HTTP/2 listener. */
  tlsUrl: string;
  /** The reference's port-80 server, which redirects to HTTPS. */
  redirectUrl: string;
  nginx: RunningNginx;
}

interface FrontOptions {
  /** proxy_read_timeout of the stream location (the reference says 1m). */
  readTimeout?: string;
  /** limit_conn of the stream location (the reference says 1000). */
  streamLimit?: number;
  /** http-level directives before the site (default: HOSTILE_HTTP). */
  http?: string;
  /** Further changes to the reference, for the contrasting setups. */
  changes?: Substitution[];
}

/** nginx with the reference site in front of the given hubs (host:port each). */
async function front(upstreams: string[], options: FrontOptions = {}): Promise<Front> {
  const [plain, tls, redirect] = [await freePort(), await freePort(), await freePort()];
  const substitutions: Substitution[] = [
    { from: '    server 127.0.0.1:8080;\n    server 127.0.0.1:8081;\n', to: upstreams.map((upstream) => `    server ${upstream};\n`).join('') },
    { from: 'listen 80;', to: `listen 127.0.0.1:${redirect};` },
    {
      from: 'listen 443 ssl http2;',
      to: `listen 127.0.0.1:${tls} ssl http2;\n    # Test only: the same server over plain HTTP/1.1, for the HTTP/1.1 clients.\n    listen 127.0.0.1:${plain};`,
    },
    { from: /ssl_certificate \/etc\/\S+;/, to: `ssl_certificate ${join(certDir, 'cert.pem')};` },
    { from: /ssl_certificate_key \/etc\/\S+;/, to: `ssl_certificate_key ${join(certDir, 'key.pem')};` },
    { from: 'proxy_read_timeout 1m;', to: `proxy_read_timeout ${options.readTimeout ?? '1m'};` },
    { from: 'limit_conn ssehub_streams 1000;', to: `limit_conn ssehub_streams ${options.streamLimit ?? 1000};` },
    ...(options.changes ?? []),
  ];
  const nginx = await startNginx({ site: renderSite(SITE, substitutions), http: options.http ?? HOSTILE_HTTP, ports: [plain, tls, redirect] });
  cleanups.push(() => nginx.stop());
  return { url: `http://127.0.0.1:${plain}`, tlsUrl: `https://127.0.0.1:${tls}`, redirectUrl: `http://127.0.0.1:${redirect}`, nginx };
}

const upstreamOf = (hub: { url: string }): string => new URL(hub.url).host;

/**
 * openStream with a deadline for the response headers: an nginx that holds the stream back must
 * fail the test, not hang it.
 */
async function open(url: string, headers: Record<string, string> = {}): Promise<OpenStream> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no response headers from ${url} within 10 s`)), 10_000);
  });
  try {
    return await Promise.race([openStream(url, headers), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves true if the stream ends within ms, false if it is still open then. */
function endsWithin(stream: OpenStream, ms: number): Promise<boolean> {
  return Promise.race([stream.ended.then(() => true), sleep(ms).then(() => false)]);
}

/** Publishes through nginx, retrying what a stopping instance may cause (502/503/504, a reset) with one Idempotency-Key. */
async function publishThrough(url: string, topic: string, data: string, key: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      const reply = await httpRequest(`${url}/topics/${topic}`, { method: 'POST', headers: { 'Content-Type': 'text/plain', 'Idempotency-Key': key }, body: data });
      if (reply.status === 201) return;
      if (![409, 502, 503, 504].includes(reply.status)) throw new Error(`publish answered ${reply.status}: ${reply.text}`);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('publish answered')) throw error;
    }
    await sleep(50);
  }
  throw new Error(`could not publish ${data}`);
}

/** A stream request from a given local address (127.0.0.x), to tell clients apart on one machine. */
function openFrom(localAddress: string, url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, agent: false, headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      if (res.statusCode === 200) {
        resolve({ status: 200, body: '', close: () => req.destroy() });
        return;
      }
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, close: () => req.destroy() }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens a stream with `localAddress` until it is accepted (nginx counts a closed stream off shortly after). */
async function openFromEventually(localAddress: string, url: string): Promise<{ status: number; close(): void }> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const stream = await openFrom(localAddress, url);
    if (stream.status === 200 || Date.now() > deadline) return stream;
    await sleep(50);
  }
}

interface Http2Stream {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  events: ParsedEvent[];
  waitForEvents(n: number): Promise<void>;
}

/** An event stream as one HTTP/2 request on `session`. */
function openHttp2Stream(session: ClientHttp2Session, path: string, headers: Record<string, string> = {}): Promise<Http2Stream> {
  return new Promise((resolve, reject) => {
    const events: ParsedEvent[] = [];
    const parser = new EventStreamParser({ onEvent: (event) => void (event.type === 'ssehub.position' || events.push(event)) });
    const req = session.request({ ':path': path, accept: 'text/event-stream', 'accept-encoding': 'gzip', ...headers });
    const timer = setTimeout(() => reject(new Error(`no HTTP/2 response headers for ${path} within 10 s`)), 10_000);
    req.on('data', (chunk: Buffer) => parser.feed(chunk));
    req.on('error', reject);
    req.on('response', (responseHeaders) => {
      clearTimeout(timer);
      resolve({
        status: Number(responseHeaders[':status']),
        headers: responseHeaders,
        events,
        waitForEvents: async (n) => {
          const deadline = Date.now() + 5000;
          while (events.length < n) {
            if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} events over HTTP/2; got ${events.length}`);
            await sleep(10);
          }
        },
      });
    });
  });
}

describeUnlessSkipped('nginx with deploy/nginx/ssehub.conf in front of the hub', { skip }, () => {
  let hub: RunningHub;
  let main: Front;

  before(async () => {
    makeCertificate();
    // Heartbeat well inside nginx's read timeout, which is cut to 2 s here.
    hub = await startTestHub({ heartbeatMs: 500, publishRate: 0 });
    cleanups.push(() => hub.close());
    main = await front([upstreamOf(hub)], { readTimeout: '2s' });
  });

  test('nginx is installed', () => {
    assert.equal(nginxSkipReason(), undefined);
    assert.ok(hasOpenssl, 'openssl is installed');
  });

  test('each event reaches the client before the next one is published, uncompressed though gzip is on', async () => {
    const stream = await open(`${main.url}/topics/flow`, { 'Accept-Encoding': 'gzip' });
    assert.equal(stream.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(stream.headers['content-encoding'], undefined, 'the stream is not compressed');
    for (let i = 1; i <= 20; i++) {
      const reply = await publish(main.url, 'flow', `e${i}`);
      assert.equal(reply.status, 201, reply.text);
      // Buffered, the event would wait for more bytes that never come (the next publish waits for it).
      await stream.waitForEvents(i, 5000);
      assert.equal(stream.events.length, i);
      assert.equal(stream.events[i - 1]!.data, `e${i}`);
    }
    stream.close();
    // The http block's gzip is live: other answers are compressed, so the stream's `gzip off` is what held.
    const stats = await httpRequest(`${main.url}/stats`, { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(stats.status, 200);
    assert.equal(stats.headers['content-encoding'], 'gzip');
  });

  test('what the reference contributes: without its `gzip off` the site-wide gzip compresses the stream', async () => {
    const gzipped = await front([upstreamOf(hub)], { changes: [{ from: /\n *gzip off;/, to: '' }] });
    const stream = await open(`${gzipped.url}/topics/gzip`, { 'Accept-Encoding': 'gzip' });
    assert.equal(stream.headers['content-encoding'], 'gzip');
    stream.close();
    await gzipped.nginx.stop();
  });

  test('the hub\'s X-Accel-Buffering: no alone keeps events flowing where nginx honours it, even with proxy_buffering on', async () => {
    const honouring = await front([upstreamOf(hub)], { http: '', changes: [{ from: 'proxy_buffering off;', to: 'proxy_buffering on;' }] });
    const flowing = await open(`${honouring.url}/topics/held`);
    for (let i = 1; i <= 5; i++) {
      assert.equal((await publish(honouring.url, 'held', `h${i}`)).status, 201);
      await flowing.waitForEvents(i, 5000);
    }
    assert.deepEqual(flowing.events.map((event) => event.data), ['h1', 'h2', 'h3', 'h4', 'h5']);
    flowing.close();
    await honouring.nginx.stop();
  });

  test('a stream idle for longer than proxy_read_timeout (2 s) survives on the hub\'s heartbeat (500 ms)', async () => {
    const stream = await open(`${main.url}/topics/idle`);
    assert.equal(await endsWithin(stream, 5000), false, 'still open after 5 s without an event');
    assert.ok(stream.comments.length >= 3, `heartbeats came through: ${JSON.stringify(stream.comments)}`);
    assert.equal((await publish(main.url, 'idle', 'after the silence')).status, 201);
    await stream.waitForEvents(1, 5000);
    assert.equal(stream.events[0]!.data, 'after the silence');
    stream.close();
  });

  test('without the heartbeat (--heartbeat 0), nginx cuts the idle stream after its read timeout', async () => {
    const silent = await startTestHub({ heartbeatMs: 0 });
    cleanups.push(() => silent.close());
    const silentFront = await front([upstreamOf(silent)], { readTimeout: '2s' });
    const stream = await open(`${silentFront.url}/topics/idle`);
    assert.equal(await endsWithin(stream, 15_000), true, 'nginx ended the stream');
    assert.match(silentFront.nginx.errorLog(), /upstream timed out/);
    await silentFront.nginx.stop();
  });

  test('Last-Event-ID passes through: a stream resuming after the 2nd of 5 events gets the 3rd to 5th', async () => {
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const reply = await publish(main.url, 'resume', `r${i}`);
      assert.equal(reply.status, 201);
      ids.push(reply.json().id);
    }
    const resumed = await open(`${main.url}/topics/resume`, { 'Last-Event-ID': ids[1]! });
    const fresh = await open(`${main.url}/topics/resume`);
    await resumed.waitForEvents(3);
    assert.deepEqual(resumed.events.map((event) => event.data), ['r3', 'r4', 'r5']);
    assert.deepEqual(resumed.events.map((event) => event.lastEventId), ids.slice(2));
    // The next event comes right after them on both: nothing else was replayed, and the fresh stream got no history.
    assert.equal((await publish(main.url, 'resume', 'r6')).status, 201);
    await resumed.waitForEvents(4);
    await fresh.waitForEvents(1);
    assert.deepEqual(resumed.events.map((event) => event.data), ['r3', 'r4', 'r5', 'r6']);
    assert.deepEqual(fresh.events.map((event) => event.data), ['r6']);
    resumed.close();
    fresh.close();
  });

  test('over HTTPS and HTTP/2: more streams than a browser\'s 6 connections share one connection, Last-Event-ID included', async () => {
    const session = connectHttp2(main.tlsUrl, { ca: cert });
    cleanups.push(async () => session.destroy());
    await new Promise<void>((resolve, reject) => session.once('connect', () => resolve()).once('error', reject));
    assert.equal(session.alpnProtocol, 'h2');
    const first = await publish(main.url, 'h2', 'before-1');
    assert.equal((await publish(main.url, 'h2', 'before-2')).status, 201);
    const streams = await Promise.all(Array.from({ length: 8 }, () => openHttp2Stream(session, '/topics/h2')));
    const resumed = await openHttp2Stream(session, '/topics/h2', { 'last-event-id': first.json().id });
    for (const stream of [...streams, resumed]) {
      assert.equal(stream.status, 200);
      assert.equal(stream.headers['content-type'], 'text/event-stream; charset=utf-8');
      assert.equal(stream.headers['content-encoding'], undefined);
    }
    assert.equal((await publish(main.url, 'h2', 'to all')).status, 201);
    for (const stream of streams) {
      await stream.waitForEvents(1);
      assert.deepEqual(stream.events.map((event) => event.data), ['to all']);
    }
    await resumed.waitForEvents(2);
    assert.deepEqual(resumed.events.map((event) => event.data), ['before-2', 'to all'], 'resumed right after "before-1"');
    session.destroy();
  });

  test('plain HTTP on port 80 redirects to HTTPS; /metrics is not served through the balancer; health passes', async () => {
    const redirect = await httpRequest(`${main.redirectUrl}/topics/x`);
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, 'https://127.0.0.1/topics/x');
    assert.equal((await httpRequest(`${main.url}/metrics`)).status, 403);
    const health = await httpRequest(`${main.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(health.json().engine, { name: 'memory', ok: true, latencyMs: 0 });
    assert.equal((await httpRequest(`${main.url}/livez`)).status, 200);
  });

  test('a percent-encoded topic reaches the hub as sent', async () => {
    const stream = await open(`${main.url}/topics/orders%2F42`);
    assert.equal((await publish(hub.url, 'orders/42', 'encoded')).status, 201);
    await stream.waitForEvents(1);
    assert.equal(stream.events[0]!.data, 'encoded');
    stream.close();
  });

  test('behind nginx, limit_conn counts streams per client address; the hub\'s own per-IP limit sees nginx, unless it trusts nginx', async () => {
    const limited = await front([upstreamOf(hub)], { streamLimit: 2 });
    const url = `${limited.url}/topics/limits`;
    const a1 = await openFrom('127.0.0.2', url);
    const a2 = await openFrom('127.0.0.2', url);
    const a3 = await openFrom('127.0.0.2', url);
    assert.deepEqual([a1.status, a2.status, a3.status], [200, 200, 429]);
    assert.equal(JSON.parse(a3.body).error.code, 'too_many_streams');
    const b1 = await openFrom('127.0.0.3', url);
    assert.equal(b1.status, 200, 'another address has its own count');
    a1.close();
    const again = await openFromEventually('127.0.0.2', url);
    assert.equal(again.status, 200, 'a closed stream no longer counts');
    for (const stream of [a2, a3, b1, again]) stream.close();
    await limited.nginx.stop();

    // The hub's --max-streams-per-ip counts nginx's address for every client: 2 streams from one
    // client use up everyone's allowance. Hence --max-streams-per-ip 0 behind a proxy (docs/deployment.md).
    const perIpHub = await startTestHub({ maxStreamsPerIp: 2 });
    cleanups.push(() => perIpHub.close());
    const open = await front([upstreamOf(perIpHub)]);
    const x1 = await openFrom('127.0.0.2', `${open.url}/topics/limits`);
    const x2 = await openFrom('127.0.0.2', `${open.url}/topics/limits`);
    const y1 = await openFrom('127.0.0.3', `${open.url}/topics/limits`);
    assert.deepEqual([x1.status, x2.status, y1.status], [200, 200, 429]);
    assert.equal(JSON.parse(y1.body).error.message, 'At most 2 open streams per client IP.', 'the hub\'s limit, not nginx\'s');
    for (const stream of [x1, x2, y1]) stream.close();
    await open.nginx.stop();

    // Trusting nginx (--trusted-proxies 127.0.0.1), the same hub limit counts each client apart, by the
    // address nginx appends to X-Forwarded-For; what a client puts there itself changes nothing.
    const trustingHub = await startTestHub({ maxStreamsPerIp: 2, trustedProxies: ['127.0.0.1'] });
    cleanups.push(() => trustingHub.close());
    const trusting = await front([upstreamOf(trustingHub)]);
    const turl = `${trusting.url}/topics/limits`;
    const p1 = await openFrom('127.0.0.2', turl);
    const p2 = await openFrom('127.0.0.2', turl, { 'X-Forwarded-For': '198.51.100.7' });
    const q1 = await openFrom('127.0.0.3', turl);
    const p3 = await openFrom('127.0.0.2', turl, { 'X-Forwarded-For': '198.51.100.8' });
    assert.deepEqual([p1.status, p2.status, q1.status, p3.status], [200, 200, 200, 429]);
    assert.equal(JSON.parse(p3.body).error.message, 'At most 2 open streams per client IP.', 'the hub\'s limit, for 127.0.0.2 alone');
    for (const stream of [p1, p2, q1, p3]) stream.close();
    await trusting.nginx.stop();
  });
});

describeUnlessSkipped('nginx balancing two hub instances on Redis', { skip: skip ?? redis.skipReason() }, () => {
  test(`the Redis server answers at ${redis.url}`, () => {
    assert.ok(redis.reachable, `Redis is not reachable at ${redis.url}`);
  });

  test('streams land on both instances; an event published through nginx reaches subscribers on both', async () => {
    if (cert === '') makeCertificate();
    const namespace = freshNamespace('n');
    cleanups.push(() => removeNamespace('redis', redis.url, namespace));
    const args = ['--engine', redis.url, '--namespace', namespace, '--heartbeat', '1s', '--max-streams-per-ip', '0', '--publish-rate', '0'];
    const hubs: HubProcess[] = await Promise.all([spawnHub(args), spawnHub(args)]);
    for (const instance of hubs) cleanups.push(() => instance.stop());
    const balancer = await front(hubs.map(upstreamOf));

    const streams: OpenStream[] = [];
    for (let i = 0; i < 4; i++) streams.push(await open(`${balancer.url}/topics/lb`));
    const connections = await Promise.all(hubs.map(async (instance) => (await httpRequest(`${instance.url}/stats`)).json().connections as number));
    assert.ok(connections.every((count) => count >= 1), `streams on each instance: ${connections.join(', ')}`);
    assert.equal(connections[0]! + connections[1]!, 4);

    for (let i = 1; i <= 3; i++) assert.equal((await publish(balancer.url, 'lb', `lb${i}`)).status, 201);
    for (const stream of streams) {
      await stream.waitForEvents(3);
      assert.deepEqual(stream.events.map((event) => event.data), ['lb1', 'lb2', 'lb3']);
    }
    const order = streams[0]!.events.map((event) => event.lastEventId);
    for (const stream of streams) assert.deepEqual(stream.events.map((event) => event.lastEventId), order, 'one order on every instance');
    for (const stream of streams) stream.close();
  });

  test('an instance stopped with SIGTERM: its clients reconnect through nginx to the other, missing nothing', async () => {
    if (cert === '') makeCertificate();
    const namespace = freshNamespace('n');
    cleanups.push(() => removeNamespace('redis', redis.url, namespace));
    const args = ['--engine', redis.url, '--namespace', namespace, '--heartbeat', '1s', '--max-streams-per-ip', '0', '--publish-rate', '0'];
    const [a, b] = await Promise.all([spawnHub(args), spawnHub(args)]);
    cleanups.push(() => a!.stop(), () => b!.stop());
    const balancer = await front([upstreamOf(a!), upstreamOf(b!)]);

    const subscribers = Array.from({ length: 6 }, () => new FailoverSubscriber(() => [balancer.url], '/topics/failover'));
    cleanups.push(() => Promise.all(subscribers.map((subscriber) => subscriber.stop())));
    await sleep(500);
    const onA = (await httpRequest(`${a!.url}/stats`)).json().connections as number;
    assert.ok(onA >= 1, 'some clients are on the instance that stops');
    const total = 60;
    for (let n = 0; n < total; n++) {
      if (n === 20) assert.equal(await a!.stop(), 0, 'graceful exit');
      await publishThrough(balancer.url, 'failover', `p:${n}`, `failover-${n}`);
      await sleep(10);
    }
    for (const [i, subscriber] of subscribers.entries()) {
      await subscriber.waitFor((events) => events.length >= total, `subscriber ${i}`);
      assert.equal(checkExactlyOnceInOrder(subscriber.events, { p: total }), undefined, `subscriber ${i}`);
      assert.deepEqual(subscriber.controls, [], `subscriber ${i} needed no reset`);
    }
    assert.ok(subscribers.reduce((sum, subscriber) => sum + subscriber.reconnects, 0) >= onA, 'the clients of the stopped instance reconnected');
    await Promise.all(subscribers.map((subscriber) => subscriber.stop()));
  });
});
