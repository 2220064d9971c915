/**
 * Verifying (and, for `ssehub token`, signing) JWTs with jose. No cryptography is written here.
 *
 * Keys: an HMAC secret (HS256), and/or public keys from a PEM file (RSA -> RS256, EC P-256 ->
 * ES256, P-384 -> ES384, Ed25519 -> EdDSA) or a JWKS file. Only the algorithms that belong to the
 * configured keys are accepted, so `alg: none` and algorithm-confusion tokens (an HS256 token
 * signed with the RSA public key as secret) are refused before any signature check.
 *
 * Claims: `sub` (subject, a non-empty string: required), `exp` (required), `nbf`, optionally
 * `iss`/`aud` (checked when configured), and the grants in one namespaced claim:
 *   "ssehub": { "publish": ["orders/*"], "subscribe": ["orders/**", "alerts"], "admin": true }
 * ("admin": reads the operator endpoints, GET /stats and GET /metrics; false when left out).
 */
import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, errors, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { HubError } from '../errors.js';
import { parseSelector, parseSubscribeSelector, type Selector } from '../topics/index.js';
import { checkHs256Secret } from './hs256-secret.js';
import type { Principal } from './principal.js';
import { parseSelectorList } from './selector-list.js';

export const GRANTS_CLAIM = 'ssehub';

export interface TokenSettings {
  /** Shared secret for HS256. */
  secret?: string;
  /** PEM text of a public key (SPKI) or certificate. */
  publicKeyPem?: string;
  /** JSON text of a JWK Set. */
  jwks?: string;
  issuer?: string;
  audience?: string;
  /** Longest lifetime a token may have, in seconds (0 or unset: no maximum). */
  maxLifetimeSeconds?: number;
}

export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
  /**
   * The token's claims once its signature, algorithm, `iss`, `aud`, `nbf`, `exp` (when present)
   * and lifetime (--jwt-max-lifetime, which requires `exp`) are checked, for a protocol that reads claims of its own (Mercure's `mercure` claim):
   * the same keys and checks, without ssehub's required `sub` and `exp`.
   */
  verifyPayload(token: string): Promise<JWTPayload>;
  readonly algorithms: readonly string[];
}

/** The JWS algorithm that belongs to a public key, by its type. */
export function algorithmOf(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return 'ES256';
      if (curve === 'secp384r1') return 'ES384';
      throw new HubError(400, 'invalid_config', `EC keys on curve ${curve} are not supported (use P-256 or P-384).`);
    }
    case 'ed25519':
      return 'EdDSA';
    default:
      throw new HubError(400, 'invalid_config', `Keys of type ${key.asymmetricKeyType} are not supported.`);
  }
}

export function createTokenVerifier(settings: TokenSettings): TokenVerifier {
  const secret = settings.secret === undefined ? undefined : hs256Key(settings.secret);
  const publicKey = settings.publicKeyPem === undefined ? undefined : createPublicKey(settings.publicKeyPem);
  const jwks = settings.jwks === undefined ? undefined : createLocalJWKSet(parseJwks(settings.jwks));
  const algorithms = new Set<string>();
  if (secret) algorithms.add('HS256');
  if (publicKey) algorithms.add(algorithmOf(publicKey));
  if (jwks) for (const alg of ['RS256', 'ES256', 'ES384', 'EdDSA']) algorithms.add(alg);
  if (algorithms.size === 0) throw new HubError(400, 'invalid_config', 'Token verification needs a secret, a public key or a JWKS.');

  // The key follows from the token's algorithm, so an HMAC token is never checked against a public key.
  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (header.alg === 'HS256' && secret) return secret;
    if (publicKey && header.alg === algorithmOf(publicKey)) return publicKey;
    if (jwks && header.alg !== 'HS256') return jwks(header, token);
    throw new errors.JOSEAlgNotAllowed(`"alg" (Algorithm) Header Parameter value not allowed`);
  };
  const options = {
    algorithms: [...algorithms],
    ...(settings.issuer === undefined ? {} : { issuer: settings.issuer }),
    ...(settings.audience === undefined ? {} : { audience: settings.audience }),
  };

  const maxLifetimeSeconds = settings.maxLifetimeSeconds ?? 0;
  const verifyPayload = async (token: string): Promise<JWTPayload> => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, options));
    } catch (error) {
      throw tokenError(error);
    }
    checkLifetime(payload, maxLifetimeSeconds);
    return payload;
  };
  return {
    algorithms: [...algorithms],
    verifyPayload,
    async verify(token: string): Promise<Principal> {
      return principalOf(await verifyPayload(token));
    },
  };
}

/** An HMAC key from a secret long enough for HS256 (or invalid_config). */
function hs256Key(secret: string): KeyObject {
  checkHs256Secret(secret);
  return createSecretKey(Buffer.from(secret, 'utf8'));
}

function parseJwks(text: string): { keys: any[] } {
  try {
    const value = JSON.parse(text);
    if (!Array.isArray(value?.keys)) throw new Error('no "keys" array');
    return value;
  } catch (error) {
    throw new HubError(400, 'invalid_config', `The JWKS file is not a JWK Set: ${(error as Error).message}`);
  }
}

const challenge = (description: string) => ({ 'WWW-Authenticate': `Bearer error="invalid_token", error_description="${description}"` });

function tokenError(error: unknown): HubError {
  if (error instanceof errors.JWTExpired) return new HubError(401, 'token_expired', 'The token has expired.', challenge('expired'));
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return new HubError(401, 'token_not_yet_valid', 'The token is not valid yet (nbf).', challenge('not yet valid'));
    return new HubError(401, 'invalid_token', `The token's "${error.claim}" claim is not accepted.`, challenge(`bad ${error.claim}`));
  }
  if (error instanceof HubError) return error;
  return new HubError(401, 'invalid_token', 'The token is not valid.', challenge('invalid'));
}

/** A grant list of the token's `ssehub` claim; a malformed one refuses the token. */
function selectorsOf(value: unknown, claim: 'publish' | 'subscribe'): Selector[] {
  try {
    return parseSelectorList(value, claim);
  } catch (error) {
    throw new HubError(401, 'invalid_token', `The token's "${GRANTS_CLAIM}.${claim}" claim ${(error as Error).message}`);
  }
}

const missingExp = (): HubError => new HubError(401, 'token_missing_exp', 'The token has no "exp" claim: tokens must expire.', challenge('missing exp'));

/** With a maximum lifetime (--jwt-max-lifetime), every token has an `exp` within it. */
function checkLifetime(payload: JWTPayload, maxLifetimeSeconds: number): void {
  if (maxLifetimeSeconds > 0) {
    if (payload.exp === undefined) throw missingExp();
    // Counted from iat, or from now when iat is missing or in the future (it could not shorten a lifetime then).
    const now = Date.now() / 1000;
    const from = typeof payload.iat === 'number' && payload.iat < now ? payload.iat : now;
    if (payload.exp - from > maxLifetimeSeconds) {
      throw new HubError(
        401,
        'token_lifetime_exceeded',
        `The token's lifetime (exp − iat) is over the ${maxLifetimeSeconds} s this hub accepts (--jwt-max-lifetime).`,
        challenge('lifetime too long'),
      );
    }
  }
}

/**
 * What jose leaves to the hub, checked after the signature: every token expires (`exp`, within
 * the maximum lifetime: checkLifetime), and names its holder (`sub`), by which open streams and
 * publish rates are counted: a token without a string subject would escape both limits.
 */
function checkRequiredClaims(payload: JWTPayload): asserts payload is JWTPayload & { exp: number; sub: string } {
  // jose has refused an `exp` that is not a number; a missing one would make the token good forever.
  if (payload.exp === undefined) throw missingExp();
  if (typeof payload.sub !== 'string' || payload.sub === '') {
    throw new HubError(401, 'invalid_token', 'The token needs a "sub" claim: a non-empty string naming its holder.', challenge('sub must be a string'));
  }
}

function principalOf(payload: JWTPayload): Principal {
  checkRequiredClaims(payload);
  const grants = (payload[GRANTS_CLAIM] ?? {}) as Record<string, unknown>;
  if (typeof grants !== 'object' || grants === null) throw new HubError(401, 'invalid_token', `The token's "${GRANTS_CLAIM}" claim must be an object.`);
  if (grants.admin !== undefined && typeof grants.admin !== 'boolean') {
    throw new HubError(401, 'invalid_token', `The token's "${GRANTS_CLAIM}.admin" claim must be true or false.`);
  }
  return {
    authenticated: true,
    subject: payload.sub,
    publish: selectorsOf(grants.publish, 'publish'),
    subscribe: selectorsOf(grants.subscribe, 'subscribe'),
    admin: grants.admin === true,
    expiresAt: payload.exp * 1000,
    ...(grants.presence === undefined ? {} : { presence: grants.presence }),
    token: {
      id: typeof payload.jti === 'string' && payload.jti !== '' ? payload.jti : undefined,
      issuedAt: typeof payload.iat === 'number' ? payload.iat * 1000 : undefined,
    },
  };
}

export interface MintOptions {
  /** The `sub` claim, required: streams and publish rates are counted per subject. */
  subject: string;
  publish?: string[];
  subscribe?: string[];
  /** Grants the operator endpoints (GET /stats, GET /metrics). */
  admin?: boolean;
  /** Client info shown on presence topics (a JSON object, at most 1 KiB). */
  presence?: Record<string, unknown>;
  /** Lifetime in seconds: every token gets an `exp`. */
  lifetimeSeconds: number;
  /** The `jti` claim: an id by which this one token can be revoked (POST /admin/disconnect {"tokenId"}). */
  tokenId?: string;
  issuer?: string;
  audience?: string;
  /** HS256 secret, or a PEM private key (PKCS#8) for RS256/ES256/ES384/EdDSA. */
  secret?: string;
  privateKeyPem?: string;
}

/** Signs a token carrying ssehub grants (for `ssehub token` and tests). */
export async function mintToken(options: MintOptions): Promise<string> {
  if (options.subject === '') throw new HubError(400, 'invalid_arguments', 'A token needs a subject (--subject): a non-empty name for its holder.');
  if (!(options.lifetimeSeconds > 0)) throw new HubError(400, 'invalid_arguments', 'A token needs a lifetime (--ttl) over 0.');
  for (const source of options.publish ?? []) parseSelector(source);
  for (const source of options.subscribe ?? []) parseSubscribeSelector(source);
  const grants: { publish?: string[]; subscribe?: string[]; admin?: true; presence?: Record<string, unknown> } = {};
  if (options.publish) grants.publish = options.publish;
  if (options.subscribe) grants.subscribe = options.subscribe;
  if (options.admin) grants.admin = true;
  if (options.presence) grants.presence = options.presence;
  let key: KeyObject;
  let alg: string;
  if (options.privateKeyPem !== undefined) {
    key = createPrivateKey(options.privateKeyPem);
    alg = algorithmOf(createPublicKey(key));
  } else if (options.secret !== undefined) {
    key = hs256Key(options.secret);
    alg = 'HS256';
  } else {
    throw new HubError(400, 'invalid_config', 'Minting a token needs --jwt-secret or --jwt-private-key.');
  }
  let jwt = new SignJWT({ [GRANTS_CLAIM]: grants })
    .setProtectedHeader({ alg, typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + options.lifetimeSeconds)
    .setSubject(options.subject);
  if (options.tokenId !== undefined && options.tokenId !== '') jwt = jwt.setJti(options.tokenId);
  if (options.issuer !== undefined) jwt = jwt.setIssuer(options.issuer);
  if (options.audience !== undefined) jwt = jwt.setAudience(options.audience);
  return jwt.sign(key);
}
