import { createHash, randomUUID } from 'node:crypto';
import { ValidationError } from '../domain/errors';
import type { ArtifactStorage, StoredObject, UploadedPart } from '../ports/artifact-storage';

/**
 * ArtifactStorage for unit tests: a versioned bucket in memory. `put` and `uploadPart` stand in
 * for an uploader using the presigned URLs.
 */
export class InMemoryArtifactStorage implements ArtifactStorage {
  readonly #versions = new Map<string, { versionId: string; bytes: Uint8Array }[]>();
  readonly #uploads = new Map<
    string,
    { key: string; parts: Map<number, { etag: string; bytes: Uint8Array }> }
  >();
  /** Chunk size `read` streams in, so tests see a body in several pieces. */
  constructor(private readonly chunkSize = 64 * 1024) {}

  async presignPut(key: string, expiresInSeconds: number): Promise<string> {
    return `memory://put/${key}?expires=${expiresInSeconds}`;
  }

  async startMultipartUpload(key: string): Promise<string> {
    const uploadId = randomUUID();
    this.#uploads.set(uploadId, { key, parts: new Map() });
    return uploadId;
  }

  async presignPart(key: string, uploadId: string, partNumber: number, expiresInSeconds: number) {
    return `memory://part/${key}?uploadId=${uploadId}&partNumber=${partNumber}&expires=${expiresInSeconds}`;
  }

  async completeMultipartUpload(key: string, uploadId: string, parts: readonly UploadedPart[]) {
    const upload = this.#uploads.get(uploadId);
    if (upload?.key !== key) return false;
    const chunks = parts.map((part) => {
      const stored = upload.parts.get(part.partNumber);
      if (stored?.etag !== part.etag) {
        throw new ValidationError(`Part ${part.partNumber} was not uploaded with that ETag`, [
          { field: 'parts', message: 'InvalidPart' },
        ]);
      }
      return stored.bytes;
    });
    this.#uploads.delete(uploadId);
    this.put(key, Buffer.concat(chunks));
    return true;
  }

  async exists(key: string): Promise<boolean> {
    return this.#versions.has(key);
  }

  async read(key: string): Promise<StoredObject | undefined> {
    const latest = this.#versions.get(key)?.at(-1);
    if (!latest) return undefined;
    const { bytes, versionId } = latest;
    const chunkSize = this.chunkSize;
    async function* body() {
      for (let offset = 0; offset < bytes.byteLength; offset += chunkSize) {
        yield bytes.subarray(offset, offset + chunkSize);
      }
    }
    return { versionId, body: body() };
  }

  async readBytes(key: string, versionId: string | undefined, maxBytes: number) {
    const versions = this.#versions.get(key) ?? [];
    const found = versionId === undefined ? versions.at(-1) : versions.find((v) => v.versionId === versionId);
    if (!found) return undefined;
    if (found.bytes.byteLength > maxBytes) {
      throw new Error(`${key} is ${found.bytes.byteLength} bytes, more than the ${maxBytes} allowed`);
    }
    return Buffer.from(found.bytes);
  }

  async putObject(key: string, bytes: Uint8Array) {
    return { versionId: this.put(key, Buffer.from(bytes)) };
  }

  /** Every stored version of `key`, oldest first (tests check what was written). */
  versionsOf(key: string): readonly { readonly versionId: string; readonly bytes: Uint8Array }[] {
    return this.#versions.get(key) ?? [];
  }

  /** Keys with at least one version, in the order first written. */
  keys(): string[] {
    return [...this.#versions.keys()];
  }

  /** What a PUT to the presigned URL does: stores a new version. */
  put(key: string, bytes: Uint8Array): string {
    const versionId = randomUUID();
    this.#versions.set(key, [...(this.#versions.get(key) ?? []), { versionId, bytes }]);
    return versionId;
  }

  /** What a PUT to a presigned part URL does; returns the part's ETag. */
  uploadPart(uploadId: string, partNumber: number, bytes: Uint8Array): string {
    const upload = this.#uploads.get(uploadId);
    if (!upload) throw new Error(`No multipart upload ${uploadId}`);
    const etag = `"${createHash('md5').update(bytes).digest('hex')}"`;
    upload.parts.set(partNumber, { etag, bytes });
    return etag;
  }
}
