/**
 * The Fetch door: `hub.fetch(request)` serves the hub's HTTP API as a Fetch handler, on Node 20's
 * global Request and Response, for frameworks and runtimes built on them (Hono, Next.js route
 * handlers, Bun, Deno). The same routes as every other door; an event stream is the Response's
 * ReadableStream body (readable-sink.ts), ended when the request's signal aborts.
 *
 * A Request carries no peer address: the caller passes the client's address when it knows it
 * (`{ clientAddress }`); without one, per-IP stream limits and anonymous publish rates count every
 * such client under one key, "unknown".
 */
import type { IncomingHttpHeaders } from 'node:http';
import { HubError, isHubError } from '../../errors.js';
import { decodeBody, tooLarge } from '../body.js';
import { isStreamAnswer, type Answer, type BodyStream, type RouteContext, type RouteRequest } from '../context.js';
import { asHubError, errorAnswer } from '../respond.js';
import { readableSink } from './readable-sink.js';
import { mountPath, resolveTarget, targetBelow, type ResolvedRoute } from '../routes.js';

export interface FetchInfo {
  /** The client's address, as the framework knows it (e.g. Hono's getConnInfo). */
  clientAddress?: string;
}

export type FetchHandler = (request: Request, info?: FetchInfo) => Promise<Response>;

export function fetchDoor(context: RouteContext, options: { basePath?: string } = {}): FetchHandler {
  const basePath = mountPath(options.basePath);
  return (request, info) => serve(request, info, context, basePath);
}

async function serve(request: Request, info: FetchInfo | undefined, context: RouteContext, basePath: string): Promise<Response> {
  const headers = headersOf(request.headers);
  const cors = context.access.cors.headersFor(headers.origin as string | undefined);
  try {
    const url = new URL(request.url);
    const target = targetBelow(url.pathname + url.search, basePath);
    if (target === undefined) throw new HubError(404, 'not_found', `No route for ${url.pathname}.`);
    const route = resolveTarget(request.method, target, context.config);
    const answer = await route.handler(routeRequest(request, headers, target, url.protocol === 'https:', route, info), context);
    if (!isStreamAnswer(answer)) return responseOf(answer, cors, request.method);
    const { readable, sink } = readableSink(request.signal);
    answer.open(sink);
    return new Response(readable, { status: 200, headers: { ...cors, ...answer.headers } });
  } catch (error) {
    const hubError = asHubError(error, (unexpected) => context.logger.error({ err: unexpected, method: request.method }, 'request failed'));
    return responseOf(errorAnswer(hubError), cors, request.method);
  }
}

function responseOf(answer: Answer, cors: Readonly<Record<string, string>>, method: string): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(cors)) headers.set(name, value);
  // Content-Length is the runtime's to set from the body.
  for (const [name, value] of Object.entries(answer.headers)) if (name.toLowerCase() !== 'content-length') headers.set(name, String(value));
  const body = method === 'HEAD' || answer.body === undefined ? null : (answer.body as BodyInit);
  return new Response(body, { status: answer.status, headers });
}

/** The headers as node:http gives them: names in lower case, one string per name. */
function headersOf(headers: Headers): IncomingHttpHeaders {
  const result: Record<string, string> = {};
  headers.forEach((value, name) => (result[name] = value));
  return result;
}

function routeRequest(request: Request, headers: IncomingHttpHeaders, target: string, encrypted: boolean, route: ResolvedRoute, info: FetchInfo | undefined): RouteRequest {
  return {
    method: request.method,
    url: target,
    headers,
    socket: { remoteAddress: info?.clientAddress ?? 'unknown', encrypted },
    query: route.query,
    rest: route.rest,
    path: route.path,
    readBody: (maxBytes) => readRequestBody(request, headers, maxBytes),
    readBodyStream: () => readRequestBodyStream(request),
    gone: () => request.signal.aborted,
    original: request,
  };
}

/** The body as UTF-8 text, read no further than maxBytes (413 past it). */
async function readRequestBody(request: Request, headers: IncomingHttpHeaders, maxBytes: number): Promise<string> {
  const declared = headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge(maxBytes);
  if (request.body === null) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        throw tooLarge(maxBytes);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (isHubError(error)) throw error;
    throw new HubError(400, 'request_aborted', 'The request body was cut off before it was complete.');
  }
  return decodeBody(Buffer.concat(chunks), maxBytes);
}

/**
 * The body as the runtime hands it over, chunk by chunk. Whether a chunk arrives before the whole
 * body has depends on the framework: @hono/node-server streams it; a runtime that buffers request
 * bodies hands the lines over only once the client has ended its request.
 */
function readRequestBodyStream(request: Request): BodyStream {
  const reader = request.body?.getReader();
  return {
    next: async () => {
      if (reader === undefined) return undefined;
      try {
        const { done, value } = await reader.read();
        return done ? undefined : value;
      } catch {
        throw new HubError(400, 'request_aborted', 'The request body was cut off before it was complete.');
      }
    },
    stop: () => void reader?.cancel().catch(() => {}),
  };
}
