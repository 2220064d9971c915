/** The library entry point: run a hub in your own process, or use its parts. */
export { startHub, createLogger, type RunningHub } from './start.js';
export { loadConfig, defaultConfig, type HubConfig } from './config.js';
export { Hub, RESET_EVENT, POSITION_EVENT, type HubOptions, type HubStats } from './hub/hub.js';
export { openEngine, MemoryEngine, type EngineSettings } from './engines/index.js';
export type { Engine, NewEvent, StoredEvent, HistoryResult, KeyValueStore } from './engines/engine.js';
export { HubError } from './errors.js';
