/** `ssehub disconnect` against a real hub: it ends the named streams, and says clearly when it may not. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { mintToken } from '../../src/auth/tokens.js';
import type { RunningHub } from '../../src/start.js';
import { openStream } from '../support/http.js';
import { startTestHub } from '../support/hub.js';
import { builtCli } from '../support/cli.js';

const CLI = builtCli();

const SECRET = 'cli-disconnect-secret-cli-disconnect!';

/** Runs the CLI without SSEHUB_* from the environment; resolves with its exit code and output. */
function ssehub(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = { ...process.env };
  for (const key of ['SSEHUB_URL', 'SSEHUB_TOKEN']) delete base[key];
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...base, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code), stdout, stderr });
    });
  });
}

describe('ssehub disconnect', () => {
  let hub: RunningHub;
  before(async () => {
    hub = await startTestHub({ jwtSecret: SECRET });
  });
  after(() => hub.close());

  test('--subject ends that subject\'s streams and prints the hub\'s answer', async () => {
    const user = await mintToken({ secret: SECRET, subject: 'alice', subscribe: ['inbox/alice'], lifetimeSeconds: 600 });
    const stream = await openStream(`${hub.url}/topics/inbox/alice`, { Authorization: `Bearer ${user}` });
    const admin = await mintToken({ secret: SECRET, subject: 'operator', admin: true, lifetimeSeconds: 600 });
    const { code, stdout, stderr } = await ssehub(['disconnect', '--subject', 'alice', '--url', hub.url], { SSEHUB_TOKEN: admin });
    assert.equal(code, 0, stderr);
    assert.deepEqual(JSON.parse(stdout).disconnect, { subject: 'alice' });
    await stream.waitUntil(() => stream.events.some((event) => event.type === 'ssehub.revoked'), 5000, 'ssehub.revoked');
    await stream.ended;
  });

  test('without the admin grant: exit 1 with the hub\'s message and code', async () => {
    const user = await mintToken({ secret: SECRET, subject: 'bob', subscribe: ['x'], lifetimeSeconds: 600 });
    const { code, stderr } = await ssehub(['disconnect', '--topic', 'x', '--url', hub.url, '--token', user]);
    assert.equal(code, 1);
    assert.match(stderr, /\(forbidden\)/);
  });

  test('none or two criteria: exit 2 before anything is sent', async () => {
    for (const args of [[], ['--subject', 'a', '--token-id', 'b']]) {
      const { code, stderr } = await ssehub(['disconnect', ...args, '--url', 'http://127.0.0.1:1']);
      assert.equal(code, 2, args.join(' '));
      assert.match(stderr, /exactly one of --subject, --topic or --token-id/);
    }
  });
});
