/**
 * Suites that need a server or a tool the machine may lack. node:test counts no test of a skipped
 * describe() in its "# skipped" line, so a missing Redis or Chromium would pass unseen: here one
 * skipped test, named after the suite and carrying the reason, stands for the whole suite instead.
 * With CI set the reasons are undefined (see services.ts, browser.ts, nginx.ts): the suite runs,
 * and a missing server fails it.
 */
import { describe, test, type SuiteContext, type TestOptions } from 'node:test';

export function describeUnlessSkipped(
  name: string,
  options: Omit<TestOptions, 'skip'> & { skip: string | undefined },
  fn: (suite: SuiteContext) => void | Promise<void>,
): void {
  const { skip, ...rest } = options;
  if (skip === undefined) describe(name, rest, fn);
  else test(`${name}: all of its tests`, { skip }, () => {});
}
