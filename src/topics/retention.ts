/**
 * Retention per topic: which history limits apply to a topic. Every engine asks this one module,
 * so a rule means the same on memory, Redis, NATS and PostgreSQL.
 *
 * Rules are tried in order and the first whose pattern matches the topic wins; a topic no rule
 * matches gets the defaults (--history-max-events, --history-max-age). A rule may set either limit
 * or both; the one it leaves out is the default's. The hub's own instance-to-instance topics
 * (BUILT_IN_RETENTION) come before the operator's rules: the operator's patterns cannot name `$`
 * topics anyway (a leading wildcard never matches them, and parseSelector refuses a literal `$`).
 *
 * The publish path asks for every event, so the answer is cheap: rules are parsed once, here; with
 * no rule that can match an ordinary topic the defaults come back after one character compared.
 * Else the answer is cached per topic, in two generations of at most CACHE_LIMIT topics each: when
 * the newer one is full the older one is dropped whole, and a topic still in use is copied forward
 * when next asked. A miss tries the rules in order (O(rules); selectorMatches does not allocate).
 */
import { HubError } from '../errors.js';
import { parseSelector, selectorMatches, type Selector } from './selector.js';
import { SYSTEM_TOPIC_PREFIX } from './topic.js';

/** What an operator writes: a topic or pattern, and the limits that differ from the defaults. */
export interface RetentionRule {
  /** A topic or pattern (`*` one segment, a final `**` the rest), as in subscriptions. */
  pattern: string;
  /** Events kept per topic; absent: --history-max-events. 0 keeps none (live delivery only). */
  maxEvents?: number;
  /** Milliseconds an event stays in history; absent: --history-max-age. */
  maxAgeMs?: number;
}

/** The limits that apply to one topic. The same object for every topic of one rule (a retention class). */
export interface RetentionLimits {
  readonly maxEvents: number;
  readonly maxAgeMs: number;
}

/**
 * The hub's presence and control messages (system-bus.ts) are acted on as they arrive, never
 * replayed, and ephemeral events (typing indicators: hub.ts EPHEMERAL_TOPIC_PREFIX) reach only the
 * streams open when they are published: no history is kept for them on any engine. The webhook
 * queue (`$ssehub/webhooks/*`) is not listed: its history is what the dispatcher delivers, so it
 * keeps the defaults.
 */
export const BUILT_IN_RETENTION: readonly RetentionRule[] = Object.freeze([
  { pattern: `${SYSTEM_TOPIC_PREFIX}presence/*`, maxEvents: 0 },
  { pattern: `${SYSTEM_TOPIC_PREFIX}control/*`, maxEvents: 0 },
  { pattern: `${SYSTEM_TOPIC_PREFIX}ephemeral/**`, maxEvents: 0 },
]);

/** Topics whose limits one cache generation remembers (topics are unbounded, memory is not). */
const CACHE_LIMIT = 10_000;
const DOLLAR = 0x24;

interface CompiledRule {
  selector: Selector;
  limits: RetentionLimits;
}

export interface RetentionSettings {
  /** Events kept per topic that no rule names. */
  historyMaxEvents: number;
  /** Milliseconds an event of a topic that no rule names stays in history. */
  historyMaxAgeMs: number;
  /** The operator's rules, first match wins. */
  retention?: readonly RetentionRule[];
}

export class TopicRetention {
  /** The limits of topics no rule matches. */
  readonly defaults: RetentionLimits;
  /** Every distinct set of limits a topic can get, the defaults first. */
  readonly classes: readonly RetentionLimits[];
  /** The largest maxEvents and maxAgeMs of any class: what a store sized for all topics must hold. */
  readonly largest: RetentionLimits;
  /** The shortest maxAgeMs of any class that keeps events: how often age retention must look. */
  readonly shortestAgeMs: number;
  private readonly rules: readonly CompiledRule[];
  /** True when some rule can match a topic that does not start with `$`. */
  private readonly ordinaryRules: boolean;
  /** topic -> its limits: the newer generation of the cache, and the older. */
  private cache = new Map<string, RetentionLimits>();
  private olderCache = new Map<string, RetentionLimits>();

  /** @throws HubError(400, 'invalid_config') naming the rule and what is wrong with it. */
  constructor(settings: RetentionSettings) {
    this.defaults = Object.freeze({ maxEvents: settings.historyMaxEvents, maxAgeMs: settings.historyMaxAgeMs });
    const classes: RetentionLimits[] = [this.defaults];
    const classOf = (maxEvents: number, maxAgeMs: number): RetentionLimits => {
      let found = classes.find((limits) => limits.maxEvents === maxEvents && limits.maxAgeMs === maxAgeMs);
      if (found === undefined) classes.push((found = Object.freeze({ maxEvents, maxAgeMs })));
      return found;
    };
    const builtIn = BUILT_IN_RETENTION.map((rule) => compile(rule, true));
    const own = (settings.retention ?? []).map((rule) => compile(rule, false));
    this.rules = [...builtIn, ...own].map(({ selector, rule }) => ({
      selector,
      limits: classOf(rule.maxEvents ?? this.defaults.maxEvents, rule.maxAgeMs ?? this.defaults.maxAgeMs),
    }));
    this.classes = Object.freeze(classes);
    this.ordinaryRules = own.length > 0;
    this.largest = Object.freeze({
      maxEvents: Math.max(...classes.map((limits) => limits.maxEvents)),
      maxAgeMs: Math.max(...classes.map((limits) => limits.maxAgeMs)),
    });
    const keeping = classes.filter((limits) => limits.maxEvents > 0);
    this.shortestAgeMs = Math.min(...(keeping.length > 0 ? keeping : classes).map((limits) => limits.maxAgeMs));
  }

  /** The limits that apply to `topic` (a valid topic name). */
  limitsOf(topic: string): RetentionLimits {
    // Ordinary topics without operator rules: the case of almost every publish of a hub without rules.
    if (!this.ordinaryRules && topic.charCodeAt(0) !== DOLLAR) return this.defaults;
    let limits = this.cache.get(topic);
    if (limits !== undefined) return limits;
    limits = this.olderCache.get(topic) ?? this.match(topic);
    if (this.cache.size >= CACHE_LIMIT) {
      this.olderCache = this.cache;
      this.cache = new Map();
    }
    this.cache.set(topic, limits);
    return limits;
  }

  private match(topic: string): RetentionLimits {
    for (const rule of this.rules) if (selectorMatches(rule.selector, topic)) return rule.limits;
    return this.defaults;
  }
}

function compile(rule: RetentionRule, builtIn: boolean): { selector: Selector; rule: RetentionRule } {
  const name = `retention rule for "${String(rule?.pattern)}"`;
  if (typeof rule !== 'object' || rule === null || typeof rule.pattern !== 'string') {
    throw new HubError(400, 'invalid_config', `A retention rule needs a pattern: a topic or pattern such as chat/**.`);
  }
  let selector: Selector;
  try {
    selector = parseSelector(rule.pattern, { allowReserved: builtIn });
  } catch (error) {
    throw new HubError(400, 'invalid_config', `${name}: the pattern is not a topic or pattern (${(error as Error).message})`);
  }
  for (const [field, value] of [['maxEvents', rule.maxEvents], ['maxAgeMs', rule.maxAgeMs]] as const) {
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
      throw new HubError(400, 'invalid_config', `${name}: ${field} must be a whole number of at least 0, not ${String(value)}.`);
    }
  }
  if (rule.maxAgeMs === 0) throw new HubError(400, 'invalid_config', `${name}: the age must be above 0 (to keep no history, keep 0 events: "${rule.pattern}=0").`);
  return { selector, rule };
}
