/**
 * docs/configuration.md is written by scripts/docs-config.ts from OPTIONS in src/config.ts: an
 * option added, removed or reworded there without `npm run docs` fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CONFIGURATION_DOC, renderConfigurationDoc } from '../../scripts/docs-config.js';

test('docs/configuration.md is what npm run docs writes from OPTIONS', () => {
  assert.equal(readFileSync(CONFIGURATION_DOC, 'utf8'), renderConfigurationDoc(), 'docs/configuration.md is out of date: run npm run docs');
});
