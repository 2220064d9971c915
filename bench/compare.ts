/**
 * How the benchmark states ssehub against another server: always ssehub's figure over the other's,
 * with both figures and which way is better, so that "0.50×" on memory reads as half as much.
 */
import type { Row } from './run.js';

/** The figure a scenario compares servers on (of a Row by default; the WebSocket scenarios' rows too). */
export interface Comparison<R = Row> {
  /** What the figure is, e.g. "RSS per subscriber". */
  name: string;
  unit: string;
  /** Whether a lower or a higher figure is the better one. */
  better: 'lower' | 'higher';
  figure(row: R): number;
}

/** What a compared row must name: its server. */
type Named = { server: string };

/** A figure as the summaries print it: thousands grouped from 1,000, else two decimals; "–" when missing. */
export const figureText = (value: number): string =>
  !Number.isFinite(value) ? '–' : Math.abs(value) >= 1000 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2);

/** ssehub's figure divided by the other's (NaN when either is missing or the other is 0). */
export function ratioOf<R extends Named>(comparison: Comparison<R>, hub: R, other: R): number {
  const mine = comparison.figure(hub);
  const theirs = comparison.figure(other);
  return Number.isFinite(mine) && Number.isFinite(theirs) && theirs !== 0 ? mine / theirs : NaN;
}

/** e.g. "RSS per subscriber 14.35 / 28.58 KiB = 0.50× express-emitter's (lower is better)". */
export function comparisonText<R extends Named>(comparison: Comparison<R>, hub: R, other: R): string {
  const ratio = ratioOf(comparison, hub, other);
  return (
    `${comparison.name} ${figureText(comparison.figure(hub))} / ${figureText(comparison.figure(other))} ${comparison.unit}` +
    ` = ${Number.isFinite(ratio) ? ratio.toFixed(2) : '–'}× ${other.server}'s (${comparison.better} is better)`
  );
}

/** The line printed before each measurement: how far the run is, and roughly how long is left. */
export function progressText(done: number, total: number, elapsedMs: number): string {
  const minutes = (ms: number): string => {
    const seconds = Math.round(ms / 1000);
    return seconds >= 60 ? `${Math.floor(seconds / 60)} min ${seconds % 60} s` : `${seconds} s`;
  };
  const left = done > 0 ? `, about ${minutes((elapsedMs / done) * (total - done))} left` : '';
  return `[${done + 1}/${total}, ${minutes(elapsedMs)} in${left}]`;
}
