/**
 * POST /admin/disconnect {"subject"} | {"topic"} | {"tokenId"}: ends the matching streams on every
 * instance (hub/disconnects.ts), for a caller with the admin grant. Answers 202: the instances end
 * their streams as the message reaches them, within moments, not before this answer.
 */
import { disconnect } from '../hub/disconnects.js';
import { bodyTypeOf, parseJson } from './body.js';
import type { Handler } from './context.js';
import { adminOnly } from './observability.js';
import { jsonAnswer } from './respond.js';

// adminOnly checks the credential first: a caller who may not disconnect learns nothing from the body's checks.
export const disconnectStreams: Handler = adminOnly(async (request, context) => {
  bodyTypeOf(request, ['json']);
  const body = parseJson(await request.readBody(context.config.maxBodyBytes));
  return jsonAnswer(202, await disconnect(body, context.hub, context.bus, context.access.revocations));
});
