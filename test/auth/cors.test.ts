import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createCorsPolicy, parseCorsOrigins } from '../../src/auth/cors.js';
import { loadConfig } from '../../src/config.js';
import type { HubError } from '../../src/errors.js';

describe('CORS policy', () => {
  const policy = createCorsPolicy(['https://app.example', 'https://admin.example/']);

  test('an allowed origin is echoed, with credentials, never *', () => {
    assert.deepEqual(policy.headersFor('https://app.example'), {
      'Access-Control-Allow-Origin': 'https://app.example',
      'Access-Control-Allow-Credentials': 'true',
      'Access-Control-Expose-Headers': 'Retry-After, Idempotent-Replayed, Last-Event-ID',
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
      'Access-Control-Expose-Headers': 'Retry-After, Idempotent-Replayed, Last-Event-ID',
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

describe('CORS entries with any port', () => {
  const local = createCorsPolicy(['http://localhost:*', 'http://127.0.0.1:*']);

  test('an origin on the host, on any port or none, is echoed with credentials', () => {
    for (const origin of ['http://localhost:3000', 'http://localhost:5173', 'http://127.0.0.1:8081', 'http://localhost']) {
      assert.equal(local.headersFor(origin)['Access-Control-Allow-Origin'], origin, origin);
      assert.equal(local.allowsCredentials(origin), true, origin);
    }
  });

  test('another scheme, another host and look-alikes of the host get nothing', () => {
    for (const origin of ['https://localhost:3000', 'http://localhost.evil.example:3000', 'http://evil.localhost:3000', 'http://127.0.0.10:3000', 'http://localhost:3000.evil.example', 'null']) {
      assert.deepEqual(local.headersFor(origin), {}, origin);
      assert.equal(local.allowsCredentials(origin), false, origin);
    }
  });
});

describe('CORS entries that are not origins', () => {
  test('throw invalid_config naming the entry', () => {
    for (const entry of ['localhost:3000', 'http://localhost:3000/app', 'http://*.example', 'ftp://app.example', 'http://localhost:99999', 'https://app.example:*:*', '']) {
      assert.throws(() => parseCorsOrigins([entry]), (error: HubError) => error.code === 'invalid_config' && error.message.includes(`"${entry}"`), entry);
    }
  });

  test('are refused when the hub is configured, not silently never matched', () => {
    assert.throws(() => loadConfig(['--cors-origins', 'http://localhost:3000,localhost:5173'], {}), (error: HubError) => error.code === 'invalid_config' && error.message.includes('"localhost:5173"'));
    assert.deepEqual(loadConfig(['--cors-origins', 'https://App.Example/,http://[::1]:*'], {}).corsOrigins, ['https://App.Example/', 'http://[::1]:*']);
    assert.equal(createCorsPolicy(['https://App.Example/']).allowsCredentials('https://app.example'), true, 'browsers send the host in lowercase, without a trailing slash');
  });
});
