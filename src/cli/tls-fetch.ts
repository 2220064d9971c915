/**
 * A fetch for --cacert and --insecure. Node's global fetch takes no TLS options (only an undici
 * dispatcher, and undici is not a public module of Node 20), so requests to an https: hub go
 * through node:https with the CA or the relaxed check; anything else goes to the global fetch.
 * Failures look like fetch's: TypeError("fetch failed") with the socket error as its cause.
 */
import { Agent, request } from 'node:https';
import { Readable } from 'node:stream';

export interface TlsOptions {
  /** PEM text of the certificate(s) to trust (instead of the system's). */
  ca?: string;
  /** false: accept any certificate (--insecure). */
  rejectUnauthorized: boolean;
}

export function tlsFetch(options: TlsOptions): typeof globalThis.fetch {
  const agent = new Agent({ rejectUnauthorized: options.rejectUnauthorized, ...(options.ca === undefined ? {} : { ca: options.ca }) });
  const fetchOverHttps = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.protocol !== 'https:') return globalThis.fetch(input, init);
    const body = init.body ?? undefined;
    if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) {
      return Promise.reject(new TypeError('tlsFetch sends string or byte bodies only'));
    }
    const signal = init.signal ?? undefined;
    return new Promise<Response>((resolve, reject) => {
      const outgoing = request(url, { method: init.method ?? 'GET', headers: Object.fromEntries(new Headers(init.headers).entries()), agent, ...(signal ? { signal } : {}) }, (incoming) => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(incoming.headers)) {
          for (const each of value === undefined ? [] : Array.isArray(value) ? value : [value]) headers.append(name, each);
        }
        const status = incoming.statusCode ?? 502;
        const empty = status === 204 || status === 304 || init.method === 'HEAD';
        if (empty) incoming.resume();
        resolve(new Response(empty ? null : (Readable.toWeb(incoming) as ReadableStream<Uint8Array>), { status, statusText: incoming.statusMessage ?? '', headers }));
      });
      outgoing.on('error', (error) => reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: error })));
      outgoing.end(body);
    });
  };
  return fetchOverHttps as typeof globalThis.fetch;
}
