#!/usr/bin/env node
/** The `ssehub` command: dispatches to its subcommands. */
import { readFileSync } from 'node:fs';
import { certCommand, CERT_HELP } from './cert.js';
import { describeError } from './common.js';
import { disconnectCommand, DISCONNECT_HELP } from './disconnect.js';
import { pipeCommand, PIPE_HELP } from './pipe.js';
import { publishCommand, PUBLISH_HELP } from './publish.js';
import { serve, SERVE_HELP } from './serve.js';
import { subscribeCommand, SUBSCRIBE_HELP } from './subscribe.js';
import { token, TOKEN_HELP } from './token.js';

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

/** Help texts, for the tests and for "ssehub help <command>". */
export const COMMAND_HELP: Record<string, string> = {
  serve: SERVE_HELP,
  token: TOKEN_HELP,
  publish: PUBLISH_HELP,
  subscribe: SUBSCRIBE_HELP,
  pipe: PIPE_HELP,
  disconnect: DISCONNECT_HELP,
  cert: CERT_HELP,
};

async function main(argv: string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    const topic = command === 'help' ? rest[0] : undefined;
    process.stdout.write(topic !== undefined && COMMAND_HELP[topic] !== undefined ? COMMAND_HELP[topic] : HELP);
    return 0;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (command === 'serve') {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(SERVE_HELP);
      return 0;
    }
    await serve(rest, process.env);
    return undefined; // keeps running until a signal
  }
  if (command === 'token') {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(TOKEN_HELP);
      return 0;
    }
    process.stdout.write(`${await token(rest, process.env)}\n`);
    return 0;
  }
  if (command === 'publish') return publishCommand(rest, process.env);
  if (command === 'subscribe') return subscribeCommand(rest, process.env);
  if (command === 'pipe') return pipeCommand(rest, process.env);
  if (command === 'disconnect') return disconnectCommand(rest, process.env);
  if (command === 'cert') return certCommand(rest);
  process.stderr.write(`ssehub: unknown command "${command}"\n\n${HELP}`);
  return 2;
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
