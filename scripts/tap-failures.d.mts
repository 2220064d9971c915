/** The failures in a `node --test` file's TAP output (see tap-failures.mjs). */
export function tapFailures(output: string): string;
