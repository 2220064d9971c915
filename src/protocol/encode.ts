/**
 * Encoder for the `text/event-stream` wire format (WHATWG HTML, "Server-sent
 * events": "Parsing an event stream" / "Interpreting an event stream").
 *
 * Pure string functions with no I/O and no platform dependencies, so the module
 * runs unchanged in Node and in browsers. Every function returns a complete
 * block, terminated by the blank line that makes the receiver act on it.
 */

/** The kind of value an {@link SseFieldError} refers to. */
export type SseField = 'id' | 'event' | 'comment';

/** Thrown when a value cannot be written as the given field without changing its meaning. */
export class SseFieldError extends Error {
  readonly field: SseField;

  constructor(field: SseField, message: string) {
    super(message);
    this.name = 'SseFieldError';
    this.field = field;
  }
}

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;

/**
 * Returns a human-readable reason why `value` cannot be sent as the `id` or
 * `event` field, or `null` when it can.
 *
 * - CR or LF would end the field early and let the rest of the value inject
 *   further fields (or a blank line that dispatches a forged event).
 * - NUL in an `id` makes receivers ignore the whole field (spec: "If the field
 *   value does not contain U+0000 NULL, then set the last event ID buffer");
 *   it is refused for `event` too, as event names are used as identifiers.
 * - An empty `event` would be delivered as the default type "message", which
 *   is never what a caller naming an event type means.
 */
export function checkFieldValue(field: 'id' | 'event', value: string): string | null {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === LF) return `${field} must not contain a line feed (\\n)`;
    if (c === CR) return `${field} must not contain a carriage return (\\r)`;
    if (c === NUL) return `${field} must not contain a NUL character (\\0)`;
  }
  if (field === 'event' && value.length === 0) return 'event must not be empty';
  return null;
}

function assertField(field: 'id' | 'event', value: string): void {
  const problem = checkFieldValue(field, value);
  if (problem !== null) throw new SseFieldError(field, problem);
}

/** The fields of one event. `data` is free text; line breaks in it are preserved as LF. */
export interface EventFields {
  id?: string;
  event?: string;
  data: string;
}

const LINE_BREAK = /\r\n|\r|\n/g;

/**
 * Encodes one event: `id: …` (when given), `event: …` (when given), one
 * `data: …` line per line of `data`, then a blank line.
 *
 * Lines of `data` are split on CRLF, CR and LF; receivers join `data` lines
 * with LF, so CR and CRLF in `data` arrive as LF.
 *
 * Empty `data` is written as a single `data: ` line. This event IS dispatched
 * by receivers, with `data === ""`: the field appends its (empty) value plus
 * an LF to the data buffer, so the buffer is "\n", not empty, when the blank
 * line is reached; only then is the trailing LF removed. (Only a block with no
 * `data` field at all is skipped; see {@link encodeIdOnly}.)
 *
 * @throws {SseFieldError} when `id` or `event` is rejected by {@link checkFieldValue}.
 */
export function encodeEvent(fields: EventFields): string {
  let out = '';
  const { id, event, data } = fields;
  if (id !== undefined) {
    assertField('id', id);
    out = 'id: ' + id + '\n';
  }
  if (event !== undefined) {
    assertField('event', event);
    out += 'event: ' + event + '\n';
  }
  if (data.indexOf('\n') === -1 && data.indexOf('\r') === -1) {
    return out + 'data: ' + data + '\n\n';
  }
  return out + 'data: ' + data.replace(LINE_BREAK, '\ndata: ') + '\n\n';
}

/**
 * Encodes a comment block: one `: line` per line of `text` (split on CRLF, CR
 * and LF; an empty line is written as a bare `:`), then a blank line.
 * Receivers ignore comments; they are useful as keep-alives.
 * `encodeComment('')` is `":\n\n"`.
 */
export function encodeComment(text: string): string {
  if (text.indexOf('\n') === -1 && text.indexOf('\r') === -1) {
    return text.length === 0 ? ':\n\n' : ': ' + text + '\n\n';
  }
  let out = '';
  for (const line of text.split(LINE_BREAK)) {
    out += line.length === 0 ? ':\n' : ': ' + line + '\n';
  }
  return out + '\n';
}

/**
 * Encodes a `retry: <ms>` block, which sets the receiver's reconnection time.
 *
 * @throws {RangeError} unless `ms` is a non-negative safe integer.
 */
export function encodeRetry(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new RangeError(`retry must be a non-negative safe integer, got ${String(ms)}`);
  }
  return 'retry: ' + String(ms) + '\n\n';
}

/**
 * Encodes an `id: <id>` block with no data. On the blank line receivers set
 * their last event ID (sent back as `Last-Event-ID` on reconnection) but
 * dispatch no event, because the data buffer is empty. An empty `id` clears it.
 *
 * @throws {SseFieldError} when `id` is rejected by {@link checkFieldValue}.
 */
export function encodeIdOnly(id: string): string {
  assertField('id', id);
  return 'id: ' + id + '\n\n';
}
