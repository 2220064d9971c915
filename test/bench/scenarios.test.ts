import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SCENARIOS } from '../../bench/scenarios.js';

describe('bench scenarios, resized (--subscribers)', () => {
  it('gives (c) N subscribers on N topics, published to in turn', () => {
    const c = SCENARIOS.find((scenario) => scenario.key === 'c')!.sized(false, undefined, 2000);
    assert.equal(c.subscribers, 2000);
    assert.deepEqual(c.subscriberCounts('ssehub'), [2000]);
    const topics = c.publishTopics();
    assert.equal(topics.length, 2000);
    assert.equal(new Set(topics).size, 2000);
    assert.equal(c.topicOf(1999), 'user-1999');
  });

  it('keeps every other setting, and the full size without the option', () => {
    const template = SCENARIOS.find((scenario) => scenario.key === 'c')!;
    const sized = template.sized(false, 5000, 2000);
    assert.equal(sized.durationMs, 5000);
    assert.deepEqual(sized.publish, template.publish);
    assert.equal(template.sized(false).subscribers, 10_000);
  });
});
