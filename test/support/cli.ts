/**
 * The `ssehub` command as tests run it: the built dist/cli/main.js under plain node. It starts in a
 * third of the time (and CPU) of src/cli/main.ts under tsx, and the suite starts it hundreds of times.
 * `npm test` builds dist/ before the tests; a dist/ older than src/ (a test file run by hand after an
 * edit) is refused at once, with the command that fixes it, rather than testing yesterday's code.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The CLI's entry point: run it as `node CLI …`. */
export const CLI = join(ROOT, 'dist/cli/main.js');

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

const built = (() => {
  try {
    return statSync(CLI).mtimeMs;
  } catch {
    return undefined;
  }
})();
const source = newestSource(join(ROOT, 'src'));
if (built === undefined) throw new Error(`${CLI} is not built: run \`npm run build\` (npm test builds it first)`);
if (source.mtimeMs > built) throw new Error(`dist/ is older than ${source.file}: run \`npm run build\` (npm test builds it first)`);
