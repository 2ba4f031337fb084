/**
 * The stream table as the SMMU's registers describe it, read straight from
 * memory (never through the SMMU's configuration caches): one row per
 * programmed StreamID with its STE, L1STD and CDs; the page tables those
 * rows reference; and the nested hypervisor's host-vs-shadow STE pairs.
 *
 * Side-effect free: memory is read with peek64, the SMMU only through its
 * register read accessor, and nested CD pointers (IPAs) are translated with
 * a private walk context over memory.
 */

import { genmask } from '../../emu/bits';
import { levelShift } from '../../emu/descriptor';
import type { PhysicalMemory } from '../../emu/memory';
import { type Cd, decodeCd, decodeL1cd, tg1Granule, validateCd } from '../../emu/smmu/cd';
import type { SmmuFeatures } from '../../emu/smmu/features';
import { CR0_SMMUEN, GBPA_ABORT, strtabCfg } from '../../emu/smmu/registers';
import type { Smmu } from '../../emu/smmu/smmu';
import {
  STE_FIELDS,
  type Ste,
  decodeL1std,
  decodeSte,
  s2ParamsFromSte,
  tg0Granule,
  validateSte,
} from '../../emu/smmu/ste';
import type { NestedHyp } from '../../emu/hyp/nested';
import { WalkCtx, effectivePaBits, s1StartLevel, s1TableConfigError, s2Concatenated, s2ConfigError, s2StartLevel, walkS2Only } from '../../emu/walk';
import type { CdRow, PtTableRef, RegisterView, ShadowPair, SteConfigView, StreamRow, StrtabView } from '../view';
import { fromHex, hx } from './common';
import { cdView, l1cdView, l1stdView, steView } from './structs';

/** Where a stream table is and how it is laid out (STRTAB_BASE / STRTAB_BASE_CFG). */
export interface StrtabGeometry {
  twoLevel: boolean;
  /** Base address, aligned as the SMMU aligns it. */
  base: bigint;
  /** MIN(LOG2SIZE, SIDSIZE): StreamIDs below 2^log2size are in range. */
  log2size: number;
  /** LOG2SIZE as programmed. */
  rawLog2size: number;
  /** Effective SPLIT (reserved values behave as 6, as in the model). */
  split: number;
  rawSplit: number;
}

/** Stream table geometry from raw STRTAB_BASE / STRTAB_BASE_CFG values, as the SMMU model derives it. */
export function strtabGeometry(baseReg: bigint, cfgReg: number, f: SmmuFeatures): StrtabGeometry {
  const cfg = strtabCfg(cfgReg);
  const log2size = Math.min(cfg.log2size, f.sidsize);
  let split = cfg.split;
  if (split !== 6 && split !== 8 && split !== 10) split = 6;
  const twoLevel = cfg.fmt === 1 && f.stLevel2;
  const raw = baseReg & 0x000f_ffff_ffff_ffc0n;
  const base = twoLevel
    ? raw & ~((1n << BigInt(Math.max(6, cfg.log2size - split + 3))) - 1n)
    : raw & ~((1n << BigInt(cfg.log2size + 6)) - 1n);
  return { twoLevel, base, log2size, rawLog2size: cfg.log2size, split, rawSplit: cfg.split };
}

export type SteLocation =
  | { ok: true; addr: bigint; l1?: { index: number; addr: bigint; desc: bigint } }
  | { ok: false; reason: string; l1?: { index: number; addr: bigint; desc: bigint } };

/** Locate StreamID `sid`'s STE (reading the L1STD with peek64 for a 2-level table). */
export function locateSte(mem: PhysicalMemory, g: StrtabGeometry, sid: number): SteLocation {
  if (!Number.isInteger(sid) || sid < 0 || sid >= 2 ** g.log2size) return { ok: false, reason: `StreamID ${sid} is outside the stream table (2^${g.log2size} entries)` };
  if (!g.twoLevel) return { ok: true, addr: g.base + BigInt(sid) * 64n };
  const index = Math.floor(sid / 2 ** g.split);
  const addr = g.base + BigInt(index) * 8n;
  const desc = mem.peek64(addr);
  if (desc === undefined) return { ok: false, reason: `no memory at the L1STD address ${hx(addr)}` };
  const l1 = { index, addr, desc };
  const { span, l2ptr } = decodeL1std(desc);
  if (span === 0 || span > 11 || span > g.split + 1) return { ok: false, reason: `the L1STD for StreamID ${sid} is invalid (Span ${span})`, l1 };
  const l2Index = sid % 2 ** g.split;
  if (l2Index >= 2 ** (span - 1)) return { ok: false, reason: `StreamID ${sid} is beyond the ${2 ** (span - 1)} STEs its L1STD spans`, l1 };
  return { ok: true, addr: (l2ptr & ~(BigInt(2 ** (span - 1) * 64) - 1n)) + BigInt(l2Index) * 64n, l1 };
}

function peekWords(mem: PhysicalMemory, addr: bigint, n: number): bigint[] | null {
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const w = mem.peek64(addr + BigInt(i * 8));
    if (w === undefined) return null;
    out.push(w);
  }
  return out;
}

function smmuGeometry(smmu: Smmu): StrtabGeometry {
  return strtabGeometry(smmu.readReg(0x80), Number(smmu.readReg(0x88) & 0xffffffffn), smmu.f);
}

/** STRTAB_BASE / _CFG, SMMUEN and GBPA.ABORT. */
export function strtabView(smmu: Smmu): StrtabView {
  const g = smmuGeometry(smmu);
  const cr0 = Number(smmu.readReg(0x20));
  return {
    fmt: g.twoLevel ? '2-level' : 'linear',
    base: hx(smmu.readReg(0x80) & 0x000f_ffff_ffff_ffc0n),
    log2size: g.rawLog2size,
    split: g.rawSplit,
    smmuen: (cr0 & CR0_SMMUEN) !== 0,
    gbpaAbort: (Number(smmu.readReg(0x44)) & GBPA_ABORT) !== 0,
  };
}

export interface StreamRowsOptions {
  /** Device names by StreamID. */
  devices?: ReadonlyMap<number, string>;
  /** StreamIDs to show even when their STE is all zero (or unreachable). */
  sids?: readonly number[];
  /** Most rows returned (default 1024). */
  max?: number;
  /** Most CD rows per stream (default 64). */
  maxCds?: number;
  /** Leave out STEs that are exactly V=1 Config=abort (what an initialised table is full of), unless listed in `sids`. */
  skipPlainAbort?: boolean;
}

/** Memory reads allowed while searching for programmed STEs / CDs. */
const SCAN_BUDGET = 1 << 20;
const CD_SCAN = 4096;

const nonZero = (dw: readonly bigint[]): boolean => dw.some((w) => w !== 0n);

/** SIDs whose STE is non-zero, in order (bounded work). */
/** True for an STE that is exactly Linux's abort STE (V=1, Config=abort, nothing else set). */
function plainAbort(mem: PhysicalMemory, a: bigint): boolean {
  if (mem.peek64(a) !== 1n) return false;
  for (let k = 1; k < 8; k++) if (mem.peek64(a + BigInt(k * 8)) !== 0n) return false;
  return true;
}

function programmedSids(mem: PhysicalMemory, g: StrtabGeometry, max: number, skipPlainAbort = false): number[] {
  const out: number[] = [];
  let budget = SCAN_BUDGET;
  const scan = (first: number, base: bigint, count: number): boolean => {
    for (let i = 0; i < count; i++) {
      if (budget <= 0 || out.length >= max) return false;
      const a = base + BigInt(i) * 64n;
      let any = false;
      for (let k = 0; k < 8; k++) {
        budget--;
        const w = mem.peek64(a + BigInt(k * 8));
        if (w !== undefined && w !== 0n) {
          any = true;
          break;
        }
      }
      if (any && !(skipPlainAbort && plainAbort(mem, a))) out.push(first + i);
    }
    return true;
  };
  const limit = 2 ** g.log2size;
  if (!g.twoLevel) {
    scan(0, g.base, limit);
    return out;
  }
  const perL1 = 2 ** g.split;
  const nL1 = Math.ceil(limit / perL1);
  for (let i = 0; i < nL1 && budget > 0 && out.length < max; i++) {
    budget--;
    const d = mem.peek64(g.base + BigInt(i) * 8n);
    if (d === undefined || d === 0n) continue;
    const { span, l2ptr } = decodeL1std(d);
    if (span === 0 || span > 11 || span > g.split + 1) continue;
    const n = Math.min(2 ** (span - 1), limit - i * perL1);
    if (!scan(i * perL1, l2ptr & ~(BigInt(2 ** (span - 1) * 64) - 1n), n)) break;
  }
  return out;
}

function configView(ste: Ste, f: SmmuFeatures, hyp: boolean): { config: SteConfigView; illegal?: string } {
  if ((ste.V & 1) === 0) return { config: 'invalid' };
  const v = validateSte(ste, f, hyp);
  if (!v.ok) return { config: 'illegal', illegal: v.reason };
  return { config: v.config };
}

/** An IPA → PA translator through an STE's stage 2 (null when it does not translate). */
function s2Translator(mem: PhysicalMemory, ste: Ste, f: SmmuFeatures): (ipa: bigint) => { pa: bigint } | { error: string } {
  const p = s2ParamsFromSte(ste, f);
  const ctx = new WalkCtx(mem);
  return (ipa) => {
    const r = walkS2Only(ctx, p, ipa, { access: 'read', priv: true });
    if (r.ok) return { pa: r.pa };
    return { error: r.fault.reason };
  };
}

/** The CD rows of an S1 / nested stream (bounded). */
function cdRows(mem: PhysicalMemory, sid: number, ste: Ste, f: SmmuFeatures, nested: boolean, warnings: string[], maxCds: number): CdRow[] {
  const rows: CdRow[] = [];
  const toPa = nested ? s2Translator(mem, ste, f) : (a: bigint) => ({ pa: a });
  const where = (ipa: bigint, what: string): bigint | null => {
    const r = toPa(ipa);
    if ('pa' in r) return r.pa;
    warnings.push(`the ${what} at IPA ${hx(ipa)} does not translate at stage 2 (${r.error}): CDs not shown`);
    return null;
  };
  const cdmax = f.ssidsize === 0 ? 0 : ste.S1CDMax & 31;
  const count = 2 ** cdmax;
  const ptr = ste.S1ContextPtr;
  const fmt = ste.S1Fmt & 3;
  const linear = cdmax === 0 || fmt === 0 || fmt === 3;
  let scanned = 0;
  const push = (ssid: number, ipa: bigint, l1?: RegisterView): boolean => {
    const pa = where(ipa, ssid === 0 && linear ? 'CD table' : `CD ${ssid}`);
    if (pa === null) return false;
    scanned++;
    const dw = peekWords(mem, pa, 8);
    if (!dw) {
      if (ssid === 0) warnings.push(`no memory at the CD address ${hx(pa)} (F_CD_FETCH)`);
      return true;
    }
    if (ssid !== 0 && !nonZero(dw)) return true;
    const cd = decodeCd(dw);
    const row: CdRow = {
      ssid,
      addr: hx(pa),
      valid: (cd.V & 1) === 1 && validateCd(cd, f, nested).ok,
      asid: cd.ASID,
      ttb0: hx(cd.TTB0),
      cd: cdView(sid, ssid, dw, f, nested),
    };
    if (l1) row.l1cd = l1;
    rows.push(row);
    return true;
  };
  if (linear) {
    for (let ssid = 0; ssid < count && scanned < CD_SCAN && rows.length < maxCds; ssid++) {
      if (!push(ssid, ptr + BigInt(ssid) * 64n)) break;
    }
    return rows;
  }
  const leafBits = fmt === 1 ? 6 : 10;
  const nL1 = Math.max(1, 2 ** Math.max(0, cdmax - leafBits));
  const perLeaf = Math.min(2 ** leafBits, count);
  for (let i = 0; i < nL1 && scanned < CD_SCAN && rows.length < maxCds; i++) {
    const l1Pa = where(ptr + BigInt(i) * 8n, `L1CD ${i}`);
    if (l1Pa === null) break;
    scanned++;
    const d = mem.peek64(l1Pa);
    if (d === undefined || d === 0n) continue;
    const l1v = l1cdView(d, i, { sid });
    const { v, l2ptr } = decodeL1cd(d);
    if (!v) continue;
    for (let j = 0; j < perLeaf && scanned < CD_SCAN && rows.length < maxCds; j++) {
      const ssid = i * 2 ** leafBits + j;
      if (!push(ssid, l2ptr + BigInt(j) * 64n, l1v)) return rows;
    }
  }
  return rows;
}

/** One stream row for `sid` at `addr` (STE words already read). */
function rowFor(
  mem: PhysicalMemory,
  f: SmmuFeatures,
  hyp: boolean,
  sid: number,
  loc: SteLocation,
  g: StrtabGeometry,
  opts: StreamRowsOptions,
): StreamRow {
  const device = opts.devices?.get(sid);
  const l1std = loc.l1 ? l1stdView(loc.l1.desc, g.split, loc.l1.index) : undefined;
  const zeros = new Array<bigint>(8).fill(0n);
  if (!loc.ok) {
    const ste = steView(sid, zeros, f, { smmuHasHyp: hyp });
    ste.warnings.unshift(`unreachable: ${loc.reason} (C_BAD_STREAMID)`);
    const row: StreamRow = { sid, addr: hx(0n), valid: false, config: 'invalid', illegal: loc.reason, ste, cds: [] };
    if (device !== undefined) row.device = device;
    if (l1std) row.l1std = l1std;
    return row;
  }
  const dw = peekWords(mem, loc.addr, 8);
  const ste = steView(sid, dw ?? zeros, f, { smmuHasHyp: hyp });
  if (!dw) ste.warnings.unshift(`no memory at the STE address ${hx(loc.addr)} (F_STE_FETCH)`);
  const d = decodeSte(dw ?? zeros);
  const cv = dw ? configView(d, f, hyp) : { config: 'invalid' as SteConfigView, illegal: `no memory at ${hx(loc.addr)}` };
  const row: StreamRow = { sid, addr: hx(loc.addr), valid: (d.V & 1) === 1, config: cv.config, ste, cds: [] };
  if (cv.illegal !== undefined) row.illegal = cv.illegal;
  if (device !== undefined) row.device = device;
  if (l1std) row.l1std = l1std;
  const c = cv.config;
  const s1 = c === 's1' || c === 'nested';
  const s2 = c === 's2' || c === 'nested';
  if (s2 || (c === 's1' && f.s2 && !(hyp && (d.STRW & 3) === 2))) row.vmid = d.S2VMID & (f.vmid16 ? 0xffff : 0xff);
  if (s2) row.s2ttb = hx(d.S2TTB);
  if (s1) {
    row.s1ContextPtr = hx(d.S1ContextPtr);
    row.cds = cdRows(mem, sid, d, f, c === 'nested', ste.warnings, opts.maxCds ?? 64);
    const cd0 = row.cds.find((r) => r.ssid === 0);
    if (cd0) row.asid = cd0.asid;
  }
  return row;
}

/**
 * Rows for every StreamID whose STE is non-zero in the stream table the
 * SMMU's registers point at (plus `opts.sids`), in SID order, at most
 * `opts.max` (default 1024).
 */
export function streamRows(smmu: Smmu, mem: PhysicalMemory, opts: StreamRowsOptions = {}): StreamRow[] {
  const g = smmuGeometry(smmu);
  return rowsFromTable(mem, g, smmu.f, smmu.f.hyp, opts);
}

/** Stream rows of any stream table (the host's virtual one, for instance). */
export function rowsFromTable(mem: PhysicalMemory, g: StrtabGeometry, f: SmmuFeatures, hyp: boolean, opts: StreamRowsOptions = {}): StreamRow[] {
  const max = Math.max(0, opts.max ?? 1024);
  const sids = new Set(programmedSids(mem, g, max, opts.skipPlainAbort));
  for (const s of opts.sids ?? []) if (Number.isInteger(s) && s >= 0 && s < 2 ** 32) sids.add(s);
  const ordered = [...sids].sort((a, b) => a - b).slice(0, max);
  return ordered.map((sid) => rowFor(mem, f, hyp, sid, locateSte(mem, g, sid), g, opts));
}

// ---------------------------------------------------------------------------
// Page tables referenced by the streams

function rawOf(view: RegisterView): bigint[] {
  return view.raw.map(fromHex);
}

/** A stage-2 table reference from an STE (null when its stage-2 configuration is unusable). */
export function s2RefFromSte(ste: Ste, f: SmmuFeatures, id: string, label: string, owner: 'host' | 'hyp' = 'host'): PtTableRef | null {
  const g = tg0Granule(ste.S2TG);
  if (g === undefined) return null;
  const p = s2ParamsFromSte(ste, f);
  if (s2ConfigError(p)) return null;
  const sl = s2StartLevel(p.sl0, g) as number;
  const ias = 64 - p.tsz;
  const bytes = 8n << BigInt(ias - levelShift(g, sl));
  const root = p.ttb & ~(bytes - 1n);
  return { id, label, stage: 2, granule: g, startLevel: sl, root: hx(root), ias, concat: s2Concatenated(p), owner };
}

/** A stage-1 table reference from one half of a CD (null when disabled or unusable). */
export function s1RefFromCd(cd: Cd, half: 0 | 1, f: SmmuFeatures, label: string, owner: 'host' | 'hyp' = 'host'): PtTableRef | null {
  const epd = half === 0 ? cd.EPD0 : cd.EPD1;
  if ((cd.V & 1) === 0 || (epd & 1) === 1) return null;
  const g = half === 0 ? tg0Granule(cd.TG0) : tg1Granule(cd.TG1);
  if (g === undefined) return null;
  const tsz = (half === 0 ? cd.T0SZ : cd.T1SZ) & 63;
  const ttb = (half === 0 ? cd.TTB0 : cd.TTB1) & genmask(51, 4);
  if (s1TableConfigError({ ttb, tsz, granule: g, epd: false, had: false, tbi: false }, f.oas)) return null;
  const ias = 64 - tsz;
  const sl = s1StartLevel(ias, g);
  let bytes = 8n << BigInt(ias - levelShift(g, sl));
  if (effectivePaBits(cd.IPS & 7, f.oas, g) === 52 && bytes < 64n) bytes = 64n;
  const root = ttb & ~(bytes - 1n);
  return { id: `s1:${hx(root)}`, label, stage: 1, granule: g, startLevel: sl, root: hx(root), ias, concat: 1, owner };
}

/**
 * The page tables the stream rows reference: every S2TTB (stage 2, from
 * the STE's VTCR fields) and every CD's TTB0 (and TTB1 unless EPD1), with
 * `extra` (hyp-internal tables the caller knows of) first. Deduplicated by
 * stage and root; ids are `s1:0x…` / `s2:0x…`. For a nested stream the
 * stage-1 roots are IPAs (the hyp's identity stage 2 makes them PAs too).
 */
export function tableRefsFromStreams(rows: readonly StreamRow[], features: SmmuFeatures | Smmu, extra: readonly PtTableRef[] = []): PtTableRef[] {
  const f: SmmuFeatures = 'f' in features && 'readReg' in features ? features.f : (features as SmmuFeatures);
  const out: PtTableRef[] = [];
  const seen = new Map<string, PtTableRef>();
  const add = (r: PtTableRef | null): void => {
    if (!r) return;
    const key = `s${r.stage}:${r.root}`;
    if (seen.has(key)) return;
    seen.set(key, r);
    out.push(r);
  };
  for (const r of extra) add(r);
  for (const row of rows) {
    if (row.config !== 's2' && row.config !== 'nested' && row.config !== 's1') continue;
    const ste = decodeSte(rawOf(row.ste));
    if (row.config === 's2' || row.config === 'nested') {
      const r = s2RefFromSte(ste, f, '', `S2 of SID ${row.sid} (VMID ${ste.S2VMID})`);
      if (r) add({ ...r, id: `s2:${r.root}` });
    }
    for (const c of row.cds) {
      const cd = decodeCd(rawOf(c.cd));
      for (const half of [0, 1] as const) {
        add(s1RefFromCd(cd, half, f, `S1 TTB${half} of SID ${row.sid} SSID ${c.ssid} (ASID ${cd.ASID})${row.config === 'nested' ? ', IPA-addressed' : ''}`));
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Nested: host STE vs shadow STE

/** Reads the host's STE for a SID (null when it has none). */
export type HostSteReader = (sid: number) => bigint[] | null;

/** The host's STE for a SID, from its virtual STRTAB registers and host memory (what the hyp reads). */
export function nestedHostSteReader(nested: NestedHyp): HostSteReader {
  const v = nested.virtualRegs();
  const g = strtabGeometry(v.strtabBase, v.strtabBaseCfg, nested.hostFeatures);
  return (sid) => {
    const loc = locateSte(nested.mem, g, sid);
    if (!loc.ok) return null;
    return peekWords(nested.mem, loc.addr, 8);
  };
}

/** Names of STE fields whose values differ between two STEs (absent = all zero). */
export function steDiff(a: readonly bigint[] | null, b: readonly bigint[] | null): string[] {
  const za = decodeSte(a ?? []);
  const zb = decodeSte(b ?? []);
  const ra = za as unknown as Record<string, number | bigint>;
  const rb = zb as unknown as Record<string, number | bigint>;
  return STE_FIELDS.map((s) => s.name).filter((n) => ra[n] !== rb[n]);
}

/**
 * Host STE vs the shadow STE the real SMMU uses, for every SID the nested
 * hyp has shadowed. `hostSteReader` defaults to reading the host's stream
 * table (its virtual STRTAB registers) from memory.
 */
export function shadowPairs(nested: NestedHyp, hostSteReader?: HostSteReader): ShadowPair[] {
  const read = hostSteReader ?? nestedHostSteReader(nested);
  const hostF = nested.hostFeatures;
  const realF = nested.smmu.f;
  return nested.shadowInfo().map((info) => {
    let host: bigint[] | null;
    try {
      host = read(info.sid) ?? info.hostDw ?? null;
    } catch {
      host = info.hostDw ?? null;
    }
    const shadow = nested.shadowSte(info.sid);
    return {
      sid: info.sid,
      hostKind: info.host,
      shadowKind: info.shadow,
      host: host ? steView(info.sid, host, hostF, { title: `Host STE ${info.sid}`, smmuHasHyp: false }) : null,
      shadow: shadow ? steView(info.sid, shadow, realF, { title: `Shadow STE ${info.sid}` }) : null,
      differs: steDiff(host, shadow),
    };
  });
}

/** Config of a decoded STE as a view name (for callers with raw words). */
export function steConfigViewOf(dw: readonly bigint[], f: SmmuFeatures, hyp = f.hyp): SteConfigView {
  return configView(decodeSte(dw), f, hyp).config;
}

