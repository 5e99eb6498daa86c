/**
 * The delta codecs: what a patch is made with, so that an agent is only sent patches it can apply.
 *
 * - `zstd-patch-from`: a zstd frame whose dictionary is the base (contract/zstd-delta.ts). Every
 *   agent applies it; an agent that reports no codecs is taken to apply only this one.
 * - `edgeops-bsdiff-v1`: an EDGD v1 patch (contract/delta-edgd-*.ts, docs/delta-format.md), applied
 *   in bounded memory. Agents that apply it say so in their shadow (`deltaCodecs`).
 *
 * A delta target's codec is signed (`codec` in its TUF custom facts; absent: zstd, as every delta
 * signed before codecs existed), and its target path says it too, so an old agent, which knows one
 * path per base, only ever finds the zstd patch there.
 */
export const DELTA_CODECS = ['zstd-patch-from', 'edgeops-bsdiff-v1'] as const;
export type DeltaCodec = (typeof DELTA_CODECS)[number];

export const ZSTD_PATCH_FROM: DeltaCodec = 'zstd-patch-from';
export const EDGD_V1: DeltaCodec = 'edgeops-bsdiff-v1';

/** What an agent that does not report its codecs applies. */
export const DEFAULT_DELTA_CODECS: readonly DeltaCodec[] = [ZSTD_PATCH_FROM];

export const isDeltaCodec = (value: unknown): value is DeltaCodec =>
  typeof value === 'string' && (DELTA_CODECS as readonly string[]).includes(value);

/**
 * The target path of a delta in `codec`, given the zstd path (`…/delta-<baseSha256>`, which old
 * agents expect): zstd keeps it, EDGD gets a suffix.
 */
export const deltaPathForCodec = (zstdPath: string, codec: DeltaCodec) =>
  codec === ZSTD_PATCH_FROM ? zstdPath : `${zstdPath}.edgd1`;

/** The codec a patch's first bytes say it is in: zstd frame magic, or EDGD's. */
export function sniffDeltaCodec(head: Uint8Array): DeltaCodec | undefined {
  if (head.length < 4) return undefined;
  const magic =
    ((head[0] as number) | ((head[1] as number) << 8) | ((head[2] as number) << 16)) +
    (head[3] as number) * 2 ** 24;
  if (magic === 0xfd2fb528) return ZSTD_PATCH_FROM;
  if (magic === 0x44474445) return EDGD_V1;
  return undefined;
}
