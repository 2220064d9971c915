export {
  DEFAULT_TOPIC_LIMITS,
  RESERVED_TOPIC_PREFIX,
  SYSTEM_TOPIC_PREFIX,
  isReservedTopic,
  parseTopic,
  type TopicLimits,
  type TopicOptions,
} from './topic.js';
export { parseSelector, parseSubscribeSelector, selectorCovers, selectorMatches, type Selector } from './selector.js';
export { TopicIndex } from './topic-index.js';
export { TopicTree } from './topic-tree.js';
export { BUILT_IN_RETENTION, TopicRetention, type RetentionLimits, type RetentionRule, type RetentionSettings } from './retention.js';
