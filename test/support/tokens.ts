/** Tokens the hub must refuse, which mintToken (it signs only valid ones) cannot make. */
import { SignJWT } from 'jose';

/** An HS256 token with these grants that expired five seconds ago (valid in every other way). */
export function expiredToken(secret: string, grants: { publish?: string[]; subscribe?: string[] }): Promise<string> {
  return new SignJWT({ ssehub: grants })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('expired')
    .setExpirationTime(Math.floor(Date.now() / 1000) - 5)
    .sign(Buffer.from(secret));
}
