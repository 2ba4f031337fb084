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

import { field } from './bits';
import {
  type Granule,
  type DescKind,
  bitsPerLevel,
  descAddress,
  descKind,
  decodeS1Leaf,
  decodeS1Table,
  decodeS2Leaf,
  granuleShift,
  levelShift,
  psToBits,
} from './descriptor';
import type { PhysicalMemory } from './memory';

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
}

/** Walk context: memory, an optional trace to append to, and a read counter. */
export interface WalkCtx {
  mem: PhysicalMemory;
  trace?: TraceEntry[];
  reads: number;
}

export function newCtx(mem: PhysicalMemory, trace = false): WalkCtx {
  return { mem, trace: trace ? [] : undefined, reads: 0 };
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

/** 52-bit addresses in descriptors (64K granule, FEAT_LPA): OA[51:48] live in bits [15:12]. */
function lpa(g: Granule, paBits: number): boolean {
  return g === 65536 && paBits === 52;
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
// Memory reads

function fetch(
  ctx: WalkCtx,
  addr: bigint,
  stage: 0 | 1 | 2,
  level: number,
  purpose: TracePurpose,
  ia?: bigint,
): { desc: bigint | undefined; entry?: TraceEntry } {
  ctx.reads++;
  const desc = ctx.mem.read64(addr);
  if (ctx.trace) {
    const entry: TraceEntry = { stage, level, addr, desc, purpose, ia };
    ctx.trace.push(entry);
    return { desc, entry };
  }
  return { desc };
}

/** Fetch a configuration structure word (STE, CD, L1STD, L1CD) with tracing. */
export function fetchConfig(ctx: WalkCtx, addr: bigint, purpose: TracePurpose): bigint | undefined {
  return fetch(ctx, addr, 0, 0, purpose).desc;
}

function fault(
  type: WalkFaultType,
  stage: 1 | 2,
  cls: FaultClass,
  addr: bigint,
  reason: string,
  extra: Partial<WalkFault> = {},
): WalkErr {
  const f: WalkFault = { type, stage, class: cls, addr, reason, ...extra };
  if (stage === 2) f.ipa = addr;
  return { ok: false, fault: f };
}

// ---------------------------------------------------------------------------
// Stage 2

export interface S2Request {
  ipa: bigint;
  txn: Transaction;
  /** What this stage-2 walk serves (trace purpose) and the event CLASS it reports. */
  purpose: 's2-for-s1-table' | 's2-for-output' | 's2-for-cd';
  cls: FaultClass;
}

export type S2Result = { ok: true; leaf: S2Leaf; pa: bigint } | WalkErr;

export function walkS2(ctx: WalkCtx, p: S2WalkParams, req: S2Request): S2Result {
  const { ipa, cls } = req;
  const tableWalk = cls !== 'IN';
  const cfgErr = s2ConfigError(p);
  if (cfgErr) return fault('C_BAD_STE', 2, cls, ipa, cfgErr);
  const g = p.granule;
  const ia = 64 - p.tsz;
  if (ipa < 0n || ipa >> BigInt(ia) !== 0n) {
    return fault('F_TRANSLATION', 2, cls, ipa, `IPA is outside the ${ia}-bit input range set by S2T0SZ`);
  }
  const paBits = effectivePaBits(p.ps, p.oasBits, g);
  const useLpa = lpa(g, paBits);
  const start = s2StartLevel(p.sl0, g) as number;
  const stride = bitsPerLevel(g);
  const startEntries = 1n << BigInt(ia - levelShift(g, start));
  let table = p.ttb & ~(startEntries * 8n - 1n);
  if (table >> BigInt(paBits) !== 0n) {
    return fault('F_ADDR_SIZE', 2, cls, ipa, `S2TTB is wider than the ${paBits}-bit output size`, { level: start });
  }
  for (let level = start; level <= 3; level++) {
    const shift = levelShift(g, level);
    const entries = level === start ? startEntries : 1n << BigInt(stride);
    const idx = (ipa >> BigInt(shift)) & (entries - 1n);
    const addr = table + idx * 8n;
    const { desc, entry } = fetch(ctx, addr, 2, level, req.purpose, ipa);
    if (desc === undefined) {
      return fault('F_WALK_EABT', 2, cls, ipa, 'external abort fetching a stage-2 descriptor', { level, fetchAddr: addr });
    }
    let kind = descKind(desc, level);
    if (kind === 'block' && !blockAllowed(g, level, paBits)) kind = 'reserved';
    if (entry) entry.kind = kind;
    if (kind === 'invalid' || kind === 'reserved') {
      return fault('F_TRANSLATION', 2, cls, ipa, `stage-2 level ${level} descriptor is ${kind}`, { level });
    }
    if (kind === 'table') {
      const next = descAddress(desc, g, 1n << BigInt(granuleShift(g)), useLpa);
      if (next >> BigInt(paBits) !== 0n) {
        return fault('F_ADDR_SIZE', 2, cls, ipa, `next-level table address is wider than ${paBits} bits`, { level });
      }
      table = next;
      continue;
    }
    const size = 1n << BigInt(shift);
    const base = descAddress(desc, g, size, useLpa);
    if (base >> BigInt(paBits) !== 0n) {
      return fault('F_ADDR_SIZE', 2, cls, ipa, `output address is wider than ${paBits} bits`, { level });
    }
    const a = decodeS2Leaf(desc);
    if (!a.af && !p.affd) return fault('F_ACCESS', 2, cls, ipa, 'stage-2 access flag is 0', { level });
    const perm: S2Perm = { s2ap: a.s2ap, xn: a.xn, xnx: p.xnx };
    const denied = s2PermissionDenied(perm, req.txn, tableWalk);
    if (denied) return fault('F_PERMISSION', 2, cls, ipa, denied, { level });
    if (tableWalk && p.ptw && (a.memAttr & 0xc) === 0) {
      return fault('F_PERMISSION', 2, cls, ipa, 'stage-1 table walk to Device memory with S2PTW set', { level });
    }
    const leaf: S2Leaf = { level, desc, size, base, perm, memAttr: a.memAttr };
    return { ok: true, leaf, pa: base | (ipa & (size - 1n)) };
  }
  /* c8 ignore next */
  throw new Error('unreachable: stage-2 walk ran past level 3');
}

// ---------------------------------------------------------------------------
// Stage 1 (optionally nested)

/** Select TTB0/TTB1 for an input address; null with a reason when it falls in no range. */
export function selectTtb(p: S1WalkParams, va: bigint): { sel: 0 | 1 } | { error: string } {
  const v = BigInt.asUintN(64, va);
  const sel: 0 | 1 = (v >> 55n) & 1n ? 1 : 0;
  const tt = p.tt[sel];
  const ia = 64 - tt.tsz;
  const top = tt.tbi ? 55 : 63;
  const upper = field(v, top, ia);
  const allOnes = (1n << BigInt(top - ia + 1)) - 1n;
  if ((sel === 0 && upper !== 0n) || (sel === 1 && upper !== allOnes)) {
    return { error: `address is outside both TTB0 and TTB1 ranges (${ia}-bit ${sel === 0 ? 'lower' : 'upper'} range)` };
  }
  if (tt.epd) return { error: `walks through TTB${sel} are disabled (EPD${sel} = 1)` };
  return { sel };
}

export interface S1Request {
  va: bigint;
  txn: Transaction;
}

/**
 * Stage-1 walk. With `s2`, the walk is nested: the TTB and every table
 * address are IPAs translated through stage 2 (CLASS = TT), and the output
 * IPA is translated through stage 2 for the transaction itself (CLASS = IN).
 */
export function walkS1(ctx: WalkCtx, p: S1WalkParams, req: S1Request, s2?: S2WalkParams): WalkResult {
  const va = BigInt.asUintN(64, req.va);
  const range = selectTtb(p, va);
  if ('error' in range) return fault('F_TRANSLATION', 1, 'IN', va, range.error);
  const sel = range.sel;
  const tt = p.tt[sel];
  const cfgErr = s1TableConfigError(tt, p.oasBits);
  if (cfgErr) return fault('C_BAD_CD', 1, 'IN', va, cfgErr);
  const g = tt.granule;
  const ia = 64 - tt.tsz;
  const paBits = effectivePaBits(p.ips, p.oasBits, g);
  const useLpa = lpa(g, paBits);
  const stride = bitsPerLevel(g);
  const start = s1StartLevel(ia, g);
  const startEntries = 1n << BigInt(ia - levelShift(g, start));
  let table = tt.ttb & ~(startEntries * 8n - 1n);
  if (table >> BigInt(paBits) !== 0n) {
    return fault('F_ADDR_SIZE', 1, 'IN', va, `TTB${sel} is wider than the ${paBits}-bit output size`, { level: start });
  }
  let apTable = 0;
  let pxnTable = false;
  let uxnTable = false;
  for (let level = start; level <= 3; level++) {
    const shift = levelShift(g, level);
    const entries = level === start ? startEntries : 1n << BigInt(stride);
    const idx = (va >> BigInt(shift)) & (entries - 1n);
    let addr = table + idx * 8n;
    if (s2) {
      const r = walkS2(ctx, s2, { ipa: addr, txn: req.txn, purpose: 's2-for-s1-table', cls: 'TT' });
      if (!r.ok) return r;
      addr = r.pa;
    }
    const { desc, entry } = fetch(ctx, addr, 1, level, 's1-table', va);
    if (desc === undefined) {
      return fault('F_WALK_EABT', 1, 'TT', va, 'external abort fetching a stage-1 descriptor', { level, fetchAddr: addr });
    }
    let kind = descKind(desc, level);
    if (kind === 'block' && !blockAllowed(g, level, paBits)) kind = 'reserved';
    if (entry) entry.kind = kind;
    if (kind === 'invalid' || kind === 'reserved') {
      return fault('F_TRANSLATION', 1, 'IN', va, `stage-1 level ${level} descriptor is ${kind}`, { level });
    }
    if (kind === 'table') {
      const next = descAddress(desc, g, 1n << BigInt(granuleShift(g)), useLpa);
      if (next >> BigInt(paBits) !== 0n) {
        return fault('F_ADDR_SIZE', 1, 'IN', va, `next-level table address is wider than ${paBits} bits`, { level });
      }
      if (!tt.had) {
        const t = decodeS1Table(desc);
        apTable |= t.apTable;
        pxnTable ||= t.pxnTable;
        uxnTable ||= t.uxnTable;
      }
      table = next;
      continue;
    }
    const size = 1n << BigInt(shift);
    const base = descAddress(desc, g, size, useLpa);
    if (base >> BigInt(paBits) !== 0n) {
      return fault('F_ADDR_SIZE', 1, 'IN', va, `output address is wider than ${paBits} bits`, { level });
    }
    const a = decodeS1Leaf(desc);
    if (!a.af && !p.affd) return fault('F_ACCESS', 1, 'IN', va, 'stage-1 access flag is 0', { level });
    let ap = a.ap;
    if (apTable & 1) ap &= ~1; // APTable[0]: no EL0 access below
    if (apTable & 2) ap |= 2; // APTable[1]: read-only below
    const perm: S1Perm = { ap, pxn: a.pxn || pxnTable, uxn: a.uxn || uxnTable, wxn: p.wxn, pan: p.pan };
    const denied = s1PermissionDenied(perm, req.txn);
    if (denied) return fault('F_PERMISSION', 1, 'IN', va, denied, { level });
    const s1: S1Leaf = { level, desc, size, base, perm, nG: a.nG, ttbSel: sel, attrIndx: a.attrIndx };
    const ipa = base | (va & (size - 1n));
    if (!s2) return { ok: true, pa: ipa, ipa, s1, size };
    const r2 = walkS2(ctx, s2, { ipa, txn: req.txn, purpose: 's2-for-output', cls: 'IN' });
    if (!r2.ok) return r2;
    return { ok: true, pa: r2.pa, ipa, s1, s2: r2.leaf, size: size < r2.leaf.size ? size : r2.leaf.size };
  }
  /* c8 ignore next */
  throw new Error('unreachable: stage-1 walk ran past level 3');
}

/** Stage-2-only translation: the input address is the IPA. */
export function walkS2Only(ctx: WalkCtx, p: S2WalkParams, ipa: bigint, txn: Transaction): WalkResult {
  const r = walkS2(ctx, p, { ipa, txn, purpose: 's2-for-output', cls: 'IN' });
  if (!r.ok) return r;
  return { ok: true, pa: r.pa, ipa, s2: r.leaf, size: r.leaf.size };
}
