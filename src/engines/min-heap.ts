/**
 * A binary min-heap over items keyed by a number read from the item itself, for when the keys
 * change only at the root (the memory engine's byte budget: the topic whose oldest event is the
 * engine's oldest sits at the root; evicting that event raises its key, and it sinks).
 */
export class MinHeap<T> {
  private readonly items: T[];

  /** Builds the heap in linear time; `key` is read again whenever an item is compared. */
  constructor(
    items: T[],
    private readonly key: (item: T) => number,
  ) {
    this.items = items;
    for (let i = (items.length >>> 1) - 1; i >= 0; i--) this.sink(i);
  }

  get size(): number {
    return this.items.length;
  }

  /** The item with the smallest key, if any. */
  peek(): T | undefined {
    return this.items[0];
  }

  /** Restores the order after the root's key grew. */
  rootKeyIncreased(): void {
    this.sink(0);
  }

  /** Removes the root. */
  pop(): void {
    const last = this.items.pop();
    if (last === undefined || this.items.length === 0) return;
    this.items[0] = last;
    this.sink(0);
  }

  private sink(i: number): void {
    const { items, key } = this;
    const item = items[i]!;
    const itemKey = key(item);
    for (;;) {
      const left = 2 * i + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child = right < items.length && key(items[right]!) < key(items[left]!) ? right : left;
      if (key(items[child]!) >= itemKey) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = item;
  }
}
