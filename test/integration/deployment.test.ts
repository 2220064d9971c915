/**
 * The deployment files and their guide cannot drift apart: docs/deployment.md quotes
 * deploy/nginx/ssehub.conf (which test/integration/nginx.test.ts runs) and
 * deploy/systemd/ssehub.service verbatim, the template unit is that unit but for its port, systemd
 * accepts both without a warning, and the unit stops the hub after its shutdown timeout, not before.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { SSEHUB_NODE_FLAGS } from '../../bench/servers.js';
import { OPTIONS, parseDuration } from '../../src/config.js';

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const guide = read('docs/deployment.md');
const site = read('deploy/nginx/ssehub.conf');
const unit = read('deploy/systemd/ssehub.service');
const template = read('deploy/systemd/ssehub@.service');
const systemdAnalyze = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' }).stdout.trim();

describe('deployment files', () => {
  test('docs/deployment.md quotes the nginx site and the systemd unit verbatim', () => {
    assert.ok(guide.includes('```nginx\n' + site + '```'), 'deploy/nginx/ssehub.conf, whole, in an nginx block');
    assert.ok(guide.includes('```ini\n' + unit + '```'), 'deploy/systemd/ssehub.service, whole, in an ini block');
  });

  test('the unit, npm start and the benchmark run node with the same flags', () => {
    const flags = (command: string) => command.split(/\s+/).filter((word) => word.startsWith('--') && !word.startsWith('--port'));
    const execStart = /^ExecStart=\/usr\/bin\/node (.*?) \/opt\//m.exec(unit)![1]!;
    const start = /node (.*?) dist\/cli\/main\.js/.exec(JSON.parse(read('package.json')).scripts.start as string)![1]!;
    assert.deepEqual(flags(execStart), SSEHUB_NODE_FLAGS);
    assert.deepEqual(flags(start), SSEHUB_NODE_FLAGS);
  });

  test('the guide names every SSEHUB_ variable', () => {
    for (const option of OPTIONS) assert.ok(guide.includes(option.env), `${option.env} in docs/deployment.md`);
  });

  test('ssehub@.service is ssehub.service with the port taken from the instance name', () => {
    const lines = (text: string) => text.split('\n').filter((line) => !line.startsWith('#'));
    const expected = lines(unit).map((line) =>
      line === 'Description=ssehub Server-Sent Events push hub'
        ? 'Description=ssehub Server-Sent Events push hub on port %i'
        : line.startsWith('ExecStart=')
          ? `${line} --port %i`
          : line,
    );
    assert.deepEqual(lines(template), expected);
  });

  test('systemd stops the hub only after its own shutdown timeout has passed', () => {
    const stopAfter = parseDuration(/^TimeoutStopSec=(\S+)$/m.exec(unit)![1]!.replace(/sec$/, 's'));
    const shutdown = parseDuration(OPTIONS.find((option) => option.key === 'shutdownTimeoutMs')!.default);
    assert.ok(stopAfter >= shutdown + 10_000, `TimeoutStopSec (${stopAfter} ms) leaves room for --shutdown-timeout (${shutdown} ms) and the engine's close`);
    assert.match(unit, /^KillSignal=SIGTERM$/m);
    assert.match(unit, /^LimitNOFILE=\d+$/m);
    assert.match(unit, /^EnvironmentFile=\/etc\/ssehub\/ssehub\.env$/m);
  });

  const skip = systemdAnalyze === '' && !process.env.CI ? 'systemd-analyze is not installed (scripts/ensure-services.sh installs it)' : undefined;
  test('systemd-analyze verify accepts both units without a warning', { skip }, () => {
    assert.notEqual(systemdAnalyze, '', 'systemd-analyze is installed');
    const dir = mkdtempSync(join(tmpdir(), 'ssehub-units-'));
    try {
      // The units name /usr/bin/node; verify checks that the executable exists, so point it at this one.
      for (const [name, text] of [['ssehub.service', unit], ['ssehub@.service', template]] as const) {
        writeFileSync(join(dir, name), text.replaceAll('/usr/bin/node', process.execPath));
      }
      const result = spawnSync(systemdAnalyze, ['verify', join(dir, 'ssehub.service'), join(dir, 'ssehub@8080.service')], { encoding: 'utf8' });
      const about = `${result.stdout}${result.stderr}`.split('\n').filter((line) => line.includes(dir));
      assert.equal(result.status, 0, result.stderr);
      assert.deepEqual(about, [], 'no warning about the units');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
