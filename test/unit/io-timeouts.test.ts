import { describe, expect, it } from 'vitest';
import { ioTimeoutMs, MAX_IO_TIMEOUT_SCALE } from '../../device/ota/io-timeouts';

describe('ioTimeoutMs', () => {
  it('keeps the base timeout in the field (time factor 1) and above', () => {
    expect(ioTimeoutMs(30_000, 1)).toBe(30_000);
    expect(ioTimeoutMs(30_000, 5)).toBe(30_000);
    expect(ioTimeoutMs(30_000)).toBe(30_000);
  });

  it('grows as 1/timeFactor when the simulator runs time faster', () => {
    expect(ioTimeoutMs(30_000, 0.5)).toBe(60_000);
    expect(ioTimeoutMs(30_000, 0.2)).toBe(150_000);
  });

  it(`stops growing at ${MAX_IO_TIMEOUT_SCALE} times the base, so a hung connection still ends`, () => {
    expect(ioTimeoutMs(30_000, 0.001)).toBe(30_000 * MAX_IO_TIMEOUT_SCALE);
  });

  it('treats a time factor of 0 or less as the field', () => {
    expect(ioTimeoutMs(30_000, 0)).toBe(30_000);
    expect(ioTimeoutMs(30_000, -1)).toBe(30_000);
  });
});
