/**
 * `ssehub subscribe <topic-or-pattern>...`: prints the events of topics as they are published,
 * resuming after dropped connections (the client sends Last-Event-ID), until --count events,
 * SIGINT/SIGTERM, or an error the hub answers with.
 */
import { subscribe, type StateChange, type SubscriptionItem } from '../client/index.js';
import {
  argumentError,
  CliError,
  clientOptions,
  describeCause,
  exitQuietlyOnEpipe,
  HUB_FLAGS,
  HUB_FLAGS_HELP,
  hubTarget,
  parseFlags,
  styleFor,
  toCliError,
  writeOut,
  type Style,
} from './common.js';

/** Failed attempts before a subscription that never connected gives up. */
const FIRST_CONNECT_ATTEMPTS = 3;

export const SUBSCRIBE_HELP = `Usage: ssehub subscribe <topic-or-pattern>... [options]

Prints the events published to the topics (patterns: orders/* one segment, orders/** any depth)
as they arrive. Dropped connections are resumed where they left off; notices go to stderr.

Options:
  --json                     One JSON object per line: {"id","event","data"} with data as the raw
                             string; a history reset as {"reset":"<reason>","lastEventId":"<id>"}.
  --last-event-id <id>       Start after this event id: events since then are replayed first.
  --count <n>                Exit (status 0) after n events.
${HUB_FLAGS_HELP}
  --help                     Show this help.

Output without --json: on a terminal, "<id> <event> <data>" per event; when piped, each event's
data followed by a newline and nothing else (data with newlines spans lines; use --json to frame
events unambiguously). Reset notices ("history was reset") go to stderr.

If the first connection cannot be made (${FIRST_CONNECT_ATTEMPTS} attempts, a few seconds: a wrong --url, a hub
that is down), it exits 1 saying so; once connected, it keeps retrying for as long as it takes.

Exit status: 0 after --count events, on SIGINT/SIGTERM, when the hub ends the subscription, or
when stdout is closed (| head -1); 1 when the hub refuses (401, 403, 404, ...: the message and
its code are printed); 2 for bad arguments.
`;

export type OutputMode = 'json' | 'friendly' | 'plain';

/** One item as printed on stdout (with its newline), or undefined when it goes to stderr instead. */
export function formatItem(item: SubscriptionItem, mode: OutputMode, style: Style): string | undefined {
  if (item.kind === 'reset') {
    return mode === 'json' ? `${JSON.stringify({ reset: item.reason, lastEventId: item.lastEventId })}\n` : undefined;
  }
  if (mode === 'json') return `${JSON.stringify({ id: item.id, event: item.type, data: item.raw })}\n`;
  if (mode === 'plain') return `${item.raw}\n`;
  return `${style.dim(item.id)} ${style.cyan(item.type)} ${item.raw}\n`;
}

export async function subscribeCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals: topics } = parseFlags({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      ...HUB_FLAGS,
      json: { type: 'boolean' },
      'last-event-id': { type: 'string' },
      count: { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(SUBSCRIBE_HELP);
    return 0;
  }
  if (topics.length === 0) throw argumentError('Name at least one topic or pattern: ssehub subscribe <topic>... See ssehub subscribe --help.');
  let count = Infinity;
  if (values.count !== undefined) {
    if (!/^\d+$/.test(values.count) || Number(values.count) < 1) throw argumentError(`--count: "${values.count}" is not a positive whole number.`);
    count = Number(values.count);
  }
  const target = hubTarget(values, env);
  exitQuietlyOnEpipe();
  const mode: OutputMode = values.json ? 'json' : process.stdout.isTTY ? 'friendly' : 'plain';
  const out = styleFor(process.stdout, env);
  const err = styleFor(process.stderr, env);
  const notice = (text: string): void => {
    process.stderr.write(`${err.dim(`ssehub: ${text}`)}\n`);
  };

  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let opened = false;
  let lost = false;
  let neverConnected: unknown;
  const onStateChange = (change: StateChange): void => {
    if (change.state === 'open') {
      if (lost) notice(`reconnected${subscription.lastEventId ? `, resuming after ${subscription.lastEventId}` : ''}`);
      else if (!opened && process.stderr.isTTY) notice(`listening to ${topics.join(', ')} on ${target.url} (Ctrl-C to stop)`);
      opened = true;
      lost = false;
    } else if (change.state === 'reconnecting') {
      lost = true;
      // Only before the first connection: a wrong --url fails fast; a hub that was there is waited for.
      if (!opened && (change.attempt ?? 1) >= FIRST_CONNECT_ATTEMPTS) {
        neverConnected = change.error;
        stop.abort();
        return;
      }
      const what = opened ? 'connection lost' : 'cannot connect';
      const delay = ((change.delayMs ?? 0) / 1000).toFixed(1);
      notice(`${what}: ${describeCause(change.error)}; retrying in ${delay} s (attempt ${change.attempt ?? 1})`);
    }
  };
  const subscription = subscribe({
    ...clientOptions(target),
    topics,
    ...(values['last-event-id'] === undefined ? {} : { lastEventId: values['last-event-id'] }),
    signal: stop.signal,
    onStateChange,
  });
  let seen = 0;
  try {
    for await (const item of subscription) {
      const text = formatItem(item, mode, out);
      if (text !== undefined) await writeOut(text);
      else if (item.kind === 'reset') {
        process.stderr.write(
          `${err.yellow('ssehub: history was reset')} ${err.dim(`(${item.reason}): events after ${item.lastEventId || 'the given id'} may be missing; what the hub still holds follows`)}\n`,
        );
      }
      if (item.kind === 'event' && ++seen >= count) break;
    }
  } catch (error) {
    throw toCliError(error, target.url);
  } finally {
    subscription.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (neverConnected !== undefined) {
    throw new CliError(`cannot connect to the hub at ${target.url} (${FIRST_CONNECT_ATTEMPTS} attempts): ${describeCause(neverConnected)}; check --url (or SSEHUB_URL) and that the hub runs`, undefined);
  }
  return 0;
}
