/** app/orders/[id]/pay/route.ts: the app publishes in process, to the signed-in user's orders topic. */
import { userOf } from '../../../../../session.js';
import { realtimeHub } from '../../../../lib/hub.js';

export async function POST(request: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  const user = userOf(request.headers.get('cookie'));
  if (user === undefined) return Response.json({ error: 'log in first' }, { status: 401 });
  const { id } = await params;
  const hub = await realtimeHub();
  return Response.json(await hub.publish(`users/${user}/orders`, { order: id, status: 'paid' }, { event: 'order' }));
}
