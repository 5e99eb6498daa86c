/**
 * Sends a file's bytes to the URLs `POST /artifacts` presigned: one PUT, or each part's byte range
 * to its URL (four at a time), streamed from disk so a 20 GiB image never sits in memory, and
 * counting bytes as the socket takes them for the progress bar.
 */
import { createReadStream } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { UploadInstructions } from '../operator-client/operator-api-client';
import { CliError } from './errors';
import { formatBytes } from './output';

/**
 * Headers every presigned PUT gets. The bucket allows TLS only. Local AWS serves plain HTTP and
 * counts a request as TLS only when it carries `X-Forwarded-Proto: https` (README: what local AWS
 * cannot show), so an `http:` URL gets that header; AWS's `https:` URLs need none.
 */
export function uploadHeaders(url: string): Record<string, string> {
  return new URL(url).protocol === 'http:' ? { 'x-forwarded-proto': 'https' } : {};
}

/** `[#########-----------]  45%  4.5 MiB of 10.0 MiB  1.2 MiB/s` */
export function renderProgress(sent: number, total: number, elapsedMs: number, width = 24): string {
  const fraction = total > 0 ? Math.min(1, sent / total) : 1;
  const filled = Math.round(fraction * width);
  const rate = elapsedMs > 0 ? (sent / elapsedMs) * 1000 : 0;
  return (
    `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ` +
    `${formatBytes(sent)} of ${formatBytes(total)}  ${formatBytes(Math.round(rate))}/s`
  );
}

export interface ProgressSink {
  /** Bytes sent so far, of all. */
  update(sent: number): void;
  done(): void;
}

/**
 * A progress bar on stderr: redrawn on one line on a terminal; else a line at every further 10 %
 * (so a log shows it moving without a line per chunk).
 */
export function progressBar(
  out: { write(text: string): unknown },
  tty: boolean,
  total: number,
  now: () => number = Date.now,
): ProgressSink {
  const started = now();
  let lastDecile = -1;
  let lastDraw = 0;
  return {
    update(sent) {
      const line = renderProgress(sent, total, now() - started);
      if (tty) {
        if (now() - lastDraw < 100 && sent < total) return;
        lastDraw = now();
        out.write(`\r${line}`);
        return;
      }
      const decile = Math.floor((total > 0 ? sent / total : 1) * 10);
      if (decile > lastDecile) {
        lastDecile = decile;
        out.write(`${line}\n`);
      }
    },
    done() {
      if (tty) out.write('\n');
    },
  };
}

/** PUTs `length` bytes of `file` from `offset`; resolves with the answer's ETag. */
export function putRange(
  url: string,
  file: string,
  offset: number,
  length: number,
  onBytes: (n: number) => void,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: 'PUT',
        headers: { 'content-length': String(length), ...uploadHeaders(url) },
        ...(signal ? { signal } : {}),
      },
      (response: IncomingMessage) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(response.headers.etag);
          else {
            const text = Buffer.concat(chunks).toString('utf8');
            const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
            const message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1];
            reject(
              new CliError(
                `storage refused the upload (${status}${code ? ` ${code}` : ''})${message ? `: ${message}` : ''}`,
              ),
            );
          }
        });
        response.on('error', reject);
      },
    );
    req.on('error', reject);
    if (length === 0) {
      req.end();
      return;
    }
    const stream = createReadStream(file, { start: offset, end: offset + length - 1 });
    stream.on('data', (chunk) => onBytes((chunk as Buffer).length));
    stream.on('error', (error) => req.destroy(error));
    stream.pipe(req);
  });
}

/**
 * Uploads as the instructions say and returns the part list `POST /artifacts/{id}/complete` needs
 * (undefined for a single PUT). Parts go `concurrency` at a time, in order of their numbers.
 */
export async function uploadFile(
  file: string,
  size: number,
  upload: UploadInstructions,
  options: { progress?: ProgressSink; concurrency?: number; signal?: AbortSignal } = {},
): Promise<{ partNumber: number; etag: string }[] | undefined> {
  let sent = 0;
  const onBytes = (n: number) => {
    sent += n;
    options.progress?.update(sent);
  };
  options.progress?.update(0);
  if (upload.type === 'single') {
    await putRange(upload.url, file, 0, size, onBytes, options.signal);
    options.progress?.done();
    return undefined;
  }
  const parts: { partNumber: number; etag: string }[] = [];
  const queue = [...upload.parts];
  const worker = async () => {
    for (let part = queue.shift(); part; part = queue.shift()) {
      const etag = await putRange(part.url, file, part.offset, part.length, onBytes, options.signal);
      if (!etag) throw new CliError(`storage answered part ${part.partNumber} with no ETag`);
      parts.push({ partNumber: part.partNumber, etag });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
  options.progress?.done();
  return parts.sort((a, b) => a.partNumber - b.partNumber);
}
