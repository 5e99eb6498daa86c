/**
 * The S3 calls EdgeOps Lambdas make, on AwsService (aws-service.ts says why not the SDK's S3
 * client): objects in and out, a listing to see if a key exists, multipart uploads and presigned
 * upload URLs. Buckets are addressed by path on a configured endpoint (local AWS), virtual-hosted
 * in AWS, as the SDK's client does; no request carries a checksum S3 does not require.
 */
import {
  AwsApiError,
  type AwsApiRequest,
  AwsService,
  dnsSuffix,
  escapeUri,
  escapeXml,
  region,
  xmlText,
  xmlTexts,
} from './aws-service';

export interface S3Object {
  /** The object's bytes, as they arrive (cancel it to stop early). */
  readonly body: ReadableStream<Uint8Array>;
  readonly contentLength: number | undefined;
  readonly versionId: string | undefined;
}

export interface PutObjectOptions {
  readonly contentType?: string;
  readonly cacheControl?: string;
}

export interface CompletedPart {
  readonly partNumber: number;
  readonly etag: string;
}

export class S3Api {
  readonly #service = new AwsService({
    signingName: 's3',
    endpointId: 'S3',
    host: (r) => `s3.${r}.${dnsSuffix(r)}`,
    uriEscapePath: false,
    markLocalRequestsAsTls: true,
  });

  /** GetObject (of `versionId`, if given). A missing key fails with NoSuchKey, if the role may list the bucket. */
  async getObject(bucket: string, key: string, versionId?: string): Promise<S3Object> {
    const response = await this.#service.send(this.#request('GET', bucket, key, { query: { versionId } }));
    if (!response.body) throw new Error(`S3 returned no body for ${key}`);
    const length = response.headers.get('content-length');
    return {
      body: response.body,
      contentLength: length === null ? undefined : Number(length),
      versionId: response.headers.get('x-amz-version-id') ?? undefined,
    };
  }

  /** PutObject; answers the version S3 gave the object (versioned buckets). */
  async putObject(
    bucket: string,
    key: string,
    body: string | Uint8Array,
    options: PutObjectOptions = {},
  ): Promise<{ readonly versionId: string | undefined }> {
    const response = await this.#service.send(
      this.#request('PUT', bucket, key, {
        headers: { 'content-type': options.contentType, 'cache-control': options.cacheControl },
        body,
      }),
    );
    await response.arrayBuffer();
    return { versionId: response.headers.get('x-amz-version-id') ?? undefined };
  }

  /** ListObjectsV2: the keys of the first `maxKeys` objects under `prefix`. */
  async listKeys(bucket: string, prefix: string, maxKeys: number): Promise<string[]> {
    const response = await this.#service.send(
      this.#request('GET', bucket, undefined, {
        query: { 'list-type': 2, prefix, 'max-keys': maxKeys },
      }),
    );
    return xmlTexts(await response.text(), 'Key');
  }

  /** CreateMultipartUpload: answers the upload id. */
  async createMultipartUpload(bucket: string, key: string): Promise<string> {
    const response = await this.#service.send(this.#request('POST', bucket, key, { query: { uploads: '' } }));
    const uploadId = xmlText(await response.text(), 'UploadId');
    if (!uploadId) throw new Error('S3 returned no multipart upload id');
    return uploadId;
  }

  /**
   * CompleteMultipartUpload. S3 may answer 200 and still fail (it says so in the body once the
   * parts are assembled): that throws too, as AwsApiError named by the code it gives.
   */
  async completeMultipartUpload(
    bucket: string,
    key: string,
    uploadId: string,
    parts: readonly CompletedPart[],
  ): Promise<void> {
    const body =
      '<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      parts
        .map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${escapeXml(p.etag)}</ETag></Part>`)
        .join('') +
      '</CompleteMultipartUpload>';
    const response = await this.#service.send(
      this.#request('POST', bucket, key, {
        query: { uploadId },
        headers: { 'content-type': 'application/xml' },
        body,
      }),
    );
    const text = await response.text();
    if (/<Error>/.test(text)) {
      const code = xmlText(text, 'Code') ?? 'InternalError';
      throw new AwsApiError(code, xmlText(text, 'Message') ?? code, response.status);
    }
  }

  /**
   * A presigned PutObject URL, or UploadPart URL with `part`: it carries the signing role's
   * permissions for this one key (or part) until it expires. Nothing but the host is signed, so
   * the uploader may send any content type; its payload is not signed (`UNSIGNED-PAYLOAD`).
   */
  presignPut(
    bucket: string,
    key: string,
    expiresInSeconds: number,
    part?: { readonly uploadId: string; readonly partNumber: number },
  ): Promise<string> {
    return this.#service.presign(
      this.#request('PUT', bucket, key, {
        query: part ? { partNumber: part.partNumber, uploadId: part.uploadId } : {},
        // Hoisted into the query, as the SDK's presigner does: S3 takes the payload as unsigned.
        headers: { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' },
      }),
      expiresInSeconds,
    );
  }

  /**
   * Local AWS serves buckets by path (`<endpoint>/<bucket>/<key>`); AWS by host, except for a
   * bucket name with dots, which the TLS certificate's `*.s3…` cannot cover.
   */
  #request(
    method: AwsApiRequest['method'],
    bucket: string,
    key: string | undefined,
    rest: Pick<AwsApiRequest, 'query' | 'headers' | 'body'>,
  ): AwsApiRequest {
    const keyPath = `/${key === undefined ? '' : key.split('/').map(escapeUri).join('/')}`;
    if (this.#service.configuredEndpoint() === undefined && !bucket.includes('.')) {
      const origin = `https://${bucket}.s3.${region()}.${dnsSuffix(region())}`;
      return { method, origin, path: keyPath, ...rest };
    }
    return { method, origin: this.#service.origin(), path: `/${escapeUri(bucket)}${keyPath}`, ...rest };
  }
}
