/**
 * `ssehub token`: mints a token for the configured key, so the secured hub can be tried at once:
 *   ssehub token --jwt-secret "$SECRET" --publish 'orders/*' --subscribe 'orders/**' --subject billing --ttl 1h
 *   ssehub token --jwt-secret "$SECRET" --admin --subject prometheus --ttl 30d
 * Every token it mints carries the two claims the hub requires: `sub` (--subject) and `exp` (--ttl).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { mintToken, type MintOptions } from '../auth/tokens.js';
import { parseDuration } from '../config.js';
import { HubError } from '../errors.js';

export const TOKEN_HELP = `Usage: ssehub token [options]

Prints a signed token (JWT) whose "ssehub" claim grants the given topics (and, with --admin,
GET /stats and GET /metrics). The hub accepts only tokens with a subject ("sub") and an expiry
("exp"): this command always sets both.

Options:
  --subject <name>         Required. The "sub" claim: who holds the token (streams and publish rates
                           are counted per subject).
  --publish <a,b>          Topics/patterns the holder may publish to (repeatable or comma-separated).
  --subscribe <a,b>        Topics/patterns the holder may subscribe to (repeatable or comma-separated).
  --admin                  The holder may read GET /stats and GET /metrics and disconnect streams
                           (POST /admin/disconnect, ssehub disconnect) ("admin": true).
  --token-id <id>          The "jti" claim: an id to revoke this one token by (ssehub disconnect --token-id).
  --ttl <duration>         Lifetime, e.g. 15m, 1h, 7d (default 1h): sets "exp". A hub started with
                           --jwt-max-lifetime refuses tokens that live longer.
  --jwt-secret <secret>    HS256 secret (env SSEHUB_JWT_SECRET): the same as the hub's, at least 32
                           bytes (openssl rand -base64 32 makes one).
  --jwt-private-key <file> PEM private key (PKCS#8) for RS256/ES256/ES384/EdDSA (env SSEHUB_JWT_PRIVATE_KEY).
  --jwt-issuer <iss>       "iss" claim (env SSEHUB_JWT_ISSUER).
  --jwt-audience <aud>     "aud" claim (env SSEHUB_JWT_AUDIENCE).
  --help                   Show this help.
`;

export async function token(argv: string[], env: NodeJS.ProcessEnv): Promise<string> {
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        publish: { type: 'string', multiple: true },
        subscribe: { type: 'string', multiple: true },
        admin: { type: 'boolean' },
        subject: { type: 'string' },
        'token-id': { type: 'string' },
        ttl: { type: 'string', default: '1h' },
        'jwt-secret': { type: 'string' },
        'jwt-private-key': { type: 'string' },
        'jwt-issuer': { type: 'string' },
        'jwt-audience': { type: 'string' },
      },
    }));
  } catch (error) {
    throw new HubError(400, 'invalid_arguments', (error as Error).message);
  }
  const list = (value: string | string[] | boolean | undefined): string[] | undefined =>
    typeof value === 'boolean' || value === undefined ? undefined : [value].flat().flatMap((item) => item.split(',').map((s) => s.trim()).filter(Boolean));
  const publish = list(values.publish);
  const subscribe = list(values.subscribe);
  const admin = values.admin === true;
  if (!publish && !subscribe && !admin) throw new HubError(400, 'invalid_arguments', 'Grant something: --publish, --subscribe and/or --admin.');
  // No default: a shared one would count every holder's streams and publishes as one client's.
  const subject = values.subject as string | undefined;
  if (subject === undefined || subject === '') {
    throw new HubError(400, 'invalid_arguments', 'Name the holder: --subject <name> (the "sub" claim; streams and publish rates are counted per subject).');
  }
  const options: MintOptions = { subject, lifetimeSeconds: Math.max(1, Math.round(parseDuration(values.ttl as string, '--ttl') / 1000)) };
  if (publish) options.publish = publish;
  if (subscribe) options.subscribe = subscribe;
  if (admin) options.admin = true;
  if (values['token-id'] !== undefined) options.tokenId = values['token-id'] as string;
  const pick = (flag: string, envName: string): string | undefined => (values[flag] as string | undefined) ?? (env[envName] || undefined);
  const secret = pick('jwt-secret', 'SSEHUB_JWT_SECRET');
  const privateKeyFile = pick('jwt-private-key', 'SSEHUB_JWT_PRIVATE_KEY');
  if (privateKeyFile !== undefined) options.privateKeyPem = readFileSync(privateKeyFile, 'utf8');
  else if (secret !== undefined) options.secret = secret;
  const issuer = pick('jwt-issuer', 'SSEHUB_JWT_ISSUER');
  const audience = pick('jwt-audience', 'SSEHUB_JWT_AUDIENCE');
  if (issuer !== undefined) options.issuer = issuer;
  if (audience !== undefined) options.audience = audience;
  return mintToken(options);
}
