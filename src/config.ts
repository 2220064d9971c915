/**
 * The hub's configuration: one typed object, built once from command-line flags and environment
 * variables (flags win). Every option is declared in OPTIONS below; `--help` and
 * docs/configuration.md (scripts/docs-config.ts) are generated from that list, so an option
 * cannot exist undocumented.
 * Nothing else in the code reads process.env.
 */
import { parseArgs } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import { parseAuthUrl } from './auth/forward-auth.js';
import { parseCorsOrigins } from './auth/cors.js';
import { checkHs256Secret } from './auth/hs256-secret.js';
import { HubError } from './errors.js';
import { parseTrustedProxies } from './net/trusted-proxies.js';
import { parseSubscribeSelector, TopicRetention, type RetentionRule } from './topics/index.js';
import { checkWebhookConfig } from './webhooks/endpoints.js';
import { checkRedisClusterSettings, DEFAULT_REDIS_SHARDS, ENGINE_CHOICES, isEngineSpec, MAX_REDIS_SHARDS } from './engines/settings.js';

export interface HubConfig {
  host: string;
  port: number;
  /** Worker processes of `ssehub serve` (0: one per CPU core); see cluster/primary.ts. */
  workers: number;
  engine: string;
  namespace: string;
  /** Replicas of the NATS engine's stream and KV bucket (engines/nats.ts). */
  natsReplicas: number;
  /** Replicas that must hold a Redis append before it is acknowledged (engines/redis.ts). */
  redisWaitReplicas: number;
  /** Shards of the sharded Redis engine on a Redis Cluster (engines/redis-sharded.ts). */
  redisShards: number;
  historyMaxEvents: number;
  historyMaxAgeMs: number;
  historyMaxBytes: number;
  /** Retention per topic, first match wins; topics no rule matches keep historyMaxEvents and historyMaxAgeMs. */
  retention: RetentionRule[];
  heartbeatMs: number;
  retryMs: number;
  maxBufferBytes: number;
  tcpNoDelay: boolean;
  fastPublish: boolean;
  maxBodyBytes: number;
  maxBatchEvents: number;
  maxTopicsPerSubscription: number;
  maxTopicLength: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  h2IdleTimeoutMs: number;
  tlsHandshakeTimeoutMs: number;
  shutdownTimeoutMs: number;
  logLevel: string;
  jwtSecret: string | undefined;
  jwtPublicKeyFile: string | undefined;
  jwksFile: string | undefined;
  jwtIssuer: string | undefined;
  jwtAudience: string | undefined;
  /** Longest token lifetime accepted (exp − iat), 0: no maximum. */
  jwtMaxLifetimeMs: number;
  /** Forward auth: the app's endpoint asked whether a request may subscribe, publish or take a ticket (auth/forward-auth.ts). */
  authUrl: string | undefined;
  authTimeoutMs: number;
  /** How long an allowed forward-auth answer is reused, 0: never. */
  authCacheMs: number;
  cookieName: string;
  publicTopics: string[];
  presence: string[];
  presenceTtlMs: number;
  presenceGraceMs: number;
  corsOrigins: string[];
  trustedProxies: string[];
  ticketTtlMs: number;
  wsAuthTimeoutMs: number;
  wsEphemeralRate: number;
  idempotencyWindowMs: number;
  maxStreamsPerIp: number;
  maxStreamsPerSubject: number;
  publishRate: number;
  publishBurst: number;
  publishBytesRate: number;
  publishBytesBurst: number;
  rateLimitSubjects: boolean;
  maxHeaderBytes: number;
  dashboard: boolean;
  statsIntervalMs: number;
  /** "host:port" of the operator listener (parseListenAddress), or undefined: none. */
  metricsListen: string | undefined;
  demos: boolean;
  /** Serve the Mercure protocol at /.well-known/mercure (src/mercure/). */
  mercure: boolean;
  /** Mercure subscribers without a token may subscribe (to public updates), as Mercure's `anonymous` directive. */
  mercureAnonymous: boolean;
  /** The Mercure subscriptions API and subscription events (Mercure's `subscriptions` directive), on presence. */
  mercureSubscriptions: boolean;
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  h2c: boolean;
  h2MaxStreams: number;
  /** `--webhook` entries as given: URL or URL#type,type (webhooks/endpoints.ts reads them). */
  webhooks: string[];
  /** Signing keys, `whsec_` and base64. */
  webhookSecrets: string[];
  webhookRetryForMs: number;
  webhookRetryMs: number;
  webhookTimeoutMs: number;
}

/**
 * optional: a string that may be left unset; list: comma-separated values; repeated: a flag
 * given once per value (its environment variable: the values separated by spaces); budget: a size, or
 * "auto" for a share of the heap this process may grow to (see heapShare); boolean: true/false
 * (also yes/no, on/off, 1/0), and as a flag `--name` alone means true and `--no-name` false;
 * retention: rules `pattern=events,age`, one per flag (parseRetentionRule), a list in the environment
 * (parseRetentionRules).
 */
type Kind = 'string' | 'optional' | 'list' | 'repeated' | 'port' | 'count' | 'duration' | 'bytes' | 'budget' | 'boolean' | 'retention';

interface OptionSpec {
  key: keyof HubConfig;
  flag: string;
  env: string;
  kind: Kind;
  default: string;
  help: string;
}

export const OPTIONS: readonly OptionSpec[] = [
  { key: 'host', flag: 'host', env: 'SSEHUB_HOST', kind: 'string', default: '127.0.0.1', help: 'Address to listen on (0.0.0.0 for all interfaces).' },
  { key: 'port', flag: 'port', env: 'SSEHUB_PORT', kind: 'port', default: '8080', help: 'TCP port to listen on (0 picks a free one).' },
  { key: 'workers', flag: 'workers', env: 'SSEHUB_WORKERS', kind: 'count', default: '1', help: 'Worker processes sharing the port (0: one per CPU core). Above 1, a primary process runs them, restarts any that dies and keeps the stream and publish limits for all of them; with the memory engine, it also holds their events.' },
  { key: 'engine', flag: 'engine', env: 'SSEHUB_ENGINE', kind: 'string', default: 'memory', help: 'Event engine: "memory" (embedded, one process) or a shared server: redis://host:6379, redis-sentinel://s1:26379,s2:26379/mymaster, redis-cluster://h1:7000,h2:7001 (sharded: --redis-shards), nats://host:4222 (several: nats://h1:4222,nats://h2:4222), postgres://user@host/db.' },
  { key: 'namespace', flag: 'namespace', env: 'SSEHUB_NAMESPACE', kind: 'string', default: 'ssehub', help: 'Name of this hub\'s data on a shared engine (Redis key prefix, NATS stream, PostgreSQL tables); hubs with the same engine and namespace form one cluster.' },
  { key: 'natsReplicas', flag: 'nats-replicas', env: 'SSEHUB_NATS_REPLICAS', kind: 'count', default: '1', help: 'Replicas of the NATS engine\'s stream and key-value bucket on a JetStream cluster (at most the number of servers, and 1 on a lone server). With 3, a publish is acknowledged once two servers stored it, and the loss of one server loses nothing: see docs/high-availability.md. Name several servers in --engine, comma-separated: nats://h1:4222,nats://h2:4222.' },
  { key: 'redisWaitReplicas', flag: 'redis-wait-replicas', env: 'SSEHUB_REDIS_WAIT_REPLICAS', kind: 'count', default: '0', help: 'Redis replicas that must hold a publish before it is acknowledged (Redis WAIT, up to 4 s; fewer: 503, and the retry with the same Idempotency-Key gets the first ids). 0: acknowledged once the master has it, which a failover to a replica can lose. For Redis Sentinel: --engine redis-sentinel://s1:26379,s2:26379/mymaster; see docs/high-availability.md.' },
  { key: 'redisShards', flag: 'redis-shards', env: 'SSEHUB_REDIS_SHARDS', kind: 'count', default: String(DEFAULT_REDIS_SHARDS), help: `With --engine redis-cluster://h1:7000,h2:7001 (a Redis Cluster), the logs topics are spread over, 1 to ${MAX_REDIS_SHARDS}: a topic's shard is the hash of its first segment. Order holds within a shard; a stream spanning shards resumes in each from an id that carries a position per shard. The namespace keeps the count it was first run with: an instance with another is refused (a new count needs a new --namespace). See docs/engines.md.` },
  { key: 'historyMaxEvents', flag: 'history-max-events', env: 'SSEHUB_HISTORY_MAX_EVENTS', kind: 'count', default: '1000', help: 'Events kept per topic for Last-Event-ID resume (0 keeps none).' },
  { key: 'historyMaxAgeMs', flag: 'history-max-age', env: 'SSEHUB_HISTORY_MAX_AGE', kind: 'duration', default: '1h', help: 'How long an event stays in history (e.g. 90s, 15m, 1h).' },
  { key: 'historyMaxBytes', flag: 'history-max-bytes', env: 'SSEHUB_HISTORY_MAX_BYTES', kind: 'budget', default: 'auto', help: 'Bytes all retained events may take together (0: no limit). Past it the oldest events are evicted first, whatever their topic, and a client that resumes from before them gets the reset signal. "auto": a quarter of the heap limit of the process that keeps the events (the primary with --workers). The memory engine counts each event\'s text plus 200 bytes; the NATS engine makes it its stream\'s max_bytes.' },
  { key: 'retention', flag: 'retention', env: 'SSEHUB_RETENTION', kind: 'retention', default: '', help: 'Retention for the topics a pattern matches, as pattern=events,age: `chat/**=500,24h` keeps the last 500 events of each chat topic for at most 24 hours. Leave out either limit to keep the default of --history-max-events or --history-max-age: `chat/**=500` or `ai/**=,10m`; `ai/**=0` keeps none (live delivery only). Give the flag once per rule; the first rule that matches a topic wins, and topics no rule matches keep the defaults. In the environment, separate rules with commas or newlines. A client that resumes from an event its topic\'s rule dropped gets the reset signal. Every instance of a cluster needs the same rules.' },
  { key: 'heartbeatMs', flag: 'heartbeat', env: 'SSEHUB_HEARTBEAT', kind: 'duration', default: '15s', help: 'Comment heartbeat on idle streams, so proxies keep them open, and ping on WebSocket connections: one that has not answered the previous ping is cut (0 disables both).' },
  { key: 'retryMs', flag: 'retry', env: 'SSEHUB_RETRY', kind: 'duration', default: '2s', help: 'Reconnect delay sent to clients in the initial "retry:" field.' },
  { key: 'maxBufferBytes', flag: 'max-buffer', env: 'SSEHUB_MAX_BUFFER', kind: 'bytes', default: '1MiB', help: 'Outbound buffer per stream; a client that falls further behind is disconnected.' },
  { key: 'tcpNoDelay', flag: 'tcp-nodelay', env: 'SSEHUB_TCP_NODELAY', kind: 'boolean', default: 'true', help: 'Send what a stream writes at once (TCP_NODELAY). false lets the kernel hold a small write while the previous one is unacknowledged and send them together (Nagle): less CPU per delivery when a stream gets events faster than its client acknowledges, for up to about 40 ms more latency. Plain HTTP/1.1 streams only (TLS and HTTP/2 connections keep it on).' },
  { key: 'fastPublish', flag: 'fast-publish', env: 'SSEHUB_FAST_PUBLISH', kind: 'boolean', default: 'true', help: 'Answer simple single-event publishes (POST /topics/<topic>, complete in what the client sent) on plain HTTP/1.1 straight from the socket, without node:http\'s request objects: the same answers for less CPU. Every other request, and every connection after one, goes through node:http. false sends all requests through node:http.' },
  { key: 'maxBodyBytes', flag: 'max-body', env: 'SSEHUB_MAX_BODY', kind: 'bytes', default: '1MiB', help: 'Largest publish request body (413 above).' },
  { key: 'maxBatchEvents', flag: 'max-batch', env: 'SSEHUB_MAX_BATCH', kind: 'count', default: '1000', help: 'Most events in one POST /publish batch.' },
  { key: 'maxTopicsPerSubscription', flag: 'max-topics', env: 'SSEHUB_MAX_TOPICS', kind: 'count', default: '32', help: 'Most topics and patterns in one subscription.' },
  { key: 'maxTopicLength', flag: 'max-topic-length', env: 'SSEHUB_MAX_TOPIC_LENGTH', kind: 'count', default: '256', help: 'Longest topic name or pattern, in characters.' },
  { key: 'headersTimeoutMs', flag: 'headers-timeout', env: 'SSEHUB_HEADERS_TIMEOUT', kind: 'duration', default: '10s', help: 'Time a client has to send its request headers (slow-loris guard). On HTTP/2, also the time a new connection has to send its first request, and a header block begun to be completed (else the connection is closed).' },
  { key: 'requestTimeoutMs', flag: 'request-timeout', env: 'SSEHUB_REQUEST_TIMEOUT', kind: 'duration', default: '30s', help: 'Time a client has to send a whole request body (on HTTP/2, per stream: 408, and the stream is reset); never cuts open streams. A streaming publish (POST /publish, application/x-ndjson) has no whole body: it ends after this long without a byte instead (408 stream_idle).' },
  { key: 'h2IdleTimeoutMs', flag: 'h2-idle-timeout', env: 'SSEHUB_H2_IDLE_TIMEOUT', kind: 'duration', default: '30s', help: 'An HTTP/2 connection without an open stream for this long is closed (GOAWAY); a connection with a stream open is never idle (0 disables).' },
  { key: 'tlsHandshakeTimeoutMs', flag: 'tls-handshake-timeout', env: 'SSEHUB_TLS_HANDSHAKE_TIMEOUT', kind: 'duration', default: '10s', help: 'Time a client has to complete its TLS handshake, with --tls-cert (above 0).' },
  { key: 'shutdownTimeoutMs', flag: 'shutdown-timeout', env: 'SSEHUB_SHUTDOWN_TIMEOUT', kind: 'duration', default: '10s', help: 'On SIGTERM/SIGINT, longest wait before connections are cut.' },
  { key: 'logLevel', flag: 'log-level', env: 'SSEHUB_LOG_LEVEL', kind: 'string', default: 'warn', help: 'Log level: fatal, error, warn, info, debug, trace or silent.' },
  { key: 'jwtSecret', flag: 'jwt-secret', env: 'SSEHUB_JWT_SECRET', kind: 'optional', default: '', help: 'HS256 secret for tokens, at least 32 bytes (openssl rand -base64 32 makes one). Setting any key turns authorization on.' },
  { key: 'jwtPublicKeyFile', flag: 'jwt-public-key', env: 'SSEHUB_JWT_PUBLIC_KEY', kind: 'optional', default: '', help: 'PEM file with a public key (RS256, ES256, ES384 or EdDSA tokens).' },
  { key: 'jwksFile', flag: 'jwks', env: 'SSEHUB_JWKS', kind: 'optional', default: '', help: 'JWKS file with public keys for tokens.' },
  { key: 'jwtIssuer', flag: 'jwt-issuer', env: 'SSEHUB_JWT_ISSUER', kind: 'optional', default: '', help: 'Required "iss" claim, when set.' },
  { key: 'jwtAudience', flag: 'jwt-audience', env: 'SSEHUB_JWT_AUDIENCE', kind: 'optional', default: '', help: 'Required "aud" claim, when set.' },
  { key: 'jwtMaxLifetimeMs', flag: 'jwt-max-lifetime', env: 'SSEHUB_JWT_MAX_LIFETIME', kind: 'duration', default: '0', help: 'Longest lifetime a token may have, exp − iat (from now when iat is missing or in the future), e.g. 1h; longer ones are refused (0: no maximum). Every token needs an "exp" either way.' },
  { key: 'authUrl', flag: 'auth-url', env: 'SSEHUB_AUTH_URL', kind: 'optional', default: '', help: 'Forward auth: an http:// or https:// endpoint of your app that the hub asks, with the request\'s Cookie and Authorization, whether it may subscribe, publish or take a ticket; the app answers 200 with a grant, 401 (no session) or 403. Setting it turns authorization on. Any other answer, or none in time, refuses the request (503).' },
  { key: 'authTimeoutMs', flag: 'auth-timeout', env: 'SSEHUB_AUTH_TIMEOUT', kind: 'duration', default: '2s', help: 'How long the --auth-url endpoint has to answer; then the request gets 503 auth_unavailable, never let through.' },
  { key: 'authCacheMs', flag: 'auth-cache', env: 'SSEHUB_AUTH_CACHE', kind: 'duration', default: '0', help: 'How long an allowed --auth-url answer is reused for the same Cookie, Authorization, Origin, action and topics, never past its grant\'s expiresAt (0: ask every time). A session revoked in the app keeps working from the cache until then.' },
  { key: 'cookieName', flag: 'cookie-name', env: 'SSEHUB_COOKIE_NAME', kind: 'string', default: 'ssehub_token', help: 'Cookie that may carry the token (for browsers).' },
  { key: 'publicTopics', flag: 'public-topics', env: 'SSEHUB_PUBLIC_TOPICS', kind: 'list', default: '', help: 'Comma-separated topics/patterns anyone may subscribe to without a token.' },
  { key: 'presence', flag: 'presence', env: 'SSEHUB_PRESENCE', kind: 'list', default: '', help: 'Comma-separated topics/patterns with presence: their subscribers with a subject are members, listed by GET /topics/<topic>/presence and told to streams opened with ?presence=1 (a grant or token with "presence" info makes its subject a member of any topic it subscribes to).' },
  { key: 'presenceTtlMs', flag: 'presence-ttl', env: 'SSEHUB_PRESENCE_TTL', kind: 'duration', default: '15s', help: 'How long a hub instance may stay silent before the others take its streams to be gone (it says it is alive every third of this); the members of a killed instance leave within it plus the grace period.' },
  { key: 'presenceGraceMs', flag: 'presence-grace', env: 'SSEHUB_PRESENCE_GRACE', kind: 'duration', default: '5s', help: 'How long a subject\'s last stream on a topic may be closed before it leaves: a reconnect within it, to any instance, is neither a leave nor a join.' },
  { key: 'corsOrigins', flag: 'cors-origins', env: 'SSEHUB_CORS_ORIGINS', kind: 'list', default: '', help: 'Comma-separated origins allowed cross-origin, with credentials (`http://localhost:*`: any port; "*": any origin, without credentials).' },
  { key: 'trustedProxies', flag: 'trusted-proxies', env: 'SSEHUB_TRUSTED_PROXIES', kind: 'list', default: '', help: 'Comma-separated addresses or CIDR ranges of your proxies (e.g. 127.0.0.1,10.0.0.0/8). A request from one of them is taken to come from the address its X-Forwarded-For names: the last one there that is not a trusted proxy. Per-IP stream limits, anonymous publish rates and the "stream opened" log line then see the real client. Empty: the connection\'s address is the client\'s.' },
  { key: 'ticketTtlMs', flag: 'ticket-ttl', env: 'SSEHUB_TICKET_TTL', kind: 'duration', default: '30s', help: 'How long a stream ticket stays valid (it is good for one use).' },
  { key: 'wsAuthTimeoutMs', flag: 'ws-auth-timeout', env: 'SSEHUB_WS_AUTH_TIMEOUT', kind: 'duration', default: '5s', help: 'How long a WebSocket opened without a credential (no ticket, cookie or Authorization header) has to send its {"type":"auth"} message; then it is closed with 4002. Nothing else is accepted before it.' },
  { key: 'wsEphemeralRate', flag: 'ws-ephemeral-rate', env: 'SSEHUB_WS_EPHEMERAL_RATE', kind: 'count', default: '20', help: 'Ephemeral publishes (typing indicators, cursors: delivered to the streams open now, never stored or replayed) per second on one WebSocket connection; more are refused with 429 rate_limited.' },
  { key: 'idempotencyWindowMs', flag: 'idempotency-window', env: 'SSEHUB_IDEMPOTENCY_WINDOW', kind: 'duration', default: '10m', help: 'How long a publish\'s Idempotency-Key is remembered: a retry within it is answered without storing the events again.' },
  { key: 'maxStreamsPerIp', flag: 'max-streams-per-ip', env: 'SSEHUB_MAX_STREAMS_PER_IP', kind: 'count', default: '1000', help: 'Open streams allowed per client IP (0: no limit).' },
  { key: 'maxStreamsPerSubject', flag: 'max-streams-per-subject', env: 'SSEHUB_MAX_STREAMS_PER_SUBJECT', kind: 'count', default: '100', help: 'Open streams allowed per token subject (0: no limit).' },
  { key: 'publishRate', flag: 'publish-rate', env: 'SSEHUB_PUBLISH_RATE', kind: 'count', default: '1000', help: 'Events per second one anonymous publisher (by IP) may publish (0: no limit); also each token subject with --rate-limit-subjects.' },
  { key: 'publishBurst', flag: 'publish-burst', env: 'SSEHUB_PUBLISH_BURST', kind: 'count', default: '2000', help: 'Events a publisher may publish at once above the rate.' },
  { key: 'publishBytesRate', flag: 'publish-bytes-rate', env: 'SSEHUB_PUBLISH_BYTES_RATE', kind: 'bytes', default: '10MiB', help: 'Bytes of event data (and event names) per second one anonymous publisher (by IP) may publish (0: no limit); also each token subject with --rate-limit-subjects.' },
  { key: 'publishBytesBurst', flag: 'publish-bytes-burst', env: 'SSEHUB_PUBLISH_BYTES_BURST', kind: 'bytes', default: '20MiB', help: 'Bytes a publisher may publish at once above the byte rate; at least --max-body, so that one publish of the largest body can pass.' },
  { key: 'rateLimitSubjects', flag: 'rate-limit-subjects', env: 'SSEHUB_RATE_LIMIT_SUBJECTS', kind: 'boolean', default: 'false', help: 'Apply the publish rates and bursts to authenticated publishers too (a token subject, or the subject of a grant from the app or --auth-url), each subject its own budget. false: a publisher with a subject is trusted and not rate-limited; anonymous publishers always are.' },
  { key: 'maxHeaderBytes', flag: 'max-header-size', env: 'SSEHUB_MAX_HEADER_SIZE', kind: 'bytes', default: '16KiB', help: 'Largest request header block (431 above).' },
  { key: 'dashboard', flag: 'dashboard', env: 'SSEHUB_DASHBOARD', kind: 'boolean', default: 'true', help: 'Serve the web dashboard and demo pages (GET /, /demos/…, /assets/…) and publish this instance\'s stats to the system topic $ssehub/stats.' },
  { key: 'statsIntervalMs', flag: 'stats-interval', env: 'SSEHUB_STATS_INTERVAL', kind: 'duration', default: '1s', help: 'How often each instance publishes a "stats" event to $ssehub/stats while the dashboard is on (0 disables).' },
  { key: 'metricsListen', flag: 'metrics-listen', env: 'SSEHUB_METRICS_LISTEN', kind: 'optional', default: '', help: 'A second, plain HTTP listener (host:port, e.g. 10.0.0.5:9090) that serves GET /metrics, /stats, /livez and /healthz without a token, for a Prometheus scraper on a private interface. Empty: none. On the main port, /stats and /metrics need a token with the admin grant whenever a key is set. With --workers the workers share it as they share the main port: each answer is one worker\'s own numbers.' },
  { key: 'demos', flag: 'demos', env: 'SSEHUB_DEMOS', kind: 'boolean', default: 'false', help: 'Enable the demo API (POST /demos/api/jobs, /logs, /chat): the hub runs simulated jobs and a child process and publishes to demo/… topics on the caller\'s behalf.' },
  { key: 'mercure', flag: 'mercure', env: 'SSEHUB_MERCURE', kind: 'boolean', default: 'false', help: 'Serve the Mercure protocol at /.well-known/mercure (publish, subscribe, private updates, resume), with the hub\'s token keys and engine: see docs/mercure.md.' },
  { key: 'mercureAnonymous', flag: 'mercure-anonymous', env: 'SSEHUB_MERCURE_ANONYMOUS', kind: 'boolean', default: 'false', help: 'Let Mercure subscribers without a token subscribe (to public updates only), as Mercure\'s "anonymous" directive. A hub without token keys lets everyone in anyway.' },
  { key: 'mercureSubscriptions', flag: 'mercure-subscriptions', env: 'SSEHUB_MERCURE_SUBSCRIPTIONS', kind: 'boolean', default: 'false', help: 'Serve Mercure\'s subscriptions API (GET /.well-known/mercure/subscriptions…) and publish its subscription events, as Mercure\'s "subscriptions" directive: each Mercure stream then counts in presence (a subscriber leaves after --presence-grace).' },
  { key: 'tlsCertFile', flag: 'tls-cert', env: 'SSEHUB_TLS_CERT', kind: 'optional', default: '', help: 'PEM file with the TLS certificate (chain). With --tls-key, the port serves HTTPS: HTTP/2, and HTTP/1.1 for clients that do not offer h2 (ALPN). "ssehub cert" makes one for local use.' },
  { key: 'tlsKeyFile', flag: 'tls-key', env: 'SSEHUB_TLS_KEY', kind: 'optional', default: '', help: 'PEM file with the TLS private key; required with --tls-cert.' },
  { key: 'h2c', flag: 'h2c', env: 'SSEHUB_H2C', kind: 'boolean', default: 'false', help: 'Serve cleartext HTTP/2 with prior knowledge (h2c), for a proxy that speaks it. The port then speaks HTTP/2 only: HTTP/1.1 clients cannot use it. Not with --tls-cert.' },
  { key: 'webhooks', flag: 'webhook', env: 'SSEHUB_WEBHOOK', kind: 'repeated', default: '', help: 'An http:// or https:// URL of your app that receives webhooks (signed POSTs): every event type, or only those named after "#", e.g. https://app.example/hooks#topic.occupied,subscription.* (types: topic.occupied, topic.vacated, subscription.opened, subscription.closed, presence.join, presence.leave). Give the flag once per URL; in the environment, separate URLs with spaces. Every instance of a cluster needs the same webhooks.' },
  { key: 'webhookSecrets', flag: 'webhook-secret', env: 'SSEHUB_WEBHOOK_SECRET', kind: 'list', default: '', help: 'Key that signs webhooks, as the Standard Webhooks specification says: "whsec_" and 24 to 64 bytes in base64. Required with --webhook. Several (comma-separated) sign each request with each, for a change of key.' },
  { key: 'webhookRetryForMs', flag: 'webhook-retry-for', env: 'SSEHUB_WEBHOOK_RETRY_FOR', kind: 'duration', default: '1h', help: 'How long after it happened a webhook is retried while its receiver fails or cannot be reached; then it is dropped (logged and counted).' },
  { key: 'webhookRetryMs', flag: 'webhook-retry', env: 'SSEHUB_WEBHOOK_RETRY', kind: 'duration', default: '1s', help: 'Wait before the first retry of a webhook; each further wait doubles, up to 5 minutes, with jitter.' },
  { key: 'webhookTimeoutMs', flag: 'webhook-timeout', env: 'SSEHUB_WEBHOOK_TIMEOUT', kind: 'duration', default: '15s', help: 'How long a webhook receiver has to answer a request; then the request counts as failed and is retried.' },
  { key: 'h2MaxStreams', flag: 'h2-max-streams', env: 'SSEHUB_H2_MAX_STREAMS', kind: 'count', default: '100', help: 'Most concurrent streams per HTTP/2 connection (advertised in SETTINGS; a client over it is refused).' },
];

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** A topic or pattern option: what a subscription could name. */
function checkSelectorOption(name: string, source: string): void {
  try {
    parseSubscribeSelector(source);
  } catch (error) {
    throw invalid(name, source, `a topic or pattern (${(error as Error).message})`);
  }
}

function invalid(name: string, value: string, expected: string): HubError {
  return new HubError(400, 'invalid_config', `${name}: "${value}" is not ${expected}`);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const BYTE_UNITS: Record<string, number> = { b: 1, kb: 1000, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };

/** "1500" (milliseconds), "90s", "15m", "1h", "1.5s". */
export function parseDuration(raw: string, name = 'duration'): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(raw.trim());
  if (!match) throw invalid(name, raw, 'a duration such as 1500, 90s, 15m or 1h');
  const value = Number(match[1]) * DURATION_UNITS[(match[2] ?? 'ms').toLowerCase()]!;
  if (!Number.isSafeInteger(Math.round(value))) throw invalid(name, raw, 'a duration in range');
  return Math.round(value);
}

/** "1048576", "512KiB", "1MiB", "1MB". */
export function parseBytes(raw: string, name = 'size'): number {
  const match = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?$/i.exec(raw.trim());
  if (!match) throw invalid(name, raw, 'a size such as 65536, 512KiB or 1MiB');
  const value = Math.round(Number(match[1]) * BYTE_UNITS[(match[2] ?? 'b').toLowerCase()]!);
  if (!Number.isSafeInteger(value)) throw invalid(name, raw, 'a size in range');
  return value;
}

/** The share of the heap limit that retained history may take by default (--history-max-bytes auto). */
const HEAP_SHARE_OF_HISTORY = 0.25;

/**
 * A share of the heap this process may grow to (V8's limit, which --max-old-space-size sets), in
 * whole bytes: the default byte budget follows the machine and the process's settings.
 */
export function heapShare(share: number): number {
  return Math.floor(getHeapStatistics().heap_size_limit * share);
}

const BOOLEANS = new Map<string, boolean>([
  ['true', true], ['false', false], ['yes', true], ['no', false], ['on', true], ['off', false], ['1', true], ['0', false],
]);

/**
 * Retention rules from the environment: separated by newlines, or by commas (a comma starts a new
 * rule when what follows it has an `=` before the next comma, so the comma inside `chat/**=500,24h`
 * stays in its rule). A pattern that itself holds a comma needs newlines, or a --retention flag each.
 */
export function parseRetentionRules(raw: string, name = 'SSEHUB_RETENTION'): RetentionRule[] {
  return raw
    .split(/\n|,(?=[^,=\n]*=)/)
    .map((text) => text.trim())
    .filter((text) => text !== '')
    .map((text) => parseRetentionRule(text, name));
}

/**
 * One retention rule: `pattern=events,age`, `pattern=events` or `pattern=,age` (the limit left out
 * is the default's). The limits follow the last `=`, as topics may hold `=` but limits never do.
 */
export function parseRetentionRule(raw: string, name = '--retention'): RetentionRule {
  const text = raw.trim();
  const expected = 'a retention rule pattern=events,age such as chat/**=500,24h, chat/**=500 or ai/**=,10m';
  const equals = text.lastIndexOf('=');
  if (equals <= 0) throw invalid(name, text, expected);
  const limits = text.slice(equals + 1).split(',');
  if (limits.length > 2) throw invalid(name, text, expected);
  const [events = '', age = ''] = limits.map((part) => part.trim());
  if (events === '' && age === '') throw invalid(name, text, `${expected}: it names no limit`);
  const rule: RetentionRule = { pattern: text.slice(0, equals).trim() };
  if (events !== '') {
    if (!/^\d+$/.test(events) || !Number.isSafeInteger(Number(events))) throw invalid(name, text, `${expected}: "${events}" is not a whole number of events`);
    rule.maxEvents = Number(events);
  }
  if (age !== '') {
    rule.maxAgeMs = parseDuration(age, `${name} "${text}"`);
    if (rule.maxAgeMs === 0) throw invalid(name, text, `${expected}: the age must be above 0 (to keep no history, keep 0 events)`);
  }
  try {
    if (rule.pattern.startsWith('$')) throw new Error('the hub\'s own $ topics have retention of their own');
    parseSubscribeSelector(rule.pattern);
  } catch (error) {
    throw invalid(name, text, `${expected}: "${rule.pattern}" is not a topic or pattern (${(error as Error).message})`);
  }
  return rule;
}

function parseValue(spec: OptionSpec, raw: string, name: string): string | number | boolean | string[] | RetentionRule[] | undefined {
  switch (spec.kind) {
    case 'boolean': {
      const value = BOOLEANS.get(raw.trim().toLowerCase());
      if (value === undefined) throw invalid(name, raw, 'true or false');
      return value;
    }
    case 'optional':
      return raw === '' ? undefined : raw;
    case 'repeated':
      return raw.split(/\s+/).filter((item) => item !== '');
    case 'list':
      return raw
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
    case 'string':
      if (spec.key === 'logLevel' && !LOG_LEVELS.has(raw)) throw invalid(name, raw, `one of ${[...LOG_LEVELS].join(', ')}`);
      if (raw === '') throw invalid(name, raw, 'a non-empty value');
      return raw;
    case 'port': {
      const port = Number(raw);
      if (!/^\d+$/.test(raw) || port > 65535) throw invalid(name, raw, 'a port number from 0 to 65535');
      return port;
    }
    case 'count':
      if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw invalid(name, raw, 'a whole number');
      return Number(raw);
    case 'duration':
      return parseDuration(raw, name);
    case 'bytes':
      return parseBytes(raw, name);
    case 'budget':
      return raw.trim().toLowerCase() === 'auto' ? heapShare(HEAP_SHARE_OF_HISTORY) : parseBytes(raw, name);
    case 'retention':
      // A flag holds one rule (its pattern may hold a comma); the environment holds a list.
      return name.startsWith('--') ? [parseRetentionRule(raw, name)] : parseRetentionRules(raw, name);
  }
}

/**
 * Builds the configuration from flags (e.g. ["--port", "9000"]) and an environment. Unknown flags
 * and malformed values throw a HubError with code "invalid_config" naming the culprit.
 */
export function loadConfig(argv: readonly string[] = [], env: NodeJS.ProcessEnv = {}): HubConfig {
  const flagOptions: Record<string, { type: 'string'; multiple?: boolean }> = {};
  for (const spec of OPTIONS) flagOptions[spec.flag] = spec.kind === 'repeated' || spec.kind === 'retention' ? { type: 'string', multiple: true } : { type: 'string' };
  let values: Record<string, string | string[] | undefined>;
  try {
    ({ values } = parseArgs({ args: withBooleanValues(argv), options: flagOptions, strict: true, allowPositionals: false }) as {
      values: Record<string, string | string[] | undefined>;
    });
  } catch (error) {
    throw new HubError(400, 'invalid_config', (error as Error).message);
  }
  const config: Record<string, string | number | boolean | string[] | RetentionRule[] | undefined> = {};
  for (const spec of OPTIONS) {
    const fromFlag = values[spec.flag];
    const fromEnv = env[spec.env];
    if (Array.isArray(fromFlag)) config[spec.key] = (fromFlag as string[]).flatMap((value) => parseValue(spec, value, `--${spec.flag}`) as Array<string | RetentionRule>) as string[] | RetentionRule[];
    else if (fromFlag !== undefined) config[spec.key] = parseValue(spec, fromFlag, `--${spec.flag}`);
    else if (fromEnv !== undefined && fromEnv !== '') config[spec.key] = parseValue(spec, fromEnv, spec.env);
    else config[spec.key] = parseValue(spec, spec.default, `default of --${spec.flag}`);
  }
  const result = config as unknown as HubConfig;
  if (result.maxBufferBytes < 1024) throw invalid('--max-buffer', String(result.maxBufferBytes), 'at least 1KiB');
  if (result.maxTopicsPerSubscription < 1) throw invalid('--max-topics', '0', 'at least 1');
  if (result.maxBatchEvents < 1) throw invalid('--max-batch', '0', 'at least 1');
  if (result.publishRate > 0 && result.publishBurst < 1) throw invalid('--publish-burst', '0', 'at least 1');
  // A burst below the largest body would refuse every publish of that size, forever.
  if (result.publishBytesRate > 0 && result.publishBytesBurst < result.maxBodyBytes) {
    throw invalid('--publish-bytes-burst', String(result.publishBytesBurst), `at least --max-body (${result.maxBodyBytes} bytes)`);
  }
  if (result.h2MaxStreams < 1) throw invalid('--h2-max-streams', '0', 'at least 1');
  if (result.tlsHandshakeTimeoutMs < 1) throw invalid('--tls-handshake-timeout', '0', 'above 0: a TLS handshake always has a deadline');
  checkTransport(result);
  new TopicRetention(result); // the rules as every engine will read them: what it refuses, refused here at start
  if (result.jwtSecret !== undefined) checkHs256Secret(result.jwtSecret); // checked again where the verifier is made
  if (result.metricsListen !== undefined) parseListenAddress(result.metricsListen, '--metrics-listen');
  if (result.authUrl !== undefined) parseAuthUrl(result.authUrl); // and again where forward auth is made
  if (result.authTimeoutMs < 1) throw invalid('--auth-timeout', '0', 'more than 0');
  parseTrustedProxies(result.trustedProxies); // throws on an entry that is not an address or range
  parseCorsOrigins(result.corsOrigins); // throws on an entry that is not an origin
  for (const source of result.presence) checkSelectorOption('--presence', source);
  if (result.presenceTtlMs < 100) throw invalid('--presence-ttl', String(result.presenceTtlMs), 'at least 100ms');
  checkWebhookConfig(result); // and again where the webhooks are made
  if (result.webhookRetryMs < 1) throw invalid('--webhook-retry', '0', 'more than 0');
  if (result.webhookTimeoutMs < 1) throw invalid('--webhook-timeout', '0', 'more than 0');
  if (!isEngineSpec(result.engine)) {
    throw invalid('--engine', result.engine, ENGINE_CHOICES);
  }
  checkRedisClusterSettings(result.redisShards, /^redis-cluster:/i.test(result.engine) ? result.redisWaitReplicas : 0);
  if (result.natsReplicas < 1) throw invalid('--nats-replicas', '0', 'at least 1');
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(result.namespace)) {
    throw invalid('--namespace', result.namespace, 'lowercase letters, digits and underscores, starting with a letter or underscore, at most 41 characters');
  }
  return result;
}

/**
 * Every flag takes a value for parseArgs; a boolean flag may also stand alone. `--demos` (last, or
 * followed by another flag) becomes `--demos true`, and `--no-demos` becomes `--demos false`.
 */
function withBooleanValues(argv: readonly string[]): string[] {
  const booleans = new Set(OPTIONS.filter((spec) => spec.kind === 'boolean').map((spec) => spec.flag));
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    args.push(arg);
    if (!arg.startsWith('--') || arg.includes('=')) continue;
    const name = arg.slice(2);
    if (booleans.has(name)) {
      const next = argv[i + 1];
      // `serve` takes no positional arguments, so a word after the flag can only be its value.
      if (next === undefined || next.startsWith('-')) args.push('true');
    } else if (name.startsWith('no-') && booleans.has(name.slice(3))) {
      args[args.length - 1] = `--${name.slice(3)}`;
      args.push('false');
    }
  }
  return args;
}

/**
 * TLS takes a certificate and its key together; h2c is the cleartext alternative to TLS, not an
 * addition to it. Also checked by startHub, for configurations built without loadConfig.
 */
export function checkTransport(config: Pick<HubConfig, 'tlsCertFile' | 'tlsKeyFile' | 'h2c'>): void {
  if ((config.tlsCertFile === undefined) !== (config.tlsKeyFile === undefined)) {
    const missing = config.tlsCertFile === undefined ? '--tls-cert' : '--tls-key';
    throw new HubError(400, 'invalid_config', `--tls-cert and --tls-key go together: ${missing} is missing.`);
  }
  if (config.h2c && config.tlsCertFile !== undefined) {
    throw new HubError(400, 'invalid_config', '--h2c is cleartext HTTP/2; with --tls-cert and --tls-key the port already serves HTTP/2 over TLS. Use one or the other.');
  }
}

/**
 * "host:port" ("[::1]:9090" for an IPv6 address) as the host and port to listen on. Also checked
 * by startHub, for configurations built without loadConfig.
 */
export function parseListenAddress(raw: string, name = 'listen address'): { host: string; port: number } {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):([0-9]{1,5})$/.exec(raw.trim());
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || port > 65535) throw invalid(name, raw, 'host:port, such as 127.0.0.1:9090 or [::1]:9090');
  return { host: match[1] ?? match[2]!, port };
}

/** Whether any token key is configured: then tokens are verified. */
export function tokenKeysConfigured(config: HubConfig): boolean {
  return config.jwtSecret !== undefined || config.jwtPublicKeyFile !== undefined || config.jwksFile !== undefined;
}

/** Whether access control is on (a token key, or forward auth): then publishing and private topics need a credential. */
export function authEnabled(config: HubConfig): boolean {
  return tokenKeysConfigured(config) || config.authUrl !== undefined;
}

/** The configuration with every default, for tests and embedding; `overrides` win. */
export function defaultConfig(overrides: Partial<HubConfig> = {}): HubConfig {
  return { ...loadConfig([], {}), ...overrides };
}

/** The options table as `--help` prints it. */
export function describeOptions(): string {
  const rows = OPTIONS.map((spec) => {
    const placeholder = { port: 'n', count: 'n', string: 'value', optional: 'value', list: 'a,b', repeated: 'value', duration: 'duration', bytes: 'bytes', budget: 'bytes|auto', boolean: 'true|false', retention: 'pattern=n,age' }[spec.kind];
    const left = `  --${spec.flag} <${placeholder}>`;
    return `${left.padEnd(34)}${spec.help}\n${''.padEnd(34)}env ${spec.env}${spec.default === '' ? '' : `, default ${spec.default}`}`;
  });
  return rows.join('\n');
}
