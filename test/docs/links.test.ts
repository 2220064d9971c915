/**
 * Every relative link in the documentation leads somewhere: the file (or folder) exists, and an
 * anchor, on this page or another Markdown page, is one of that page's headings. External links
 * (http:, https:, mailto:) are not followed.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { posix } from 'node:path';
import { describe, test } from 'node:test';
import { anchors, documentationFiles, links, readDoc, ROOT, slug } from './markdown.js';

function brokenLinks(page: string): string[] {
  const broken: string[] = [];
  for (const { line, target } of links(readDoc(page))) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
    const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
    const file = pathPart === '' ? page : posix.normalize(posix.join(posix.dirname(page), decodeURIComponent(pathPart)));
    const where = `${page}:${line} → ${target}`;
    if (file.startsWith('..') || !existsSync(`${ROOT}${file}`)) {
      broken.push(`${where}: no file ${file}`);
      continue;
    }
    if (anchor !== undefined && anchor !== '' && file.endsWith('.md') && !anchors(readDoc(file)).has(decodeURIComponent(anchor))) {
      broken.push(`${where}: no heading #${anchor} in ${file}`);
    }
  }
  return broken;
}

describe('documentation links', () => {
  test('the anchors are GitHub\'s', () => {
    assert.equal(slug('Using every core: `--workers N`'), 'using-every-core---workers-n');
    assert.equal(slug('Forward auth (--auth-url)'), 'forward-auth---auth-url');
    assert.equal(slug('HTTP/2 and TLS'), 'http2-and-tls');
    assert.equal(slug('The client: `ssehub/client`'), 'the-client-ssehubclient');
  });

  test('the checker sees a broken link', () => {
    assert.ok(links('see [x](docs/nowhere.md#here) and `[y](z)`').length === 1);
  });

  for (const page of documentationFiles()) {
    test(`every relative link in ${page} resolves`, () => {
      assert.deepEqual(brokenLinks(page), []);
    });
  }
});
