/** Errors the client reports. Each carries a stable `code`, like the hub's own error responses. */

/** The hub answered with an error status. `code` and `message` come from its JSON error body. */
export class HubResponseError extends Error {
  override readonly name = 'HubResponseError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds from a `Retry-After` header, when the hub sent one. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** A stream answered 2xx with a content type other than `text/event-stream` (a proxy's login page, say). */
export class ContentTypeError extends Error {
  override readonly name = 'ContentTypeError';
  readonly code = 'not_event_stream';
  constructor(readonly contentType: string) {
    super(`The server answered with "${contentType || 'no content type'}" instead of text/event-stream; not retrying.`);
  }
}

/** Nothing, not even the hub's heartbeat, arrived for too long: the connection is taken for dead and replaced. */
export class IdleTimeoutError extends Error {
  override readonly name = 'IdleTimeoutError';
  readonly code = 'idle_timeout';
  constructor(readonly idleMs: number) {
    super(`Nothing arrived for ${idleMs} ms (not even a heartbeat): the connection is taken for dead; reconnecting.`);
  }
}

/**
 * The hub ended the stream with ssehub.revoked: a disconnect named its subject, its token or one of
 * its topics (POST /admin/disconnect; "log out everywhere"). Final: the subscription does not
 * reconnect, as for a 401 or a 403.
 */
export class RevokedError extends Error {
  override readonly name = 'RevokedError';
  readonly code = 'revoked';
  constructor(
    /** The criterion the disconnect named, as the hub sent it: { subject } | { topic } | { tokenId }, or {} if unreadable. */
    readonly criterion: { subject?: string; topic?: string; tokenId?: string },
  ) {
    super(`The hub revoked this stream (${describeCriterion(criterion)}); not reconnecting.`);
  }
}

function describeCriterion(criterion: { subject?: string; topic?: string; tokenId?: string }): string {
  if (criterion.subject !== undefined) return `subject "${criterion.subject}"`;
  if (criterion.tokenId !== undefined) return `token "${criterion.tokenId}"`;
  if (criterion.topic !== undefined) return `topic "${criterion.topic}"`;
  return 'no reason given';
}

/** An event's data could not be decoded (for instance `decode: 'json'` and data that is not JSON). */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  readonly code = 'decode_failed';
  constructor(
    readonly eventId: string,
    readonly eventType: string,
    cause: unknown,
  ) {
    super(`Could not decode the data of event ${eventId || '(no id)'} of type "${eventType}": ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Reads a hub error response into a HubResponseError (any body that is not the hub's shape still gives one). */
export async function responseError(response: Response): Promise<HubResponseError> {
  let code = `http_${response.status}`;
  let message = `${response.status} ${response.statusText}`.trim();
  try {
    const body = (await response.json()) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === 'string') code = body.error.code;
    if (typeof body.error?.message === 'string') message = body.error.message;
  } catch {
    // Not JSON (a proxy's HTML page, an empty body): keep the status line.
  }
  return new HubResponseError(response.status, code, message, retryAfterSeconds(response.headers.get('retry-after')));
}

/** `Retry-After` as seconds (delta-seconds or an HTTP date), or undefined. */
export function retryAfterSeconds(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}
