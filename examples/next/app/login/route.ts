/** app/login/route.ts: POST { "user": "alice" } starts a session, in an HttpOnly `sid` cookie. */
import { isUserName, login } from '../../../session.js';

export async function POST(request: Request): Promise<Response> {
  const { user } = (await request.json().catch(() => ({}))) as { user?: unknown };
  if (!isUserName(user)) return Response.json({ error: 'user: 1 to 32 letters, digits, - or _' }, { status: 400 });
  return Response.json({ user }, { headers: { 'Set-Cookie': login(user) } });
}
