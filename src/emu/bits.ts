/**
 * 64-bit helpers. Every architectural 64-bit quantity (addresses, descriptors,
 * register values) is a bigint in the emulator; these helpers keep field
 * extraction and insertion readable and exact.
 */

export const U64_MASK = (1n << 64n) - 1n;

/** Mask with bits [hi:lo] set. */
export function genmask(hi: number, lo: number): bigint {
  if (hi < lo) return 0n;
  return ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);
}

/** Extract bits [hi:lo] of v, shifted down. */
export function field(v: bigint, hi: number, lo: number): bigint {
  return (v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
}

/** Extract bits [hi:lo] of v as a JS number (hi - lo < 53). */
export function fieldN(v: bigint, hi: number, lo: number): number {
  return Number(field(v, hi, lo));
}

/** Single bit as boolean. */
export function bit(v: bigint, n: number): boolean {
  return ((v >> BigInt(n)) & 1n) === 1n;
}

/** Return v with bits [hi:lo] replaced by x (x is truncated to the field width). */
export function setField(v: bigint, hi: number, lo: number, x: bigint | number): bigint {
  const m = genmask(hi, lo);
  const xv = (BigInt(x) << BigInt(lo)) & m;
  return ((v & ~m) | xv) & U64_MASK;
}

/** Lower-case hex with 0x prefix, no leading zeros beyond 0x0. */
export function hex(v: bigint | number): string {
  const b = typeof v === 'bigint' ? v : BigInt(v);
  return '0x' + b.toString(16);
}

/** Sign-extend or plain: is v a power of two? */
export function isPow2(v: bigint): boolean {
  return v > 0n && (v & (v - 1n)) === 0n;
}

/** log2 of a power of two bigint. */
export function log2(v: bigint): number {
  let n = 0;
  let x = v;
  while (x > 1n) {
    x >>= 1n;
    n++;
  }
  return n;
}

export function alignDown(v: bigint, align: bigint): bigint {
  return v & ~(align - 1n);
}

export function isAligned(v: bigint, align: bigint): boolean {
  return (v & (align - 1n)) === 0n;
}
