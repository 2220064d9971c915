export {
  DEFAULT_TOPIC_LIMITS,
  RESERVED_TOPIC_PREFIX,
  isReservedTopic,
  parseTopic,
  type TopicLimits,
  type TopicOptions,
} from './topic.js';
export { parseSelector, selectorCovers, selectorMatches, type Selector } from './selector.js';
export { TopicIndex } from './topic-index.js';
