/**
 * Test-only helper: an SMMU wired up the way a driver does it.
 *
 * Builds emulated memory holding a stream table (linear, or 2-level with
 * L1STDs), STEs and CDs written with the encoders, real io-pgtable stage-1 /
 * stage-2 tables, and the command and event queues; programs the registers
 * (STRTAB_BASE(_CFG), CMDQ_BASE, EVENTQ_BASE, CR2, CR0) and gives a driver's
 * view of the queues: submit a command, read back event records from queue
 * memory (never from the model's own eventLog).
 *
 * Memory map (RAM is [0, 4 GiB) unless told otherwise; anything above is
 * unbacked, so a pointer there aborts):
 *   0x0010_0000  stream table (linear, or the L1STD array)
 *   0x0020_0000  command queue
 *   0x0030_0000  event queue
 *   0x0100_0000  bump region: L2 STE arrays, CD tables, L1CD tables
 *   0x1000_0000  stage-1 io-pgtable tables
 *   0x2000_0000  stage-2 io-pgtable tables
 */

import type { Granule } from '../descriptor';
import { ArmLpaeIoPgtable, IOMMU_READ, IOMMU_WRITE } from '../iopgtable';
import { PhysicalMemory, type RamRange, TableAllocator } from '../memory';
import { type Cd, encodeCd, encodeL1cd } from './cd';
import { type CerrorCode, type Command, encodeCommand } from './commands';
import { type EventRecord, canonicalEvent, decodeEvent, encodeEvent } from './events';
import type { SmmuFeatures } from './features';
import { CR0_CMDQEN, CR0_EVTQEN, CR0_SMMUEN, CR2_E2H, CR2_RECINVSID, Q_OVFLG } from './registers';
import { type Access, Smmu, type TranslateResult } from './smmu';
import { type Ste, encodeL1std, encodeSte } from './ste';

export const RW = IOMMU_READ | IOMMU_WRITE;
export const RO = IOMMU_READ;

export const STRTAB_ADDR = 0x0010_0000n;
export const CMDQ_ADDR = 0x0020_0000n;
export const EVTQ_ADDR = 0x0030_0000n;
export const BUMP_ADDR = 0x0100_0000n;
export const S1_TABLES = 0x1000_0000n;
export const S2_TABLES = 0x2000_0000n;
/** First address with no RAM behind it (default RAM is [0, 4 GiB)). */
export const NO_RAM = 0x1_0000_0000n;
export const DEFAULT_RAM: RamRange[] = [{ base: 0n, size: NO_RAM }];

export type StrtabLayout = { fmt: 'linear'; log2size: number } | { fmt: '2level'; log2size: number; split: number };

export interface TestbedOptions {
  features?: Partial<SmmuFeatures>;
  /** RAM ranges (default [0, 4 GiB)); null: the whole 52-bit space exists. */
  ram?: RamRange[] | null;
  strtab?: StrtabLayout;
  cmdqLog2?: number;
  evtqLog2?: number;
  /** CR2.RECINVSID (default true). */
  recinvsid?: boolean;
  /** CR2.E2H (default false). */
  e2h?: boolean;
  /** CR0 value (default SMMUEN | EVTQEN | CMDQEN); null leaves the SMMU unprogrammed. */
  cr0?: number | null;
  tlbCapacity?: number;
}

/** A driver's view of the device. */
export class Testbed {
  readonly mem: PhysicalMemory;
  readonly smmu: Smmu;
  readonly s1Alloc: TableAllocator;
  readonly s2Alloc: TableAllocator;
  readonly strtab: StrtabLayout;
  readonly cmdqLog2: number;
  readonly evtqLog2: number;
  private bump = BUMP_ADDR;
  /** Level-2 STE arrays allocated so far, by L1 index. */
  private readonly l2 = new Map<number, bigint>();
  /** Software's event queue consumer index (with wrap bit), as written to EVENTQ_CONS. */
  private evCons = 0;

  constructor(opts: TestbedOptions = {}) {
    this.mem = new PhysicalMemory(opts.ram === undefined ? DEFAULT_RAM : opts.ram);
    this.smmu = new Smmu(this.mem, opts.features ?? {}, opts.tlbCapacity);
    this.s1Alloc = new TableAllocator(this.mem, S1_TABLES, S1_TABLES + 0x0800_0000n);
    this.s2Alloc = new TableAllocator(this.mem, S2_TABLES, S2_TABLES + 0x0800_0000n);
    this.strtab = opts.strtab ?? { fmt: 'linear', log2size: 8 };
    this.cmdqLog2 = opts.cmdqLog2 ?? 3;
    this.evtqLog2 = opts.evtqLog2 ?? 3;
    if (opts.cr0 === null) return;
    const s = this.smmu;
    const cfg =
      this.strtab.fmt === 'linear' ? this.strtab.log2size : this.strtab.log2size | (this.strtab.split << 6) | (1 << 16);
    expectTrue(s.writeRegByName('STRTAB_BASE', STRTAB_ADDR), 'STRTAB_BASE');
    expectTrue(s.writeRegByName('STRTAB_BASE_CFG', BigInt(cfg)), 'STRTAB_BASE_CFG');
    expectTrue(s.writeRegByName('CMDQ_BASE', CMDQ_ADDR | BigInt(this.cmdqLog2)), 'CMDQ_BASE');
    expectTrue(s.writeRegByName('CMDQ_PROD', 0n), 'CMDQ_PROD');
    expectTrue(s.writeRegByName('CMDQ_CONS', 0n), 'CMDQ_CONS');
    expectTrue(s.writeRegByName('EVENTQ_BASE', EVTQ_ADDR | BigInt(this.evtqLog2)), 'EVENTQ_BASE');
    expectTrue(s.writeRegByName('EVENTQ_PROD', 0n), 'EVENTQ_PROD');
    expectTrue(s.writeRegByName('EVENTQ_CONS', 0n), 'EVENTQ_CONS');
    expectTrue(s.writeRegByName('CR2', BigInt((opts.recinvsid === false ? 0 : CR2_RECINVSID) | (opts.e2h ? CR2_E2H : 0))), 'CR2');
    s.writeRegByName('CR0', BigInt(opts.cr0 ?? CR0_SMMUEN | CR0_EVTQEN | CR0_CMDQEN));
  }

  // ---------------------------------------------------------------------------
  // Memory for configuration structures

  /** Zeroed, naturally aligned memory from the bump region. */
  allocStruct(size: bigint, align: bigint = size): bigint {
    const a = (this.bump + align - 1n) & ~(align - 1n);
    this.bump = a + size;
    this.mem.zero(a, size);
    return a;
  }

  writeWords(addr: bigint, words: readonly bigint[]): void {
    words.forEach((w, i) => {
      if (!this.mem.write64(addr + BigInt(i) * 8n, w)) throw new Error(`testbed: no RAM at 0x${(addr + BigInt(i) * 8n).toString(16)}`);
    });
  }

  readWords(addr: bigint, n: number): bigint[] {
    const out: bigint[] = [];
    for (let i = 0; i < n; i++) out.push(this.mem.peek64(addr + BigInt(i) * 8n) ?? -1n);
    return out;
  }

  // ---------------------------------------------------------------------------
  // Stream table

  /** Address of the L1STD for an L1 index (2-level tables). */
  l1stdAddr(l1Index: number): bigint {
    return STRTAB_ADDR + BigInt(l1Index) * 8n;
  }

  /** Write an L1STD. */
  setL1std(l1Index: number, span: number, l2ptr: bigint): void {
    this.writeWords(this.l1stdAddr(l1Index), [encodeL1std({ span, l2ptr })]);
  }

  /**
   * Address of a StreamID's STE. For a 2-level table the level-2 array is
   * allocated (full span, SPLIT + 1, as Linux does) on first use.
   */
  steAddr(sid: number): bigint {
    if (this.strtab.fmt === 'linear') return STRTAB_ADDR + BigInt(sid) * 64n;
    const split = this.strtab.split;
    const l1 = Math.floor(sid / 2 ** split);
    let l2 = this.l2.get(l1);
    if (l2 === undefined) {
      const bytes = 64n << BigInt(split);
      l2 = this.allocStruct(bytes);
      this.l2.set(l1, l2);
      this.setL1std(l1, split + 1, l2);
    }
    return l2 + BigInt(sid % 2 ** split) * 64n;
  }

  writeSte(sid: number, fields: Partial<Ste>): bigint {
    const a = this.steAddr(sid);
    this.writeWords(a, encodeSte(fields));
    return a;
  }

  // ---------------------------------------------------------------------------
  // Context descriptors

  writeCd(addr: bigint, fields: Partial<Cd>): void {
    this.writeWords(addr, encodeCd(fields));
  }

  /** A linear CD table of 2^log2 entries; returns its base. */
  cdTable(log2: number): bigint {
    const bytes = 64n << BigInt(log2);
    return this.allocStruct(bytes, bytes < 64n ? 64n : bytes);
  }

  /** A 2-level CD table: the L1CD array for 2^cdmax SSIDs with 2^leafBits CDs per leaf. */
  cdL1Table(cdmax: number, leafBits: number): bigint {
    const n = 2 ** Math.max(0, cdmax - leafBits);
    return this.allocStruct(BigInt(Math.max(n * 8, 64)));
  }

  /** Allocate a level-2 CD table and point the L1CD at `l1Index` to it; returns the leaf base. */
  cdLeaf(l1Base: bigint, l1Index: number, leafBits: number, valid = true): bigint {
    const bytes = 64n << BigInt(leafBits);
    const leaf = this.allocStruct(bytes, bytes < 4096n ? 4096n : bytes);
    this.writeWords(l1Base + BigInt(l1Index) * 8n, [encodeL1cd({ v: valid ? 1 : 0, l2ptr: leaf })]);
    return leaf;
  }

  // ---------------------------------------------------------------------------
  // Page tables

  s1Table(granule: Granule = 4096, ias = 48, oas = 48): ArmLpaeIoPgtable {
    return ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s1', granule, ias, oas }, this.s1Alloc);
  }

  s2Table(granule: Granule = 4096, ias = 48, oas = 48): ArmLpaeIoPgtable {
    return ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s2', granule, ias, oas }, this.s2Alloc);
  }

  // ---------------------------------------------------------------------------
  // Commands

  /** Put a command in the queue, ring the doorbell; the CERROR the queue stopped with. */
  cmd(c: Command): CerrorCode {
    const [dw0, dw1] = encodeCommand(c);
    return this.smmu.submit(dw0, dw1);
  }

  sync(): CerrorCode {
    return this.cmd({ op: 'CMD_SYNC', cs: 0, msh: 0, msiattr: 0, msidata: 0, msiaddr: 0n });
  }

  /** Command and CMD_SYNC, both expected to succeed. */
  cmdSync(c: Command): void {
    expectTrue(this.cmd(c) === 0, `${c.op} failed`);
    expectTrue(this.sync() === 0, 'CMD_SYNC failed');
  }

  reg(name: string): number {
    return Number(this.smmu.readRegByName(name) ?? -1n);
  }

  // ---------------------------------------------------------------------------
  // Event queue (a driver's consumer)

  /** The four dwords of event queue slot `idx`. */
  eventSlot(idx: number): bigint[] {
    return this.readWords(EVTQ_ADDR + BigInt(idx) * 32n, 4);
  }

  /** Records between software's CONS and the SMMU's PROD, raw, in order; advances CONS (keeping OVACKFLG). */
  drainRaw(): bigint[][] {
    const n = 2 ** this.evtqLog2;
    const mask = 2 * n - 1;
    const prod = this.reg('EVENTQ_PROD');
    const out: bigint[][] = [];
    let cons = this.evCons & mask;
    let guard = 0;
    while ((cons & mask) !== (prod & mask) && guard++ < 2 * n) {
      out.push(this.eventSlot(cons & (n - 1)));
      cons = (cons + 1) & mask;
    }
    this.evCons = ((prod & Q_OVFLG) | cons) >>> 0;
    this.smmu.writeRegByName('EVENTQ_CONS', BigInt(this.evCons));
    return out;
  }

  /** Decoded records from queue memory (see drainRaw). */
  drain(): EventRecord[] {
    return this.drainRaw().map((dw) => decodeEvent(dw));
  }

  /**
   * A second, cold SMMU over the same memory and stream table (SMMUEN only:
   * its events are discarded, so it never writes the shared queue memory).
   */
  twin(features?: Partial<SmmuFeatures>): Smmu {
    const t = new Smmu(this.mem, features ?? this.smmu.f);
    for (const r of ['STRTAB_BASE', 'STRTAB_BASE_CFG', 'CR2']) t.writeRegByName(r, this.smmu.readRegByName(r) ?? 0n);
    t.writeRegByName('CR0', BigInt(CR0_SMMUEN));
    t.syncModel = this.smmu.syncModel;
    return t;
  }

  // ---------------------------------------------------------------------------
  // Transactions

  tr(sid: number, iova: bigint, more: { ssid?: number; access?: Access; priv?: boolean; trace?: boolean } = {}): TranslateResult {
    return this.smmu.translate({ sid, ssid: more.ssid, iova, access: more.access ?? 'read', priv: more.priv ?? false, trace: more.trace });
  }

  /** PA of a successful translation, or throw with the result. */
  pa(sid: number, iova: bigint, more: { ssid?: number; access?: Access; priv?: boolean } = {}): bigint {
    const r = this.tr(sid, iova, more);
    if (r.kind !== 'ok' && r.kind !== 'bypass') throw new Error(`translate sid ${sid} 0x${iova.toString(16)}: ${r.kind} ${'reason' in r ? r.reason : ''}`);
    return r.pa;
  }
}

function expectTrue(ok: boolean, what: string): void {
  if (!ok) throw new Error(`testbed: ${what} was refused`);
}

// -----------------------------------------------------------------------------
// Structure builders

/** A CD for an io-pgtable stage-1 table (TTB0 only, TTB1 disabled), R = 1, A = 1. */
export function cdFor(pgt: ArmLpaeIoPgtable, asid: number, extra: Partial<Cd> = {}): Partial<Cd> {
  const s1 = pgt.s1;
  if (!s1) throw new Error('cdFor: not a stage-1 table');
  return {
    V: 1,
    A: 1,
    R: 1,
    AA64: 1,
    T0SZ: s1.tsz,
    TG0: s1.tg,
    IR0: s1.irgn,
    OR0: s1.orgn,
    SH0: s1.sh,
    IPS: s1.ips,
    EPD1: 1,
    ASID: asid,
    TTB0: s1.ttbr,
    MAIR0: Number(s1.mair & 0xffffffffn),
    MAIR1: Number(s1.mair >> 32n),
    ...extra,
  };
}

/** STE stage-2 fields for an io-pgtable stage-2 table, S2R = 1. */
export function s2Fields(pgt: ArmLpaeIoPgtable, vmid: number, extra: Partial<Ste> = {}): Partial<Ste> {
  const s2 = pgt.s2;
  if (!s2) throw new Error('s2Fields: not a stage-2 table');
  return {
    S2VMID: vmid,
    S2T0SZ: s2.tsz,
    S2SL0: s2.sl,
    S2TG: s2.tg,
    S2PS: s2.ps,
    S2IR0: s2.irgn,
    S2OR0: s2.orgn,
    S2SH0: s2.sh,
    S2AA64: 1,
    S2R: 1,
    S2TTB: s2.vttbr,
    ...extra,
  };
}

/** mapPages that must succeed. */
export function map(pgt: ArmLpaeIoPgtable, iova: bigint, pa: bigint, size: bigint, prot = RW, count = 1): void {
  const r = pgt.mapPages(iova, pa, size, count, prot);
  if (r.error) throw new Error(`map 0x${iova.toString(16)} -> 0x${pa.toString(16)}: ${r.error}`);
}

/** Identity-map, at stage 2, every page of every table a stage-1 io-pgtable owns (so a nested walk can reach them). */
export function mapTablesIdentity(s2: ArmLpaeIoPgtable, s1: ArmLpaeIoPgtable): void {
  for (const t of s1.tables()) {
    const pages = Number((t.size + 4095n) / 4096n);
    for (let i = 0; i < pages; i++) {
      const a = t.addr + BigInt(i) * 4096n;
      if (s2.iovaToPhys(a) === null) map(s2, a, a, 4096n, RO);
    }
  }
}

// -----------------------------------------------------------------------------
// Expected event records

export interface TxnFields {
  sid: number;
  ssid?: number;
  iova: bigint;
  access?: Access;
  priv?: boolean;
}

/** A translation-class record (F_TRANSLATION / F_ADDR_SIZE / F_ACCESS / F_PERMISSION / F_WALK_EABT) as the architecture fills it. */
export function walkEvent(
  type: 'F_TRANSLATION' | 'F_ADDR_SIZE' | 'F_ACCESS' | 'F_PERMISSION' | 'F_WALK_EABT',
  t: TxnFields,
  f: { s2: boolean; cls: 'CD' | 'TT' | 'IN'; ipa?: bigint; fetchAddr?: bigint },
): EventRecord {
  const access = t.access ?? 'read';
  const e: EventRecord = {
    type,
    code: 0,
    sid: t.sid,
    ssv: t.ssid !== undefined,
    ssid: t.ssid ?? 0,
    stag: 0,
    stall: false,
    pnu: t.priv ?? false,
    ind: access === 'exec',
    rnw: access !== 'write',
    s2: f.s2,
    cls: f.cls,
    inputAddr: t.iova,
  };
  if (f.cls === 'TT') e.ttRead = true;
  if (f.ipa !== undefined) e.ipa = f.ipa & ~0xfffn;
  if (f.fetchAddr !== undefined) e.fetchAddr = f.fetchAddr & ~7n;
  return canonicalEvent(e);
}

/** A configuration-class record: Type, StreamID, and the SubstreamID fields its layout carries. */
export function cfgEvent(type: EventRecord['type'], sid: number, more: { ssid?: number; fetchAddr?: bigint } = {}): EventRecord {
  const e: EventRecord = { type, code: 0, sid, ssv: more.ssid !== undefined, ssid: more.ssid ?? 0 };
  if (more.fetchAddr !== undefined) e.fetchAddr = more.fetchAddr;
  return canonicalEvent(e);
}

/** The raw four dwords the SMMU must have written for a record. */
export function rawEvent(e: EventRecord): bigint[] {
  return [...encodeEvent(e)];
}

/** PA of the leaf descriptor an io-pgtable holds for `iova` (or of the last valid/invalid entry reached). */
export function leafPtr(mem: PhysicalMemory, pgt: ArmLpaeIoPgtable, iova: bigint): bigint {
  let table = pgt.pgd;
  for (let lvl = pgt.startLevel; lvl <= 3; lvl++) {
    const p = table + BigInt(pgt.lvlIdx(iova, lvl)) * 8n;
    const d = mem.peek64(p) ?? 0n;
    if (lvl === 3 || (d & 3n) !== 3n) return p;
    table = pgt.iopteToPaddr(d);
  }
  throw new Error('unreachable');
}
