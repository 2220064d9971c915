/**
 * The PostgreSQL engine's tables and statements. Every table name starts with the namespace
 * (validated as a plain lowercase identifier, so it can be spliced into SQL as is).
 *
 *   N_meta    one row: epoch (random, drawn with the tables: ids carry it, so an id from a dropped
 *             and recreated namespace is recognised as unknown), last_id (the id counter, also the
 *             newest committed id), last_time (keeps event times non-decreasing in id order) and
 *             forgotten_id (newest eviction id of topics whose records were dropped)
 *   N_events  every event (id, topic, event, data, time): the log each instance tails for delivery,
 *             and the store history reads from. A row is in its topic's history while its id is above
 *             the topic's evicted_id and its time is within the age limit; rows out of history stay
 *             for DELIVERY_GRACE_MS so that a lagging instance can still deliver them, then are pruned
 *   N_topics  one row per topic: evicted_id (newest id that left its history, for exact gap
 *             detection), kept (rows above evicted_id), last_time (time of its newest event) and
 *             max_age (its retention's age, as of its last append: what the age sweep applies)
 *   N_kv      the shared key-value store, with expiry in milliseconds
 *   N_dedupe  appends made with a dedupe key: the ids they got (base+1..base+count) and their time,
 *             until expires_at. A table of its own rather than N_kv: publishOnce keeps its record in
 *             N_kv under the very same key (and overwrites or deletes it there), and typed columns
 *             let the append read and write it in the statements it runs anyway
 *
 * Times are milliseconds from the database server's clock, so instances with skewed clocks agree.
 */

/** How long an event stays in the events table after it left history, for instances that lag behind. */
export const DELIVERY_GRACE_MS = 10 * 60_000;

/** A new random epoch (see N_meta). */
const NEW_EPOCH = `substr(md5(random()::text || clock_timestamp()::text), 1, 10)`;
/** The database clock in milliseconds. */
const NOW_MS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;
const MAX_ID = '9223372036854775807';

/**
 * The body of the append function: the lock, then step 1 and step 2 as they are written below, with
 * step 2's parameters moved after step 1's ($1-$5 become $10, $11, $12, step 1's time, $13).
 */
function appendFunction(name: string, lockMeta: string, insertEvents: string, retainByCount: string): string {
  const retainParams: Record<string, string> = { '1': '$10', '2': '$11', '3': '$12', '4': 'inserted."time"', '5': '$13' };
  const retain = retainByCount.replace(/\$([1-5])\b/g, (_, n: string) => retainParams[n]!);
  return `
      CREATE OR REPLACE FUNCTION ${name}(
        bigint, text[], text[], bytea, text, text[], bigint[], integer[], bigint[], text[], integer[], integer[], bigint[], integer[]
      ) RETURNS TABLE (appended_base bigint, appended_time bigint, appended_epoch text) LANGUAGE plpgsql AS $append$
      DECLARE inserted record;
      BEGIN
        ${lockMeta};
        ${insertEvents.trim()} INTO inserted;
        ${retain.trim()};
        RETURN QUERY SELECT inserted.base, inserted."time", inserted.epoch;
      END $append$;`;
}

export function postgresStatements(namespace: string) {
  const meta = `${namespace}_meta`;
  const events = `${namespace}_events`;
  const topics = `${namespace}_topics`;
  const kv = `${namespace}_kv`;
  const dedupe = `${namespace}_dedupe`;
  const append = `${namespace}_append`;
  const statements = {
    tables: [meta, events, topics, kv, dedupe],
    /** NOTIFY channel: carries only a wake-up, never a payload (NOTIFY payloads are limited to 8000 bytes). */
    channel: `${namespace}_wake`,

    /** Run at open, inside a transaction holding the namespace's advisory lock (concurrent CREATEs would race). */
    schema: `
      CREATE TABLE IF NOT EXISTS ${meta} (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        epoch text NOT NULL,
        last_id bigint NOT NULL DEFAULT 0,
        last_time bigint NOT NULL DEFAULT 0,
        forgotten_id bigint NOT NULL DEFAULT 0
      );
      INSERT INTO ${meta} (epoch) VALUES (${NEW_EPOCH}) ON CONFLICT DO NOTHING;
      CREATE TABLE IF NOT EXISTS ${events} (
        id bigint PRIMARY KEY,
        topic text NOT NULL,
        event text,
        data bytea NOT NULL,
        time bigint NOT NULL
      );
      CREATE INDEX IF NOT EXISTS ${events}_topic_id ON ${events} (topic, id) INCLUDE (time);
      CREATE TABLE IF NOT EXISTS ${topics} (
        topic text PRIMARY KEY,
        evicted_id bigint NOT NULL,
        kept integer NOT NULL,
        last_time bigint NOT NULL
      );
      ALTER TABLE ${topics} ADD COLUMN IF NOT EXISTS max_age bigint;
      CREATE INDEX IF NOT EXISTS ${topics}_emptied ON ${topics} (last_time) WHERE kept = 0;
      CREATE TABLE IF NOT EXISTS ${kv} (
        key text PRIMARY KEY,
        value text NOT NULL,
        expires_at bigint NOT NULL
      );
      CREATE INDEX IF NOT EXISTS ${kv}_expires_at ON ${kv} (expires_at);
      CREATE TABLE IF NOT EXISTS ${dedupe} (
        key text PRIMARY KEY,
        base bigint NOT NULL,
        count integer NOT NULL,
        time bigint NOT NULL,
        expires_at bigint NOT NULL
      );
      CREATE INDEX IF NOT EXISTS ${dedupe}_expires_at ON ${dedupe} (expires_at);`,

    /** The append function's name (created by the schema, see appendFunction). */
    appendFunction: append,

    /**
     * Append, steps 1 and 2 in one round trip: the function takes the meta row lock, then runs both
     * (the lock is already held when the transaction looked dedupe keys up first). Outside a
     * transaction it is one implicit transaction: the lock is held from the function's start to its
     * commit, and never across a round trip to this instance.
     * $1-$9 and $14 step 1's parameters, $10-$13 step 2's $1, $2, $3 and $5. Returns base, time, epoch.
     */
    append: `
      SELECT appended_base AS base, appended_time AS time, appended_epoch AS epoch
      FROM ${append}($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,

    meta: `SELECT epoch, last_id FROM ${meta}`,
    lastId: `SELECT last_id FROM ${meta}`,

    /**
     * The first statement of an append's (and a sweep's) transaction: the meta row, which holds the id
     * counter, locked to the commit. It serializes the appends of every instance, so that ids become
     * visible in id order, and keeps sweeps from interleaving with them.
     */
    lockMeta: `SELECT 1 FROM ${meta} FOR UPDATE`,

    /**
     * Append, step 0, only with dedupe keys (under the meta row lock, so no append can store a key
     * between this lookup and step 1): the appends that stored the keys within their window, if any.
     * $1 keys. Returns key, base, count, time, epoch.
     */
    findDedupe: `
      SELECT d.key, d.base, d.count, d.time, m.epoch FROM ${dedupe} d, ${meta} m
      WHERE d.key = ANY($1::text[]) AND d.expires_at > ${NOW_MS}`,

    /**
     * Append, step 1 (under the meta row lock): takes ids base+1..base+n from the counter, inserts the
     * events of a group of appends, creates missing topic rows, records the dedupe keys of the appends
     * that have one (replacing an expired row: step 0 found no live one; the keys are distinct) and
     * queues the wake-up. A topic created anew starts with evicted_id = forgotten_id: it may be a
     * forgotten topic coming back, whose old gaps must still show.
     * $1 count, $2 topics, $3 event names, $4 the events' data one after the other (one bytea, sent
     * in binary: an array of them would travel hex-encoded), $14 each one's size in bytes, $5 channel,
     * then per append with a dedupe key: $6 the key, $7 the offset of its first event in the group,
     * $8 its event count, $9 its window. Returns base, time, epoch.
     */
    insertEvents: `
      WITH m AS (
        UPDATE ${meta} SET last_id = last_id + $1::bigint, last_time = greatest(last_time, ${NOW_MS})
        RETURNING last_id - $1::bigint AS base, last_time AS time, epoch, forgotten_id
      ), inserted AS (
        INSERT INTO ${events} (id, topic, event, data, time)
        SELECT m.base + u.ord, u.topic, u.event, substring($4::bytea FROM u.start::int + 1 FOR u.size), m.time
        FROM m, (
          SELECT u.*, sum(u.size) OVER (ORDER BY u.ord) - u.size AS start
          FROM unnest($2::text[], $3::text[], $14::int[]) WITH ORDINALITY AS u(topic, event, size, ord)
        ) u
      ), new_topics AS (
        INSERT INTO ${topics} (topic, evicted_id, kept, last_time)
        SELECT DISTINCT u.topic, m.forgotten_id, 0, m.time FROM m, unnest($2::text[]) AS u(topic)
        ON CONFLICT (topic) DO NOTHING
      ), deduped AS (
        INSERT INTO ${dedupe} (key, base, count, time, expires_at)
        SELECT d.key, m.base + d.first, d.count, m.time, ${NOW_MS} + d.window_ms
        FROM m, unnest($6::text[], $7::bigint[], $8::int[], $9::bigint[]) AS d(key, first, count, window_ms)
        ON CONFLICT (key) DO UPDATE SET
          base = excluded.base, count = excluded.count, time = excluded.time, expires_at = excluded.expires_at
      )
      SELECT base, time, epoch, pg_notify($5, '') FROM m`,

    /**
     * Append, step 2 (same transaction, a later statement, so it sees step 1's rows): count retention. When a topic holds
     * more than its max_events, evicted_id moves to the newest of its oldest excess events.
     * $1 topics, $2 events added per topic, $3 each topic's max events, $4 time, $5 each topic's max age.
     */
    retainByCount: `
      UPDATE ${topics} t SET
        evicted_id = CASE WHEN t.kept + b.added > b.max_events THEN coalesce((
          SELECT e.id FROM ${events} e WHERE e.topic = t.topic AND e.id > t.evicted_id
          ORDER BY e.id OFFSET t.kept + b.added - b.max_events - 1 LIMIT 1
        ), t.evicted_id) ELSE t.evicted_id END,
        kept = least(t.kept + b.added, b.max_events),
        last_time = $4::bigint,
        max_age = b.max_age
      FROM unnest($1::text[], $2::int[], $3::int[], $5::bigint[]) AS b(topic, added, max_events, max_age)
      WHERE t.topic = b.topic`,

    /**
     * The tail every instance delivers from, starting AT its cursor: the row there is the event the
     * instance delivered last, which tells whether the log is still the one it delivered from (a
     * promoted standby may lack it, and give its id to another event). With the epoch and the
     * counter, so that a log that was recreated or ends before the cursor shows too; one row with a
     * null id when there are no rows. $1 cursor, $2 batch size.
     */
    tail: `
      SELECT m.epoch, m.last_id, e.id, e.topic, e.event, e.data, e.time
      FROM ${meta} m LEFT JOIN LATERAL (
        SELECT id, topic, event, data, time FROM ${events} WHERE id >= $1::bigint ORDER BY id LIMIT $2::int
      ) e ON true
      ORDER BY e.id`,

    /**
     * Draws a new epoch unless the meta row's is no longer $1 (another instance drew one first, or
     * the namespace was recreated): either way returns the epoch and counter now in force.
     */
    drawEpoch: `
      WITH drawn AS (UPDATE ${meta} SET epoch = ${NEW_EPOCH} WHERE epoch = $1 RETURNING epoch, last_id)
      SELECT epoch, last_id FROM drawn
      UNION ALL SELECT epoch, last_id FROM ${meta} WHERE NOT EXISTS (SELECT 1 FROM drawn)`,

    allTopics: `SELECT topic FROM ${topics}`,

    /**
     * One statement, so one snapshot: the topics' eviction records and their events agree. One row per
     * topic without events, one per event otherwise; the forgotten watermark on every row (and one row
     * with a null topic when there are no topics). $1 topics, $2 after id, $3 position, $4 each topic's max age.
     */
    history: `
      SELECT q.topic, t.topic IS NOT NULL AS known, t.evicted_id, m.forgotten_id,
        e.id, e.event, e.data, e.time, e.time <= ${NOW_MS} - q.max_age AS expired
      FROM ${meta} m
      LEFT JOIN unnest($1::text[], $4::bigint[]) AS q(topic, max_age) ON true
      LEFT JOIN ${topics} t ON t.topic = q.topic
      LEFT JOIN LATERAL (
        SELECT id, event, data, time FROM ${events}
        WHERE topic = q.topic AND id > greatest($2::bigint, t.evicted_id) AND id <= $3::bigint
        OFFSET 0 -- keeps the subquery as is, so both bounds become index conditions
      ) e ON true
      ORDER BY e.id NULLS FIRST`,

    /**
     * Age retention for every topic, quiet ones included (under the meta row lock). Times do not
     * decrease with ids, so the expired events of a topic are the ones before its first live event.
     * $1 the age of topics that have none recorded (appended to before max_age existed).
     */
    retainByAge: `
      WITH gone AS (
        SELECT t.topic, x.newest, x.n FROM ${topics} t CROSS JOIN LATERAL (
          SELECT max(e.id) AS newest, count(*)::int AS n FROM ${events} e
          WHERE e.topic = t.topic AND e.id > t.evicted_id AND e.id < coalesce((
            SELECT f.id FROM ${events} f
            WHERE f.topic = t.topic AND f.id > t.evicted_id AND f.time > ${NOW_MS} - coalesce(t.max_age, $1::bigint)
            ORDER BY f.id LIMIT 1
          ), ${MAX_ID})
        ) x
        WHERE t.kept > 0 AND x.n > 0
      )
      UPDATE ${topics} t SET evicted_id = gone.newest, kept = t.kept - gone.n FROM gone WHERE t.topic = gone.topic`,

    /**
     * Drops topics whose history emptied long ago (under the meta row lock), with their remaining
     * rows, and raises the forgotten watermark so that resumes across them still report a gap.
     * $1 how long ago the topic's newest event must be (at least DELIVERY_GRACE_MS), $2 batch size.
     */
    forgetTopics: `
      WITH forgotten AS (
        DELETE FROM ${topics} WHERE topic IN (
          SELECT topic FROM ${topics} WHERE kept = 0 AND last_time <= ${NOW_MS} - $1::bigint LIMIT $2::int
        )
        RETURNING topic, evicted_id
      ), dropped AS (
        DELETE FROM ${events} e USING forgotten f WHERE e.topic = f.topic
      )
      UPDATE ${meta} SET forgotten_id = greatest(forgotten_id, (SELECT max(evicted_id) FROM forgotten))
      RETURNING (SELECT count(*) FROM forgotten)::int AS n`,

    /**
     * Deletes rows out of history (at or below their topic's evicted_id) once no instance should
     * still need them for delivery. $1 DELIVERY_GRACE_MS, $2 batch size.
     */
    prune: `
      DELETE FROM ${events} WHERE id IN (
        SELECT e.id FROM ${events} e JOIN ${topics} t ON t.topic = e.topic
        WHERE e.id <= t.evicted_id AND e.time <= ${NOW_MS} - $1::bigint
        LIMIT $2::int
      )`,

    stats: `SELECT count(*) FILTER (WHERE kept > 0)::int AS topics, coalesce(sum(kept), 0)::bigint AS retained FROM ${topics}`,

    kv: {
      /** Stores unless a live row exists; returns a row only when it stored. $1 key, $2 value, $3 ttl. */
      setOnce: `
        INSERT INTO ${kv} AS k (key, value, expires_at) VALUES ($1, $2, ${NOW_MS} + $3::bigint)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
        WHERE k.expires_at <= ${NOW_MS}
        RETURNING 1`,
      /** Deletes the row whatever its expiry (an expired row is garbage), returning the value only if live. */
      take: `DELETE FROM ${kv} WHERE key = $1 RETURNING value, expires_at > ${NOW_MS} AS live`,
      get: `SELECT value FROM ${kv} WHERE key = $1 AND expires_at > ${NOW_MS}`,
      set: `
        INSERT INTO ${kv} (key, value, expires_at) VALUES ($1, $2, ${NOW_MS} + $3::bigint)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
      delete: `DELETE FROM ${kv} WHERE key = $1`,
      /** A count whose row expired starts over at 1, with a fresh expiry. $1 key, $2 ttl. */
      increment: `
        INSERT INTO ${kv} AS k (key, value, expires_at) VALUES ($1, '1', ${NOW_MS} + $2::bigint)
        ON CONFLICT (key) DO UPDATE SET
          value = CASE WHEN k.expires_at <= ${NOW_MS} THEN '1' ELSE (k.value::bigint + 1)::text END,
          expires_at = CASE WHEN k.expires_at <= ${NOW_MS} THEN excluded.expires_at ELSE k.expires_at END
        RETURNING value`,
      sweep: `DELETE FROM ${kv} WHERE key IN (SELECT key FROM ${kv} WHERE expires_at <= ${NOW_MS} LIMIT $1::int)`,
    },

    /**
     * Expired dedupe rows, outside the meta row lock. The outer expiry check is evaluated again on a
     * row an append renewed meanwhile (PostgreSQL rechecks the updated row), so a live one is kept. $1 batch size.
     */
    sweepDedupe: `
      DELETE FROM ${dedupe}
      WHERE key IN (SELECT key FROM ${dedupe} WHERE expires_at <= ${NOW_MS} LIMIT $1::int) AND expires_at <= ${NOW_MS}`,
  };
  // The schema also (re)creates the append function from the statements it runs.
  statements.schema += appendFunction(append, statements.lockMeta.replace('SELECT', 'PERFORM'), statements.insertEvents, statements.retainByCount);
  return statements;
}

export type PostgresStatements = ReturnType<typeof postgresStatements>;
