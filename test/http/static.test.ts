/**
 * The dashboard's static files over real HTTP: the pages and web/assets/ are served byte for byte
 * with their headers, nothing outside web/ is reachable however the path is written, and with
 * --dashboard false none of it exists. The files are whatever web/ holds: read from disk here.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { PAGE_CSP } from '../../src/http/static.js';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { httpRequest } from '../support/http.js';
import { parseResponses, rawRequest } from '../support/raw-http.js';

const WEB = new URL('../../web/', import.meta.url);
const webFile = (path: string): Buffer => readFileSync(new URL(path, WEB));

/** GET that keeps the body as bytes. */
async function getBytes(url: string, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('dashboard static files', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub();
  });
  after(() => hub.close());

  test('GET / is web/index.html, byte for byte, with the page headers', async () => {
    const reply = await getBytes(`${hub.url}/`);
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body, webFile('index.html'));
    assert.equal(reply.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(reply.headers['content-length'], String(webFile('index.html').byteLength));
    assert.equal(reply.headers['cache-control'], 'no-cache');
    assert.equal(reply.headers['x-content-type-options'], 'nosniff');
    assert.equal(reply.headers['content-security-policy'], PAGE_CSP);
    assert.match(PAGE_CSP, /script-src 'self'/);
    assert.match(PAGE_CSP, /frame-ancestors 'none'/);
  });

  test('each demo page is web/demos/<name>.html', async () => {
    // Every demo has its page, and every page in web/demos/ is served.
    const pages = readdirSync(new URL('demos/', WEB)).filter((name) => name.endsWith('.html')).map((name) => name.slice(0, -'.html'.length));
    assert.deepEqual(pages.sort(), ['ai', 'chat', 'jobs', 'logs', 'notifications']);
    for (const name of pages) {
      const reply = await getBytes(`${hub.url}/demos/${name}`);
      const expected = webFile(`demos/${name}.html`);
      assert.equal(reply.status, 200, name);
      assert.deepEqual(reply.body, expected, name);
      assert.equal(reply.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(reply.headers['content-security-policy'], PAGE_CSP);
    }
  });

  test('every file in web/assets/ is served with its content type, and no CSP on non-pages', async () => {
    const types: Record<string, string> = {
      js: 'text/javascript; charset=utf-8',
      css: 'text/css; charset=utf-8',
      svg: 'image/svg+xml',
      png: 'image/png',
      json: 'application/json; charset=utf-8',
    };
    const names = readdirSync(new URL('assets/', WEB)).filter((name) => /^[a-z0-9][a-z0-9._-]*$/i.test(name));
    assert.ok(names.length > 0, 'web/assets/ has files');
    for (const name of names) {
      const extension = name.slice(name.lastIndexOf('.') + 1);
      if (types[extension] === undefined) continue;
      const reply = await getBytes(`${hub.url}/assets/${name}`);
      assert.equal(reply.status, 200, name);
      assert.deepEqual(reply.body, webFile(`assets/${name}`), name);
      assert.equal(reply.headers['content-type'], types[extension], name);
      assert.equal(reply.headers['x-content-type-options'], 'nosniff');
      assert.equal(reply.headers['cache-control'], 'no-cache');
      assert.equal(reply.headers['content-security-policy'], undefined);
    }
  });

  test('HEAD answers with the headers of GET and no body', async () => {
    const reply = await getBytes(`${hub.url}/`, 'HEAD');
    assert.equal(reply.status, 200);
    assert.equal(reply.body.byteLength, 0);
    assert.equal(reply.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(reply.headers['content-length'], String(webFile('index.html').byteLength));
    // On a kept-alive connection, the next answer is not mistaken for a body.
    const { data } = await rawRequest(hub.port, ['HEAD / HTTP/1.1\r\nHost: hub\r\n\r\nGET /livez HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n'], { timeoutMs: 5000 });
    const { responses } = parseResponses(data, new Set([0]));
    assert.deepEqual(responses.map((r) => r.status), [200, 200]);
    assert.equal(responses[1]!.body.toString(), '{"status":"ok"}\n');
  });

  test('a missing page or asset is a JSON 404', async () => {
    const reply = await httpRequest(`${hub.url}/assets/no-such-file.js`);
    assert.equal(reply.status, 404);
    assert.equal(reply.json().error.code, 'not_found');
    assert.equal((await httpRequest(`${hub.url}/demos/nope`)).status, 404);
    assert.equal((await httpRequest(`${hub.url}/index.html`)).status, 404);
  });

  test('nothing outside web/assets/ can be named, however the path is written', async () => {
    const secret = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    const targets = [
      '/assets/../package.json',
      '/assets/../../package.json',
      '/assets/..%2f..%2fpackage.json',
      '/assets/..%2fpackage.json',
      '/assets/%2e%2e/package.json',
      '/assets/%2e%2e%2fpackage.json',
      '/assets/%2E%2E%2Fpackage.json',
      '/assets/..%5cpackage.json',
      '/assets/.%2e/.%2e/package.json',
      '/assets/%252e%252e%252fpackage.json',
      '/assets/',
      '/assets/.',
      '/assets/..',
      '/assets/.hidden',
      '/assets/style.css/',
      '/assets/style.css%00.js',
      '/assets/..\\package.json',
      '/assets//etc/passwd',
      '/assets/%2fetc%2fpasswd',
      '/assets/../../../../etc/passwd',
      '/assets/../src/config.ts',
      '/assets/../index.html',
      '/demos/../package.json',
      '/../package.json',
      '/%2e%2e/package.json',
    ];
    for (const target of targets) {
      const { data } = await rawRequest(hub.port, [`GET ${target} HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n`], { timeoutMs: 5000 });
      const [response] = parseResponses(data).responses;
      assert.ok(response, `${target}: no answer`);
      assert.ok(response.status === 404 || response.status === 400, `${target} answered ${response.status}`);
      assert.equal(JSON.parse(response.body.toString()).error.code, response.status === 404 ? 'not_found' : 'bad_request', target);
      const body = response.body.toString();
      assert.ok(!body.includes('"devDependencies"') && !body.includes(secret.slice(0, 40)) && !body.includes('root:'), target);
    }
  });

  test('other methods are 405 with Allow', async () => {
    const reply = await httpRequest(`${hub.url}/assets/style.css`, { method: 'DELETE' });
    assert.equal(reply.status, 405);
    assert.equal(reply.headers.allow, 'GET, HEAD');
  });
});

describe('dashboard off (--dashboard false)', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ dashboard: false });
  });
  after(() => hub.close());

  test('the pages and assets are 404, whatever the method', async () => {
    for (const path of ['/', '/demos/jobs', '/demos/chat', '/assets/style.css']) {
      for (const method of ['GET', 'HEAD', 'POST']) {
        const reply = await httpRequest(`${hub.url}${path}`, { method });
        assert.equal(reply.status, 404, `${method} ${path}`);
        if (method !== 'HEAD') assert.equal(reply.json().error.code, 'not_found');
      }
    }
    assert.equal((await httpRequest(`${hub.url}/healthz`)).status, 200, 'the API is still there');
  });
});
