/** What every route handler is given: the hub, the configuration and the logger. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Access } from '../auth/access.js';
import type { HubConfig } from '../config.js';
import type { DemoRunner } from '../demos/runner.js';
import type { Hub } from '../hub/hub.js';
import type { Metrics } from './metrics.js';

export interface RouteContext {
  hub: Hub;
  config: HubConfig;
  logger: Logger;
  metrics: Metrics;
  access: Access;
  startedAt: number;
  /** The demos' background work; undefined when the demo API is off. */
  demos?: DemoRunner | undefined;
}

export interface RouteRequest {
  req: IncomingMessage;
  res: ServerResponse;
  /** The query string's parameters. */
  query: URLSearchParams;
  /** The rest of the path after a route's prefix, percent-decoded (e.g. the topic). */
  rest: string;
}

export type Handler = (request: RouteRequest, context: RouteContext) => void | Promise<void>;
