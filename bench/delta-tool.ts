/**
 * Our delta codecs as a command, so the benchmark can time them and read their peak memory the
 * same way as the other tools:
 * `delta-tool <zstd|edgd> create <base> <target> <patch>` | `<zstd|edgd> apply <base> <patch> <out>`.
 * The EDGD apply runs as the agent's does: base by positioned reads, patch and output streamed.
 */
import { createReadStream, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { applyEdgdDelta, openFile } from '../contract/delta-edgd-apply';
import { createEdgdDeltaWithIndex } from '../contract/delta-edgd-create';
import { suffixArray } from '../contract/delta-suffix-array';
import { applyDelta, createDelta } from '../contract/zstd-delta';

const [codec, command, basePath, second, third] = process.argv.slice(2);
if (!basePath || !second || !third)
  throw new Error('usage: delta-tool zstd|edgd create|apply <base> <in> <out>');
if (codec === 'zstd' && command === 'create') {
  writeFileSync(third, await createDelta(readFileSync(basePath), readFileSync(second)));
} else if (codec === 'zstd' && command === 'apply') {
  await pipeline(applyDelta(readFileSync(basePath), createReadStream(second)), createWriteStream(third));
} else if (codec === 'edgd' && command === 'create') {
  // As the builder does: index the base first, then read the target.
  const base = readFileSync(basePath);
  const index = suffixArray(base);
  writeFileSync(third, await createEdgdDeltaWithIndex(base, index, readFileSync(second)));
} else if (codec === 'edgd' && command === 'apply') {
  // What the apply adds to a process that has loaded its code (an agent's baseline): peak RSS
  // of the whole run minus RSS just before it, written where the benchmark asks.
  const before = process.memoryUsage().rss;
  const base = await openFile(basePath);
  const patch = await openFile(second);
  try {
    await pipeline(Readable.from(applyEdgdDelta(base, patch)), createWriteStream(third));
  } finally {
    await Promise.all([base.close(), patch.close()]);
  }
  const report = process.env.EDGEOPS_BENCH_APPLY_MEMORY;
  if (report)
    writeFileSync(
      report,
      JSON.stringify({ beforeMb: before / 2 ** 20, peakMb: process.resourceUsage().maxRSS / 1024 }),
    );
} else {
  throw new Error(`unknown codec or command: ${codec} ${command}`);
}
