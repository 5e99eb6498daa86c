/**
 * Our delta codec as a command, so the benchmark can time it and read its peak memory the same
 * way as xdelta3 and zstd: `delta-tool create <base> <target> <patch>` | `apply <base> <patch> <out>`.
 */
import { createReadStream, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { applyDelta, createDelta } from '../contract/zstd-delta';

const [command, basePath, second, third] = process.argv.slice(2);
if (!basePath || !second || !third) throw new Error('usage: delta-tool create|apply <base> <in> <out>');
const base = readFileSync(basePath);
if (command === 'create') {
  writeFileSync(third, await createDelta(base, readFileSync(second)));
} else if (command === 'apply') {
  await pipeline(applyDelta(base, createReadStream(second)), createWriteStream(third));
} else {
  throw new Error(`unknown command ${command}`);
}
