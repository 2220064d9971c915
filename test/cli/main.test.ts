import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
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

/** The modules a built module loads as it starts (its static imports, followed through dist/), and the packages they name. */
function staticGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    // `import … from '…'`, `import '…'` and `export … from '…'`; `import type` is gone in the build, `import()` is not static.
    for (const [, specifier] of source.matchAll(/^(?:import\s+(?:[\w$*{}\s,]+\s+from\s+)?|export\s+(?:\*|\{[\w$\s,]*\})\s+from\s+)['"]([^'"]+)['"];$/gm)) {
      if (specifier!.startsWith('.')) visit(fileURLToPath(new URL(specifier!, pathToFileURL(file))));
      else if (!specifier!.startsWith('node:')) packages.add(specifier!);
    }
  };
  visit(entry);
  return { files, packages };
}

describe('what each command loads', () => {
  const dist = dirname(CLI);
  const relative = (files: Set<string>) => [...files].map((file) => file.slice(dirname(dist).length + 1));

  test('the command dispatcher loads no command: each is imported when it runs', () => {
    // main.js itself and what it shares with every command (errors, the TLS fetch): no command module.
    const expected = ['cli/main.js', ...relative(staticGraph(join(dist, 'common.js')).files)];
    assert.deepEqual(relative(staticGraph(CLI).files).sort(), expected.sort());
  });

  test('publish, subscribe and pipe load the client only: not the hub, its engines, its logger or its metrics', () => {
    for (const command of ['publish', 'subscribe', 'pipe', 'disconnect']) {
      const { files, packages } = staticGraph(join(dist, `${command}.js`));
      const server = relative(files).filter((file) => /^(start|hub|engines|http|ws|cluster)[/.]/.test(file));
      assert.deepEqual(server, [], `${command} loads the hub's modules`);
      assert.deepEqual([...packages], [], `${command} loads packages`);
    }
  });
});

describe('unknown commands', () => {
  test('a name an object has by inheritance ("constructor", "__proto__") is an unknown command, exit 2', async () => {
    for (const name of ['constructor', '__proto__', 'toString']) {
      await assert.rejects(ssehub(name), (error: { code?: number; stderr?: string }) => error.code === 2 && /unknown command/.test(error.stderr ?? ''), name);
    }
    const { stdout } = await ssehub('help', 'constructor');
    assert.match(stdout, /^Usage: ssehub <command>/, 'help on an unknown name prints the general help');
  });
});
