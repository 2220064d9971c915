/**
 * `ssehub cert` run as a process: it writes a certificate that parses, is valid for the names and
 * addresses asked for, matches its private key (kept private), never overwrites without --force,
 * and says clearly when openssl is missing; `ssehub serve` serves HTTPS with what it wrote.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { connectH2, h2Request, https1Request } from '../support/h2.js';
import { spawnHub } from '../support/hub.js';
import { builtCli } from '../support/cli.js';

const CLI = builtCli();

const run = promisify(execFile);
const ssehub = (args: string[], env: NodeJS.ProcessEnv = process.env) => run(process.execPath, [CLI, ...args], { env });

const DAY_MS = 86_400_000;

describe('ssehub cert', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ssehub-cert-test-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('writes a self-signed certificate for localhost, 127.0.0.1 and ::1, and its private key', async () => {
    const out = join(dir, 'default');
    const { stdout } = await ssehub(['cert', '--out', out]);
    const certFile = join(out, 'ssehub-cert.pem');
    const keyFile = join(out, 'ssehub-key.pem');
    assert.match(stdout, /ssehub serve --tls-cert \S+ssehub-cert\.pem --tls-key \S+ssehub-key\.pem/);
    const cert = new X509Certificate(readFileSync(certFile));
    assert.equal(cert.subject, 'CN=localhost');
    assert.equal(cert.issuer, cert.subject, 'self-signed');
    assert.ok(cert.verify(cert.publicKey), 'signed by its own key');
    assert.equal(cert.checkHost('localhost'), 'localhost');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkIP('::1'), '::1');
    assert.equal(cert.checkHost('example.com'), undefined);
    assert.match(cert.subjectAltName!, /DNS:localhost/);
    const validFor = Date.parse(cert.validTo) - Date.now();
    assert.ok(Math.abs(validFor - 30 * DAY_MS) < DAY_MS, `valid until ${cert.validTo}`);
    const key = createPrivateKey(readFileSync(keyFile));
    assert.equal(key.asymmetricKeyType, 'ec');
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.ok(cert.checkPrivateKey(key), 'the key is the certificate’s');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600, 'the key is readable by its owner only');
  });

  test('refuses to overwrite without --force, and overwrites with it', async () => {
    const out = join(dir, 'twice');
    await ssehub(['cert', '--out', out]);
    const first = readFileSync(join(out, 'ssehub-cert.pem'), 'utf8');
    const firstKey = readFileSync(join(out, 'ssehub-key.pem'), 'utf8');
    await assert.rejects(ssehub(['cert', '--out', out]), (error: any) => error.code === 1 && /already exists; pass --force/.test(error.stderr) && /file_exists/.test(error.stderr));
    assert.equal(readFileSync(join(out, 'ssehub-cert.pem'), 'utf8'), first, 'the certificate was changed');
    assert.equal(readFileSync(join(out, 'ssehub-key.pem'), 'utf8'), firstKey, 'the key was changed');
    // Only the key left over from an earlier run: refused all the same, nothing written.
    rmSync(join(out, 'ssehub-cert.pem'));
    await assert.rejects(ssehub(['cert', '--out', out]), (error: any) => error.code === 1 && /ssehub-key\.pem already exists/.test(error.stderr));
    assert.throws(() => statSync(join(out, 'ssehub-cert.pem')), /ENOENT/);
    await ssehub(['cert', '--out', out, '--force']);
    const second = new X509Certificate(readFileSync(join(out, 'ssehub-cert.pem')));
    assert.notEqual(second.fingerprint256, new X509Certificate(first).fingerprint256);
    assert.ok(second.checkPrivateKey(createPrivateKey(readFileSync(join(out, 'ssehub-key.pem')))));
  });

  test('--host and --days choose the names, addresses and lifetime; a bad host is an argument error', async () => {
    const out = join(dir, 'hosts');
    await ssehub(['cert', '--out', out, '--host', 'hub.test,10.0.0.7', '--host', '*.hub.test', '--days', '2']);
    const cert = new X509Certificate(readFileSync(join(out, 'ssehub-cert.pem')));
    assert.equal(cert.checkHost('hub.test'), 'hub.test');
    assert.equal(cert.checkHost('a.hub.test'), '*.hub.test');
    assert.equal(cert.checkIP('10.0.0.7'), '10.0.0.7');
    assert.equal(cert.checkHost('localhost'), undefined);
    assert.ok(Math.abs(Date.parse(cert.validTo) - Date.now() - 2 * DAY_MS) < DAY_MS, `valid until ${cert.validTo}`);
    for (const args of [['--host', 'a b'], ['--host', 'x,/CN=evil'], ['--days', '0'], ['--days', 'soon'], ['stray']]) {
      await assert.rejects(ssehub(['cert', '--out', join(dir, 'bad'), ...args]), (error: any) => error.code === 2 && error.stderr.length > 0, args.join(' '));
    }
    assert.throws(() => statSync(join(dir, 'bad', 'ssehub-cert.pem')), /ENOENT/);
  });

  test('without openssl on the PATH it says so and exits 1', async () => {
    const env = { ...process.env, PATH: join(dir, 'no-such-bin') };
    await assert.rejects(
      ssehub(['cert', '--out', join(dir, 'no-openssl')], env),
      (error: any) => error.code === 1 && /openssl command was not found/.test(error.stderr) && /openssl_missing/.test(error.stderr),
    );
  });

  test('is listed in the help, and ssehub serve serves HTTP/2 and HTTPS with what it wrote', async () => {
    assert.match((await ssehub(['--help'])).stdout, /cert\s+Write a self-signed certificate/);
    assert.match((await ssehub(['cert', '--help'])).stdout, /--force/);
    const out = join(dir, 'serve');
    await ssehub(['cert', '--out', out]);
    const certFile = join(out, 'ssehub-cert.pem');
    const hub = await spawnHub(['--tls-cert', certFile, '--tls-key', join(out, 'ssehub-key.pem')]);
    try {
      assert.match(hub.output(), /listening on https:\/\/127\.0\.0\.1:\d+ \(engine: memory, HTTP\/2 and HTTP\/1\.1 over TLS\)/);
      const ca = readFileSync(certFile);
      const overH1 = await https1Request(`${hub.url}/stats`, { ca });
      assert.equal(overH1.status, 200);
      assert.equal(overH1.alpn, 'http/1.1');
      const session = await connectH2(hub.url, { ca });
      try {
        assert.equal(session.alpnProtocol, 'h2');
        assert.equal((await h2Request(session, '/stats')).status, 200);
      } finally {
        session.destroy();
      }
    } finally {
      await hub.stop();
    }
    assert.equal(dirname(certFile), out);
  });
});
