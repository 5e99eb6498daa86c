/** A form upload an unauthenticated client may make: one object key, bounded size, until it expires. */
export interface PresignedPost {
  readonly url: string;
  readonly fields: Readonly<Record<string, string>>;
  readonly expiresAt: Date;
}

/** Where devices upload their logs, and how operators read them back. */
export interface LogUploads {
  /** The object key of a command's logs: decided here, never by the device. */
  keyFor(deviceId: string, commandId: string): string;
  /** A presigned POST for exactly `key`, with a size of 1 to `maxBytes` bytes. */
  presignUpload(key: string, maxBytes: number, expiresInSeconds: number): Promise<PresignedPost>;
  /** A presigned GET of `key`. */
  presignDownload(key: string, expiresInSeconds: number): Promise<string>;
}
