/** The node:http example (examples/node-http), run for real: see support.ts for what every example must do. */
import { startApp } from '../../examples/node-http/server.js';
import { servedExampleSuite } from './support.js';

servedExampleSuite('node:http', startApp, { websocket: true });
