import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, test } from 'node:test';
import { exportJWK, SignJWT, UnsecuredJWT } from 'jose';
import { createTokenVerifier, mintToken } from '../../src/auth/tokens.js';
import { HubError } from '../../src/errors.js';

const now = () => Math.floor(Date.now() / 1000);
const grants = { ssehub: { publish: ['orders/*'], subscribe: ['orders/**'] } };

async function rejects(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: HubError) => {
    assert.equal(error.status, 401);
    assert.equal(error.code, code);
    return true;
  });
}

describe('tokens', () => {
  const secret = 'a-long-enough-test-secret-of-32-bytes!';

  test('an HS256 token yields its subject, grants and expiry', async () => {
    const verifier = createTokenVerifier({ secret });
    const token = await mintToken({ secret, subject: 'alice', publish: ['orders/*'], subscribe: ['orders/**'], lifetimeSeconds: 60 });
    const principal = await verifier.verify(token);
    assert.equal(principal.authenticated, true);
    assert.equal(principal.subject, 'alice');
    assert.deepEqual(principal.publish.map((s) => s.source), ['orders/*']);
    assert.deepEqual(principal.subscribe.map((s) => s.source), ['orders/**']);
    assert.ok(Math.abs(principal.expiresAt! - (now() + 60) * 1000) < 5000);
  });

  test('a forged signature is refused', async () => {
    const verifier = createTokenVerifier({ secret });
    const forged = await mintToken({ subject: 'alice', secret: 'another-secret-another-secret-xx', publish: ['**'], lifetimeSeconds: 60 });
    await rejects(verifier.verify(forged), 'invalid_token');
    const good = await mintToken({ subject: 'alice', secret, publish: ['a'], lifetimeSeconds: 60 });
    const [header, , signature] = good.split('.');
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...grants, sub: 'alice', exp: now() + 60 })).toString('base64url')}.${signature}`;
    await rejects(verifier.verify(tampered), 'invalid_token');
  });

  test('alg "none" is refused', async () => {
    const verifier = createTokenVerifier({ secret });
    const unsecured = new UnsecuredJWT(grants).setSubject('alice').setExpirationTime(now() + 60).encode();
    await rejects(verifier.verify(unsecured), 'invalid_token');
  });

  test('expired and not-yet-valid tokens are refused with their own codes', async () => {
    const verifier = createTokenVerifier({ secret });
    const key = Buffer.from(secret);
    const expired = await new SignJWT(grants).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime(now() - 10).sign(key);
    await rejects(verifier.verify(expired), 'token_expired');
    const early = await new SignJWT(grants).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setNotBefore(now() + 600).setExpirationTime(now() + 900).sign(key);
    await rejects(verifier.verify(early), 'token_not_yet_valid');
  });

  test('issuer and audience are checked when configured', async () => {
    const verifier = createTokenVerifier({ secret, issuer: 'https://auth.example', audience: 'ssehub' });
    const right = await mintToken({ subject: 'alice', secret, issuer: 'https://auth.example', audience: 'ssehub', publish: ['a'], lifetimeSeconds: 60 });
    assert.equal((await verifier.verify(right)).authenticated, true);
    await rejects(verifier.verify(await mintToken({ subject: 'alice', secret, issuer: 'https://evil.example', audience: 'ssehub', publish: ['a'], lifetimeSeconds: 60 })), 'invalid_token');
    await rejects(verifier.verify(await mintToken({ subject: 'alice', secret, issuer: 'https://auth.example', publish: ['a'], lifetimeSeconds: 60 })), 'invalid_token');
  });

  test('a token without "exp" is refused with its own code, even with a valid signature', async () => {
    const verifier = createTokenVerifier({ secret });
    const forever = await new SignJWT(grants).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setIssuedAt().sign(Buffer.from(secret));
    await rejects(verifier.verify(forever), 'token_missing_exp');
    await assert.rejects(verifier.verify(forever), /"exp"/);
  });

  test('a token whose "sub" is missing, not a string or empty is refused: 401 invalid_token', async () => {
    const verifier = createTokenVerifier({ secret });
    const key = Buffer.from(secret);
    const signed = (claims: Record<string, unknown>) => new SignJWT({ ...grants, ...claims }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now() + 60).sign(key);
    for (const claims of [{}, { sub: 42 }, { sub: '' }, { sub: null }, { sub: ['alice'] }]) {
      await assert.rejects(verifier.verify(await signed(claims)), (error: HubError) => {
        assert.equal(error.status, 401);
        assert.equal(error.code, 'invalid_token');
        assert.match(error.message, /"sub" claim: a non-empty string/);
        return true;
      }, JSON.stringify(claims));
    }
    assert.equal((await verifier.verify(await signed({ sub: 'alice' }))).subject, 'alice');
  });

  test('with a maximum lifetime, a token living longer is refused: exp − iat, or exp − now without iat', async () => {
    const verifier = createTokenVerifier({ secret, maxLifetimeSeconds: 3600 });
    const key = Buffer.from(secret);
    const signed = (times: { iat?: number; exp: number }) => new SignJWT({ ...grants, sub: 'alice', ...times }).setProtectedHeader({ alg: 'HS256' }).sign(key);
    assert.equal((await verifier.verify(await signed({ iat: now(), exp: now() + 3500 }))).subject, 'alice');
    // Issued long ago with a long life, though little of it is left: its lifetime is what counts.
    await rejects(verifier.verify(await signed({ iat: now() - 7200, exp: now() + 60 })), 'token_lifetime_exceeded');
    await rejects(verifier.verify(await signed({ exp: now() + 7200 })), 'token_lifetime_exceeded');
    assert.equal((await verifier.verify(await signed({ exp: now() + 3500 }))).subject, 'alice');
    // An iat in the future cannot shorten the lifetime: counted from now.
    await rejects(verifier.verify(await signed({ iat: now() + 86_400, exp: now() + 86_400 + 60 })), 'token_lifetime_exceeded');
    // 0 (the default) sets no maximum.
    assert.equal((await createTokenVerifier({ secret, maxLifetimeSeconds: 0 }).verify(await signed({ exp: now() + 10 * 365 * 86_400 }))).subject, 'alice');
  });

  test('HS256 secrets under 32 bytes are refused for verifying and for minting: invalid_config', async () => {
    for (const short of ['a', 'client-secret', 'x'.repeat(31), 'é'.repeat(15)]) {
      const refused = (error: HubError) => error.code === 'invalid_config' && /at least 32/.test(error.message) && /openssl rand -base64 32/.test(error.message);
      assert.throws(() => createTokenVerifier({ secret: short }), refused, short);
      await assert.rejects(mintToken({ secret: short, subject: 'alice', publish: ['a'], lifetimeSeconds: 60 }), refused, short);
    }
    // 32 bytes, counted as UTF-8: 16 two-byte characters are enough.
    assert.ok(createTokenVerifier({ secret: 'é'.repeat(16) }));
    assert.ok(createTokenVerifier({ secret: 'x'.repeat(32) }));
  });

  test('minted tokens always carry a subject and an expiry', async () => {
    const token = await mintToken({ secret, subject: 'alice', publish: ['a'], lifetimeSeconds: 60 });
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    assert.equal(claims.sub, 'alice');
    assert.equal(typeof claims.exp, 'number');
    await assert.rejects(mintToken({ secret, subject: '', publish: ['a'], lifetimeSeconds: 60 }), { code: 'invalid_arguments' });
    await assert.rejects(mintToken({ secret, subject: 'alice', publish: ['a'], lifetimeSeconds: 0 }), { code: 'invalid_arguments' });
  });

  test('malformed grants are refused', async () => {
    const verifier = createTokenVerifier({ secret });
    const key = Buffer.from(secret);
    const claims = [{ publish: 'orders/*' }, { subscribe: ['a//b'] }, { publish: [42] }, { publish: ['$ssehub/stats'] }, { subscribe: ['$other/x'] }, { admin: 'yes' }, { admin: 1 }];
    for (const claim of claims) {
      const token = await new SignJWT({ ssehub: claim }).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime(now() + 60).sign(key);
      await rejects(verifier.verify(token), 'invalid_token');
    }
  });

  test('the admin grant: "admin": true in the claim, false when left out', async () => {
    const verifier = createTokenVerifier({ secret });
    assert.equal((await verifier.verify(await mintToken({ secret, subject: 'ops', admin: true, lifetimeSeconds: 60 }))).admin, true);
    assert.equal((await verifier.verify(await mintToken({ secret, subject: 'ops', publish: ['**'], subscribe: ['**'], lifetimeSeconds: 60 }))).admin, false);
    const explicit = await new SignJWT({ ssehub: { admin: false } }).setProtectedHeader({ alg: 'HS256' }).setSubject('ops').setExpirationTime(now() + 60).sign(Buffer.from(secret));
    assert.equal((await verifier.verify(explicit)).admin, false);
  });

  test('subscribe grants may name system topics ($ssehub/…); publish grants may not', async () => {
    const verifier = createTokenVerifier({ secret });
    const token = await mintToken({ subject: 'alice', secret, subscribe: ['$ssehub/stats', '$ssehub/**', 'orders/*'], lifetimeSeconds: 60 });
    const principal = await verifier.verify(token);
    assert.deepEqual(principal.subscribe.map((s) => s.source), ['$ssehub/stats', '$ssehub/**', 'orders/*']);
    await assert.rejects(mintToken({ subject: 'alice', secret, publish: ['$ssehub/stats'], lifetimeSeconds: 60 }), { code: 'invalid_topic' });
  });

  for (const [type, options, alg] of [
    ['rsa', { modulusLength: 2048 }, 'RS256'],
    ['ec', { namedCurve: 'P-256' }, 'ES256'],
    ['ed25519', {}, 'EdDSA'],
  ] as const) {
    test(`${alg}: a PEM public key verifies, and tokens of other algorithms are refused`, async () => {
      const { publicKey, privateKey } = generateKeyPairSync(type as any, options as any) as unknown as { publicKey: KeyObject; privateKey: KeyObject };
      const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const verifier = createTokenVerifier({ publicKeyPem });
      assert.deepEqual(verifier.algorithms, [alg]);
      const token = await mintToken({ privateKeyPem, subject: 'svc', publish: ['a/**'], lifetimeSeconds: 60 });
      assert.equal((await verifier.verify(token)).subject, 'svc');
      // Algorithm confusion: an HS256 token whose "secret" is the public key's PEM text.
      const confused = await new SignJWT(grants).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime(now() + 60).sign(Buffer.from(publicKeyPem));
      await rejects(verifier.verify(confused), 'invalid_token');
      // A token signed by another key pair of the same kind.
      const otherPair = generateKeyPairSync(type as any, options as any) as unknown as { privateKey: KeyObject };
      const other = otherPair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      await rejects(verifier.verify(await mintToken({ subject: 'alice', privateKeyPem: other, publish: ['a'], lifetimeSeconds: 60 })), 'invalid_token');
    });
  }

  test('a JWKS verifies by key id', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const verifier = createTokenVerifier({ jwks: JSON.stringify({ keys: [jwk] }) });
    const token = await new SignJWT(grants).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('bob').setExpirationTime(now() + 60).sign(privateKey);
    assert.equal((await verifier.verify(token)).subject, 'bob');
    const unknownKid = await new SignJWT(grants).setProtectedHeader({ alg: 'ES256', kid: 'k2' }).setSubject('bob').setExpirationTime(now() + 60).sign(privateKey);
    await rejects(verifier.verify(unknownKid), 'invalid_token');
    assert.throws(() => createTokenVerifier({ jwks: '{"nokeys": true}' }), /JWK Set/);
  });
});
