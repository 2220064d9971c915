/**
 * POST /.well-known/mercure: a form-encoded update (`topic` repeatable, `data`, `id`, `type`,
 * `retry`, `private`), answered 200 `text/plain` with the update's id. The update goes through the
 * hub's one publish path (http/publish.ts publishEvents: rates, idempotency, storage, metrics) as
 * one event on MERCURE_TOPIC.
 *
 * Ids: the answer, and the `id:` subscribers see, is the ssehub id the engine gave the event, so that
 * Last-Event-ID resumes on every engine. A publisher's own `id` is its idempotency key instead: the
 * same id published again (a retry) stores nothing twice and answers the first update's id.
 */
import { createHash } from 'node:crypto';
import { HubError } from '../errors.js';
import type { NewEvent } from '../engines/engine.js';
import { clientKey } from '../http/authenticate.js';
import { bodyTypeOf } from '../http/body.js';
import type { Handler } from '../http/context.js';
import { idempotencyKeyOf } from '../http/idempotency.js';
import { publishEvents } from '../http/publish.js';
import { mercureCredential, requirePublisher } from './credential.js';
import { mercureSelectorMatches, type MercureSelector } from './selectors.js';
import { envelopeOf, MERCURE_TOPIC, updateOfForm, type MercureUpdate } from './update.js';

export const mercurePublish: Handler = async (request, context) => {
  // The token first: a publisher without one costs no upload.
  const credential = await mercureCredential(request, context);
  const allowed = requirePublisher(credential);
  bodyTypeOf(request, ['form']);
  const update = updateOfForm(new URLSearchParams(await request.readBody(context.config.maxBodyBytes)));
  const event: NewEvent = { topic: MERCURE_TOPIC, data: envelopeOf(update) };
  const idempotencyKey = update.id === undefined ? idempotencyKeyOf(request) : publisherIdKey(update.id);
  const publisher = {
    principal: credential.principal,
    key: () => clientKey(request, credential.principal, context),
    door: { authorize: () => authorizeUpdate(allowed, update) },
  };
  const { stored, replayed } = await publishEvents([event], publisher, idempotencyKey, context);
  const id = stored[0]!.id;
  return {
    status: 200,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(id), 'Cache-Control': 'no-store', ...(replayed ? { 'Idempotent-Replayed': 'true' } : {}) },
    body: id,
  };
};

/**
 * Mercure 0.24's rule: any publisher with a `mercure.publish` claim may publish public updates; a
 * private update needs every one of its topics matched by a selector of that claim.
 */
function authorizeUpdate(allowed: readonly MercureSelector[], update: MercureUpdate): void {
  if (update.private !== true) return;
  for (const topic of update.topics) {
    if (!allowed.some((selector) => mercureSelectorMatches(selector, topic))) {
      throw new HubError(403, 'forbidden', `Not allowed to publish a private update to ${JSON.stringify(topic.slice(0, 200))}: no selector of the token's "mercure.publish" claim matches it.`);
    }
  }
}

/** The publisher's id as an idempotency key: any text (an IRI, a UUID), hashed to the key's alphabet. */
function publisherIdKey(id: string): string {
  return `mercure-id:${createHash('sha256').update(id).digest('base64url')}`;
}
