/**
 * What the workers of `ssehub serve --workers N` and their primary say to each other about the
 * per-client limits, which the primary keeps for all of them (limits-host.ts) and the workers ask
 * for (shared-limits.ts). Requests and replies are framed as the engine's are (engines/ipc-requests.ts),
 * tagged `limits`.
 *
 * Worker to primary: the requests `openStream` (take the slots of one stream, held under a lease
 * number the worker chose) and `charge` (a publish's cost, for a worker whose engine does not
 * carry it with the append), and the one-way `release` of a lease when its stream closes.
 * Primary to worker: the replies, nothing else.
 */
import type { PublishCharge } from '../auth/limits.js';
import type { IpcReply } from '../engines/ipc-requests.js';

export const LIMITS_MESSAGE = 'limits';

export type LimitsCall =
  | { op: 'openStream'; lease: number; ip: string; subject?: string }
  | { op: 'charge'; charge: PublishCharge };

export interface LimitsRequest {
  ssehub: typeof LIMITS_MESSAGE;
  type: 'request';
  client: string;
  id: number;
  call: LimitsCall;
}

/** A stream's slots are given back; also sent for a lease whose request failed, in case the primary took its slots after all. */
export interface LimitsRelease {
  ssehub: typeof LIMITS_MESSAGE;
  type: 'release';
  client: string;
  lease: number;
}

export type LimitsReply = { ssehub: typeof LIMITS_MESSAGE; type: 'reply' } & IpcReply;

export type LimitsMessage = LimitsRequest | LimitsRelease | LimitsReply;

export function isLimitsMessage(message: unknown): message is LimitsMessage {
  return typeof message === 'object' && message !== null && (message as { ssehub?: unknown }).ssehub === LIMITS_MESSAGE;
}
