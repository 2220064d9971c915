/**
 * Reads one subscriber connection's raw bytes (an HTTP/1.1 response carrying text/event-stream,
 * chunked or not) and counts the benchmark's events in it, cheaply: no line splitting, no strings,
 * no per-event allocation. Every benchmark event's data starts with `{"t":<send time in µs>`, so an
 * event is found with one native Buffer.indexOf and its latency read digit by digit. Chunked
 * transfer framing can sit between events but never inside one (every server writes whole lines),
 * and a marker or number cut by a TCP read boundary is carried over to the next read.
 */
import { monotonicMicros } from './clock.js';

/** Servers differ on the space after "data:", so the marker is the data's own start. */
export const EVENT_MARKER = Buffer.from('{"t":');
const HEADER_END = Buffer.from('\r\n\r\n');
/** The first byte of the marker, to decide cheaply whether a read's tail may hold part of one. */
const MARKER_START = EVENT_MARKER[0]!;
/** Headers longer than this mean the peer is not answering an event stream. */
const MAX_HEADER_BYTES = 16 * 1024;

export interface ScanSink {
  /** One benchmark event arrived, `micros` after it was stamped. */
  event(latencyMicros: number): void;
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
      let i = marker + EVENT_MARKER.length;
      let stamp = 0;
      let byte = 0;
      while (i < buffer.length && (byte = buffer[i]!) >= 48 && byte <= 57) {
        stamp = stamp * 10 + (byte - 48);
        i += 1;
      }
      if (i === buffer.length) {
        // The number may go on in the next read.
        this.carry = Buffer.from(buffer.subarray(marker));
        return;
      }
      this.sink.event(now - stamp);
      at = i;
      marker = buffer.indexOf(EVENT_MARKER, at);
    }
    // A marker cut by the read boundary: its start is within the last marker-length bytes.
    const tail = buffer.lastIndexOf(MARKER_START);
    if (tail !== -1 && tail >= at && tail > buffer.length - EVENT_MARKER.length) {
      const rest = buffer.subarray(tail);
      if (EVENT_MARKER.subarray(0, rest.length).equals(rest)) this.carry = Buffer.from(rest);
    }
  }
}
