import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createCorsPolicy } from '../../src/auth/cors.js';

describe('CORS policy', () => {
  const policy = createCorsPolicy(['https://app.example', 'https://admin.example/']);

  test('an allowed origin is echoed, with credentials, never *', () => {
    assert.deepEqual(policy.headersFor('https://app.example'), {
      'Access-Control-Allow-Origin': 'https://app.example',
      'Access-Control-Allow-Credentials': 'true',
      'Access-Control-Expose-Headers': 'Retry-After, Idempotent-Replayed',
      Vary: 'Origin',
    });
    assert.equal(policy.headersFor('https://admin.example')['Access-Control-Allow-Origin'], 'https://admin.example');
  });

  test('other origins, look-alikes and no origin get nothing', () => {
    for (const origin of ['https://evil.example', 'https://app.example.evil.example', 'http://app.example', 'null', undefined]) {
      assert.deepEqual(policy.headersFor(origin), {}, String(origin));
      assert.equal(policy.preflightFor(origin), undefined);
    }
  });

  test('the preflight allows the methods and the headers SSE clients send', () => {
    const headers = policy.preflightFor('https://app.example')!;
    assert.equal(headers['Access-Control-Allow-Methods'], 'GET, POST, OPTIONS');
    for (const name of ['Authorization', 'Content-Type', 'Last-Event-ID']) assert.match(headers['Access-Control-Allow-Headers']!, new RegExp(name));
    assert.equal(headers['Access-Control-Allow-Credentials'], 'true');
  });

  test('"*" lets any other origin in without credentials', () => {
    const open = createCorsPolicy(['*', 'https://app.example']);
    assert.deepEqual(open.headersFor('https://anyone.example'), {
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Expose-Headers': 'Retry-After, Idempotent-Replayed',
    });
    assert.equal(open.headersFor('https://app.example')['Access-Control-Allow-Credentials'], 'true');
  });

  test('an empty allowlist sends no CORS headers at all', () => {
    assert.deepEqual(createCorsPolicy([]).headersFor('https://app.example'), {});
  });

  test('credentials (a cookie on a POST) are allowed only from origins listed by name, never through "*"', () => {
    const open = createCorsPolicy(['*', 'https://app.example', 'https://admin.example/']);
    assert.equal(open.allowsCredentials('https://app.example'), true);
    assert.equal(open.allowsCredentials('https://admin.example'), true);
    for (const origin of ['https://anyone.example', 'https://app.example.evil.example', 'http://app.example', 'null', '*']) {
      assert.equal(open.allowsCredentials(origin), false, origin);
    }
  });
});
