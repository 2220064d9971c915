/**
 * Mercure's subscriptions, on presence (--mercure-subscriptions, Mercure's `subscriptions`
 * directive): every Mercure stream is a member of the presence topic SUBSCRIPTIONS_TOPIC, under its
 * own subscriber id (`urn:uuid:…`), with its selectors and its token's `mercure.payload` as member
 * info. So the cluster's subscriptions are presence's members, whichever hub is asked:
 *
 * - GET /.well-known/mercure/subscriptions[/{topic}[/{subscriber}]] lists them as JSON-LD;
 * - a subscriber's join and leave (after presence's grace period) are published once per cluster
 *   (on the hub where presence says the change happened) as private Mercure updates on
 *   `/.well-known/mercure/subscriptions/{topic}/{subscriber}`, one per selector, `active` true or false.
 *
 * Reading either needs a `mercure.subscribe` claim that matches that URL (a template such as
 * `/.well-known/mercure/subscriptions{/topic}{/subscriber}` matches them all).
 */
import { randomUUID } from 'node:crypto';
import { tokenRequired } from '../auth/principal.js';
import { HubError } from '../errors.js';
import type { Handler } from '../http/context.js';
import type { Hub, HubLogger } from '../hub/hub.js';
import type { MemberChange, Presence, StreamMembership } from '../presence/presence.js';
import { mercureCredential } from './credential.js';
import { anyTopicMatches, type MercureSelector } from './selectors.js';
import { envelopeOf, MERCURE_TOPIC } from './update.js';

/** The presence topic whose members are the cluster's Mercure subscribers. */
export const SUBSCRIPTIONS_TOPIC = '$mercure/subscriptions';
export const SUBSCRIPTIONS_PATH = '/.well-known/mercure/subscriptions';
const CONTEXT = 'https://mercure.rocks/';
/** Most bytes of a subscriber's selectors and payload, as JSON, that presence keeps. */
export const MAX_SUBSCRIBER_INFO_BYTES = 16_384;

/** What a Mercure stream tells presence of itself. */
interface SubscriberInfo {
  topics: string[];
  payload?: unknown;
}

export interface MercureSubscription {
  id: string;
  type: 'Subscription';
  subscriber: string;
  topic: string;
  active: boolean;
  payload?: unknown;
}

/** A new stream's subscriber id and presence membership. */
export function subscriberMembership(selectors: readonly MercureSelector[], payload: unknown): StreamMembership {
  const info: SubscriberInfo = { topics: selectors.map((selector) => selector.source) };
  if (payload !== undefined) info.payload = payload;
  // Told to every hub of the cluster, and kept by each while the stream is open.
  const bytes = Buffer.byteLength(JSON.stringify(info));
  if (bytes > MAX_SUBSCRIBER_INFO_BYTES) {
    throw new HubError(400, 'subscription_too_large', `The stream's selectors and the token's "mercure.payload" take ${bytes} bytes of JSON; at most ${MAX_SUBSCRIBER_INFO_BYTES} are kept per subscriber.`);
  }
  return { subject: `urn:uuid:${randomUUID()}`, info, topics: [SUBSCRIPTIONS_TOPIC] };
}

/** The subscriptions of one subscriber (one per selector). */
function subscriptionsOfMember(subscriber: string, info: unknown, active: boolean): MercureSubscription[] {
  const { topics = [], payload } = (info ?? {}) as Partial<SubscriberInfo>;
  return topics.map((topic) => {
    const subscription: MercureSubscription = { id: subscriptionPath(topic, subscriber), type: 'Subscription', subscriber, topic, active };
    if (payload !== undefined) subscription.payload = payload;
    return subscription;
  });
}

export function subscriptionPath(topic: string, subscriber: string): string {
  return `${SUBSCRIPTIONS_PATH}/${encodeURIComponent(topic)}/${encodeURIComponent(subscriber)}`;
}

/** GET /.well-known/mercure/subscriptions[/{topic}[/{subscriber}]] (the rest of the path, still percent-encoded). */
export const mercureSubscriptions: Handler = async (request, context) => {
  if (!context.config.mercureSubscriptions) {
    throw new HubError(404, 'mercure_subscriptions_disabled', 'The Mercure subscriptions API is off on this hub: start it with --mercure-subscriptions.');
  }
  const [topic, subscriber, ...extra] = segmentsOf(request.rest);
  if (extra.length > 0) throw new HubError(404, 'not_found', `No route for ${request.path}.`);
  const resource = request.path;
  const credential = await mercureCredential(request, context);
  // A hub without keys is open; with keys, the claim must name the resource.
  if (context.access.enabled && !anyTopicMatches(credential.subscribe, [resource])) {
    if (!credential.authenticated) throw tokenRequired('Reading Mercure subscriptions needs a token whose "mercure.subscribe" claim matches the URL.');
    throw new HubError(403, 'forbidden', `The token's "mercure.subscribe" claim does not match ${resource}.`);
  }
  const all = context.presence.members(SUBSCRIPTIONS_TOPIC).flatMap((member) => subscriptionsOfMember(member.subject, member.info, true));
  const lastEventID = (await context.hub.engine.position()) || 'earliest';
  if (subscriber !== undefined) {
    const found = all.find((subscription) => subscription.topic === topic && subscription.subscriber === subscriber);
    if (found === undefined) throw new HubError(404, 'subscription_not_found', 'No such subscription (it may have closed).');
    return jsonLd({ '@context': CONTEXT, ...found, lastEventID });
  }
  const subscriptions = topic === undefined ? all : all.filter((subscription) => subscription.topic === topic);
  return jsonLd({ '@context': CONTEXT, id: resource, type: 'Subscriptions', lastEventID, subscriptions });
};

function segmentsOf(rest: string): string[] {
  if (rest === '' || rest === '/') return [];
  if (!rest.startsWith('/')) throw new HubError(404, 'not_found', 'No such Mercure resource.');
  try {
    return rest.slice(1).split('/').map((segment) => decodeURIComponent(segment));
  } catch {
    throw new HubError(400, 'invalid_topic_selector', 'The path is not valid percent-encoding.');
  }
}

function jsonLd(body: unknown) {
  const text = `${JSON.stringify(body)}\n`;
  return { status: 200, headers: { 'Content-Type': 'application/ld+json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' }, body: text };
}

/**
 * Publishes subscription events: a subscriber's join and leave, once per cluster (causedHere), as
 * private updates through the hub's publish path.
 */
export function publishSubscriptionEvents(presence: Presence, hub: Hub, logger: HubLogger): void {
  const publish = (active: boolean) => ({ topic, member, causedHere }: MemberChange) => {
    if (!causedHere || topic !== SUBSCRIPTIONS_TOPIC) return;
    const events = subscriptionsOfMember(member.subject, member.info, active).map((subscription) => ({
      topic: MERCURE_TOPIC,
      data: envelopeOf({ topics: [subscription.id], data: JSON.stringify({ '@context': CONTEXT, ...subscription }), private: true }),
    }));
    if (events.length === 0) return;
    hub.publish(events, { allowReservedTopics: true }).catch((error: unknown) => logger.warn({ err: error }, 'could not publish a Mercure subscription event'));
  };
  presence.on('join', publish(true));
  presence.on('leave', publish(false));
}
