/**
 * The dashboard and demo pages: static files from the package's web/ folder (GET and HEAD), served
 * when --dashboard is on. Only a fixed set of pages and the flat web/assets/ folder are reachable:
 * a file name is checked against ASSET_NAME before it is joined to a path, so no request can name
 * a file outside web/ ("..", "/", "\" and percent-encoding cannot pass the check).
 *
 * Files are read at request time: they are small, and a page edited on disk is served at once.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { HubError } from '../errors.js';
import type { Answer, Handler } from './context.js';

/** web/ at the package root: this file is src/http/static.ts (tsx) or dist/http/static.js (built). */
export const WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

/** The pages, by URL path. */
export const PAGES = {
  '/': 'index.html',
  '/demos/jobs': 'demos/jobs.html',
  '/demos/logs': 'demos/logs.html',
  '/demos/notifications': 'demos/notifications.html',
  '/demos/chat': 'demos/chat.html',
  '/demos/ai': 'demos/ai.html',
} as const satisfies Record<string, string>;

/** A file directly in web/assets/: no separators, no leading dot (so never "." or ".."). */
const ASSET_NAME = /^[a-z0-9][a-z0-9._-]*$/i;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  json: 'application/json; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
  txt: 'text/plain; charset=utf-8',
};

/** Pages are same-origin with the API: scripts, styles and connections (EventSource, fetch) to 'self' only. */
export const PAGE_CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/** The handler for one page: a fixed file under web/. */
export function page(path: keyof typeof PAGES): Handler {
  const file = PAGES[path];
  return async () => fileAnswer(file, path);
}

export const serveAsset: Handler = async ({ rest }) => {
  if (!ASSET_NAME.test(rest)) throw notFound(`/assets/${rest}`);
  return fileAnswer(`assets/${rest}`, `/assets/${rest}`);
};

async function fileAnswer(file: string, shown: string): Promise<Answer> {
  const extension = file.slice(file.lastIndexOf('.') + 1).toLowerCase();
  const type = CONTENT_TYPES[extension];
  if (type === undefined) throw notFound(shown); // a file of a type the hub does not serve
  let body: Buffer;
  try {
    body = await readFile(WEB_ROOT + file);
  } catch {
    throw notFound(shown); // missing, or a directory
  }
  const headers: Record<string, string | number> = {
    'Content-Type': type,
    'Content-Length': body.byteLength,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  };
  if (extension === 'html') headers['Content-Security-Policy'] = PAGE_CSP;
  return { status: 200, headers, body }; // a HEAD gets the same headers and no body
}

function notFound(path: string): HubError {
  return new HubError(404, 'not_found', `No route for ${path}.`);
}
