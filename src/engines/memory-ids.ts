/**
 * The memory engine's ids, "<epoch>-<sequence>", and the one rule that orders them. Shared by the
 * MemoryEngine and by the IpcEngine of `ssehub serve --workers` (whose events live in the primary
 * process's MemoryEngine), so that both read and order ids exactly alike.
 */

/** The id of the event with this sequence number in this epoch (sequence 0: before every event). */
export function memoryId(epoch: string, sequence: number): string {
  return `${epoch}-${sequence}`;
}

/**
 * The sequence of an id of `epoch` at or before `newest` (the newest sequence assigned or known),
 * else undefined: malformed ids, ids of another epoch (a previous run) and ids from the future are
 * all unknown.
 */
export function memoryIdSequence(id: string, epoch: string, newest: number): number | undefined {
  const dash = id.lastIndexOf('-');
  if (dash <= 0 || id.slice(0, dash) !== epoch) return undefined;
  const digits = id.slice(dash + 1);
  if (!/^\d{1,15}$/.test(digits)) return undefined;
  const sequence = Number(digits);
  return sequence <= newest ? sequence : undefined;
}

/** Negative, zero or positive as a is before, equal to or after b; an unknown id sorts before every known one. */
export function compareMemoryIds(a: string, b: string, epoch: string, newest: number): number {
  return (memoryIdSequence(a, epoch, newest) ?? -1) - (memoryIdSequence(b, epoch, newest) ?? -1);
}
