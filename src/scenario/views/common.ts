/**
 * Shared pieces of the view builders: 64-bit formatting, the generic
 * register-diagram builder and the plain-language decoders of enumerated
 * field values (cacheability, shareability, memory attributes, sizes).
 *
 * Everything here is pure: no emulator state is read or written.
 */

import { field, genmask, hex } from '../../emu/bits';
import { PS_BITS } from '../../emu/descriptor';
import type { FieldSpec } from '../../emu/descriptor';
import type { BitField, Hex, RegisterView } from '../view';

/** A 64-bit (or wider) value as `0x…` lower-case hex with no leading zeros. */
export function hx(v: bigint | number): Hex {
  if (typeof v === 'number') return hex(Number.isFinite(v) && v >= 0 ? BigInt(Math.trunc(v)) : 0n);
  return hex(v < 0n ? BigInt.asUintN(64, v) : v);
}

/** A 64-bit value from anything (never throws): non-bigints read as 0. */
export function u64(x: unknown): bigint {
  if (typeof x === 'bigint') return BigInt.asUintN(64, x);
  if (typeof x === 'number' && Number.isFinite(x)) return BigInt.asUintN(64, BigInt(Math.trunc(x)));
  return 0n;
}

/** Parse a view `Hex` back to a bigint (0 for anything malformed). */
export function fromHex(h: string | undefined): bigint {
  if (typeof h !== 'string' || !/^0x[0-9a-fA-F]+$/.test(h)) return 0n;
  return BigInt(h);
}

/**
 * Plain-language meaning of one field value. `all` holds every field of the
 * structure by name (decoded the same way), for fields whose meaning depends
 * on another (S2SL0 on S2TG, the descriptor Type bit on the level).
 */
export type MeaningFn = (name: string, value: bigint, all: ReadonlyMap<string, bigint>) => string | undefined;

/**
 * A register diagram of a structure of `raw.length` 64-bit words. Field
 * positions in `specs` are absolute over the whole structure (dword k's bit b
 * is k*64 + b), as STE_FIELDS, CD_FIELDS, COMMAND_FIELDS and EVENT_FIELDS give
 * them. Each field's value is its bits shifted down; `meaning` (optional)
 * says what that value means here.
 */
export function registerView(
  title: string,
  raw: readonly bigint[],
  specs: readonly FieldSpec[],
  notes: string[] = [],
  warnings: string[] = [],
  meaning?: MeaningFn,
): RegisterView {
  const words = raw.map(u64);
  const values = new Map<string, bigint>();
  const width = 64 * words.length;
  const inRange = specs.filter((s) => s.lo >= 0 && s.hi >= s.lo && s.hi < Math.max(width, 64));
  let whole: bigint | undefined;
  for (const s of inRange) {
    const k = Math.floor(s.lo / 64);
    let v: bigint;
    if (Math.floor(s.hi / 64) === k) v = field(words[k] ?? 0n, s.hi - 64 * k, s.lo - 64 * k);
    else {
      // A field straddling dwords: extract from the whole structure.
      if (whole === undefined) {
        whole = 0n;
        for (let i = words.length - 1; i >= 0; i--) whole = (whole << 64n) | words[i];
      }
      v = field(whole, s.hi, s.lo);
    }
    values.set(s.name, v);
  }
  const fields: BitField[] = inRange.map((s) => {
    const value = values.get(s.name) ?? 0n;
    const f: BitField = { name: s.name, hi: s.hi, lo: s.lo, value: hx(value), doc: s.doc };
    let m: string | undefined;
    try {
      m = meaning?.(s.name, value, values);
    } catch {
      m = undefined;
    }
    if (m !== undefined) f.meaning = m;
    return f;
  });
  return { title, width, raw: words.map(hx), fields, notes, warnings };
}

/** Bits of `raw` not covered by any field of `specs`, per dword (RES0 bits). */
const MASKS = new WeakMap<readonly FieldSpec[], bigint[]>();

function specMasks(specs: readonly FieldSpec[], n: number): bigint[] {
  let m = MASKS.get(specs);
  if (m === undefined || m.length < n) {
    m = new Array<bigint>(Math.max(n, 8)).fill(0n);
    for (const s of specs) {
      for (let k = Math.floor(s.lo / 64); k <= Math.floor(s.hi / 64) && k < m.length; k++) {
        const lo = Math.max(s.lo, k * 64) - k * 64;
        const hi = Math.min(s.hi, k * 64 + 63) - k * 64;
        m[k] |= genmask(hi, lo);
      }
    }
    MASKS.set(specs, m);
  }
  return m;
}

/** Bits of `raw` not covered by any field of `specs` (or `ignore`), per dword (RES0 bits). */
export function res0Set(raw: readonly bigint[], specs: readonly FieldSpec[], ignore: readonly FieldSpec[] = []): Array<{ dword: number; bits: bigint }> {
  const a = specMasks(specs, raw.length);
  const b = ignore.length ? specMasks(ignore, raw.length) : undefined;
  const out: Array<{ dword: number; bits: bigint }> = [];
  raw.forEach((w, k) => {
    const bits = u64(w) & ~a[k] & ~(b ? b[k] : 0n);
    if (bits !== 0n) out.push({ dword: k, bits });
  });
  return out;
}

/** One warning line per dword with RES0 bits set. */
export function res0Warnings(raw: readonly bigint[], specs: readonly FieldSpec[], what: string, ignore: readonly FieldSpec[] = []): string[] {
  return res0Set(raw, specs, ignore).map(
    ({ dword, bits }) => `${what}: RES0 bits set in dword ${dword} (${hx(bits)}); software must write them as 0`,
  );
}

// ---------------------------------------------------------------------------
// Enumerated values

export function bin(v: number | bigint, width: number): string {
  return '0b' + v.toString(2).padStart(width, '0');
}

const CACHE = ['non-cacheable', 'write-back, read/write-allocate', 'write-through, read-allocate', 'write-back, read-allocate, no write-allocate'];
/** IRGN/ORGN-style cacheability (STE S1CIR/S2IR0, CD IR0/OR0, …). */
export function cacheability(v: bigint): string {
  return CACHE[Number(v & 3n)];
}

const SHARE = ['non-shareable', 'reserved (behaves as non-shareable)', 'outer shareable', 'inner shareable'];
export function shareability(v: bigint): string {
  return SHARE[Number(v & 3n)];
}

/** IPS / PS / S2PS encodings. */
export function psMeaning(v: bigint): string {
  const b = PS_BITS[Number(v)];
  return b === undefined ? 'reserved (behaves as the OAS)' : `${b}-bit output addresses`;
}

/** Human size: 4KB, 2MB, 1GB, 512GB, 256TB… */
export function sizeName(bytes: bigint): string {
  const units: Array<[bigint, string]> = [
    [1n << 50n, 'PB'],
    [1n << 40n, 'TB'],
    [1n << 30n, 'GB'],
    [1n << 20n, 'MB'],
    [1n << 10n, 'KB'],
  ];
  for (const [u, n] of units) if (bytes >= u && bytes % u === 0n) return `${bytes / u}${n}`;
  return `${bytes} bytes`;
}

function cacheKind(n: number): string {
  if (n === 4) return 'NC';
  const top = n >> 2;
  const alloc = n & 3;
  const a = alloc === 3 ? ' RW-alloc' : alloc === 2 ? ' R-alloc' : alloc === 1 ? ' W-alloc' : '';
  if (top === 0) return `WT transient${a}`;
  if (top === 1) return `WB transient${a}`;
  if (top === 2) return `WT${a}`;
  return `WB${a}`;
}

/** One MAIR attribute byte (as stage-1 AttrIndx selects it). */
export function mairAttrName(b: number): string {
  const v = b & 0xff;
  if ((v & 0xf0) === 0) {
    if ((v & 3) !== 0) return `0x${v.toString(16).padStart(2, '0')} (UNPREDICTABLE device encoding)`;
    return ['Device-nGnRnE', 'Device-nGnRE', 'Device-nGRE', 'Device-GRE'][(v >> 2) & 3];
  }
  if ((v & 0x0f) === 0) return `0x${v.toString(16).padStart(2, '0')} (UNPREDICTABLE: inner attribute 0)`;
  const o = cacheKind(v >> 4);
  const i = cacheKind(v & 0xf);
  return o === i ? `Normal ${o}` : `Normal inner ${i}, outer ${o}`;
}

/** Four MAIR attribute bytes of a 32-bit MAIR half, starting at attribute `first`. */
export function mairHalf(v: bigint, first: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 4; i++) parts.push(`Attr${first + i} ${mairAttrName(Number((v >> BigInt(8 * i)) & 0xffn))}`);
  return parts.join('; ');
}

/** Stage-2 MemAttr[3:0] (no FWB). */
export function s2MemAttrName(v: number): string {
  const m = v & 0xf;
  if ((m & 0xc) === 0) return ['Device-nGnRnE', 'Device-nGnRE', 'Device-nGRE', 'Device-GRE'][m & 3];
  const k = (x: number): string => (x === 1 ? 'NC' : x === 2 ? 'WT' : x === 3 ? 'WB' : 'reserved');
  const o = k(m >> 2);
  const i = k(m & 3);
  return o === i ? `Normal ${o}` : `Normal inner ${i}, outer ${o}`;
}

/** `true`/`false` flag meanings. */
export function flag(v: bigint, on: string, off: string): string {
  return v !== 0n ? on : off;
}
