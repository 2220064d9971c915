import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LatencyHistogram } from '../../bench/load/histogram.js';
import { mulberry32 } from '../support/prng.js';

function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

describe('bench latency histogram', () => {
  it('answers p50 and p99 within its 2% bucket width of the exact values', () => {
    const random = mulberry32(7);
    const values = Array.from({ length: 20_000 }, () => Math.exp(random() * 12)); // 1 µs to about 160 ms
    const histogram = new LatencyHistogram();
    for (const value of values) histogram.record(value);
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of [0.5, 0.9, 0.99]) {
      const exact = exactQuantile(sorted, q);
      const approximate = histogram.quantile(q);
      assert.ok(approximate >= exact && approximate <= exact * 1.021, `q${q}: ${approximate} vs ${exact}`);
    }
  });

  it('merges histograms from several load processes by adding counts', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    for (let i = 0; i < 99; i++) a.record(100);
    b.record(50_000);
    const merged = new LatencyHistogram(a.counts);
    merged.merge(new LatencyHistogram(Array.from(b.counts)));
    assert.equal(merged.count, 100);
    assert.ok(merged.quantile(0.99) < 103);
    assert.ok(merged.quantile(1) > 50_000 && merged.quantile(1) < 51_100);
    assert.ok(Number.isNaN(new LatencyHistogram().quantile(0.5)));
  });
});
