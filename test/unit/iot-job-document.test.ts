import { describe, expect, it } from 'vitest';
import { JobDocumentV2, JobDocumentV3 } from '../../contract/ota';
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
    const document = withPresignPlaceholders(documentWith(16, 8)) as JobDocumentV2;
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

const BUCKET = 'edgeops-artifactstore-bucket-0123456789ab';
const COMPONENTS = ['rootfs', 'app', 'model', 'config', 'agent', 'ui', 'certs', 'rules'];

/** A v3 document: `hardwareTypes` × `components` images with `deltas` deltas each, roots 2…10. */
function v3DocumentWith(hardwareTypes: number, components: number, deltas: number): JobDocumentV3 {
  const metadata: Record<string, string> = {};
  for (let v = 2; v <= 10; v++) metadata[`${v}.root.json`] = `s3://${BUCKET}/tuf/${v}.root.json`;
  for (const name of ['timestamp', 'snapshot', 'targets'])
    metadata[`${name}.json`] = `s3://${BUCKET}/tuf/${name}.json`;
  return JobDocumentV3.parse({
    schema: 'edgeops.ota.v3',
    rolloutId: 'ro-0123456789ab',
    waveIndex: 0,
    operation: 'install',
    release: { releaseId: 'rel-2.0.0', version: '2.0.0' },
    trust: { metadata },
    artifacts: Array.from({ length: hardwareTypes }, (_, h) => ({
      hardwareType: `gw-${h}`,
      components: COMPONENTS.slice(0, components).map((name, c) => ({
        name,
        target: `rel-2.0.0/gw-${h}/${name}/image`,
        url: `s3://${BUCKET}/artifacts/art-00000000-0000-0000-${String(h).padStart(4, '0')}-${String(c).padStart(12, '0')}`,
        deltas: Array.from({ length: deltas }, (_, d) => {
          const base = sha(h * 10_000 + c * 100 + d);
          return {
            baseSha256: base,
            target: `rel-2.0.0/gw-${h}/${name}/delta-${base}`,
            url: `s3://${BUCKET}/deltas/rel-2.0.0/gw-${h}/${name}/${base}.zst`,
          };
        }),
      })),
      ...(h === 0 ? { download: { minBytesPerSecond: 2048, maxSeconds: 86_400 } } : {}),
    })),
    healthCheckSeconds: 60,
  });
}

describe('fitJobDocument for releases of several components (v3)', () => {
  it('presigns every component image and delta, and the metadata', () => {
    const document = withPresignPlaceholders(v3DocumentWith(2, 3, 2)) as JobDocumentV3;

    const urls = [
      ...Object.values(document.trust.metadata),
      ...document.artifacts.flatMap((a) =>
        a.components.flatMap((c) => [c.url, ...c.deltas.map((d) => d.url)]),
      ),
    ];
    expect(urls).toHaveLength(12 + 2 * 3 * 3);
    for (const url of urls)
      expect(url).toMatch(/^\$\{aws:iot:s3-presigned-url:https:\/\/s3\.amazonaws\.com\//);
  });

  it('fits 16 hardware types × 8 components, leaving deltas out across components, never an image', () => {
    const document = withPresignPlaceholders(v3DocumentWith(16, 8, 8)) as JobDocumentV3;
    expect(Buffer.byteLength(JSON.stringify(document))).toBeGreaterThan(8 * MAX_JOB_DOCUMENT_BYTES);

    const json = fitJobDocument(document);
    const fitted = JSON.parse(json) as JobDocumentV3;

    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(MAX_JOB_DOCUMENT_BYTES);
    expect(
      fitted.artifacts.map((a) => [a.hardwareType, a.components.map((c) => [c.name, c.target, c.url])]),
    ).toEqual(
      document.artifacts.map((a) => [a.hardwareType, a.components.map((c) => [c.name, c.target, c.url])]),
    );
    expect(fitted.artifacts[0]?.download).toEqual({ minBytesPerSecond: 2048, maxSeconds: 86_400 });
    // What is kept of each image's deltas is its first ones (most devices), and the lists end up
    // within one of each other: no component loses all while another keeps many.
    const kept = fitted.artifacts.flatMap((a, h) =>
      a.components.map((c, i) => {
        expect(c.deltas).toEqual(document.artifacts[h]?.components[i]?.deltas.slice(0, c.deltas.length));
        return c.deltas.length;
      }),
    );
    expect(Math.max(...kept) - Math.min(...kept)).toBeLessThanOrEqual(1);
  });

  it('keeps deltas that fit, dropping the longest lists first', () => {
    const document = withPresignPlaceholders(v3DocumentWith(2, 4, 8)) as JobDocumentV3;
    const full = Buffer.byteLength(JSON.stringify(document));
    // What leaving out the last delta of the first three images saves (entry and comma).
    const saved = [0, 1, 2]
      .map((c) => document.artifacts[0]?.components[c]?.deltas[7])
      .reduce((sum, delta) => sum + Buffer.byteLength(JSON.stringify(delta)) + 1, 0);

    const json = fitJobDocument(document, full - saved);

    const lengths = (JSON.parse(json) as JobDocumentV3).artifacts.flatMap((a) =>
      a.components.map((c) => c.deltas.length),
    );
    expect(lengths).toEqual([7, 7, 7, 8, 8, 8, 8, 8]);
    expect(Buffer.byteLength(json)).toBe(full - saved);
  });

  it('fails with the reason when the images alone do not fit', () => {
    const document = withPresignPlaceholders(v3DocumentWith(16, 8, 1));

    expect(() => fitJobDocument(document, 20_000)).toThrow(
      /without deltas, over AWS IoT's 20000: the release has too many hardware types and components \(16 hardware types, 128 images\) for one job/,
    );
  });
});
