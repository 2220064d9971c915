#!/usr/bin/env node
/** The `ssehub` command: dispatches to its subcommands. */
import { isHubError } from '../errors.js';
import { serve, SERVE_HELP } from './serve.js';
import { token, TOKEN_HELP } from './token.js';

const HELP = `Usage: ssehub <command> [options]

Commands:
  serve     Run the hub (HTTP API, event streams, history).
  token     Mint a token granting topics to publish and subscribe to.

Run "ssehub <command> --help" for a command's options.
`;

async function main(argv: string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
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
  process.stderr.write(`ssehub: unknown command "${command}"\n\n${HELP}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (error: unknown) => {
    if (isHubError(error)) process.stderr.write(`ssehub: ${error.message}\n`);
    else process.stderr.write(`ssehub: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = isHubError(error) ? 2 : 1;
  },
);
