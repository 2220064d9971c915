/**
 * `npm run bench`'s command line. Kept apart from run.ts so that a test can check what the
 * defaults mean (a run of the standard comparison is one with no narrowing option given: see
 * chartsDirOf), which is why no narrowing option has a default here.
 */
import { parseArgs } from 'node:util';
import { SCENARIOS } from './scenarios.js';
import { WS_SERVERS } from './ws/run.js';

export const BASE_PORT = 18_300;

export function parseBenchArgs(args: string[]) {
  return parseArgs({
    args,
    options: {
      quick: { type: 'boolean', default: false },
      scenarios: { type: 'string', default: SCENARIOS.filter((scenario) => scenario.onRequest !== true).map((scenario) => scenario.key).join(',') },
      servers: { type: 'string' },
      // Narrowing: undefined when not given (1 hub), so that the standard run still draws its charts.
      hubs: { type: 'string' },
      workers: { type: 'string', default: '1' },
      nagle: { type: 'boolean', default: false },
      'node-http-publish': { type: 'boolean', default: false },
      repeat: { type: 'string', default: '1' },
      duration: { type: 'string' },
      json: { type: 'string' },
      charts: { type: 'string' },
      'from-source': { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      baseline: { type: 'string' },
      websocket: { type: 'string', default: WS_SERVERS.map((server) => server.name).join(',') },
      engine: { type: 'string' },
      subscribers: { type: 'string' },
      port: { type: 'string', default: String(BASE_PORT) },
      help: { type: 'boolean', default: false },
    },
  }).values;
}
