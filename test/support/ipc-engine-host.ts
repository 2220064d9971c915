/**
 * A child process that holds a MemoryEngine and serves it to its parent over the IPC channel, as
 * the primary of `ssehub serve --workers N` serves its workers: the IpcEngine tests run the real
 * IpcEngine against it, over a real channel. Settings come as JSON in argv[2], and limit settings,
 * if the host is to charge appends to publish rates as the primary does, in argv[3]; the process
 * exits when its parent lets go of the channel.
 */
import { LocalLimits, type LimitSettings } from '../../src/auth/limits.js';
import { IpcEngineHost } from '../../src/engines/ipc-host.js';
import { parentPort } from '../../src/engines/ipc-protocol.js';
import { MemoryEngine } from '../../src/engines/memory.js';
import type { EngineSettings } from '../../src/engines/settings.js';
import { DEFAULT_TOPIC_LIMITS } from '../../src/topics/index.js';

const settings = JSON.parse(process.argv[2] ?? '{}') as EngineSettings;
const engine = new MemoryEngine(settings);
const limitSettings = process.argv[3] === undefined ? undefined : (JSON.parse(process.argv[3]) as LimitSettings);
const limits = limitSettings === undefined ? undefined : new LocalLimits(limitSettings);
const host = new IpcEngineHost(engine, { topicLimits: DEFAULT_TOPIC_LIMITS, ...(limits === undefined ? {} : { checkCharge: (charge) => limits.chargePublish(charge) }) });
host.attach(parentPort());
process.once('disconnect', () => process.exit(0));
