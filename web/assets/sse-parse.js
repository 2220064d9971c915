// Written by `npm run web-parser` from src/protocol/parse.ts: edit that file, not this one.
/**
 * Streaming parser for the `text/event-stream` wire format, following WHATWG
 * HTML "Server-sent events": "Parsing an event stream" and "Interpreting an
 * event stream".
 *
 * Platform-neutral: bytes are decoded with `TextDecoder` only, so the module
 * runs unchanged in Node and in browsers.
 */
const LF = 0x0a;
const SPACE = 0x20;
const COLON = 0x3a;
const BOM = 0xfeff;
/** True when `value` is non-empty and made of ASCII digits only. */
function isAsciiDigits(value) {
    if (value.length === 0)
        return false;
    for (let i = 0; i < value.length; i++) {
        const c = value.charCodeAt(i);
        if (c < 0x30 || c > 0x39)
            return false;
    }
    return true;
}
/**
 * Incremental event-stream parser. Feed it the response body in chunks of any
 * size (bytes or already-decoded text); callbacks fire synchronously from
 * `feed()` as soon as a block is complete.
 */
export class EventStreamParser {
    #cb;
    /**
     * UTF-8 decoder in streaming mode (a character split across chunks is held
     * back until complete; invalid bytes become U+FFFD). `ignoreBOM` is set so
     * that the decoder never strips anything itself: the one leading BOM is
     * removed below, uniformly for byte and string input.
     */
    #decoder = null;
    /** Bytes may be pending inside the decoder. */
    #decoderUsed = false;
    /** Whether the first character of the stream has been seen (BOM check done). */
    #started = false;
    /** The previous chunk ended with CR: a leading LF of the next one belongs to that CRLF. */
    #skipLf = false;
    /** Pieces of the current, not yet terminated line. */
    #partial = [];
    #data = '';
    #eventType = '';
    /** The spec's "last event ID buffer": set by `id` fields. */
    #idBuffer = '';
    /** The spec's "last event ID string": set from the buffer when a block ends. */
    #lastEventId = '';
    /** Bumped by reset()/end(), so a callback calling them stops the chunk in progress. */
    #generation = 0;
    /**
     * `lastEventId` starts the last event ID string at a known value, as a client resuming from a
     * stored position does: blocks without an `id` field then keep it instead of reporting "".
     */
    constructor(cb, options = {}) {
        this.#cb = cb;
        if (options.lastEventId !== undefined && options.lastEventId.indexOf('\0') === -1) {
            this.#lastEventId = options.lastEventId;
            this.#idBuffer = options.lastEventId;
        }
    }
    /**
     * The last event ID string: the value of the most recent `id` field (without
     * NUL) as of the last block end. It persists across events until the stream
     * sets it again, and is what a client sends as `Last-Event-ID`.
     */
    get lastEventId() {
        return this.#lastEventId;
    }
    /** Parses the next piece of the stream. Byte chunks may split UTF-8 characters anywhere. */
    feed(chunk) {
        let text;
        if (typeof chunk === 'string') {
            if (this.#decoderUsed) {
                // Switching from bytes to text: bytes of an incomplete character
                // still inside the decoder can never be completed; flush them (U+FFFD).
                text = this.#decoder.decode() + chunk;
                this.#decoderUsed = false;
            }
            else {
                text = chunk;
            }
        }
        else {
            if (this.#decoder === null)
                this.#decoder = new TextDecoder('utf-8', { ignoreBOM: true });
            text = this.#decoder.decode(chunk, { stream: true });
            this.#decoderUsed = true;
        }
        this.#process(text);
    }
    /**
     * Signals the end of the stream. Per spec, "any pending data must be
     * discarded": an unterminated line and a block not closed by a blank line
     * are dropped without dispatching, and an `id` seen in that block does not
     * change `lastEventId`. The parser is then ready for a new stream, as after
     * {@link reset}.
     */
    end() {
        this.reset();
    }
    /**
     * Discards all per-stream state (pending bytes and line, data and event type
     * buffers, uncommitted `id`) and starts over as at the beginning of a stream,
     * so a new leading BOM is stripped again. `lastEventId` is kept, as an
     * EventSource keeps its last event ID string across reconnections; create a
     * new parser to start from an empty one.
     */
    reset() {
        this.#generation++;
        if (this.#decoderUsed) {
            this.#decoder.decode();
            this.#decoderUsed = false;
        }
        this.#started = false;
        this.#skipLf = false;
        this.#partial = [];
        this.#data = '';
        this.#eventType = '';
        this.#idBuffer = this.#lastEventId;
    }
    #process(text) {
        const len = text.length;
        if (len === 0)
            return;
        let pos = 0;
        if (!this.#started) {
            this.#started = true;
            // Exactly one U+FEFF, and only as the very first character of the stream.
            if (text.charCodeAt(0) === BOM)
                pos = 1;
        }
        if (this.#skipLf) {
            this.#skipLf = false;
            if (text.charCodeAt(pos) === LF)
                pos++;
        }
        const generation = this.#generation;
        let lf = text.indexOf('\n', pos);
        let cr = text.indexOf('\r', pos);
        while (lf !== -1 || cr !== -1) {
            let end;
            let next;
            if (cr === -1 || (lf !== -1 && lf < cr)) {
                end = lf;
                next = lf + 1;
            }
            else {
                end = cr;
                next = cr + 1;
                if (next === len) {
                    this.#skipLf = true;
                }
                else if (text.charCodeAt(next) === LF) {
                    next++;
                }
            }
            let line = text.slice(pos, end);
            if (this.#partial.length !== 0) {
                this.#partial.push(line);
                line = this.#partial.join('');
                this.#partial = [];
            }
            pos = next;
            this.#line(line);
            if (generation !== this.#generation)
                return;
            if (lf !== -1 && lf < pos)
                lf = text.indexOf('\n', pos);
            if (cr !== -1 && cr < pos)
                cr = text.indexOf('\r', pos);
        }
        if (pos < len)
            this.#partial.push(pos === 0 ? text : text.slice(pos));
    }
    #line(line) {
        if (line.length === 0) {
            this.#dispatch();
            return;
        }
        const colon = line.indexOf(':');
        if (colon === 0) {
            const onComment = this.#cb.onComment;
            if (onComment !== undefined) {
                onComment.call(this.#cb, line.slice(line.charCodeAt(1) === SPACE ? 2 : 1));
            }
            return;
        }
        let field;
        let value;
        if (colon === -1) {
            field = line;
            value = '';
        }
        else {
            field = line.slice(0, colon);
            value = line.slice(line.charCodeAt(colon + 1) === SPACE ? colon + 2 : colon + 1);
        }
        switch (field) {
            case 'data':
                this.#data += value + '\n';
                break;
            case 'event':
                this.#eventType = value;
                break;
            case 'id':
                if (value.indexOf('\0') === -1)
                    this.#idBuffer = value;
                break;
            case 'retry': {
                // Only ASCII digits, else ignored. Values too large to be represented
                // exactly as a number are ignored as well.
                if (!isAsciiDigits(value))
                    break;
                const ms = Number(value);
                const onRetry = this.#cb.onRetry;
                if (Number.isSafeInteger(ms) && onRetry !== undefined)
                    onRetry.call(this.#cb, ms);
                break;
            }
            default:
                // Unknown fields are ignored. Names are compared literally (no case folding).
                break;
        }
    }
    #dispatch() {
        // The ID string is set even when nothing is dispatched (a block with only `id`).
        this.#lastEventId = this.#idBuffer;
        let data = this.#data;
        if (data.length === 0) {
            this.#eventType = '';
            return;
        }
        // Every `data` field appends an LF, so the buffer always ends with one.
        data = data.slice(0, -1);
        const type = this.#eventType.length === 0 ? 'message' : this.#eventType;
        this.#data = '';
        this.#eventType = '';
        this.#cb.onEvent({ type, data, lastEventId: this.#lastEventId });
    }
}
