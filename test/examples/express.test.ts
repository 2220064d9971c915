/** The Express example (examples/express), run for real: see support.ts for what every example must do. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startApp } from '../../examples/express/server.js';
import { openStream } from '../support/http.js';
import { churn, login, servedExampleSuite, started, userStreamPath, waitForNoConnections, type RunningExample } from './support.js';

servedExampleSuite('Express', startApp, { websocket: true });

describe('the Express example under connection churn', () => {
  const LIMIT = 50;
  let app: RunningExample;
  before(async () => {
    app = await startApp(0, { logLevel: 'silent', maxStreamsPerSubject: LIMIT, maxStreamsPerIp: LIMIT });
  });
  after(() => app.close());

  it('leaves no subscriber and no stream slot behind after 1,000 connect/disconnect cycles', async () => {
    const cookie = await login(app.url, 'alice');
    const open = async () => started(await openStream(`${app.url}${userStreamPath('alice')}`, { Cookie: cookie }));
    await churn(open, 1000, LIMIT);
    await waitForNoConnections(app.hub);

    // Every per-IP and per-subject slot was given back: the limit's worth of streams opens again.
    const streams = await Promise.all(Array.from({ length: LIMIT }, open));
    await assert.rejects(openStream(`${app.url}${userStreamPath('alice')}`, { Cookie: cookie }), (error: { status: number }) => error.status === 429);
    for (const stream of streams) stream.close();
    await waitForNoConnections(app.hub);
  });
});
