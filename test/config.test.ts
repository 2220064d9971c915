import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { authEnabled, describeOptions, loadConfig, OPTIONS, parseBytes, parseDuration, parseListenAddress, tokenKeysConfigured } from '../src/config.js';
import { HubError } from '../src/errors.js';

describe('configuration', () => {
  test('defaults', () => {
    const config = loadConfig([], {});
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8080);
    assert.equal(config.engine, 'memory');
    assert.equal(config.heartbeatMs, 15_000);
    assert.equal(config.maxBufferBytes, 1024 * 1024);
    assert.equal(config.maxBodyBytes, 1024 * 1024);
    assert.equal(config.historyMaxEvents, 1000);
    assert.equal(config.historyMaxAgeMs, 3_600_000);
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.tcpNoDelay, true);
  });

  test('environment variables set options and flags win over them', () => {
    const env = { SSEHUB_PORT: '9000', SSEHUB_HEARTBEAT: '30s', SSEHUB_MAX_BUFFER: '256KiB' };
    const fromEnv = loadConfig([], env);
    assert.equal(fromEnv.port, 9000);
    assert.equal(fromEnv.heartbeatMs, 30_000);
    assert.equal(fromEnv.maxBufferBytes, 262_144);
    const both = loadConfig(['--port', '9100', '--heartbeat=5s'], env);
    assert.equal(both.port, 9100);
    assert.equal(both.heartbeatMs, 5000);
    assert.equal(loadConfig([], { SSEHUB_TCP_NODELAY: 'off' }).tcpNoDelay, false);
    assert.equal(loadConfig(['--no-tcp-nodelay'], {}).tcpNoDelay, false);
  });

  test('engine and namespace: a supported engine URL and a safe name, or a clear error', () => {
    const config = loadConfig(['--engine', 'redis://cache:6379/2', '--namespace', 'shop_events'], {});
    assert.equal(config.engine, 'redis://cache:6379/2');
    assert.equal(config.namespace, 'shop_events');
    assert.equal(loadConfig([], { SSEHUB_ENGINE: 'nats://127.0.0.1:4222' }).engine, 'nats://127.0.0.1:4222');
    assert.equal(loadConfig(['--engine', 'postgresql://u@h/db'], {}).engine, 'postgresql://u@h/db');
    assert.equal(loadConfig([], {}).namespace, 'ssehub');
    // Every scheme openEngine() knows, in any case; the scheme alone names no server.
    for (const engine of ['memory', 'redis://h', 'REDISS://h', 'redis-sentinel://s1:26379/m', 'redis-cluster://h1:7000', 'nats://h', 'postgres://u@h/db', 'postgresql://u@h/db']) {
      assert.equal(loadConfig(['--engine', engine], {}).engine, engine);
    }
    for (const [flag, value] of [
      ['--engine', 'mysql://h/db'],
      ['--engine', 'redis'],
      ['--engine', 'redis://'],
      ['--engine', 'Memory'],
      ['--namespace', 'Has-Dash'],
      ['--namespace', '1starts_with_digit'],
      ['--namespace', 'a.b'],
    ]) {
      assert.throws(
        () => loadConfig([flag!, value!], {}),
        (error: unknown) => error instanceof HubError && error.code === 'invalid_config' && error.message.includes(flag!),
        `${flag} ${value}`,
      );
    }
  });

  test('dashboard, stats interval and demos: defaults, flags (bare, with a value, --no-…) and environment', () => {
    const defaults = loadConfig([], {});
    assert.equal(defaults.dashboard, true);
    assert.equal(defaults.statsIntervalMs, 1000);
    assert.equal(defaults.demos, false);
    assert.equal(loadConfig(['--demos'], {}).demos, true);
    assert.equal(loadConfig(['--demos', '--port', '9000'], {}).demos, true);
    assert.equal(loadConfig(['--demos', '--port', '9000'], {}).port, 9000);
    assert.equal(loadConfig(['--dashboard', 'false'], {}).dashboard, false);
    assert.equal(loadConfig(['--dashboard=false'], {}).dashboard, false);
    assert.equal(loadConfig(['--dashboard', 'off', '--demos', 'yes'], {}).demos, true);
    assert.equal(loadConfig(['--no-dashboard'], {}).dashboard, false);
    assert.equal(loadConfig(['--no-demos'], { SSEHUB_DEMOS: 'true' }).demos, false);
    assert.equal(loadConfig([], { SSEHUB_DEMOS: 'true', SSEHUB_DASHBOARD: '0' }).demos, true);
    assert.equal(loadConfig([], { SSEHUB_DASHBOARD: 'FALSE' }).dashboard, false);
    assert.equal(loadConfig(['--dashboard'], { SSEHUB_DASHBOARD: 'false' }).dashboard, true, 'a flag wins');
    assert.equal(loadConfig(['--stats-interval', '250ms'], {}).statsIntervalMs, 250);
    assert.equal(loadConfig([], { SSEHUB_STATS_INTERVAL: '0' }).statsIntervalMs, 0);
    for (const [argv, env, culprit] of [
      [['--dashboard', 'maybe'], {}, '--dashboard'],
      [['--demos=2'], {}, '--demos'],
      [[], { SSEHUB_DEMOS: 'sure' }, 'SSEHUB_DEMOS'],
      [['--no-port'], {}, 'no-port'],
      [['--stats-interval', 'often'], {}, '--stats-interval'],
    ] as const) {
      assert.throws(
        () => loadConfig(argv, env),
        (error: unknown) => error instanceof HubError && error.code === 'invalid_config' && error.message.includes(culprit),
        JSON.stringify([argv, env]),
      );
    }
    assert.match(describeOptions(), /--dashboard <true\|false>/);
  });

  test('the publish byte rate: 10MiB/s in bursts of 20MiB by default, 0 for no limit (then any burst)', () => {
    const defaults = loadConfig([], {});
    assert.equal(defaults.publishBytesRate, 10 * 1024 * 1024);
    assert.equal(defaults.publishBytesBurst, 20 * 1024 * 1024);
    assert.equal(loadConfig([], { SSEHUB_PUBLISH_BYTES_RATE: '1MB', SSEHUB_PUBLISH_BYTES_BURST: '1MiB' }).publishBytesBurst, 1024 * 1024);
    assert.equal(loadConfig(['--publish-bytes-rate', '0', '--publish-bytes-burst', '0']).publishBytesRate, 0);
  });

  test('--metrics-listen: off by default, host:port (IPv6 in brackets) from the flag or SSEHUB_METRICS_LISTEN', () => {
    assert.equal(loadConfig([], {}).metricsListen, undefined);
    assert.equal(loadConfig(['--metrics-listen', '10.0.0.5:9090'], {}).metricsListen, '10.0.0.5:9090');
    assert.equal(loadConfig([], { SSEHUB_METRICS_LISTEN: '[::1]:9090' }).metricsListen, '[::1]:9090');
    assert.deepEqual(parseListenAddress('10.0.0.5:9090'), { host: '10.0.0.5', port: 9090 });
    assert.deepEqual(parseListenAddress('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListenAddress('metrics.internal:9090'), { host: 'metrics.internal', port: 9090 });
  });

  test('durations and sizes', () => {
    assert.equal(parseDuration('1500'), 1500);
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('1.5m'), 90_000);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.equal(parseBytes('65536'), 65_536);
    assert.equal(parseBytes('512KiB'), 524_288);
    assert.equal(parseBytes('1MB'), 1_000_000);
    assert.equal(parseBytes('1 MiB'), 1_048_576);
  });

  test('--retention: one rule per flag, pattern=events,age with either limit left out; SSEHUB_RETENTION separates rules with commas or newlines', () => {
    assert.deepEqual(loadConfig([], {}).retention, []);
    const flags = loadConfig(['--retention', 'chat/**=500,24h', '--retention', 'ai/**=,10m', '--retention', ' logs/*=0 ', '--retention', 'a,b=3'], {});
    assert.deepEqual(flags.retention, [
      { pattern: 'chat/**', maxEvents: 500, maxAgeMs: 86_400_000 },
      { pattern: 'ai/**', maxAgeMs: 600_000 },
      { pattern: 'logs/*', maxEvents: 0 },
      { pattern: 'a,b', maxEvents: 3 },
    ]);
    const env = loadConfig([], { SSEHUB_RETENTION: 'chat/**=500,24h,ai/**=10000,10m\nlogs/*=7' });
    assert.deepEqual(env.retention, [
      { pattern: 'chat/**', maxEvents: 500, maxAgeMs: 86_400_000 },
      { pattern: 'ai/**', maxEvents: 10_000, maxAgeMs: 600_000 },
      { pattern: 'logs/*', maxEvents: 7 },
    ]);
    assert.deepEqual(loadConfig(['--retention', 'x=1'], { SSEHUB_RETENTION: 'y=2' }).retention, [{ pattern: 'x', maxEvents: 1 }], 'flags win');
  });

  const invalid: Array<[string[], Record<string, string>, RegExp]> = [
    [['--port', '70000'], {}, /--port/],
    [['--port', 'eighty'], {}, /--port/],
    [[], { SSEHUB_HEARTBEAT: 'soon' }, /SSEHUB_HEARTBEAT/],
    [['--max-buffer', '12 parsecs'], {}, /--max-buffer/],
    [['--max-buffer', '10'], {}, /at least 1KiB/],
    [['--log-level', 'chatty'], {}, /--log-level/],
    [['--no-such-flag', 'x'], {}, /no-such-flag/],
    [['--max-topics', '0'], {}, /--max-topics/],
    [['--publish-bytes-burst', '512KiB'], {}, /--publish-bytes-burst.*at least --max-body/],
    [['--max-body', '32MiB'], {}, /--publish-bytes-burst.*at least --max-body \(33554432 bytes\)/],
    [['--metrics-listen', '9090'], {}, /--metrics-listen/],
    [['--metrics-listen', '127.0.0.1:70000'], {}, /--metrics-listen/],
    [[], { SSEHUB_METRICS_LISTEN: '::1:9090' }, /--metrics-listen.*host:port/],
    [['--retention', 'chat/**'], {}, /--retention: "chat\/\*\*" is not a retention rule pattern=events,age/],
    [['--retention', 'chat/**='], {}, /--retention: "chat\/\*\*=".*names no limit/],
    [['--retention', 'chat/**=,'], {}, /names no limit/],
    [['--retention', 'chat/**=many'], {}, /"many" is not a whole number of events/],
    [['--retention', 'chat/**=-1'], {}, /"-1" is not a whole number of events/],
    [['--retention', 'chat/**=5,soon'], {}, /--retention "chat\/\*\*=5,soon": "soon" is not a duration/],
    [['--retention', 'chat/**=5,0'], {}, /the age must be above 0/],
    [['--retention', 'chat/**=5,1h,2'], {}, /--retention: "chat\/\*\*=5,1h,2" is not a retention rule/],
    [['--retention', 'chat/ x=5'], {}, /"chat\/ x" is not a topic or pattern/],
    [['--retention', '**/a=5'], {}, /"\*\*\/a" is not a topic or pattern/],
    [['--retention', '$ssehub/presence/*=5'], {}, /the hub's own \$ topics have retention of their own/],
    [[], { SSEHUB_RETENTION: 'chat/**=500,24h,ai/**' }, /SSEHUB_RETENTION: "chat\/\*\*=500,24h,ai\/\*\*" is not a retention rule/],
    [['--redis-shards', '7'], {}, /--redis-shards.*from 1 to 6/],
    [['--redis-shards', '0'], {}, /--redis-shards.*from 1 to 6/],
    [['--engine', 'redis-cluster://h1:7000', '--redis-wait-replicas', '1'], {}, /--redis-wait-replicas.*redis-cluster/],
  ];
  for (const [argv, env, message] of invalid) {
    test(`refuses ${JSON.stringify(argv)} ${JSON.stringify(env)} naming the culprit`, () => {
      assert.throws(() => loadConfig(argv, env), (error: HubError) => error.code === 'invalid_config' && message.test(error.message));
    });
  }

  test('token settings: a --jwt-secret under 32 bytes is invalid_config (flag or environment); --jwt-max-lifetime is a duration, 0 by default', () => {
    for (const [argv, env] of [
      [['--jwt-secret', 'a'], {}],
      [['--jwt-secret', 'client-secret'], {}],
      [[], { SSEHUB_JWT_SECRET: 'x'.repeat(31) }],
    ] as const) {
      assert.throws(
        () => loadConfig(argv, env),
        (error: unknown) => error instanceof HubError && error.code === 'invalid_config' && /--jwt-secret/.test(error.message) && /openssl rand -base64 32/.test(error.message),
        JSON.stringify([argv, env]),
      );
    }
    assert.equal(loadConfig(['--jwt-secret', 'x'.repeat(32)], {}).jwtSecret, 'x'.repeat(32));
    assert.equal(loadConfig([], {}).jwtMaxLifetimeMs, 0);
    assert.equal(loadConfig(['--jwt-max-lifetime', '1h'], {}).jwtMaxLifetimeMs, 3_600_000);
    assert.equal(loadConfig([], { SSEHUB_JWT_MAX_LIFETIME: '15m' }).jwtMaxLifetimeMs, 900_000);
    assert.throws(() => loadConfig(['--jwt-max-lifetime', 'forever'], {}), (error: HubError) => error.code === 'invalid_config' && /--jwt-max-lifetime/.test(error.message));
  });

  test('forward auth: --auth-url must be an http(s) URL without credentials; --auth-timeout 2s and --auth-cache 0 by default; either it or a key turns authorization on', () => {
    const defaults = loadConfig([], {});
    assert.equal(defaults.authUrl, undefined);
    assert.equal(defaults.authTimeoutMs, 2000);
    assert.equal(defaults.authCacheMs, 0);
    assert.equal(authEnabled(defaults), false);
    const forward = loadConfig(['--auth-url', 'http://127.0.0.1:3000/ssehub/auth', '--auth-timeout', '500ms'], { SSEHUB_AUTH_CACHE: '30s' });
    assert.equal(forward.authUrl, 'http://127.0.0.1:3000/ssehub/auth');
    assert.equal(forward.authTimeoutMs, 500);
    assert.equal(forward.authCacheMs, 30_000);
    assert.equal(authEnabled(forward), true);
    assert.equal(tokenKeysConfigured(forward), false);
    assert.equal(loadConfig([], { SSEHUB_AUTH_URL: 'https://app.example/auth?hub=1' }).authUrl, 'https://app.example/auth?hub=1');
    const keyed = loadConfig(['--jwt-secret', 'x'.repeat(32)], {});
    assert.equal(authEnabled(keyed), true);
    assert.equal(tokenKeysConfigured(keyed), true);
    for (const [argv, env, culprit] of [
      [['--auth-url', 'app.example/auth'], {}, '--auth-url'],
      [['--auth-url', 'ftp://app.example/auth'], {}, '--auth-url'],
      [['--auth-url', 'http://user:secret@app.example/auth'], {}, '--auth-url'],
      [[], { SSEHUB_AUTH_URL: 'javascript:alert(1)' }, '--auth-url'],
      [['--auth-timeout', '0'], {}, '--auth-timeout'],
      [['--auth-timeout', 'soon'], {}, '--auth-timeout'],
      [[], { SSEHUB_AUTH_CACHE: 'forever' }, 'SSEHUB_AUTH_CACHE'],
    ] as const) {
      assert.throws(
        () => loadConfig(argv, env),
        (error: unknown) => error instanceof HubError && error.code === 'invalid_config' && error.message.includes(culprit) && !error.message.includes('secret@'),
        JSON.stringify([argv, env]),
      );
    }
  });

  test('every option is in --help and in docs/configuration.md, with its environment variable', () => {
    const help = describeOptions();
    const reference = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
    for (const option of OPTIONS) {
      assert.ok(help.includes(`--${option.flag} `), `--${option.flag} in help`);
      assert.ok(help.includes(option.env), `${option.env} in help`);
      assert.ok(reference.includes(`\`--${option.flag}\``), `--${option.flag} in docs/configuration.md`);
      assert.ok(reference.includes(option.env), `${option.env} in docs/configuration.md`);
    }
  });
});

test('a Redis Cluster engine with its shard count, from flags or the environment', () => {
  const fromFlags = loadConfig(['--engine', 'redis-cluster://h1:7000,h2:7001', '--redis-shards', '5'], {});
  assert.equal(fromFlags.engine, 'redis-cluster://h1:7000,h2:7001');
  assert.equal(fromFlags.redisShards, 5);
  assert.equal(loadConfig([], { SSEHUB_ENGINE: 'redis-cluster://h1:7000', SSEHUB_REDIS_SHARDS: '2' }).redisShards, 2);
  assert.equal(loadConfig([], {}).redisShards, 3);
});
