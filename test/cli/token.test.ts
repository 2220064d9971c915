import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { createTokenVerifier } from '../../src/auth/tokens.js';
import { spawnHub, startTestHub } from '../support/hub.js';
import { httpRequest } from '../support/http.js';
import { builtCli } from '../support/cli.js';

const CLI = builtCli();

const run = promisify(execFile);
const ssehub = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });

describe('ssehub token', () => {
  test('mints a token the hub accepts, with the given grants, subject and lifetime', async () => {
    const secret = 'cli-secret-cli-secret-cli-secret-123';
    const { stdout } = await ssehub(['token', '--publish', 'orders/*', '--subscribe', 'orders/**,alerts', '--subject', 'me', '--ttl', '10m'], {
      SSEHUB_JWT_SECRET: secret,
    });
    const principal = await createTokenVerifier({ secret }).verify(stdout.trim());
    assert.equal(principal.subject, 'me');
    assert.deepEqual(principal.publish.map((s) => s.source), ['orders/*']);
    assert.deepEqual(principal.subscribe.map((s) => s.source), ['orders/**', 'alerts']);
    assert.ok(Math.abs(principal.expiresAt! - (Date.now() + 600_000)) < 10_000);

    const hub = await spawnHub(['--jwt-secret', secret]);
    try {
      await new Promise((resolve) => setTimeout(resolve, 300)); // the warning, if any, would be out by now
      assert.doesNotMatch(hub.output(), /warning: no token key/);
      const ok = await httpRequest(`${hub.url}/topics/orders/1`, {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain', Authorization: `Bearer ${stdout.trim()}` },
        body: 'x',
      });
      assert.equal(ok.status, 201);
    } finally {
      await hub.stop();
    }
  });

  test('--admin mints a token that reads /stats and /metrics, and nothing more', async () => {
    const secret = 'cli-secret-cli-secret-cli-secret-123';
    const { stdout } = await ssehub(['token', '--admin', '--subject', 'prometheus', '--ttl', '1h'], { SSEHUB_JWT_SECRET: secret });
    const principal = await createTokenVerifier({ secret }).verify(stdout.trim());
    assert.equal(principal.admin, true);
    assert.deepEqual(principal.publish, []);
    assert.deepEqual(principal.subscribe, []);
    const plain = (await ssehub(['token', '--publish', 'a', '--subject', 'me'], { SSEHUB_JWT_SECRET: secret })).stdout.trim();
    assert.equal((await createTokenVerifier({ secret }).verify(plain)).admin, false, 'only with --admin');

    const hub = await startTestHub({ jwtSecret: secret });
    try {
      const headers = { Authorization: `Bearer ${stdout.trim()}` };
      assert.equal((await httpRequest(`${hub.url}/metrics`, { headers })).status, 200);
      assert.equal((await httpRequest(`${hub.url}/stats`, { headers })).status, 200);
      const publish = await httpRequest(`${hub.url}/topics/a`, { method: 'POST', headers: { ...headers, 'Content-Type': 'text/plain' }, body: 'x' });
      assert.equal(publish.status, 403, 'the admin grant grants no topic');
      assert.equal((await httpRequest(`${hub.url}/stats`, { headers: { Authorization: `Bearer ${plain}` } })).status, 403);
    } finally {
      await hub.close();
    }
  });

  test('without --ttl a token lives one hour: every minted token has an "exp"', async () => {
    const secret = 'cli-secret-cli-secret-cli-secret-123';
    const { stdout } = await ssehub(['token', '--publish', 'a', '--subject', 'me', '--jwt-secret', secret]);
    const principal = await createTokenVerifier({ secret }).verify(stdout.trim());
    assert.ok(Math.abs(principal.expiresAt! - (Date.now() + 3_600_000)) < 10_000);
    assert.equal(principal.token?.id, undefined, 'no "jti" unless asked for');
  });

  test('--token-id sets the "jti" that a disconnect can revoke the token by', async () => {
    const secret = 'cli-secret-cli-secret-cli-secret-123';
    const { stdout } = await ssehub(['token', '--subscribe', 'a', '--subject', 'me', '--token-id', 'phone-1', '--jwt-secret', secret]);
    const principal = await createTokenVerifier({ secret }).verify(stdout.trim());
    assert.equal(principal.token?.id, 'phone-1');
    assert.ok(principal.token?.issuedAt !== undefined && Math.abs(principal.token.issuedAt - Date.now()) < 10_000);
  });

  test('refuses to mint without a key, grants or subject, on a bad selector, and with a secret under 32 bytes', async () => {
    const secret = 'cli-secret-cli-secret-cli-secret-123';
    await assert.rejects(ssehub(['token', '--publish', 'a', '--subject', 'me']), (error: any) => error.code === 2 && /jwt-secret/.test(error.stderr));
    await assert.rejects(ssehub(['token', '--jwt-secret', secret, '--subject', 'me']), (error: any) => error.code === 2 && /--publish/.test(error.stderr));
    await assert.rejects(ssehub(['token', '--jwt-secret', secret, '--subject', 'me', '--publish', 'a//b']), (error: any) => error.code === 2 && /invalid/.test(error.stderr));
    await assert.rejects(ssehub(['token', '--jwt-secret', secret, '--publish', 'a']), (error: any) => error.code === 2 && /--subject/.test(error.stderr));
    await assert.rejects(ssehub(['token', '--jwt-secret', secret, '--publish', 'a', '--subject', '']), (error: any) => error.code === 2 && /--subject/.test(error.stderr));
    await assert.rejects(
      ssehub(['token', '--jwt-secret', 'x', '--publish', 'a', '--subject', 'me']),
      (error: any) => error.code === 2 && /at least 32/.test(error.stderr) && /openssl rand -base64 32/.test(error.stderr),
    );
  });

  test('an open hub warns at start', async () => {
    const hub = await spawnHub();
    try {
      // stderr may trail the "listening" line on stdout a little.
      for (let i = 0; i < 100 && !/warning: no token key/.test(hub.output()); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.match(hub.output(), /warning: no token key is configured/);
    } finally {
      await hub.stop();
    }
  });
});
