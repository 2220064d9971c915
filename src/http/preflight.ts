/**
 * OPTIONS on any route: the CORS preflight. An allowed origin gets the methods and headers the
 * hub accepts (Authorization, Content-Type, Last-Event-ID); any other origin gets a bare 204,
 * which a browser reads as "no".
 */
import type { Handler } from './context.js';

export const preflight: Handler = (request, { access }) => {
  const headers = access.cors.preflightFor(request.headers.origin) ?? {};
  return { status: 204, headers: { ...headers, Allow: 'GET, POST, OPTIONS', 'Content-Length': '0' } };
};
