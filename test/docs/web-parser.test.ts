/**
 * web/assets/sse-parse.js is written by scripts/web-parser.ts from src/protocol/parse.ts: the
 * dashboard's parser cannot drift from the project's own.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { PARSER_ASSET, renderParserAsset } from '../../scripts/web-parser.js';

test('web/assets/sse-parse.js is src/protocol/parse.ts as the browser loads it', () => {
  assert.equal(readFileSync(PARSER_ASSET, 'utf8'), renderParserAsset(), 'web/assets/sse-parse.js is out of date: run npm run web-parser');
});
