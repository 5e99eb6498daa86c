/**
 * Made-up firmware images that behave like real ones between versions: each hardware type has
 * its own base bytes, and each version changes about 2 % of them in scattered runs and appends
 * its name. Deterministic, so the simulated fleet's factory image is byte for byte the image of
 * release 1.0.0, and deltas between versions are small, as they are for real firmware.
 */
import { createHash } from 'node:crypto';

export function firmwareImage(hardwareType: string, version: string, size = 256 * 1024): Buffer {
  const image = Buffer.alloc(size);
  fill(image, seedOf(`base:${hardwareType}`));
  const edit = random(seedOf(`edit:${hardwareType}:${version}`));
  for (let run = 0; run < 40; run++) {
    const at = Math.floor(edit() * (size - 256));
    const length = 16 + Math.floor(edit() * 240);
    for (let i = at; i < at + length && i < size; i++) image[i] = Math.floor(edit() * 256);
  }
  return Buffer.concat([image, Buffer.from(`\nedgeops simulated firmware ${hardwareType} ${version}\n`)]);
}

const seedOf = (text: string) => createHash('sha256').update(text).digest().readUInt32LE(0) || 1;

function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function fill(buffer: Buffer, seed: number) {
  const next = random(seed);
  for (let i = 0; i < buffer.length; i++) buffer[i] = Math.floor(next() * 256);
}
