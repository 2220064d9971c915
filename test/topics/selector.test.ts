import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HubError } from '../../src/errors.js';
import {
  parseSelector,
  parseSubscribeSelector,
  selectorCovers,
  selectorMatches,
  type Selector,
  type TopicOptions,
} from '../../src/topics/index.js';
import { mulberry32 } from '../support/prng.js';

const RESERVED: TopicOptions = { allowReserved: true };

function sel(raw: string): Selector {
  return parseSelector(raw, RESERVED);
}

function rejects(raw: string, problem: RegExp, options?: TopicOptions): void {
  assert.throws(
    () => parseSelector(raw, options),
    (err: unknown) => {
      assert.ok(err instanceof HubError, 'expected a HubError');
      assert.equal(err.status, 400);
      assert.equal(err.code, 'invalid_topic');
      assert.match(err.message, /^invalid selector /);
      assert.match(err.message, problem);
      if (raw.length > 0 && raw.length <= 80) assert.ok(err.message.includes(JSON.stringify(raw)), err.message);
      return true;
    },
  );
}

describe('parseSelector', () => {
  it('returns an exact selector for a topic without wildcards', () => {
    assert.deepEqual(parseSelector('orders/42'), { kind: 'exact', source: 'orders/42', topic: 'orders/42' });
    assert.deepEqual(parseSelector('a'), { kind: 'exact', source: 'a', topic: 'a' });
  });

  it('returns a pattern with its segments when wildcards are present', () => {
    assert.deepEqual(parseSelector('orders/*'), { kind: 'pattern', source: 'orders/*', segments: ['orders', '*'] });
    assert.deepEqual(parseSelector('orders/**'), { kind: 'pattern', source: 'orders/**', segments: ['orders', '**'] });
    assert.deepEqual(parseSelector('**'), { kind: 'pattern', source: '**', segments: ['**'] });
    assert.deepEqual(parseSelector('*'), { kind: 'pattern', source: '*', segments: ['*'] });
    assert.deepEqual(parseSelector('*/x/*/**'), {
      kind: 'pattern',
      source: '*/x/*/**',
      segments: ['*', 'x', '*', '**'],
    });
  });

  it('rejects "**" anywhere but last', () => {
    rejects('**/x', /"\*\*" is only allowed as the last segment \(found at segment 1 of 2\)/);
    rejects('a/**/b', /"\*\*" is only allowed as the last segment \(found at segment 2 of 3\)/);
    rejects('**/**', /only allowed as the last segment/);
  });

  it('rejects wildcards mixed into a segment', () => {
    rejects('ord*', /a wildcard must be a whole segment .* found in segment "ord\*"/);
    rejects('orders/*1', /whole segment .*"\*1"/);
    rejects('a/b**', /whole segment .*"b\*\*"/);
    rejects('***', /whole segment .*"\*\*\*"/);
    rejects('a/x*y/c', /whole segment/);
  });

  it('applies the topic rules to selectors', () => {
    rejects('', /it is empty/);
    rejects('/orders/*', /starts with "\/"/);
    rejects('orders/*/', /ends with "\/"/);
    rejects('orders//*', /empty segment/);
    rejects('orders/a b', /character U\+0020 at index 8 is not allowed/);
    rejects('orders/$x', /"\$" is only allowed as the first character/);
    rejects(`${'x'.repeat(255)}/*`, /257 characters long; the maximum length is 256/);
    rejects('a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/**', /it has 17 segments; the maximum is 16/);
    rejects('a/*/c', /3 segments; the maximum is 2/, { limits: { maxLength: 256, maxSegments: 2 } });
  });

  it('refuses reserved selectors unless allowReserved', () => {
    rejects('$ssehub/stats', /reserved for the hub's system topics/);
    rejects('$ssehub/*', /reserved/);
    rejects('$ssehub/**', /reserved/);
    assert.deepEqual(parseSelector('$ssehub/stats', RESERVED), {
      kind: 'exact',
      source: '$ssehub/stats',
      topic: '$ssehub/stats',
    });
    assert.deepEqual(parseSelector('$ssehub/**', RESERVED), {
      kind: 'pattern',
      source: '$ssehub/**',
      segments: ['$ssehub', '**'],
    });
  });

  it('parseSubscribeSelector: ordinary selectors and the $ssehub/ system namespace, no other $ topic', () => {
    assert.deepEqual(parseSubscribeSelector('$ssehub/stats'), { kind: 'exact', source: '$ssehub/stats', topic: '$ssehub/stats' });
    assert.deepEqual(parseSubscribeSelector('$ssehub/*'), { kind: 'pattern', source: '$ssehub/*', segments: ['$ssehub', '*'] });
    assert.deepEqual(parseSubscribeSelector('$ssehub/**'), { kind: 'pattern', source: '$ssehub/**', segments: ['$ssehub', '**'] });
    assert.deepEqual(parseSubscribeSelector('orders/*'), parseSelector('orders/*'));
    assert.equal(parseSubscribeSelector('**').kind, 'pattern');
    for (const raw of ['$ssehub', '$other/stats', '$other/**', '$ssehubx/stats', '$ssehub-stats']) {
      assert.throws(() => parseSubscribeSelector(raw), { code: 'invalid_topic' }, raw);
    }
    // The syntax rules still hold under $ssehub/.
    for (const raw of ['$ssehub/', '$ssehub//stats', '$ssehub/../x', '$ssehub/**/x', '$ssehub/st*']) {
      assert.throws(() => parseSubscribeSelector(raw), { code: 'invalid_topic' }, raw);
    }
    assert.throws(() => parseSubscribeSelector('$ssehub/' + 'a'.repeat(20), { limits: { maxLength: 16, maxSegments: 16 } }), { code: 'invalid_topic' });
  });

  it('accepts wildcard-first selectors without allowReserved (they never reach reserved topics)', () => {
    assert.equal(parseSelector('*/stats').kind, 'pattern');
    assert.equal(parseSelector('**').kind, 'pattern');
  });
});

describe('selectorMatches', () => {
  // [selector, topic, expected]
  const table: Array<[string, string, boolean]> = [
    ['orders', 'orders', true],
    ['orders', 'orders/1', false],
    ['orders', 'order', false],
    ['orders/1', 'orders/1', true],
    ['orders/1', 'orders/12', false],
    ['orders/*', 'orders/1', true],
    ['orders/*', 'orders/abc', true],
    ['orders/*', 'orders', false],
    ['orders/*', 'orders/1/items', false],
    ['orders/*', 'ordersx/1', false],
    ['orders/*', 'order/1', false],
    ['orders/**', 'orders/1', true],
    ['orders/**', 'orders/1/items', true],
    ['orders/**', 'orders/1/items/2/x', true],
    ['orders/**', 'orders', false],
    ['orders/**', 'ordersx/1', false],
    ['orders/**', 'other/1', false],
    ['**', 'a', true],
    ['**', 'a/b/c', true],
    ['*', 'a', true],
    ['*', 'a/b', false],
    ['*/*', 'a/b', true],
    ['*/*', 'a', false],
    ['*/*', 'a/b/c', false],
    ['*/**', 'a', false],
    ['*/**', 'a/b', true],
    ['*/**', 'a/b/c', true],
    ['a/*/c', 'a/b/c', true],
    ['a/*/c', 'a/x/c', true],
    ['a/*/c', 'a/b/d', false],
    ['a/*/c', 'a/c', false],
    ['a/*/c', 'a/b/c/d', false],
    ['a/*/c/**', 'a/b/c/d', true],
    ['a/*/c/**', 'a/b/c', false],
    ['*/items', 'orders/items', true],
    ['*/items', 'orders/item', false],
    ['*/items', 'orders/itemsx', false],
    ['a/b/*', 'a/bb/c', false],
    // reserved topics are never reached by a wildcard-first pattern
    ['**', '$ssehub/stats', false],
    ['**', '$ssehub', false],
    ['*', '$ssehub', false],
    ['*/stats', '$ssehub/stats', false],
    ['*/**', '$ssehub/stats', false],
    // ...but a pattern whose first segment is the literal `$…` does
    ['$ssehub/*', '$ssehub/stats', true],
    ['$ssehub/**', '$ssehub/stats/x', true],
    ['$ssehub/**', '$ssehub', false],
    ['$ssehub/*', '$other/stats', false],
    ['$ssehub/stats', '$ssehub/stats', true],
    ['$ssehub', '$ssehub', true],
    // `$` only matters in the first topic segment
    ['a/**', 'a/b', true],
  ];
  for (const [selector, topic, expected] of table) {
    it(`${selector} ${expected ? 'matches' : 'does not match'} ${topic}`, () => {
      assert.equal(selectorMatches(sel(selector), topic), expected);
    });
  }

  it('never matches the empty string', () => {
    assert.equal(selectorMatches(sel('**'), ''), false);
    assert.equal(selectorMatches(sel('*'), ''), false);
  });
});

describe('selectorCovers', () => {
  // [granted, requested, expected]
  const table: Array<[string, string, boolean]> = [
    // `**` covers every non-reserved selector
    ['**', 'a', true],
    ['**', 'a/b/c', true],
    ['**', '*', true],
    ['**', '*/x', true],
    ['**', 'orders/**', true],
    ['**', '**', true],
    ['**', '*/**', true],
    ['**', '$ssehub/stats', false],
    ['**', '$ssehub/**', false],
    ['**', '$ssehub/*', false],
    // `orders/**`
    ['orders/**', 'orders/*', true],
    ['orders/**', 'orders/1', true],
    ['orders/**', 'orders/1/x', true],
    ['orders/**', 'orders/*/x', true],
    ['orders/**', 'orders/*/**', true],
    ['orders/**', 'orders/**', true],
    ['orders/**', 'orders', false],
    ['orders/**', 'other/1', false],
    ['orders/**', '*/1', false],
    ['orders/**', '**', false],
    // `orders/*`
    ['orders/*', 'orders/1', true],
    ['orders/*', 'orders/*', true],
    ['orders/*', 'orders/1/2', false],
    ['orders/*', 'orders/**', false],
    ['orders/*', 'orders', false],
    ['orders/*', '*/1', false],
    // exact grants cover only themselves
    ['orders/1', 'orders/1', true],
    ['orders/1', 'orders/2', false],
    ['orders/1', 'orders/*', false],
    ['orders/1', 'orders/1/x', false],
    ['orders', 'orders/**', false],
    // inner wildcards
    ['a/*/c', 'a/b/c', true],
    ['a/*/c', 'a/*/c', true],
    ['a/*/c', 'a/b/d', false],
    ['a/*/c', 'a/b/c/d', false],
    ['a/*/c', '*/b/c', false],
    ['a/b/c', 'a/*/c', false],
    ['*/*/c', 'a/*/c', true],
    ['*/b/*', 'a/*/c', false],
    // `*/**` versus `**`
    ['*/**', '**', false], // `**` matches the one-segment topic `a`
    ['*/**', '*/**', true],
    ['*/**', 'a/b', true],
    ['*/**', 'a', false],
    ['*/**', '*/*/**', true],
    ['*/*/**', '*/**', false],
    ['*', '**', false],
    ['*', 'x', true],
    ['*', '*', true],
    ['*/*', '*/**', false],
    // reserved grants
    ['$ssehub/**', '$ssehub/stats', true],
    ['$ssehub/**', '$ssehub/*', true],
    ['$ssehub/**', '$ssehub', false],
    ['$ssehub/*', '$ssehub/stats', true],
    ['$ssehub/*', '$other/stats', false],
    ['*/stats', '$ssehub/stats', false],
    ['*/*', '$ssehub/*', false],
    ['$ssehub/**', 'ssehub/stats', false],
    ['$ssehub/stats', '$ssehub/stats', true],
  ];
  for (const [granted, requested, expected] of table) {
    it(`${granted} ${expected ? 'covers' : 'does not cover'} ${requested}`, () => {
      assert.equal(selectorCovers(sel(granted), sel(requested)), expected);
    });
  }

  it('agrees with a brute-force check over every short topic (seeded)', () => {
    // A counterexample to coverage, if any, uses at most max(|granted|, |requested|) + 1 segments
    // drawn from the literals in play plus one fresh literal; enumerate all such topics.
    const literals = ['a', 'b', 'z'];
    const firsts = [...literals, '$s'];
    const topics: string[] = [];
    const extend = (prefix: string[], depth: number): void => {
      if (prefix.length > 0) topics.push(prefix.join('/'));
      if (prefix.length === depth) return;
      for (const s of prefix.length === 0 ? firsts : literals) extend([...prefix, s], depth);
    };
    extend([], 5);

    const random = mulberry32(0xc0ffee);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const randomSelector = (): Selector => {
      const count = 1 + Math.floor(random() * 4);
      const parts: string[] = [];
      for (let i = 0; i < count; i++) {
        const r = random();
        if (i === count - 1 && r < 0.25) parts.push('**');
        else if (r < 0.55) parts.push('*');
        else if (i === 0 && r < 0.65) parts.push('$s');
        else parts.push(pick(['a', 'b']));
      }
      return sel(parts.join('/'));
    };

    let covered = 0;
    for (let n = 0; n < 3000; n++) {
      const granted = randomSelector();
      const requested = randomSelector();
      const expected = topics.every((t) => !selectorMatches(requested, t) || selectorMatches(granted, t));
      if (expected) covered++;
      assert.equal(
        selectorCovers(granted, requested),
        expected,
        `selectorCovers(${granted.source}, ${requested.source})`,
      );
    }
    assert.ok(covered > 100, `the random sample should contain covering pairs (got ${covered})`);
  });
});
