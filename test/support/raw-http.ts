/**
 * Raw TCP clients for tests that must send what node:http's own client refuses to: broken request
 * lines and headers, partial requests, pipelines, bodies that stop half way. Also a lenient parser
 * of what came back, so a test can look at every answer on a connection.
 */
import { connect } from 'node:net';

export interface RawResult {
  /** Every byte the server sent. */
  data: Buffer;
  /** Who ended the connection: the server (it closed or reset it) or this client (timeout, `until`). */
  closedBy: 'server' | 'client';
  /** The socket error, if any (ECONNRESET, EPIPE, ECONNREFUSED…). */
  error?: string;
  /** From connecting to the close. */
  elapsedMs: number;
}

export interface RawOptions {
  /** Destroy the connection after this long in total (default 5000). */
  timeoutMs?: number;
  /** Destroy it after this long without a byte from the server (default: no idle limit). */
  idleMs?: number;
  /** Destroy it as soon as this holds over the bytes received. */
  until?: (data: Buffer) => boolean;
  /** Half-close (FIN) after the last piece is written. */
  end?: boolean;
  /** Pause between two pieces, in milliseconds (default 0: all at once). */
  gapMs?: number;
}

/** Strings are written byte for byte (latin1), so "\xff" is the byte 0xff. */
export function toBytes(piece: string | Buffer): Buffer {
  return typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece;
}

/**
 * Connects to 127.0.0.1:port, writes the pieces (with `gapMs` between them), and resolves once the
 * connection is gone, however it went. Never rejects.
 */
export function rawRequest(port: number, pieces: ReadonlyArray<string | Buffer>, options: RawOptions = {}): Promise<RawResult> {
  const { timeoutMs = 5000, idleMs, until, end = false, gapMs = 0 } = options;
  return new Promise((resolve) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    let received = 0;
    let closedBy: 'server' | 'client' = 'server';
    let error: string | undefined;
    let idleTimer: NodeJS.Timeout | undefined;
    let gapTimer: NodeJS.Timeout | undefined;
    const socket = connect(port, '127.0.0.1');
    const giveUp = (): void => {
      if (socket.destroyed) return;
      closedBy = 'client';
      socket.destroy();
    };
    const totalTimer = setTimeout(giveUp, timeoutMs);
    const armIdle = (): void => {
      if (idleMs === undefined) return;
      clearTimeout(idleTimer);
      idleTimer = setTimeout(giveUp, idleMs);
    };
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error ??= err.code ?? err.message;
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.byteLength;
      armIdle();
      if (until && until(Buffer.concat(chunks, received))) giveUp();
    });
    socket.on('close', () => {
      clearTimeout(totalTimer);
      clearTimeout(idleTimer);
      clearTimeout(gapTimer);
      const result: RawResult = { data: Buffer.concat(chunks, received), closedBy, elapsedMs: Date.now() - started };
      if (error !== undefined) result.error = error;
      resolve(result);
    });
    socket.once('connect', () => {
      armIdle();
      let next = 0;
      const writeNext = (): void => {
        if (socket.destroyed || !socket.writable) return;
        if (next >= pieces.length) {
          if (end) socket.end();
          return;
        }
        socket.write(toBytes(pieces[next++]!));
        if (gapMs > 0) gapTimer = setTimeout(writeNext, gapMs);
        else writeNext();
      };
      writeNext();
    });
  });
}

export interface RawResponse {
  status: number;
  /** Header names in lower case; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** The header lines as sent, in order. */
  headerLines: string[];
  /** The body as far as it was received (chunked bodies de-chunked). */
  body: Buffer;
  /** The whole body was received (Content-Length reached, or the last chunk seen). */
  complete: boolean;
  chunked: boolean;
  /** Set when the bytes after the head are not valid chunked framing. */
  framingError?: string;
}

export interface ParsedResponses {
  responses: RawResponse[];
  /** Bytes that do not start with an HTTP/1.x status line (where parsing stopped). */
  garbage: Buffer;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * Splits what a server sent into responses. `bodiless` lists the indexes of responses that answer
 * a HEAD request (they have no body whatever their headers say). Parsing stops at the first
 * response whose end cannot be known (incomplete, or close-delimited).
 */
export function parseResponses(data: Buffer, bodiless: ReadonlySet<number> = new Set()): ParsedResponses {
  const responses: RawResponse[] = [];
  let offset = 0;
  while (offset < data.length) {
    const headEnd = data.indexOf(HEAD_END, offset);
    const statusLine = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/.exec(data.subarray(offset, Math.min(data.length, offset + 200)).toString('latin1'));
    if (!statusLine || headEnd < 0) break;
    const head = data.subarray(offset, headEnd).toString('latin1').split('\r\n');
    const status = Number(statusLine[1]);
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    offset = headEnd + HEAD_END.length;
    const response: RawResponse = { status, headers, headerLines: head.slice(1), body: Buffer.alloc(0), complete: true, chunked: false };
    responses.push(response);
    const noBody = status < 200 || status === 204 || status === 304 || bodiless.has(responses.length - 1);
    if (noBody) continue;
    if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
      response.chunked = true;
      const decoded = dechunk(data, offset);
      response.body = decoded.body;
      response.complete = decoded.complete;
      if (decoded.error !== undefined) response.framingError = decoded.error;
      offset = decoded.offset;
      if (!decoded.complete) return { responses, garbage: Buffer.alloc(0) };
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      response.body = data.subarray(offset, offset + length);
      response.complete = response.body.length === length;
      offset += response.body.length;
      if (!response.complete) return { responses, garbage: Buffer.alloc(0) };
    } else {
      // Delimited by the end of the connection.
      response.body = data.subarray(offset);
      response.complete = false;
      return { responses, garbage: Buffer.alloc(0) };
    }
  }
  return { responses, garbage: data.subarray(offset) };
}

function dechunk(data: Buffer, start: number): { body: Buffer; complete: boolean; offset: number; error?: string } {
  const parts: Buffer[] = [];
  let offset = start;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', offset, 'latin1');
    if (lineEnd < 0) return { body: Buffer.concat(parts), complete: false, offset };
    const sizeText = data.subarray(offset, lineEnd).toString('latin1').split(';')[0]!.trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) {
      return { body: Buffer.concat(parts), complete: false, offset, error: `bad chunk size line ${JSON.stringify(sizeText.slice(0, 40))}` };
    }
    const size = parseInt(sizeText, 16);
    const dataStart = lineEnd + 2;
    if (size === 0) {
      // Last chunk: no trailers are expected, only the final CRLF.
      if (data.length < dataStart + 2) return { body: Buffer.concat(parts), complete: false, offset };
      return { body: Buffer.concat(parts), complete: true, offset: dataStart + 2 };
    }
    if (data.length < dataStart + size + 2) {
      parts.push(data.subarray(dataStart, Math.min(data.length, dataStart + size)));
      return { body: Buffer.concat(parts), complete: false, offset: data.length };
    }
    parts.push(data.subarray(dataStart, dataStart + size));
    if (data.subarray(dataStart + size, dataStart + size + 2).toString('latin1') !== '\r\n') {
      return { body: Buffer.concat(parts), complete: false, offset, error: 'chunk not followed by CRLF' };
    }
    offset = dataStart + size + 2;
  }
}

/**
 * Why a response is not the hub's error format (`{"error":{"code","message"}}` as JSON and a newline), or null
 * when it is.
 */
export function errorFormatProblem(response: { headers: Record<string, string | string[] | undefined>; body: Buffer | string }): string | null {
  const type = String(response.headers['content-type'] ?? '');
  if (!/^application\/json\b/i.test(type)) return `Content-Type is ${JSON.stringify(type)}, not application/json`;
  if (!response.body.toString().endsWith('\n')) return `body does not end with a newline: ${JSON.stringify(response.body.toString().slice(-120))}`;
  let parsed: any;
  try {
    parsed = JSON.parse(response.body.toString());
  } catch {
    return `body is not JSON: ${JSON.stringify(response.body.toString().slice(0, 120))}`;
  }
  const error = parsed?.error;
  if (typeof error?.code !== 'string' || error.code === '') return `no error.code in ${JSON.stringify(parsed).slice(0, 200)}`;
  if (typeof error?.message !== 'string' || error.message === '') return `no error.message in ${JSON.stringify(parsed).slice(0, 200)}`;
  return null;
}
