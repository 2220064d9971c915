/**
 * The group-commit queue the Redis and PostgreSQL engines share: one group in flight, the appends
 * made meanwhile as the next group, none left waiting, and the gathering wait. The store here is
 * the test's own, answering when the test says, so that every interleaving is reached on purpose;
 * the engines' own tests run the same queue against real servers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GroupCommit, type GroupStore } from '../../src/engines/group-commit.js';

interface Append {
  name: string;
  resolve(group: string[]): void;
  reject(error: unknown): void;
}

/** A store that records each group and holds it until release() is called for it. */
class HeldStore implements GroupStore<Append> {
  readonly groups: string[][] = [];
  private readonly releases: Array<(error?: Error) => void> = [];
  gather = 0;

  take(queue: Append[]): Append[] {
    return queue.splice(0);
  }

  store(group: Append[]): Promise<void> {
    this.groups.push(group.map((append) => append.name));
    return new Promise<void>((resolve, reject) => {
      this.releases.push((error) => {
        if (error) return reject(error);
        for (const append of group) append.resolve(group.map((each) => each.name));
        resolve();
      });
    });
  }

  gatherMs(): number {
    return this.gather;
  }

  release(index: number, error?: Error): void {
    this.releases[index]!(error);
  }
}

function add(queue: GroupCommit<Append>, name: string): Promise<string[]> {
  return new Promise((resolve, reject) => queue.add({ name, resolve, reject }));
}

/** A few turns of the event loop: enough for any promise chain here to settle. */
async function turns(count = 5): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

test('the appends made while a group is in flight go together, in call order, as the next group', async () => {
  const store = new HeldStore();
  const queue = new GroupCommit(store);
  const first = add(queue, 'a');
  const rest = [add(queue, 'b'), add(queue, 'c'), add(queue, 'd')];
  assert.deepEqual(store.groups, [['a']], 'one group in flight, the others wait');
  store.release(0);
  assert.deepEqual(await first, ['a']);
  await turns();
  assert.deepEqual(store.groups, [['a'], ['b', 'c', 'd']]);
  store.release(1);
  for (const answer of rest) assert.deepEqual(await answer, ['b', 'c', 'd']);
});

test('an append made by code that a group\'s own answer resumed is stored, not left waiting', async () => {
  const store = new HeldStore();
  const queue = new GroupCommit(store);
  let late: Promise<string[]> | undefined;
  const first = add(queue, 'a').then((answer) => {
    late = add(queue, 'late'); // the group is still in flight here: its end must start the next
    assert.equal(store.groups.length, 1, 'added while the first group is in flight');
    return answer;
  });
  store.release(0);
  await first;
  await turns();
  assert.deepEqual(store.groups, [['a'], ['late']]);
  store.release(1);
  assert.deepEqual(await late, ['late']);
});

test('fewer appends than the last group wait for the others to come back, and go at once when they have', async () => {
  const store = new HeldStore();
  store.gather = 60_000; // never reached here: the group is complete first
  const queue = new GroupCommit(store);
  const opening = add(queue, 'a');
  const three = [add(queue, 'b'), add(queue, 'c'), add(queue, 'd')];
  store.release(0);
  await opening;
  await turns();
  store.release(1);
  await Promise.all(three);
  assert.deepEqual(store.groups, [['a'], ['b', 'c', 'd']]);

  const again = [add(queue, 'e'), add(queue, 'f')];
  await turns();
  assert.deepEqual(store.groups.length, 2, 'two of the last group\'s three are back: the queue waits');
  again.push(add(queue, 'g'));
  assert.deepEqual(store.groups.at(-1), ['e', 'f', 'g'], 'the third is back: the group goes');
  store.release(2);
  await Promise.all(again);
});

test('the gathering wait is bounded by its timer, and a store that says 0 does not wait', { timeout: 30_000 }, async () => {
  for (const gather of [5, 0]) {
    const store = new HeldStore();
    store.gather = gather;
    const queue = new GroupCommit(store);
    const opening = add(queue, 'a');
    const pair = [add(queue, 'b'), add(queue, 'c')];
    store.release(0);
    await opening;
    await turns();
    store.release(1);
    await Promise.all(pair);
    await turns();
    const alone = add(queue, 'd');
    if (gather === 0) {
      assert.deepEqual(store.groups.at(-1), ['d'], 'a store that says 0 (closing): taken at once');
    } else {
      assert.equal(store.groups.length, 2, 'one of the last group\'s two is back: the queue waits');
      while (store.groups.length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.deepEqual(store.groups.at(-1), ['d'], 'the timer ends the wait');
    }
    store.release(2);
    assert.deepEqual(await alone, ['d']);
  }
});

test('a store that rejects refuses its group\'s appends with its error, and the next group still goes', async () => {
  const store = new HeldStore();
  const queue = new GroupCommit(store);
  const failing = [add(queue, 'a')];
  const next = add(queue, 'b');
  store.release(0, new Error('the server said no'));
  await assert.rejects(failing[0]!, /the server said no/);
  await turns();
  assert.deepEqual(store.groups, [['a'], ['b']]);
  store.release(1);
  assert.deepEqual(await next, ['b']);
});

test('a store that throws before it returns a promise refuses its group, and the queue goes on', async () => {
  const stored: string[][] = [];
  let fail = true;
  const queue = new GroupCommit<Append>({
    take: (waiting) => waiting.splice(0),
    store: (group) => {
      if (fail) {
        fail = false;
        throw new Error('thrown at once');
      }
      stored.push(group.map((append) => append.name));
      for (const append of group) append.resolve([append.name]);
      return Promise.resolve();
    },
  });
  await assert.rejects(add(queue, 'a'), /thrown at once/);
  assert.deepEqual(await add(queue, 'b'), ['b']);
  assert.deepEqual(stored, [['b']]);
});
