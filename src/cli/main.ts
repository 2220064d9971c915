#!/usr/bin/env node
/** The `ssehub` command: dispatches to its subcommands. */
import { readFileSync } from 'node:fs';
import { describeError } from './common.js';

const HELP = `Usage: ssehub <command> [options]

Commands:
  serve       Run the hub (HTTP API, event streams, history).
  token       Mint a token granting topics to publish and subscribe to (--admin: /stats and /metrics).
  publish     Publish an event (or each line of stdin) to a topic.
  subscribe   Print the events of topics and patterns as they arrive.
  pipe        Run a command and publish its output, line by line, then its exit status.
  disconnect  End the streams of a subject, a topic or a token on every instance (admin).
  cert        Write a self-signed certificate and key, to serve HTTP/2 and HTTPS locally.

The commands that talk to a hub take --url (env SSEHUB_URL, default http://127.0.0.1:8080)
and --token (env SSEHUB_TOKEN).

Run "ssehub <command> --help" for a command's options; "ssehub --version" prints the version.
`;

/** The version in package.json (one directory above cli/, both in src/ and in dist/). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

interface Command {
  help: string;
  /** Resolves with the exit code, or undefined for a command that runs until a signal (serve). */
  run(args: string[]): Promise<number | undefined>;
}

/**
 * Each command's module, loaded only when that command runs: `ssehub publish` (started once per
 * event by scripts) does not load the hub, its engines and its drivers, which `serve` needs.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => {
    const { serve, SERVE_HELP } = await import('./serve.js');
    return { help: SERVE_HELP, run: async (args) => (await serve(args, process.env), undefined) };
  },
  token: async () => {
    const { token, TOKEN_HELP } = await import('./token.js');
    return { help: TOKEN_HELP, run: async (args) => (process.stdout.write(`${await token(args, process.env)}\n`), 0) };
  },
  publish: async () => {
    const { publishCommand, PUBLISH_HELP } = await import('./publish.js');
    return { help: PUBLISH_HELP, run: (args) => publishCommand(args, process.env) };
  },
  subscribe: async () => {
    const { subscribeCommand, SUBSCRIBE_HELP } = await import('./subscribe.js');
    return { help: SUBSCRIBE_HELP, run: (args) => subscribeCommand(args, process.env) };
  },
  pipe: async () => {
    const { pipeCommand, PIPE_HELP } = await import('./pipe.js');
    return { help: PIPE_HELP, run: (args) => pipeCommand(args, process.env) };
  },
  disconnect: async () => {
    const { disconnectCommand, DISCONNECT_HELP } = await import('./disconnect.js');
    return { help: DISCONNECT_HELP, run: (args) => disconnectCommand(args, process.env) };
  },
  cert: async () => {
    const { certCommand, CERT_HELP } = await import('./cert.js');
    return { help: CERT_HELP, run: (args) => certCommand(args) };
  },
};

/** The commands whose --help is answered here; the others answer it themselves. */
const HELP_HERE = new Set(['serve', 'token']);

async function main(argv: string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    const topic = command === 'help' ? rest[0] : undefined;
    const load = topic === undefined || !Object.hasOwn(COMMANDS, topic) ? undefined : COMMANDS[topic];
    process.stdout.write(load === undefined ? HELP : (await load()).help);
    return 0;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  // Own names only: "constructor" or "__proto__" is an unknown command, not Object's.
  const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (load === undefined) {
    process.stderr.write(`ssehub: unknown command "${command}"\n\n${HELP}`);
    return 2;
  }
  const { help, run } = await load();
  if (HELP_HERE.has(command) && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(help);
    return 0;
  }
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (error: unknown) => {
    const { text, exitCode } = describeError(error);
    process.stderr.write(`ssehub: ${text}\n`);
    process.exitCode = exitCode;
  },
);
