import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TicketOffice } from '../../src/auth/tickets.js';
import { MemoryKeyValueStore } from '../../src/engines/memory-kv.js';
import { HubError } from '../../src/errors.js';
import { parseSelector } from '../../src/topics/index.js';

const alice = { authenticated: true, subject: 'alice', publish: [], subscribe: [parseSelector('orders/**')], admin: false, expiresAt: 9_000_000 };

describe('stream tickets', () => {
  test('are redeemed once, for the topics they were issued for', async () => {
    const store = new MemoryKeyValueStore();
    const office = new TicketOffice(store, 30_000);
    const { ticket, expiresInSeconds } = await office.issue(alice, [parseSelector('orders/42')]);
    assert.match(ticket, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(expiresInSeconds, 30);
    const principal = await office.redeem(ticket);
    assert.equal(principal.subject, 'alice');
    assert.deepEqual(principal.subscribe.map((s) => s.source), ['orders/42']);
    assert.deepEqual(principal.publish, []);
    assert.equal(principal.expiresAt, 9_000_000);
    await assert.rejects(office.redeem(ticket), (error: HubError) => error.status === 401 && error.code === 'invalid_ticket');
  });

  test('expire', async () => {
    let now = 1000;
    const office = new TicketOffice(new MemoryKeyValueStore(() => now), 30_000);
    const { ticket } = await office.issue(alice, [parseSelector('orders/1')]);
    now += 30_001;
    await assert.rejects(office.redeem(ticket), { code: 'invalid_ticket' });
  });

  test('forged or malformed tickets are unknown, and only a hash of a ticket is stored', async () => {
    const store = new MemoryKeyValueStore();
    const office = new TicketOffice(store, 30_000);
    const { ticket } = await office.issue(alice, [parseSelector('orders/1')]);
    const changed = `${ticket.slice(0, -1)}${ticket.endsWith('A') ? 'B' : 'A'}`;
    for (const forged of ['', 'x', changed, `${ticket}A`, '../../etc']) {
      await assert.rejects(office.redeem(forged), { code: 'invalid_ticket' });
    }
    assert.equal(await store.take(`ticket:${ticket}`), null, 'the raw ticket is not a key');
    assert.equal((await office.redeem(ticket)).subject, 'alice');
  });
});
