import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import * as protocol from '../../src/protocol/index.js';
import * as library from '../../src/index.js';

describe('control events', () => {
  test('the names on the wire are the documented ones, all in the reserved range', () => {
    assert.equal(protocol.RESET_EVENT, 'ssehub.reset');
    assert.equal(protocol.POSITION_EVENT, 'ssehub.position');
    assert.equal(protocol.EXPIRED_EVENT, 'ssehub.expired');
    for (const name of [protocol.RESET_EVENT, protocol.POSITION_EVENT, protocol.EXPIRED_EVENT]) {
      assert.ok(protocol.isReservedEventName(name), name);
    }
    assert.equal(protocol.isReservedEventName('order.created'), false);
    assert.equal(protocol.isReservedEventName('ssehub'), false, 'only names with the prefix, dot included');
  });

  test('the gap reasons are the ones a reset event may carry', () => {
    assert.deepEqual([...protocol.GAP_REASONS], ['history-exceeded', 'unknown-id']);
  });

  test('the library entry point re-exports them from the protocol (ssehub and ssehub/protocol agree)', () => {
    assert.equal(library.RESET_EVENT, protocol.RESET_EVENT);
    assert.equal(library.POSITION_EVENT, protocol.POSITION_EVENT);
    assert.equal(library.EXPIRED_EVENT, protocol.EXPIRED_EVENT);
    assert.equal(library.GAP_REASONS, protocol.GAP_REASONS);
  });
});
