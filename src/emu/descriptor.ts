/**
 * VMSAv8-64 translation table descriptors: every field of stage-1 and
 * stage-2 table, block and page descriptors, for the 4K, 16K and 64K
 * granules, including the 64K-granule 52-bit output address layout
 * (FEAT_LPA: OA[51:48] held in descriptor bits [15:12]).
 *
 * Field names are the architecture's. Each layout is also exported as data
 * (name, bit range, meaning) so views can draw register diagrams from the
 * same source of truth the emulator decodes with.
 */

import { bit, field, fieldN, genmask, setField } from './bits';

export type Granule = 4096 | 16384 | 65536;
export const GRANULES: readonly Granule[] = [4096, 16384, 65536];

export function granuleShift(g: Granule): number {
  return g === 4096 ? 12 : g === 16384 ? 14 : 16;
}

/** Index bits resolved per level: G - 3. */
export function bitsPerLevel(g: Granule): number {
  return granuleShift(g) - 3;
}

/** Shift of the address bits that index level `lvl` (0..3). */
export function levelShift(g: Granule, lvl: number): number {
  return granuleShift(g) + (3 - lvl) * bitsPerLevel(g);
}

/** Size in bytes mapped by one entry at level `lvl`. */
export function blockSize(g: Granule, lvl: number): bigint {
  return 1n << BigInt(levelShift(g, lvl));
}

export interface FieldSpec {
  name: string;
  hi: number;
  lo: number;
  doc: string;
}

const TYPE_FIELDS: FieldSpec[] = [
  { name: 'Valid', hi: 0, lo: 0, doc: '1: valid descriptor; 0: invalid (translation fault)' },
  { name: 'Type', hi: 1, lo: 1, doc: 'At levels 0-2: 1 table, 0 block. At level 3: 1 page, 0 reserved' },
];

/** Stage-1 block/page (leaf) descriptor fields. */
export const S1_LEAF_FIELDS: FieldSpec[] = [
  ...TYPE_FIELDS,
  { name: 'AttrIndx', hi: 4, lo: 2, doc: 'Index of the memory attributes in MAIR' },
  { name: 'NS', hi: 5, lo: 5, doc: 'Non-secure output address (Secure state only)' },
  { name: 'AP[1]', hi: 6, lo: 6, doc: 'Unprivileged (EL0) access allowed' },
  { name: 'AP[2]', hi: 7, lo: 7, doc: 'Read-only (no write at any privilege)' },
  { name: 'SH', hi: 9, lo: 8, doc: 'Shareability: 0 non-shareable, 2 outer, 3 inner' },
  { name: 'AF', hi: 10, lo: 10, doc: 'Access flag: 0 gives an Access flag fault unless AFFD' },
  { name: 'nG', hi: 11, lo: 11, doc: 'not Global: 1 means the TLB entry is tagged with the ASID' },
  { name: 'OA', hi: 47, lo: 12, doc: 'Output address (bits below the block size are RES0)' },
  { name: 'GP', hi: 50, lo: 50, doc: 'Guarded page (BTI)' },
  { name: 'DBM', hi: 51, lo: 51, doc: 'Dirty bit modifier (HTTU)' },
  { name: 'Contiguous', hi: 52, lo: 52, doc: 'Hint: this entry is one of a contiguous set' },
  { name: 'PXN', hi: 53, lo: 53, doc: 'Privileged execute-never' },
  { name: 'UXN', hi: 54, lo: 54, doc: 'Unprivileged execute-never (XN)' },
  { name: 'SW', hi: 58, lo: 55, doc: 'Reserved for software use' },
];

/** Stage-1 table descriptor fields. */
export const S1_TABLE_FIELDS: FieldSpec[] = [
  ...TYPE_FIELDS,
  { name: 'NLTA', hi: 47, lo: 12, doc: 'Next-level table address' },
  { name: 'PXNTable', hi: 59, lo: 59, doc: 'Privileged execute-never for all subsequent levels' },
  { name: 'UXNTable', hi: 60, lo: 60, doc: 'Unprivileged execute-never for all subsequent levels' },
  { name: 'APTable', hi: 62, lo: 61, doc: 'bit 61: no EL0 access below; bit 62: no write access below' },
  { name: 'NSTable', hi: 63, lo: 63, doc: 'Subsequent levels are Non-secure' },
];

/** Stage-2 block/page descriptor fields. */
export const S2_LEAF_FIELDS: FieldSpec[] = [
  ...TYPE_FIELDS,
  { name: 'MemAttr', hi: 5, lo: 2, doc: 'Stage-2 memory attributes (0xf normal WB, 0x5 normal NC, 0x1 device nGnRE)' },
  { name: 'S2AP', hi: 7, lo: 6, doc: 'bit 6: read allowed; bit 7: write allowed' },
  { name: 'SH', hi: 9, lo: 8, doc: 'Shareability: 0 non-shareable, 2 outer, 3 inner' },
  { name: 'AF', hi: 10, lo: 10, doc: 'Access flag: 0 gives an Access flag fault unless S2AFFD' },
  { name: 'OA', hi: 47, lo: 12, doc: 'Output address (bits below the block size are RES0)' },
  { name: 'DBM', hi: 51, lo: 51, doc: 'Dirty bit modifier (HTTU)' },
  { name: 'Contiguous', hi: 52, lo: 52, doc: 'Hint: this entry is one of a contiguous set' },
  { name: 'XN', hi: 54, lo: 53, doc: 'Execute-never (bit 54; bits [54:53] as XN[1:0] with FEAT_XNX)' },
  { name: 'SW', hi: 58, lo: 55, doc: 'Reserved for software use' },
];

/** Stage-2 table descriptor fields (no attributes). */
export const S2_TABLE_FIELDS: FieldSpec[] = [
  ...TYPE_FIELDS,
  { name: 'NLTA', hi: 47, lo: 12, doc: 'Next-level table address' },
];

/** Decode a value against a field list: [{...spec, value}] in bit order. */
export function decodeFields(v: bigint, specs: FieldSpec[]): Array<FieldSpec & { value: bigint }> {
  return specs.map((s) => ({ ...s, value: field(v, s.hi, s.lo) }));
}

// ---------------------------------------------------------------------------
// Output / next-table addresses

/**
 * The address a descriptor holds, for an entry mapping `size` bytes
 * (the granule for a table or page descriptor, the block size for a block).
 * With the 64K granule and 52-bit addressing (`lpa`), OA[51:48] sit in
 * descriptor bits [15:12].
 */
export function descAddress(desc: bigint, g: Granule, size: bigint, lpa: boolean): bigint {
  const shift = BigInt(granuleShift(g));
  let a = desc & genmask(47, Number(shift));
  if (g === 65536 && lpa) a |= field(desc, 15, 12) << 48n;
  return a & ~(size - 1n);
}

/** Pack an address into descriptor address bits (inverse of descAddress). */
export function packAddress(pa: bigint, g: Granule): bigint {
  const shift = granuleShift(g);
  let d = pa & genmask(47, shift);
  if (g === 65536) d |= field(pa, 51, 48) << 12n;
  return d;
}

// ---------------------------------------------------------------------------
// Typed decode / encode

export type DescKind = 'invalid' | 'table' | 'block' | 'page' | 'reserved';

/** Raw type from bits[1:0] at a level (block legality is checked by the walker). */
export function descKind(desc: bigint, level: number): DescKind {
  if ((desc & 1n) === 0n) return 'invalid';
  const t = (desc >> 1n) & 1n;
  if (level === 3) return t === 1n ? 'page' : 'reserved';
  return t === 1n ? 'table' : 'block';
}

export interface S1TableAttrs {
  pxnTable: boolean;
  uxnTable: boolean;
  /** APTable[1:0]: bit 0 no-EL0, bit 1 read-only. */
  apTable: number;
  nsTable: boolean;
}

export function decodeS1Table(desc: bigint): S1TableAttrs {
  return {
    pxnTable: bit(desc, 59),
    uxnTable: bit(desc, 60),
    apTable: fieldN(desc, 62, 61),
    nsTable: bit(desc, 63),
  };
}

export interface S1LeafAttrs {
  attrIndx: number;
  ns: boolean;
  /** AP[2:1] as a 2-bit value: bit 0 = AP[1] (EL0 access), bit 1 = AP[2] (read-only). */
  ap: number;
  sh: number;
  af: boolean;
  nG: boolean;
  gp: boolean;
  dbm: boolean;
  contiguous: boolean;
  pxn: boolean;
  uxn: boolean;
  sw: number;
}

export function decodeS1Leaf(desc: bigint): S1LeafAttrs {
  return {
    attrIndx: fieldN(desc, 4, 2),
    ns: bit(desc, 5),
    ap: fieldN(desc, 7, 6),
    sh: fieldN(desc, 9, 8),
    af: bit(desc, 10),
    nG: bit(desc, 11),
    gp: bit(desc, 50),
    dbm: bit(desc, 51),
    contiguous: bit(desc, 52),
    pxn: bit(desc, 53),
    uxn: bit(desc, 54),
    sw: fieldN(desc, 58, 55),
  };
}

export function encodeS1Leaf(oa: bigint, g: Granule, level: number, a: Partial<S1LeafAttrs>): bigint {
  let d = packAddress(oa, g) | 1n | (level === 3 ? 2n : 0n);
  d = setField(d, 4, 2, a.attrIndx ?? 0);
  d = setField(d, 5, 5, a.ns ? 1 : 0);
  d = setField(d, 7, 6, a.ap ?? 0);
  d = setField(d, 9, 8, a.sh ?? 0);
  d = setField(d, 10, 10, a.af ? 1 : 0);
  d = setField(d, 11, 11, a.nG ? 1 : 0);
  d = setField(d, 50, 50, a.gp ? 1 : 0);
  d = setField(d, 51, 51, a.dbm ? 1 : 0);
  d = setField(d, 52, 52, a.contiguous ? 1 : 0);
  d = setField(d, 53, 53, a.pxn ? 1 : 0);
  d = setField(d, 54, 54, a.uxn ? 1 : 0);
  d = setField(d, 58, 55, a.sw ?? 0);
  return d;
}

export function encodeS1Table(next: bigint, g: Granule, a: Partial<S1TableAttrs> = {}): bigint {
  let d = packAddress(next, g) | 3n;
  d = setField(d, 59, 59, a.pxnTable ? 1 : 0);
  d = setField(d, 60, 60, a.uxnTable ? 1 : 0);
  d = setField(d, 62, 61, a.apTable ?? 0);
  d = setField(d, 63, 63, a.nsTable ? 1 : 0);
  return d;
}

export interface S2LeafAttrs {
  memAttr: number;
  /** S2AP[1:0]: bit 0 read, bit 1 write. */
  s2ap: number;
  sh: number;
  af: boolean;
  dbm: boolean;
  contiguous: boolean;
  /** XN[1:0] (descriptor bits [54:53]). Without FEAT_XNX only bit 1 (desc bit 54) counts. */
  xn: number;
  sw: number;
}

export function decodeS2Leaf(desc: bigint): S2LeafAttrs {
  return {
    memAttr: fieldN(desc, 5, 2),
    s2ap: fieldN(desc, 7, 6),
    sh: fieldN(desc, 9, 8),
    af: bit(desc, 10),
    dbm: bit(desc, 51),
    contiguous: bit(desc, 52),
    xn: fieldN(desc, 54, 53),
    sw: fieldN(desc, 58, 55),
  };
}

export function encodeS2Leaf(oa: bigint, g: Granule, level: number, a: Partial<S2LeafAttrs>): bigint {
  let d = packAddress(oa, g) | 1n | (level === 3 ? 2n : 0n);
  d = setField(d, 5, 2, a.memAttr ?? 0);
  d = setField(d, 7, 6, a.s2ap ?? 0);
  d = setField(d, 9, 8, a.sh ?? 0);
  d = setField(d, 10, 10, a.af ? 1 : 0);
  d = setField(d, 51, 51, a.dbm ? 1 : 0);
  d = setField(d, 52, 52, a.contiguous ? 1 : 0);
  d = setField(d, 54, 53, a.xn ?? 0);
  d = setField(d, 58, 55, a.sw ?? 0);
  return d;
}

export function encodeS2Table(next: bigint, g: Granule): bigint {
  return packAddress(next, g) | 3n;
}

/** Field list for a descriptor of a given stage/kind (for views). */
export function fieldsFor(stage: 1 | 2, kind: DescKind): FieldSpec[] {
  if (kind === 'table') return stage === 1 ? S1_TABLE_FIELDS : S2_TABLE_FIELDS;
  if (kind === 'block' || kind === 'page') return stage === 1 ? S1_LEAF_FIELDS : S2_LEAF_FIELDS;
  return TYPE_FIELDS;
}

/** IPS / PS encoding <-> address bits. */
export const PS_BITS = [32, 36, 40, 42, 44, 48, 52] as const;

export function psToBits(ps: number): number | undefined {
  return PS_BITS[ps];
}

export function bitsToPs(bits: number): number | undefined {
  const i = (PS_BITS as readonly number[]).indexOf(bits);
  return i < 0 ? undefined : i;
}
