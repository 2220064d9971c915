/**
 * app/realtime/[...path]/route.ts: every request below /realtime goes to the hub's Fetch handler,
 * which strips /realtime itself (basePath). A stream is the Response's body; Next ends it when the
 * client goes away (the Request's signal aborts).
 */
import { realtimeHub } from '../../../lib/hub.js';

export const dynamic = 'force-dynamic'; // never cached, never prerendered
export const runtime = 'nodejs';

const handler = async (request: Request): Promise<Response> => (await realtimeHub()).fetch(request);

export { handler as GET, handler as POST, handler as OPTIONS };
