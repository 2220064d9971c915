/**
 * The demo API (only with --demos): POST /demos/api/jobs, /demos/api/logs and /demos/api/chat
 * start work that the hub publishes on the caller's behalf, to topics under `demo/`.
 *
 * Authorization: the caller is held to the publish rules, as if it published to the demo's topic
 * itself (authorizePublish on the exact topic, its id generated here). An open hub lets anyone run
 * demos; with tokens, a publish grant such as `demo/**` (`ai/*` for the AI demo) is needed. So demos never let anyone
 * publish where they could not already, and need no separate switch for authorization.
 *
 * Every answer (202) carries `lastEventId`: the hub's position before the demo's first event.
 * Opening the topic's stream with it (`?lastEventId=…`) replays whatever the demo published before
 * the stream was open, so a page misses nothing even though it learns the topic from this answer.
 */
import { randomBytes } from 'node:crypto';
import { authorizePublish } from '../auth/principal.js';
import { CHAT_NAME, CHAT_ROOM_TOPIC, CHAT_TOPIC_PREFIX, chatTask, MAX_PROMPT_LENGTH } from '../demos/chat.js';
import { parseSelector, parseSubscribeSelector } from '../topics/index.js';
import { JOBS_TOPIC_PREFIX, jobTask, MAX_JOBS_PER_REQUEST } from '../demos/jobs.js';
import { LOGS_TOPIC_PREFIX, logsTask } from '../demos/logs.js';
import type { DemoRunner, DemoTask } from '../demos/runner.js';
import { HubError } from '../errors.js';
import { authenticate } from './authenticate.js';
import { bodyTypeOf, parseJson } from './body.js';
import type { Handler, RouteContext, RouteRequest } from './context.js';
import { jsonAnswer } from './respond.js';

/** A demo publishes to topics it names itself, checked with authorizePublish once they are drawn. */
const DEMO_INTENT = { action: 'publish', topics: [] } as const;

/** Demo request bodies are tiny. */
const MAX_DEMO_BODY_BYTES = 4096;

export const startJobs: Handler = async (req, context) => {
  const principal = await authenticate(req, context, DEMO_INTENT);
  const body = await readDemoBody(req);
  const count = body.jobs === undefined ? 1 : body.jobs;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_JOBS_PER_REQUEST) {
    throw badRequest(`"jobs" must be a whole number from 1 to ${MAX_JOBS_PER_REQUEST}.`);
  }
  const jobs = Array.from({ length: count }, () => newId());
  authorizePublish(principal, jobs.map((id) => JOBS_TOPIC_PREFIX + id));
  const lastEventId = await run(context, jobs.map((id) => ({ topic: JOBS_TOPIC_PREFIX + id, run: jobTask(id) })));
  return jsonAnswer(202, { jobs, lastEventId });
};

export const startLogs: Handler = async (req, context) => {
  const principal = await authenticate(req, context, DEMO_INTENT);
  await readDemoBody(req); // nothing to configure; an object or nothing
  const id = newId();
  const topic = LOGS_TOPIC_PREFIX + id;
  authorizePublish(principal, [topic]);
  const lastEventId = await run(context, [{ topic, run: logsTask() }], { process: true });
  return jsonAnswer(202, { run: id, topic, lastEventId });
};

export const startChat: Handler = async (req, context) => {
  const principal = await authenticate(req, context, DEMO_INTENT);
  const { prompt } = await readDemoBody(req);
  if (typeof prompt !== 'string' || prompt.trim() === '' || [...prompt].length > MAX_PROMPT_LENGTH) {
    throw badRequest(`"prompt" must be a non-blank string of at most ${MAX_PROMPT_LENGTH} characters.`);
  }
  const id = newId();
  const topic = CHAT_TOPIC_PREFIX + id;
  authorizePublish(principal, [topic]);
  const lastEventId = await run(context, [{ topic, run: chatTask(prompt) }]);
  return jsonAnswer(202, { conversation: id, topic, lastEventId });
};

/**
 * POST /demos/api/chat/join {"name"}: a one-shot ticket for the chat room's WebSocket (GET
 * /ws?ticket=…), whose holder is `name` (a member of the room, with its name as presence info),
 * may publish to the room and read it and the model's replies. The caller must be allowed to
 * publish to the room itself: a demo never grants more than its caller has.
 */
export const joinChat: Handler = async (req, context) => {
  const caller = await authenticate(req, context, { action: 'publish', topics: [CHAT_ROOM_TOPIC] });
  authorizePublish(caller, [CHAT_ROOM_TOPIC]);
  const { name } = await readDemoBody(req);
  if (typeof name !== 'string' || !CHAT_NAME.test(name)) throw badRequest('"name" must be 1 to 32 letters, digits, - or _.');
  if (context.demos === undefined) throw new HubError(404, 'not_found', 'The demo API is off (--demos).');
  const room = parseSelector(CHAT_ROOM_TOPIC);
  const member = { authenticated: true, subject: name, publish: [room], subscribe: [room], presence: { name }, admin: false, expiresAt: caller.expiresAt };
  const { ticket } = await context.access.tickets.issue(member, [room, parseSubscribeSelector(`${CHAT_TOPIC_PREFIX}*`)], [room]);
  return jsonAnswer(200, { ticket, room: CHAT_ROOM_TOPIC });
};

/** Takes the hub's position, then starts the tasks (or throws 429 demo_busy); returns the position. */
async function run(context: RouteContext, tasks: Array<{ topic: string; run: DemoTask }>, options: { process?: boolean } = {}): Promise<string> {
  const demos: DemoRunner | undefined = context.demos;
  if (demos === undefined) throw new HubError(404, 'not_found', 'The demo API is off (--demos).');
  const position = await context.hub.engine.position();
  demos.start(tasks, options);
  return position;
}

/** The JSON object in the body, or {} for an empty body. */
async function readDemoBody(req: RouteRequest): Promise<Record<string, unknown>> {
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] === undefined && (length === undefined || Number(length) === 0)) return {};
  bodyTypeOf(req, ['json']);
  const text = await req.readBody(MAX_DEMO_BODY_BYTES);
  if (text.trim() === '') return {};
  const body = parseJson(text);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('The body must be a JSON object.');
  return body as Record<string, unknown>;
}

function newId(): string {
  return randomBytes(6).toString('hex');
}

function badRequest(message: string): HubError {
  return new HubError(400, 'invalid_demo_request', message);
}
