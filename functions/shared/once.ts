/** Makes a value on first call and hands out the same one afterwards (one per Lambda container). */
export function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => {
    value ??= make();
    return value;
  };
}
