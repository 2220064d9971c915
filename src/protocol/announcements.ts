/**
 * What the hub tells a client in comment lines, which EventSource ignores and ssehub's own client
 * reads. Shared by both sides so that they cannot drift apart.
 */

/**
 * Opens the comment, sent when a stream opens, that gives the hub's heartbeat interval in ms
 * (`: heartbeat=15000`; `0` when heartbeats are off). A live stream is never silent for two
 * intervals, so a client that hears nothing for longer may take its connection for dead.
 */
export const HEARTBEAT_ANNOUNCEMENT = 'heartbeat=';
