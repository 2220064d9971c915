/**
 * The hub inside an app: `createHub(options)` builds the same hub as `ssehub serve` (the same
 * settings and defaults, assembled by assemble.ts) without opening a port, and hands the app its
 * doors:
 * - `handle(req, res, next?)` for node:http, Express, Connect and Fastify (through reply.hijack);
 * - `fetch(request)` for Fetch runtimes (Hono, Next.js route handlers, Bun, Deno);
 * - `upgrade(req, socket, head)`: WebSockets at `<basePath>/ws`, on node:http's 'upgrade' event;
 * - `publish(topic, data, options)` in process;
 * - `disconnect({ subject } | { topic } | { tokenId })` in process, as POST /admin/disconnect;
 * - `onCancel(topic, listener)` and `cancel(topic)`, as POST /topics/{topic}/cancel;
 * - `history({ topics, after?, before?, limit? })` in process, as GET /history.
 * Every door goes through the same routes, and every publish through the same publishEvents.
 * The app's `authorize(request)` decides who a request is from its own session (auth/authorize.ts).
 */
import type { Logger } from 'pino';
import type { Access } from './auth/access.js';
import { appAuthorizer, type AppAuthorize } from './auth/authorize.js';
import type { Principal } from './auth/principal.js';
import type { DisconnectCriterion } from './auth/revocation.js';
import { assembleHub, type AssembleOptions } from './assemble.js';
import { defaultConfig, type HubConfig } from './config.js';
import { HubError } from './errors.js';
import { fetchDoor, type FetchHandler } from './http/fetch/door.js';
import { nodeDoor, type NodeHandler } from './http/node/door.js';
import { checkedIdempotencyKey } from './http/idempotency.js';
import { publishEvents } from './http/publish.js';
import { subscriptionOf } from './http/subscription.js';
import { mountPath } from './http/routes.js';
import { WS_PATH, type UpgradeListener } from './ws/door.js';
import { disconnect, type DisconnectResult } from './hub/disconnects.js';
import type { HistoryPage, HistoryQuery } from './hub/history.js';
import type { EventToPublish, Hub } from './hub/hub.js';
import type { Member, PresenceEvents } from './presence/presence.js';
import { createLogger } from './start.js';
import { parseSelector } from './topics/index.js';

export interface CreateHubOptions<R = any> extends Partial<HubConfig> {
  /**
   * Who a request is, from the app's own session: a grant `{ subject, subscribe?, publish?,
   * expiresAt?, admin? }`, or null when it has none (then only --public-topics, and 401 for the
   * rest). Called for every stream, publish and ticket request that carries no token, with the
   * request as the door got it (Express's req after the app's middleware; a Fetch Request). A
   * throw is a 500 authorize_failed, logged, and nothing is opened.
   */
  authorize?: AppAuthorize<R>;
  /**
   * Where the hub is mounted on a server it shares, for `handle` on a bare node:http server and
   * for `fetch` (e.g. "/realtime"). Express's `app.use('/realtime', hub.handle)` strips the mount
   * path itself: leave it out there.
   */
  basePath?: string;
  /** pino logger; by default one at `logLevel` writing to stderr. */
  logger?: Logger;
}

export interface InProcessPublishOptions {
  /** The SSE event name (absent: the default "message"). */
  event?: string;
  /** Publish once per key within --idempotency-window: a retry gets the first publish's id. */
  idempotencyKey?: string;
  /** Whose publish rates this counts against (default "app"). */
  subject?: string;
  /**
   * This is the topic's last event: the hub stores the topic's end (ssehub.end) right after it;
   * its streams get it and close, and publishing to the topic is refused (409 topic_ended) for its
   * retention age. Ending an ended topic again stores nothing and answers with its end.
   */
  end?: boolean;
}

export interface PublishedEvent {
  id: string;
  topic: string;
  event?: string;
  /** True when the idempotency key had been used: nothing was stored again. */
  replayed: boolean;
  /** With the end option: the id of the topic's ssehub.end (for a repeated end, `id` is that id too and `event` is "ssehub.end"). */
  end?: string;
}

export interface TopicPresence {
  topic: string;
  subscribers: number;
  members: Member[];
}

export interface HistoryOptions extends HistoryQuery {
  /** Topics and patterns, as a stream names them (system topics only literally, e.g. "$ssehub/stats"). */
  topics: readonly string[];
}

export interface EmbeddedHub {
  /** node:http, Express, Connect: `(req, res, next?)`; a path the hub has no route for goes to `next()`. */
  readonly handle: NodeHandler;
  /** Fetch runtimes: `(request, { clientAddress? }) => Response`. */
  readonly fetch: FetchHandler;
  /**
   * WebSockets (docs/websocket.md): node:http's 'upgrade' listener for `<basePath>/ws`, as
   * `server.on('upgrade', hub.upgrade)`. It returns false, leaving the socket alone, for any other
   * path (the app's own WebSockets). Fetch runtimes have no upgrade to hand over.
   */
  readonly upgrade: UpgradeListener;
  /** The 'upgrade' listener for WebSockets at another path (Express mounted at "/realtime": `hub.upgradeAt('/realtime/ws')`). */
  upgradeAt(path: string): UpgradeListener;
  /**
   * Publishes one event from the app itself: data that is not a string is JSON-encoded. The same
   * validation, idempotency and limits as an HTTP publish; rejects with a HubError and its code.
   */
  publish(topic: string, data: unknown, options?: InProcessPublishOptions): Promise<PublishedEvent>;
  /**
   * Who is on a topic now, across the cluster: its streams (those of patterns that match it
   * included) and its members (subjects on a presence topic, with their info and streams).
   */
  presence(topic: string): TopicPresence;
  /**
   * Presence changes, cluster-wide, as this instance sees them (every instance sees each one;
   * `causedHere` is true on one of them): a subject's first stream on a topic (`join`), its last
   * one closed for the grace period (`leave`), a topic's first stream (`occupied`) and its last
   * (`vacated`).
   */
  on: PresenceEvents['on'];
  off: PresenceEvents['off'];
  /**
   * Ends the streams of a subject, of a token id (`jti`), or reading a topic, on every instance of
   * the cluster, with the ssehub.revoked event; a subject's or token id's tokens are refused from
   * then on (401 token_revoked). As POST /admin/disconnect: rejects with HubError 400
   * invalid_disconnect unless exactly one criterion is given.
   */
  disconnect(criterion: DisconnectCriterion): Promise<DisconnectResult>;
  /**
   * Calls `listener` when a reader cancels the topic (POST /topics/{topic}/cancel, or cancel()),
   * on any instance of the cluster: the producer's cue to stop. Returns the function that stops
   * listening.
   */
  onCancel(topic: string, listener: (topic: string) => void): () => void;
  /** Sends the cancel of a topic to its producers on every instance, as POST /topics/{topic}/cancel does (the app is trusted: no grant is checked). */
  cancel(topic: string): Promise<void>;
  /**
   * One page of the topics' retained events, as GET /history answers it: without `after`, the
   * newest `limit` (default 100, at most 1000) in id order; with it, the oldest after it, and
   * `next` for the following page. Open a stream with the answer's `lastEventId` to go on from it
   * with no gap and no duplicate. The app is trusted: no grant is checked. Rejects with a HubError
   * (invalid_topic, invalid_limit, invalid_before, too_many_topics).
   */
  history(options: HistoryOptions): Promise<HistoryPage>;
  readonly hub: Hub;
  readonly config: HubConfig;
  readonly access: Access;
  /** Ends every stream (clients reconnect elsewhere), stops the hub's work, closes the engine. */
  close(): Promise<void>;
}

/** Everything the app may publish to (the hub's own `$…` topics stay the hub's). */
const ANY_TOPIC = parseSelector('**');

export async function createHub<R = any>(options: CreateHubOptions<R> = {}, internal: Pick<AssembleOptions, 'openEngine' | 'limits'> = {}): Promise<EmbeddedHub> {
  const { authorize, basePath, logger: given, ...settings } = options;
  // Embedded, the app serves its own pages: the dashboard and the demos only when asked for.
  const config = defaultConfig({ dashboard: false, demos: false, ...settings });
  const logger = given ?? createLogger(config.logLevel);
  const appAuthorize = authorize === undefined ? undefined : appAuthorizer(authorize, (error) => logger.error({ err: error }, 'authorize() failed'));
  const core = await assembleHub(config, logger, { ...internal, appAuthorize });
  const { context } = core;
  const doorOptions = basePath === undefined ? {} : { basePath };

  const publish = async (topic: string, data: unknown, publishOptions: InProcessPublishOptions = {}): Promise<PublishedEvent> => {
    const event: EventToPublish = { topic, data: dataText(data) };
    if (publishOptions.event !== undefined) event.event = publishOptions.event;
    if (publishOptions.end === true) event.end = true;
    const subject = publishOptions.subject ?? 'app';
    const principal: Principal = { authenticated: true, subject, publish: [ANY_TOPIC], subscribe: [], expiresAt: undefined, admin: false };
    const { stored, replayed } = await publishEvents([event], { principal, key: () => `sub:${subject}` }, checkedIdempotencyKey(publishOptions.idempotencyKey), context);
    const published: PublishedEvent = { id: stored[0]!.id, topic: stored[0]!.topic, replayed };
    if (stored[0]!.event !== undefined) published.event = stored[0]!.event;
    if (stored[0]!.endId !== undefined) published.end = stored[0]!.endId;
    return published;
  };

  return {
    handle: nodeDoor(context, { takeOverStreams: false, ...doorOptions }),
    fetch: fetchDoor(context, doorOptions),
    upgrade: core.websockets.upgradeAt(mountPath(basePath) + WS_PATH),
    upgradeAt: (path) => core.websockets.upgradeAt(path),
    publish,
    presence: (topic) => ({ topic, subscribers: context.presence.subscribers(topic), members: context.presence.members(topic) }),
    on: context.presence.on.bind(context.presence),
    off: context.presence.off.bind(context.presence),
    disconnect: (criterion) => disconnect(criterion, context.hub, context.bus, context.access.revocations),
    onCancel: (topic, listener) => context.cancels.onCancel(topic, listener),
    cancel: (topic) => context.cancels.cancel(topic),
    history: async ({ topics, ...query }) => {
      if (topics.length === 0) throw new HubError(400, 'invalid_topic', 'Name at least one topic: history({ topics: ["a", "b/*"] }).');
      return context.hub.history(subscriptionOf(topics, context).selectors, query);
    },
    hub: context.hub,
    config,
    access: context.access,
    close: () => core.close(),
  };
}

/** An event's data as published: a string as it is, anything else as its JSON text. */
function dataText(data: unknown): string {
  if (typeof data === 'string') return data;
  let text: string | undefined;
  try {
    text = JSON.stringify(data);
  } catch (error) {
    throw new HubError(400, 'invalid_data', `The data cannot be encoded as JSON: ${(error as Error).message}`);
  }
  if (text === undefined) throw new HubError(400, 'invalid_data', `The data must be a string or a JSON value, not ${typeof data}.`);
  return text;
}
