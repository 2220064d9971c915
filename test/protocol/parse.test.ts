import { test, describe } from 'node:test';
import assert from 'node:assert/strict';

import { EventStreamParser } from '../../src/protocol/parse.js';
import type { ParsedEvent } from '../../src/protocol/parse.js';
import {
  encodeComment,
  encodeEvent,
  encodeIdOnly,
  encodeRetry,
} from '../../src/protocol/encode.js';
import { mulberry32 } from '../support/prng.js';

// ---------------------------------------------------------------------------
// Harness

type Rec =
  | { kind: 'event'; type: string; data: string; lastEventId: string }
  | { kind: 'retry'; ms: number }
  | { kind: 'comment'; text: string };

interface Outcome {
  records: Rec[];
  /** parser.lastEventId after end() */
  lastEventId: string;
}

function ev(data: string, opts: { type?: string; id?: string } = {}): Rec {
  return { kind: 'event', type: opts.type ?? 'message', data, lastEventId: opts.id ?? '' };
}
function retry(ms: number): Rec {
  return { kind: 'retry', ms };
}
function comment(text: string): Rec {
  return { kind: 'comment', text };
}

function recorder(): { records: Rec[]; parser: EventStreamParser } {
  const records: Rec[] = [];
  const parser = new EventStreamParser({
    onEvent: (e: ParsedEvent) => records.push({ kind: 'event', ...e }),
    onRetry: (ms) => records.push({ kind: 'retry', ms }),
    onComment: (text) => records.push({ kind: 'comment', text }),
  });
  return { records, parser };
}

function run(chunks: Iterable<Uint8Array | string>): Outcome {
  const { records, parser } = recorder();
  for (const chunk of chunks) parser.feed(chunk);
  parser.end();
  return { records, lastEventId: parser.lastEventId };
}

const utf8 = new TextEncoder();

function concatBytes(...parts: (string | number[])[]): Uint8Array {
  const arrays = parts.map((p) => (typeof p === 'string' ? utf8.encode(p) : Uint8Array.from(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

function byteByByte(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(bytes.subarray(i, i + 1));
  return out;
}

/**
 * Cuts before every UTF-8 continuation byte (so every multi-byte character is
 * split, between each of its bytes) and additionally every 5 bytes.
 */
function splitInsideCharacters(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let start = 0;
  for (let i = 1; i < bytes.length; i++) {
    const b = bytes[i] as number;
    if ((b & 0xc0) === 0x80 || i % 5 === 0) {
      out.push(bytes.subarray(start, i));
      start = i;
    }
  }
  out.push(bytes.subarray(start));
  return out;
}

/**
 * Feeds `input` whole, byte by byte, and in chunks that split multi-byte
 * characters (and, for string input, also as one string), asserting that every
 * way gives exactly the expected records and final lastEventId.
 */
function check(input: string | Uint8Array, records: Rec[], lastEventId = ''): void {
  const bytes = typeof input === 'string' ? utf8.encode(input) : input;
  const ways: [string, Iterable<Uint8Array | string>][] = [
    ['whole', [bytes]],
    ['byte by byte', byteByByte(bytes)],
    ['split inside characters', splitInsideCharacters(bytes)],
  ];
  if (typeof input === 'string') ways.push(['as a string', [input]]);
  const expected: Outcome = { records, lastEventId };
  for (const [name, chunks] of ways) {
    assert.deepEqual(run(chunks), expected, `fed ${name}`);
  }
}

// ---------------------------------------------------------------------------
// Spec cases, each fed three (or four) ways

describe('fields', () => {
  test('single event', () => {
    check('data: hello\n\n', [ev('hello')]);
  });

  test('multi-line data joined with LF, empty data lines kept', () => {
    check('data: a\ndata: b\ndata:\ndata: c\n\n', [ev('a\nb\n\nc')]);
  });

  test('field without colon: whole line is the name, value empty', () => {
    check('data\ndata\n\n', [ev('\n')]);
    check('data\n\n', [ev('')]);
    check('event\ndata: x\n\n', [ev('x')]);
    check('id: 7\ndata: a\n\nid\ndata: b\n\n', [ev('a', { id: '7' }), ev('b', { id: '' })], '');
  });

  test('exactly one leading space after the colon is removed', () => {
    check('data:  x\n\n', [ev(' x')]);
    check('data:x\n\n', [ev('x')]);
    check('data:\tx\n\n', [ev('\tx')]);
    check('data: x \n\n', [ev('x ')]);
    check('event:  e\ndata: y\n\n', [ev('y', { type: ' e' })]);
    check('id:  1\ndata: y\n\n', [ev('y', { id: ' 1' })], ' 1');
  });

  test('only the first colon separates name and value', () => {
    check('data: a:b: c\n\n', [ev('a:b: c')]);
    check('data:: x\n\n', [ev(': x')]);
  });

  test('unknown fields and case variants are ignored', () => {
    check('foo: bar\nDATA: x\nData: y\ndata : z\n data: w\nidx: 1\ndata: ok\n\n', [ev('ok')]);
    check('foo: bar\n\n', []);
  });

  test('multi-byte characters in names and values', () => {
    check('event: 💶\ndata: € 😀 ü 中\n\n', [ev('€ 😀 ü 中', { type: '💶' })]);
    check('dätä: x\ndata: y\n\n', [ev('y')]);
  });

  test('NUL in data is kept', () => {
    check('data: a\0b\n\n', [ev('a\0b')]);
  });
});

describe('line endings', () => {
  test('CR', () => {
    check('event: e\rdata: a\rdata: b\r\r', [ev('a\nb', { type: 'e' })]);
  });

  test('CRLF', () => {
    check('data: a\r\ndata: b\r\n\r\n', [ev('a\nb')]);
  });

  test('mixed LF, CR, CRLF', () => {
    check('data: a\r\n\ndata: b\n\r\rdata: c\r\n\r', [ev('a'), ev('b'), ev('c')]);
  });

  test('LF CR is two line ends', () => {
    check('data: a\n\rdata: b\n\n', [ev('a'), ev('b')]);
  });

  test('CR CRLF is two line ends', () => {
    check('data: a\r\r\ndata: b\n\n', [ev('a'), ev('b')]);
  });

  test('CRLF CRLF ends an event', () => {
    check('data: a\r\n\r\ndata: b\r\n\r\n', [ev('a'), ev('b')]);
  });
});

describe('comments', () => {
  test('comment text, one leading space removed', () => {
    check(': hello\n:world\n:  two\n:\ndata: x\n\n', [
      comment('hello'),
      comment('world'),
      comment(' two'),
      comment(''),
      ev('x'),
    ]);
  });

  test('a commented-out field is a comment', () => {
    check(':data: x\n\n', [comment('data: x')]);
  });

  test('comments between data lines do not end the event', () => {
    check('data: a\n: c\ndata: b\n\n', [comment('c'), ev('a\nb')]);
  });

  test('a comment with CR line end', () => {
    check(': ♥\r\r', [comment('♥')]);
  });
});

describe('retry', () => {
  test('ASCII digits only', () => {
    check(
      'retry: 1000\n\nretry: 1a\nretry:\nretry: -1\nretry: 1.5\nretry:  5\nretry: +5\nretry: ５\n' +
        'retry:007\nretry 5\nretry\n\n',
      [retry(1000), retry(7)],
    );
  });

  test('reported when the line is read, before the event is dispatched', () => {
    check('data: x\nretry: 10\n\n', [retry(10), ev('x')]);
  });

  test('values too large for an exact number are ignored', () => {
    check('retry: 99999999999999999999\nretry: 9007199254740991\n\n', [retry(9007199254740991)]);
  });
});

describe('id and last event ID', () => {
  test('id persists across events until set again', () => {
    check(
      'id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\nid:\ndata: d\n\ndata: e\n\nid: 3\ndata: f\n\n',
      [
        ev('a', { id: '1' }),
        ev('b', { id: '1' }),
        ev('c', { id: '2' }),
        ev('d', { id: '' }),
        ev('e', { id: '' }),
        ev('f', { id: '3' }),
      ],
      '3',
    );
  });

  test('id containing NUL is ignored', () => {
    check(
      'id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n',
      [ev('a', { id: '1' }), ev('b', { id: '1' })],
      '1',
    );
    check('id: \0\n\n', [], '');
  });

  test('last id field in a block wins', () => {
    check('id: 1\nid: 2\ndata: a\n\n', [ev('a', { id: '2' })], '2');
  });

  test('a block without data dispatches nothing but still sets the last event ID', () => {
    check('id: 5\n\ndata: a\n\n', [ev('a', { id: '5' })], '5');
    check('id: 6\n\n', [], '6');
  });

  test('a block without data resets the event type', () => {
    check('id: 6\nevent: foo\n\ndata: b\n\n', [ev('b', { id: '6' })], '6');
  });

  test('multi-byte id', () => {
    check('id: €😀\ndata: x\n\n', [ev('x', { id: '€😀' })], '€😀');
  });
});

describe('dispatch', () => {
  test('an empty data field IS dispatched, with empty data', () => {
    check('data: \n\n', [ev('')]);
    check('data:\n\n', [ev('')]);
  });

  test('blank lines alone dispatch nothing', () => {
    check('\n\n\r\n\r\r', []);
    check('event: x\n\n', []);
  });

  test('event type is reset after each dispatch; empty type means message', () => {
    check('event: a\ndata: 1\n\ndata: 2\n\nevent: b\nevent: c\ndata: 3\n\nevent:\ndata: 4\n\n', [
      ev('1', { type: 'a' }),
      ev('2'),
      ev('3', { type: 'c' }),
      ev('4'),
    ]);
  });

  test('only one trailing LF is stripped', () => {
    check('data: a\ndata:\n\n', [ev('a\n')]);
  });
});

describe('end of stream', () => {
  test('a trailing event without blank line is discarded', () => {
    check('data: a\n\ndata: b\n', [ev('a')]);
    check('data: a\n\ndata: b', [ev('a')]);
    check('data: a\n\ndata: b\r', [ev('a')]);
  });

  test('an id in the discarded block does not become the last event ID', () => {
    check('data: a\n\nid: 9\ndata: b\n', [ev('a')], '');
    check('id: 1\ndata: a\n\nid: 9\n', [ev('a', { id: '1' })], '1');
  });
});

describe('byte order mark', () => {
  test('one leading BOM is stripped', () => {
    check('\uFEFFdata: a\n\n', [ev('a')]);
    check('\uFEFF: hi\n', [comment('hi')]);
  });

  test('a second leading BOM is kept (so the field name is not "data")', () => {
    check('\uFEFF\uFEFFdata: a\n\ndata: b\n\n', [ev('b')]);
  });

  test('a BOM later in the stream is kept', () => {
    check('data: a\n\n\uFEFFdata: b\n\n', [ev('a')]);
    check('\uFEFFdata: \uFEFFx\n\n', [ev('\uFEFFx')]);
  });

  test('incomplete BOM bytes are not stripped', () => {
    // EF BB followed by "d": a truncated sequence, one U+FFFD, which starts the field name
    check(concatBytes([0xef, 0xbb], 'data: x\n\ndata: y\n\n'), [ev('y')]);
  });
});

describe('UTF-8 decoding', () => {
  test('invalid bytes become U+FFFD as the WHATWG decoder does', () => {
    const input = concatBytes(
      'data: ',
      [0xff], // never valid: 1 x U+FFFD
      'a',
      [0xe2, 0x82], // truncated 3-byte sequence: 1 x U+FFFD
      'b',
      [0xc0, 0x80], // overlong lead byte, then a lone continuation byte: 2 x U+FFFD
      [0xed, 0xa0, 0x80], // encoded surrogate: 3 x U+FFFD
      [0xf0, 0x9f, 0x98], // truncated 4-byte sequence before LF: 1 x U+FFFD
      '\n\n',
    );
    check(input, [ev('\uFFFDa\uFFFDb\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD')]);
  });

  test('invalid bytes in an id', () => {
    check(concatBytes('id: ', [0x80], '\ndata: x\n\n'), [ev('x', { id: '\uFFFD' })], '\uFFFD');
  });
});

// ---------------------------------------------------------------------------
// Chunk-boundary and API behaviour

describe('chunk boundaries', () => {
  test('CRLF split across chunks is one line end; a lone CR dispatches at once', () => {
    const { records, parser } = recorder();
    parser.feed('data: a\r');
    parser.feed('\n');
    parser.feed('data: b\r');
    parser.feed('\n');
    assert.deepEqual(records, []);
    parser.feed('\r');
    assert.deepEqual(records, [ev('a\nb')]);
    parser.feed('\n');
    parser.feed('data: c\n\n');
    assert.deepEqual(records, [ev('a\nb'), ev('c')]);
  });

  test('CRLF split across byte chunks, with an empty chunk in between', () => {
    const { records, parser } = recorder();
    parser.feed(utf8.encode('data: a\r'));
    parser.feed(new Uint8Array(0));
    parser.feed(utf8.encode('\ndata: b\r'));
    parser.feed(utf8.encode(''));
    parser.feed(utf8.encode('\n\r\n'));
    assert.deepEqual(records, [ev('a\nb')]);
  });

  test('a CR at a chunk end followed by a partial character', () => {
    const { records, parser } = recorder();
    parser.feed(concatBytes('data: a\r', [0xe2])); // CR, then the first byte of '€'
    parser.feed(Uint8Array.from([0x82, 0xac]));
    parser.feed('\n\n');
    // '€' after the CR starts a new line "€" (an unknown field); LF ends it, then a blank line
    assert.deepEqual(records, [ev('a')]);
  });

  test('a BOM split across byte chunks is stripped', () => {
    const { records, parser } = recorder();
    parser.feed(Uint8Array.from([0xef]));
    parser.feed(Uint8Array.from([0xbb]));
    parser.feed(concatBytes([0xbf], 'data'));
    parser.feed(': x\n\n');
    assert.deepEqual(records, [ev('x')]);
  });

  test('a long line in many small chunks', () => {
    const { records, parser } = recorder();
    const piece = 'x€😀'.repeat(10);
    parser.feed('data: ');
    for (let i = 0; i < 5000; i++) parser.feed(piece);
    parser.feed('\n\n');
    assert.equal(records.length, 1);
    const only = records[0] as Rec & { kind: 'event' };
    assert.equal(only.data.length, piece.length * 5000);
    assert.equal(only.data, piece.repeat(5000));
  });

  test('string chunks may split surrogate pairs', () => {
    const { records, parser } = recorder();
    const text = 'data: 😀😀\n\n';
    for (let i = 0; i < text.length; i++) parser.feed(text[i] as string);
    assert.deepEqual(records, [ev('😀😀')]);
  });
});

describe('EventStreamParser API', () => {
  test('lastEventId changes only when a block ends', () => {
    const { parser } = recorder();
    assert.equal(parser.lastEventId, '');
    parser.feed('id: 1\n');
    assert.equal(parser.lastEventId, '');
    parser.feed('\n');
    assert.equal(parser.lastEventId, '1');
    parser.feed('id: 2\ndata: x\n');
    assert.equal(parser.lastEventId, '1');
    parser.feed('\n');
    assert.equal(parser.lastEventId, '2');
  });

  test('end() discards pending state and starts a new stream, keeping lastEventId', () => {
    const { records, parser } = recorder();
    parser.feed('id: 1\ndata: a\n\nid: 2\nevent: t\ndata: b\n');
    parser.end();
    assert.deepEqual(records, [ev('a', { id: '1' })]);
    assert.equal(parser.lastEventId, '1');
    // A new stream: the leading BOM is stripped again; the id of the discarded block is gone
    parser.feed('\uFEFFdata: c\n\n');
    assert.deepEqual(records, [ev('a', { id: '1' }), ev('c', { id: '1' })]);
  });

  test('reset() drops a partial line and partial bytes', () => {
    const { records, parser } = recorder();
    parser.feed('data: a\ndata: b');
    parser.feed(Uint8Array.from([0xe2, 0x82]));
    parser.reset();
    parser.feed('data: c\n\n');
    assert.deepEqual(records, [ev('c')]);
  });

  test('end() flushes incomplete bytes without leaking them into the next stream', () => {
    const { records, parser } = recorder();
    parser.feed(concatBytes('data: a\n\ndata: b', [0xf0, 0x9f]));
    parser.end();
    parser.feed(utf8.encode('data: c\n\n'));
    assert.deepEqual(records, [ev('a'), ev('c')]);
  });

  test('a string after bytes ending mid-character: the lost character becomes U+FFFD', () => {
    const { records, parser } = recorder();
    parser.feed(concatBytes('data: x', [0xe2, 0x82]));
    parser.feed('\n\n');
    assert.deepEqual(records, [ev('x\uFFFD')]);
  });

  test('reset() from inside a callback stops the rest of the chunk', () => {
    const seen: string[] = [];
    const parser: EventStreamParser = new EventStreamParser({
      onEvent(e) {
        seen.push(e.data);
        parser.reset();
      },
    });
    parser.feed('data: a\n\ndata: b\n\n');
    assert.deepEqual(seen, ['a']);
    parser.feed('data: c\n\n');
    assert.deepEqual(seen, ['a', 'c']);
  });

  test('optional callbacks may be left out', () => {
    const seen: ParsedEvent[] = [];
    const parser = new EventStreamParser({ onEvent: (e) => seen.push(e) });
    parser.feed(': c\nretry: 5\ndata: x\n\n');
    assert.deepEqual(seen, [{ type: 'message', data: 'x', lastEventId: '' }]);
  });
});

// ---------------------------------------------------------------------------
// Round trips through the encoder

describe('round trip encode -> parse', () => {
  test('data (CR and CRLF become LF), event and id', () => {
    const stream =
      encodeEvent({ id: '1', event: 'greet', data: 'hello\r\nworld\rand\nmore' }) +
      encodeEvent({ data: '' }) +
      encodeEvent({ data: '\n' }) +
      encodeEvent({ id: '€', data: ' spaced: ' }) +
      encodeIdOnly('9') +
      encodeComment('keep\nalive') +
      encodeRetry(2500) +
      encodeEvent({ event: 'x', data: 'tail\r' });
    check(
      stream,
      [
        ev('hello\nworld\nand\nmore', { type: 'greet', id: '1' }),
        ev('', { id: '1' }),
        ev('\n', { id: '1' }),
        ev(' spaced: ', { id: '€' }),
        comment('keep'),
        comment('alive'),
        retry(2500),
        ev('tail\n', { type: 'x', id: '9' }),
      ],
      '9',
    );
  });

  const TOKENS = [
    'a', 'b', 'Z', '0', ' ', '  ', ':', ': ', '\t', '\r', '\n', '\r\n', '\n\r',
    '€', '😀', 'é', '中', '\uFEFF', '\0', 'data: ', 'id: ', 'event:', 'retry: 5', '\\',
  ];
  const SAFE_TOKENS = TOKENS.filter((t) => !/[\r\n\0]/.test(t));

  test('300 random streams in random chunkings', () => {
    const rand = mulberry32(0x5eed);
    const int = (n: number) => Math.floor(rand() * n);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
    const randText = (tokens: readonly string[], max: number) => {
      let s = '';
      for (let i = int(max + 1); i > 0; i--) s += pick(tokens);
      return s;
    };

    for (let iteration = 0; iteration < 300; iteration++) {
      let stream = '';
      const expected: Rec[] = [];
      let lastId = '';
      for (let items = 1 + int(5); items > 0; items--) {
        const r = rand();
        if (r < 0.7) {
          const data = randText(TOKENS, 8);
          const id = rand() < 0.5 ? randText(SAFE_TOKENS, 3) : undefined;
          const event = rand() < 0.5 ? 'e' + randText(SAFE_TOKENS, 3) : undefined;
          stream += encodeEvent({ data, id, event });
          if (id !== undefined) lastId = id;
          expected.push({
            kind: 'event',
            type: event ?? 'message',
            data: data.replace(/\r\n|\r|\n/g, '\n'),
            lastEventId: lastId,
          });
        } else if (r < 0.8) {
          const text = randText(TOKENS, 5);
          stream += encodeComment(text);
          for (const line of text.split(/\r\n|\r|\n/)) expected.push(comment(line));
        } else if (r < 0.9) {
          const ms = int(100000);
          stream += encodeRetry(ms);
          expected.push(retry(ms));
        } else {
          const id = randText(SAFE_TOKENS, 3);
          stream += encodeIdOnly(id);
          lastId = id;
        }
      }
      const want: Outcome = { records: expected, lastEventId: lastId };

      // random byte chunking
      const bytes = utf8.encode(stream);
      const byteChunks: Uint8Array[] = [];
      for (let at = 0; at < bytes.length; ) {
        const size = int(8); // zero-length chunks included
        byteChunks.push(bytes.subarray(at, at + size));
        at += size;
      }
      assert.deepEqual(run(byteChunks), want, `bytes, iteration ${iteration}: ${JSON.stringify(stream)}`);

      // random string chunking (may split surrogate pairs and CRLF)
      const stringChunks: string[] = [];
      for (let at = 0; at < stream.length; ) {
        const size = int(6);
        stringChunks.push(stream.slice(at, at + size));
        at += size;
      }
      assert.deepEqual(run(stringChunks), want, `string, iteration ${iteration}`);
    }
  });
});

describe('EventStreamParser resuming from a known id', () => {
  test('a starting lastEventId is kept by blocks without an id field, replaced by one with it', () => {
    const seen: string[] = [];
    const parser = new EventStreamParser({ onEvent: (event) => seen.push(event.lastEventId) }, { lastEventId: 'start-7' });
    assert.equal(parser.lastEventId, 'start-7');
    parser.feed('event: ssehub.reset\ndata: {}\n\nid: next-1\ndata: x\n\n');
    assert.deepEqual(seen, ['start-7', 'next-1']);
    parser.reset();
    assert.equal(parser.lastEventId, 'next-1');
  });

  test('an id containing NUL is not taken as a starting point (as the id field rule)', () => {
    const parser = new EventStreamParser({ onEvent: () => {} }, { lastEventId: 'a\0b' });
    assert.equal(parser.lastEventId, '');
  });
});
