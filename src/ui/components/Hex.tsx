/**
 * Small helpers for the `0x…` hex strings of the view model (src/scenario/view.ts).
 */

/** Parse a `0x…` hex string (or decimal) to a bigint; 0n for anything unparsable. */
export function toBig(v: string | number | bigint | null | undefined): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? BigInt(Math.trunc(v)) : 0n;
  try {
    return BigInt(v.trim());
  } catch {
    return 0n;
  }
}

/** Format a bigint/number as lower-case `0x…` hex. */
export function hex(v: bigint | number, pad = 0): string {
  const b = typeof v === 'bigint' ? v : BigInt(Math.trunc(v));
  return '0x' + b.toString(16).padStart(pad, '0');
}

/** `0b…` binary, padded to `width` digits. */
export function bin(v: bigint, width: number): string {
  return '0b' + v.toString(2).padStart(width, '0');
}

/** A 64-bit hex dword padded to 16 digits with `_` every 4 digits for readability. */
export function dwordHex(v: string): string {
  const s = toBig(v).toString(16).padStart(16, '0');
  return '0x' + s.replace(/(.{4})(?=.)/g, '$1_');
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Byte count as `4 KiB`, `2 MiB`, `1.5 GiB`. */
export function fmtSize(v: string | number | bigint): string {
  let n = Number(toBig(v));
  let u = 0;
  while (n >= 1024 && u < UNITS.length - 1) {
    n /= 1024;
    u++;
  }
  const s = Number.isInteger(n) ? String(n) : n.toFixed(n < 10 ? 2 : 1).replace(/\.?0+$/, '');
  return `${s} ${UNITS[u]}`;
}

/** True when a `0x…` value is non-zero. */
export function nonzero(v: string): boolean {
  return toBig(v) !== 0n;
}

/** A monospace hex value. */
export function HexValue({ value, className = '' }: { value: string; className?: string }) {
  return <code className={`font-mono tabular-nums ${className}`}>{value}</code>;
}
