/**
 * `ssehub disconnect --subject <sub> | --topic <topic> | --token-id <jti>`: asks the hub to end the
 * matching streams on every instance (POST /admin/disconnect), with a token that has the admin grant.
 */
import { hubUrl, resolveToken } from '../client/http.js';
import { responseError } from '../client/errors.js';
import { argumentError, HUB_FLAGS, HUB_FLAGS_HELP, hubTarget, parseFlags, toCliError } from './common.js';

export const DISCONNECT_HELP = `Usage: ssehub disconnect (--subject <sub> | --topic <topic> | --token-id <jti>) [options]

Ends the matching streams on every instance of the hub's cluster, each with the ssehub.revoked
event ("log out everywhere"). Tokens of the subject issued until now, or the token with that id,
are refused from then on (401 token_revoked) for as long as a token may live; a topic's streams
may be opened again. Needs a token with the admin grant (ssehub token --admin) on a hub with keys.

Options:
  --subject <sub>            End the streams of this subject (the tokens' "sub").
  --topic <topic>            End the streams that read this topic (named, or by a pattern over it).
  --token-id <jti>           End the streams opened with the token of this id (its "jti").
${HUB_FLAGS_HELP}
  --help                     Show this help.

Output: the hub's answer, as JSON. Exit status: 0 accepted; 1 the hub refused (the message and its
code are printed) or could not be reached; 2 bad arguments.

Example:
  ssehub disconnect --subject alice --token "$ADMIN_TOKEN"
`;

export async function disconnectCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseFlags({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: { ...HUB_FLAGS, subject: { type: 'string' }, topic: { type: 'string' }, 'token-id': { type: 'string' } },
  });
  if (values.help) {
    process.stdout.write(DISCONNECT_HELP);
    return 0;
  }
  if (positionals.length > 0) throw argumentError(`Unexpected argument "${positionals[0]}": name what to disconnect with --subject, --topic or --token-id.`);
  const given = [
    ['subject', values.subject],
    ['topic', values.topic],
    ['tokenId', values['token-id']],
  ].filter((pair): pair is [string, string] => pair[1] !== undefined);
  if (given.length !== 1) throw argumentError('Give exactly one of --subject, --topic or --token-id. See ssehub disconnect --help.');
  const target = hubTarget(values, env);
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  const token = await resolveToken(target.token);
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  try {
    const response = await (target.fetch ?? fetch)(hubUrl(target.url, 'admin/disconnect'), { method: 'POST', headers, body: JSON.stringify(Object.fromEntries(given)) });
    if (!response.ok) throw await responseError(response);
    process.stdout.write(`${JSON.stringify(await response.json())}\n`);
    return 0;
  } catch (error) {
    throw toCliError(error, target.url);
  }
}
