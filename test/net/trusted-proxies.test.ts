/**
 * The --trusted-proxies list (src/net/trusted-proxies.ts), parsed once for config.ts (which refuses
 * a bad list at startup) and for the client address resolver (test/http/client-address.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HubError } from '../../src/errors.js';
import { parseTrustedProxies } from '../../src/net/trusted-proxies.js';

describe('parseTrustedProxies', () => {
  test('addresses and CIDR ranges, IPv4 and IPv6, are trusted; nothing else is', () => {
    const isTrusted = parseTrustedProxies(['127.0.0.1', '10.0.0.0/8', 'fd00::/8', '2001:db8::1']);
    for (const address of ['127.0.0.1', '10.0.0.1', '10.255.255.255', 'fd00::2', 'fdff::1', '2001:db8::1']) {
      assert.equal(isTrusted(address), true, address);
    }
    for (const address of ['127.0.0.2', '11.0.0.1', 'fe00::1', '2001:db8::2', '203.0.113.9']) {
      assert.equal(isTrusted(address), false, address);
    }
  });

  test('an empty list trusts no one', () => {
    assert.equal(parseTrustedProxies([])('127.0.0.1'), false);
  });

  test('an entry that is neither an address nor a range is refused with invalid_config, naming it', () => {
    for (const entry of ['localhost', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/', '10.0.0.0/8x', '1.2.3', '']) {
      assert.throws(
        () => parseTrustedProxies(['127.0.0.1', entry]),
        (error: unknown) => error instanceof HubError && error.code === 'invalid_config' && error.message.includes(`"${entry}"`),
        entry,
      );
    }
  });
});
