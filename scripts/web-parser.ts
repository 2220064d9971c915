/**
 * Writes web/assets/sse-parse.js, the dashboard's event-stream parser, from src/protocol/parse.ts:
 * the page reads streams with the project's own parser (no second one to keep in step), as plain
 * JavaScript the browser loads without a build step. `npm run web-parser` writes it;
 * test/docs/web-parser.test.ts fails when it is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const PARSER_SOURCE = new URL('../src/protocol/parse.ts', import.meta.url);
export const PARSER_ASSET = new URL('../web/assets/sse-parse.js', import.meta.url);

export function renderParserAsset(): string {
  const { outputText } = ts.transpileModule(readFileSync(PARSER_SOURCE, 'utf8'), {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022, removeComments: false },
  });
  return `// Written by \`npm run web-parser\` from src/protocol/parse.ts: edit that file, not this one.\n${outputText}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(PARSER_ASSET, renderParserAsset());
  console.log(`wrote ${fileURLToPath(PARSER_ASSET)}`);
}
