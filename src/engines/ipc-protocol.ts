/**
 * What the IpcEngine (in a worker process, ipc.ts) and the IpcEngineHost (in the primary process,
 * ipc-host.ts) say to each other over Node's IPC channel, and the channel itself seen from either
 * end. Messages are plain JSON: selectors travel as their source strings, errors as their status,
 * code and message.
 *
 * Worker to primary: requests `{ssehub: 'engine', type: 'request', client, id, call}`.
 * Primary to worker: replies `{type: 'reply', client, id, value | error, stats}`, the delivered
 * events `{type: 'deliver', events}` and fresh figures `{type: 'stats', stats}`. Requests and
 * replies are those of every protocol on the channel (ipc-requests.ts).
 *
 * The channel is FIFO in each direction, which the resume seam relies on: the primary sends every
 * event to every worker before it sends any reply computed after that event was stored.
 */
import type { ChildProcess } from 'node:child_process';
import type { Worker } from 'node:cluster';
import { HubError } from '../errors.js';
import type { AppendOptions, EngineStats, NewEvent, StoredEvent } from './engine.js';

/** Tags the engine's messages, so that other messages on the same channel pass them by. */
export const ENGINE_MESSAGE = 'engine';

export type KeyValueMethod = 'setOnce' | 'take' | 'get' | 'set' | 'delete' | 'increment';
export const KEY_VALUE_METHODS: ReadonlySet<string> = new Set<KeyValueMethod>(['setOnce', 'take', 'get', 'set', 'delete', 'increment']);

/** One Engine (or KeyValueStore) call, as it crosses the channel. */
export type EngineCall =
  | { op: 'hello' }
  | { op: 'append'; events: NewEvent[]; options: AppendOptions }
  | { op: 'history'; selectors: string[]; afterId: string }
  | { op: 'position' }
  | { op: 'health'; timeoutMs: number }
  | { op: 'kv'; method: KeyValueMethod; args: Array<string | number> };

/** The answer to hello: the engine's epoch (to read ids), where it stands, and whether appends are charged to the publish rates there. */
export interface HelloReply {
  epoch: string;
  position: string;
  /** The host checks AppendOptions.charge before storing (see Engine.checksPublishCharges). */
  checksPublishCharges: boolean;
}

/** An error as it crosses the channel: a HubError keeps its status, code, message and headers. */
export interface RemoteError {
  hub: boolean;
  status: number;
  code: string;
  message: string;
  headers?: Record<string, string>;
  stack?: string;
}

export interface EngineRequest {
  ssehub: typeof ENGINE_MESSAGE;
  type: 'request';
  /** Which IpcEngine asked (several may share one channel); replies carry it back. */
  client: string;
  id: number;
  call: EngineCall;
}

export type EngineReply = {
  ssehub: typeof ENGINE_MESSAGE;
  type: 'reply';
  client: string;
  id: number;
  stats: EngineStats;
} & ({ ok: true; value?: unknown } | { ok: false; error: RemoteError });

export interface EngineDelivery {
  ssehub: typeof ENGINE_MESSAGE;
  type: 'deliver';
  events: StoredEvent[];
}

export interface EngineStatsUpdate {
  ssehub: typeof ENGINE_MESSAGE;
  type: 'stats';
  stats: EngineStats;
}

export type EngineMessage = EngineRequest | EngineReply | EngineDelivery | EngineStatsUpdate;

export function isEngineMessage(message: unknown): message is EngineMessage {
  return typeof message === 'object' && message !== null && (message as { ssehub?: unknown }).ssehub === ENGINE_MESSAGE;
}

export function toRemoteError(error: unknown): RemoteError {
  if (error instanceof HubError) {
    const remote: RemoteError = { hub: true, status: error.status, code: error.code, message: error.message };
    if (error.headers !== undefined) remote.headers = error.headers;
    return remote;
  }
  const message = error instanceof Error ? error.message : String(error);
  const remote: RemoteError = { hub: false, status: 500, code: 'internal_error', message };
  if (error instanceof Error && error.stack !== undefined) remote.stack = error.stack;
  return remote;
}

/** A HubError comes back as the same HubError; anything else as a plain Error (a bug: the HTTP layer answers 500). */
export function fromRemoteError(remote: RemoteError): Error {
  if (remote.hub) return new HubError(remote.status, remote.code, remote.message, remote.headers);
  const error = new Error(remote.message);
  if (remote.stack !== undefined) error.stack = remote.stack;
  return error;
}

/** One end of an IPC channel, the same whether it is `process` in a child or the child seen from its parent. */
export interface IpcPort {
  /** Sends a message in order; `failed` is called if the channel is closed or the send fails. */
  post(message: unknown, failed?: (error: Error) => void): void;
  /** Calls the listener with every message; returns a function that stops it. */
  listen(listener: (message: unknown) => void): () => void;
  /** Calls the listener once the channel closes (the other process is gone or let go); returns a function that stops it. */
  onClose(listener: () => void): () => void;
  readonly connected: boolean;
}

/** The channel to this process's parent (a cluster worker's primary, or a forked child's parent). */
export function parentPort(child: NodeJS.Process = process): IpcPort {
  return portOver(child, () => child.connected === true && child.send !== undefined, (message, done) => child.send!(message, undefined, undefined, done), 'parent');
}

/** The channel to a child: a cluster Worker or a process started with child_process.fork. */
export function childPort(child: Worker | ChildProcess): IpcPort {
  const isOpen = (): boolean => ('isConnected' in child ? child.isConnected() : child.connected);
  return portOver(child, isOpen, (message, done) => child.send(message as never, done), 'child');
}

/** An IpcPort over whatever emits 'message' and 'disconnect' and can send with a callback. */
function portOver(
  emitter: NodeJS.EventEmitter,
  isOpen: () => boolean,
  send: (message: unknown, done: (error: Error | null) => void) => void,
  other: 'parent' | 'child',
): IpcPort {
  return {
    post(message, failed) {
      if (!isOpen()) {
        failed?.(new Error(`the IPC channel to the ${other} process is closed`));
        return;
      }
      send(message, (error) => {
        if (error) failed?.(error);
      });
    },
    listen(listener) {
      emitter.on('message', listener);
      return () => emitter.off('message', listener);
    },
    onClose(listener) {
      emitter.once('disconnect', listener);
      return () => emitter.off('disconnect', listener);
    },
    get connected() {
      return isOpen();
    },
  };
}
