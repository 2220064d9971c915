/** The library entry point: run a hub in your own process, or use its parts. */
export { startHub, createLogger, type RunningHub } from './start.js';
export { loadConfig, defaultConfig, type HubConfig } from './config.js';
export { Hub, type HubOptions, type HubStats } from './hub/hub.js';
export { RESET_EVENT, POSITION_EVENT, EXPIRED_EVENT, GAP_REASONS, type GapReason, type ResetDetail } from './protocol/index.js';
export { openEngine, MemoryEngine, type EngineSettings } from './engines/index.js';
export type { Engine, NewEvent, StoredEvent, HistoryResult, KeyValueStore } from './engines/engine.js';
export { HubError } from './errors.js';
