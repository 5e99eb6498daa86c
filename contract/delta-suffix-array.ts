/**
 * Suffix array construction by induced sorting (SA-IS, Nong, Zhang and Chan 2009), written for
 * the EDGD delta creator (contract/delta-edgd-create.ts): it sorts every suffix of a base image so
 * the creator can find, for any position of the new image, the longest match anywhere in the base.
 *
 * Why SA-IS: linear time, and apart from the result (4 bytes per input byte) it needs only a type
 * bit per byte and one bucket table per level; the reduced problem of each level lives inside the
 * result array. A 1 GiB base takes 4 GiB for the array plus at most 2 GiB of buckets in the first
 * recursion, which the delta-builder Lambda's 10 GB holds beside base and image.
 *
 * The end of the text is a virtual sentinel smaller than every byte, so a base of any bytes is
 * sorted as it is, without copying it into a wider alphabet.
 */

type Text = Uint8Array | Int32Array;

/** The suffix array of `text`: its suffix start positions in lexicographic order. */
export function suffixArray(text: Uint8Array): Int32Array {
  if (text.length >= 2 ** 31 - 1) throw new RangeError('suffixArray takes at most 2^31 - 2 bytes');
  const sa = new Int32Array(text.length);
  if (text.length > 0) sais(text, sa, text.length, 256);
  return sa;
}

const isS = (types: Uint8Array, i: number) => (types[i >> 3] as number) & (1 << (i & 7));
const setS = (types: Uint8Array, i: number) => {
  types[i >> 3] = (types[i >> 3] as number) | (1 << (i & 7));
};
/** Position `i` starts a leftmost-S substring (0 never does; the sentinel is handled implicitly). */
const isLms = (types: Uint8Array, i: number) => i > 0 && isS(types, i) !== 0 && isS(types, i - 1) === 0;

function bucketBounds(text: Text, n: number, alphabet: number, ends: boolean, bucket: Int32Array): void {
  bucket.fill(0);
  for (let i = 0; i < n; i++) bucket[text[i] as number] = (bucket[text[i] as number] as number) + 1;
  let sum = 0;
  for (let c = 0; c < alphabet; c++) {
    sum += bucket[c] as number;
    bucket[c] = ends ? sum : sum - (bucket[c] as number);
  }
}

function induce(
  text: Text,
  sa: Int32Array,
  n: number,
  alphabet: number,
  types: Uint8Array,
  bucket: Int32Array,
) {
  // L-type suffixes, left to right; the last suffix is L-type and follows the sentinel.
  bucketBounds(text, n, alphabet, false, bucket);
  {
    const c = text[n - 1] as number;
    sa[bucket[c] as number] = n - 1;
    bucket[c] = (bucket[c] as number) + 1;
  }
  for (let i = 0; i < n; i++) {
    const j = (sa[i] as number) - 1;
    if (j >= 0 && isS(types, j) === 0) {
      const c = text[j] as number;
      sa[bucket[c] as number] = j;
      bucket[c] = (bucket[c] as number) + 1;
    }
  }
  // S-type suffixes, right to left.
  bucketBounds(text, n, alphabet, true, bucket);
  for (let i = n - 1; i >= 0; i--) {
    const j = (sa[i] as number) - 1;
    if (j >= 0 && isS(types, j) !== 0) {
      const c = text[j] as number;
      const at = (bucket[c] as number) - 1;
      bucket[c] = at;
      sa[at] = j;
    }
  }
}

function sais(text: Text, sa: Int32Array, n: number, alphabet: number): void {
  if (n === 1) {
    sa[0] = 0;
    return;
  }
  const types = new Uint8Array((n >> 3) + 1);
  // The last character is L-type (it is greater than the sentinel after it).
  for (let i = n - 2; i >= 0; i--) {
    const a = text[i] as number;
    const b = text[i + 1] as number;
    if (a < b || (a === b && isS(types, i + 1) !== 0)) setS(types, i);
  }
  const bucket = new Int32Array(alphabet);

  // Stage 1: sort the LMS substrings by inducing from their unsorted positions.
  sa.fill(-1, 0, n);
  bucketBounds(text, n, alphabet, true, bucket);
  for (let i = 1; i < n; i++) {
    if (isLms(types, i)) {
      const c = text[i] as number;
      const at = (bucket[c] as number) - 1;
      bucket[c] = at;
      sa[at] = i;
    }
  }
  induce(text, sa, n, alphabet, types, bucket);

  // Compact the sorted LMS substrings into sa[0, lmsCount).
  let lmsCount = 0;
  for (let i = 0; i < n; i++) {
    const p = sa[i] as number;
    if (isLms(types, p)) sa[lmsCount++] = p;
  }
  // Name them: equal substrings share a name. Names go to sa[lmsCount + p/2] (LMS positions are
  // at least two apart, so they do not collide).
  sa.fill(-1, lmsCount, n);
  let names = 0;
  let previous = -1;
  for (let i = 0; i < lmsCount; i++) {
    const p = sa[i] as number;
    let differ = false;
    for (let d = 0; ; d++) {
      if (
        previous === -1 ||
        p + d === n ||
        previous + d === n ||
        text[p + d] !== text[previous + d] ||
        (isS(types, p + d) !== 0) !== (isS(types, previous + d) !== 0)
      ) {
        differ = true;
        break;
      }
      if (d > 0 && (isLms(types, p + d) || isLms(types, previous + d))) break;
    }
    if (differ) {
      names++;
      previous = p;
    }
    sa[lmsCount + (p >> 1)] = names - 1;
  }
  // Gather the names in text order at the end of sa: the reduced text.
  for (let i = n - 1, j = n - 1; i >= lmsCount; i--) {
    const name = sa[i] as number;
    if (name >= 0) sa[j--] = name;
  }

  // Stage 2: sort the reduced text (recursing while names repeat).
  const reduced = sa.subarray(n - lmsCount, n);
  const reducedSa = sa.subarray(0, lmsCount);
  if (names < lmsCount) {
    sais(reduced, reducedSa, lmsCount, names);
  } else {
    for (let i = 0; i < lmsCount; i++) reducedSa[reduced[i] as number] = i;
  }

  // Stage 3: map ranks back to LMS positions, place them at their bucket ends in order, induce.
  for (let i = 1, j = 0; i < n; i++) if (isLms(types, i)) reduced[j++] = i;
  for (let i = 0; i < lmsCount; i++) reducedSa[i] = reduced[reducedSa[i] as number] as number;
  sa.fill(-1, lmsCount, n);
  bucketBounds(text, n, alphabet, true, bucket);
  for (let i = lmsCount - 1; i >= 0; i--) {
    const p = sa[i] as number;
    sa[i] = -1;
    const c = text[p] as number;
    const at = (bucket[c] as number) - 1;
    bucket[c] = at;
    sa[at] = p;
  }
  induce(text, sa, n, alphabet, types, bucket);
}
