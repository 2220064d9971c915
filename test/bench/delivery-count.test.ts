import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeliveryTally, exactlyOnceFaults } from '../../bench/load/delivery-count.js';
import { StreamScanner } from '../../bench/load/stream-scanner.js';

const HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n';
const events = (sequences: number[]): string => sequences.map((n) => `data: {"t":999000,"n":${n},"p":"x"}\n\n`).join('');

/** One load process's tally after each connection received the given sequence numbers. */
function tallyOf(connections: number[][]): DeliveryTally {
  const tally = new DeliveryTally();
  for (const sequences of connections) new StreamScanner(tally.forConnection()).push(Buffer.from(HEAD + events(sequences)), 1_000_000);
  return tally;
}

describe('bench delivery count', () => {
  it('a run where each subscriber got each event once has no fault', () => {
    const tally = tallyOf([[0, 1, 2], [2, 0, 1]]);
    assert.deepEqual(exactlyOnceFaults({ expected: 6, received: tally.events, duplicates: tally.duplicates }), []);
  });

  it('one lost event and one duplicate do not cancel out, though the totals match', () => {
    // The second subscriber lost event 2 and got event 1 twice: six deliveries, as expected.
    const tally = tallyOf([[0, 1, 2], [0, 1, 1]]);
    assert.equal(tally.events, 6);
    assert.equal(tally.duplicates, 1);
    assert.deepEqual(exactlyOnceFaults({ expected: 6, received: tally.events, duplicates: tally.duplicates }), [
      '1 of 6 expected deliveries missing',
      '1 deliveries of an event the subscriber already had',
    ]);
  });

  it('the same event on two connections is no duplicate; far sequence numbers are remembered too', () => {
    const tally = tallyOf([[5], [5], [100_000, 3, 100_000]]);
    assert.equal(tally.events, 5);
    assert.equal(tally.duplicates, 1);
  });

  it('a reset starts the counts again', () => {
    const tally = tallyOf([[0, 0]]);
    tally.reset();
    assert.deepEqual([tally.events, tally.duplicates, tally.histogram.count], [0, 0, 0]);
  });
});
