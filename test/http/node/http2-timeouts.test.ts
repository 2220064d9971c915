/**
 * The slow-client guards on HTTP/2, over TLS and cleartext h2c, each against a raw HTTP/2 client
 * doing what an attacker would: a header block left unfinished, uploads trickled, a connection
 * left idle; and what they must leave alone: a connection whose event stream is open, however
 * quiet. Also the deadline of the TLS handshake.
 *
 * The hub runs with small timeouts, and nothing measures speed: a client the hub should cut waits
 * for its connection's 'close', and gives up (failing the test) after CUT_BOUND_MS.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { constants as h2 } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeCertificate } from '../../../src/cli/cert.js';
import { loadConfig, type HubConfig } from '../../../src/config.js';
import type { RunningHub } from '../../../src/start.js';
import { connectH2, H2_FRAME, h2Frame, h2GetFrame, h2HeadersFrame, h2Publish, h2Request, openH2Stream, rawH2, type H2Frame, type RawH2Connection } from '../../support/h2.js';
import { startTestHub } from '../../support/hub.js';

const HEADERS_TIMEOUT_MS = 400;
const REQUEST_TIMEOUT_MS = 800;
const IDLE_TIMEOUT_MS = 600;
const HANDSHAKE_TIMEOUT_MS = 400;
/** A connection the hub should cut must be gone within this. */
const CUT_BOUND_MS = 10_000;

let certDir: string;
let tls: Pick<HubConfig, 'tlsCertFile' | 'tlsKeyFile'>;
let ca: Buffer;

before(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'ssehub-h2-timeouts-'));
  const made = await makeCertificate({ dir: certDir });
  tls = { tlsCertFile: made.certFile, tlsKeyFile: made.keyFile };
  ca = readFileSync(made.certFile);
});
after(() => rmSync(certDir, { recursive: true, force: true }));

const TIMEOUTS: Partial<HubConfig> = {
  headersTimeoutMs: HEADERS_TIMEOUT_MS,
  requestTimeoutMs: REQUEST_TIMEOUT_MS,
  h2IdleTimeoutMs: IDLE_TIMEOUT_MS,
  tlsHandshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
  // No comment on quiet streams: nothing but the guards' own judgement keeps a quiet connection open.
  heartbeatMs: 0,
};

/** Waits for the hub to close the connection; fails if the client has to cut it after CUT_BOUND_MS. */
async function closedByHub(connection: RawH2Connection, what: string): Promise<void> {
  const timer = setTimeout(() => connection.destroy(), CUT_BOUND_MS);
  const by = await connection.closed;
  clearTimeout(timer);
  assert.equal(by, 'server', `${what}: still open after ${CUT_BOUND_MS} ms`);
}

const isFrame = (type: number, streamId: number) => (frame: H2Frame) => frame.type === type && frame.streamId === streamId;

for (const transport of ['TLS', 'h2c'] as const) {
  describe(`slow clients over HTTP/2 (${transport})`, { concurrency: true }, () => {
    let running: RunningHub;
    let port: number;
    const connect = (): Promise<RawH2Connection> => rawH2(port, transport === 'TLS' ? { ca } : {});
    before(async () => {
      running = await startTestHub({ ...TIMEOUTS, ...(transport === 'TLS' ? tls : { h2c: true }) });
      port = running.port;
    });
    after(() => running?.close());

    test('a header block left unfinished on a new connection: the connection is closed', async () => {
      const connection = await connect();
      // HEADERS without END_HEADERS, and no CONTINUATION ever: nghttp2 holds the block, the hub sees no stream.
      connection.write(h2HeadersFrame(1, { path: '/healthz', endHeaders: false }));
      await closedByHub(connection, 'an unfinished header block');
      assert.equal(connection.frames().filter(isFrame(H2_FRAME.HEADERS, 1)).length, 0, 'the request was answered');
    });

    test('a header block left unfinished beside an open event stream: the connection is closed', async () => {
      const connection = await connect();
      connection.write(h2GetFrame(1, '/topics/h2-timeouts/beside'));
      await connection.waitForFrame(isFrame(H2_FRAME.HEADERS, 1), 'the event stream to open');
      // The stream keeps the connection from being idle; the unfinished block must still not stay.
      connection.write(h2HeadersFrame(3, { path: '/healthz', endHeaders: false }));
      await closedByHub(connection, 'an unfinished header block beside an event stream');
    });

    test('an upload trickled past the request timeout: 408 request_timeout, the stream reset, the connection kept', async () => {
      const session = await connectH2(running.url, transport === 'TLS' ? { ca } : {});
      try {
        const upload = session.request({ ':method': 'POST', ':path': '/topics/h2-timeouts/trickle', 'content-type': 'text/plain' });
        upload.on('error', () => {});
        const trickle = setInterval(() => upload.write('x'), 100);
        const closed = new Promise<void>((resolve) => upload.once('close', () => resolve()));
        let status: number | undefined;
        // Once answered, the client stops sending (node's client would fail a write after the reset).
        upload.once('response', (headers) => {
          status = Number(headers[':status']);
          clearInterval(trickle);
        });
        let body = '';
        upload.on('data', (chunk: Buffer) => (body += chunk.toString()));
        const giveUp = setTimeout(() => upload.destroy(), CUT_BOUND_MS);
        await closed;
        clearInterval(trickle);
        clearTimeout(giveUp);
        assert.equal(status, 408);
        assert.equal(JSON.parse(body).error.code, 'request_timeout');
        assert.equal(upload.rstCode, h2.NGHTTP2_NO_ERROR, 'the hub told the client to stop sending');
        assert.equal(session.closed || session.destroyed, false);
        assert.equal((await h2Request(session, '/healthz')).status, 200, 'the connection still serves');
      } finally {
        session.destroy();
      }
    });

    test('uploads trickled on one connection (raw frames): each stream is answered and reset, the connection stays open', async () => {
      const connection = await connect();
      const ids = Array.from({ length: 10 }, (_, n) => 1 + 2 * n);
      for (const id of ids) {
        connection.write(h2HeadersFrame(id, { method: 'POST', path: `/topics/h2-timeouts/raw/${id}`, headers: { 'content-type': 'text/plain' }, endStream: false }));
      }
      const reset = new Set<number>();
      // One byte on every stream not yet reset, every 100 ms: each stream stays busy, none completes.
      const trickle = setInterval(() => {
        for (const frame of connection.frames()) if (frame.type === H2_FRAME.RST_STREAM) reset.add(frame.streamId);
        connection.write(...ids.filter((id) => !reset.has(id)).map((id) => h2Frame(H2_FRAME.DATA, 0, id, Buffer.from('x'))));
      }, 100);
      try {
        for (const id of ids) await connection.waitForFrame(isFrame(H2_FRAME.RST_STREAM, id), `stream ${id} to be reset`, CUT_BOUND_MS);
      } finally {
        clearInterval(trickle);
      }
      const frames = connection.frames();
      for (const id of ids) {
        const answer = frames.findIndex(isFrame(H2_FRAME.HEADERS, id));
        const rst = frames.findIndex(isFrame(H2_FRAME.RST_STREAM, id));
        assert.ok(answer !== -1 && answer < rst, `stream ${id} was reset without its 408`);
        assert.equal(frames[rst]!.payload.readUInt32BE(0), h2.NGHTTP2_NO_ERROR);
      }
      assert.equal(frames.filter((frame) => frame.type === H2_FRAME.GOAWAY).length, 0, 'the connection was told to go away');
      connection.write(h2GetFrame(101, '/healthz'));
      await connection.waitForFrame(isFrame(H2_FRAME.HEADERS, 101), 'an answer on the same connection');
      connection.destroy();
    });

    test('a connection that sends nothing after its SETTINGS is closed', async () => {
      const connection = await connect();
      await closedByHub(connection, 'a connection without a request');
    });

    test('a connection idle after its requests gets GOAWAY, then is closed', async () => {
      const connection = await connect();
      connection.write(h2GetFrame(1, '/healthz'));
      await connection.waitForFrame(isFrame(H2_FRAME.HEADERS, 1), 'the answer');
      await closedByHub(connection, 'an idle connection');
      const goaway = connection.frames().find((frame) => frame.type === H2_FRAME.GOAWAY);
      assert.ok(goaway, 'closed without GOAWAY');
      assert.equal(goaway.payload.readUInt32BE(0) & 0x7fffffff, 1, 'GOAWAY names the last stream taken');
      assert.equal(goaway.payload.readUInt32BE(4), h2.NGHTTP2_NO_ERROR);
    });

    test('a connection with an open event stream is never idle, however quiet', async () => {
      const session = await connectH2(running.url, transport === 'TLS' ? { ca } : {});
      try {
        let sessionClosed = false;
        session.once('close', () => (sessionClosed = true));
        const stream = await openH2Stream(session, '/topics/h2-timeouts/quiet');
        let streamClosed = false;
        void stream.closed.then(() => (streamClosed = true));
        // A control connection, idle from after this point: once the hub has closed it, the idle
        // timeout has passed for the stream's connection too, and the guards have looked at it.
        const control = await connect();
        control.write(h2GetFrame(1, '/healthz'));
        await control.waitForFrame(isFrame(H2_FRAME.HEADERS, 1), 'the control answer');
        await closedByHub(control, 'the idle control connection');
        assert.equal(streamClosed, false, 'the quiet stream was closed');
        assert.equal(sessionClosed, false, 'the connection of the quiet stream was closed');
        assert.equal(stream.events.length, 0);
        assert.equal((await h2Publish(session, 'h2-timeouts/quiet', 'still here')).status, 201);
        assert.equal((await stream.waitForEvents(1))[0]!.data, 'still here');
        stream.close();
      } finally {
        session.destroy();
      }
    });
  });
}

describe('the TLS handshake', () => {
  test('a connection that never sends its ClientHello is closed after --tls-handshake-timeout', async () => {
    const running = await startTestHub({ ...tls, tlsHandshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS });
    try {
      const socket = netConnect(running.port, '127.0.0.1');
      socket.on('error', () => {});
      let cutByClient = false;
      const timer = setTimeout(() => {
        cutByClient = true;
        socket.destroy();
      }, CUT_BOUND_MS);
      await new Promise((resolve) => socket.once('close', resolve));
      clearTimeout(timer);
      assert.equal(cutByClient, false, `still open after ${CUT_BOUND_MS} ms`);
    } finally {
      await running.close();
    }
  });

  test('the flags: defaults, environment, and a handshake timeout of 0 refused', () => {
    const defaults = loadConfig([], {});
    assert.equal(defaults.h2IdleTimeoutMs, 30_000);
    assert.equal(defaults.tlsHandshakeTimeoutMs, 10_000);
    const set = loadConfig(['--h2-idle-timeout', '0', '--tls-handshake-timeout', '2s'], {});
    assert.deepEqual([set.h2IdleTimeoutMs, set.tlsHandshakeTimeoutMs], [0, 2000]);
    const fromEnv = loadConfig([], { SSEHUB_H2_IDLE_TIMEOUT: '1m', SSEHUB_TLS_HANDSHAKE_TIMEOUT: '5s' });
    assert.deepEqual([fromEnv.h2IdleTimeoutMs, fromEnv.tlsHandshakeTimeoutMs], [60_000, 5000]);
    assert.throws(
      () => loadConfig(['--tls-handshake-timeout', '0'], {}),
      (error: any) => error.code === 'invalid_config' && error.message.includes('--tls-handshake-timeout'),
    );
  });
});
