/**
 * `ssehub publish <topic> [data]`: publishes one event (the argument, or all of stdin), or one
 * event per line of stdin with --lines, or a batch of {topic, event, data} lines with --ndjson,
 * and prints the ids.
 */
import { createReadStream } from 'node:fs';
import { publish, type PublishEvent, type PublishOptions } from '../client/index.js';
import {
  argumentError,
  BatchPublisher,
  clientOptions,
  exitQuietlyOnEpipe,
  HUB_FLAGS,
  HUB_FLAGS_HELP,
  hubTarget,
  LineSplitter,
  parseFlags,
  PUBLISH_RETRIES,
  readAll,
  retryNotices,
  styleFor,
  toCliError,
  writeOut,
  type HubTarget,
} from './common.js';

export const PUBLISH_HELP = `Usage: ssehub publish <topic> [data] [options]
       ssehub publish --ndjson [file|-] [options]

Publishes an event to <topic>. Its data is the [data] argument; without one, stdin is read:
all of it as one event (one trailing newline is removed), or each line as an event with --lines.

Options:
  --event <name>             The event name subscribers see (default "message").
  --json                     The data is JSON: it is checked before anything is sent (exit 2 if it is
                             not JSON) and sent as application/json, re-serialised compactly.
  --lines                    Publish each line of stdin as an event, in order, while stdin is still
                             being written: up to 100 lines per request, no line held back more than
                             50 ms. Empty lines are skipped. With --json, every line must be JSON.
  --ndjson                   Publish a batch read from the file (or stdin, or "-"): one JSON object per
                             line, {"topic":"…","event":"…","data":…} (event optional; string data is sent
                             as is, any other value as JSON). All or nothing: one request, stored in order,
                             and a bad line refuses the lot (exit 2, naming the line). Empty lines are
                             skipped. At most the hub's --max-batch events (default 1000).
  --idempotency-key <key>    Idempotency-Key for the request: publishing again with the same key within
                             the hub's idempotency window stores nothing twice (not with --lines).
  -q, --quiet                No notices on stderr while a failed request is retried.
${HUB_FLAGS_HELP}
  --help                     Show this help.

Output: the id of each published event on stdout, one per line, in order. On a terminal:
"published <topic> → <id>".

A request that fails for a reason worth retrying (the hub cannot be reached, 429, 502, 503, 504,
a timeout) is retried ${PUBLISH_RETRIES} times, waiting longer each time; each retry is noted on stderr.
Retries never publish an event twice (the hub deduplicates them by their Idempotency-Key).

Exit status: 0 published; 1 the hub refused (the message and its code are printed) or could not be
reached; 2 bad arguments, invalid --json data or an invalid --ndjson line.

Examples:
  ssehub publish orders/42 '{"status":"paid"}' --json --event status
  date | ssehub publish clock
  tail -f app.log | ssehub publish logs/app --lines
  ssehub publish --ndjson events.ndjson
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
      ndjson: { type: 'boolean' },
      'idempotency-key': { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
    },
  });
  if (values.help) {
    process.stdout.write(PUBLISH_HELP);
    return 0;
  }
  const onRetry = retryNotices(values.quiet === true, env);
  if (values.ndjson) {
    if (positionals.length > 1) throw argumentError(`--ndjson takes one file (or -), not "${positionals[1]}"; each line names its topic.`);
    if (values.lines || values.json || values.event !== undefined) throw argumentError('--ndjson lines carry their own topic, event and data; leave out --lines, --json and --event.');
    return publishNdjson({ file: positionals[0], target: hubTarget(values, env), idempotencyKey: values['idempotency-key'], onRetry, env });
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
    return publishLines({ topic, event: values.event, json: values.json === true, target, line, onRetry });
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
      ...clientOptions(target),
      ...(values['idempotency-key'] === undefined ? {} : { idempotencyKey: values['idempotency-key'] }),
      retries: PUBLISH_RETRIES,
      ...(onRetry === undefined ? {} : { onRetry }),
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
  target: HubTarget;
  line: (topic: string, id: string, replayed: boolean) => string;
  onRetry: PublishOptions['onRetry'];
}): Promise<number> {
  const { topic, event, json, target } = options;
  const publisher = new BatchPublisher({
    ...target,
    ...(options.onRetry === undefined ? {} : { onRetry: options.onRetry }),
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

/**
 * --ndjson: every line is checked before anything is sent, then the lot goes in one POST /publish,
 * which the hub stores all or nothing.
 */
async function publishNdjson(options: {
  file: string | undefined;
  target: HubTarget;
  idempotencyKey: string | undefined;
  onRetry: PublishOptions['onRetry'];
  env: NodeJS.ProcessEnv;
}): Promise<number> {
  const { file, target } = options;
  const fromStdin = file === undefined || file === '-';
  if (fromStdin && process.stdin.isTTY) process.stderr.write('ssehub: reading NDJSON events from stdin; end them with Ctrl-D\n');
  let text: string;
  try {
    text = await readAll(fromStdin ? process.stdin : createReadStream(file));
  } catch (error) {
    throw argumentError(`--ndjson: cannot read "${file}": ${(error as Error).message}`);
  }
  const events: PublishEvent[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() !== '') events.push(ndjsonEvent(line, index + 1));
  });
  if (events.length === 0) throw argumentError('--ndjson: no events to publish (every line was empty).');
  exitQuietlyOnEpipe();
  const style = styleFor(process.stdout, options.env);
  const friendly = process.stdout.isTTY === true;
  try {
    const result = await publish(events, {
      ...clientOptions(target),
      ...(options.idempotencyKey === undefined ? {} : { idempotencyKey: options.idempotencyKey }),
      retries: PUBLISH_RETRIES,
      ...(options.onRetry === undefined ? {} : { onRetry: options.onRetry }),
    });
    const out = result.ids.map((id, i) => (friendly ? `${style.green('published')} ${style.bold(events[i]!.topic)} ${style.dim('→')} ${id}\n` : `${id}\n`));
    await writeOut(out.join(''));
  } catch (error) {
    throw toCliError(error, target.url);
  }
  return 0;
}

const NDJSON_FIELDS = new Set(['topic', 'event', 'data']);

/** One --ndjson line as an event; anything else refuses the whole batch, naming the line. */
function ndjsonEvent(line: string, lineNumber: number): PublishEvent {
  const bad = (why: string) => argumentError(`--ndjson line ${lineNumber}: ${why}; nothing was published.`);
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw bad(`not JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('expected an object {"topic","event","data"}');
  const fields = value as Record<string, unknown>;
  const unknown = Object.keys(fields).find((key) => !NDJSON_FIELDS.has(key));
  if (unknown !== undefined) throw bad(`unknown field "${unknown}" (only topic, event and data)`);
  if (typeof fields.topic !== 'string' || fields.topic === '') throw bad('"topic" must be a non-empty string');
  if (fields.event !== undefined && typeof fields.event !== 'string') throw bad('"event" must be a string');
  if (!('data' in fields)) throw bad('"data" is missing');
  const event: PublishEvent = { topic: fields.topic, data: fields.data };
  if (fields.event !== undefined) event.event = fields.event;
  return event;
}
