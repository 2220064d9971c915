/**
 * `ssehub publish <topic> [data]`: publishes one event (the argument, or all of stdin), or one
 * event per line of stdin with --lines, and prints the ids.
 */
import { publish, type PublishEvent } from '../client/index.js';
import {
  argumentError,
  BatchPublisher,
  exitQuietlyOnEpipe,
  HUB_FLAGS,
  HUB_FLAGS_HELP,
  hubTarget,
  LineSplitter,
  parseFlags,
  readAll,
  styleFor,
  toCliError,
  writeOut,
} from './common.js';

export const PUBLISH_HELP = `Usage: ssehub publish <topic> [data] [options]

Publishes an event to <topic>. Its data is the [data] argument; without one, stdin is read:
all of it as one event (one trailing newline is removed), or each line as an event with --lines.

Options:
  --event <name>             The event name subscribers see (default "message").
  --json                     The data is JSON: it is checked before anything is sent (exit 2 if it is
                             not JSON) and sent as application/json, re-serialised compactly.
  --lines                    Publish each line of stdin as an event, in order, while stdin is still
                             being written: up to 100 lines per request, no line held back more than
                             50 ms. Empty lines are skipped. With --json, every line must be JSON.
  --idempotency-key <key>    Idempotency-Key for the request: publishing again with the same key within
                             the hub's idempotency window stores nothing twice (not with --lines).
${HUB_FLAGS_HELP}
  --help                     Show this help.

Output: the id of each published event on stdout, one per line, in order. On a terminal:
"published <topic> → <id>".

Exit status: 0 published; 1 the hub refused (the message and its code are printed) or could not be
reached; 2 bad arguments or invalid --json data.

Examples:
  ssehub publish orders/42 '{"status":"paid"}' --json --event status
  date | ssehub publish clock
  tail -f app.log | ssehub publish logs/app --lines
`;

const LINES_BATCH = 100;
const LINES_LINGER_MS = 50;

export async function publishCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseFlags({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      ...HUB_FLAGS,
      event: { type: 'string' },
      json: { type: 'boolean' },
      lines: { type: 'boolean' },
      'idempotency-key': { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(PUBLISH_HELP);
    return 0;
  }
  const [topic, data, ...extra] = positionals;
  if (topic === undefined) throw argumentError('Name the topic: ssehub publish <topic> [data]. See ssehub publish --help.');
  if (extra.length > 0) throw argumentError(`Unexpected argument "${extra[0]}": give the data as one argument (quote it).`);
  if (values.lines && data !== undefined) throw argumentError('--lines reads stdin; leave out the data argument.');
  if (values.lines && values['idempotency-key'] !== undefined) {
    throw argumentError('--idempotency-key applies to one request; --lines may send many. Leave one out.');
  }
  const target = hubTarget(values, env);
  exitQuietlyOnEpipe();
  const style = styleFor(process.stdout, env);
  const friendly = process.stdout.isTTY === true;
  const line = (eventTopic: string, id: string, replayed: boolean): string =>
    friendly ? `${style.green('published')} ${style.bold(eventTopic)} ${style.dim('→')} ${id}${replayed ? style.dim(' (already published: replayed)') : ''}\n` : `${id}\n`;

  if (values.lines) {
    return publishLines({ topic, event: values.event, json: values.json === true, target, line });
  }

  let text: string;
  if (data !== undefined) text = data;
  else {
    if (process.stdin.isTTY) process.stderr.write("ssehub: reading the event's data from stdin; end it with Ctrl-D\n");
    text = (await readAll(process.stdin)).replace(/\r?\n$/, '');
  }
  const event: PublishEvent = { topic, data: values.json ? jsonData(text, 'The data') : text };
  if (values.event !== undefined) event.event = values.event;
  try {
    const result = await publish(event, {
      url: target.url,
      ...(target.token === undefined ? {} : { token: target.token }),
      ...(values['idempotency-key'] === undefined ? {} : { idempotencyKey: values['idempotency-key'] }),
    });
    await writeOut(line(result.topic, result.id, result.replayed));
  } catch (error) {
    throw toCliError(error, target.url);
  }
  return 0;
}

/**
 * JSON text as event data: a string value stays JSON text (the quoted string), any other value is
 * handed to the client, which sends it as application/json.
 */
function jsonData(text: string, what: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw argumentError(`${what} is not valid JSON (--json): ${(error as Error).message}`);
  }
  return typeof value === 'string' ? JSON.stringify(value) : value;
}

async function publishLines(options: {
  topic: string;
  event: string | undefined;
  json: boolean;
  target: { url: string; token: string | undefined };
  line: (topic: string, id: string, replayed: boolean) => string;
}): Promise<number> {
  const { topic, event, json, target } = options;
  const publisher = new BatchPublisher({
    ...target,
    maxEvents: LINES_BATCH,
    lingerMs: LINES_LINGER_MS,
    highWater: 10 * LINES_BATCH,
    onPublished: async (events, ids) => {
      await writeOut(ids.map((id, i) => options.line(events[i]!.topic, id, false)).join(''));
    },
  });
  const splitter = new LineSplitter();
  let lineNumber = 0;
  let invalid: Error | undefined;
  const take = (lines: string[]): void => {
    for (const text of lines) {
      lineNumber++;
      if (invalid !== undefined || text === '') continue;
      let data: unknown = text;
      if (json) {
        try {
          data = jsonData(text, `Line ${lineNumber}`);
        } catch (error) {
          invalid = error as Error;
          continue;
        }
      }
      publisher.push(event === undefined ? { topic, data } : { topic, event, data });
    }
  };
  for await (const chunk of process.stdin) {
    take(splitter.push(chunk as Buffer));
    if (invalid !== undefined || publisher.failure !== undefined) break;
    await publisher.waitForRoom();
  }
  if (invalid === undefined && publisher.failure === undefined) take(splitter.end());
  await publisher.drain(); // the lines before an invalid one are still published
  if (publisher.failure !== undefined) throw toCliError(publisher.failure, target.url);
  if (invalid !== undefined) throw invalid;
  return 0;
}
