/** `ssehub serve`: runs the hub until SIGTERM or SIGINT, then shuts down gracefully and exits 0. */
import { authEnabled, describeOptions, loadConfig } from '../config.js';
import { startHub } from '../start.js';

export const SERVE_HELP = `Usage: ssehub serve [options]

Runs the hub. Every option can also be set by its environment variable; flags win.

Options:
${describeOptions()}
  --help                          Show this help.
`;

export async function serve(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const config = loadConfig(argv, env);
  const running = await startHub(config);
  process.stdout.write(`ssehub listening on ${running.url} (engine: ${describeEngine(config.engine)})\n`);
  if (!authEnabled(config)) {
    process.stderr.write(
      'ssehub: warning: no token key is configured, so anyone who can reach this hub may publish and subscribe\n' +
        '        to every topic. Set --jwt-secret (or --jwt-public-key / --jwks) to require tokens; see docs/security.md.\n',
    );
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      process.stderr.write(`ssehub: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    process.stdout.write(`ssehub: ${signal} received, closing streams\n`);
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`ssehub: shutdown failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** The engine setting without any password it may carry. */
export function describeEngine(spec: string): string {
  try {
    const url = new URL(spec);
    if (url.password) url.password = '***';
    return url.href.replace(/\/$/, '');
  } catch {
    return spec;
  }
}
