/**
 * Reading a request's body: content type, size limit, UTF-8 and JSON nesting depth are checked
 * here, before anything reaches the hub.
 */
import { HubError } from '../errors.js';
import type { BodyStream, HubRequest, RequestHead } from './context.js';

export type BodyType = 'json' | 'text' | 'form' | 'ndjson';

/** The media type of each body type (ndjson: one JSON value a line, a streaming publish's body). */
const MEDIA_TYPES: Record<BodyType, string> = {
  json: 'application/json',
  text: 'text/plain',
  form: 'application/x-www-form-urlencoded',
  ndjson: 'application/x-ndjson',
};

const COMMON_TYPES = new Map<string, BodyType>([
  ['application/json', 'json'],
  ['application/json; charset=utf-8', 'json'],
  ['text/plain', 'text'],
  ['text/plain; charset=utf-8', 'text'],
  ['application/x-www-form-urlencoded', 'form'],
  ['application/x-ndjson', 'ndjson'],
]);

/** Which of the accepted types the request declares; 415 for anything else. */
export function bodyTypeOf(req: RequestHead, accepted: readonly BodyType[]): BodyType {
  const header = req.headers['content-type'];
  // The values publishers send, known without parsing them (a publish's hot path).
  const common = header === undefined ? undefined : COMMON_TYPES.get(header);
  if (common !== undefined && accepted.includes(common)) return common;
  const expected = accepted.map((type) => MEDIA_TYPES[type]).join(' or ');
  if (!header) throw new HubError(415, 'unsupported_media_type', `Send a Content-Type header: ${expected}.`);
  const [mediaType = '', ...parameters] = header.split(';').map((part) => part.trim().toLowerCase());
  for (const parameter of parameters) {
    const [name, value = ''] = parameter.split('=').map((part) => part.trim());
    if (name === 'charset' && value.replace(/"/g, '') !== 'utf-8') {
      throw new HubError(415, 'unsupported_media_type', `Only charset=utf-8 is accepted, not "${value}".`);
    }
  }
  const type = (Object.keys(MEDIA_TYPES) as BodyType[]).find((candidate) => MEDIA_TYPES[candidate] === mediaType);
  if (type === undefined || !accepted.includes(type)) {
    throw new HubError(415, 'unsupported_media_type', `Content-Type "${mediaType}" is not accepted here; use ${expected}.`);
  }
  return type;
}

/** One decoder for every body: decode() without { stream: true } starts afresh each time. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads the whole body as UTF-8 text, refusing more than maxBytes (413) and invalid UTF-8 (400). */
export async function readBody(req: HubRequest, maxBytes: number): Promise<string> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge(maxBytes);
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.byteLength;
      if (size > maxBytes) {
        done();
        // The rest is not read: the answer closes the connection (see respond.ts).
        req.pause();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    };
    const onError = (): void => {
      done();
      reject(new HubError(400, 'request_aborted', 'The request body was cut off before it was complete.'));
    };
    // 'close' before 'end': the client went away mid-body.
    const onClose = (): void => {
      if (!req.readableEnded) onError();
    };
    // Embedded in an app, a body parser mounted before the hub (express.json()) may have read the
    // body already: say so, rather than take the body as empty or as cut off by the client.
    if (req.readableEnded && declaresBody(req)) return reject(bodyAlreadyRead());
    // Listeners come after the credential check: the body may already be over, or its client gone.
    // (An HTTP/2 stream reset meanwhile ends its request as if complete: 'aborted' tells.)
    if ((req as { aborted?: boolean }).aborted || req.destroyed) return onError();
    if (req.readableEnded) return resolve(Buffer.alloc(0));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
  return decodeBody(body, maxBytes);
}

/** A node:http or HTTP/2 request's body as it arrives (RouteRequest.readBodyStream): what is buffered, in one piece. */
export function readBodyStream(req: HubRequest): BodyStream {
  let stopped = false;
  return {
    next: () =>
      new Promise<Uint8Array | undefined>((resolve, reject) => {
        const done = (): void => {
          req.off('readable', onReadable);
          req.off('end', onEnd);
          req.off('error', onError);
          req.off('close', onClose);
        };
        // read() without a size hands over everything buffered: the lines of several packets at once.
        const onReadable = (): void => {
          const chunk = req.read() as Buffer | null;
          if (chunk === null) return;
          done();
          resolve(chunk);
        };
        const onEnd = (): void => {
          done();
          resolve(undefined);
        };
        const onError = (): void => {
          done();
          reject(new HubError(400, 'request_aborted', 'The request body was cut off before it was complete.'));
        };
        // A request whose body has all arrived (complete) may be closed before its reader is done with it.
        const onClose = (): void => {
          if (req.readableEnded || req.complete) onEnd();
          else onError();
        };
        if (req.readableEnded) return resolve(undefined);
        const buffered = req.read() as Buffer | null;
        if (buffered !== null) return resolve(buffered);
        if (req.complete && req.destroyed) return resolve(undefined);
        if (stopped || (req as { aborted?: boolean }).aborted || req.destroyed) return onError();
        req.on('readable', onReadable);
        req.on('end', onEnd);
        req.on('error', onError);
        req.on('close', onClose);
        onReadable();
      }),
    stop: () => {
      if (stopped) return;
      stopped = true;
      req.resume();
    },
  };
}

/** Whether the request says it has a body: a length above 0, or one sent in chunks. */
function declaresBody(req: RequestHead): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && Number(length) > 0) || req.headers['transfer-encoding'] !== undefined;
}

function bodyAlreadyRead(): HubError {
  return new HubError(
    500,
    'body_already_read',
    'The request body was read before the hub got it, by a body parser mounted in front of it (express.json(), a framework\'s own parser): mount the hub before it, or keep it off the hub\'s path.',
  );
}

/** A body already in hand as text: the same limit (413) and UTF-8 check (400) as readBody. */
export function decodeBody(body: Uint8Array, maxBytes: number): string {
  if (body.byteLength > maxBytes) throw tooLarge(maxBytes);
  return decodeUtf8(body, 'The request body');
}

/** UTF-8 bytes as text; 400 invalid_utf8 naming `what` when they are not UTF-8. */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new HubError(400, 'invalid_utf8', `${what} is not valid UTF-8.`);
  }
}

/** The deepest nesting of arrays and objects a JSON body may have (`{"a":[1]}` is 2 levels). */
export const MAX_JSON_DEPTH = 64;

/**
 * Parses JSON text from a client: every JSON body the hub reads comes through here. 400
 * json_too_deep past MAX_JSON_DEPTH, checked before JSON.parse builds anything: a value nested
 * 400,000 levels deep parses, but JSON.stringify and any recursive walk of it overflow the stack.
 * 400 invalid_json with the parser's reason when it is not JSON.
 */
export function parseJson(text: string, what = 'The request body'): unknown {
  checkJsonDepth(text, what);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HubError(400, 'invalid_json', `${what} is not valid JSON: ${(error as Error).message}`);
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * Refuses text whose arrays and objects nest deeper than MAX_JSON_DEPTH. This runs on every JSON
 * publish: no allocation, no recursion. Text that is not JSON is left for JSON.parse to refuse.
 */
function checkJsonDepth(text: string, what: string): void {
  if (fewOpenings(text)) return;
  // One pass counting open brackets and braces; string contents are skipped (a bracket inside a
  // string, or an escaped quote, is not structure).
  let depth = 0;
  for (let i = 0, length = text.length; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      for (i++; i < length; i++) {
        const inString = text.charCodeAt(i);
        if (inString === QUOTE) break;
        if (inString === BACKSLASH) i++; // the escaped character, a quote included
      }
    } else if (code === OPEN_BRACKET || code === OPEN_BRACE) {
      if (++depth > MAX_JSON_DEPTH) {
        throw new HubError(400, 'json_too_deep', `${what} nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels.`);
      }
    } else if (code === CLOSE_BRACKET || code === CLOSE_BRACE) {
      depth--;
    }
  }
}

/**
 * Whether the text holds at most MAX_JSON_DEPTH "[" and "{" in all (strings included): then it
 * cannot nest deeper. indexOf finds them several times faster than the loop above reads every
 * character, and a typical event holds a handful.
 */
function fewOpenings(text: string): boolean {
  let openings = 0;
  for (let i = text.indexOf('['); i !== -1; i = text.indexOf('[', i + 1)) if (++openings > MAX_JSON_DEPTH) return false;
  for (let i = text.indexOf('{'); i !== -1; i = text.indexOf('{', i + 1)) if (++openings > MAX_JSON_DEPTH) return false;
  return true;
}

export function tooLarge(maxBytes: number): HubError {
  return new HubError(413, 'body_too_large', `The request body is larger than the limit of ${maxBytes} bytes.`);
}
