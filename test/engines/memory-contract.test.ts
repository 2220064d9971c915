import { MemoryEngine } from '../../src/engines/memory.js';
import { describeEngineContract, describeLocalKeyValueContract } from './contract.js';

describeEngineContract('memory', { shared: false, open: async (settings) => new MemoryEngine(settings) });
describeLocalKeyValueContract(() => new MemoryEngine({ historyMaxEvents: 10, historyMaxAgeMs: 60_000 }));
