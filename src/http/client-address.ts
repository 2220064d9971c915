/**
 * Who the client is, by address: what per-IP stream limits and anonymous publish rates are kept
 * under, and what the logs show. Without trusted proxies it is the connection's peer. Behind
 * proxies listed in --trusted-proxies, it is read from X-Forwarded-For, right to left: each
 * trusted proxy appended the address it received the request from, so the first address from the
 * right that is not a trusted proxy is the client's. Whatever lies further left was sent by that
 * client and proves nothing; a client that is not behind a trusted proxy cannot forge its address.
 */
import { isIP } from 'node:net';
import { parseTrustedProxies } from '../net/trusted-proxies.js';
import type { ClientAddressOf, RequestHead } from './context.js';

/**
 * The resolver for a list of trusted proxies: addresses and CIDR ranges, IPv4 or IPv6
 * ("127.0.0.1", "10.0.0.0/8", "fd00::/8"). An entry that is neither throws invalid_config.
 */
export function clientAddressResolver(trustedProxies: readonly string[]): ClientAddressOf {
  if (trustedProxies.length === 0) return (req) => peerAddress(req);
  const isTrusted = parseTrustedProxies(trustedProxies);
  return (req) => {
    const peer = peerAddress(req);
    const forwarded = req.headers['x-forwarded-for'];
    if (typeof forwarded !== 'string' || isIP(peer) === 0 || !isTrusted(peer)) return peer;
    // node:http joins repeated X-Forwarded-For headers with ", ": one list either way.
    const hops = forwarded.split(',');
    let client = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = plainAddress(hops[i]!.trim());
      // Not an address: no trusted proxy wrote it; the nearest hop known is the answer.
      if (hop === undefined) break;
      client = hop;
      if (!isTrusted(hop)) break;
    }
    return client;
  };
}

/** The connection's peer, in the form X-Forwarded-For's addresses are brought to. */
function peerAddress(req: RequestHead): string {
  const address = req.socket.remoteAddress;
  if (address === undefined) return 'unknown';
  return canonicalAddress(address) ?? address;
}

/**
 * An X-Forwarded-For entry as a plain address: proxies may add a port ("203.0.113.7:41234",
 * "[2001:db8::1]:443"). Undefined if it is not an address at all. (An IPv6 address with a port
 * and no brackets cannot be told from one without a port: it is taken as written.)
 */
function plainAddress(hop: string): string | undefined {
  let address = hop;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed) address = bracketed[1]!;
  else if (/^[\d.]+:\d+$/.test(address)) address = address.slice(0, address.indexOf(':'));
  return canonicalAddress(address);
}

const MAPPED_IPV4 = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

/**
 * One spelling per address, so that one client is one key whatever a proxy writes: IPv6 in lower
 * case with zeros compressed (as URLs write it), and an IPv4 address seen through IPv6
 * ("::ffff:192.0.2.1", "::ffff:c000:201") as IPv4. Undefined if it is not an address.
 */
function canonicalAddress(address: string): string | undefined {
  const family = isIP(address);
  if (family === 4) return address;
  if (family === 0) return undefined;
  let host: string;
  try {
    host = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address; // a zone index ("fe80::1%eth0"): no other spelling to meet
  }
  const mapped = MAPPED_IPV4.exec(host);
  if (!mapped) return host;
  const high = parseInt(mapped[1]!, 16);
  const low = parseInt(mapped[2]!, 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}
