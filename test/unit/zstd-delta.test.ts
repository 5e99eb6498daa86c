import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyDelta, collect, createDelta, patchStream, windowLogFor } from '../../contract/zstd-delta';

const roundTrip = async (base: Buffer, target: Buffer) =>
  collect(applyDelta(base, patchStream(await createDelta(base, target, { level: 3 }))));

describe('zstd delta', () => {
  it('rebuilds the target from the base and the patch, for random edits of random data', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 0, maxLength: 64 * 1024 }),
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
        async (baseBytes, edits) => {
          const base = Buffer.from(baseBytes);
          let target = base;
          for (const { at, remove, insert } of edits) {
            const i = target.length === 0 ? 0 : at % target.length;
            target = Buffer.concat([target.subarray(0, i), Buffer.from(insert), target.subarray(i + remove)]);
          }
          expect((await roundTrip(base, target)).equals(target)).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('rebuilds a real binary after a patch-level change, with a patch far smaller than the file', async () => {
    const base = readFileSync(process.execPath).subarray(0, 8 * 1024 * 1024);
    const target = Buffer.concat([base.subarray(0, 3_000_000), randomBytes(4096), base.subarray(3_004_096)]);

    const patch = await createDelta(base, target, { level: 3 });

    expect(patch.length).toBeLessThan(target.length / 50);
    expect((await collect(applyDelta(base, patchStream(patch)))).equals(target)).toBe(true);
  });

  it('fails, and yields no image, when the patch is applied to another base', async () => {
    const base = randomBytes(32 * 1024);
    const patch = await createDelta(base, Buffer.concat([base, Buffer.from('v2')]));

    await expect(collect(applyDelta(randomBytes(32 * 1024), patchStream(patch)))).rejects.toThrow();
  });

  it('refuses a patch that needs a larger window than the device allows', async () => {
    const base = randomBytes(4 * 1024 * 1024);
    const patch = await createDelta(base, Buffer.concat([Buffer.from('x'), base]), { level: 1 });

    await expect(collect(applyDelta(base, patchStream(patch), 20))).rejects.toThrow();
  });

  it('sizes the window to cover the whole file', () => {
    expect(windowLogFor(125 * 1024 * 1024)).toBe(27);
    expect(windowLogFor(1)).toBe(10);
  });
});
