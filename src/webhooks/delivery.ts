/**
 * One webhook request, and what its answer means. 2xx: delivered. 408 (the receiver timed out
 * reading), 425 (too early), 429 (too many requests: its Retry-After is honoured) and 5xx: the
 * receiver may take it later, so it is retried, as are requests that got no answer (refused, reset,
 * timed out). Any other answer (another 4xx, or a redirect: configure the final URL) says that the
 * request itself is wrong, so retrying the same request cannot help: it is dropped and logged.
 */
import { signWebhook } from './signature.js';

export type AttemptOutcome =
  | { result: 'delivered'; status: number }
  | { result: 'retry'; status?: number; detail: string; retryAfterMs?: number }
  | { result: 'rejected'; status: number };

export interface WebhookRequest {
  url: string;
  /** The webhook-id header: the same on every attempt, so that the receiver can tell a repeat. */
  id: string;
  body: string;
}

const RETRIED_STATUSES = new Set([408, 425, 429]);

export async function attemptDelivery(request: WebhookRequest, keys: readonly Buffer[], timeoutMs: number, signal: AbortSignal): Promise<AttemptOutcome> {
  // Each attempt is signed anew: receivers refuse a timestamp that is too old.
  const timestamp = Math.floor(Date.now() / 1000);
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'ssehub-webhooks',
        'webhook-id': request.id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signWebhook(keys, request.id, timestamp, request.body),
      },
      body: request.body,
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    });
    // The body is read and thrown away, so that the connection can carry the next request.
    await response.arrayBuffer();
  } catch (error) {
    const cause = (error as Error & { cause?: { code?: string } }).cause;
    return { result: 'retry', detail: cause?.code ?? (error as Error).name ?? String(error) };
  }
  const { status } = response;
  if (status >= 200 && status < 300) return { result: 'delivered', status };
  if (status >= 500 || RETRIED_STATUSES.has(status)) {
    const retryAfterMs = retryAfterOf(response.headers.get('retry-after'));
    return { result: 'retry', status, detail: `HTTP ${status}`, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  }
  return { result: 'rejected', status };
}

/** Retry-After in seconds or as an HTTP date, in milliseconds from now. */
function retryAfterOf(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = /^\d+$/.test(header.trim()) ? Number(header) * 1000 : Date.parse(header) - Date.now();
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined;
}

/** The longest wait between two attempts. */
export const MAX_RETRY_WAIT_MS = 5 * 60_000;

/**
 * The wait before retry number `retry` (1 for the first): the base doubled each time, capped, and
 * drawn between half and all of that ("equal jitter"), so that many webhooks that failed together
 * do not all come back at once.
 */
export function retryWait(retry: number, baseMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_RETRY_WAIT_MS, baseMs * 2 ** Math.min(retry - 1, 30));
  return ceiling / 2 + random() * (ceiling / 2);
}
