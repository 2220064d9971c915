/**
 * Requests to the process at the other end of an IpcPort, each answered by one reply with the same
 * id: the requests waiting for their replies, their timeouts, and failing them all at once when the
 * channel closes. A worker of `ssehub serve --workers N` asks its primary through it, for the engine
 * (ipc.ts) and for the limits the primary keeps (cluster/shared-limits.ts).
 *
 * On the wire a request is `{ssehub: <tag>, type: 'request', client, id, call}` and its reply
 * `{ssehub: <tag>, type: 'reply', client, id, ok, value | error}`; `client` tells apart the
 * requesters that share one channel, and each tag is read by its own host.
 */
import { randomBytes } from 'node:crypto';
import { fromRemoteError, type IpcPort, type RemoteError } from './ipc-protocol.js';

/** What every reply carries, whatever else its protocol adds. */
export type IpcReply = { client: string; id: number } & ({ ok: true; value?: unknown } | { ok: false; error: RemoteError });

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export interface IpcRequestsOptions {
  /** Tags this protocol's messages on the shared channel (e.g. "engine"). */
  tag: string;
  /** How long a request waits for its reply unless told otherwise. */
  timeoutMs: number;
  /** The error a request fails with when the other process cannot answer (503, so that clients retry). */
  unavailable(detail: string): Error;
}

export class IpcRequests {
  /** This requester's id on the channel: replies that carry another are not its own. */
  readonly client = randomBytes(6).toString('hex');
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Why requests fail at once: set when the channel closes or the requester is closed. */
  private gone: string | undefined;

  constructor(
    private readonly port: IpcPort,
    private readonly options: IpcRequestsOptions,
  ) {
    if (!port.connected) this.gone = 'no IPC channel to a primary process';
  }

  /** Sends a call; resolves with the reply's value, or rejects with its error, options.unavailable() when none comes in time. */
  request(call: unknown, timeoutMs = this.options.timeoutMs): Promise<unknown> {
    if (this.gone !== undefined) return Promise.reject(this.options.unavailable(this.gone));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(this.options.unavailable(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, reject, timer });
      const message = { ssehub: this.options.tag, type: 'request', client: this.client, id, call };
      this.port.post(message, (error) => this.settle(id, undefined, this.options.unavailable(error.message)));
    });
  }

  /** Settles the request a reply answers; false when the reply belongs to another requester. */
  receiveReply(reply: IpcReply): boolean {
    if (reply.client !== this.client) return false;
    if (reply.ok) this.settle(reply.id, reply.value);
    else this.settle(reply.id, undefined, fromRemoteError(reply.error));
    return true;
  }

  /** Fails every waiting request, and every later one, with options.unavailable(reason). */
  fail(reason: string): void {
    this.gone ??= reason;
    for (const [id] of this.pending) this.settle(id, undefined, this.options.unavailable(reason));
  }

  private settle(id: number, value: unknown, error?: Error): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return; // timed out already
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if (error === undefined) pending.resolve(value);
    else pending.reject(error);
  }
}
