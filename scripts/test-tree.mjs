/**
 * The suite's TypeScript, compiled once for a run of scripts/run-tests.mjs. Under `node --import tsx`
 * every test file's process paid about two seconds of CPU to load tsx and translate its imports
 * (the hooks run on a thread of their own, and the suite has some 140 files); compiled, it loads as
 * plain JavaScript in a quarter of that.
 *
 * The compiled files live in .test-build/, a mirror of the checkout: src/, test/, bench/, examples/
 * and scripts/ are real folders there, holding a .js for each .ts (esbuild, one call for all of them)
 * beside a link to every file of the checkout (the .ts files too, for the tests that start one under
 * tsx or read it); everything else at the top (node_modules, dist, web, docs, package.json…) is a
 * link. So the paths a test builds from its own import.meta.url ("../../web/", "../../dist/cli/main.js")
 * land where they would in the checkout, and packages resolve through the linked node_modules.
 * Nothing in the checkout is written.
 */
import { mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from 'esbuild';

export const TEST_TREE = '.test-build';
/** The folders whose TypeScript the tests import, compiled; every other top-level entry is linked. */
const COMPILED = ['src', 'test', 'bench', 'examples', 'scripts'];
const SKIPPED = new Set(['.git', TEST_TREE]);

/** Builds the mirror of `root` afresh and returns its path. */
export async function buildTestTree(root) {
  const tree = join(root, TEST_TREE);
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(tree);
  const sources = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (SKIPPED.has(entry.name)) continue;
    if (entry.isDirectory() && COMPILED.includes(entry.name)) mirror(join(root, entry.name), join(tree, entry.name), sources);
    else symlinkSync(join(root, entry.name), join(tree, entry.name));
  }
  await build({
    entryPoints: sources,
    outdir: tree,
    outbase: root,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'inline',
    logLevel: 'error',
  });
  return tree;
}

/** Links every file of `from` into `to`, folder by folder, and collects the TypeScript to compile. */
function mirror(from, to, sources) {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    if (entry.isDirectory()) {
      mirror(source, join(to, entry.name), sources);
      continue;
    }
    symlinkSync(source, join(to, entry.name));
    if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) sources.push(source);
  }
}

/** A compiled test file's path as the checkout names it: .test-build/test/a.test.js → test/a.test.ts. */
export function sourceNameOf(root, file) {
  const path = relative(root, file);
  if (!path.startsWith(`${TEST_TREE}/`)) return path;
  return path.slice(TEST_TREE.length + 1).replace(/\.js$/, '.ts');
}
