/** Picks the engine named by the configuration. */
import { HubError } from '../errors.js';
import type { Engine } from './engine.js';
import { MemoryEngine } from './memory.js';

export interface EngineSettings {
  historyMaxEvents: number;
  historyMaxAgeMs: number;
}

export function createEngine(name: string, settings: EngineSettings): Engine {
  if (name === 'memory') return new MemoryEngine(settings);
  throw new HubError(400, 'unsupported_engine', `Unknown engine "${name}"; this hub supports: memory.`);
}

export type { Engine, NewEvent, StoredEvent, HistoryResult, GapReason } from './engine.js';
export { MemoryEngine } from './memory.js';
