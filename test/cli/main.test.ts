import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { builtCli } from '../support/cli.js';

const CLI = builtCli();

const run = promisify(execFile);
const ssehub = (...args: string[]) => run(process.execPath, [CLI, ...args]);
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

describe('ssehub', () => {
  test('--version and -v print the package version', async () => {
    for (const flag of ['--version', '-v']) {
      const { stdout } = await ssehub(flag);
      assert.equal(stdout, `${version}\n`, flag);
    }
  });
});
