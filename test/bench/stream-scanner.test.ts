import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamScanner } from '../../bench/load/stream-scanner.js';

/** Feeds `bytes` to a scanner cut at the given offsets; returns the latencies it reported. */
function scan(bytes: Buffer, cuts: number[], now = 1_000_000): { latencies: number[]; sequences: number[]; scanner: StreamScanner } {
  const latencies: number[] = [];
  const sequences: number[] = [];
  const scanner = new StreamScanner({
    event: (latency, sequence) => {
      latencies.push(latency);
      sequences.push(sequence);
    },
  });
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    scanner.push(bytes.subarray(at, cut), now);
    at = cut;
  }
  return { latencies, sequences, scanner };
}

const HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n';
let nextSequence = 0;
const event = (stamp: number, space = true, sequence = nextSequence++): string => `id: 7\ndata:${space ? ' ' : ''}{"t":${stamp},"n":${sequence},"p":"xxxx"}\n\n`;
const chunk = (body: string): string => `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n`;

describe('bench stream scanner', () => {
  it('reads the status, then every event and its latency, in chunked and close-delimited bodies', () => {
    const body = Buffer.from(HEAD + chunk(': ok\n\n') + chunk(event(999_000) + event(999_500, false)) + chunk(event(999_900)));
    const { latencies, scanner } = scan(body, []);
    assert.equal(scanner.status, 200);
    assert.deepEqual(latencies, [1000, 500, 100]);
    const plain = Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n' + event(999_990));
    assert.deepEqual(scan(plain, []).latencies, [10]);
  });

  it('finds the same events and sequence numbers wherever the reads are cut, byte by byte', () => {
    const body = Buffer.from(HEAD + chunk(event(999_000, true, 7)) + chunk(': heartbeat\n\n') + chunk(event(999_123, true, 1234) + event(999_456, true, 9)));
    const expected = { latencies: [1000, 877, 544], sequences: [7, 1234, 9] };
    const found = (cuts: number[]) => {
      const { latencies, sequences } = scan(body, cuts);
      return { latencies, sequences };
    };
    for (let cut = 1; cut < body.length; cut++) assert.deepEqual(found([cut]), expected, `cut at ${cut}`);
    // Three reads, cut at every pair of places within the second event's numbers.
    const start = body.indexOf('{"t":999123');
    for (let a = start - 3; a < start + 24; a++) for (let b = a + 1; b < start + 26; b++) assert.deepEqual(found([a, b]), expected, `cuts at ${a}, ${b}`);
  });

  it('refuses an event without a sequence number rather than counting it as some event', () => {
    const body = Buffer.from(HEAD + chunk('data: {"t":999000,"p":"x"}\n\n'));
    assert.throws(() => scan(body, []), /without its sequence number/);
  });

  it('reports a refused stream by its status and counts nothing', () => {
    const { latencies, scanner } = scan(Buffer.from('HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\n\r\n{}'), [10]);
    assert.equal(scanner.status, 429);
    assert.deepEqual(latencies, []);
  });

  it('gives up on endless headers instead of buffering without bound', () => {
    const scanner = new StreamScanner({ event: () => {} });
    assert.throws(() => {
      for (let i = 0; i < 100; i++) scanner.push(Buffer.from(`X-Filler-${i}: ${'y'.repeat(400)}\r\n`));
    }, /headers too long/);
  });
});
