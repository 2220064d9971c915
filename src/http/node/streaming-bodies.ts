/**
 * The requests whose body is a long-lived stream (a streaming publish: POST /publish with
 * application/x-ndjson). --request-timeout bounds the time to receive a whole request, which such a
 * body never is; the stream applies its own idle timeout instead (publish-stream.ts), so the
 * request-timeout guards (server.ts for HTTP/1.1, http2-timeouts.ts for HTTP/2) pass these by.
 */
const streaming = new WeakSet<object>();

/** Marks the request once its route has answered that it reads the body as a stream. */
export function markStreamingBody(req: object): void {
  streaming.add(req);
}

export function isStreamingBody(req: object | undefined | null): boolean {
  return req !== undefined && req !== null && streaming.has(req);
}
