/**
 * The control messages between the primary process of `ssehub serve --workers N` and its workers,
 * on the cluster's IPC channel (the engine's own messages share it; see engines/ipc-protocol.ts).
 *
 * Worker to primary: `listening` once its hub serves, or `failed` if it could not start.
 * Primary to worker: `shutdown`, to close gracefully (as on SIGTERM) and exit 0.
 */
import type { RemoteError } from '../engines/ipc-protocol.js';

export const CONTROL_MESSAGE = 'control';

export type ControlMessage =
  | { ssehub: typeof CONTROL_MESSAGE; type: 'listening'; url: string; protocols: string; metricsUrl?: string | undefined }
  | { ssehub: typeof CONTROL_MESSAGE; type: 'failed'; error: RemoteError }
  | { ssehub: typeof CONTROL_MESSAGE; type: 'shutdown'; signal: string };

export function isControlMessage(message: unknown): message is ControlMessage {
  return typeof message === 'object' && message !== null && (message as { ssehub?: unknown }).ssehub === CONTROL_MESSAGE;
}
