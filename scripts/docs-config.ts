/**
 * Writes docs/configuration.md from src/config.ts's OPTIONS, the one list of the hub's options:
 * the page cannot drift from the code. `npm run docs` writes it; `npm run docs -- --check` only
 * says whether it is up to date (exit 1 if not), as test/docs/configuration.test.ts does.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OPTIONS } from '../src/config.js';

export const CONFIGURATION_DOC = new URL('../docs/configuration.md', import.meta.url);

/** Where an option is explained at length, appended to its row as a link (relative to docs/). */
const SEE_ALSO: Readonly<Record<string, string>> = {
  workers: '[Using every core](engines.md#using-every-core---workers-n)',
  'history-max-bytes': '[Bounding the server\'s memory and disk](engines.md#bounding-the-servers-memory-and-disk)',
  retention: '[Retention per topic](engines.md#retention-per-topic)',
  'auth-url': '[Forward auth](embedding.md#forward-auth---auth-url)',
  'cors-origins': '[CORS](security.md#cors)',
  'trusted-proxies': '[Limits behind a proxy](deployment.md#limits-behind-a-proxy)',
  'metrics-listen': '[Observability](observability.md)',
  'tls-cert': '[HTTP/2 and TLS](http-api.md#http2-and-tls)',
  'fast-publish': '[the publish fast path](architecture.md#the-publish-fast-path)',
  webhook: '[Webhooks](webhooks.md)',
};

/** Help text as Markdown: flags as code, and nothing that a table or HTML would read as syntax. */
function helpAsMarkdown(help: string): string {
  return help
    .replaceAll('|', '\\|')
    .replace(/(^|[\s(])(--[a-z0-9-]+)/g, '$1`$2`')
    .replace(/POST \/topics\/<topic>/g, '`POST /topics/<topic>`')
    .replaceAll('$ssehub/stats', '`$ssehub/stats`');
}

export function renderConfigurationDoc(): string {
  const rows = OPTIONS.map((option) => {
    const fallback = option.default === '' ? 'unset' : `\`${option.default}\``;
    const see = SEE_ALSO[option.flag] === undefined ? '' : ` See ${SEE_ALSO[option.flag]}.`;
    return `| \`--${option.flag}\` | \`${option.env}\` | ${fallback} | ${helpAsMarkdown(option.help)}${see} |`;
  });
  return [
    '# Configuration',
    '',
    '<!-- Generated from OPTIONS in src/config.ts by `npm run docs` (scripts/docs-config.ts): edit those, not this file. -->',
    '',
    'Every option is a flag of `ssehub serve` and an environment variable; flags win. `ssehub serve',
    '--help` prints this list. Durations take `ms`, `s`, `m`, `h` (a bare number is milliseconds);',
    'sizes take `KiB`, `MiB`, `KB`, `MB` (a bare number is bytes). Embedded, `createHub(options)` takes',
    'the same settings by their names in `HubConfig` ([Inside your app](embedding.md)).',
    '',
    '| flag | environment | default | what it does |',
    '|---|---|---|---|',
    ...rows,
    '',
    '```sh',
    'SSEHUB_PORT=9000 npx ssehub serve --heartbeat 30s --history-max-events 10000',
    '```',
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const wanted = renderConfigurationDoc();
  if (process.argv.includes('--check')) {
    const current = readFileSync(CONFIGURATION_DOC, 'utf8');
    if (current !== wanted) {
      console.error('docs/configuration.md is out of date: run npm run docs');
      process.exit(1);
    }
  } else {
    writeFileSync(CONFIGURATION_DOC, wanted);
  }
}
