/**
 * Writing native structures from JS numbers.
 *
 * @internal
 */

const TWO_32 = 0x1_0000_0000

/**
 * Stores `value` as a little-endian u64 at 32-bit word `index` of `words` (a byte offset
 * divided by 4). Addresses and lengths stay numbers on the hot path (user-space addresses
 * fit a double exactly): no BigInt is made.
 */
export const setU64 = (words: Uint32Array, index: number, value: number): void => {
  const high = Math.floor(value / TWO_32)
  words[index] = (value - high * TWO_32) >>> 0
  words[index + 1] = high >>> 0
}
