/**
 * The client's address behind trusted proxies (src/http/client-address.ts): which address of
 * X-Forwarded-For is believed, and that per-IP stream limits and anonymous publish rates follow it
 * in a running hub, on the publish fast path and through node:http alike.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { clientAddressResolver } from '../../src/http/client-address.js';
import type { RequestHead } from '../../src/http/context.js';
import { startTestHub } from '../support/hub.js';
import { get as httpGet } from 'node:http';
import { httpRequest } from '../support/http.js';

const request = (peer: string | undefined, forwardedFor?: string): RequestHead => ({
  headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
  socket: { remoteAddress: peer },
});

describe('clientAddressResolver', () => {
  test('without trusted proxies the peer is the client, whatever X-Forwarded-For says', () => {
    const of = clientAddressResolver([]);
    assert.equal(of(request('203.0.113.9', '198.51.100.1')), '203.0.113.9');
    assert.equal(of(request('::ffff:203.0.113.9')), '203.0.113.9', 'IPv4 through an IPv6 socket is written as IPv4');
    assert.equal(of(request(undefined)), 'unknown');
  });

  test('a peer that is not a trusted proxy is the client: it cannot name another address', () => {
    const of = clientAddressResolver(['10.0.0.0/8']);
    assert.equal(of(request('203.0.113.9', '198.51.100.1')), '203.0.113.9');
  });

  test('behind trusted proxies, the last address that is not one of them is the client', () => {
    const of = clientAddressResolver(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
    assert.equal(of(request('127.0.0.1', '198.51.100.1')), '198.51.100.1');
    assert.equal(of(request('::ffff:127.0.0.1', '198.51.100.1')), '198.51.100.1');
    // The client sent its own X-Forwarded-For; each proxy appended what it saw.
    assert.equal(of(request('127.0.0.1', '1.1.1.1, 198.51.100.1, 10.1.2.3')), '198.51.100.1');
    assert.equal(of(request('fd00::2', '2001:db8::7, fd00::1')), '2001:db8::7');
    assert.equal(of(request('127.0.0.1', '10.0.0.5, 10.0.0.6')), '10.0.0.5', 'every hop trusted: the first one');
    assert.equal(of(request('127.0.0.1')), '127.0.0.1', 'no header: the proxy itself');
  });

  test('ports and brackets that proxies add are dropped; an entry that is not an address ends the walk', () => {
    const of = clientAddressResolver(['127.0.0.1']);
    assert.equal(of(request('127.0.0.1', '198.51.100.1:41234')), '198.51.100.1');
    assert.equal(of(request('127.0.0.1', '[2001:db8::1]:443')), '2001:db8::1');
    assert.equal(of(request('127.0.0.1', 'unknown')), '127.0.0.1');
    assert.equal(of(request('127.0.0.1', 'garbage, 127.0.0.1')), '127.0.0.1');
  });

  test('one client, one address: IPv6 spellings and IPv4 seen through IPv6 come out the same', () => {
    const of = clientAddressResolver(['127.0.0.1']);
    for (const spelling of ['2001:DB8:0:0::1', '2001:db8::1', '[2001:db8:0::1]:80']) assert.equal(of(request('127.0.0.1', spelling)), '2001:db8::1', spelling);
    for (const spelling of ['198.51.100.1', '::ffff:198.51.100.1', '::FFFF:C633:6401', '[::ffff:198.51.100.1]:443']) {
      assert.equal(of(request('127.0.0.1', spelling)), '198.51.100.1', spelling);
    }
    assert.equal(of(request('::ffff:7f00:1', '198.51.100.1')), '198.51.100.1', 'a trusted peer in the hex form');
  });

  test('entries that are neither an address nor a CIDR range are refused at start', () => {
    for (const entry of ['localhost', '10.0.0.0/33', 'fd00::/129', '10.0.0.0/', '10.0.0.0/8x', '1.2.3']) {
      assert.throws(() => loadConfig(['--trusted-proxies', `127.0.0.1,${entry}`]), { code: 'invalid_config', message: new RegExp(`"${entry.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}"`) }, entry);
    }
    assert.deepEqual(loadConfig([], { SSEHUB_TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8' }).trustedProxies, ['127.0.0.1', '10.0.0.0/8']);
  });
});

/** Opens a stream as forwarded for `client` and tells its status; close() ends it. */
function streamStatus(url: string, client: string): Promise<{ status: number; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { agent: false, headers: { Accept: 'text/event-stream', 'X-Forwarded-For': client } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode!, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

describe('a hub behind a trusted proxy', () => {
  test('per-IP stream limits count each forwarded client; without --trusted-proxies every client is the proxy', async () => {
    for (const trustedProxies of [['127.0.0.1'], []]) {
      const hub = await startTestHub({ trustedProxies, maxStreamsPerIp: 1 });
      const open: Array<() => void> = [];
      const streamFrom = async (client: string): Promise<number> => {
        const { status, close } = await streamStatus(`${hub.url}/topics/limits`, client);
        open.push(close);
        return status;
      };
      try {
        assert.equal(await streamFrom('198.51.100.1'), 200);
        if (trustedProxies.length > 0) {
          assert.equal(await streamFrom('198.51.100.2'), 200, 'another forwarded client has its own count');
          assert.equal(await streamFrom('198.51.100.1'), 429, 'the same forwarded client is over its limit');
        } else {
          assert.equal(await streamFrom('198.51.100.2'), 429, 'untrusted: X-Forwarded-For is ignored and both are 127.0.0.1');
        }
      } finally {
        for (const close of open) close();
        await hub.close();
      }
    }
  });

  test('anonymous publish rates go by forwarded client, on the fast path and through node:http', async () => {
    for (const fastPublish of [true, false]) {
      const hub = await startTestHub({ trustedProxies: ['127.0.0.0/8'], publishRate: 1, publishBurst: 1, fastPublish });
      try {
        const publishAs = (client: string) =>
          httpRequest(`${hub.url}/topics/rates`, { method: 'POST', body: 'x', headers: { 'Content-Type': 'text/plain', 'X-Forwarded-For': client } });
        assert.equal((await publishAs('198.51.100.1')).status, 201);
        assert.equal((await publishAs('198.51.100.1')).status, 429, `fastPublish ${fastPublish}: the same client again`);
        assert.equal((await publishAs('198.51.100.2')).status, 201, `fastPublish ${fastPublish}: another client`);
      } finally {
        await hub.close();
      }
    }
  });
});
