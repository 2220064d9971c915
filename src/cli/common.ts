/**
 * What the commands that talk to a hub share: flag parsing (--url, --token), terminal styling,
 * error messages and exit codes, stdin/line reading, and an ordered batching publisher.
 */
import { readFileSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ContentTypeError, DecodeError, HubResponseError, publish, TimeoutError, type PublishEvent, type PublishOptions } from '../client/index.js';
import { HubError, isHubError } from '../errors.js';
import { tlsFetch } from './tls-fetch.js';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

/** Help lines for the flags every hub-talking command takes. */
export const HUB_FLAGS_HELP = `  --url <url>                The hub's base URL (env SSEHUB_URL, default ${DEFAULT_URL}).
  --token <jwt>              Bearer token (env SSEHUB_TOKEN).
  --cacert <file>            Trust the certificate(s) in this PEM file for an https: hub, e.g. the one
                             "ssehub cert" wrote. NODE_EXTRA_CA_CERTS=<file> adds to the system's instead.
  --insecure                 Accept any certificate from an https: hub (for local testing only).`;

export const HUB_FLAGS = {
  url: { type: 'string' },
  token: { type: 'string' },
  cacert: { type: 'string' },
  insecure: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** A bad command line: exit status 2, message without a code. */
export function argumentError(message: string): HubError {
  return new HubError(400, 'invalid_arguments', message);
}

/** parseArgs, with its errors turned into argument errors (exit 2). */
export function parseFlags<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    throw argumentError((error as Error).message);
  }
}

export interface HubTarget {
  url: string;
  token: string | undefined;
  /** With --cacert or --insecure: the fetch that applies them; otherwise the global fetch is used. */
  fetch?: typeof globalThis.fetch;
}

/** The client options a HubTarget stands for. */
export function clientOptions(target: HubTarget): { url: string; token?: string; fetch?: typeof globalThis.fetch } {
  return { url: target.url, ...(target.token === undefined ? {} : { token: target.token }), ...(target.fetch === undefined ? {} : { fetch: target.fetch }) };
}

/** --url, --token, --cacert and --insecure, falling back to SSEHUB_URL / SSEHUB_TOKEN. */
export function hubTarget(
  values: { url?: string | undefined; token?: string | undefined; cacert?: string | undefined; insecure?: boolean | undefined },
  env: NodeJS.ProcessEnv,
): HubTarget {
  const url = values.url ?? (env.SSEHUB_URL || DEFAULT_URL);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw argumentError(`--url: "${url}" is not a URL (expected e.g. ${DEFAULT_URL}).`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw argumentError(`--url: "${url}" must be an http: or https: URL.`);
  const token = values.token ?? env.SSEHUB_TOKEN;
  const target: HubTarget = { url, token: token === undefined || token === '' ? undefined : token };
  if (values.cacert !== undefined && values.insecure) throw argumentError('--cacert trusts one certificate, --insecure any: give one of them.');
  if (values.cacert !== undefined) {
    let ca: string;
    try {
      ca = readFileSync(values.cacert, 'utf8');
    } catch (error) {
      throw argumentError(`--cacert: cannot read "${values.cacert}": ${(error as Error).message}`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw argumentError(`--cacert: "${values.cacert}" holds no PEM certificate.`);
    target.fetch = tlsFetch({ ca, rejectUnauthorized: true });
  } else if (values.insecure) {
    target.fetch = tlsFetch({ rejectUnauthorized: false });
  }
  return target;
}

// ---------------------------------------------------------------------------------------------
// Styling

export interface Style {
  readonly enabled: boolean;
  dim(text: string): string;
  bold(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
  magenta(text: string): string;
}

/**
 * Colours for a stream: FORCE_COLOR (anything but "0"/"false") forces them on; otherwise they are
 * on only for a terminal, with NO_COLOR unset (or empty) and TERM not "dumb".
 */
export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

export function styleFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Style {
  const enabled = colorEnabled(stream, env);
  const sgr = (open: number, close: number) => (text: string) => (enabled && text !== '' ? `\x1b[${open}m${text}\x1b[${close}m` : text);
  return {
    enabled,
    dim: sgr(2, 22),
    bold: sgr(1, 22),
    red: sgr(31, 39),
    green: sgr(32, 39),
    yellow: sgr(33, 39),
    cyan: sgr(36, 39),
    magenta: sgr(35, 39),
  };
}

// ---------------------------------------------------------------------------------------------
// Errors

/** An error the CLI reports as `ssehub: <message> (<code>)` and exits with `exitCode`. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** A short description of what went wrong, for notices (no stack). */
export function describeCause(error: unknown): string {
  if (error instanceof HubResponseError) return `${error.message} (${error.code})`;
  if (error instanceof ContentTypeError || error instanceof DecodeError || error instanceof TimeoutError) return `${error.message} (${error.code})`;
  const network = networkCause(error);
  if (network) return network.code ? `${network.message} (${network.code})` : network.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** fetch() fails with TypeError("fetch failed") and the socket error as its cause. */
function networkCause(error: unknown): { message: string; code: string | undefined } | undefined {
  if (!(error instanceof TypeError) || error.cause === undefined) return undefined;
  let cause = error.cause as { message?: string; code?: string; errors?: Array<{ message?: string; code?: string }> };
  // Several addresses tried (localhost: ::1 and 127.0.0.1): an AggregateError with an empty message.
  if (!cause.message && cause.errors?.[0]) cause = { ...cause.errors[0], code: cause.code ?? cause.errors[0].code };
  const code = typeof cause.code === 'string' ? cause.code : undefined;
  return { message: cause.message || code || error.message, code };
}

/** Turns what a client call threw into a CliError (argument errors pass through unchanged). */
export function toCliError(error: unknown, url: string): unknown {
  if (error instanceof CliError || isHubError(error)) return error;
  if (error instanceof HubResponseError) return new CliError(error.message, error.code);
  if (error instanceof ContentTypeError || error instanceof DecodeError || error instanceof TimeoutError) {
    return new CliError(error.message, error.code);
  }
  const network = networkCause(error);
  if (network) return new CliError(`cannot reach the hub at ${url}: ${network.message}`, network.code);
  return error;
}

/** The line to print and the exit status for an error that ended a command. */
export function describeError(error: unknown): { text: string; exitCode: number } {
  if (isHubError(error)) return { text: error.message, exitCode: 2 };
  if (error instanceof CliError) return { text: error.code ? `${error.message} (${error.code})` : error.message, exitCode: error.exitCode };
  const known =
    error instanceof HubResponseError ||
    error instanceof ContentTypeError ||
    error instanceof DecodeError ||
    error instanceof TimeoutError ||
    networkCause(error) !== undefined;
  if (known || !(error instanceof Error)) return { text: describeCause(error), exitCode: 1 };
  return { text: error.stack ?? error.message, exitCode: 1 }; // a bug: show where
}

/** The client's retries of one publish (after the first attempt). */
export const PUBLISH_RETRIES = 5;

/**
 * Says on stderr that a publish is being retried, and why, so that a hub that is down is not a
 * silent wait of several seconds; undefined (no notices) with --quiet.
 */
export function retryNotices(quiet: boolean, env: NodeJS.ProcessEnv = process.env): PublishOptions['onRetry'] {
  if (quiet) return undefined;
  const err = styleFor(process.stderr, env);
  return ({ attempt, delayMs, error }) => {
    process.stderr.write(`${err.dim(`ssehub: publish failed: ${describeCause(error)}; retry ${attempt} of ${PUBLISH_RETRIES} in ${(delayMs / 1000).toFixed(1)} s`)}\n`);
  };
}

/** A closed stdout (`| head -1`) ends the command quietly, with status 0. */
export function exitQuietlyOnEpipe(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}

/** Writes to stdout, waiting when the pipe is full (so a slow reader slows us down, not our memory). */
export async function writeOut(text: string): Promise<void> {
  if (!process.stdout.write(text)) {
    await new Promise<void>((resolve) => process.stdout.once('drain', resolve));
  }
}

// ---------------------------------------------------------------------------------------------
// Input

/** Splits a byte stream into lines (LF or CRLF), decoding UTF-8 across chunk boundaries. */
export class LineSplitter {
  readonly #decoder = new StringDecoder('utf8');
  #partial = '';

  /** The complete lines in this chunk, without their line endings. */
  push(chunk: Buffer | string): string[] {
    const text = this.#partial + (typeof chunk === 'string' ? chunk : this.#decoder.write(chunk));
    const lines = text.split('\n');
    this.#partial = lines.pop()!;
    return lines.map(stripCr);
  }

  /** The final line, if the input did not end with a newline. */
  end(): string[] {
    const rest = this.#partial + this.#decoder.end();
    this.#partial = '';
    return rest === '' ? [] : [stripCr(rest)];
  }
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// Publishing many events in order

export interface BatchPublisherOptions extends HubTarget {
  /** Most events in one request (default 100). */
  maxEvents?: number;
  /** Most data characters in one request (default 256 Ki), well under the hub's default 1 MiB body limit. */
  maxChars?: number;
  /** No event waits longer than this for companions before its batch is sent (default 50 ms). */
  lingerMs?: number;
  /** Above this many waiting events, waitForRoom() waits (default 10000). */
  highWater?: number;
  /** Called after each batch is stored, with its events and their ids, in order. */
  onPublished?: (events: readonly PublishEvent[], ids: readonly string[]) => void | Promise<void>;
  /** Called before each retry of a batch (see retryNotices). */
  onRetry?: PublishOptions['onRetry'];
  signal?: AbortSignal;
}

interface Queued {
  event: PublishEvent;
  at: number;
  chars: number;
}

/**
 * Publishes events in the order they were pushed, one request at a time, batching what arrives
 * together: a batch goes out when it is full, or when its oldest event has waited `lingerMs`, or
 * at once when the previous request finished late. After a failure (retries exhausted, or a
 * refusal) it stops: later events are counted as dropped, and `failure` holds the error.
 */
export class BatchPublisher {
  readonly #options: BatchPublisherOptions;
  readonly #queue: Queued[] = [];
  #queuedChars = 0;
  #sending = false;
  #draining = false;
  #timer: NodeJS.Timeout | undefined;
  #idle: Array<() => void> = [];
  #room: Array<() => void> = [];
  #failure: unknown;
  #published = 0;
  #dropped = 0;

  constructor(options: BatchPublisherOptions) {
    this.#options = options;
  }

  get failure(): unknown {
    return this.#failure;
  }

  get published(): number {
    return this.#published;
  }

  /** Events not sent because publishing had failed (including the failed batch). */
  get dropped(): number {
    return this.#dropped;
  }

  get waiting(): number {
    return this.#queue.length;
  }

  push(event: PublishEvent): void {
    if (this.#failure !== undefined) {
      this.#dropped++;
      return;
    }
    const chars = typeof event.data === 'string' ? event.data.length : JSON.stringify(event.data).length;
    this.#queue.push({ event, at: Date.now(), chars });
    this.#queuedChars += chars;
    this.#kick();
  }

  /** Resolves when fewer than `highWater` events wait (at once if already so, or after a failure). */
  waitForRoom(): Promise<void> {
    if (this.#queue.length < (this.#options.highWater ?? 10_000)) return Promise.resolve();
    return new Promise((resolve) => this.#room.push(resolve));
  }

  /** Sends everything pushed so far without further lingering; resolves when it is sent (or publishing failed). */
  drain(): Promise<void> {
    this.#draining = true;
    if (this.#queue.length === 0 && !this.#sending) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.#idle.push(resolve));
    this.#kick();
    return done;
  }

  #due(): boolean {
    const first = this.#queue[0];
    if (first === undefined) return false;
    return (
      this.#draining ||
      this.#queue.length >= (this.#options.maxEvents ?? 100) ||
      this.#queuedChars >= (this.#options.maxChars ?? 256 * 1024) ||
      Date.now() - first.at >= (this.#options.lingerMs ?? 50)
    );
  }

  #kick(): void {
    if (this.#sending) return; // the loop looks again when the request in flight is done
    if (this.#queue.length === 0) {
      this.#settleIdle();
      return;
    }
    if (this.#due()) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = undefined;
      void this.#loop();
    } else if (this.#timer === undefined) {
      const wait = Math.max(0, (this.#options.lingerMs ?? 50) - (Date.now() - this.#queue[0]!.at));
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#kick();
      }, wait);
    }
  }

  async #loop(): Promise<void> {
    this.#sending = true;
    try {
      while (this.#due() && this.#failure === undefined) {
        const batch = this.#take();
        const events = batch.map((item) => item.event);
        try {
          const result = await publish(events, {
            ...clientOptions(this.#options),
            ...(this.#options.signal === undefined ? {} : { signal: this.#options.signal }),
            retries: PUBLISH_RETRIES,
            ...(this.#options.onRetry === undefined ? {} : { onRetry: this.#options.onRetry }),
          });
          this.#published += events.length;
          await this.#options.onPublished?.(events, result.ids);
        } catch (error) {
          this.#failure = error;
          this.#dropped += events.length + this.#queue.length;
          this.#queue.length = 0;
          this.#queuedChars = 0;
        }
        this.#wakeRoom();
      }
    } finally {
      this.#sending = false;
    }
    this.#kick();
  }

  #take(): Queued[] {
    const maxEvents = this.#options.maxEvents ?? 100;
    const maxChars = this.#options.maxChars ?? 256 * 1024;
    const batch: Queued[] = [];
    let chars = 0;
    while (this.#queue.length > 0 && batch.length < maxEvents) {
      const next = this.#queue[0]!;
      if (batch.length > 0 && chars + next.chars > maxChars) break;
      batch.push(this.#queue.shift()!);
      chars += next.chars;
    }
    this.#queuedChars -= chars;
    return batch;
  }

  #wakeRoom(): void {
    if (this.#queue.length >= (this.#options.highWater ?? 10_000)) return;
    const waiting = this.#room;
    this.#room = [];
    for (const resolve of waiting) resolve();
  }

  #settleIdle(): void {
    this.#wakeRoom();
    const waiting = this.#idle;
    this.#idle = [];
    for (const resolve of waiting) resolve();
  }
}
