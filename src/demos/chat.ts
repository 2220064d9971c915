/**
 * The AI demo: a simulated language model that streams a generation token by token, the way real
 * model APIs are consumed over SSE. One topic per generation, `ai/<id>`: `token` events whose data
 * is the token's text (one to three words, each with its leading space, so concatenating them
 * gives the reply), one every 30 to 50 ms after a short "thinking" pause, then `done` with
 * `{"tokens": n, "cancelled": bool}` as the topic's last event (it ends the topic: ssehub.end
 * follows). A reader's cancel (POST /topics/ai/<id>/cancel) stops it before its next token.
 * Being an ordinary topic, a generation resumes after a page reload from its last event id.
 */
import type { DemoTask } from './runner.js';

export const CHAT_TOPIC_PREFIX = 'ai/';
export const MAX_PROMPT_LENGTH = 500;
/**
 * The chat room the page joins over a WebSocket: its members (presence), their messages, and their
 * typing indicators (ephemeral events). The model's replies stream on topics of their own.
 */
export const CHAT_ROOM_TOPIC = 'demo/chat/room/lobby';
/** A member's name in the room: what the demo's ticket makes its subject. */
export const CHAT_NAME = /^[A-Za-z0-9_-]{1,32}$/;

const REPLIES: ReadonlyArray<(keyword: string) => string> = [
  (k) =>
    `Good question about ${k}. Server-Sent Events fit this well: the server keeps one HTTP response open and writes each token as soon as it is generated, so the answer appears word by word. If the connection drops, the browser reconnects with Last-Event-ID and the hub replays what was missed, so no part of this reply about ${k} is lost.`,
  (k) =>
    `Here is a short take on ${k}. Streaming a reply over SSE needs nothing but plain HTTP: no WebSocket upgrade, no special proxy setup beyond turning buffering off. Each token you see is one event published to a topic, and every tab that subscribes to the topic sees the same words in the same order.`,
  (k) =>
    `Let me think about ${k} for a moment. A push hub sits between whoever produces data and the browsers that want it: the producer publishes over HTTP, the hub keeps a short history per topic, and subscribers receive events as they happen. That is why this answer about ${k} arrives one word at a time instead of all at once.`,
];

/** Words a question is made of rather than about. */
const FILLER = new Set(
  'about also and are can could describe does explain for from give have how into is me more please should tell that the their then there this what when where which who why will with work works would you your'.split(' '),
);

/** The word of the prompt the reply talks about: its longest word that is not filler, else "that". */
export function keywordOf(prompt: string): string {
  let best = '';
  for (const match of prompt.matchAll(/[\p{L}\p{N}][\p{L}\p{N}'-]*/gu)) {
    const word = match[0].slice(0, 24);
    if (word.length > best.length && !FILLER.has(word.toLowerCase())) best = word;
  }
  return best.length >= 3 ? `"${best}"` : 'that';
}

/** A canned reply that depends a little on the prompt: which templates, and the keyword it echoes. */
export function cannedReply(prompt: string): string {
  let hash = 0;
  for (let i = 0; i < prompt.length; i++) hash = (hash * 31 + prompt.charCodeAt(i)) >>> 0;
  const keyword = keywordOf(prompt);
  // Two paragraphs: long enough (some 60 tokens, two to three seconds) to stop or reload in the middle.
  return `${REPLIES[hash % REPLIES.length]!(keyword)} ${REPLIES[(hash + 1) % REPLIES.length]!(keyword)}`;
}

/** The reply split into tokens of one to three words, each word with the whitespace before it (the same split for the same reply). */
export function tokensOf(reply: string): string[] {
  const words = reply.match(/\s*\S+/g) ?? [];
  const tokens: string[] = [];
  for (let i = 0, n = 0; i < words.length; n++) {
    const size = 1 + (n % 3);
    tokens.push(words.slice(i, i + size).join(''));
    i += size;
  }
  return tokens;
}

/** A generation: a token every 30 to 50 ms (by default) until the reply is out or a reader cancels, then done, ending the topic. */
export function chatTask(prompt: string, tokenMs = 40, thinkingMs = 300): DemoTask {
  const tokens = tokensOf(cannedReply(prompt));
  return async ({ publish, sleep, cancelled }) => {
    await sleep(thinkingMs);
    let sent = 0;
    for (const token of tokens) {
      if (cancelled()) break;
      await publish('token', token);
      sent += 1;
      await sleep(Math.round(tokenMs * (0.75 + Math.random() * 0.5)));
    }
    await publish('done', { tokens: sent, cancelled: sent < tokens.length }, { end: true });
  };
}
