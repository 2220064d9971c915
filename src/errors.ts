/**
 * The one error type of the hub. It carries the HTTP status a client will see and a stable,
 * machine-readable code; the HTTP layer turns it into a JSON body `{ error: { code, message } }`.
 * Nothing else builds error bodies. This file imports nothing so every module may use it.
 */
export class HubError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string> | undefined;

  constructor(status: number, code: string, message: string, headers?: Record<string, string>) {
    super(message);
    this.name = 'HubError';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

export function isHubError(value: unknown): value is HubError {
  return value instanceof HubError;
}
