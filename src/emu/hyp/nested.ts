/**
 * pKVM nested SMMUv3 (trap and emulate, the v4+ design of hyp.md §2).
 *
 * The hypervisor owns the real (emulated) SMMU and drives it with its own
 * instance of the arm-smmu-v3 driver model over direct MMIO, with memory from
 * a pool the host donates (as paravirt.ts does). The host runs the ordinary
 * driver (src/emu/host/smmu-driver.ts) against `hostPort()`, an MmioPort on
 * which every access is a trap into this class:
 *
 *  - the ID registers pass through, except IDR0, which hides S2P, VMID16, MSI
 *    and HYP: the host sees a stage-1-only SMMU;
 *  - CR0's SMMUEN / CMDQEN / EVTQEN (and CR1, CR2, IRQ_CTRL, GERROR(N), the
 *    queue and stream-table base registers) are virtual, one set per host;
 *    the real SMMU stays enabled with the hyp's own stream table and queues;
 *  - GBPA is refused (reads 0, writes ignored): while the host's virtual
 *    SMMUEN is 0 every stream aborts, as if GBPA.ABORT were forced;
 *  - STRTAB_BASE(_CFG), CMDQ_BASE and EVENTQ_BASE are writable only while
 *    the host's matching virtual enable bit is 0 (else ignored and counted);
 *  - a CMDQ_PROD write is one synchronous trap: the hyp reads the new
 *    commands from the host's queue (host memory), filters them, writes the
 *    result into its real queue, rings the real doorbell and waits for the
 *    queue to drain, then moves the host's virtual CMDQ_CONS.
 *
 * Command filter (host command → real queue):
 *  - CFGI_STE (leaf or not) with an in-range SID → re-shadow that STE (its
 *    own CFGI_STE + CMD_SYNC go to the real queue); CFGI_STE_RANGE → re-shadow
 *    the range, pass the range; CFGI_ALL → re-shadow all, pass CFGI_ALL;
 *  - CFGI_CD, CFGI_CD_ALL, PREFETCH_* (SID in range) → pass: CD tables are
 *    host memory read through the hyp's stage 2;
 *  - TLBI_NH_ASID / NH_VA / NH_VAA → pass with VMID forced to 0;
 *  - TLBI_NSNH_ALL → rewritten to TLBI_NH_ALL VMID 0 (what pKVM does: the
 *    host's whole NS-EL1 world is VMID 0, and stage-2-only entries are the
 *    hyp's and stay);
 *  - TLBI_NH_ALL, TLBI_S2_IPA, TLBI_S12_VMALL, TLBI_EL2_* → dropped (the host
 *    cannot touch stage 2 or hyp state). A strict emulation of an SMMU without
 *    S2P / HYP would raise CERROR_ILL for the last three; pKVM drops them and
 *    so does this model. Everything out of SID range is dropped too;
 *  - CMD_SYNC → a CMD_SYNC with CS = none (the hyp polls CONS);
 *  - anything else the architecture makes ILLEGAL for this SMMU (unknown
 *    opcode, CS = 0b11, SSec, ATC_INV / PRI_RESP / RESUME / STALL_TERM without
 *    ATS / PRI / stalls, CFGI_VMS_PIDM, TLBI_EL3_*, a reserved range
 *    encoding) → CERROR_ILL for the host: its virtual CMDQ_CONS.ERR = ILL and
 *    its virtual GERROR.CMDQ_ERR toggles; the queue stops at that command
 *    until the host acknowledges through GERRORN. A command the hyp cannot
 *    read (host queue outside host memory) → CERROR_ABT.
 *
 * STE shadowing (host STE → the hyp's STE for the same SID): V = 0 → V = 0;
 * abort → abort; bypass → stage-2 only with the hyp's S2 (Config 0b110);
 * S1 (0b101) → nested (0b111) with the host's dwords 0-1 (S1ContextPtr is now
 * an IPA, equal to the host PA through the identity S2) and dwords 2-3 the
 * hyp's (VTCR fields, VMID 0, S2TTB), dwords 4-7 zero. A host Config of S2
 * (0b110) or nested (0b111) is forged: rejected and logged, the shadow is
 * abort. An STE illegal for the SMMU the host sees → V = 0 (the host gets
 * C_BAD_STE either way). Whatever S2 fields the host filled in are replaced.
 * Shadows are written in a safe order: invalid → valid writes dwords 1-7 then
 * dword 0 last; valid → invalid writes dword 0 first; valid → valid is
 * hitless when only one qword's used bits change (arm_smmu_write_entry),
 * else break-before-make; each visible step is followed by CFGI_STE +
 * CMD_SYNC on the real queue. The hyp allocates a level-2 stream-table array
 * for a StreamID whose shadow translates, or whose abort STE the host named
 * in a CFGI_STE; a re-shadow of everything (CFGI_ALL) does not allocate for
 * aborting SIDs, which then terminate with C_BAD_STREAMID instead (no DMA
 * either way), so a host cannot drain the pool with a huge abort table.
 *
 * Stage 2: one io-pgtable (4K granule, ias = oas = the SMMU's OAS, VMID 0)
 * that is an identity map of exactly the RAM the host can access, built at
 * construction with the largest blocks possible and kept in sync through
 * PageOwnership.onChange: pages the host loses are unmapped (blocks split as
 * needed), then TLBI_S2_IPA over the range (+ TLBI_NH_ALL VMID 0, because
 * S2_IPA leaves combined S1+S2 entries, as Linux does for a nesting parent)
 * + CMD_SYNC; large ranges without range invalidation use TLBI_S12_VMALL.
 * Pages regained are mapped back, coalescing into blocks again. Should the
 * pool run dry while splitting a block, the whole block is unmapped (never
 * leaving a donated page mapped) and the host-owned rest is re-mapped when
 * the pool is topped up.
 *
 * Events: the real event queue (the hyp's) is drained and each record copied
 * into the host's virtual event queue when the host reads EVENTQ_PROD or on
 * pollEvents().
 *
 * vCMDQ / DVM (`vcmdq: true`): a host CMDQ_PROD write whose new commands are
 * all TLBI_NH_ASID / NH_VA / NH_VAA / CMD_SYNC reaches the hardware without
 * a trap (the model executes them with VMID 0 on the real queue and counts no
 * MMIO trap, and CMDQ_PROD/CONS reads after such a batch are not traps); a
 * batch with anything else (CFGI_STE above all: STEs must be shadowed) traps.
 */

import { hex } from '../bits';
import { ArmLpaeIoPgtable, IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE, type IoPgtableTlbOps } from '../iopgtable';
import type { PhysicalMemory } from '../memory';
import { TableAllocator } from '../memory';
import {
  CMDQ_BATCH_ENTRIES,
  type MmioPort,
  REG,
  STRTAB_SPLIT,
  SmmuDriver,
  SmmuDriverError,
  directPort,
  entryQwordDiff,
  iommuPgsize,
  s2SteFieldsFor,
  steUsedBits,
  tlbiRangeSplit,
} from '../host/smmu-driver';
import { CERROR, CERROR_NAMES, type CerrorCode, type Command, commandNeeds, decodeCommand, formatCommand, isRangeTlbi } from '../smmu/commands';
import { type EventRecord, encodeEvent } from '../smmu/events';
import type { SmmuFeatures } from '../smmu/features';
import {
  CMDQ_CONS_ERR_SHIFT,
  CR0_CMDQEN,
  CR0_EVTQEN,
  CR0_MASK,
  CR0_SMMUEN,
  GERROR_CMDQ_ERR,
  GERROR_EVENTQ_ABT_ERR,
  GERROR_MASK,
  IRQ_CTRL_MASK,
  PAGE1,
  Q_OVFLG,
  REG_BY_OFFSET,
  queueBase,
  strtabCfg,
} from '../smmu/registers';
import type { Smmu } from '../smmu/smmu';
import { STE_DWORDS, type Ste, type SteConfigName, decodeL1std, decodeSte, encodeSte, steConfigName, validateSte } from '../smmu/ste';
import type { OwnershipChange, PageOwnership } from './ownership';

const PAGE = 4096n;
const PAGE_SHIFT = 12n;
/** IDR0 bits hidden from the host. */
export const IDR0_S2P = 1 << 0;
export const IDR0_HYP = 1 << 9;
export const IDR0_MSI = 1 << 13;
export const IDR0_VMID16 = 1 << 18;
export const IDR0_HIDDEN = IDR0_S2P | IDR0_HYP | IDR0_MSI | IDR0_VMID16;
/** Protection of the identity stage 2: normal write-back memory, read/write. */
const S2_PROT = IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE;
const STE_V = 1n;
const STE_CFG_MASK = 0b1110n;
/** A page-count above which a TLBI without range support becomes TLBI_S12_VMALL. */
const MAX_TLBI_PAGES = 32n;
const SYNC_NONE: Command = { op: 'CMD_SYNC', cs: 0, msh: 0, msiattr: 0, msidata: 0, msiaddr: 0n };

function popcount(v: number): number {
  let n = 0;
  for (let x = v; x; x &= x - 1) n++;
  return n;
}

function minB(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function maxB(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

// ---------------------------------------------------------------------------
// Types

export interface NestedOptions {
  /** Physical address where the hyp's page pool starts (the host donates pages from here up). */
  poolBase: bigint;
  /** Pages the host donates at boot (stream table, queues, stage-2 tables). Default 128. */
  bootPoolPages?: number;
  /** DVM / vCMDQ: host TLBI-only command batches reach the hardware without a trap. */
  vcmdq?: boolean;
  /** Log every trapped MMIO access (default true; traps are always counted). */
  logMmio?: boolean;
  /** Log entries kept (oldest dropped beyond). Default 20000. */
  maxLog?: number;
}

/** What the hyp did with one host command. */
export type CmdAction = 'pass' | 'rewrite' | 'shadow' | 'drop' | 'ill' | 'abt';

/** What the host's STE asked for, as the hyp read it. */
export type HostSteKind =
  | 'disabled' // the host's virtual SMMUEN = 0: everything aborts
  | 'unreachable' // beyond the host's stream table, or its L1STD is invalid
  | 'unreadable' // the host's table is not in memory the host can access
  | 'invalid' // V = 0
  | 'illegal' // ILLEGAL for the SMMU the host sees
  | 'abort'
  | 'bypass'
  | 's1'
  | 'forged-s2'
  | 'forged-nested';

export type ShadowKind = 'invalid' | SteConfigName;
export type ShadowUpdate = 'none' | 'validate' | 'invalidate' | 'hitless' | 'breaking' | 'skipped';
export type ShadowStep = { dword: number; value: bigint } | 'sync';

export type NestedLogEntry =
  | { seq: number; kind: 'mmio'; op: 'read' | 'write'; offset: number; reg: string; value: bigint }
  | { seq: number; kind: 'refused'; op: 'read' | 'write'; offset: number; reg: string; value: bigint }
  | { seq: number; kind: 'ignored'; offset: number; reg: string; value: bigint; reason: string }
  | { seq: number; kind: 'cmd'; index: number; dw: [bigint, bigint]; text: string; action: CmdAction; out?: Command[]; reason?: string }
  | { seq: number; kind: 'ste'; sid: number; host: HostSteKind; shadow: ShadowKind; update: ShadowUpdate; steps: ShadowStep[]; reason?: string }
  | { seq: number; kind: 'reject'; sid: number; reason: string }
  | { seq: number; kind: 'cerror'; index: number; code: CerrorCode; name: string; text: string }
  | { seq: number; kind: 's2'; op: 'map' | 'unmap'; base: bigint; size: bigint; tlbis: Command[]; cause: string }
  | { seq: number; kind: 'event'; event: EventRecord; forwarded: boolean; reason?: string }
  | { seq: number; kind: 'vcmdq'; commands: number }
  | { seq: number; kind: 'note'; text: string };

export interface NestedCounters {
  /** Trapped host MMIO accesses. */
  mmioTraps: { reads: number; writes: number };
  /** Trapped CMDQ_PROD writes (each one a synchronous emulation of the new commands). */
  prodTraps: number;
  /** Host commands the hyp read and filtered. */
  commandsEmulated: number;
  /** ... of which passed to the real queue (as written or rewritten). */
  commandsPassed: number;
  /** ... of which dropped. */
  commandsDropped: number;
  /** ... of which refused with a CERROR for the host. */
  hostCerrors: number;
  /** Commands the hyp wrote into the real queue (its own included). */
  realCommands: number;
  /** CMD_SYNCs on the real queue. */
  realSyncs: number;
  /** Real CONS polls while draining (a drain is at least one). */
  realDrains: number;
  /** CERRORs on the real queue (a filter bug if ever non-zero). */
  realCerrors: number;
  /** Shadow STEs recomputed, written (changed), and host STEs rejected as forged. */
  steShadows: number;
  steWrites: number;
  steRejected: number;
  /** GBPA accesses refused; base-register writes ignored while enabled. */
  refusedAccesses: number;
  ignoredWrites: number;
  /** Stage-2 unmap operations (one per ownership change that removed mappings), bytes, and the TLBIs they issued. */
  s2Unmaps: number;
  s2UnmappedBytes: bigint;
  s2Tlbis: number;
  s2Maps: number;
  s2MappedBytes: bigint;
  /** Real events seen; forwarded to / lost for the host's event queue. */
  eventsReal: number;
  eventsForwarded: number;
  eventsLost: number;
  /** vCMDQ: batches and commands executed without a trap. */
  vcmdqBatches: number;
  vcmdqCommands: number;
  poolTopUps: number;
  pagesDonatedToPool: number;
}

function newCounters(): NestedCounters {
  return {
    mmioTraps: { reads: 0, writes: 0 },
    prodTraps: 0,
    commandsEmulated: 0,
    commandsPassed: 0,
    commandsDropped: 0,
    hostCerrors: 0,
    realCommands: 0,
    realSyncs: 0,
    realDrains: 0,
    realCerrors: 0,
    steShadows: 0,
    steWrites: 0,
    steRejected: 0,
    refusedAccesses: 0,
    ignoredWrites: 0,
    s2Unmaps: 0,
    s2UnmappedBytes: 0n,
    s2Tlbis: 0,
    s2Maps: 0,
    s2MappedBytes: 0n,
    eventsReal: 0,
    eventsForwarded: 0,
    eventsLost: 0,
    vcmdqBatches: 0,
    vcmdqCommands: 0,
    poolTopUps: 0,
    pagesDonatedToPool: 0,
  };
}

/** The host's virtual register file. */
export interface VirtualRegs {
  cr0: number;
  cr1: number;
  cr2: number;
  irqCtrl: number;
  gerror: number;
  gerrorn: number;
  strtabBase: bigint;
  strtabBaseCfg: number;
  cmdqBase: bigint;
  cmdqProd: number;
  cmdqCons: number;
  eventqBase: bigint;
  eventqProd: number;
  eventqCons: number;
}

export interface ShadowInfo {
  sid: number;
  host: HostSteKind;
  shadow: ShadowKind;
  reason?: string;
  /** The host STE the shadow was made from (valid host STEs), and the shadow written. */
  hostDw?: bigint[];
  target?: bigint[];
}

type Filtered =
  | { action: 'pass' | 'rewrite'; cmd: Command; reason?: string }
  | { action: 'shadow'; sids: 'all' | { start: number; count: number }; real: Command }
  | { action: 'drop'; reason: string }
  | { action: 'ill'; reason: string };

// ---------------------------------------------------------------------------

export class NestedHyp {
  readonly driver: SmmuDriver;
  readonly pool: TableAllocator;
  /** The hyp's identity stage 2 (VMID 0). */
  readonly s2: ArmLpaeIoPgtable;
  readonly counters: NestedCounters = newCounters();
  readonly log: NestedLogEntry[] = [];
  readonly vcmdq: boolean;
  /** Whether to keep a log at all (off for long workloads). */
  logging = true;

  private readonly v: VirtualRegs = {
    cr0: 0,
    cr1: 0,
    cr2: 0,
    irqCtrl: 0,
    gerror: 0,
    gerrorn: 0,
    strtabBase: 0n,
    strtabBaseCfg: 0,
    cmdqBase: 0n,
    cmdqProd: 0,
    cmdqCons: 0,
    eventqBase: 0n,
    eventqProd: 0,
    eventqCons: 0,
  };
  private readonly vOther = new Map<number, bigint>();
  private readonly port: MmioPort;
  private readonly hostF: SmmuFeatures;
  private readonly sidLimit: number;
  private readonly shadows = new Map<number, ShadowInfo>();
  private readonly logMmio: boolean;
  private readonly maxLog: number;
  private readonly poolBase: bigint;
  private readonly unsubscribe: () => void;
  private seqNo = 0;
  private processing = false;
  /** vCMDQ: whether the last CMDQ_PROD write trapped (then CONS reads trap too). */
  private lastProdTrapped = true;
  /** Ownership changes held while the pool itself is being topped up. */
  private deferred: OwnershipChange[] | null = null;
  /** Host-accessible ranges left unmapped because the pool ran dry: re-mapped on top-up. */
  private degraded: Array<[bigint, bigint]> = [];
  /** Ranges whose walk caches io-pgtable asked to flush (a table replaced or freed). */
  private walkFlushes: Array<[bigint, bigint]> = [];

  constructor(
    readonly mem: PhysicalMemory,
    readonly smmu: Smmu,
    readonly own: PageOwnership,
    opts: NestedOptions,
  ) {
    this.vcmdq = opts.vcmdq ?? false;
    this.logMmio = opts.logMmio ?? true;
    this.maxLog = opts.maxLog ?? 20000;
    this.poolBase = opts.poolBase;
    this.pool = new TableAllocator(mem, opts.poolBase, opts.poolBase);
    const boot = opts.bootPoolPages ?? 128;
    if (!this.donateToPool(boot)) throw new Error(`nested: the boot pool donation of ${boot} pages at ${hex(opts.poolBase)} failed`);
    const f = smmu.f;
    if (!f.s1 || !f.s2) throw new Error('nested: the SMMU must implement both stages (IDR0.S1P and S2P)');
    if (!f.granules.includes(4096)) throw new Error('nested: the identity stage 2 needs the 4K granule');
    this.hostF = { ...f, granules: [...f.granules], s2: false, hyp: false, msi: false, vmid16: false };
    // The hyp's own driver: real stream table, queues, reset and enable.
    this.driver = new SmmuDriver(directPort(smmu), mem, this.pool, { prefetchCfg: false, syncPoll: 'cons' });
    const df = this.driver.probe();
    this.driver.init();
    this.sidLimit = df.twoLevelStrtab ? Math.min(2 ** df.sidBits, (1 << 17) << STRTAB_SPLIT) : 2 ** df.sidBits;
    // The identity stage 2.
    const tlb: IoPgtableTlbOps = {
      tlbFlushWalk: (iova, size) => {
        this.walkFlushes.push([iova, size]);
      },
      tlbAddPage: () => {},
    };
    this.s2 = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s2', granule: 4096, ias: f.oas, oas: f.oas, coherentWalk: f.coherent }, this.pool, tlb);
    const end = this.ipaLimit;
    this.mapHostRange(0n, end, 'boot');
    this.walkFlushes = [];
    if (this.degraded.length > 0) throw new Error('nested: the boot pool is too small for the identity stage 2');
    this.counters.s2Maps = 0;
    this.counters.s2MappedBytes = 0n;
    this.unsubscribe = own.onChange((c) => this.onOwnership(c));
    this.port = {
      read: (offset) => this.trapRead(offset),
      write: (offset, value) => this.trapWrite(offset, value),
    };
  }

  /** Stop following ownership changes. */
  dispose(): void {
    this.unsubscribe();
  }

  /** What the host's driver gets instead of directPort: every access traps here. */
  hostPort(): MmioPort {
    return this.port;
  }

  get poolBytes(): bigint {
    return this.pool.limit - this.poolBase;
  }

  /** IPAs the stage 2 can map: [0, 2^ias). */
  get ipaLimit(): bigint {
    return 1n << BigInt(this.s2.ias);
  }

  /** The stage-2 fields every shadow STE carries (dwords 2-3). */
  get s2SteFields(): Partial<Ste> {
    // The host's own VMID 0 over the hyp's identity stage 2.
    return s2SteFieldsFor(this.s2, 0);
  }


  /** A copy of the host's virtual registers. */
  virtualRegs(): VirtualRegs {
    return { ...this.v };
  }

  /** The features the host can see (IDR0 masked). */
  get hostFeatures(): Readonly<SmmuFeatures> {
    return this.hostF;
  }

  /** What the hyp last decided for each StreamID it shadowed. */
  shadowInfo(): ShadowInfo[] {
    return [...this.shadows.values()].sort((a, b) => a.sid - b.sid);
  }

  /** The shadow STE the real SMMU uses for a SID, or null when the hyp's table has none (no level-2 array). */
  shadowSte(sid: number): bigint[] | null {
    const a = this.shadowAddr(sid, false);
    return a === null ? null : this.readWords(a, STE_DWORDS);
  }

  /** Host-accessible ranges still unmapped because the pool ran dry. */
  degradedRanges(): Array<{ base: bigint; size: bigint }> {
    return this.degraded.map(([s, e]) => ({ base: s, size: e - s }));
  }

  private push(e: NestedLogEntry): void {
    if (!this.logging) return;
    this.log.push(e);
    if (this.log.length > this.maxLog) this.log.splice(0, this.log.length - Math.floor((this.maxLog * 3) / 4));
  }

  private note(text: string): void {
    this.push({ seq: ++this.seqNo, kind: 'note', text });
  }

  /** Sequence number of the last log entry (a marker for logSince). */
  get seq(): number {
    return this.seqNo;
  }

  logSince(seq: number): NestedLogEntry[] {
    return this.log.filter((e) => e.seq > seq);
  }

  // -------------------------------------------------------------------------
  // The pool

  private donateToPool(pages: number): boolean {
    if (!Number.isInteger(pages) || pages <= 0) return false;
    const start = this.pool.limit;
    const r = this.own.hostDonateHyp(start / PAGE, pages);
    if (!r.ok) return false;
    this.pool.grow(start + BigInt(pages) * PAGE);
    this.counters.poolTopUps++;
    this.counters.pagesDonatedToPool += pages;
    return true;
  }

  /**
   * The host donates `pages` more pages to the hyp's pool (the pages right
   * after it). They leave the identity stage 2 like any donated page; ranges
   * that could not be mapped for lack of pool memory are retried.
   */
  topUp(pages: number): { ok: boolean; reason?: string } {
    if (!Number.isInteger(pages) || pages <= 0) return { ok: false, reason: 'a top-up needs a positive number of pages' };
    this.deferred = [];
    let ok: boolean;
    try {
      ok = this.donateToPool(pages);
    } finally {
      const held = this.deferred ?? [];
      this.deferred = null;
      for (const c of held) this.onOwnership(c);
    }
    if (!ok) return { ok: false, reason: `the host cannot donate ${pages} pages at ${hex(this.pool.limit)}` };
    const retry = this.degraded;
    this.degraded = [];
    for (const [s, e] of retry) this.mapHostRange(s, e, 'pool top-up');
    this.flushWalks('pool top-up');
    return { ok: true };
  }

  // -------------------------------------------------------------------------
  // Stage 2: identity map of what the host can access

  private onOwnership(c: OwnershipChange): void {
    if (c.hostAccess === 'unchanged') return;
    if (this.deferred) {
      this.deferred.push(c);
      return;
    }
    const base = c.base;
    const end = minB(c.base + c.size, this.ipaLimit);
    if (base >= end) return;
    if (c.hostAccess === 'lost') {
      this.unmapLost(base, end, `${c.op} ${hex(c.base)}+${hex(c.size)}`);
    } else {
      // Map back, coalescing into the largest blocks around the range.
      const big = this.largestBlock;
      const ws = base & ~(big - 1n);
      const we = minB((end + big - 1n) & ~(big - 1n), this.ipaLimit);
      this.mapHostRange(ws, we, `${c.op} ${hex(c.base)}+${hex(c.size)}`);
      this.flushWalks(`${c.op} ${hex(c.base)}+${hex(c.size)}`);
    }
  }

  private get largestBlock(): bigint {
    let b = 0n;
    for (let i = 0n; i < 64n; i++) if ((this.s2.pgsizeBitmap >> i) & 1n) b = 1n << i;
    return b;
  }

  /** Host-accessible RAM in [s, e) as merged [start, end) ranges. */
  private hostRanges(s: bigint, e: bigint): Array<[bigint, bigint]> {
    const out: Array<[bigint, bigint]> = [];
    const from = Number(s >> PAGE_SHIFT);
    const to = Number((e + PAGE - 1n) >> PAGE_SHIFT);
    for (const r of this.own.regions(from, to)) {
      const ok = !r.mmio && (r.owner === 'host' || r.sharedWith === 'host');
      if (!ok) continue;
      const rs = maxB(r.base, s);
      const re = minB(r.base + r.size, e);
      if (rs >= re) continue;
      const last = out[out.length - 1];
      if (last && last[1] === rs) last[1] = re;
      else out.push([rs, re]);
    }
    return out;
  }

  /** Map every host-accessible page of [s, e) that is not mapped yet, with the largest blocks. */
  private mapHostRange(s: bigint, e: bigint, cause: string): void {
    let mapped = 0n;
    for (const [rs, re] of this.hostRanges(s, e)) {
      let va = rs;
      while (va < re) {
        const { pgsize, count } = iommuPgsize(this.s2.pgsizeBitmap, va, va, re - va);
        let i = 0n;
        for (; i < count; i++) {
          const r = this.s2.mapPages(va, va, pgsize, 1, S2_PROT);
          if (r.error === 'ENOMEM') {
            this.degraded.push([va, re]);
            this.note(`stage-2 map ran the pool dry at ${hex(va)}: ${hex(re - va)} bytes stay unmapped until a top-up`);
            break;
          }
          if (!r.error) mapped += pgsize;
          va += pgsize;
        }
        if (i < count) break;
      }
    }
    if (mapped > 0n) {
      this.counters.s2Maps++;
      this.counters.s2MappedBytes += mapped;
      this.push({ seq: ++this.seqNo, kind: 's2', op: 'map', base: s, size: e - s, tlbis: [], cause });
    }
  }

  /** io-pgtable replaced or freed tables while mapping: invalidate their walks. */
  private flushWalks(cause: string): void {
    if (this.walkFlushes.length === 0) return;
    const ranges = this.walkFlushes;
    this.walkFlushes = [];
    const tlbis = this.s2Invalidate(ranges);
    this.push({ seq: ++this.seqNo, kind: 's2', op: 'map', base: ranges[0][0], size: 0n, tlbis, cause: `${cause}: walk-cache flush` });
  }

  /** Unmap everything in [s, e) the host can no longer access, then invalidate. */
  private unmapLost(s: bigint, e: bigint, cause: string): void {
    const lost: Array<[bigint, bigint]> = [];
    let cur = s;
    for (const [hs, he] of this.hostRanges(s, e)) {
      if (cur < hs) lost.push([cur, hs]);
      cur = he;
    }
    if (cur < e) lost.push([cur, e]);
    const removed: Array<[bigint, bigint]> = [];
    let bytes = 0n;
    for (const [ls, le] of lost) bytes += this.unmapRange(ls, le, removed);
    const all = [...removed, ...this.walkFlushes];
    this.walkFlushes = [];
    if (all.length === 0) return;
    const tlbis = this.s2Invalidate(all);
    this.counters.s2Unmaps++;
    this.counters.s2UnmappedBytes += bytes;
    this.push({ seq: ++this.seqNo, kind: 's2', op: 'unmap', base: s, size: e - s, tlbis, cause });
    // A block that could not be split was removed whole: map back what the host still owns.
    const retry = this.degraded.filter(([ds, de]) => ds < e + this.largestBlock && de > s - this.largestBlock);
    if (retry.length > 0) {
      this.degraded = this.degraded.filter((r) => !retry.includes(r));
      for (const [ds, de] of retry) this.mapHostRange(ds, de, `${cause}: re-map after a whole-block unmap`);
      this.flushWalks(cause);
    }
  }

  /** Remove the mappings of [s, e), splitting blocks; returns bytes unmapped and appends the removed IPA ranges. */
  private unmapRange(s: bigint, e: bigint, removed: Array<[bigint, bigint]>): bigint {
    let va = s;
    let bytes = 0n;
    while (va < e) {
      const t = this.s2.iovaToPhys(va);
      if (!t) {
        va += PAGE;
        continue;
      }
      const leafSize = 1n << BigInt(this.s2.lvlShift(t.level));
      const leafBase = va & ~(leafSize - 1n);
      const leafEnd = leafBase + leafSize;
      if (leafBase === va && leafEnd <= e) {
        const n = this.s2.unmapPages(va, leafSize, 1);
        removed.push([va, leafSize]);
        bytes += n;
        va += leafSize;
        continue;
      }
      const chunkEnd = minB(e, leafEnd);
      const { pgsize, count } = iommuPgsize(this.s2.pgsizeBitmap, va, va, chunkEnd - va);
      const n = this.s2.unmapPages(va, pgsize, Number(count));
      if (n > 0n) {
        removed.push([va, n]);
        bytes += n;
        va += n;
        continue;
      }
      // Splitting needs a table and the pool is dry: remove the whole leaf (no allocation needed).
      const whole = this.s2.unmapPages(leafBase, leafSize, 1);
      removed.push([leafBase, leafSize]);
      bytes += whole;
      if (leafBase < va) this.degraded.push([leafBase, va]);
      if (chunkEnd < leafEnd) this.degraded.push([chunkEnd, leafEnd]);
      this.note(`stage-2 split of the ${hex(leafSize)} block at ${hex(leafBase)} ran the pool dry: the whole block is unmapped`);
      va = chunkEnd;
    }
    return bytes;
  }

  /** TLBI_S2_IPA over the ranges (+ TLBI_NH_ALL VMID 0 for combined entries) + CMD_SYNC, or TLBI_S12_VMALL. */
  private s2Invalidate(ranges: Array<[bigint, bigint]>): Command[] {
    const ril = this.smmu.f.ril;
    const cmds: Command[] = [];
    let vmall = false;
    for (const [base, size] of ranges) {
      if (size <= 0n) continue;
      const start = base & ~(PAGE - 1n);
      const len = ((base + size + PAGE - 1n) & ~(PAGE - 1n)) - start;
      if (ril) {
        for (const p of tlbiRangeSplit(start, len, PAGE, false, 12, true)) {
          cmds.push({ op: 'CMD_TLBI_S2_IPA', vmid: 0, addr: p.addr & ((1n << 52n) - PAGE), leaf: false, ttl: p.ttl, tg: p.tg, num: p.num, scale: p.scale });
        }
      } else if (len / PAGE <= MAX_TLBI_PAGES) {
        for (let a = start; a < start + len; a += PAGE) cmds.push({ op: 'CMD_TLBI_S2_IPA', vmid: 0, addr: a, leaf: false, ttl: 0, tg: 0, num: 0, scale: 0 });
      } else vmall = true;
      if (cmds.length > 4 * CMDQ_BATCH_ENTRIES) vmall = true;
      if (vmall) break;
    }
    const out: Command[] = vmall
      ? [{ op: 'CMD_TLBI_S12_VMALL', vmid: 0 }]
      : [...cmds, { op: 'CMD_TLBI_NH_ALL', vmid: 0 }];
    this.counters.s2Tlbis += out.length;
    this.issueReal([...out, SYNC_NONE]);
    return out;
  }

  // -------------------------------------------------------------------------
  // The real command queue

  /** Write commands into the real queue, ring the doorbell, wait until it drains. */
  private issueReal(cmds: readonly Command[]): void {
    for (let i = 0; i < cmds.length; i += CMDQ_BATCH_ENTRIES) {
      const chunk = cmds.slice(i, i + CMDQ_BATCH_ENTRIES);
      for (const c of chunk) {
        this.counters.realCommands++;
        if (c.op === 'CMD_SYNC') this.counters.realSyncs++;
      }
      this.driver.issueCmdlist(chunk, false);
      this.drainReal();
    }
  }

  private drainReal(): void {
    const shift = this.driver.features?.cmdqShift ?? 8;
    const mask = (2 << shift) - 1;
    for (let i = 0; i < 64; i++) {
      this.counters.realDrains++;
      const prod = Number(this.smmu.readReg(REG.CMDQ_PROD) & 0xffff_ffffn);
      const cons = Number(this.smmu.readReg(REG.CMDQ_CONS) & 0xffff_ffffn);
      if ((prod & mask) === (cons & mask)) return;
      if (this.driver.handleGerror() !== 0) {
        this.counters.realCerrors++;
        this.note(`CERROR on the real command queue (CONS ${hex(cons)}): skipped`);
      }
    }
    this.note('the real command queue did not drain');
  }

  // -------------------------------------------------------------------------
  // MMIO traps

  private regName(offset: number): string {
    return REG_BY_OFFSET.get(offset)?.name ?? hex(offset);
  }

  private countTrap(op: 'read' | 'write', offset: number, value: bigint): void {
    if (op === 'read') this.counters.mmioTraps.reads++;
    else this.counters.mmioTraps.writes++;
    if (this.logMmio) this.push({ seq: ++this.seqNo, kind: 'mmio', op, offset, reg: this.regName(offset), value });
  }

  private refuse(op: 'read' | 'write', offset: number, value: bigint): void {
    this.counters.refusedAccesses++;
    this.push({ seq: ++this.seqNo, kind: 'refused', op, offset, reg: this.regName(offset), value });
  }

  private ignore(offset: number, value: bigint, reason: string): void {
    this.counters.ignoredWrites++;
    this.push({ seq: ++this.seqNo, kind: 'ignored', offset, reg: this.regName(offset), value, reason });
  }

  /** Page 1 holds only the event queue PROD/CONS; on page 0 those offsets are RAZ/WI. */
  private regOffset(offset: number): number {
    if (offset >= PAGE1) {
      const o = offset - PAGE1;
      return o === 0xa8 || o === 0xac ? PAGE1 + o : -1;
    }
    return offset === 0xa8 || offset === 0xac ? -1 : offset;
  }

  private trapRead(offset: number): bigint {
    const off = this.regOffset(offset);
    const direct = this.vcmdq && !this.lastProdTrapped && (off === REG.CMDQ_PROD || off === REG.CMDQ_CONS);
    const value = this.emulateRead(off);
    if (!direct) this.countTrap('read', offset, value);
    return value;
  }

  private emulateRead(off: number): bigint {
    const v = this.v;
    switch (off) {
      case 0x00:
        return BigInt((Number(this.smmu.readReg(0x00)) & ~IDR0_HIDDEN) >>> 0);
      case 0x04:
      case 0x08:
      case 0x0c:
      case 0x10:
      case 0x14:
      case 0x18:
      case 0x1c:
        return this.smmu.readReg(off);
      case REG.CR0:
      case REG.CR0ACK:
        return BigInt(v.cr0);
      case REG.CR1:
        return BigInt(v.cr1);
      case REG.CR2:
        return BigInt(v.cr2);
      case REG.GBPA:
        this.refuse('read', off, 0n);
        return 0n;
      case REG.IRQ_CTRL:
      case REG.IRQ_CTRLACK:
        return BigInt(v.irqCtrl);
      case REG.GERROR:
        return BigInt(v.gerror);
      case REG.GERRORN:
        return BigInt(v.gerrorn);
      case REG.STRTAB_BASE:
        return v.strtabBase;
      case REG.STRTAB_BASE_CFG:
        return BigInt(v.strtabBaseCfg);
      case REG.CMDQ_BASE:
        return v.cmdqBase;
      case REG.CMDQ_PROD:
        return BigInt(v.cmdqProd >>> 0);
      case REG.CMDQ_CONS:
        return BigInt(v.cmdqCons >>> 0);
      case REG.EVTQ_BASE:
        return v.eventqBase;
      case REG.EVTQ_PROD:
        // The host's event-queue thread: forward what the real queue holds first.
        this.pollEvents();
        return BigInt(v.eventqProd >>> 0);
      case REG.EVTQ_CONS:
        return BigInt(v.eventqCons >>> 0);
      default:
        return off < 0 ? 0n : (this.vOther.get(off) ?? 0n);
    }
  }

  private trapWrite(offset: number, value: bigint): void {
    const off = this.regOffset(offset);
    const v32 = Number(value & 0xffff_ffffn);
    if (off === REG.CMDQ_PROD && this.vcmdq && this.tryDirect(v32 & this.hostCmdq().mask)) return;
    this.countTrap('write', offset, value);
    const v = this.v;
    switch (off) {
      case REG.CR0: {
        const old = v.cr0;
        v.cr0 = v32 & CR0_MASK;
        if (!(old & CR0_CMDQEN) && v.cr0 & CR0_CMDQEN) this.processHostQueue();
        if (!(old & CR0_SMMUEN) && v.cr0 & CR0_SMMUEN) this.reshadow('all', 'virtual SMMUEN 0 -> 1');
        else if (old & CR0_SMMUEN && !(v.cr0 & CR0_SMMUEN)) this.reshadow('all', 'virtual SMMUEN 1 -> 0: every stream aborts');
        return;
      }
      case REG.CR1:
        if (v.cr0 & CR0_SMMUEN) this.ignore(off, value, 'CR1 is read-only while SMMUEN = 1');
        else v.cr1 = v32 & 0xfff;
        return;
      case REG.CR2:
        if (v.cr0 & CR0_SMMUEN) this.ignore(off, value, 'CR2 is read-only while SMMUEN = 1');
        else v.cr2 = v32 & 0x7;
        return;
      case REG.GBPA:
        this.refuse('write', off, value);
        return;
      case REG.IRQ_CTRL:
        v.irqCtrl = v32 & IRQ_CTRL_MASK;
        return;
      case REG.GERRORN: {
        v.gerrorn = v32 & GERROR_MASK;
        if (!this.hostCmdqErrorActive) {
          v.cmdqCons &= ~(0x7f << CMDQ_CONS_ERR_SHIFT);
          this.processHostQueue();
        }
        return;
      }
      case REG.STRTAB_BASE:
        if (v.cr0 & CR0_SMMUEN) this.ignore(off, value, 'STRTAB_BASE is read-only while the virtual SMMUEN = 1');
        else v.strtabBase = value & 0x400f_ffff_ffff_ffc0n;
        return;
      case REG.STRTAB_BASE_CFG:
        if (v.cr0 & CR0_SMMUEN) this.ignore(off, value, 'STRTAB_BASE_CFG is read-only while the virtual SMMUEN = 1');
        else v.strtabBaseCfg = v32 & 0x307ff;
        return;
      case REG.CMDQ_BASE:
        if (v.cr0 & CR0_CMDQEN) this.ignore(off, value, 'CMDQ_BASE is read-only while the virtual CMDQEN = 1');
        else v.cmdqBase = value & 0x400f_ffff_ffff_ffffn;
        return;
      case REG.CMDQ_PROD:
        this.counters.prodTraps++;
        this.lastProdTrapped = true;
        v.cmdqProd = v32 & this.hostCmdq().mask;
        this.processHostQueue();
        return;
      case REG.CMDQ_CONS:
        if (v.cr0 & CR0_CMDQEN) this.ignore(off, value, 'CMDQ_CONS is read-only while the virtual CMDQEN = 1');
        else v.cmdqCons = v32 & this.hostCmdq().mask;
        return;
      case REG.EVTQ_BASE:
        if (v.cr0 & CR0_EVTQEN) this.ignore(off, value, 'EVENTQ_BASE is read-only while the virtual EVTQEN = 1');
        else v.eventqBase = value & 0x400f_ffff_ffff_ffffn;
        return;
      case REG.EVTQ_PROD:
        if (v.cr0 & CR0_EVTQEN) this.ignore(off, value, 'EVENTQ_PROD is read-only while the virtual EVTQEN = 1');
        else v.eventqProd = (v32 & (this.hostEvtq().mask | Q_OVFLG)) >>> 0;
        return;
      case REG.EVTQ_CONS:
        v.eventqCons = (v32 & (this.hostEvtq().mask | Q_OVFLG)) >>> 0;
        return;
      default: {
        const r = REG_BY_OFFSET.get(off);
        if (off < 0 || !r || r.name.startsWith('IDR') || r.name === 'IIDR' || r.name === 'AIDR' || r.name.endsWith('ACK') || r.name === 'GERROR') return;
        this.vOther.set(off, value);
      }
    }
  }

  // -------------------------------------------------------------------------
  // The host's command queue

  private hostCmdq(): { base: bigint; n: number; mask: number } {
    const { addr, log2size } = queueBase(this.v.cmdqBase);
    const log2 = Math.min(log2size, this.smmu.f.cmdqs);
    const n = 2 ** log2;
    return { base: BigInt(addr) & ~(BigInt(n * 16) - 1n), n, mask: 2 * n - 1 };
  }

  private hostEvtq(): { base: bigint; n: number; mask: number } {
    const { addr, log2size } = queueBase(this.v.eventqBase);
    const log2 = Math.min(log2size, this.smmu.f.eventqs);
    const n = 2 ** log2;
    return { base: BigInt(addr) & ~(BigInt(n * 32) - 1n), n, mask: 2 * n - 1 };
  }

  private get hostCmdqErrorActive(): boolean {
    return ((this.v.gerror ^ this.v.gerrorn) & GERROR_CMDQ_ERR) !== 0;
  }

  /** Read `n` dwords of host memory: only from pages the host can access. */
  private readHost(addr: bigint, n: number): bigint[] | null {
    const out: bigint[] = [];
    for (let i = 0; i < n; i++) {
      const a = addr + BigInt(i * 8);
      if (!this.own.hostCanAccess(a >> PAGE_SHIFT) || this.own.isMmio(a >> PAGE_SHIFT)) return null;
      const w = this.mem.peek64(a);
      if (w === undefined) return null;
      out.push(w);
    }
    return out;
  }

  private readWords(addr: bigint, n: number): bigint[] {
    const out: bigint[] = [];
    for (let i = 0; i < n; i++) out.push(this.mem.peek64(addr + BigInt(i * 8)) ?? 0n);
    return out;
  }

  private advanceCons(n: number): void {
    const v = this.v;
    const idx = v.cmdqCons & (n - 1);
    const next = idx + 1;
    const wrap = (v.cmdqCons & n) ^ (next === n ? n : 0);
    v.cmdqCons = (v.cmdqCons & ~(2 * n - 1) & ~(0x7f << CMDQ_CONS_ERR_SHIFT)) | wrap | (next % n);
  }

  /** Emulate the host's queue from CONS to PROD (one trap). */
  private processHostQueue(): void {
    if (this.processing) return;
    const v = this.v;
    if (!(v.cr0 & CR0_CMDQEN) || this.hostCmdqErrorActive) return;
    this.processing = true;
    const pending: Command[] = [];
    const flush = (): void => {
      if (pending.length === 0) return;
      this.issueReal(pending.splice(0));
    };
    try {
      const q = this.hostCmdq();
      let guard = 0;
      while ((v.cmdqCons & q.mask) !== (v.cmdqProd & q.mask) && guard++ <= 2 * q.n) {
        const idx = v.cmdqCons & (q.n - 1);
        const dw = this.readHost(q.base + BigInt(idx * 16), 2);
        this.counters.commandsEmulated++;
        if (!dw) {
          flush();
          this.push({ seq: ++this.seqNo, kind: 'cmd', index: idx, dw: [0n, 0n], text: '(unreadable)', action: 'abt', reason: 'the host queue slot is not host memory' });
          this.hostCerror(CERROR.ABT, idx, `the command at ${hex(q.base + BigInt(idx * 16))} is not in host memory`);
          return;
        }
        const f = this.filter(dw[0], dw[1]);
        const d = decodeCommand(dw[0], dw[1]);
        const text = d.ok ? formatCommand(d.cmd) : d.reason;
        const dwp: [bigint, bigint] = [dw[0], dw[1]];
        switch (f.action) {
          case 'ill':
            flush();
            this.push({ seq: ++this.seqNo, kind: 'cmd', index: idx, dw: dwp, text, action: 'ill', reason: f.reason });
            this.hostCerror(CERROR.ILL, idx, `${text}: ${f.reason}`);
            return;
          case 'drop':
            this.counters.commandsDropped++;
            this.push({ seq: ++this.seqNo, kind: 'cmd', index: idx, dw: dwp, text, action: 'drop', reason: f.reason });
            break;
          case 'pass':
          case 'rewrite':
            this.counters.commandsPassed++;
            pending.push(f.cmd);
            this.push({ seq: ++this.seqNo, kind: 'cmd', index: idx, dw: dwp, text, action: f.action, out: [f.cmd], reason: f.reason });
            break;
          case 'shadow': {
            this.counters.commandsPassed++;
            flush();
            this.push({ seq: ++this.seqNo, kind: 'cmd', index: idx, dw: dwp, text, action: 'shadow', out: [f.real] });
            this.reshadow(f.sids, text);
            pending.push(f.real);
            break;
          }
        }
        this.advanceCons(q.n);
      }
      flush();
    } finally {
      this.processing = false;
    }
  }

  /** Stop the host's queue with a CERROR (its virtual CONS.ERR and GERROR.CMDQ_ERR). */
  private hostCerror(code: CerrorCode, index: number, text: string): void {
    const v = this.v;
    v.cmdqCons = (v.cmdqCons & ~(0x7f << CMDQ_CONS_ERR_SHIFT)) | (code << CMDQ_CONS_ERR_SHIFT);
    if (!this.hostCmdqErrorActive) v.gerror ^= GERROR_CMDQ_ERR;
    this.counters.hostCerrors++;
    this.push({ seq: ++this.seqNo, kind: 'cerror', index, code, name: CERROR_NAMES[code], text });
  }

  private sidOk(sid: number): boolean {
    return Number.isInteger(sid) && sid >= 0 && sid < this.sidLimit;
  }

  /** What the real queue gets for one host command. */
  private filter(dw0: bigint, dw1: bigint): Filtered {
    const d = decodeCommand(dw0, dw1);
    if (!d.ok) return { action: 'ill', reason: d.reason };
    const c = d.cmd;
    const needs = commandNeeds(c);
    const f = this.smmu.f;
    if (needs.secure) return { action: 'ill', reason: 'a Secure command on the Non-secure queue' };
    if (needs.ats || needs.pri || needs.stall) return { action: 'ill', reason: 'the SMMU implements no ATS, PRI or stall model' };
    if (needs.s1 && !f.s1) return { action: 'ill', reason: 'the SMMU has no stage 1' };
    if (f.ril && isRangeTlbi(c) && c.tg !== 0) {
      if (c.num === 0 && c.scale === 0 && c.ttl === 0) return { action: 'ill', reason: 'reserved range encoding (NUM = SCALE = TTL = 0)' };
      if (c.tg === 2 && c.ttl === 1) return { action: 'ill', reason: 'reserved range encoding (TG = 16K, TTL = 1)' };
    }
    switch (c.op) {
      case 'CMD_CFGI_VMS_PIDM':
        return { action: 'ill', reason: 'CFGI_VMS_PIDM is not implemented' };
      case 'CMD_SYNC':
        return c.cs === 0 && c.msiaddr === 0n ? { action: 'pass', cmd: SYNC_NONE } : { action: 'rewrite', cmd: SYNC_NONE, reason: 'CS = none: the hyp polls' };
      case 'CMD_PREFETCH_CONFIG':
      case 'CMD_PREFETCH_ADDR':
      case 'CMD_CFGI_CD':
      case 'CMD_CFGI_CD_ALL':
        return this.sidOk(c.sid) ? { action: 'pass', cmd: c } : { action: 'drop', reason: `StreamID ${c.sid} is out of range` };
      case 'CMD_CFGI_STE':
        if (!this.sidOk(c.sid)) return { action: 'drop', reason: `StreamID ${c.sid} is out of range` };
        return { action: 'shadow', sids: { start: c.sid, count: 1 }, real: { op: 'CMD_CFGI_STE', sid: c.sid, leaf: c.leaf } };
      case 'CMD_CFGI_STE_RANGE': {
        const count = 2 ** (c.range + 1);
        const start = Math.floor(c.sid / count) * count;
        if (start >= this.sidLimit) return { action: 'drop', reason: `StreamIDs from ${start} are out of range` };
        return { action: 'shadow', sids: { start, count: Math.min(count, this.sidLimit - start) }, real: { op: 'CMD_CFGI_STE_RANGE', sid: c.sid, range: c.range } };
      }
      case 'CMD_CFGI_ALL':
        return { action: 'shadow', sids: 'all', real: { op: 'CMD_CFGI_ALL' } };
      case 'CMD_TLBI_NH_ASID':
      case 'CMD_TLBI_NH_VA':
      case 'CMD_TLBI_NH_VAA':
        return c.vmid === 0 ? { action: 'pass', cmd: c } : { action: 'rewrite', cmd: { ...c, vmid: 0 }, reason: `VMID ${c.vmid} forced to 0` };
      case 'CMD_TLBI_NSNH_ALL':
        return { action: 'rewrite', cmd: { op: 'CMD_TLBI_NH_ALL', vmid: 0 }, reason: 'the host world is VMID 0: TLBI_NH_ALL VMID 0' };
      case 'CMD_TLBI_NH_ALL':
        return { action: 'drop', reason: 'TLBI_NH_ALL is not the host\'s to issue' };
      case 'CMD_TLBI_S2_IPA':
      case 'CMD_TLBI_S12_VMALL':
        return { action: 'drop', reason: 'stage 2 belongs to the hypervisor' };
      case 'CMD_TLBI_EL2_ALL':
      case 'CMD_TLBI_EL2_ASID':
      case 'CMD_TLBI_EL2_VA':
      case 'CMD_TLBI_EL2_VAA':
        return { action: 'drop', reason: 'EL2 state belongs to the hypervisor' };
      default:
        return { action: 'ill', reason: `${c.op} is not accepted` };
    }
  }

  /** vCMDQ: a batch of TLBI_NH_* / CMD_SYNC goes straight to the hardware (no trap). Returns false to trap. */
  private tryDirect(prod: number): boolean {
    const v = this.v;
    if (!(v.cr0 & CR0_CMDQEN) || this.hostCmdqErrorActive || this.processing) return false;
    const q = this.hostCmdq();
    const out: Command[] = [];
    let cons = v.cmdqCons;
    let guard = 0;
    while ((cons & q.mask) !== (prod & q.mask) && guard++ <= 2 * q.n) {
      const idx = cons & (q.n - 1);
      const dw = this.readHost(q.base + BigInt(idx * 16), 2);
      if (!dw) return false;
      const f = this.filter(dw[0], dw[1]);
      if (f.action !== 'pass' && f.action !== 'rewrite') return false;
      const op = f.cmd.op;
      if (op !== 'CMD_SYNC' && op !== 'CMD_TLBI_NH_ASID' && op !== 'CMD_TLBI_NH_VA' && op !== 'CMD_TLBI_NH_VAA') return false;
      out.push(f.cmd);
      const next = idx + 1;
      cons = ((cons & q.n) ^ (next === q.n ? q.n : 0)) | (next % q.n);
    }
    if (out.length === 0) return false;
    v.cmdqProd = prod;
    this.issueReal(out);
    v.cmdqCons = (v.cmdqCons & ~q.mask & ~(0x7f << CMDQ_CONS_ERR_SHIFT)) | (prod & q.mask);
    this.counters.vcmdqBatches++;
    this.counters.vcmdqCommands += out.length;
    this.lastProdTrapped = false;
    this.push({ seq: ++this.seqNo, kind: 'vcmdq', commands: out.length });
    return true;
  }

  // -------------------------------------------------------------------------
  // STE shadowing

  /** Address of the host's STE for a SID, or a reason it has none. */
  private hostSteAddr(sid: number): bigint | { kind: 'unreachable' | 'unreadable'; reason: string } {
    const v = this.v;
    const cfg = strtabCfg(v.strtabBaseCfg);
    const log2size = Math.min(cfg.log2size, this.smmu.f.sidsize);
    const base = v.strtabBase & 0x000f_ffff_ffff_ffc0n;
    if (sid >= 2 ** log2size) return { kind: 'unreachable', reason: `StreamID ${sid} is outside the host's stream table (2^${log2size})` };
    if (!(cfg.fmt === 1 && this.smmu.f.stLevel2)) return (base & ~((1n << BigInt(cfg.log2size + 6)) - 1n)) + BigInt(sid) * 64n;
    let split = cfg.split;
    if (split !== 6 && split !== 8 && split !== 10) split = 6;
    const l1Index = Math.floor(sid / 2 ** split);
    const l1Bytes = 1n << BigInt(Math.max(6, cfg.log2size - split + 3));
    const l1Addr = (base & ~(l1Bytes - 1n)) + BigInt(l1Index) * 8n;
    const l1 = this.readHost(l1Addr, 1);
    if (!l1) return { kind: 'unreadable', reason: `the host's L1STD at ${hex(l1Addr)} is not host memory` };
    const { span, l2ptr } = decodeL1std(l1[0]);
    if (span === 0 || span > 11 || span > split + 1) return { kind: 'unreachable', reason: `the host's L1STD for StreamID ${sid} is invalid (Span ${span})` };
    const l2Index = sid % 2 ** split;
    if (l2Index >= 2 ** (span - 1)) return { kind: 'unreachable', reason: `StreamID ${sid} is beyond its L1STD's span` };
    return (l2ptr & ~(BigInt(2 ** (span - 1) * 64) - 1n)) + BigInt(l2Index) * 64n;
  }

  /** SIDs the host's stream table can reach (valid L1STDs, or the whole linear table). */
  private hostSids(): number[] {
    const v = this.v;
    const cfg = strtabCfg(v.strtabBaseCfg);
    const log2size = Math.min(cfg.log2size, this.smmu.f.sidsize);
    const limit = Math.min(2 ** log2size, this.sidLimit);
    const out: number[] = [];
    if (!(cfg.fmt === 1 && this.smmu.f.stLevel2)) {
      for (let s = 0; s < limit; s++) out.push(s);
      return out;
    }
    let split = cfg.split;
    if (split !== 6 && split !== 8 && split !== 10) split = 6;
    const base = v.strtabBase & 0x000f_ffff_ffff_ffc0n;
    const l1Bytes = 1n << BigInt(Math.max(6, cfg.log2size - split + 3));
    const l1Base = base & ~(l1Bytes - 1n);
    const numL1 = Math.ceil(limit / 2 ** split);
    for (let i = 0; i < numL1; i++) {
      const l1 = this.readHost(l1Base + BigInt(i) * 8n, 1);
      if (!l1) continue;
      const { span } = decodeL1std(l1[0]);
      if (span === 0 || span > 11 || span > split + 1) continue;
      const first = i * 2 ** split;
      for (let s = first; s < first + 2 ** (span - 1) && s < limit; s++) out.push(s);
    }
    return out;
  }

  /** The shadow STE for a SID, from the host's STE. */
  private computeShadow(sid: number): { target: bigint[]; host: HostSteKind; shadow: ShadowKind; reason?: string; hostDw?: bigint[] } {
    const invalid = new Array<bigint>(STE_DWORDS).fill(0n);
    const abort = encodeSte({ V: 1, Config: 0 });
    if (!(this.v.cr0 & CR0_SMMUEN)) return { target: abort, host: 'disabled', shadow: 'abort', reason: 'the host\'s virtual SMMUEN = 0' };
    const a = this.hostSteAddr(sid);
    if (typeof a !== 'bigint') return { target: invalid, host: a.kind, shadow: 'invalid', reason: a.reason };
    const dw = this.readHost(a, STE_DWORDS);
    if (!dw) return { target: abort, host: 'unreadable', shadow: 'abort', reason: `the host STE at ${hex(a)} is not host memory` };
    if ((dw[0] & STE_V) === 0n) return { target: invalid, host: 'invalid', shadow: 'invalid' };
    const cfg = Number((dw[0] & STE_CFG_MASK) >> 1n);
    if (cfg === 0b110 || cfg === 0b111) {
      const host: HostSteKind = cfg === 0b110 ? 'forged-s2' : 'forged-nested';
      const reason = `the host wrote Config ${cfg === 0b110 ? 'S2 (0b110)' : 'nested (0b111)'}: it has no stage 2`;
      this.counters.steRejected++;
      this.push({ seq: ++this.seqNo, kind: 'reject', sid, reason });
      return { target: abort, host, shadow: 'abort', reason };
    }
    const hv = validateSte(decodeSte(dw), this.hostF, false);
    if (!hv.ok) return { target: invalid, host: 'illegal', shadow: 'invalid', reason: hv.reason };
    if (hv.config === 'abort') return { target: abort, host: 'abort', shadow: 'abort' };
    const s2 = encodeSte(this.s2SteFields);
    let target: bigint[];
    let host: HostSteKind;
    if (hv.config === 'bypass') {
      host = 'bypass';
      target = encodeSte({ V: 1, Config: 0b110, ...this.s2SteFields });
    } else {
      host = 's1';
      target = [(dw[0] & ~STE_CFG_MASK) | (0b111n << 1n), dw[1], s2[2], s2[3], 0n, 0n, 0n, 0n];
    }
    const sv = validateSte(decodeSte(target), this.smmu.f, this.smmu.f.hyp);
    if (!sv.ok) return { target: invalid, host, shadow: 'invalid', reason: `the shadow would be ILLEGAL: ${sv.reason}` };
    return { target, host, shadow: steConfigName(Number((target[0] & STE_CFG_MASK) >> 1n)), hostDw: dw };
  }

  /** Address of the hyp's STE for a SID; with `alloc`, the level-2 array is created if needed. */
  private shadowAddr(sid: number, alloc: boolean): bigint | null {
    if (!this.sidOk(sid)) return null;
    try {
      return this.driver.steAddr(sid);
    } catch (e) {
      if (!(e instanceof SmmuDriverError) || !alloc) return null;
    }
    try {
      this.driver.addDevice(sid);
      return this.driver.steAddr(sid);
    } catch (e) {
      if (e instanceof SmmuDriverError) {
        this.note(`no level-2 stream table for StreamID ${sid}: ${e.message}`);
        return null;
      }
      throw e;
    }
  }

  /** Re-shadow SIDs: one, a range, or all (those shadowed before plus those the host's table reaches). */
  private reshadow(which: 'all' | { start: number; count: number }, why: string): void {
    let sids: number[];
    if (which !== 'all' && which.count === 1) sids = [which.start];
    else {
      const inRange = (s: number): boolean => which === 'all' || (s >= which.start && s < which.start + which.count);
      const set = new Set<number>();
      for (const s of this.shadows.keys()) if (inRange(s)) set.add(s);
      if (this.v.cr0 & CR0_SMMUEN) for (const s of this.hostSids()) if (inRange(s)) set.add(s);
      sids = [...set].sort((a, b) => a - b);
    }
    const explicit = which !== 'all' && which.count === 1;
    for (const sid of sids) this.shadowOne(sid, why, explicit);
  }

  /**
   * Recompute and write one shadow. A level-2 array is allocated for a
   * translating shadow, or for an abort one the host named in a CFGI_STE;
   * otherwise a SID without one keeps terminating with C_BAD_STREAMID.
   */
  private shadowOne(sid: number, why: string, explicit: boolean): void {
    this.counters.steShadows++;
    const t = this.computeShadow(sid);
    const translating = t.shadow === 's2' || t.shadow === 'nested' || t.shadow === 's1' || t.shadow === 'bypass';
    const addr = this.shadowAddr(sid, translating || (explicit && t.shadow === 'abort'));
    const info: ShadowInfo = { sid, host: t.host, shadow: t.shadow };
    if (t.reason) info.reason = t.reason;
    if (t.hostDw) info.hostDw = t.hostDw;
    info.target = t.target;
    if (addr === null) {
      if (translating) info.reason = 'no memory for a level-2 stream table: the stream stays terminated';
      if (translating || this.shadows.has(sid)) this.shadows.set(sid, info);
      this.push({ seq: ++this.seqNo, kind: 'ste', sid, host: t.host, shadow: t.shadow, update: 'skipped', steps: [], reason: info.reason ?? why });
      return;
    }
    const { update, steps } = this.writeShadow(sid, addr, t.target);
    if (update !== 'none' || translating || explicit || this.shadows.has(sid)) this.shadows.set(sid, info);
    this.push({ seq: ++this.seqNo, kind: 'ste', sid, host: t.host, shadow: t.shadow, update, steps, reason: t.reason ?? why });
  }

  /**
   * Write a shadow STE in a safe order; each step the SMMU could observe is
   * followed by CFGI_STE + CMD_SYNC on the real queue.
   */
  private writeShadow(sid: number, addr: bigint, target: readonly bigint[]): { update: ShadowUpdate; steps: ShadowStep[] } {
    const cur = this.readWords(addr, STE_DWORDS);
    const steps: ShadowStep[] = [];
    if (cur.every((w, i) => w === target[i])) return { update: 'none', steps };
    const put = (vals: readonly bigint[], from: number, to: number): boolean => {
      let changed = false;
      for (let i = from; i < to; i++) {
        if (cur[i] === vals[i]) continue;
        if (!this.mem.write64(addr + BigInt(i * 8), vals[i])) throw new Error(`nested: no memory behind the shadow STE at ${hex(addr)}`);
        cur[i] = vals[i];
        steps.push({ dword: i, value: vals[i] });
        this.counters.steWrites++;
        changed = true;
      }
      return changed;
    };
    const sync = (): void => {
      steps.push('sync');
      this.issueReal([{ op: 'CMD_CFGI_STE', sid, leaf: true }, SYNC_NONE]);
    };
    const curValid = (cur[0] & STE_V) !== 0n;
    const tgtValid = (target[0] & STE_V) !== 0n;
    if (!curValid) {
      // Validating: the body first, dword 0 (V) last.
      put(target, 1, STE_DWORDS);
      put(target, 0, 1);
      if (tgtValid) sync();
      return { update: 'validate', steps };
    }
    if (!tgtValid) {
      // Invalidating: dword 0 first.
      put(target, 0, 1);
      sync();
      put(target, 1, STE_DWORDS);
      return { update: 'invalidate', steps };
    }
    const { diff, unusedUpdate } = entryQwordDiff(cur, target, steUsedBits);
    if (popcount(diff) <= 1) {
      // Hitless: bits the current entry ignores, then the one critical qword, then the rest.
      const critical = diff === 0 ? -1 : Math.log2(diff & -diff);
      if (critical >= 0) unusedUpdate[critical] = cur[critical];
      if (put(unusedUpdate, 0, STE_DWORDS)) sync();
      if (critical >= 0 && put(target, critical, critical + 1)) sync();
      if (put(target, 0, STE_DWORDS)) sync();
      return { update: 'hitless', steps };
    }
    // Break before make: V = 0, the body, dword 0.
    put([0n], 0, 1);
    sync();
    put(target, 1, STE_DWORDS);
    put(target, 0, 1);
    sync();
    return { update: 'breaking', steps };
  }

  // -------------------------------------------------------------------------
  // Events

  /** Drain the real event queue into the host's virtual one (what the hyp's event IRQ does). */
  pollEvents(): EventRecord[] {
    const got = this.driver.drainEvents();
    for (const e of got) {
      this.counters.eventsReal++;
      const why = this.forwardEvent(e);
      if (why === null) this.counters.eventsForwarded++;
      else this.counters.eventsLost++;
      this.push(why === null ? { seq: ++this.seqNo, kind: 'event', event: e, forwarded: true } : { seq: ++this.seqNo, kind: 'event', event: e, forwarded: false, reason: why });
    }
    return got;
  }

  /** Write one record into the host's event queue; null, or why it was lost. */
  private forwardEvent(e: EventRecord): string | null {
    const v = this.v;
    if (!(v.cr0 & CR0_EVTQEN)) return 'the host\'s virtual EVTQEN = 0';
    if ((v.gerror ^ v.gerrorn) & GERROR_EVENTQ_ABT_ERR) return 'the host\'s event queue is in EVENTQ_ABT_ERR';
    const q = this.hostEvtq();
    const pIdx = v.eventqProd & (q.n - 1);
    const cIdx = v.eventqCons & (q.n - 1);
    const pWrap = v.eventqProd & q.n;
    if (pIdx === cIdx && pWrap !== (v.eventqCons & q.n)) {
      if ((v.eventqProd & Q_OVFLG) === (v.eventqCons & Q_OVFLG)) v.eventqProd = (v.eventqProd ^ Q_OVFLG) >>> 0;
      return 'the host\'s event queue is full';
    }
    const slot = q.base + BigInt(pIdx * 32);
    for (let i = 0; i < 4; i++) {
      const a = slot + BigInt(i * 8);
      if (!this.own.hostCanAccess(a >> PAGE_SHIFT) || this.own.isMmio(a >> PAGE_SHIFT)) {
        v.gerror ^= GERROR_EVENTQ_ABT_ERR;
        return `the host's event queue slot ${hex(slot)} is not host memory`;
      }
    }
    const dw = encodeEvent(e);
    for (let i = 0; i < 4; i++) {
      if (!this.mem.write64(slot + BigInt(i * 8), dw[i])) {
        v.gerror ^= GERROR_EVENTQ_ABT_ERR;
        return `no memory behind ${hex(slot)}`;
      }
    }
    const next = (pIdx + 1) % q.n;
    const wrap = next === 0 ? pWrap ^ q.n : pWrap;
    v.eventqProd = ((v.eventqProd & Q_OVFLG) | wrap | next) >>> 0;
    return null;
  }

  // -------------------------------------------------------------------------
  // Invariants

  /**
   * The properties the design promises, as violations (empty: all hold):
   * the stage 2 maps only RAM the host can access, each page to itself; it
   * maps all of it (but for ranges degraded by an empty pool); every valid
   * shadow STE uses the hyp's stage 2 (or aborts).
   */
  checkInvariants(): string[] {
    const out: string[] = [];
    const leaves = this.s2.leaves();
    const mapped: Array<[bigint, bigint]> = [];
    for (const l of leaves) {
      if (l.iova !== l.pa) out.push(`stage 2 maps IPA ${hex(l.iova)} to ${hex(l.pa)} (not identity)`);
      const last = mapped[mapped.length - 1];
      if (last && last[1] === l.iova) last[1] = l.iova + l.size;
      else mapped.push([l.iova, l.iova + l.size]);
    }
    const host = this.hostRanges(0n, this.ipaLimit);
    // Every mapped byte is host-accessible.
    let hi = 0;
    for (const [ms, me] of mapped) {
      let cur = ms;
      while (cur < me) {
        while (hi < host.length && host[hi][1] <= cur) hi++;
        const h = host[hi];
        if (!h || h[0] > cur) {
          const to = h ? minB(h[0], me) : me;
          out.push(`stage 2 maps ${hex(cur)}-${hex(to)}, which the host cannot access`);
          cur = to;
        } else cur = minB(h[1], me);
      }
    }
    // Every host-accessible byte is mapped (minus degraded ranges).
    const covered = [...mapped, ...this.degraded].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    let ci = 0;
    for (const [hs, he] of host) {
      let cur = hs;
      while (cur < he) {
        while (ci < covered.length && covered[ci][1] <= cur) ci++;
        const c = covered[ci];
        if (!c || c[0] > cur) {
          const to = c ? minB(c[0], he) : he;
          out.push(`host RAM ${hex(cur)}-${hex(to)} is missing from stage 2`);
          cur = to;
        } else cur = minB(c[1], he);
      }
    }
    const s2 = encodeSte(this.s2SteFields);
    // The shadow stream table matches the host's (as of its last CFGI) modulo the hyp's stage 2.
    for (const info of this.shadows.values()) {
      const ste = this.shadowSte(info.sid);
      if (!ste || !info.target) continue;
      if (ste.some((w, i) => w !== info.target?.[i])) out.push(`shadow STE ${info.sid} in memory differs from the shadow the hyp computed`);
      const h = info.hostDw;
      if (h && info.host === 's1') {
        const keep = ~STE_CFG_MASK;
        if ((ste[0] & keep) !== (h[0] & keep) || ste[1] !== h[1]) out.push(`shadow STE ${info.sid} does not carry the host's stage-1 dwords 0-1`);
      }
    }
    for (const sid of this.shadows.keys()) {
      const ste = this.shadowSte(sid);
      if (!ste || (ste[0] & STE_V) === 0n) continue;
      const cfg = Number((ste[0] & STE_CFG_MASK) >> 1n);
      if (cfg === 0b100 || cfg === 0b101) out.push(`shadow STE ${sid} has Config ${cfg.toString(2)}: no stage 2`);
      if ((cfg === 0b110 || cfg === 0b111) && (ste[2] !== s2[2] || ste[3] !== s2[3])) out.push(`shadow STE ${sid} does not use the hyp's stage 2`);
    }
    return out;
  }
}
