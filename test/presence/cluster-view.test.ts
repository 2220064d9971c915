/** The cluster's view: sums over instances, and the changes each message makes to them. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClusterView } from '../../src/presence/cluster-view.js';

describe('ClusterView', () => {
  test('a subject joins on its first stream anywhere, and leaves with its last', () => {
    const view = new ClusterView();
    const first = view.apply('a', [{ topic: 'room', subject: 'alice', info: { name: 'Alice' }, connections: 1 }], []);
    assert.deepEqual(first.joined, [{ topic: 'room', member: { subject: 'alice', info: { name: 'Alice' }, connections: 1 } }]);
    // A second stream, on another instance: no join, two connections.
    assert.deepEqual(view.apply('b', [{ topic: 'room', subject: 'alice', connections: 1 }], []).joined, []);
    assert.deepEqual(view.membersOf('room'), [{ subject: 'alice', info: { name: 'Alice' }, connections: 2 }]);
    assert.deepEqual(view.apply('a', [{ topic: 'room', subject: 'alice', connections: -1 }], []).left, []);
    const last = view.apply('b', [{ topic: 'room', subject: 'alice', connections: -1 }], []);
    assert.deepEqual(last.left.map((change) => change.member.subject), ['alice']);
    assert.deepEqual(view.membersOf('room'), []);
    assert.deepEqual(view.counts(), { members: 0, topics: 0 });
  });

  test('a topic is occupied by its first subscription and vacated by its last; patterns are counted where they match', () => {
    const view = new ClusterView();
    assert.deepEqual(view.apply('a', [], [['news', 2], ['news/*', 1]]).occupied.sort(), ['news', 'news/*']);
    assert.deepEqual(view.apply('b', [], [['news', 1]]).occupied, []);
    assert.equal(view.subscriptionsMatching((selector) => selector === 'news' || selector === 'news/*'), 4);
    assert.deepEqual(view.apply('a', [], [['news', -2]]).vacated, []);
    assert.deepEqual(view.apply('b', [], [['news', -1]]).vacated, ['news']);
  });

  test('a state replaces what the instance said before; removing an instance takes its streams away', () => {
    const view = new ClusterView();
    view.apply('a', [{ topic: 'room', subject: 'alice', connections: 1 }], [['room', 1]]);
    view.apply('b', [{ topic: 'room', subject: 'bob', connections: 1 }], [['room', 1]]);
    const replaced = view.replace('a', [{ topic: 'room', subject: 'carol', connections: 1 }], [['room', 1]]);
    assert.deepEqual(replaced.left.map((change) => change.member.subject), ['alice']);
    assert.deepEqual(replaced.joined.map((change) => change.member.subject), ['carol']);
    assert.deepEqual(replaced.occupied, [], 'room stayed occupied throughout');
    const removed = view.remove('b');
    assert.deepEqual(removed.left.map((change) => change.member.subject), ['bob']);
    assert.deepEqual(removed.vacated, []);
    assert.deepEqual(view.remove('a').vacated, ['room']);
    assert.deepEqual(view.instanceIds(), []);
  });

  test('a state that repeats what the instance had is no change: no leave and join, no vacated and occupied', () => {
    const view = new ClusterView();
    view.apply('a', [{ topic: 'room', subject: 'alice', connections: 2 }], [['room', 2]]);
    const again = view.replace('a', [{ topic: 'room', subject: 'alice', connections: 2 }], [['room', 2]]);
    assert.deepEqual(again, { joined: [], left: [], occupied: [], vacated: [] });
    assert.deepEqual(view.membersOf('room'), [{ subject: 'alice', connections: 2 }]);
  });

  test('changes about streams this view never heard of take nothing below zero', () => {
    const view = new ClusterView();
    const changes = view.apply('late', [{ topic: 'room', subject: 'ghost', connections: -1 }], [['room', -3]]);
    assert.deepEqual(changes, { joined: [], left: [], occupied: [], vacated: [] });
    view.apply('late', [{ topic: 'room', subject: 'ghost', connections: 1 }], [['room', 1]]);
    assert.equal(view.subscriptionsMatching((selector) => selector === 'room'), 1);
  });
});
