/** Parses "4, 30%, 100%": a device count or a percent of the target per wave. */
export function parseWaves(text: string): ({ count: number } | { percent: number })[] {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new Error('Waves: give at least one wave, e.g. "4, 100%"');
  return parts.map((part) => {
    const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(part);
    if (percent) return { percent: Number(percent[1]) };
    if (/^\d+$/.test(part)) return { count: Number(part) };
    throw new Error(`Waves: "${part}" is neither a device count (4) nor a percent (30%)`);
  });
}
