/**
 * Reads one subscriber connection's raw bytes (an HTTP/1.1 response carrying text/event-stream,
 * chunked or not) and counts the benchmark's events in it, cheaply: no line splitting, no strings,
 * no per-event allocation. Every benchmark event's data starts with
 * `{"t":<send time in µs>,"n":<sequence number>`, so an event is found with one native
 * Buffer.indexOf and its latency and sequence number read digit by digit. Chunked
 * transfer framing can sit between events but never inside one (every server writes whole lines),
 * and a marker or number cut by a TCP read boundary is carried over to the next read.
 */
import { monotonicMicros } from './clock.js';

/** Servers differ on the space after "data:", so the marker is the data's own start. */
export const EVENT_MARKER = Buffer.from('{"t":');
/** What follows the send time: the event's sequence number, unique within a run. */
export const SEQUENCE_MARKER = Buffer.from(',"n":');
const HEADER_END = Buffer.from('\r\n\r\n');
/** The first byte of the marker, to decide cheaply whether a read's tail may hold part of one. */
const MARKER_START = EVENT_MARKER[0]!;
/** Headers longer than this mean the peer is not answering an event stream. */
const MAX_HEADER_BYTES = 16 * 1024;

export interface ScanSink {
  /** Benchmark event number `sequence` arrived, `latencyMicros` after it was stamped. */
  event(latencyMicros: number, sequence: number): void;
}

export class StreamScanner {
  /** The response's status code, once its headers are in. */
  status = 0;
  private carry: Buffer | undefined;

  constructor(private readonly sink: ScanSink) {}

  get headersDone(): boolean {
    return this.status !== 0;
  }

  /** Takes the next read; `now` is the receive time in µs (one clock read per read, not per event). */
  push(chunk: Buffer, now = monotonicMicros()): void {
    let buffer = chunk;
    if (this.carry) {
      buffer = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    }
    let at = 0;
    if (this.status === 0) {
      const end = buffer.indexOf(HEADER_END);
      if (end === -1) {
        if (buffer.length > MAX_HEADER_BYTES) throw new Error('response headers too long');
        this.carry = Buffer.from(buffer);
        return;
      }
      // "HTTP/1.1 200 OK": the status code is at bytes 9..11.
      this.status = Number(buffer.toString('latin1', 9, 12));
      at = end + HEADER_END.length;
    }
    let marker = buffer.indexOf(EVENT_MARKER, at);
    while (marker !== -1) {
      const end = this.readEvent(buffer, marker, now);
      if (end === -1) {
        // The event's numbers may go on in the next read.
        this.carry = Buffer.from(buffer.subarray(marker));
        return;
      }
      at = end;
      marker = buffer.indexOf(EVENT_MARKER, at);
    }
    // A marker cut by the read boundary: its start is within the last marker-length bytes.
    const tail = buffer.lastIndexOf(MARKER_START);
    if (tail !== -1 && tail >= at && tail > buffer.length - EVENT_MARKER.length) {
      const rest = buffer.subarray(tail);
      if (EVENT_MARKER.subarray(0, rest.length).equals(rest)) this.carry = Buffer.from(rest);
    }
  }

  /**
   * Reads the send time and sequence number of the event whose marker is at `marker` and reports
   * it; returns where the event's numbers end, or -1 when the read ends before they do.
   */
  private readEvent(buffer: Buffer, marker: number, now: number): number {
    let i = marker + EVENT_MARKER.length;
    let stamp = 0;
    let byte = 0;
    while (i < buffer.length && (byte = buffer[i]!) >= 48 && byte <= 57) {
      stamp = stamp * 10 + (byte - 48);
      i += 1;
    }
    for (let k = 0; k < SEQUENCE_MARKER.length; k++, i++) {
      if (i === buffer.length) return -1;
      if (buffer[i] !== SEQUENCE_MARKER[k]) throw new Error('a benchmark event without its sequence number');
    }
    let sequence = 0;
    const digits = i;
    while (i < buffer.length && (byte = buffer[i]!) >= 48 && byte <= 57) {
      sequence = sequence * 10 + (byte - 48);
      i += 1;
    }
    if (i === buffer.length) return -1;
    if (i === digits) throw new Error('a benchmark event without its sequence number');
    this.sink.event(now - stamp, sequence);
    return i;
  }
}
