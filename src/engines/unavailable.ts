/** How every engine reports that its server cannot be reached: 503, so clients retry later. */
import { HubError } from '../errors.js';

export class EngineUnavailableError extends HubError {
  constructor(engine: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(503, 'engine_unavailable', `The ${engine} engine cannot be reached (${detail}); retry later.`, { 'Retry-After': '1' });
  }
}

/** Runs an engine operation, turning a driver's failure into EngineUnavailableError. */
export async function orUnavailable<T>(engine: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof HubError) throw error;
    throw new EngineUnavailableError(engine, error);
  }
}
