/**
 * The `--webhook` entries and the `--webhook-secret`, read once at start. An entry is a URL, for
 * every event, or `URL#type,type` for some: the fragment is never sent, so it cannot clash with
 * the receiver's own URL. A type may be a family, `subscription.*`.
 */
import { parseAuthUrl } from '../auth/forward-auth.js';
import { HubError } from '../errors.js';
import { WEBHOOK_TYPES, isWebhookType, type WebhookType } from './events.js';

export interface WebhookEndpoint {
  /** The URL requests go to (without the fragment that named the types). */
  url: string;
  /** The event types it receives. */
  types: ReadonlySet<WebhookType>;
}

/** Parses the entries; a URL that is not http(s) or an unknown type is invalid_config. */
export function parseWebhookEndpoints(entries: readonly string[]): WebhookEndpoint[] {
  return entries.map((entry) => {
    const hash = entry.indexOf('#');
    const url = parseAuthUrl(hash === -1 ? entry : entry.slice(0, hash), `--webhook ${entry}`);
    const types = hash === -1 ? [...WEBHOOK_TYPES] : typesOf(entry.slice(hash + 1), entry);
    return { url: url.href, types: new Set(types) };
  });
}

function typesOf(list: string, entry: string): WebhookType[] {
  const types: WebhookType[] = [];
  for (const name of list.split(',').map((item) => item.trim()).filter((item) => item !== '')) {
    const family = name.endsWith('.*') ? WEBHOOK_TYPES.filter((type) => type.startsWith(name.slice(0, -1))) : [];
    if (isWebhookType(name)) types.push(name);
    else if (family.length > 0) types.push(...family);
    else throw new HubError(400, 'invalid_config', `--webhook ${entry}: "${name}" is not an event type; expected some of ${WEBHOOK_TYPES.join(', ')} (or a family such as subscription.*)`);
  }
  if (types.length === 0) throw new HubError(400, 'invalid_config', `--webhook ${entry}: name the event types after "#", or leave out the "#" for all of them.`);
  return types;
}

/** Bytes a signing key may have (the Standard Webhooks specification: 24 to 64). */
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;

/**
 * The signing keys of `--webhook-secret`: `whsec_` and base64. Several (comma-separated) sign each
 * request with every one of them, so that a receiver can move to a new key without missing a request.
 */
export function parseWebhookSecrets(secrets: readonly string[]): Buffer[] {
  return secrets.map((secret) => {
    const encoded = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : undefined;
    const key = encoded !== undefined && /^[A-Za-z0-9+/]+={0,2}$/.test(encoded) ? Buffer.from(encoded, 'base64') : undefined;
    if (key === undefined || key.length < MIN_SECRET_BYTES || key.length > MAX_SECRET_BYTES) {
      throw new HubError(
        400,
        'invalid_config',
        `--webhook-secret must be "whsec_" and ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} bytes in base64 (echo "whsec_$(openssl rand -base64 32)" makes one).`,
      );
    }
    return key;
  });
}

/** The configuration's webhooks, checked together: every one is signed, so a secret is required. */
export function checkWebhookConfig(config: { webhooks: readonly string[]; webhookSecrets: readonly string[]; historyMaxEvents: number }): { endpoints: WebhookEndpoint[]; keys: Buffer[] } {
  const endpoints = parseWebhookEndpoints(config.webhooks);
  const keys = parseWebhookSecrets(config.webhookSecrets);
  if (endpoints.length > 0 && keys.length === 0) {
    throw new HubError(400, 'invalid_config', 'webhooks are signed: set --webhook-secret (echo "whsec_$(openssl rand -base64 32)" makes one).');
  }
  if (endpoints.length > 0 && config.historyMaxEvents === 0) {
    throw new HubError(400, 'invalid_config', 'webhooks are queued in the history of $ssehub/webhooks/<instance>, and --history-max-events 0 keeps none: set it above 0.');
  }
  return { endpoints, keys };
}
