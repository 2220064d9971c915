import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chargesPublisher, LocalLimits, RateLimiter, StreamCounter, TokenBucket } from '../../src/auth/limits.js';
import { HubError } from '../../src/errors.js';

describe('StreamCounter', () => {
  test('refuses past the maximum per key and takes slots back', () => {
    const counter = new StreamCounter(2, 'client IP');
    counter.acquire('ip1');
    counter.acquire('ip1');
    assert.throws(() => counter.acquire('ip1'), (error: HubError) => error.status === 429 && error.code === 'too_many_streams');
    counter.acquire('ip2'); // other keys are unaffected
    counter.release('ip1');
    counter.acquire('ip1');
    assert.throws(() => counter.acquire('ip1'), HubError);
    counter.release('ip1');
    counter.release('ip1');
    counter.release('ip1'); // more releases than slots held: the count stays at zero
    assert.equal(counter.keys, 1);
    counter.acquire('ip1');
    counter.acquire('ip1');
    assert.throws(() => counter.acquire('ip1'), HubError);
  });

  test('0 means no limit', () => {
    const counter = new StreamCounter(0, 'client IP');
    for (let i = 0; i < 10_000; i++) counter.acquire('ip');
    assert.equal(counter.keys, 0);
  });
});

describe('TokenBucket', () => {
  test('a burst, then one more each 1/rate seconds, never more than the burst saved up; none at a rate of 0', () => {
    let now = 0;
    const bucket = new TokenBucket(4, 4, now);
    assert.deepEqual(Array.from({ length: 5 }, () => bucket.take(1, now)), [true, true, true, true, false]);
    now += 250;
    assert.deepEqual([bucket.take(1, now), bucket.take(1, now)], [true, false]);
    now += 10_000;
    assert.equal(bucket.full(now), true);
    assert.equal(Array.from({ length: 10 }, () => bucket.take(1, now)).filter(Boolean).length, 4, 'no more than a burst is saved up');
    assert.equal(bucket.full(now), false);
    bucket.refund(2);
    assert.equal(bucket.available(now), 2, 'a refund gives the tokens back');
    assert.equal(bucket.take(3, now), false, 'a cost above what is held takes nothing');
    assert.equal(bucket.available(now), 2);
    assert.equal(new TokenBucket(0, 0, now).take(1, now), false);
  });
});

describe('RateLimiter', () => {
  test('allows a burst, then the rate, and answers Retry-After', () => {
    let now = 0;
    const limiter = new RateLimiter(10, 20, 'events', () => now);
    limiter.take('alice', 20); // the whole burst at once
    assert.throws(
      () => limiter.take('alice', 1),
      (error: HubError) => error.status === 429 && error.code === 'rate_limited' && error.headers?.['Retry-After'] === '1',
    );
    limiter.take('bob', 5); // per key
    now += 500; // refills 5
    limiter.take('alice', 5);
    assert.throws(() => limiter.take('alice', 1), HubError);
    now += 3000; // refills 30, capped at the burst of 20
    limiter.take('alice', 20);
    assert.throws(() => limiter.take('alice', 15), (error: HubError) => error.headers?.['Retry-After'] === '2');
  });

  test('0 means no limit', () => {
    const limiter = new RateLimiter(0, 0);
    assert.equal(limiter.limited, false);
    // A thousand takes, each far above the burst of 0: neither a 429 nor a 413.
    assert.doesNotThrow(() => {
      for (let i = 0; i < 1000; i++) limiter.take('x', 1000);
    });
  });

  test('a byte bucket names bytes, and a cost larger than the whole burst is 413, never a 429 to retry', () => {
    let now = 0;
    const limiter = new RateLimiter(1000, 4000, 'bytes', () => now);
    limiter.take('alice', 3000);
    assert.throws(
      () => limiter.take('alice', 2000),
      (error: HubError) =>
        error.status === 429 && error.code === 'rate_limited' && /1000 bytes\/s/.test(error.message) && error.headers?.['Retry-After'] === '1',
    );
    now += 1000;
    limiter.take('alice', 2000);
    assert.throws(() => limiter.take('bob', 4001), (error: HubError) => error.status === 413 && error.code === 'publish_too_large' && /4000 bytes/.test(error.message));
    limiter.take('bob', 4000); // exactly the burst passes
  });
});

describe('LocalLimits', () => {
  const settings = { maxStreamsPerIp: 0, maxStreamsPerSubject: 0, publishRate: 10, publishBurst: 10, publishBytesRate: 100, publishBytesBurst: 100, rateLimitSubjects: false };

  test('a publish is charged in events and in bytes; refused for its bytes, it keeps its events', () => {
    let now = 0;
    const limits = new LocalLimits(settings, () => now);
    limits.chargePublish({ key: 'ip:a', events: 1, bytes: 90 });
    for (let i = 0; i < 5; i++) {
      assert.throws(
        () => limits.chargePublish({ key: 'ip:a', events: 1, bytes: 20 }),
        (error: HubError) => error.status === 429 && error.code === 'rate_limited' && /bytes/.test(error.message),
      );
    }
    // The refused publishes took no events: 9 of the 10 are left.
    limits.chargePublish({ key: 'ip:a', events: 9, bytes: 10 });
    assert.throws(() => limits.chargePublish({ key: 'ip:a', events: 1, bytes: 0 }), (error: HubError) => /events\/s/.test(error.message));
    limits.chargePublish({ key: 'ip:b', events: 1, bytes: 100 }); // per publisher
  });

  test('a stream lease gives its slots back once', () => {
    const limits = new LocalLimits({ ...settings, maxStreamsPerIp: 2, maxStreamsPerSubject: 1 });
    const first = limits.openStream('10.0.0.1', 'alice');
    assert.throws(() => limits.openStream('10.0.0.1', 'alice'), (error: HubError) => error.code === 'too_many_streams');
    // Refused for its subject, it took no IP slot either: one IP slot is still free.
    limits.openStream('10.0.0.1', undefined);
    assert.throws(() => limits.openStream('10.0.0.1', 'bob'), (error: HubError) => error.code === 'too_many_streams');
    first.release();
    first.release(); // a second release gives back nothing more
    limits.openStream('10.0.0.1', 'alice');
    assert.throws(() => limits.openStream('10.0.0.1', 'carol'), (error: HubError) => error.code === 'too_many_streams');
  });

  test('a subject limit alone counts the subject\'s streams; with no limit at all, nothing is counted', () => {
    const bySubject = new LocalLimits({ ...settings, maxStreamsPerIp: 0, maxStreamsPerSubject: 1 });
    const alices = bySubject.openStream('10.0.0.1', 'alice');
    assert.throws(() => bySubject.openStream('10.0.0.2', 'alice'), (error: HubError) => error.code === 'too_many_streams');
    for (let i = 0; i < 3; i++) bySubject.openStream('10.0.0.1', undefined); // anonymous: no limit applies
    alices.release();
    bySubject.openStream('10.0.0.2', 'alice');

    const none = new LocalLimits({ ...settings, maxStreamsPerIp: 0, maxStreamsPerSubject: 0 });
    const leases = Array.from({ length: 5 }, () => none.openStream('10.0.0.1', 'alice'));
    for (const lease of leases) lease.release();
    assert.equal(none.streamsPerIp.keys + none.streamsPerSubject.keys, 0);
  });
});

describe('chargesPublisher', () => {
  const rates = { publishRate: 10, publishBytesRate: 0 };
  test('anonymous publishers are charged while a rate is set; subjects only with rateLimitSubjects', () => {
    assert.equal(chargesPublisher({ ...rates, rateLimitSubjects: false }, undefined), true);
    assert.equal(chargesPublisher({ ...rates, rateLimitSubjects: false }, 'backend'), false);
    assert.equal(chargesPublisher({ ...rates, rateLimitSubjects: true }, 'backend'), true);
    assert.equal(chargesPublisher({ publishRate: 0, publishBytesRate: 0, rateLimitSubjects: true }, undefined), false);
  });
});
