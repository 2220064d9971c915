/**
 * The one rule for HS256 secrets, applied where a verifier is created, where `ssehub token` signs,
 * and in loadConfig (so `ssehub serve` names it before starting): at least 32 bytes, the size of
 * the hash's output (RFC 7518 §3.2). A shorter secret can be guessed offline from any token it signed.
 */
import { HubError } from '../errors.js';

export const MIN_HS256_SECRET_BYTES = 32;

export function checkHs256Secret(secret: string): void {
  const bytes = Buffer.byteLength(secret, 'utf8');
  if (bytes < MIN_HS256_SECRET_BYTES) {
    throw new HubError(
      400,
      'invalid_config',
      `The HS256 secret (--jwt-secret, SSEHUB_JWT_SECRET) is ${bytes} bytes long; it must be at least ${MIN_HS256_SECRET_BYTES} (RFC 7518 §3.2). ` +
        'Make one with: openssl rand -base64 32',
    );
  }
}
