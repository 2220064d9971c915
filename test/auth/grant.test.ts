import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidGrant, principalOfAppGrant, principalOfGrant } from '../../src/auth/grant.js';
import { authorizePublish, authorizeSubscribe } from '../../src/auth/principal.js';
import { HubError } from '../../src/errors.js';
import { parseSelector } from '../../src/topics/index.js';

const invalid = (pattern: RegExp) => (error: unknown) => error instanceof InvalidGrant && pattern.test(error.message);

describe('grants from the app', () => {
  test('a grant becomes an authenticated principal with its subject, selectors and expiry', () => {
    const expiresAt = Date.now() + 60_000;
    const principal = principalOfGrant({ subject: 'alice', subscribe: ['orders/**', '$ssehub/stats'], publish: ['orders/*'], expiresAt });
    assert.equal(principal.authenticated, true);
    assert.equal(principal.subject, 'alice');
    assert.deepEqual(principal.subscribe.map((s) => s.source), ['orders/**', '$ssehub/stats']);
    assert.deepEqual(principal.publish.map((s) => s.source), ['orders/*']);
    assert.equal(principal.expiresAt, expiresAt);
    authorizePublish(principal, ['orders/42']);
    authorizeSubscribe(principal, [parseSelector('orders/42/items')], []);
    assert.throws(() => authorizePublish(principal, ['invoices/1']), (error: HubError) => error.status === 403 && error.code === 'forbidden');
  });

  test('a grant with only a subject may do nothing, and never expires on its own', () => {
    const principal = principalOfGrant({ subject: 'bob' });
    assert.deepEqual([principal.publish, principal.subscribe, principal.expiresAt], [[], [], undefined]);
    assert.throws(() => authorizeSubscribe(principal, [parseSelector('orders/1')], []), (error: HubError) => error.code === 'forbidden');
  });

  test('malformed grants throw InvalidGrant naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [null, /must be an object/],
      ['alice', /must be an object/],
      [[{ subject: 'alice' }], /not an array/],
      [{}, /"subject"/],
      [{ subject: '' }, /"subject"/],
      [{ subject: 42 }, /"subject"/],
      [{ subject: 'a', subscribe: 'orders/*' }, /"subscribe" must be an array/],
      [{ subject: 'a', subscribe: ['a//b'] }, /"subscribe" holds an invalid selector/],
      [{ subject: 'a', subscribe: ['$other/x'] }, /"subscribe" holds an invalid selector/],
      [{ subject: 'a', publish: [42] }, /"publish" must be an array/],
      [{ subject: 'a', publish: ['$ssehub/stats'] }, /"publish" holds an invalid selector/],
      [{ subject: 'a', expiresAt: '2030-01-01' }, /"expiresAt" must be a number/],
      [{ subject: 'a', expiresAt: Number.POSITIVE_INFINITY }, /"expiresAt" must be a number/],
      [{ subject: 'a', expiresAt: Number.NaN }, /"expiresAt" must be a number/],
    ];
    for (const [value, message] of cases) assert.throws(() => principalOfGrant(value), invalid(message), JSON.stringify(value));
  });

  test('a grant already expired is refused, and one in seconds reads as expired', () => {
    const now = Date.now();
    assert.throws(() => principalOfGrant({ subject: 'a', expiresAt: now - 1 }, now), invalid(/expired/));
    assert.throws(() => principalOfGrant({ subject: 'a', expiresAt: now }, now), invalid(/expired/));
    assert.throws(() => principalOfGrant({ subject: 'a', expiresAt: Math.floor(now / 1000) + 3600 }, now), invalid(/milliseconds/));
    assert.equal(principalOfGrant({ subject: 'a', expiresAt: now + 1 }, now).expiresAt, now + 1);
  });

  test('from an in-process authorize: null is no session, a malformed grant is 500 authorize_failed', () => {
    assert.equal(principalOfAppGrant(null), null);
    assert.equal(principalOfAppGrant(undefined), null);
    assert.equal(principalOfAppGrant({ subject: 'alice', publish: ['a'] })?.subject, 'alice');
    for (const value of [{ subject: '' }, { subject: 'a', publish: ['$ssehub/x'] }, { subject: 'a', expiresAt: 1 }, 'alice', false]) {
      assert.throws(
        () => principalOfAppGrant(value),
        (error: unknown) => error instanceof HubError && error.status === 500 && error.code === 'authorize_failed' && /authorize\(\) returned an invalid grant/.test(error.message),
        JSON.stringify(value),
      );
    }
  });
});
