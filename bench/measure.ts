/** Wall time and peak memory (RSS and heap) of one synchronous or async run. */
export async function measure<T>(
  run: () => T | Promise<T>,
): Promise<{ result: T; ms: number; peakRssMb: number; peakHeapMb: number }> {
  globalThis.gc?.();
  const before = process.memoryUsage();
  let peakRss = before.rss;
  let peakHeap = before.heapUsed;
  const sample = () => {
    const now = process.memoryUsage();
    peakRss = Math.max(peakRss, now.rss);
    peakHeap = Math.max(peakHeap, now.heapUsed);
  };
  const timer = setInterval(sample, 5);
  const start = performance.now();
  const result = await run();
  const ms = performance.now() - start;
  clearInterval(timer);
  sample();
  const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
  return { result, ms: Math.round(ms), peakRssMb: mb(peakRss), peakHeapMb: mb(peakHeap - before.heapUsed) };
}
