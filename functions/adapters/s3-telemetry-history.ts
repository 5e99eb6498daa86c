import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import type { HistoryObject, TelemetryHistory } from '../ports/telemetry-history';
import type { S3Api } from '../shared/aws-api/s3';

/** Where history objects live in the telemetry bucket (the Glue table's location). */
export const HISTORY_PREFIX = 'history/';

/** `history/dt=<YYYY-MM-DD>/<invocation id>.json.gz`: Hive-style `dt`, projected by the Glue table. */
export const historyObjectKey = (ingestDate: string, invocationId: string) =>
  `${HISTORY_PREFIX}dt=${ingestDate}/${invocationId}.json.gz`;

/**
 * TelemetryHistory in the telemetry bucket: rows as newline-delimited JSON, gzip'd as they are
 * appended (so an invocation holds its compressed rows, not the text: 100 batches × 120 windows
 * of 32 metrics is about 40 MB of JSON and a few MB gzip'd), one PutObject at commit.
 */
export class S3TelemetryHistory implements TelemetryHistory {
  constructor(
    private readonly s3: Pick<S3Api, 'putObject'>,
    private readonly bucket: string,
  ) {}

  begin(invocationId: string, ingestDate: string): HistoryObject {
    const gzip = createGzip();
    const chunks: Buffer[] = [];
    gzip.on('data', (chunk: Buffer) => chunks.push(chunk));
    let rowCount = 0;
    return {
      append: (rows) => {
        if (rows.length === 0) return;
        rowCount += rows.length;
        gzip.write(`${rows.map((row) => JSON.stringify(row)).join('\n')}\n`);
      },
      get rowCount() {
        return rowCount;
      },
      commit: async () => {
        const ended = once(gzip, 'end');
        gzip.end();
        await ended;
        if (rowCount === 0) return;
        await this.s3.putObject(
          this.bucket,
          historyObjectKey(ingestDate, invocationId),
          Buffer.concat(chunks),
          {
            contentType: 'application/x-ndjson',
          },
        );
      },
    };
  }
}
