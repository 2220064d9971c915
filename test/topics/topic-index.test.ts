import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSelector, selectorMatches, TopicIndex, type Selector } from '../../src/topics/index.js';
import { mulberry32 } from '../support/prng.js';

function sel(raw: string): Selector {
  return parseSelector(raw, { allowReserved: true });
}

function collect<T>(index: TopicIndex<T>, topic: string): T[] {
  const seen: T[] = [];
  index.match(topic, (value) => {
    seen.push(value);
  });
  return seen;
}

function sorted(values: string[]): string[] {
  return [...values].sort();
}

describe('TopicIndex', () => {
  it('starts empty', () => {
    const index = new TopicIndex<string>();
    assert.equal(index.selectorCount, 0);
    assert.equal(index.valueCount, 0);
    assert.equal(index.isEmpty(), true);
    assert.deepEqual(collect(index, 'a/b'), []);
  });

  it('matches exact selectors and patterns (hand-written table)', () => {
    const index = new TopicIndex<string>();
    const registrations: Array<[string, string]> = [
      ['orders/1', 'exact-1'],
      ['orders/*', 'star'],
      ['orders/**', 'deep'],
      ['**', 'all'],
      ['*/items', 'any-items'],
      ['orders/*/items', 'order-items'],
      ['orders', 'orders-exact'],
      ['$ssehub/stats', 'sys-exact'],
      ['$ssehub/**', 'sys-all'],
      ['$ssehub/*', 'sys-star'],
    ];
    for (const [selector, value] of registrations) index.add(sel(selector), value);
    assert.equal(index.selectorCount, 10);
    assert.equal(index.valueCount, 10);

    const expected: Array<[string, string[]]> = [
      ['orders/1', ['all', 'deep', 'exact-1', 'star']],
      ['orders/2', ['all', 'deep', 'star']],
      ['orders', ['all', 'orders-exact']],
      ['orders/1/items', ['all', 'deep', 'order-items']],
      ['orders/items', ['all', 'any-items', 'deep', 'star']],
      ['users/items', ['all', 'any-items']],
      ['orders/1/items/9', ['all', 'deep']],
      ['x', ['all']],
      ['$ssehub/stats', ['sys-all', 'sys-exact', 'sys-star']],
      ['$ssehub/stats/x', ['sys-all']],
      ['$ssehub', []],
      ['$other/items', []],
    ];
    for (const [topic, values] of expected) {
      assert.deepEqual(sorted(collect(index, topic)), values, `topic ${topic}`);
    }
  });

  it('visits a value registered under two matching selectors twice', () => {
    const index = new TopicIndex<string>();
    index.add(sel('orders/*'), 'client');
    index.add(sel('orders/**'), 'client');
    index.add(sel('orders/1'), 'client');
    index.add(sel('orders/2'), 'client');
    assert.equal(index.selectorCount, 4);
    assert.equal(index.valueCount, 4);
    assert.deepEqual(collect(index, 'orders/1'), ['client', 'client', 'client']);
    assert.deepEqual(collect(index, 'orders/1/x'), ['client']);
  });

  it('treats adding the same (selector, value) again as a no-op', () => {
    const index = new TopicIndex<string>();
    index.add(sel('a/*'), 'v');
    index.add(parseSelector('a/*'), 'v');
    index.add(sel('a/b'), 'v');
    index.add(sel('a/b'), 'v');
    assert.equal(index.valueCount, 2);
    assert.equal(index.selectorCount, 2);
    assert.deepEqual(collect(index, 'a/b'), ['v', 'v']);
  });

  it('works with object values compared by identity', () => {
    const index = new TopicIndex<{ id: number }>();
    const one = { id: 1 };
    const twin = { id: 1 };
    index.add(sel('t'), one);
    index.add(sel('t'), twin);
    assert.equal(index.valueCount, 2);
    index.remove(sel('t'), { id: 1 });
    assert.equal(index.valueCount, 2);
    index.remove(sel('t'), one);
    const seen: Array<{ id: number }> = [];
    index.match('t', (v) => seen.push(v));
    assert.equal(seen.length, 1);
    assert.equal(seen[0], twin);
  });

  it('removing what is not there is a no-op', () => {
    const index = new TopicIndex<string>();
    index.remove(sel('a/b'), 'x');
    index.remove(sel('a/*'), 'x');
    index.remove(sel('a/**'), 'x');
    index.add(sel('a/*'), 'x');
    index.remove(sel('a/*'), 'y');
    index.remove(sel('a/**'), 'x');
    index.remove(sel('a/*/c'), 'x');
    index.remove(sel('a'), 'x');
    index.remove(sel('*'), 'x');
    assert.equal(index.valueCount, 1);
    assert.equal(index.selectorCount, 1);
    assert.deepEqual(collect(index, 'a/q'), ['x']);
  });

  it('counts selectors and values, and prunes on remove', () => {
    const index = new TopicIndex<string>();
    index.add(sel('a/b/c'), '1');
    index.add(sel('a/b/c'), '2');
    index.add(sel('a/*/c'), '1');
    index.add(sel('a/**'), '1');
    index.add(sel('a/b/*/**'), '3');
    assert.equal(index.selectorCount, 4);
    assert.equal(index.valueCount, 5);

    index.remove(sel('a/b/c'), '1');
    assert.equal(index.selectorCount, 4);
    assert.equal(index.valueCount, 4);
    assert.deepEqual(sorted(collect(index, 'a/b/c')), ['1', '1', '2']);

    index.remove(sel('a/b/c'), '2');
    assert.equal(index.selectorCount, 3);
    assert.deepEqual(sorted(collect(index, 'a/b/c')), ['1', '1']);

    index.remove(sel('a/**'), '1');
    index.remove(sel('a/*/c'), '1');
    assert.equal(index.selectorCount, 1);
    assert.equal(index.isEmpty(), false);
    assert.deepEqual(collect(index, 'a/b/c/d'), ['3']);

    index.remove(sel('a/b/*/**'), '3');
    assert.equal(index.selectorCount, 0);
    assert.equal(index.valueCount, 0);
    assert.equal(index.isEmpty(), true);
    assert.deepEqual(collect(index, 'a/b/c/d'), []);
  });

  it('keeps a shared trie prefix alive while another pattern still uses it', () => {
    const index = new TopicIndex<string>();
    index.add(sel('a/*'), 'short');
    index.add(sel('a/*/c/**'), 'long');
    index.remove(sel('a/*'), 'short');
    assert.deepEqual(collect(index, 'a/b/c/d'), ['long']);
    assert.deepEqual(collect(index, 'a/b'), []);
    index.add(sel('a/*'), 'short');
    index.remove(sel('a/*/c/**'), 'long');
    assert.deepEqual(collect(index, 'a/b'), ['short']);
    assert.deepEqual(collect(index, 'a/b/c/d'), []);
    index.remove(sel('a/*'), 'short');
    assert.equal(index.isEmpty(), true);
  });

  it('is empty again after adding and removing 100,000 random selectors', () => {
    const random = mulberry32(12345);
    const words = ['a', 'b', 'c', 'd', 'e', 'orders', 'users', '1', '2', '42'];
    const randomSelectorSource = (): string => {
      const count = 1 + Math.floor(random() * 6);
      const parts: string[] = [];
      for (let i = 0; i < count; i++) {
        const r = random();
        if (i === count - 1 && r < 0.2) parts.push('**');
        else if (r < 0.35) parts.push('*');
        else if (i === 0 && r < 0.4) parts.push('$sys');
        else parts.push(words[Math.floor(random() * words.length)] as string);
      }
      return parts.join('/');
    };
    const index = new TopicIndex<number>();
    const added: Array<[Selector, number]> = [];
    const distinct = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      const selector = sel(randomSelectorSource());
      const value = Math.floor(random() * 50);
      index.add(selector, value);
      added.push([selector, value]);
      distinct.add(`${selector.source}\u0000${value}`);
    }
    assert.equal(index.valueCount, distinct.size);
    assert.ok(index.selectorCount > 1000);
    assert.equal(index.isEmpty(), false);

    // remove in a shuffled order (duplicates included: the second removal is a no-op)
    for (let i = added.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [added[i], added[j]] = [added[j] as [Selector, number], added[i] as [Selector, number]];
    }
    for (const [selector, value] of added) index.remove(selector, value);
    assert.equal(index.selectorCount, 0);
    assert.equal(index.valueCount, 0);
    assert.equal(index.isEmpty(), true);
    assert.deepEqual(collect(index, 'orders/1'), []);
  });

  it('agrees with a brute-force selectorMatches loop (seeded, randomized)', () => {
    const random = mulberry32(0x5eed);
    const words = ['a', 'b', 'c'];
    const word = (): string => words[Math.floor(random() * words.length)] as string;
    const randomSelectorSource = (): string => {
      const count = 1 + Math.floor(random() * 4);
      const parts: string[] = [];
      for (let i = 0; i < count; i++) {
        const r = random();
        if (i === count - 1 && r < 0.2) parts.push('**');
        else if (r < 0.45) parts.push('*');
        else if (i === 0 && r < 0.5) parts.push('$s');
        else parts.push(word());
      }
      return parts.join('/');
    };
    const randomTopic = (): string => {
      const count = 1 + Math.floor(random() * 5);
      const parts: string[] = [];
      for (let i = 0; i < count; i++) parts.push(i === 0 && random() < 0.1 ? '$s' : word());
      return parts.join('/');
    };

    const index = new TopicIndex<number>();
    // registrations keyed by "source\0value" so the reference model has set semantics too
    const model = new Map<string, [Selector, number]>();
    for (let i = 0; i < 4000; i++) {
      const selector = sel(randomSelectorSource());
      const value = Math.floor(random() * 300);
      index.add(selector, value);
      model.set(`${selector.source}\u0000${value}`, [selector, value]);
    }
    const topics = Array.from({ length: 2000 }, randomTopic);

    const check = (phase: string): void => {
      assert.equal(index.valueCount, model.size, `${phase}: valueCount`);
      assert.equal(index.selectorCount, new Set([...model.values()].map(([s]) => s.source)).size, `${phase}: selectorCount`);
      let nonEmpty = 0;
      for (const topic of topics) {
        const expected: number[] = [];
        for (const [selector, value] of model.values()) if (selectorMatches(selector, topic)) expected.push(value);
        const actual = collect(index, topic);
        if (expected.length > 0) nonEmpty++;
        assert.deepEqual(
          actual.sort((x, y) => x - y),
          expected.sort((x, y) => x - y),
          `${phase}: topic ${topic}`,
        );
      }
      assert.ok(nonEmpty > topics.length / 2, `${phase}: most topics should match something (${nonEmpty})`);
    };

    check('after adding');
    const keys = [...model.keys()];
    for (const key of keys) {
      if (random() < 0.5) continue;
      const [selector, value] = model.get(key) as [Selector, number];
      index.remove(selector, value);
      model.delete(key);
    }
    check('after removing half');
  });

  it('tolerates changes made from inside visit', () => {
    const index = new TopicIndex<string>();
    const selector = sel('room/*');
    for (const v of ['a', 'b', 'c', 'd']) index.add(selector, v);
    index.add(sel('room/1'), 'x');

    // 'a' removes 'c' (not yet visited) and itself, and adds 'e' (not visited by this match)
    const seen: string[] = [];
    index.match('room/1', (value) => {
      seen.push(value);
      if (value === 'a') {
        index.remove(selector, 'c');
        index.remove(selector, 'a');
        index.add(selector, 'e');
      }
    });
    assert.deepEqual(sorted(seen), ['a', 'b', 'd', 'x']);
    assert.equal(index.valueCount, 4);
    assert.deepEqual(sorted(collect(index, 'room/1')), ['b', 'd', 'e', 'x']);

    // removing every value during a match prunes the index; later matches see nothing
    index.match('room/2', (value) => index.remove(selector, value));
    index.remove(sel('room/1'), 'x');
    assert.equal(index.valueCount, 0);
    assert.equal(index.isEmpty(), true);
    assert.deepEqual(collect(index, 'room/1'), []);

    // the index still works normally afterwards
    index.add(selector, 'f');
    index.add(selector, 'g');
    index.remove(selector, 'f');
    assert.deepEqual(collect(index, 'room/9'), ['g']);
  });

  it('tolerates changes from inside visit in a large selector too, across the size where lookups change', () => {
    const index = new TopicIndex<string>();
    const selector = sel('big/*');
    const values = Array.from({ length: 12 }, (_, i) => `v${i}`);
    for (const v of values.slice(0, 7)) index.add(selector, v);
    const seen: string[] = [];
    index.match('big/1', (value) => {
      seen.push(value);
      if (value === 'v0') {
        index.remove(selector, 'v3'); // a hole while small
        for (const v of values.slice(7)) index.add(selector, v); // grows past 8 with a hole in it
        index.remove(selector, 'v9'); // added during this match: never visited by it
        index.remove(selector, 'v1');
        index.add(selector, 'v1'); // removed and added again during the match: not visited again
        index.add(selector, 'v0'); // already there: a no-op
      }
    });
    assert.deepEqual(sorted(seen), ['v0', 'v2', 'v4', 'v5', 'v6']);
    const expected = ['v0', 'v1', 'v2', 'v4', 'v5', 'v6', 'v7', 'v8', 'v10', 'v11'];
    assert.equal(index.valueCount, expected.length);
    assert.deepEqual(sorted(collect(index, 'big/1')), sorted(expected));
    for (const [i, v] of expected.entries()) {
      index.remove(selector, v);
      assert.equal(index.valueCount, expected.length - i - 1, `after removing ${v}`);
    }
    assert.equal(index.isEmpty(), true);
  });

  it('recovers if visit throws', () => {
    const index = new TopicIndex<string>();
    const selector = sel('t/**');
    index.add(selector, 'a');
    index.add(selector, 'b');
    assert.throws(() =>
      index.match('t/1', (value) => {
        index.remove(selector, value);
        throw new Error('boom');
      }),
    );
    assert.equal(index.valueCount, 1);
    index.add(selector, 'c');
    index.remove(selector, 'b');
    assert.deepEqual(collect(index, 't/1'), ['c']);
  });

  describe('topSelectors', () => {
    it('lists the selectors with the most values, most first, ties by name, at most limit', () => {
      const index = new TopicIndex<string>();
      const register = (selector: string, count: number): void => {
        for (let i = 0; i < count; i++) index.add(sel(selector), `${selector}#${i}`);
      };
      register('orders/42', 3);
      register('orders/*', 2);
      register('b', 2);
      register('a/**', 2);
      register('**', 1);
      register('$ssehub/stats', 1);
      register('x/*/y', 4);
      register('*/items/**', 1);
      assert.deepEqual(index.topSelectors(5), [
        { selector: 'x/*/y', values: 4 },
        { selector: 'orders/42', values: 3 },
        { selector: 'a/**', values: 2 },
        { selector: 'b', values: 2 },
        { selector: 'orders/*', values: 2 },
      ]);
      assert.deepEqual(index.topSelectors(100).slice(5), [
        { selector: '$ssehub/stats', values: 1 },
        { selector: '**', values: 1 }, // code-unit order: "*" (0x2a) before "/" (0x2f)
        { selector: '*/items/**', values: 1 },
      ]);
      assert.equal(index.topSelectors(100).length, index.selectorCount);
      assert.deepEqual(index.topSelectors(0), []);
      // Removing values re-ranks; a selector with no values left is gone.
      for (let i = 0; i < 4; i++) index.remove(sel('x/*/y'), `x/*/y#${i}`);
      assert.deepEqual(index.topSelectors(1), [{ selector: 'orders/42', values: 3 }]);
      assert.ok(!index.topSelectors(100).some((entry) => entry.selector === 'x/*/y'));
    });

    it('agrees with sorting everything, for 10,000 random selectors, and stays cheap', () => {
      const rng = mulberry32(20_25);
      const index = new TopicIndex<number>();
      const counts = new Map<string, number>();
      let value = 0;
      for (let i = 0; i < 10_000; i++) {
        const a = `t${Math.floor(rng() * 3000)}`;
        const shape = rng();
        const selector = shape < 0.8 ? a : shape < 0.9 ? `${a}/*` : `${a}/x/**`;
        const n = 1 + Math.floor(rng() * 3);
        for (let k = 0; k < n; k++) index.add(sel(selector), value++);
        counts.set(selector, (counts.get(selector) ?? 0) + n);
      }
      const expected = [...counts]
        .map(([selector, values]) => ({ selector, values }))
        .sort((x, y) => y.values - x.values || (x.selector < y.selector ? -1 : 1))
        .slice(0, 20);
      assert.deepEqual(index.topSelectors(20), expected);
      const started = performance.now();
      for (let i = 0; i < 20; i++) index.topSelectors(20);
      const perCall = (performance.now() - started) / 20;
      assert.ok(perCall < 20, `${perCall.toFixed(2)} ms per call over ${index.selectorCount} selectors`);
    });
  });
});
