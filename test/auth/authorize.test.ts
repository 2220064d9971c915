/**
 * The app's own authorize() (src/auth/authorize.ts), through createHub's doors over a real server:
 * what a grant allows on resume, its expiry, its admin flag, and the app's failures (a throw, a
 * malformed grant), which refuse with 500 authorize_failed and are logged. How each framework
 * mounts the hub is tested with its example; these are the rules every door shares.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import type { Grant } from '../../src/auth/grant.js';
import { createHub, type EmbeddedHub } from '../../src/create-hub.js';
import { EventStreamParser, type ParsedEvent } from '../../src/protocol/index.js';
import { httpRequest, openStream, type Reply } from '../support/http.js';

/** The app's sessions, by the `x-session` header its own middleware would have checked. */
const SESSIONS: Record<string, () => Grant> = {
  reader: () => ({ subject: 'reader', subscribe: ['replay/mine', 'orders/*'] }),
  writer: () => ({ subject: 'writer', publish: ['**'] }),
  expiring: () => ({ subject: 'expiring', subscribe: ['orders/*'], expiresAt: Date.now() + 1500 }),
  operator: () => ({ subject: 'operator', admin: true }),
  // A bug in the app: no subject.
  'no-subject': () => ({ subscribe: ['orders/*'], publish: ['orders/*'] }) as unknown as Grant,
  throws: () => {
    throw new Error('session store unreachable');
  },
};

function sessionOf(request: IncomingMessage | Request): string | undefined {
  const value = request instanceof Request ? request.headers.get('x-session') : request.headers['x-session'];
  return typeof value === 'string' ? value : undefined;
}

const as = (name: string) => ({ 'x-session': name });
const codeOf = (reply: Reply): string => (reply.status < 300 ? '' : reply.json().error.code);

/** Log lines as pino wrote them, parsed. */
class LogLines {
  readonly lines: Array<Record<string, any>> = [];
  readonly stream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') this.lines.push(JSON.parse(line));
      done();
    },
  });
  failures(): Array<Record<string, any>> {
    return this.lines.filter((line) => line.msg === 'authorize() failed');
  }
}

/** An event stream as hub.fetch answers it: its body read to the end and parsed. */
async function eventsOf(response: Response): Promise<ParsedEvent[]> {
  const events: ParsedEvent[] = [];
  const parser = new EventStreamParser({ onEvent: (event) => event.type !== 'ssehub.position' && events.push(event) });
  const reader = response.body!.getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) parser.feed(read.value);
  return events;
}

describe("the app's authorize() through createHub", () => {
  const logs = new LogLines();
  let hub: EmbeddedHub;
  let server: Server;
  let url = '';
  let asked = 0;

  before(async () => {
    hub = await createHub({
      statsIntervalMs: 0,
      logger: pino({ level: 'info' }, logs.stream),
      authorize: (request: IncomingMessage | Request) => {
        asked += 1;
        const name = sessionOf(request);
        return name === undefined ? null : (SESSIONS[name]?.() ?? null);
      },
    });
    server = createServer((req, res) => hub.handle(req, res, () => res.writeHead(404).end('the app')));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await hub.close();
    server.closeAllConnections();
    server.close();
  });
  beforeEach(() => {
    logs.lines.length = 0;
  });

  test('replay honours the grant: a resume replays only the granted topics', async () => {
    const first = (await hub.publish('replay/mine', '0')).id;
    await hub.publish('replay/secret', 'secret');
    await hub.publish('replay/mine', '1');
    const stream = await openStream(`${url}/topics/replay/mine`, { ...as('reader'), 'Last-Event-ID': first });
    await stream.waitForEvents(1);
    await hub.publish('replay/secret', 'secret, live');
    await hub.publish('replay/mine', 'sentinel');
    await stream.waitForEvents(2);
    assert.deepEqual(stream.events.map((event) => event.data), ['1', 'sentinel']);
    stream.close();
    for (const path of ['/topics/replay/*', '/events?topic=replay/mine&topic=replay/secret', '/topics/**']) {
      const reply = await httpRequest(`${url}${path}`, { headers: { ...as('reader'), 'Last-Event-ID': first } });
      assert.deepEqual([reply.status, codeOf(reply)], [403, 'forbidden'], path);
    }
  });

  test("the grant's expiresAt ends the stream with ssehub.expired (hub.handle)", async () => {
    const stream = await openStream(`${url}/topics/orders/expiring`, as('expiring'));
    await stream.waitUntil(() => stream.events.some((event) => event.type === 'ssehub.expired'), 5000, 'ssehub.expired');
    await stream.ended;
    assert.equal(stream.events.at(-1)?.type, 'ssehub.expired');
  });

  test("the grant's expiresAt ends the stream with ssehub.expired (hub.fetch)", { timeout: 5000 }, async () => {
    const response = await hub.fetch(new Request('http://hub.test/topics/orders/expiring', { headers: as('expiring') }));
    assert.equal(response.status, 200);
    const events = await eventsOf(response);
    assert.equal(events.at(-1)?.type, 'ssehub.expired');
  });

  test('a grant with admin: true reads /stats through hub.handle; others may not', async () => {
    const stats = await httpRequest(`${url}/stats`, { headers: as('operator') });
    assert.equal(stats.status, 200, stats.text);
    assert.equal(typeof stats.json().connections, 'number');
    const reader = await httpRequest(`${url}/stats`, { headers: as('reader') });
    assert.deepEqual([reader.status, codeOf(reader)], [403, 'forbidden']);
    const anonymous = await httpRequest(`${url}/stats`);
    assert.deepEqual([anonymous.status, codeOf(anonymous)], [401, 'token_required']);
  });

  for (const [name, what, logged] of [
    ['no-subject', 'returns a grant without a subject', /subject/],
    ['throws', 'throws', /session store unreachable/],
  ] as const) {
    test(`authorize() that ${what}: 500 authorize_failed, logged, and nothing opened or published`, async (t) => {
      const stream = await openStream(`${url}/topics/orders/failing`, as('reader'));
      t.after(() => stream.close());
      const openBefore = hub.hub.stats().connections;
      const refusals: Array<[string, Reply | Response]> = [
        ['stream', await httpRequest(`${url}/topics/orders/failing`, { headers: { Accept: 'text/event-stream', ...as(name) } })],
        ['publish', await httpRequest(`${url}/topics/orders/failing`, { method: 'POST', headers: { 'Content-Type': 'text/plain', ...as(name) }, body: 'x' })],
        ['ticket', await httpRequest(`${url}/tickets`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...as(name) }, body: '{"topics":["orders/failing"]}' })],
        ['fetch stream', await hub.fetch(new Request('http://hub.test/topics/orders/failing', { headers: as(name) }))],
        ['fetch publish', await hub.fetch(new Request('http://hub.test/topics/orders/failing', { method: 'POST', headers: { 'Content-Type': 'text/plain', ...as(name) }, body: 'x' }))],
      ];
      for (const [door, reply] of refusals) {
        const body = reply instanceof Response ? await reply.json() : reply.json();
        assert.deepEqual([reply.status, body.error.code], [500, 'authorize_failed'], door);
      }
      const failures = logs.failures();
      assert.equal(failures.length, refusals.length, 'each failure is logged once');
      for (const failure of failures) {
        assert.equal(failure.level, 50, 'at error level');
        assert.match(failure.err.message, logged);
      }
      assert.equal(hub.hub.stats().connections, openBefore, 'no stream was opened');
      await hub.publish('orders/failing', 'sentinel');
      const events = await stream.waitForEvents(1);
      assert.deepEqual(events.map((event) => event.data), ['sentinel'], 'nothing was published');
    });
  }
});
