/**
 * publish, subscribe and pipe against an https: hub with a self-signed certificate: --cacert
 * trusts it, --insecure accepts any, NODE_EXTRA_CA_CERTS works too, and without them the
 * certificate is refused.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { makeCertificate } from '../../src/cli/cert.js';
import type { RunningHub } from '../../src/start.js';
import { startTestHub } from '../support/hub.js';
import { builtCli } from '../support/cli.js';

const CLI = builtCli();

const execFileAsync = promisify(execFile);

function ssehub(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = { ...process.env };
  for (const key of ['SSEHUB_URL', 'SSEHUB_TOKEN', 'NODE_EXTRA_CA_CERTS', 'NODE_TLS_REJECT_UNAUTHORIZED']) delete base[key];
  return execFileAsync(process.execPath, [CLI, ...args], { env: { ...base, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
}

describe('ssehub publish / subscribe / pipe over TLS with a self-signed certificate', () => {
  let dir: string;
  let certFile: string;
  let hub: RunningHub;
  let url: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ssehub-tls-cli-'));
    const files = await makeCertificate({ dir });
    certFile = files.certFile;
    hub = await startTestHub({ tlsCertFile: files.certFile, tlsKeyFile: files.keyFile });
    url = hub.url.replace('127.0.0.1', 'localhost');
  });
  after(async () => {
    await hub.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('without --cacert the certificate is refused (exit 1, no retry notices for ever)', async () => {
    const { code, stderr } = await ssehub(['publish', 'tls/a', 'x', '--quiet', '--url', url]);
    assert.equal(code, 1);
    assert.match(stderr, /self[- ]signed certificate/i);
  });

  test('--cacert: publish, an --ndjson batch, subscribe and pipe work', async () => {
    const published = await ssehub(['publish', 'tls/a', 'hello', '--cacert', certFile, '--url', url]);
    assert.equal(published.code, 0, published.stderr);
    const subscribed = await ssehub(['subscribe', 'tls/a', '--last-event-id', '0', '--count', '1', '--json', '--cacert', certFile, '--url', url]);
    assert.equal(subscribed.code, 0, subscribed.stderr);
    const items = subscribed.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { data?: string });
    assert.equal(items.at(-1)!.data, 'hello');
    const piped = await ssehub(['pipe', 'tls/pipe', '--quiet', '--cacert', certFile, '--url', url, '--', process.execPath, '-e', 'console.log("out")']);
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(hub.hub.stats().retainedEvents >= 3, true, 'the piped line and its exit were stored');
  });

  test('--insecure accepts the certificate; NODE_EXTRA_CA_CERTS trusts it without a flag', async () => {
    const insecure = await ssehub(['publish', 'tls/b', 'x', '--insecure', '--url', url]);
    assert.equal(insecure.code, 0, insecure.stderr);
    const extra = await ssehub(['publish', 'tls/b', 'y', '--url', url], { NODE_EXTRA_CA_CERTS: certFile });
    assert.equal(extra.code, 0, extra.stderr);
  });

  test('--cacert with a file that is not a certificate, or with --insecure, is a bad argument (exit 2)', async () => {
    assert.equal((await ssehub(['publish', 'tls/c', 'x', '--cacert', join(dir, 'missing.pem'), '--url', url])).code, 2);
    assert.equal((await ssehub(['publish', 'tls/c', 'x', '--cacert', CLI, '--url', url])).code, 2);
    assert.equal((await ssehub(['publish', 'tls/c', 'x', '--cacert', certFile, '--insecure', '--url', url])).code, 2);
  });
});
