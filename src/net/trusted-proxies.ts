/**
 * The --trusted-proxies list: addresses and CIDR ranges, IPv4 or IPv6 ("127.0.0.1", "10.0.0.0/8",
 * "fd00::/8"). Parsed here, once, for both its users: config.ts, which refuses a bad list at
 * startup, and the HTTP front doors' client address resolver, which asks it whether a peer is one
 * of the hub's proxies. Pure (node:net's parsers only), so configuration can use it without
 * importing the HTTP layer.
 */
import { BlockList, isIP } from 'node:net';
import { HubError } from '../errors.js';

/** True when `address` (a plain IPv4 or IPv6 address) is one of the trusted proxies. */
export type TrustedProxyCheck = (address: string) => boolean;

/** Parses the list. An entry that is neither an address nor a range throws invalid_config. */
export function parseTrustedProxies(entries: readonly string[]): TrustedProxyCheck {
  const list = new BlockList();
  for (const entry of entries) {
    const slash = entry.indexOf('/');
    const address = slash === -1 ? entry : entry.slice(0, slash);
    const family = isIP(address);
    const prefix = slash === -1 ? undefined : entry.slice(slash + 1);
    const maxPrefix = family === 6 ? 128 : 32;
    if (family === 0 || (prefix !== undefined && (!/^\d{1,3}$/.test(prefix) || Number(prefix) > maxPrefix))) {
      throw new HubError(400, 'invalid_config', `--trusted-proxies: "${entry}" is not an IP address or a CIDR range such as 10.0.0.0/8`);
    }
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return (address) => list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}
