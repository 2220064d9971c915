/**
 * `ssehub pipe <topic> -- <command> [args...]`: runs a command and publishes its output line by
 * line (events "stdout" and "stderr"), then its exit status (event "exit"), while still showing
 * the output in the terminal.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { argumentError, BatchPublisher, describeCause, HUB_FLAGS, HUB_FLAGS_HELP, hubTarget, LineSplitter, parseFlags, styleFor } from './common.js';

export const PIPE_HELP = `Usage: ssehub pipe <topic> [options] -- <command> [args...]

Runs <command> (directly, no shell) and publishes to <topic> each line it writes: to stdout as an
event named "stdout", to stderr as "stderr" (a last line without a newline is sent too; empty
lines are sent as empty events). When it ends, an event named "exit" follows, with the data
{"code":<n>,"signal":<name or null>}; a command killed by a signal has code 128 + the signal's
number. Lines are sent in order, as they are written: those that arrive together go in one request
(at most 100), and none is held back more than about 20 ms while the hub keeps up.

The command's output is still shown on this terminal (stdout to stdout, stderr to stderr); its
stdin is this process's stdin. SIGINT and SIGTERM are passed on to it.

Options:
  --quiet                    Do not show the command's output here; only publish it.
${HUB_FLAGS_HELP}
  --help                     Show this help.

If the hub cannot be reached or refuses an event, the command still runs to its end; publishing
stops at the first failure (after the client's retries) and the failure is reported on stderr
when the command has ended.

Exit status: the command's own; 127 when it cannot be found, 126 when it cannot be run; when the
command exits 0 but publishing failed, 1; 2 for bad arguments.

Example:
  ssehub pipe builds/1234 -- npm run build
  ssehub subscribe builds/1234 --json
`;

const LINGER_MS = 20;
const MAX_BATCH = 100;
const HIGH_WATER = 10_000;

export interface ExitStatus {
  code: number;
  signal: NodeJS.Signals | null;
}

export async function pipeCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const split = argv.indexOf('--');
  const own = split === -1 ? argv : argv.slice(0, split);
  const command = split === -1 ? [] : argv.slice(split + 1);
  const { values, positionals } = parseFlags({
    args: own,
    strict: true,
    allowPositionals: true,
    options: { ...HUB_FLAGS, quiet: { type: 'boolean', short: 'q' } },
  });
  if (values.help) {
    process.stdout.write(PIPE_HELP);
    return 0;
  }
  const [topic, ...extra] = positionals;
  if (topic === undefined) throw argumentError('Name the topic: ssehub pipe <topic> -- <command> [args...]. See ssehub pipe --help.');
  if (extra.length > 0 || split === -1) throw argumentError('Put -- between the topic and the command: ssehub pipe <topic> -- <command> [args...].');
  const [file, ...args] = command;
  if (file === undefined || file === '') throw argumentError('Give the command to run after --.');
  const target = hubTarget(values, env);
  const quiet = values.quiet === true;
  const err = styleFor(process.stderr, env);

  const stop = new AbortController();
  const publisher = new BatchPublisher({ ...target, maxEvents: MAX_BATCH, lingerMs: LINGER_MS, highWater: HIGH_WATER, signal: stop.signal });
  let total = 0;
  const send = (event: string, data: string): void => {
    total++;
    publisher.push({ topic, event, data });
  };

  const child = spawn(file, args, { stdio: ['inherit', 'pipe', 'pipe'] });
  let childDone = false;
  const forward = (signal: NodeJS.Signals): void => {
    if (!childDone) {
      if (child.pid !== undefined) child.kill(signal);
    } else {
      stop.abort(new Error(`publishing interrupted by ${signal}`)); // a second signal while the last lines are sent
    }
  };
  const onSigint = (): void => forward('SIGINT');
  const onSigterm = (): void => forward('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);

  const flushers = [
    relay(child.stdout!, quiet ? undefined : process.stdout, (line) => send('stdout', line), publisher),
    relay(child.stderr!, quiet ? undefined : process.stderr, (line) => send('stderr', line), publisher),
  ];
  let spawnError: NodeJS.ErrnoException | undefined;
  const status = await new Promise<ExitStatus>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return; // after a successful spawn (a failed kill, say): 'close' still comes
      spawnError = error;
      resolve({ code: error.code === 'ENOENT' ? 127 : 126, signal: null });
    });
    child.once('close', (code, signal) => {
      resolve(code !== null && code >= 0 ? { code, signal: null } : { code: signal ? 128 + (constants.signals[signal] ?? 0) : 1, signal });
    });
  });
  childDone = true;
  if (spawnError !== undefined) {
    const why = spawnError.code === 'ENOENT' ? 'command not found' : spawnError.code === 'EACCES' ? 'permission denied' : spawnError.message;
    process.stderr.write(`ssehub: cannot run "${file}": ${why}${spawnError.code ? ` (${spawnError.code})` : ''}\n`);
  }
  for (const flush of flushers) flush();
  send('exit', JSON.stringify({ code: status.code, signal: status.signal }));
  await publisher.drain();
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigterm);

  if (publisher.failure !== undefined) {
    process.stderr.write(
      `ssehub: publishing to ${topic} failed: ${describeCause(publisher.failure)}; ${publisher.dropped} of ${total} events (lines and the exit event) were not sent\n`,
    );
  } else if (process.stderr.isTTY && !quiet) {
    process.stderr.write(`${err.dim(`ssehub: published ${total} events to ${topic}`)}\n`);
  }
  if (status.code !== 0) return status.code;
  return publisher.failure === undefined ? 0 : 1;
}

/**
 * Echoes a child's stream (unless `echo` is undefined) and hands on its lines. Reading pauses while
 * the echo target is full or too many lines wait to be published. Returns the flush for the end.
 */
function relay(source: Readable, echo: NodeJS.WriteStream | undefined, onLine: (line: string) => void, publisher: BatchPublisher): () => void {
  const splitter = new LineSplitter();
  let echoing = echo !== undefined;
  echo?.on('error', () => (echoing = false)); // a closed terminal or pipe must not stop the command or the publishing
  let holds = 0;
  const hold = (until: Promise<void>): void => {
    holds++;
    source.pause();
    void until.then(() => {
      if (--holds === 0) source.resume();
    });
  };
  source.on('data', (chunk: Buffer) => {
    if (echoing && echo !== undefined && !echo.write(chunk)) hold(writable(echo));
    for (const line of splitter.push(chunk)) onLine(line);
    if (publisher.waiting >= HIGH_WATER) hold(publisher.waitForRoom());
  });
  return () => {
    for (const line of splitter.end()) onLine(line);
  };
}

/** Resolves when the stream can take more, or can no longer be written at all. */
function writable(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('error', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('error', done);
    stream.once('close', done);
  });
}
