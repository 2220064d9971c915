/**
 * The clock publishers stamp into events and subscribers read on receipt: CLOCK_MONOTONIC in
 * microseconds. It is one clock for every process on the machine, so a publisher in one process and
 * a subscriber in another measure latency without any clock synchronisation.
 */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
