import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseSelector, selectorMatches, TopicTree, type Selector } from '../../src/topics/index.js';
import { mulberry32 } from '../support/prng.js';

const sel = (raw: string): Selector => parseSelector(raw, { allowReserved: true });
const matched = (tree: TopicTree<string>, raw: string): string[] => [...tree.matching(sel(raw))].sort();

describe('TopicTree', () => {
  test('finds exactly the topics selectorMatches accepts, for exact selectors and patterns', () => {
    const random = mulberry32(7);
    const words = ['a', 'b', 'orders', 'items', '1', '$ssehub'];
    const topics = new Set<string>();
    while (topics.size < 400) {
      const length = 1 + Math.floor(random() * 4);
      const segments = Array.from({ length }, (_, i) => {
        const word = words[Math.floor(random() * words.length)]!;
        return word === '$ssehub' && i > 0 ? 'x' : word;
      });
      topics.add(segments.join('/'));
    }
    const tree = new TopicTree<string>();
    for (const topic of topics) tree.set(topic, topic);
    assert.equal(tree.size, topics.size);
    const selectors = ['**', '*', 'a', 'a/**', 'a/*', '*/items', 'orders/*/items', '*/*/**', '$ssehub/*', '$ssehub/**', 'b/a/1/items', 'nomatch/**'];
    for (const raw of selectors) {
      const expected = [...topics].filter((topic) => selectorMatches(sel(raw), topic)).sort();
      assert.deepEqual(matched(tree, raw), expected, raw);
    }
  });

  test('a pattern starting with a wildcard never reaches reserved topics', () => {
    const tree = new TopicTree<string>();
    for (const topic of ['$ssehub/stats', 'news/1']) tree.set(topic, topic);
    assert.deepEqual(matched(tree, '**'), ['news/1']);
    assert.deepEqual(matched(tree, '*/stats'), []);
    assert.deepEqual(matched(tree, '$ssehub/*'), ['$ssehub/stats']);
  });

  test('a walk costs what the selector can match, not the number of topics', () => {
    const tree = new TopicTree<number>();
    for (let i = 0; i < 20_000; i++) tree.set(`t${i % 100}/${i}`, i);
    let before = tree.nodesVisited;
    assert.deepEqual([...tree.matching(sel('nomatch/**'))], []);
    assert.ok(tree.nodesVisited - before <= 2, `nomatch/** entered ${tree.nodesVisited - before} nodes`);
    before = tree.nodesVisited;
    assert.equal([...tree.matching(sel('t7/**'))].length, 200);
    assert.ok(tree.nodesVisited - before <= 202, `t7/** entered ${tree.nodesVisited - before} nodes`);
    before = tree.nodesVisited;
    assert.deepEqual([...tree.matching(sel('t7/107'))], [107]);
    assert.ok(tree.nodesVisited - before <= 3);
  });

  test('delete removes a value and prunes the nodes left empty; set replaces', () => {
    const tree = new TopicTree<string>();
    tree.set('a/b/c', 'abc');
    tree.set('a', 'a');
    tree.set('a', 'a2');
    assert.equal(tree.size, 2);
    assert.equal(tree.delete('a/b'), false, 'a path without a value');
    assert.equal(tree.delete('a/b/c'), true);
    assert.equal(tree.delete('a/b/c'), false);
    assert.deepEqual(matched(tree, '**'), ['a2']);
    tree.delete('a');
    assert.equal(tree.size, 0);
    const before = tree.nodesVisited;
    assert.deepEqual(matched(tree, '**'), []);
    assert.equal(tree.nodesVisited - before, 1, 'nothing left below the root');
  });

  test('a walk survives topics deleted and added between two steps', () => {
    const tree = new TopicTree<string>();
    for (let i = 0; i < 10; i++) tree.set(`r/${i}`, `r/${i}`);
    const seen: string[] = [];
    for (const topic of tree.matching(sel('r/*'))) {
      seen.push(topic);
      if (topic === 'r/2') {
        tree.delete('r/5');
        tree.delete('r/1');
      }
    }
    assert.ok(!seen.includes('r/5'), 'deleted before it was reached: not visited');
    assert.equal(seen.length, 9);
  });
});
