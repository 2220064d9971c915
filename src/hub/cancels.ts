/**
 * Cancels, cluster-wide: a reader asks the producer of a topic to stop (an AI generation's Stop
 * button). The one way a cancel goes, from POST /topics/{t}/cancel and from the app alike: a
 * `cancel` message on the system bus's control channel, which every instance (this one included)
 * hands to its in-process listeners (hub.onCancel) and, as the CANCEL_EVENT control event, to its
 * streams reading the topic (a producer listening over HTTP). Nothing is stored for replay: a
 * cancel is a signal to whoever listens now.
 */
import { CANCEL_EVENT, type CancelDetail } from '../protocol/index.js';
import { parseTopic } from '../topics/index.js';
import type { Hub, HubLogger } from './hub.js';
import type { SystemBus } from './system-bus.js';

const MESSAGE_TYPE = 'cancel';

export type CancelListener = (topic: string) => void;

export class Cancels {
  private readonly listeners = new Map<string, Set<CancelListener>>();

  constructor(
    private readonly hub: Hub,
    private readonly bus: SystemBus,
    private readonly logger: HubLogger,
  ) {
    bus.on('control', (message) => {
      if (message.type !== MESSAGE_TYPE) return;
      const topic = (message.data as Partial<CancelDetail> | null)?.topic;
      if (typeof topic !== 'string') {
        logger.warn({ id: message.id }, 'ignored a cancel message without a topic');
        return;
      }
      this.deliver(topic);
    });
  }

  /**
   * Sends the cancel of `topic` to every instance. Resolves once the engine has taken the message
   * (the instances hand it on as it reaches them, within moments). A topic nobody produces for is
   * no error: the message simply finds no listener.
   */
  async cancel(topic: string): Promise<void> {
    const checked = parseTopic(topic, { limits: this.hub.topicLimits });
    await this.bus.send('control', MESSAGE_TYPE, { topic: checked } satisfies CancelDetail);
  }

  /** Calls `listener` when any instance sends a cancel of `topic`; returns the function that stops listening. */
  onCancel(topic: string, listener: CancelListener): () => void {
    let set = this.listeners.get(topic);
    if (set === undefined) this.listeners.set(topic, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(topic) === set) this.listeners.delete(topic);
    };
  }

  private deliver(topic: string): void {
    for (const listener of [...(this.listeners.get(topic) ?? [])]) {
      try {
        listener(topic);
      } catch (error) {
        this.logger.error({ err: error, topic }, 'a cancel listener failed');
      }
    }
    const signalled = this.hub.signalStreams(topic, { event: CANCEL_EVENT, data: JSON.stringify({ topic } satisfies CancelDetail) });
    this.logger.info({ topic, streams: signalled }, 'cancel delivered');
  }
}
