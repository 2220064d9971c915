/**
 * OPTIONS on any route: the CORS preflight. An allowed origin gets the methods and headers the
 * hub accepts (Authorization, Content-Type, Last-Event-ID); any other origin gets a bare 204,
 * which a browser reads as "no".
 */
import type { Handler } from './context.js';

export const preflight: Handler = ({ req, res }, { access }) => {
  const headers = access.cors.preflightFor(req.headers.origin) ?? {};
  res.writeHead(204, { ...headers, Allow: 'GET, POST, OPTIONS', 'Content-Length': '0' });
  res.end();
};
