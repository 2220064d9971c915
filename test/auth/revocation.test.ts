/** The disconnect criterion's checks, and the deny-list's rules: by token id, and by subject before a time. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Principal } from '../../src/auth/principal.js';
import { parseDisconnectCriterion, RevocationList } from '../../src/auth/revocation.js';
import { MemoryKeyValueStore } from '../../src/engines/memory-kv.js';
import { HubError } from '../../src/errors.js';
import { DEFAULT_TOPIC_LIMITS } from '../../src/topics/index.js';

const tokenPrincipal = (subject: string, id: string | undefined, issuedAt: number | undefined): Principal => ({
  authenticated: true,
  subject,
  publish: [],
  subscribe: [],
  admin: false,
  expiresAt: undefined,
  token: { id, issuedAt },
});

async function refusedCode(list: RevocationList, principal: Principal): Promise<string> {
  try {
    await list.check(principal);
    return 'accepted';
  } catch (error) {
    assert.ok(error instanceof HubError);
    return `${error.status} ${error.code}`;
  }
}

describe('parseDisconnectCriterion', () => {
  test('exactly one of subject, topic, tokenId, a non-empty string; the result holds that one only', () => {
    assert.deepEqual(parseDisconnectCriterion({ subject: 'alice' }, DEFAULT_TOPIC_LIMITS), { subject: 'alice' });
    assert.deepEqual(parseDisconnectCriterion({ topic: 'rooms/1' }, DEFAULT_TOPIC_LIMITS), { topic: 'rooms/1' });
    assert.deepEqual(parseDisconnectCriterion({ tokenId: 'abc' }, DEFAULT_TOPIC_LIMITS), { tokenId: 'abc' });
    const refused: unknown[] = [null, 'alice', [], {}, { subject: 'a', tokenId: 'b' }, { subject: 1 }, { subject: '' }, { subject: 'x'.repeat(1025) }, { who: 'a' }];
    for (const value of refused) {
      assert.throws(() => parseDisconnectCriterion(value, DEFAULT_TOPIC_LIMITS), (error) => error instanceof HubError && error.status === 400 && error.code === 'invalid_disconnect', JSON.stringify(value));
    }
    assert.throws(() => parseDisconnectCriterion({ topic: 'rooms/**' }, DEFAULT_TOPIC_LIMITS), (error) => error instanceof HubError && error.code === 'invalid_topic');
  });
});

describe('RevocationList', () => {
  test('a revoked token id refuses that token only; other tokens and app grants pass', async () => {
    const list = new RevocationList(new MemoryKeyValueStore(), 60_000);
    assert.equal(await list.deny({ tokenId: 't1' }, 1_000), 61_000);
    assert.equal(await refusedCode(list, tokenPrincipal('alice', 't1', 0)), '401 token_revoked');
    assert.equal(await refusedCode(list, tokenPrincipal('alice', 't2', 0)), 'accepted');
    assert.equal(await refusedCode(list, { ...tokenPrincipal('alice', 't1', 0), token: undefined }), 'accepted');
  });

  test("a revoked subject refuses its tokens issued until then (the same second included) and those without iat, not later ones", async () => {
    const list = new RevocationList(new MemoryKeyValueStore(), 60_000);
    const at = 1_700_000_000_500;
    await list.deny({ subject: 'alice' }, at);
    assert.equal(await refusedCode(list, tokenPrincipal('alice', undefined, at - 60_000)), '401 token_revoked');
    assert.equal(await refusedCode(list, tokenPrincipal('alice', undefined, 1_700_000_000_000)), '401 token_revoked');
    assert.equal(await refusedCode(list, tokenPrincipal('alice', undefined, undefined)), '401 token_revoked');
    assert.equal(await refusedCode(list, tokenPrincipal('alice', undefined, 1_700_000_001_000)), 'accepted');
    assert.equal(await refusedCode(list, tokenPrincipal('bob', undefined, at - 60_000)), 'accepted');
  });

  test('a topic puts nothing on the list', async () => {
    const list = new RevocationList(new MemoryKeyValueStore(), 60_000);
    assert.equal(await list.deny({ topic: 'rooms/1' }), undefined);
    assert.equal(await refusedCode(list, tokenPrincipal('rooms/1', 'rooms/1', undefined)), 'accepted');
  });
});

describe('the deny-list, remembered', () => {
  /** The memory engine's store, with its reads counted. */
  function countingStore() {
    const store = new MemoryKeyValueStore();
    const reads: string[] = [];
    return {
      reads,
      get: (key: string) => {
        reads.push(key);
        return store.get(key);
      },
      set: (key: string, value: string, ttlMs: number) => store.set(key, value, ttlMs),
    };
  }

  test('a token is read from the store once; a disconnect message, or a break in them, makes it read again', async () => {
    const store = countingStore();
    const list = new RevocationList(store, 60_000);
    const alice = tokenPrincipal('alice', 'jti-1', Date.now() - 1000);
    for (let i = 0; i < 5; i++) assert.equal(await refusedCode(list, alice), 'accepted');
    assert.deepEqual(store.reads.sort(), ['revoked:subject:alice', 'revoked:token:jti-1'], 'one read per key, not per request');

    // Another instance revokes (it writes the store, then its message arrives here).
    await new RevocationList(store, 60_000).deny({ subject: 'alice' });
    assert.equal(await refusedCode(list, alice), 'accepted', 'until the message arrives, what was read stands');
    list.forget({ subject: 'alice' });
    assert.equal(await refusedCode(list, alice), '401 token_revoked');

    store.reads.length = 0;
    list.forgetAll();
    assert.equal(await refusedCode(list, alice), '401 token_revoked');
    assert.equal(store.reads.length, 2, 'everything is read again after a break');
  });

  test('a revocation made here is refused at once, and what is remembered of it ends with the entry', async () => {
    const store = countingStore();
    const list = new RevocationList(store, 50);
    const bob = tokenPrincipal('bob', 'jti-2', Date.now() - 1000);
    assert.equal(await refusedCode(list, bob), 'accepted');
    await list.deny({ tokenId: 'jti-2' });
    assert.equal(await refusedCode(list, bob), '401 token_revoked');
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(await refusedCode(list, bob), 'accepted', 'the entry lasted denyMs, in the store and here');
  });
});
