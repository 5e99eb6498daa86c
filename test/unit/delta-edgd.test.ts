import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sniffDeltaCodec } from '../../contract/delta-codecs';
import { applyEdgdDelta, bytesBase, bytesPatch, collectEdgd } from '../../contract/delta-edgd-apply';
import { createEdgdDelta, MatchFinder } from '../../contract/delta-edgd-create';
import {
  EDGD_HEADER_BYTES,
  EDGD_STREAM_ZSTD,
  EdgdFormatError,
  encodeEdgdHeader,
  VarintWriter,
} from '../../contract/delta-edgd-format';
import { suffixArray } from '../../contract/delta-suffix-array';
import { noise, sha256 } from '../support/bytes';

const naiveSuffixArray = (text: Uint8Array) =>
  [...text.keys()].sort((a, b) =>
    Buffer.compare(Buffer.from(text.subarray(a)), Buffer.from(text.subarray(b))),
  );

const edited = (base: Uint8Array, edits: readonly { at: number; remove: number; insert: Uint8Array }[]) => {
  let target = Buffer.from(base);
  for (const { at, remove, insert } of edits) {
    const i = target.length === 0 ? 0 : at % target.length;
    target = Buffer.concat([target.subarray(0, i), Buffer.from(insert), target.subarray(i + remove)]);
  }
  return target;
};

/** A hand-made patch: streams of our choosing behind a correct header. */
async function handMade(
  base: Uint8Array,
  steps: [number, number, number][],
  diff: Buffer,
  extra: Buffer,
  targetLength: number,
) {
  const { zstdCompressSync } = await import('node:zlib');
  const control = new VarintWriter();
  for (const [copy, insert, seek] of steps) {
    control.uint(copy);
    control.uint(insert);
    control.int(seek);
  }
  const streams = [control.bytes(), diff, extra].map((s) => zstdCompressSync(s));
  const header = encodeEdgdHeader({
    version: 1,
    compression: [EDGD_STREAM_ZSTD, EDGD_STREAM_ZSTD, EDGD_STREAM_ZSTD],
    baseLength: base.length,
    targetLength,
    controlLength: streams[0]?.length ?? 0,
    diffLength: streams[1]?.length ?? 0,
    extraLength: streams[2]?.length ?? 0,
    baseSha256: sha256(base),
    targetSha256: '0'.repeat(64),
  });
  return Buffer.concat([header, ...streams]);
}

describe('suffixArray', () => {
  it('sorts every suffix, for texts of few and many distinct bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 256 }), (bytes, alphabet) => {
        const text = bytes.map((b) => b % alphabet);
        expect([...suffixArray(text)]).toEqual(naiveSuffixArray(text));
      }),
      { numRuns: 300 },
    );
  });
});

describe('MatchFinder', () => {
  it('finds the longest match of each target position anywhere in the base', () => {
    const base = noise(4000, 7).map((b) => b % 3);
    const target = noise(300, 8).map((b) => b % 3);
    const finder = new MatchFinder(base, suffixArray(base));
    for (let t = 0; t < target.length; t++) {
      let longest = 0;
      for (let p = 0; p < base.length; p++) {
        let l = 0;
        while (p + l < base.length && t + l < target.length && base[p + l] === target[t + l]) l++;
        longest = Math.max(longest, l);
      }
      const found = finder.search(target, t);
      expect(found).toBe(longest);
      expect(
        Buffer.compare(base.subarray(finder.pos, finder.pos + found), target.subarray(t, t + found)),
      ).toBe(0);
    }
  });
});

describe('EDGD v1 delta', () => {
  it('rebuilds the target from the base and the patch, for random edits of random data', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 16 * 1024 }),
        fc.array(
          fc.record({
            at: fc.nat(),
            remove: fc.nat({ max: 512 }),
            insert: fc.uint8Array({ maxLength: 512 }),
          }),
          {
            maxLength: 8,
          },
        ),
        async (base, edits) => {
          const target = edited(base, edits);
          const patch = await createEdgdDelta(base, target, { level: 3 });
          expect(sha256(await collectEdgd(base, patch))).toBe(sha256(target));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('makes a patch much smaller than the image for a small change of a large one', async () => {
    const base = noise(1_000_000, 3);
    const target = edited(base, [
      { at: 1000, remove: 10, insert: randomBytes(40) },
      { at: 500_000, remove: 0, insert: randomBytes(100) },
    ]);
    // Moved code: the same bytes, shifted, with small differences every 64 bytes.
    for (let i = 600_000; i < 700_000; i += 64) target[i] = ((target[i] ?? 0) + 1) & 0xff;

    const patch = await createEdgdDelta(base, target, { level: 3 });

    expect(patch.length).toBeLessThan(8_000);
    expect(sniffDeltaCodec(patch)).toBe('edgeops-bsdiff-v1');
    expect((await collectEdgd(base, patch)).equals(target)).toBe(true);
  });

  it('refuses a patch of an unknown format version, naming it', async () => {
    const base = noise(10_000, 4);
    const patch = await createEdgdDelta(
      base,
      edited(base, [{ at: 5, remove: 1, insert: new Uint8Array([9]) }]),
    );
    patch[4] = 2;

    await expect(collectEdgd(base, patch)).rejects.toThrow(
      /unsupported EDGD format version 2: this agent applies version 1 only/,
    );
  });

  it('refuses a patch made for a base of another length', async () => {
    const base = noise(10_000, 4);
    const patch = await createEdgdDelta(base, base.subarray(0, 9000));

    await expect(collectEdgd(base.subarray(0, 9999), patch)).rejects.toThrow(
      /for a base of 10000 bytes, not 9999/,
    );
  });

  it('fails on a truncated patch or a corrupt stream, never yielding a whole image', async () => {
    const base = noise(50_000, 5);
    const target = edited(base, [{ at: 100, remove: 0, insert: randomBytes(2000) }]);
    const patch = await createEdgdDelta(base, target, { level: 3 });
    const corrupt = Buffer.from(patch);
    corrupt[EDGD_HEADER_BYTES + 20] = (corrupt[EDGD_HEADER_BYTES + 20] ?? 0) ^ 0xff;

    await expect(collectEdgd(base, patch.subarray(0, -10))).rejects.toThrow(EdgdFormatError);
    const rebuilt = await collectEdgd(base, corrupt).catch((error: unknown) => error);
    // A flipped byte is caught by the stream's checksum or shows in the result hash, never silently.
    if (Buffer.isBuffer(rebuilt)) expect(sha256(rebuilt)).not.toBe(sha256(target));
    else expect(rebuilt).toBeInstanceOf(Error);
  });

  it('refuses steps that read outside the base or write past the target', async () => {
    const base = noise(1000, 6);
    const outside = await handMade(
      base,
      [
        [10, 0, 995],
        [10, 0, 0],
      ],
      Buffer.alloc(20),
      Buffer.alloc(0),
      20,
    );
    const tooLong = await handMade(base, [[0, 30, 0]], Buffer.alloc(0), Buffer.alloc(30), 20);
    const before = await handMade(
      base,
      [
        [0, 0, -5],
        [10, 0, 0],
      ],
      Buffer.alloc(10),
      Buffer.alloc(0),
      10,
    );

    await expect(collectEdgd(base, outside)).rejects.toThrow(/reads outside the base/);
    await expect(collectEdgd(base, tooLong)).rejects.toThrow(/writes past the target length/);
    await expect(collectEdgd(base, before)).rejects.toThrow(/reads outside the base/);
  });

  it('refuses streams with bytes left over', async () => {
    const base = noise(1000, 6);
    const patch = await handMade(base, [[10, 0, 0]], Buffer.alloc(20), Buffer.alloc(0), 10);

    await expect(collectEdgd(base, patch)).rejects.toThrow(/diff stream has bytes left over/);
  });

  it('reads the base through its block cache, not whole', async () => {
    const base = noise(2_000_000, 9);
    const target = edited(base, [{ at: 1_000_000, remove: 0, insert: randomBytes(64) }]);
    const patch = await createEdgdDelta(base, target, { level: 3 });
    let largestRead = 0;
    const reader = bytesBase(base);
    const counted = {
      length: reader.length,
      read: (into: Uint8Array, offset: number, length: number, position: number) => {
        largestRead = Math.max(largestRead, length);
        return reader.read(into, offset, length, position);
      },
    };
    const chunks: Buffer[] = [];
    for await (const chunk of applyEdgdDelta(counted, bytesPatch(patch))) chunks.push(Buffer.from(chunk));

    expect(Buffer.concat(chunks).equals(target)).toBe(true);
    expect(largestRead).toBeLessThanOrEqual(64 * 1024);
  });
});
