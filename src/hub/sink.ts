/**
 * What a subscriber writes to: one open event stream. The HTTP layer adapts a node:http response
 * (and later an HTTP/2 stream) to this, so the hub never depends on a transport.
 */
export interface StreamSink {
  /** Queues bytes on the connection; false means its buffer is full and 'drain' will follow. */
  write(chunk: Uint8Array): boolean;
  /** Bytes accepted by write() that the connection has not yet handed to the kernel. */
  readonly bufferedBytes: number;
  onDrain(listener: () => void): void;
  /** Resolves at the next 'drain' or when the connection closes, whichever comes first. */
  drained(): Promise<void>;
  /** Called once when the connection goes away, whoever closed it. */
  onClose(listener: () => void): void;
  /** Ends the stream cleanly after what is buffered (the client will reconnect). */
  end(): void;
  /** Cuts the connection at once, dropping what is buffered. */
  destroy(): void;
}
