/**
 * Counting deliveries by event: each subscriber connection remembers which sequence numbers it has
 * received (one bit each), so a duplicate is told apart from a new event. A run delivered each
 * event exactly once only if the distinct deliveries are all that was expected and none was
 * repeated: comparing totals alone would let one lost event and one duplicate cancel out.
 */
import { LatencyHistogram } from './histogram.js';
import type { ScanSink } from './stream-scanner.js';

/** The deliveries of one load process, over all its connections, since the last reset. */
export class DeliveryTally {
  /** Every benchmark event received, duplicates included. */
  events = 0;
  /** Events a connection received again after it already had them. */
  duplicates = 0;
  histogram = new LatencyHistogram();

  /** The sink for one connection's scanner: it counts into this tally, remembering that connection's sequence numbers. */
  forConnection(): ScanSink {
    let seen = new Uint8Array(128);
    return {
      event: (latencyMicros, sequence) => {
        this.events += 1;
        this.histogram.record(latencyMicros);
        const byte = sequence >>> 3;
        if (byte >= seen.length) {
          const grown = new Uint8Array(Math.max(seen.length * 2, byte + 1));
          grown.set(seen);
          seen = grown;
        }
        const bit = 1 << (sequence & 7);
        if (seen[byte]! & bit) this.duplicates += 1;
        else seen[byte] = seen[byte]! | bit;
      },
    };
  }

  reset(): void {
    this.events = 0;
    this.duplicates = 0;
    this.histogram = new LatencyHistogram();
  }
}

/** What keeps a run from having delivered each expected event exactly once (nothing: it did). */
export function exactlyOnceFaults(run: { expected: number; received: number; duplicates: number }): string[] {
  const faults: string[] = [];
  const distinct = run.received - run.duplicates;
  if (distinct < run.expected) faults.push(`${run.expected - distinct} of ${run.expected} expected deliveries missing`);
  if (distinct > run.expected) faults.push(`${distinct - run.expected} deliveries more than the ${run.expected} expected`);
  if (run.duplicates > 0) faults.push(`${run.duplicates} deliveries of an event the subscriber already had`);
  return faults;
}
