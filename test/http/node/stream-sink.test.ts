/**
 * HTTP/1.1 streams taken over from node:http (src/http/node/stream-sink.ts): what node:http used to
 * guarantee for a connection must still hold once the hub owns the socket.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { startTestHub } from '../../support/hub.js';

function rawStream(port: number, request: string, { allowHalfOpen = false } = {}): Promise<{ socket: Socket; head: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen });
    let text = '';
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) resolve({ socket, head: () => text, closed });
    });
    socket.on('error', () => {});
    socket.once('connect', () => socket.write(request));
    socket.once('close', () => reject(new Error(`closed before a head: ${JSON.stringify(text)}`)));
  });
}

const until = async (check: () => boolean, what: string, ms = 5000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe('HTTP/1.1 streams owned by the hub', () => {
  it('answer with a close-delimited body (Connection: close, no chunked framing) and the CORS headers', async () => {
    const hub = await startTestHub({ corsOrigins: ['https://app.example'] });
    try {
      const { socket, head } = await rawStream(hub.port, 'GET /topics/a HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n\r\n');
      await until(() => head().includes('retry:'), 'the preamble');
      await hub.hub.publish([{ topic: 'a', data: 'hello' }]);
      await until(() => head().includes('data: hello\n\n'), 'the event');
      const [status, ...headers] = head().slice(0, head().indexOf('\r\n\r\n')).split('\r\n');
      assert.equal(status, 'HTTP/1.1 200 OK');
      assert.ok(headers.includes('Connection: close'), headers.join(' | '));
      assert.ok(headers.some((line) => /^Date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(line)), headers.join(' | '));
      assert.ok(headers.some((line) => /^access-control-allow-origin: https:\/\/app\.example$/i.test(line)), headers.join(' | '));
      assert.ok(!headers.some((line) => /^transfer-encoding:/i.test(line)));
      // The bytes after the head are the event stream itself: no chunk-size lines.
      assert.match(head().slice(head().indexOf('\r\n\r\n') + 4), /^: ok\n: heartbeat=\d+\n\nretry: \d+\n\n/);
      socket.destroy();
    } finally {
      await hub.close();
    }
  });

  it('a request pipelined behind a stream keeps node:http in charge; closing frees every slot', async () => {
    const hub = await startTestHub({ maxStreamsPerIp: 1 });
    try {
      const body = 'pipelined';
      const { socket, closed } = await rawStream(
        hub.port,
        'GET /topics/a HTTP/1.1\r\nHost: x\r\n\r\n' +
          `POST /topics/b HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      await until(() => hub.hub.stats().connections === 1, 'the stream');
      socket.destroy();
      await closed;
      await until(() => hub.hub.stats().connections === 0, 'the stream to be gone');
      // The per-IP slot (limit 1) came back: a new stream opens.
      const next = await rawStream(hub.port, 'GET /topics/a HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.match(next.head(), /^HTTP\/1\.1 200 OK/);
      next.socket.destroy();
    } finally {
      await hub.close();
    }
  });

  it('a client that half-closes its side has gone: the hub ends the stream and closes the connection', async () => {
    const hub = await startTestHub();
    try {
      const { socket, closed } = await rawStream(hub.port, 'GET /topics/a HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => hub.hub.stats().connections === 1, 'the stream');
      const ended = new Promise<void>((done) => socket.once('end', () => done()));
      socket.end();
      // The client keeps reading: its socket sees the hub's end, then closes (it allows no half-open connection).
      await ended;
      await closed;
      await until(() => hub.hub.stats().connections === 0, 'the stream to be gone');
    } finally {
      await hub.close();
    }
  });

  it('a stream the hub ends is closed even while its client keeps its own side open', async () => {
    const hub = await startTestHub();
    try {
      const { socket, closed } = await rawStream(hub.port, 'GET /topics/a HTTP/1.1\r\nHost: x\r\n\r\n', { allowHalfOpen: true });
      await until(() => hub.hub.stats().connections === 1, 'the stream');
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      const ended = new Promise<void>((done) => socket.once('end', () => done()));
      assert.equal(hub.hub.endStreams({ topic: 'a' }, { event: 'ssehub.revoked', data: 'bye' }), 1);
      await ended;
      assert.match(text, /event: ssehub\.revoked\ndata: bye\n\n/, 'the last frame left before the end');
      let isClosed = false;
      void closed.then(() => (isClosed = true));
      // A connection the hub still held would take these bytes; one it destroyed answers with a reset.
      const probe = setInterval(() => socket.write('x'), 50);
      try {
        await until(() => isClosed, 'the hub to close the connection');
      } finally {
        clearInterval(probe);
      }
    } finally {
      await hub.close();
    }
  });

  it('shutdown cuts a stream whose client stopped reading, once the shutdown timeout passes', async () => {
    const hub = await startTestHub({ shutdownTimeoutMs: 300, maxBufferBytes: 64 * 1024 * 1024 });
    const { socket, closed } = await rawStream(hub.port, 'GET /topics/a HTTP/1.1\r\nHost: x\r\n\r\n');
    socket.pause(); // reads nothing more: the hub's end of the stream can never finish
    let isClosed = false;
    void closed.then(() => (isClosed = true));
    // Enough to fill both kernels' buffers, so that the hub still holds bytes when it ends.
    for (let i = 0; i < 40; i++) await hub.hub.publish([{ topic: 'a', data: 'x'.repeat(512 * 1024) }]);
    await until(() => hub.hub.stats().connections === 1, 'the stream to stay open');
    await hub.close();
    // The client reads nothing, so it learns of the cut when it writes: a reset answers a write to
    // a connection the server destroyed, while one the server still held would take the bytes.
    const probe = setInterval(() => socket.write('x'), 50);
    try {
      await until(() => isClosed, 'the server to cut the connection', 3000);
    } finally {
      clearInterval(probe);
    }
  });
});
