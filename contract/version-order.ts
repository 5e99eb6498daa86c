/**
 * Orders firmware versions the way semantic versioning does, generalised to any number of
 * dot-separated parts: numeric parts compare as numbers, others as text, a missing part counts
 * as 0, a pre-release (`1.2.0-rc.1`) comes before its release, and build metadata (`+…`) is
 * ignored. Devices use it to refuse downgrades.
 */
export function compareVersions(a: string, b: string): number {
  const [mainA = '', preA] = splitVersion(a);
  const [mainB = '', preB] = splitVersion(b);
  const main = compareParts(mainA.split('.'), mainB.split('.'), '0');
  if (main !== 0) return main;
  if (preA === undefined || preB === undefined) return preA === preB ? 0 : preA === undefined ? 1 : -1;
  return compareParts(preA.split('.'), preB.split('.'), undefined);
}

function splitVersion(version: string): [string | undefined, string | undefined] {
  const withoutBuild = version.split('+')[0] ?? '';
  const dash = withoutBuild.indexOf('-');
  return dash < 0 ? [withoutBuild, undefined] : [withoutBuild.slice(0, dash), withoutBuild.slice(dash + 1)];
}

function compareParts(a: string[], b: string[], missing: string | undefined): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? missing;
    const y = b[i] ?? missing;
    // Pre-release identifiers: fewer of them sorts first (1.0.0-rc < 1.0.0-rc.1).
    if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? -1 : 1;
    const order = comparePart(x, y);
    if (order !== 0) return order;
  }
  return 0;
}

function comparePart(x: string, y: string): number {
  const numeric = /^\d+$/;
  if (numeric.test(x) && numeric.test(y)) {
    const [nx, ny] = [BigInt(x), BigInt(y)];
    return nx === ny ? 0 : nx < ny ? -1 : 1;
  }
  if (numeric.test(x)) return -1;
  if (numeric.test(y)) return 1;
  return x < y ? -1 : x > y ? 1 : 0;
}
