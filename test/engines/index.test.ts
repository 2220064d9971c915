/** openEngine's answer to an engine it does not know, in the same words as the configuration's check. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HubError } from '../../src/errors.js';
import { openEngine } from '../../src/engines/index.js';
import { ENGINE_SCHEMES, isEngineSpec } from '../../src/engines/settings.js';

test('an unknown scheme is refused with unsupported_engine, naming every engine there is', async () => {
  await assert.rejects(openEngine('mysql://h/db', { namespace: 'ssehub', historyMaxEvents: 10, historyMaxAgeMs: 60_000 }), (error: unknown) => {
    assert.ok(error instanceof HubError);
    assert.equal(error.code, 'unsupported_engine');
    for (const scheme of ['"memory"', ...ENGINE_SCHEMES]) assert.ok(error.message.includes(scheme), `${scheme} named in: ${error.message}`);
    return true;
  });
  assert.equal(isEngineSpec('mysql://h/db'), false);
});
