/** The package as npm sees it: its scripts, what `npm pack` ships, and how consumers resolve it. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { loadConfig } from '../src/config.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };

describe('package.json', () => {
  test('npm start listens where SSEHUB_PORT and SSEHUB_HOST say: its serve command sets no --port or --host', () => {
    const serve = pkg.scripts.start!.split('&&').at(-1)!.trim().split(/\s+/);
    const args = serve.slice(serve.indexOf('serve') + 1);
    const config = loadConfig(args, { SSEHUB_PORT: '9508', SSEHUB_HOST: '0.0.0.0' });
    assert.equal(config.port, 9508);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(loadConfig(args, {}).port, 8080, 'the default port is still 8080');
  });
});
