/**
 * The runner's failure summary (scripts/tap-failures.mjs), on TAP as node --test writes it: a real
 * failing file is run, and its output read.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { tapFailures } from '../../scripts/tap-failures.mjs';

const run = promisify(execFile);

/** The TAP output of `node --test` on a file of the given source. */
async function tapOf(source: string): Promise<string> {
  const folder = mkdtempSync(join(tmpdir(), 'tap-failures-'));
  try {
    const file = join(folder, 'sample.test.mjs');
    writeFileSync(file, source);
    // Without the parent's NODE_TEST_CONTEXT, the child writes TAP rather than reporting to this run.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const result = await run(process.execPath, ['--test', '--test-reporter=tap', file], { env }).catch((error: { stdout: string }) => error);
    return result.stdout;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

describe('the failures of a TAP output', () => {
  test('each failed test by its suites, with its error; passing tests and the failed suites around it left out', async () => {
    const output = await tapOf(`
      import assert from 'node:assert/strict';
      import { describe, test } from 'node:test';
      describe('outer', () => {
        test('passes', () => {});
        describe('inner', () => {
          test('compares', () => assert.equal(1 + 1, 3, 'one and one'));
        });
      });
      test('throws at the top', () => { throw new Error('broken on purpose'); });
    `);
    const failures = tapFailures(output);
    const heads = failures.split('\n').filter((line) => line.startsWith('not ok'));
    assert.deepEqual(heads, ['not ok - outer > inner > compares', 'not ok - throws at the top']);
    assert.match(failures, /one and one/);
    assert.match(failures, /broken on purpose/);
    assert.doesNotMatch(failures, /passes|subtestsFailed|duration_ms/);
  });

  test('an output without a failed test in it (a crash) is given by its last lines', () => {
    const output = [...Array.from({ length: 50 }, (_, i) => `line ${i}`), 'Error: the file crashed'].join('\n');
    const failures = tapFailures(output);
    assert.match(failures, /the file crashed$/);
    assert.doesNotMatch(failures, /line 5\n/);
    assert.equal(failures.split('\n').length, 30);
  });
});
