/**
 * The `ssehub` command as tests run it: the built dist/cli/main.js under plain node. It starts in a
 * third of the time (and CPU) of src/cli/main.ts under tsx, and the suite starts it hundreds of times.
 * `npm test` builds dist/ before the tests; a dist/ older than src/ (a test file run by hand after an
 * edit) is refused where the CLI is started, with the command that fixes it, rather than testing
 * yesterday's code.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The CLI's entry point, built or not: builtCli() checks it. */
const CLI_PATH = join(ROOT, 'dist/cli/main.js');

function newestSource(dir: string): { file: string; mtimeMs: number } {
  let newest = { file: '', mtimeMs: 0 };
  for (const name of readdirSync(dir, { recursive: true })) {
    const file = join(dir, String(name));
    if (!file.endsWith('.ts')) continue;
    const { mtimeMs } = statSync(file);
    if (mtimeMs > newest.mtimeMs) newest = { file, mtimeMs };
  }
  return newest;
}

let checked = false;

/**
 * The CLI's entry point, to run as `node <it> …`, once dist/ is known to be built from the sources
 * as they are. Called where the CLI is started, not on import: a test file that only runs a hub in
 * its own process needs no build.
 */
export function builtCli(): string {
  if (checked) return CLI_PATH;
  let built: number | undefined;
  try {
    built = statSync(CLI_PATH).mtimeMs;
  } catch {
    throw new Error(`${CLI_PATH} is not built: run \`npm run build\` (npm test builds it first)`);
  }
  const source = newestSource(join(ROOT, 'src'));
  if (source.mtimeMs > built) throw new Error(`dist/ is older than ${source.file}: run \`npm run build\` (npm test builds it first)`);
  checked = true;
  return CLI_PATH;
}
