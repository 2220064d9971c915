/**
 * A node:test reporter for scripts/run-tests.mjs: how long each test file took, from its process's
 * start to its end, one "<ms> <file>" line per file, slowest first. The runner prints the slowest, so
 * that the file that makes the suite long is named, not guessed.
 */
export default async function* fileTimes(source) {
  const byFile = new Map();
  for await (const event of source) {
    // The test that stands for a whole file (its process) is named by the file's path.
    if (event.type === 'test:complete' && event.data.nesting === 0 && event.data.name === event.data.file) {
      byFile.set(event.data.file, event.data.details?.duration_ms ?? 0);
    }
  }
  for (const [file, ms] of [...byFile].sort((a, b) => b[1] - a[1])) yield `${Math.round(ms)} ${file}\n`;
}
