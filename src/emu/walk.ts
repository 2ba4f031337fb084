/**
 * The VMSAv8-64 translation table walk as an SMMUv3 performs it: stage 1
 * (from CD parameters), stage 2 (from STE parameters) and nested S1+S2, in
 * which every stage-1 table address and the final stage-1 output are IPAs
 * translated by stage 2.
 *
 * Faults follow the architecture's priority: for each lookup, an external
 * abort on the descriptor fetch, then an invalid or reserved descriptor
 * (translation fault), then an address wider than the configured output size
 * (address size fault), then AF = 0 (access flag fault), then the permission
 * check. Stage-1 faults of the final translation come before the stage-2
 * translation of its output.
 *
 * Every walk can record a trace: each memory read in order, with its stage,
 * level, address, raw descriptor and purpose. That trace is what views draw.
 */

import {
  type Granule,
  type DescKind,
  bitsPerLevel,
  granuleShift,
  levelShift,
  psToBits,
} from './descriptor';
import { CACHE_SIZE, type PhysicalMemory } from './memory';

const CACHE_MASK = CACHE_SIZE - 1;

export type Access = 'read' | 'write' | 'exec';

export interface Transaction {
  access: Access;
  /** PnU: privileged (true) or unprivileged. */
  priv: boolean;
}

export type WalkFaultType = 'F_TRANSLATION' | 'F_ADDR_SIZE' | 'F_ACCESS' | 'F_PERMISSION' | 'F_WALK_EABT' | 'C_BAD_CD' | 'C_BAD_STE';

/** What the faulting access was doing: fetching a CD, a translation table, or translating the input. */
export type FaultClass = 'CD' | 'TT' | 'IN';

export interface WalkFault {
  type: WalkFaultType;
  stage: 1 | 2;
  /** Lookup level at which the fault was found (absent for range and configuration faults). */
  level?: number;
  class: FaultClass;
  /** The address translated by the faulting stage: the input address (S1) or the IPA (S2). */
  addr: bigint;
  /** For stage-2 faults: the IPA (equal to addr). */
  ipa?: bigint;
  /** For F_WALK_EABT: the physical address whose fetch aborted. */
  fetchAddr?: bigint;
  /** One plain-language sentence. */
  reason: string;
}

export type TracePurpose =
  | 's1-table'
  | 's2-for-s1-table'
  | 's2-for-output'
  | 's2-for-cd'
  | 'ste'
  | 'cd'
  | 'l1std'
  | 'l1cd';

export interface TraceEntry {
  /** 1 or 2 for table walks; 0 for configuration fetches (STE, CD, L1 descriptors). */
  stage: 0 | 1 | 2;
  level: number;
  /** Physical address read. */
  addr: bigint;
  /** The 64-bit value read, or undefined when the read hit no memory (external abort). */
  desc: bigint | undefined;
  purpose: TracePurpose;
  /** The address being translated at this step (VA for stage 1, IPA for stage 2). */
  ia?: bigint;
  /** How the descriptor was interpreted at this level. */
  kind?: DescKind;
  /** For configuration fetches (STE, CD): every dword read. */
  words?: bigint[];
}

/** Access codes on the fast path. */
export const ACC_READ = 0;
export const ACC_WRITE = 1;
export const ACC_EXEC = 2;
export function accessCode(a: Access): number {
  return a === 'read' ? ACC_READ : a === 'write' ? ACC_WRITE : ACC_EXEC;
}
const CLS: readonly FaultClass[] = ['CD', 'TT', 'IN'];
export const CLS_CD = 0;
export const CLS_TT = 1;
export const CLS_IN = 2;

/**
 * Walk context: memory, an optional trace, a read counter, and the result
 * registers the fast walk functions fill in (no allocation per walk).
 */
export class WalkCtx {
  trace: TraceEntry[] | undefined;
  reads = 0;
  // Result of the last successful walk.
  pa = 0;
  ipa = 0;
  s1Level = -1;
  s1Lo = 0;
  s1Hi = 0;
  s1Size = 0;
  s1Base = 0;
  s1Ap = 0;
  s1Pxn = false;
  s1Uxn = false;
  s1NG = false;
  s1Sel: 0 | 1 = 0;
  s2Level = -1;
  s2Lo = 0;
  s2Hi = 0;
  s2Size = 0;
  s2Base = 0;
  s2Ap = 0;
  s2Xn = 0;
  s2MemAttr = 0;
  /** Stage-2 output of the last s2Walk, as 32-bit halves. */
  s2PaHi = 0;
  s2PaLo = 0;
  // Fault registers (fault === null after a successful walk).
  fault: WalkFaultType | null = null;
  fStage: 1 | 2 = 1;
  fLevel = -1;
  fClass = CLS_IN;
  /** For stage-2 faults: the IPA. */
  fIpa = 0;
  fFetch = -1;
  fReason = '';

  constructor(
    readonly mem: PhysicalMemory,
    trace = false,
  ) {
    this.trace = trace ? [] : undefined;
  }
}

export function newCtx(mem: PhysicalMemory, trace = false): WalkCtx {
  return new WalkCtx(mem, trace);
}

/** Parameters of one stage-1 translation table (TTB0 or TTB1 half of a CD). */
export interface S1TableParams {
  ttb: bigint;
  /** T0SZ / T1SZ. */
  tsz: number;
  granule: Granule;
  /** EPDx: walks through this table are disabled (translation fault). */
  epd: boolean;
  /** HADx: hierarchical attributes (APTable, PXNTable, UXNTable) are ignored. */
  had: boolean;
  /** TBIx: top byte ignored. */
  tbi: boolean;
}

export interface S1WalkParams {
  tt: [S1TableParams, S1TableParams];
  /** CD.IPS encoding (0..6). */
  ips: number;
  /** The SMMU's implemented output size (SMMU_IDR5.OAS) in bits. */
  oasBits: number;
  affd: boolean;
  wxn: boolean;
  pan: boolean;
}

export interface S2WalkParams {
  ttb: bigint;
  /** S2T0SZ */
  tsz: number;
  /** S2SL0 */
  sl0: number;
  granule: Granule;
  /** S2PS encoding (0..6). */
  ps: number;
  oasBits: number;
  affd: boolean;
  /** SMMU_IDR3.XNX: XN is the 2-bit XN[1:0]. */
  xnx: boolean;
  /** S2PTW: stage-1 table walks to Device memory fault. */
  ptw: boolean;
}

/** Effective stage-1 permissions of a leaf, APTable/PXNTable/UXNTable folded in. */
export interface S1Perm {
  /** AP[2:1]: bit 0 EL0 access, bit 1 read-only. */
  ap: number;
  pxn: boolean;
  uxn: boolean;
  wxn: boolean;
  pan: boolean;
}

export interface S2Perm {
  /** S2AP: bit 0 read, bit 1 write. */
  s2ap: number;
  /** XN[1:0] as in descriptor bits [54:53]. */
  xn: number;
  xnx: boolean;
}

export interface StageLeaf {
  level: number;
  desc: bigint;
  /** Size mapped by the leaf (page or block). */
  size: bigint;
  /** Output address of the start of the leaf's page/block. */
  base: bigint;
}

export interface S1Leaf extends StageLeaf {
  perm: S1Perm;
  nG: boolean;
  /** 0 for TTB0, 1 for TTB1. */
  ttbSel: 0 | 1;
  attrIndx: number;
}

export interface S2Leaf extends StageLeaf {
  perm: S2Perm;
  memAttr: number;
}

export interface WalkOk {
  ok: true;
  /** Final physical address. */
  pa: bigint;
  /** Intermediate physical address (nested and stage-1-only: the stage-1 output). */
  ipa: bigint;
  s1?: S1Leaf;
  s2?: S2Leaf;
  /** Size of the translation a TLB can cache (the smaller of the two stages' leaves). */
  size: bigint;
}

export interface WalkErr {
  ok: false;
  fault: WalkFault;
}

export type WalkResult = WalkOk | WalkErr;

// ---------------------------------------------------------------------------
// Permission checks (also used by the IOTLB on a hit)

/** Returns null when the stage-1 permissions allow the transaction, else the reason. */
export function s1PermissionDenied(p: S1Perm, t: Transaction): string | null {
  const el0 = (p.ap & 1) === 1;
  const ro = (p.ap & 2) === 2;
  const privW = !ro;
  const userW = el0 && !ro;
  if (t.access === 'exec') {
    if (t.priv) {
      if (p.pxn) return 'privileged execute-never (PXN)';
      if (p.wxn && privW) return 'writable region is execute-never (WXN)';
      if (userW) return 'region writable at EL0 is never privileged-executable';
      return null;
    }
    if (p.uxn) return 'unprivileged execute-never (UXN)';
    if (p.wxn && userW) return 'writable region is execute-never (WXN)';
    return null;
  }
  if (!t.priv && !el0) return 'no unprivileged access (AP[1] = 0)';
  if (t.priv && p.pan && el0) return 'privileged access to EL0-accessible memory with PAN set';
  if (t.access === 'write' && ro) return 'write to read-only memory (AP[2] = 1)';
  return null;
}

/**
 * Returns null when the stage-2 permissions allow the transaction, else the
 * reason. A stage-1 table fetch (tableWalk) is checked as a read.
 */
export function s2PermissionDenied(p: S2Perm, t: Transaction, tableWalk = false): string | null {
  const r = (p.s2ap & 1) === 1;
  const w = (p.s2ap & 2) === 2;
  if (tableWalk || t.access === 'read') return r ? null : 'stage-2 read not allowed (S2AP[0] = 0)';
  if (t.access === 'write') return w ? null : 'stage-2 write not allowed (S2AP[1] = 0)';
  let xn: boolean;
  if (p.xnx) {
    switch (p.xn) {
      case 0:
        xn = false;
        break;
      case 1:
        xn = t.priv;
        break;
      case 2:
        xn = true;
        break;
      default:
        xn = !t.priv;
    }
  } else {
    xn = (p.xn & 2) === 2;
  }
  return xn ? 'stage-2 execute-never (XN)' : null;
}

// ---------------------------------------------------------------------------
// Geometry

/** Effective output size in bits: the configured size capped by the SMMU's OAS and, without the 64K granule, 48 bits. */
export function effectivePaBits(ps: number, oasBits: number, g: Granule): number {
  const bits = Math.min(psToBits(ps) ?? 52, oasBits);
  return g === 65536 ? bits : Math.min(bits, 48);
}

/** Is a block descriptor allowed at this level for this granule? */
export function blockAllowed(g: Granule, level: number, paBits: number): boolean {
  if (g === 4096) return level === 1 || level === 2;
  if (g === 16384) return level === 2;
  return level === 2 || (level === 1 && paBits === 52);
}

/** Stage-1 starting level for an input size: 4 - ceil((IA - G) / stride). */
export function s1StartLevel(ia: number, g: Granule): number {
  return 4 - Math.ceil((ia - granuleShift(g)) / bitsPerLevel(g));
}

/** Stage-2 starting level from S2SL0 (undefined for a reserved value). */
export function s2StartLevel(sl0: number, g: Granule): number | undefined {
  if (g === 4096) return sl0 === 0 ? 2 : sl0 === 1 ? 1 : sl0 === 2 ? 0 : undefined;
  return sl0 === 0 ? 3 : sl0 === 1 ? 2 : sl0 === 2 ? 1 : undefined;
}

/** Why a stage-1 table configuration is illegal (C_BAD_CD), or null. */
export function s1TableConfigError(tt: S1TableParams, oasBits: number): string | null {
  const minTsz = tt.granule === 65536 && oasBits === 52 ? 12 : 16;
  if (tt.tsz < minTsz || tt.tsz > 39) return `TxSZ ${tt.tsz} is outside ${minTsz}..39`;
  const sl = s1StartLevel(64 - tt.tsz, tt.granule);
  if (sl < 0 || sl > 3) return `TxSZ ${tt.tsz} needs an impossible start level with a ${tt.granule}-byte granule`;
  return null;
}

/** Why a stage-2 configuration is illegal (C_BAD_STE), or null. Follows AArch64.S2InconsistentSL / S2InvalidSL. */
export function s2ConfigError(p: S2WalkParams): string | null {
  if (p.tsz > 39) return `S2T0SZ ${p.tsz} is above 39`;
  const ia = 64 - p.tsz;
  const maxIa = p.granule === 65536 ? p.oasBits : Math.min(p.oasBits, 48);
  if (ia > maxIa) return `S2T0SZ ${p.tsz} gives a ${ia}-bit IPA, wider than the ${maxIa}-bit maximum`;
  const sl = s2StartLevel(p.sl0, p.granule);
  if (sl === undefined) return `S2SL0 ${p.sl0} is reserved for the ${p.granule}-byte granule`;
  // S2InvalidSL: level 0 (4K), level 1 (16K/64K) need a large enough implemented PA size.
  if (p.granule === 4096 && sl === 0 && p.oasBits < 44) return 'start level 0 needs an implemented PA size of at least 44 bits';
  if (p.granule === 16384 && sl === 1 && p.oasBits < 42) return 'start level 1 needs an implemented PA size of at least 42 bits';
  if (p.granule === 65536 && sl === 1 && p.oasBits < 44) return 'start level 1 needs an implemented PA size of at least 44 bits';
  const stride = bitsPerLevel(p.granule);
  const shift = levelShift(p.granule, sl);
  if (ia < shift + 1) return `a ${ia}-bit IPA is too small to start at level ${sl}`;
  if (ia > shift + stride + 4) {
    return `a ${ia}-bit IPA starting at level ${sl} would need ${2 ** (ia - shift - stride)} concatenated tables (max 16)`;
  }
  return null;
}

/** Number of concatenated start-level tables a stage-2 configuration uses. */
export function s2Concatenated(p: S2WalkParams): number {
  const sl = s2StartLevel(p.sl0, p.granule) ?? 0;
  const extra = 64 - p.tsz - levelShift(p.granule, sl) - bitsPerLevel(p.granule);
  return extra > 0 ? 1 << extra : 1;
}

// ---------------------------------------------------------------------------
// Compiled parameters: everything a walk needs, computed once per STE/CD.

const TWO32 = 4294967296;

function bigU64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

interface Geometry {
  g: Granule;
  /** Mask of descriptor address bits in the low word (bits [31:G]). */
  loAddrMask: number;
  /** 52-bit layout (64K granule, FEAT_LPA): OA[51:48] in bits [15:12]. */
  lpa: boolean;
  paBits: number;
  paLimit: number;
  start: number;
  startEntries: number;
  /** Entries in a table below the start level. */
  entries: number;
  /** 2^levelShift(l) for l = 0..3. */
  pow: number[];
  /** levelShift(l) */
  shift: Int32Array;
  /** Index mask at each level (start level: its possibly larger/smaller table). */
  idxMask: Int32Array;
  /** Masks of the offset within a leaf at level l, over the address halves (as int32 bit patterns). */
  offLo: Int32Array;
  offHi: Int32Array;
  /** Masks of the leaf base in the descriptor halves at level l. */
  baseLo: Int32Array;
  baseHi: Int32Array;
  blockOk: boolean[];
  /** Start table base, aligned to the start table size. */
  table: number;
  /** The start table base fits the output size. */
  tableOk: boolean;
  tableHi: number;
  tableLo: number;
  /** 2^(paBits - 32): an address (hi, lo) fits the output size iff hi < paLimitHi. */
  paLimitHi: number;
}

function geometry(g: Granule, ia: number, start: number, ttb: bigint, paBits: number): Geometry {
  const levels = [0, 1, 2, 3];
  const shift = levels.map((l) => levelShift(g, l));
  const pow = shift.map((sh) => 2 ** sh);
  const startEntries = 2 ** (ia - levelShift(g, start));
  const bytes = BigInt(startEntries * 8);
  const loAddrMask = (0xffffffff << granuleShift(g)) >>> 0;
  const offLo = shift.map((sh) => (sh >= 32 ? 0xffffffff : 2 ** sh - 1));
  const offHi = shift.map((sh) => (sh >= 32 ? 2 ** (sh - 32) - 1 : 0));
  return {
    shift: Int32Array.from(shift),
    idxMask: Int32Array.from(levels, (l) => (l === start ? startEntries : 2 ** bitsPerLevel(g)) - 1),
    offLo: Int32Array.from(offLo, (m) => m | 0),
    offHi: Int32Array.from(offHi, (m) => m | 0),
    baseLo: Int32Array.from(offLo, (m) => loAddrMask & ~m),
    baseHi: Int32Array.from(offHi, (m) => 0xffff & ~m),
    g,
    loAddrMask: loAddrMask | 0,
    lpa: g === 65536 && paBits === 52,
    paBits,
    paLimit: 2 ** paBits,
    start,
    startEntries,
    entries: 2 ** bitsPerLevel(g),
    pow,
    blockOk: [0, 1, 2, 3].map((l) => l < 3 && blockAllowed(g, l, paBits)),
    table: Number(BigInt.asUintN(64, ttb) & ~(bytes - 1n) & ((1n << 53n) - 1n)),
    tableOk: (BigInt.asUintN(64, ttb) & ~(bytes - 1n)) < 1n << BigInt(paBits),
    tableHi: Number((BigInt.asUintN(64, ttb) >> 32n) & 0xfffffn),
    tableLo: Number(BigInt.asUintN(64, ttb) & ~(bytes - 1n) & 0xffffffffn),
    paLimitHi: 2 ** (paBits - 32),
  };
}

export interface S2Compiled {
  readonly params: S2WalkParams;
  /** Why the configuration is illegal (C_BAD_STE), or null. */
  readonly error: string | null;
  readonly ia: number;
  readonly iaLimit: number;
  /** An IPA (hi, lo) is in range iff hi < iaLimitHi (ia >= 32) or hi = 0 and lo < 2^ia. */
  readonly iaLimitHi: number;
  readonly iaLoShift: number;
  readonly geo: Geometry;
  readonly affd: boolean;
  readonly xnx: boolean;
  readonly ptw: boolean;
}

export function compileS2(p: S2WalkParams): S2Compiled {
  const error = s2ConfigError(p);
  const ia = 64 - p.tsz;
  const paBits = effectivePaBits(p.ps, p.oasBits, p.granule);
  const start = error ? 3 : (s2StartLevel(p.sl0, p.granule) as number);
  return {
    params: p,
    error,
    ia,
    iaLimit: 2 ** ia,
    iaLimitHi: ia >= 32 ? 2 ** (ia - 32) : 1,
    iaLoShift: ia >= 32 ? 32 : ia,
    geo: geometry(p.granule, error ? levelShift(p.granule, 3) + 1 : ia, start, p.ttb, paBits),
    affd: p.affd,
    xnx: p.xnx,
    ptw: p.ptw,
  };
}

interface S1Half {
  readonly error: string | null;
  readonly epd: boolean;
  readonly had: boolean;
  readonly ia: number;
  /** Range check masks over bits [top:ia] (top = 55 with TBI, else 63). */
  readonly hiMask: number;
  readonly loMask: number;
  readonly geo: Geometry;
}

export interface S1Compiled {
  readonly params: S1WalkParams;
  readonly half: readonly [S1Half, S1Half];
  readonly affd: boolean;
  readonly wxn: boolean;
  readonly pan: boolean;
}

function compileHalf(tt: S1TableParams, p: S1WalkParams): S1Half {
  const error = s1TableConfigError(tt, p.oasBits);
  const ia = error ? 25 : 64 - tt.tsz;
  const top = tt.tbi ? 55 : 63;
  let hiMask: number;
  let loMask: number;
  if (ia >= 32) {
    loMask = 0;
    hiMask = (2 ** (top - ia + 1) - 1) * 2 ** (ia - 32);
  } else {
    hiMask = 2 ** (top - 31) - 1;
    loMask = (2 ** (32 - ia) - 1) * 2 ** ia;
  }
  const paBits = effectivePaBits(p.ips, p.oasBits, tt.granule);
  const start = error ? 3 : s1StartLevel(ia, tt.granule);
  return {
    error,
    epd: tt.epd,
    had: tt.had,
    ia,
    hiMask: hiMask >>> 0,
    loMask: loMask >>> 0,
    geo: geometry(tt.granule, error ? levelShift(tt.granule, 3) + 1 : ia, start, tt.ttb, paBits),
  };
}

export function compileS1(p: S1WalkParams): S1Compiled {
  return { params: p, half: [compileHalf(p.tt[0], p), compileHalf(p.tt[1], p)], affd: p.affd, wxn: p.wxn, pan: p.pan };
}

// ---------------------------------------------------------------------------
// Fast walks

function setFault(
  ctx: WalkCtx,
  type: WalkFaultType,
  stage: 1 | 2,
  level: number,
  cls: number,
  ipa: number,
  reason: string,
  fetchAddr = -1,
): false {
  ctx.fault = type;
  ctx.fStage = stage;
  ctx.fLevel = level;
  ctx.fClass = cls;
  ctx.fIpa = ipa;
  ctx.fFetch = fetchAddr;
  ctx.fReason = reason;
  return false;
}

const PURPOSE_BY_CLS: readonly ('s2-for-cd' | 's2-for-s1-table' | 's2-for-output')[] = ['s2-for-cd', 's2-for-s1-table', 's2-for-output'];

function traceRead(ctx: WalkCtx, stage: 0 | 1 | 2, level: number, addr: number, desc: bigint | undefined, purpose: TracePurpose, ia: bigint): TraceEntry {
  const e: TraceEntry = {
    stage,
    level,
    addr: BigInt(addr),
    desc,
    purpose,
    ia,
  };
  (ctx.trace as TraceEntry[]).push(e);
  return e;
}

function kindOf(lo: number, level: number, blockOk: boolean): DescKind {
  if ((lo & 1) === 0) return 'invalid';
  if (level === 3) return lo & 2 ? 'page' : 'reserved';
  if (lo & 2) return 'table';
  return blockOk ? 'block' : 'reserved';
}

/**
 * Stage-2 walk of `ipa` (a number below 2^53). `cls` is the access class
 * (CLS_CD / CLS_TT for configuration and stage-1 table fetches, which are
 * checked as reads; CLS_IN for the transaction). On success fills the s2*
 * registers of ctx and ctx.s2Pa.
 */
// s2Walk and s1Walk repeat the descriptor fetch and decode on purpose: each
// loop inlines the memory read and works on 32-bit halves, which is what
// makes a nested 4+4 walk run at millions per second (see npm run bench).
export function s2Walk(ctx: WalkCtx, c: S2Compiled, aHi: number, aLo: number, access: number, priv: boolean, cls: number): boolean {
  if (c.error) return setFault(ctx, 'C_BAD_STE', 2, -1, cls, aHi * TWO32 + aLo, c.error);
  if (!(aHi < c.iaLimitHi) || (c.iaLoShift < 32 && aLo >>> c.iaLoShift !== 0)) {
    return setFault(ctx, 'F_TRANSLATION', 2, -1, cls, aHi * TWO32 + aLo, `IPA is outside the ${c.ia}-bit input range set by S2T0SZ`);
  }
  const geo = c.geo;
  if (!geo.tableOk) {
    return setFault(ctx, 'F_ADDR_SIZE', 2, geo.start, cls, aHi * TWO32 + aLo, `S2TTB is wider than the ${geo.paBits}-bit output size`);
  }
  const mem = ctx.mem;
  const anyPa = mem.anyPa;
  const cacheKey = mem.cacheKey;
  const cacheFrame = mem.cacheFrame;
  const shifts = geo.shift;
  const masks = geo.idxMask;
  const loAddrMask = geo.loAddrMask;
  const paLimitHi = geo.paLimitHi;
  const tracing = ctx.trace !== undefined;
  let tHi = geo.tableHi;
  let tLo = geo.tableLo;
  for (let level = geo.start; level <= 3; level++) {
    const sh = shifts[level];
    const idx = (sh >= 32 ? aHi >>> (sh - 32) : (aLo >>> sh) | (aHi << (32 - sh))) & masks[level];
    // Tables are aligned to their size, so adding the index never carries into the high half.
    const rLo = (tLo + idx * 8) >>> 0;
    ctx.reads++;
    // Inlined PhysicalMemory.read(): frame cache hit path.
    let lo = 0;
    let hi = 0;
    let ok = true;
    if (anyPa || mem.backed(tHi * TWO32 + rLo)) {
      const fp = rLo >>> 12;
      const fn = tHi * 1048576 + fp;
      const slot = fp & CACHE_MASK;
      const f = cacheKey[slot] === fn ? cacheFrame[slot] : mem.frameMiss(fn);
      const w = (rLo & 0xfff) >>> 2;
      lo = f[w];
      hi = f[w + 1];
    } else ok = false;
    let entry: TraceEntry | undefined;
    if (tracing) entry = traceRead(ctx, 2, level, tHi * TWO32 + rLo, ok ? bigU64(lo, hi) : undefined, PURPOSE_BY_CLS[cls], BigInt(aHi * TWO32 + aLo));
    if (!ok) return setFault(ctx, 'F_WALK_EABT', 2, level, cls, aHi * TWO32 + aLo, 'external abort fetching a stage-2 descriptor', tHi * TWO32 + rLo);
    if (entry) entry.kind = kindOf(lo, level, geo.blockOk[level]);
    if ((lo & 1) === 0) return setFault(ctx, 'F_TRANSLATION', 2, level, cls, aHi * TWO32 + aLo, `stage-2 level ${level} descriptor is invalid`);
    const isTable = level < 3 && (lo & 2) !== 0;
    if (!isTable && (level === 3 ? (lo & 2) === 0 : !geo.blockOk[level])) {
      return setFault(ctx, 'F_TRANSLATION', 2, level, cls, aHi * TWO32 + aLo, `stage-2 level ${level} descriptor is reserved`);
    }
    const lpaHi = geo.lpa ? ((lo >>> 12) & 0xf) << 16 : 0;
    if (isTable) {
      tHi = (hi & 0xffff) | lpaHi;
      tLo = (lo & loAddrMask) >>> 0;
      if (!(tHi < paLimitHi)) {
        return setFault(ctx, 'F_ADDR_SIZE', 2, level, cls, aHi * TWO32 + aLo, `next-level table address is wider than ${geo.paBits} bits`);
      }
      continue;
    }
    const bHi = (hi & geo.baseHi[level]) | lpaHi;
    const bLo = (lo & geo.baseLo[level]) >>> 0;
    if (!(bHi < paLimitHi)) {
      return setFault(ctx, 'F_ADDR_SIZE', 2, level, cls, aHi * TWO32 + aLo, `output address is wider than ${geo.paBits} bits`);
    }
    if ((lo & 0x400) === 0 && !c.affd) return setFault(ctx, 'F_ACCESS', 2, level, cls, aHi * TWO32 + aLo, 'stage-2 access flag is 0');
    const s2ap = (lo >>> 6) & 3;
    const xn = (hi >>> 21) & 3;
    let denied: string | null = null;
    if (cls !== CLS_IN || access === ACC_READ) {
      if ((s2ap & 1) === 0) denied = 'stage-2 read not allowed (S2AP[0] = 0)';
    } else if (access === ACC_WRITE) {
      if ((s2ap & 2) === 0) denied = 'stage-2 write not allowed (S2AP[1] = 0)';
    } else {
      denied = s2PermissionDenied({ s2ap, xn, xnx: c.xnx }, { access: 'exec', priv });
    }
    if (denied) return setFault(ctx, 'F_PERMISSION', 2, level, cls, aHi * TWO32 + aLo, denied);
    const memAttr = (lo >>> 2) & 0xf;
    if (cls !== CLS_IN && c.ptw && (memAttr & 0xc) === 0) {
      return setFault(ctx, 'F_PERMISSION', 2, level, cls, aHi * TWO32 + aLo, 'stage-1 table walk to Device memory with S2PTW set');
    }
    if (cls === CLS_IN) {
      ctx.s2Level = level;
      ctx.s2Lo = lo;
      ctx.s2Hi = hi;
      ctx.s2Size = geo.pow[level];
      ctx.s2Base = bHi * TWO32 + bLo;
      ctx.s2Ap = s2ap;
      ctx.s2Xn = xn;
      ctx.s2MemAttr = memAttr;
    }
    ctx.s2PaHi = bHi | (aHi & geo.offHi[level]);
    ctx.s2PaLo = (bLo | (aLo & geo.offLo[level])) >>> 0;
    return true;
  }
  /* c8 ignore next */
  throw new Error('unreachable: stage-2 walk ran past level 3');
}

/**
 * Is (vaHi, vaLo) inside the input range of its TTB half, with walks
 * enabled? (What a TLB hit must also satisfy: an out-of-range address is a
 * translation fault whatever the TLB holds.)
 */
export function s1InRange(c: S1Compiled, vaHi: number, vaLo: number): boolean {
  const sel = (vaHi >>> 23) & 1;
  const h = c.half[sel];
  if (h.epd) return false;
  return sel === 0 ? (vaHi & h.hiMask) === 0 && (vaLo & h.loMask) === 0 : (vaHi & h.hiMask) >>> 0 === h.hiMask && (vaLo & h.loMask) >>> 0 === h.loMask;
}

/**
 * Stage-1 walk of the 64-bit input address (vaHi, vaLo). With `c2` the walk
 * is nested: every table address is an IPA translated by stage 2 (CLASS =
 * TT), then the output IPA for the transaction (CLASS = IN). On success
 * fills ctx.pa, ctx.ipa and the s1* (and s2*) registers.
 */
export function s1Walk(
  ctx: WalkCtx,
  c: S1Compiled,
  vaHi: number,
  vaLo: number,
  access: number,
  priv: boolean,
  c2: S2Compiled | null,
): boolean {
  const sel: 0 | 1 = (vaHi >>> 23) & 1 ? 1 : 0;
  const h = c.half[sel];
  if (sel === 0 ? (vaHi & h.hiMask) !== 0 || (vaLo & h.loMask) !== 0 : (vaHi & h.hiMask) >>> 0 !== h.hiMask || (vaLo & h.loMask) >>> 0 !== h.loMask) {
    return setFault(ctx, 'F_TRANSLATION', 1, -1, CLS_IN, 0, `address is outside the ${h.ia}-bit TTB${sel} range`);
  }
  if (h.epd) return setFault(ctx, 'F_TRANSLATION', 1, -1, CLS_IN, 0, `walks through TTB${sel} are disabled (EPD${sel} = 1)`);
  if (h.error) return setFault(ctx, 'C_BAD_CD', 1, -1, CLS_IN, 0, h.error);
  const geo = h.geo;
  if (!geo.tableOk) {
    return setFault(ctx, 'F_ADDR_SIZE', 1, geo.start, CLS_IN, 0, `TTB${sel} is wider than the ${geo.paBits}-bit output size`);
  }
  const mem = ctx.mem;
  const anyPa = mem.anyPa;
  const cacheKey = mem.cacheKey;
  const cacheFrame = mem.cacheFrame;
  const shifts = geo.shift;
  const masks = geo.idxMask;
  const loAddrMask = geo.loAddrMask;
  const paLimitHi = geo.paLimitHi;
  const tracing = ctx.trace !== undefined;
  const full = tracing ? bigU64(vaLo, vaHi) : 0n;
  let tHi = geo.tableHi;
  let tLo = geo.tableLo;
  let apTable = 0;
  let pxnTable = false;
  let uxnTable = false;
  for (let level = geo.start; level <= 3; level++) {
    const sh = shifts[level];
    const idx = (sh >= 32 ? vaHi >>> (sh - 32) : (vaLo >>> sh) | (vaHi << (32 - sh))) & masks[level];
    let rHi = tHi;
    let rLo = (tLo + idx * 8) >>> 0;
    if (c2) {
      if (!s2Walk(ctx, c2, rHi, rLo, ACC_READ, priv, CLS_TT)) return false;
      rHi = ctx.s2PaHi;
      rLo = ctx.s2PaLo;
    }
    ctx.reads++;
    // Inlined PhysicalMemory.read(): frame cache hit path.
    let lo = 0;
    let hi = 0;
    let ok = true;
    if (anyPa || mem.backed(rHi * TWO32 + rLo)) {
      const fp = rLo >>> 12;
      const fn = rHi * 1048576 + fp;
      const slot = fp & CACHE_MASK;
      const f = cacheKey[slot] === fn ? cacheFrame[slot] : mem.frameMiss(fn);
      const w = (rLo & 0xfff) >>> 2;
      lo = f[w];
      hi = f[w + 1];
    } else ok = false;
    let entry: TraceEntry | undefined;
    if (tracing) entry = traceRead(ctx, 1, level, rHi * TWO32 + rLo, ok ? bigU64(lo, hi) : undefined, 's1-table', full);
    if (!ok) return setFault(ctx, 'F_WALK_EABT', 1, level, CLS_TT, 0, 'external abort fetching a stage-1 descriptor', rHi * TWO32 + rLo);
    if (entry) entry.kind = kindOf(lo, level, geo.blockOk[level]);
    if ((lo & 1) === 0) return setFault(ctx, 'F_TRANSLATION', 1, level, CLS_IN, 0, `stage-1 level ${level} descriptor is invalid`);
    const isTable = level < 3 && (lo & 2) !== 0;
    if (!isTable && (level === 3 ? (lo & 2) === 0 : !geo.blockOk[level])) {
      return setFault(ctx, 'F_TRANSLATION', 1, level, CLS_IN, 0, `stage-1 level ${level} descriptor is reserved`);
    }
    const lpaHi = geo.lpa ? ((lo >>> 12) & 0xf) << 16 : 0;
    if (isTable) {
      tHi = (hi & 0xffff) | lpaHi;
      tLo = (lo & loAddrMask) >>> 0;
      if (!(tHi < paLimitHi)) {
        return setFault(ctx, 'F_ADDR_SIZE', 1, level, CLS_IN, 0, `next-level table address is wider than ${geo.paBits} bits`);
      }
      if (!h.had) {
        apTable |= (hi >>> 29) & 3;
        if (hi & (1 << 27)) pxnTable = true;
        if (hi & (1 << 28)) uxnTable = true;
      }
      continue;
    }
    const bHi = (hi & geo.baseHi[level]) | lpaHi;
    const bLo = (lo & geo.baseLo[level]) >>> 0;
    if (!(bHi < paLimitHi)) {
      return setFault(ctx, 'F_ADDR_SIZE', 1, level, CLS_IN, 0, `output address is wider than ${geo.paBits} bits`);
    }
    if ((lo & 0x400) === 0 && !c.affd) return setFault(ctx, 'F_ACCESS', 1, level, CLS_IN, 0, 'stage-1 access flag is 0');
    let ap = (lo >>> 6) & 3;
    if (apTable & 1) ap &= ~1; // APTable[0]: no EL0 access below
    if (apTable & 2) ap |= 2; // APTable[1]: read-only below
    const pxn = (hi & (1 << 21)) !== 0 || pxnTable;
    const uxn = (hi & (1 << 22)) !== 0 || uxnTable;
    // Fast permission check for the common cases; the full rules for the rest.
    const el0 = (ap & 1) === 1;
    let denied: string | null = null;
    if (access === ACC_READ && !c.pan) {
      if (!priv && !el0) denied = 'no unprivileged access (AP[1] = 0)';
    } else if (access === ACC_WRITE && !c.pan) {
      if (!priv && !el0) denied = 'no unprivileged access (AP[1] = 0)';
      else if (ap & 2) denied = 'write to read-only memory (AP[2] = 1)';
    } else {
      denied = s1PermissionDenied({ ap, pxn, uxn, wxn: c.wxn, pan: c.pan }, { access: access === ACC_READ ? 'read' : access === ACC_WRITE ? 'write' : 'exec', priv });
    }
    if (denied) return setFault(ctx, 'F_PERMISSION', 1, level, CLS_IN, 0, denied);
    ctx.s1Level = level;
    ctx.s1Lo = lo;
    ctx.s1Hi = hi;
    ctx.s1Size = geo.pow[level];
    ctx.s1Base = bHi * TWO32 + bLo;
    ctx.s1Ap = ap;
    ctx.s1Pxn = pxn;
    ctx.s1Uxn = uxn;
    ctx.s1NG = (lo & 0x800) !== 0;
    ctx.s1Sel = sel;
    const iHi = bHi | (vaHi & geo.offHi[level]);
    const iLo = (bLo | (vaLo & geo.offLo[level])) >>> 0;
    ctx.ipa = iHi * TWO32 + iLo;
    if (!c2) {
      ctx.s2Level = -1;
      ctx.pa = ctx.ipa;
      ctx.fault = null;
      return true;
    }
    if (!s2Walk(ctx, c2, iHi, iLo, access, priv, CLS_IN)) return false;
    ctx.pa = ctx.s2PaHi * TWO32 + ctx.s2PaLo;
    ctx.fault = null;
    return true;
  }
  /* c8 ignore next */
  throw new Error('unreachable: stage-1 walk ran past level 3');
}

// ---------------------------------------------------------------------------
// Object API (bigints in and out): for the CLI, the UI and tests.

/** Fetch a configuration structure word (STE, CD, L1STD, L1CD) with tracing. */
export function fetchConfig(ctx: WalkCtx, addr: bigint, purpose: TracePurpose): bigint | undefined {
  ctx.reads++;
  const ok = addr >= 0n && addr < 1n << 52n && ctx.mem.read(Number(addr));
  if (ctx.trace) traceRead(ctx, 0, 0, Number(addr), ok ? bigU64(ctx.mem.lo, ctx.mem.hi) : undefined, purpose, 0n);
  return ok ? bigU64(ctx.mem.lo, ctx.mem.hi) : undefined;
}

function faultFromCtx(ctx: WalkCtx, inputAddr: bigint): WalkErr {
  const f: WalkFault = {
    type: ctx.fault as WalkFaultType,
    stage: ctx.fStage,
    class: CLS[ctx.fClass],
    addr: ctx.fStage === 2 ? BigInt(ctx.fIpa) : inputAddr,
    reason: ctx.fReason,
  };
  if (ctx.fLevel >= 0) f.level = ctx.fLevel;
  if (ctx.fStage === 2) f.ipa = BigInt(ctx.fIpa);
  if (ctx.fFetch >= 0) f.fetchAddr = BigInt(ctx.fFetch);
  return { ok: false, fault: f };
}

function s1LeafFromCtx(ctx: WalkCtx, c: S1Compiled): S1Leaf {
  return {
    level: ctx.s1Level,
    desc: bigU64(ctx.s1Lo, ctx.s1Hi),
    size: BigInt(ctx.s1Size),
    base: BigInt(ctx.s1Base),
    perm: { ap: ctx.s1Ap, pxn: ctx.s1Pxn, uxn: ctx.s1Uxn, wxn: c.wxn, pan: c.pan },
    nG: ctx.s1NG,
    ttbSel: ctx.s1Sel,
    attrIndx: (ctx.s1Lo >>> 2) & 7,
  };
}

function s2LeafFromCtx(ctx: WalkCtx, c: S2Compiled): S2Leaf {
  return {
    level: ctx.s2Level,
    desc: bigU64(ctx.s2Lo, ctx.s2Hi),
    size: BigInt(ctx.s2Size),
    base: BigInt(ctx.s2Base),
    perm: { s2ap: ctx.s2Ap, xn: ctx.s2Xn, xnx: c.xnx },
    memAttr: ctx.s2MemAttr,
  };
}

export interface S2Request {
  ipa: bigint;
  txn: Transaction;
  cls: FaultClass;
}

export type S2Result = { ok: true; leaf: S2Leaf; pa: bigint } | WalkErr;

/** Stage-2 walk (object API). */
export function walkS2(ctx: WalkCtx, p: S2WalkParams | S2Compiled, req: S2Request): S2Result {
  const c = 'geo' in p ? p : compileS2(p);
  const cls = req.cls === 'CD' ? CLS_CD : req.cls === 'TT' ? CLS_TT : CLS_IN;
  const ipa = req.ipa;
  // An IPA wider than 52 bits is certainly beyond S2T0SZ: walk with an out-of-range stand-in.
  const ipaN = ipa >= 0n && ipa < 1n << 52n ? ipa : 1n << 52n;
  if (!s2Walk(ctx, c, Number(ipaN >> 32n), Number(ipaN & 0xffffffffn), accessCode(req.txn.access), req.txn.priv, cls)) {
    const r = faultFromCtx(ctx, ipa);
    if (r.fault.stage === 2) r.fault.addr = r.fault.ipa = ipa;
    return r;
  }
  return { ok: true, leaf: s2LeafFromCtx(ctx, c), pa: bigU64(ctx.s2PaLo, ctx.s2PaHi) };
}

export interface S1Request {
  va: bigint;
  txn: Transaction;
}

/**
 * Stage-1 walk (object API). With `s2`, the walk is nested: the TTB and every
 * table address are IPAs translated through stage 2 (CLASS = TT), and the
 * output IPA is translated through stage 2 for the transaction itself (CLASS = IN).
 */
export function walkS1(ctx: WalkCtx, p: S1WalkParams | S1Compiled, req: S1Request, s2?: S2WalkParams | S2Compiled): WalkResult {
  const c = 'half' in p ? p : compileS1(p);
  const c2 = s2 === undefined ? null : 'geo' in s2 ? s2 : compileS2(s2);
  const va = BigInt.asUintN(64, req.va);
  const ok = s1Walk(ctx, c, Number(va >> 32n), Number(va & 0xffffffffn), accessCode(req.txn.access), req.txn.priv, c2);
  if (!ok) return faultFromCtx(ctx, va);
  const s1 = s1LeafFromCtx(ctx, c);
  if (!c2) return { ok: true, pa: BigInt(ctx.pa), ipa: BigInt(ctx.ipa), s1, size: s1.size };
  const s2leaf = s2LeafFromCtx(ctx, c2);
  return { ok: true, pa: BigInt(ctx.pa), ipa: BigInt(ctx.ipa), s1, s2: s2leaf, size: s1.size < s2leaf.size ? s1.size : s2leaf.size };
}

/** Stage-2-only translation: the input address is the IPA. */
export function walkS2Only(ctx: WalkCtx, p: S2WalkParams | S2Compiled, ipa: bigint, txn: Transaction): WalkResult {
  const r = walkS2(ctx, p, { ipa, txn, cls: 'IN' });
  if (!r.ok) return r;
  return { ok: true, pa: r.pa, ipa, s2: r.leaf, size: r.leaf.size };
}

/** Select TTB0/TTB1 for an input address (for views): the half, or why none applies. */
export function selectTtb(p: S1WalkParams, va: bigint): { sel: 0 | 1 } | { error: string } {
  const c = compileS1(p);
  const v = BigInt.asUintN(64, va);
  const hi = Number(v >> 32n);
  const lo = Number(v & 0xffffffffn);
  const sel: 0 | 1 = (hi >>> 23) & 1 ? 1 : 0;
  const h = c.half[sel];
  const bad = sel === 0 ? (hi & h.hiMask) !== 0 || (lo & h.loMask) !== 0 : (hi & h.hiMask) >>> 0 !== h.hiMask || (lo & h.loMask) >>> 0 !== h.loMask;
  if (bad) return { error: `address is outside the ${h.ia}-bit TTB${sel} range` };
  if (h.epd) return { error: `walks through TTB${sel} are disabled (EPD${sel} = 1)` };
  return { sel };
}
