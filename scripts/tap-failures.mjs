/**
 * The failures in a `node --test` file's TAP output, for the end of scripts/run-tests.mjs's run: a
 * failing file's output is printed when it ends, amid a hundred others, and a CI log that keeps only
 * the run's tail would lose it. Each failed test is named by its path of suites, with its YAML block
 * (the error, the expected and actual values, the first lines of the stack). A suite that failed only
 * because a test in it did ('subtestsFailed') adds nothing; an output with no failed test in it (the
 * file crashed, or was stopped) is given by its last lines.
 */

/** Lines of a failure's YAML block kept; a stack goes on far below its first frames. */
const MAX_BLOCK_LINES = 40;
/** Lines kept of an output that names no failed test. */
const TAIL_LINES = 30;

/**
 * @param {string} output a file's TAP output
 * @returns {string} the failures, one after the other, or the output's last lines
 */
export function tapFailures(output) {
  const lines = output.split('\n');
  /** @type {string[]} the suites around the current line, by nesting level */
  const suites = [];
  /** @type {string[]} */
  const failures = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const subtest = /^(\s*)# Subtest: (.*)$/.exec(line);
    if (subtest) {
      const level = (subtest[1] ?? '').length / 4;
      suites.length = level;
      suites[level] = subtest[2] ?? '';
      continue;
    }
    const notOk = /^(\s*)not ok \d+ - (.*)$/.exec(line);
    if (!notOk) continue;
    const indent = notOk[1] ?? '';
    const level = indent.length / 4;
    const block = [];
    if (lines[i + 1] === `${indent}  ---`) {
      for (let j = i + 2; j < lines.length && lines[j] !== `${indent}  ...`; j++) block.push((lines[j] ?? '').slice(indent.length));
    }
    if (block.some((blockLine) => /^\s*failureType: 'subtestsFailed'$/.test(blockLine))) continue;
    const kept = block.filter((blockLine) => !/^\s*duration_ms: /.test(blockLine));
    const shown = kept.length > MAX_BLOCK_LINES ? [...kept.slice(0, MAX_BLOCK_LINES), '  …'] : kept;
    failures.push([`not ok - ${[...suites.slice(0, level), notOk[2]].join(' > ')}`, ...shown].join('\n'));
  }
  if (failures.length > 0) return failures.join('\n\n');
  return lines.slice(-TAIL_LINES).join('\n');
}
