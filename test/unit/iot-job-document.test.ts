import { describe, expect, it } from 'vitest';
import { JobDocumentV2 } from '../../contract/ota';
import {
  fitJobDocument,
  JobDocumentTooLargeError,
  MAX_JOB_DOCUMENT_BYTES,
  withPresignPlaceholders,
} from '../../functions/adapters/iot-job-dispatcher';

const sha = (i: number) => i.toString(16).padStart(64, '0');

/** A wave's document: `hardwareTypes` images with `deltas` deltas each, and roots 2…`roots`. */
function documentWith(hardwareTypes: number, deltas: number, roots = 10): JobDocumentV2 {
  const bucket = 'edgeops-artifactstore-bucket-0123456789ab';
  const metadata: Record<string, string> = {};
  for (let v = 2; v <= roots; v++) metadata[`${v}.root.json`] = `s3://${bucket}/tuf/${v}.root.json`;
  for (const name of ['timestamp', 'snapshot', 'targets'])
    metadata[`${name}.json`] = `s3://${bucket}/tuf/${name}.json`;
  return JobDocumentV2.parse({
    schema: 'edgeops.ota.v2',
    rolloutId: 'ro-0123456789ab',
    waveIndex: 0,
    operation: 'install',
    release: { releaseId: 'rel-2.0.0', version: '2.0.0' },
    trust: { metadata },
    artifacts: Array.from({ length: hardwareTypes }, (_, h) => ({
      hardwareType: `gateway-model-${h}`,
      target: `rel-2.0.0/gateway-model-${h}/image`,
      url: `s3://${bucket}/artifacts/art-00000000-0000-0000-0000-${String(h).padStart(12, '0')}`,
      deltas: Array.from({ length: deltas }, (_, d) => ({
        baseSha256: sha(h * 100 + d),
        target: `rel-2.0.0/gateway-model-${h}/delta-${sha(h * 100 + d)}`,
        url: `s3://${bucket}/deltas/rel-2.0.0/gateway-model-${h}/${sha(h * 100 + d)}.zst`,
      })),
    })),
    healthCheckSeconds: 60,
  });
}

describe('fitJobDocument: AWS IoT job documents are at most 32 KB (local AWS does not enforce it)', () => {
  it('keeps a document that fits as it is', () => {
    const document = withPresignPlaceholders(documentWith(2, 2));
    expect(fitJobDocument(document)).toBe(JSON.stringify(document));
  });

  it('leaves deltas out, never images, until the largest possible document fits', () => {
    const document = withPresignPlaceholders(documentWith(16, 8));
    expect(Buffer.byteLength(JSON.stringify(document))).toBeGreaterThan(MAX_JOB_DOCUMENT_BYTES);

    const fitted = JSON.parse(fitJobDocument(document)) as JobDocumentV2;

    expect(Buffer.byteLength(JSON.stringify(fitted))).toBeLessThanOrEqual(MAX_JOB_DOCUMENT_BYTES);
    expect(fitted.artifacts.map((a) => a.hardwareType)).toEqual(
      document.artifacts.map((a) => a.hardwareType),
    );
    const kept = fitted.artifacts.flatMap((a) => a.deltas);
    expect(kept.length).toBeGreaterThan(0);
    // What is kept is each image's first deltas (most devices), in order.
    fitted.artifacts.forEach((a, i) => {
      expect(a.deltas).toEqual(document.artifacts[i]?.deltas.slice(0, a.deltas.length));
    });
  });

  it('refuses with the reason when even the images alone do not fit', () => {
    expect(() => fitJobDocument(withPresignPlaceholders(documentWith(16, 0)), 2_000)).toThrow(
      JobDocumentTooLargeError,
    );
  });
});
