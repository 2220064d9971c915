/** What `npm start` passes to `ssehub serve`, read from package.json: tests run the hub the way it starts. */
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };

/** The arguments after `serve` in the start script, with the double quotes (for sh and cmd alike) removed. */
export function startScriptServeArgs(): string[] {
  const command = pkg.scripts.start!.split('&&').at(-1)!.trim();
  const words: string[] = command.match(/"[^"]*"|\S+/g) ?? [];
  return words.slice(words.indexOf('serve') + 1).map((word) => word.replace(/^"(.*)"$/, '$1'));
}
