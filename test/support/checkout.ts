/**
 * Where the tests' own files are, whether a test runs from its TypeScript under tsx or compiled in
 * .test-build/ (scripts/test-tree.mjs, as `npm test` runs it).
 */
import { realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout's real root (the compiled tree links its package.json here), ending in "/". */
export const CHECKOUT = `${dirname(realpathSync(fileURLToPath(new URL('../../package.json', import.meta.url))))}/`;

/** This module's tree runs compiled: its .ts files have .js siblings that plain node loads. */
const COMPILED = import.meta.url.endsWith('.js');

/**
 * How to start one of the tests' TypeScript modules (a fixture, a host) as a process of its own:
 * its compiled sibling under plain node when the tests run compiled, else the .ts under tsx.
 * `url` is the module's .ts URL, e.g. `new URL('../fixtures/app.ts', import.meta.url)`.
 */
export function moduleProcess(url: URL): { file: string; execArgv: string[] } {
  const file = fileURLToPath(url);
  return COMPILED ? { file: file.replace(/\.ts$/, '.js'), execArgv: [] } : { file, execArgv: ['--import', 'tsx'] };
}
