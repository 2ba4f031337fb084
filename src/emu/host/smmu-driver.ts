/**
 * The host's SMMUv3 driver: a model of Linux's
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (6.10-era structure) and of
 * the iommu core paths it serves (iommu_map / iommu_unmap / iotlb gather).
 *
 * The driver reaches the SMMU only through an MmioPort (register reads and
 * writes by offset) and through memory it owns: one PhysicalMemory, and a
 * TableAllocator from which it takes its stream table, CD tables, queues
 * and io-pgtable pages. Nothing here holds a reference to the device, so a
 * hypervisor can interpose on every register access (trap and emulate) and
 * the driver cannot tell.
 *
 * What is modelled, function by function (Linux names):
 *  - arm_smmu_device_hw_probe: IDR0/IDR1/IDR3/IDR5 (+ IIDR) → features;
 *  - arm_smmu_init_structures: queues (arm_smmu_init_one_queue), stream table
 *    (linear, or 2-level with SPLIT = 8 and lazily allocated L2 arrays);
 *  - arm_smmu_device_reset: GBPA, CR0 disable, CR1, CR2, STRTAB_BASE(_CFG),
 *    CMDQ, CR0.CMDQEN, CFGI_ALL / TLBI_EL2_ALL / TLBI_NSNH_ALL (each with a
 *    CMD_SYNC), EVTQ, IRQ_CTRL, CR0.SMMUEN; every write_reg_sync polls the ACK;
 *  - arm_smmu_cmdq_issue_cmdlist + batches: commands into queue memory at
 *    PROD, one PROD write (the doorbell), CMD_SYNC completion by polling CONS
 *    (or the MSI write into the sync slot when msipolling is chosen);
 *  - arm_smmu_gerror_handler / arm_smmu_cmdq_skip_err: CERROR recovery;
 *  - arm_smmu_write_entry (hitless / breaking STE and CD updates) with
 *    arm_smmu_get_ste_used / arm_smmu_get_cd_used;
 *  - arm_smmu_make_{abort,cdtable,s2_domain}_ste, arm_smmu_make_s1_cd,
 *    CD tables (linear or 2-level with 1024-CD leaves);
 *  - io-pgtable TLB ops (tlb_flush_walk, tlb_add_page), iotlb_sync and
 *    __arm_smmu_tlb_inv_range (RIL: TG/NUM/SCALE/TTL);
 *  - iommu_map / iommu_unmap with iommu_pgsize.
 */

import { hex } from '../bits';
import {
  ArmLpaeIoPgtable,
  IoPgtableConfigError,
  type IoPgtableTlbOps,
  IotlbGather,
  type IovaToPhys,
} from '../iopgtable';
import type { Granule } from '../descriptor';
import type { PhysicalMemory, TableAllocator } from '../memory';
import { encodeCd, encodeL1cd } from '../smmu/cd';
import { CERROR_NAMES, type CerrorCode, type Command, cfgiAll, decodeCommand, encodeCommand, formatCommand } from '../smmu/commands';
import { type EventRecord, tryDecodeEvent } from '../smmu/events';
import { REG_BY_OFFSET } from '../smmu/registers';
import { type Ste, encodeL1std, encodeSte } from '../smmu/ste';

// ---------------------------------------------------------------------------
// The MMIO port

/** Register access by offset: all the driver ever does to the device. */
export interface MmioPort {
  read(offset: number): bigint;
  write(offset: number, value: bigint): void;
}

/** A port straight to an emulated SMMU (no hypervisor in between). */
export function directPort(smmu: { readReg(offset: number): bigint; writeReg(offset: number, value: bigint): unknown }): MmioPort {
  return {
    read: (offset) => smmu.readReg(offset),
    write: (offset, value) => {
      smmu.writeReg(offset, value);
    },
  };
}

// ---------------------------------------------------------------------------
// Register offsets and fields (arm-smmu-v3.h)

export const REG = Object.freeze({
  IDR0: 0x00,
  IDR1: 0x04,
  IDR3: 0x0c,
  IDR5: 0x14,
  IIDR: 0x18,
  CR0: 0x20,
  CR0ACK: 0x24,
  CR1: 0x28,
  CR2: 0x2c,
  GBPA: 0x44,
  IRQ_CTRL: 0x50,
  IRQ_CTRLACK: 0x54,
  GERROR: 0x60,
  GERRORN: 0x64,
  GERROR_IRQ_CFG0: 0x68,
  STRTAB_BASE: 0x80,
  STRTAB_BASE_CFG: 0x88,
  CMDQ_BASE: 0x90,
  CMDQ_PROD: 0x98,
  CMDQ_CONS: 0x9c,
  EVTQ_BASE: 0xa0,
  EVTQ_IRQ_CFG0: 0xb0,
  /** Page 1 (ARM_SMMU_PAGE1 + ARM_SMMU_EVTQ_PROD / _CONS). */
  EVTQ_PROD: 0x100a8,
  EVTQ_CONS: 0x100ac,
} as const);

const CR0_SMMUEN = 1n << 0n;
const CR0_EVTQEN = 1n << 2n;
const CR0_CMDQEN = 1n << 3n;
const CR1_CACHE_WB = 1n;
const ARM_SMMU_SH_ISH = 3n;
/** CR1: TABLE_SH[11:10], TABLE_OC[9:8], TABLE_IC[7:6], QUEUE_SH[5:4], QUEUE_OC[3:2], QUEUE_IC[1:0]. */
const CR1_VALUE =
  (ARM_SMMU_SH_ISH << 10n) | (CR1_CACHE_WB << 8n) | (CR1_CACHE_WB << 6n) | (ARM_SMMU_SH_ISH << 4n) | (CR1_CACHE_WB << 2n) | CR1_CACHE_WB;
const CR2_RECINVSID = 1n << 1n;
const CR2_PTM = 1n << 2n;
const GBPA_UPDATE = 1n << 31n;
const GBPA_ABORT = 1n << 20n;
const IRQ_CTRL_GERROR_IRQEN = 1n << 0n;
const IRQ_CTRL_EVTQ_IRQEN = 1n << 2n;
const GERROR_CMDQ_ERR = 1 << 0;
const GERROR_SFM_ERR = 1 << 8;
/** GERROR_ERR_MASK in Linux: every defined error bit. */
const GERROR_ERR_MASK = 0x1fd;
const Q_BASE_RWA = 1n << 62n;
const Q_BASE_ADDR_MASK = 0x000f_ffff_ffff_ffe0n;
const STRTAB_BASE_RA = 1n << 62n;
const STRTAB_BASE_ADDR_MASK = 0x000f_ffff_ffff_ffc0n;
const CMDQ_CONS_ERR_SHIFT = 24;
const Q_OVF = 0x8000_0000;

/** STRTAB_SPLIT: 256 STEs (one PCI bus) per level-2 array. */
export const STRTAB_SPLIT = 8;
/** STRTAB_MAX_L1_ENTRIES. */
const STRTAB_MAX_L1_ENTRIES = 1 << 17;
/** CTXDESC_L2_ENTRIES: CDs per level-2 CD table (S1Fmt = 64K_L2). */
export const CTXDESC_L2_ENTRIES = 1024;
/** CMDQ_BATCH_ENTRIES (BITS_PER_LONG). */
export const CMDQ_BATCH_ENTRIES = 64;
const CMDQ_TLBI_RANGE_NUM_MAX = 31n;
const STE_DWORDS = 8;
const CD_DWORDS = 8;
const S1DSS_TERMINATE = 0;
const S1DSS_SSID0 = 2;
const S1FMT_LINEAR = 0;
const S1FMT_64K_L2 = 2;
const S1C_CACHE_WBRA = 1;
const MEMATTR_OIWB = 0xf;

// ---------------------------------------------------------------------------
// Types

export type DriverErrno = 'EINVAL' | 'ENODEV' | 'ENXIO' | 'ENOMEM' | 'EBUSY' | 'ETIMEDOUT' | 'ERANGE' | 'EEXIST' | 'ENOSPC';

export class SmmuDriverError extends Error {
  constructor(
    readonly errno: DriverErrno,
    message: string,
  ) {
    super(`${errno}: ${message}`);
    this.name = 'SmmuDriverError';
  }
}

/** What arm_smmu_device_hw_probe derives from the ID registers. */
export interface DriverFeatures {
  idr0: number;
  idr1: number;
  idr3: number;
  idr5: number;
  iidr: number;
  s1: boolean;
  s2: boolean;
  nesting: boolean;
  /** ARM_SMMU_FEAT_2_LVL_STRTAB (IDR0.ST_LEVEL = 1 and SIDSIZE > SPLIT). */
  twoLevelStrtab: boolean;
  /** ARM_SMMU_FEAT_2_LVL_CDTAB (IDR0.CD2L). */
  cd2l: boolean;
  sidBits: number;
  ssidBits: number;
  asidBits: number;
  vmidBits: number;
  /** Output address size (IDR5.OAS) and Linux's smmu->ias = max(ias, oas). */
  oas: number;
  ias: number;
  vax: boolean;
  granules: Granule[];
  pgsizeBitmap: bigint;
  ril: boolean;
  msi: boolean;
  sev: boolean;
  hyp: boolean;
  coherent: boolean;
  ats: boolean;
  pri: boolean;
  btm: boolean;
  /** ARM_SMMU_FEAT_STALLS (stall model 0 or 2). */
  stalls: boolean;
  /** IDR0.HTTU: 0 none, 1 access flag, 2 access + dirty. */
  httu: number;
  /** log2 of the queue sizes the driver uses: min(cap, IDR1.CMDQS / EVENTQS). */
  cmdqShift: number;
  evtqShift: number;
  /** ARM_SMMU_OPT_MSIPOLL would be set by Linux (MSI + COHACC). */
  msiPollCapable: boolean;
}

export interface SmmuDriverOptions {
  /** Cap on the queue log2 sizes (Linux caps at CMDQ/EVTQ_MAX_SZ_SHIFT; the model's default is 8). */
  maxQueueShift?: number;
  /** disable_bypass: set GBPA.ABORT before reprogramming the SMMU (default true). */
  disableBypass?: boolean;
  /**
   * How a CMD_SYNC's completion is observed: 'cons' polls CMDQ_CONS (Linux
   * without ARM_SMMU_OPT_MSIPOLL, e.g. disable_msipolling=1); 'msi' makes the
   * sync write its MSI over its own queue slot and polls memory (Linux's
   * default with MSI + COHACC). Default 'cons'.
   */
  syncPoll?: 'cons' | 'msi';
  /** Issue CMD_PREFETCH_CONFIG after each STE update (Linux unless ARM_SMMU_OPT_SKIP_PREFETCH). Default true. */
  prefetchCfg?: boolean;
  /** Poll iterations before a poll is declared timed out (default 64). */
  pollLimit?: number;
  /** Log entries kept (oldest dropped beyond). Default 20000. */
  maxLog?: number;
  /** Log every MMIO access (default true). */
  logMmio?: boolean;
}

export type MemWhat = 'ste' | 'cd' | 'l1std' | 'l1cd';

/** One step the driver took, for views (the sequence of an STE update, a command list, a trap). */
export type DriverLogEntry =
  | { seq: number; kind: 'mmio'; op: 'read' | 'write'; offset: number; reg: string; value: bigint }
  | { seq: number; kind: 'mem'; what: MemWhat; addr: bigint; value: bigint; sid: number; ssid?: number; dword: number }
  | { seq: number; kind: 'bulk'; what: 'strtab-init' | 'l2-strtab-init'; addr: bigint; bytes: bigint; text: string }
  | { seq: number; kind: 'cmd'; prod: number; addr: bigint; dw: [bigint, bigint]; cmd: Command }
  | { seq: number; kind: 'entry'; what: 'ste' | 'cd'; sid: number; ssid?: number; update: 'hitless' | 'breaking' | 'none'; qwordDiff: number }
  | { seq: number; kind: 'cerror'; cons: number; code: number; name: string; dw: [bigint, bigint]; text: string }
  | { seq: number; kind: 'note'; text: string };

export interface CerrorRecord {
  seq: number;
  /** CMDQ_CONS as read (index, wrap and ERR). */
  cons: number;
  code: number;
  name: string;
  /** The faulting command, as it sat in the queue before being replaced by a CMD_SYNC (ILL only). */
  dw: [bigint, bigint];
  text: string;
  /** 'skipped' (replaced by CMD_SYNC), or 'retried' (ABT / ATC_INV_SYNC: left in place). */
  action: 'skipped' | 'retried';
}

export interface DriverStats {
  mmioReads: number;
  mmioWrites: number;
  /** Commands written into the queue, CMD_SYNCs included. */
  commands: number;
  syncs: number;
  /** CMDQ_PROD writes (doorbells): one per command list. */
  prodWrites: number;
  cmdLists: number;
  tlbiCommands: number;
  cfgiCommands: number;
  /** 64-bit writes to STEs, CDs and L1 descriptors. */
  memWrites: number;
  steUpdates: number;
  cdUpdates: number;
  cerrors: number;
  timeouts: number;
  gerrors: number;
  events: number;
}

function newStats(): DriverStats {
  return {
    mmioReads: 0,
    mmioWrites: 0,
    commands: 0,
    syncs: 0,
    prodWrites: 0,
    cmdLists: 0,
    tlbiCommands: 0,
    cfgiCommands: 0,
    memWrites: 0,
    steUpdates: 0,
    cdUpdates: 0,
    cerrors: 0,
    timeouts: 0,
    gerrors: 0,
    events: 0,
  };
}

export type DomainStage = 's1' | 's2';

export interface AllocDomainOptions {
  /** Translation granule (default: 4 KB when supported, as with a 4K-page kernel). */
  granule?: Granule;
  /** Stage-1 input address bits (a kernel's VA_BITS: 39, 42, 47, 48…; default 48). Sets T0SZ = 64 - ias and so the start level. */
  ias?: number;
}

/**
 * The stage-2 fields of an STE for a stage-2 io-pgtable, as Linux's
 * arm_smmu_make_s2_domain_ste writes them (VTCR fields, AArch64, S2PTW,
 * S2R, S2TTB), tagged with `vmid`.
 */
export function s2SteFieldsFor(pgt: ArmLpaeIoPgtable, vmid: number): Partial<Ste> {
  const v = pgt.s2;
  if (!v) throw new SmmuDriverError('EINVAL', 'not a stage-2 domain');
  return {
    S2VMID: vmid,
    S2T0SZ: v.tsz,
    S2SL0: v.sl,
    S2IR0: v.irgn,
    S2OR0: v.orgn,
    S2SH0: v.sh,
    S2TG: v.tg,
    S2PS: v.ps,
    S2AA64: 1,
    S2PTW: 1,
    S2R: 1,
    S2TTB: v.vttbr,
  };
}

/** An arm_smmu_domain: an io-pgtable plus its ASID (S1) or VMID (S2). */
export class SmmuDomain {
  pgtable!: ArmLpaeIoPgtable;
  /** Attachments: "sid" for a RID attach, "sid:ssid" for a PASID. */
  readonly devices = new Set<string>();
  freed = false;
  constructor(
    readonly id: number,
    readonly stage: DomainStage,
    /** ASID for S1 domains, VMID for S2 domains. */
    readonly tag: number,
  ) {}

  get asid(): number | undefined {
    return this.stage === 's1' ? this.tag : undefined;
  }

  get vmid(): number | undefined {
    return this.stage === 's2' ? this.tag : undefined;
  }

  /** domain->pgsize_bitmap (the io-pgtable's). */
  get pgsizeBitmap(): bigint {
    return this.pgtable.pgsizeBitmap;
  }
}

export interface AttachOptions {
  /** Attach a PASID (SubstreamID) instead of the RID. 0 is the RID (IOMMU_NO_PASID). */
  ssid?: number;
  /** The device's PASID width (fwspec num_pasid_bits), fixed when the device is first seen. Default 0. */
  pasidBits?: number;
}

interface CdTable {
  s1fmt: number;
  s1cdmax: number;
  /** cdtab_dma: the linear table, or the L1CD array. */
  base: bigint;
  numL1: number;
  /** Level-2 CD tables by L1 index (2-level only). */
  l2: Map<number, bigint>;
  usedSsids: number;
}

/** An arm_smmu_master with one stream. */
interface Master {
  sid: number;
  ssidBits: number;
  cdTable: CdTable | null;
  /** The RID domain (undefined: blocked, i.e. the abort STE). */
  domain: SmmuDomain | undefined;
  pasids: Map<number, SmmuDomain>;
}

export interface MapOutcome {
  /** Bytes mapped (0 after an error: the partial mapping is unrolled, as iommu_map does). */
  mapped: bigint;
  error?: DriverErrno;
}

// ---------------------------------------------------------------------------
// Small helpers

function bitmask(hi: number, lo: number): bigint {
  return ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);
}

/** __ffs on a bigint (> 0, at most 64 bits). */
function ffs(v: bigint): number {
  const lo = Number(v & 0xffffffffn);
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  const hi = Number((v >> 32n) & 0xffffffffn);
  return 63 - Math.clz32(hi & -hi);
}

/** __fls on a bigint (> 0, at most 64 bits). */
function fls(v: bigint): number {
  const hi = Number((v >> 32n) & 0xffffffffn);
  if (hi !== 0) return 63 - Math.clz32(hi);
  return 31 - Math.clz32(Number(v & 0xffffffffn));
}

function popcount(v: number): number {
  let n = 0;
  for (let x = v; x; x &= x - 1) n++;
  return n;
}

const ALL_ONES = (1n << 64n) - 1n;

// STE used-bit masks (arm_smmu_get_ste_used).
const STE0_V = 1n;
const STE0_CFG = bitmask(3, 1);
const STE0_S1FMT = bitmask(5, 4);
const STE0_S1CTXPTR = bitmask(51, 6);
const STE0_S1CDMAX = bitmask(63, 59);
const STE1_S1DSS = bitmask(1, 0);
const STE1_S1CIR = bitmask(3, 2);
const STE1_S1COR = bitmask(5, 4);
const STE1_S1CSH = bitmask(7, 6);
const STE1_S1STALLD = 1n << 27n;
const STE1_EATS = bitmask(29, 28);
const STE1_STRW = bitmask(31, 30);
const STE1_SHCFG = bitmask(45, 44);
const STE2_S2VMID = bitmask(15, 0);
const STE2_VTCR = bitmask(50, 32);
const STE2_S2AA64 = 1n << 51n;
const STE2_S2ENDI = 1n << 52n;
const STE2_S2PTW = 1n << 54n;
const STE2_S2R = 1n << 58n;
const STE3_S2TTB = bitmask(51, 4);

/** arm_smmu_get_ste_used. */
export function steUsedBits(ent: readonly bigint[]): bigint[] {
  const used = new Array<bigint>(STE_DWORDS).fill(0n);
  used[0] = STE0_V;
  if ((ent[0] & STE0_V) === 0n) return used;
  used[0] |= STE0_CFG;
  const cfg = Number((ent[0] & STE0_CFG) >> 1n);
  if (cfg & 1) {
    used[0] |= STE0_S1FMT | STE0_S1CTXPTR | STE0_S1CDMAX;
    used[1] |= STE1_S1DSS | STE1_S1CIR | STE1_S1COR | STE1_S1CSH | STE1_S1STALLD | STE1_STRW | STE1_EATS;
    used[2] |= STE2_S2VMID;
    if ((ent[1] & STE1_S1DSS) === 1n) used[1] |= STE1_SHCFG; // S1DSS = bypass
  }
  if (cfg & 2) {
    used[1] |= STE1_EATS | STE1_SHCFG;
    used[2] |= STE2_S2VMID | STE2_VTCR | STE2_S2AA64 | STE2_S2ENDI | STE2_S2PTW | STE2_S2R;
    used[3] |= STE3_S2TTB;
  }
  if (cfg === 0b100) used[1] |= STE1_SHCFG;
  return used;
}

const CD0_V = 1n << 31n;
const CD0_EPD0 = 1n << 14n;
const CD0_TCR0 = bitmask(13, 0); // T0SZ[5:0], TG0[7:6], IR0[9:8], OR0[11:10], SH0[13:12]
const CD1_TTB0 = bitmask(51, 4);

/** arm_smmu_get_cd_used. */
export function cdUsedBits(ent: readonly bigint[]): bigint[] {
  const used = new Array<bigint>(CD_DWORDS).fill(0n);
  used[0] = CD0_V;
  if ((ent[0] & CD0_V) === 0n) return used;
  used.fill(ALL_ONES);
  if (ent[0] & CD0_EPD0) {
    used[0] &= ~CD0_TCR0;
    used[1] &= ~CD1_TTB0;
  }
  return used;
}

/**
 * arm_smmu_entry_qword_diff: which qwords must change in bits the current
 * entry uses, and the "unused update" (bits the entry ignores already at
 * their target values).
 */
export function entryQwordDiff(
  entry: readonly bigint[],
  target: readonly bigint[],
  used: (e: readonly bigint[]) => bigint[],
): { diff: number; unusedUpdate: bigint[]; targetOutsideUsed: boolean } {
  const curUsed = used(entry);
  const targetUsed = used(target);
  const unusedUpdate: bigint[] = [];
  let diff = 0;
  let targetOutsideUsed = false;
  for (let i = 0; i < entry.length; i++) {
    if (target[i] & ~targetUsed[i]) targetOutsideUsed = true;
    unusedUpdate[i] = (entry[i] & curUsed[i]) | (target[i] & ~curUsed[i]);
    if ((unusedUpdate[i] & targetUsed[i]) !== target[i]) diff |= 1 << i;
  }
  return { diff, unusedUpdate, targetOutsideUsed };
}

/**
 * iommu_pgsize: the largest page size usable at iova/paddr for `size`, and
 * how many of them before a larger size becomes usable.
 */
export function iommuPgsize(pgsizeBitmap: bigint, iova: bigint, paddr: bigint, size: bigint): { pgsize: bigint; count: bigint } {
  const addrMerge = paddr | iova;
  let pgsizes = pgsizeBitmap & bitmask(fls(size), 0);
  if (addrMerge !== 0n) pgsizes &= bitmask(ffs(addrMerge), 0);
  if (pgsizes === 0n) throw new SmmuDriverError('EINVAL', `no page size fits iova ${hex(iova)} pa ${hex(paddr)} size ${hex(size)}`);
  const pgsizeIdx = fls(pgsizes);
  const pgsize = 1n << BigInt(pgsizeIdx);
  let sz = size;
  const bigger = pgsizeBitmap & ~bitmask(pgsizeIdx, 0);
  if (bigger !== 0n) {
    const pgsizeNext = 1n << BigInt(ffs(bigger));
    if (((iova ^ paddr) & (pgsizeNext - 1n)) === 0n) {
      const offset = pgsizeNext - (addrMerge & (pgsizeNext - 1n));
      if (offset + pgsizeNext <= sz) sz = offset;
    }
  }
  return { pgsize, count: sz >> BigInt(pgsizeIdx) };
}

/**
 * __arm_smmu_tlb_inv_range's command split: the (addr, NUM, SCALE, TG,
 * TTL) of each TLBI covering [iova, iova+size) with `granule`-sized leaves
 * (or walk caches when !leaf). `pageShift` is __ffs(domain pgsize_bitmap).
 */
export function tlbiRangeSplit(
  iova: bigint,
  size: bigint,
  granule: bigint,
  leaf: boolean,
  pageShift: number,
  ril: boolean,
): Array<{ addr: bigint; num: number; scale: number; tg: number; ttl: number }> {
  const out: Array<{ addr: bigint; num: number; scale: number; tg: number; ttl: number }> = [];
  if (size === 0n) return out;
  const end = iova + size;
  let numPages = 0n;
  let tg = 0;
  let ttl = 0;
  if (ril) {
    numPages = size >> BigInt(pageShift);
    tg = (pageShift - 10) / 2;
    if (leaf) ttl = 4 - Math.floor((fls(granule) - 3) / (pageShift - 3));
    else if ((numPages & CMDQ_TLBI_RANGE_NUM_MAX) === 1n) numPages++;
  }
  let addr = iova;
  while (addr < end) {
    let invRange = granule;
    let num = 0;
    let scale = 0;
    if (ril) {
      if (numPages === 0n) break;
      scale = ffs(numPages);
      const n = (numPages >> BigInt(scale)) & CMDQ_TLBI_RANGE_NUM_MAX;
      num = Number(n) - 1;
      invRange = n << BigInt(scale + pageShift);
      numPages -= n << BigInt(scale);
    }
    out.push({ addr, num, scale, tg, ttl });
    addr += invRange;
  }
  return out;
}

function syncCmd(msiaddr = 0n): Extract<Command, { op: 'CMD_SYNC' }> {
  // arm_smmu_cmdq_build_cmd(CMD_SYNC): CS = IRQ with an MSI address, else SEV; MSH = ISH, MSIAttr = OIWB.
  return { op: 'CMD_SYNC', cs: msiaddr !== 0n ? 1 : 2, msh: 3, msiattr: MEMATTR_OIWB, msidata: 0, msiaddr };
}

// ---------------------------------------------------------------------------
// The driver

export class SmmuDriver {
  readonly stats: DriverStats = newStats();
  readonly log: DriverLogEntry[] = [];
  readonly cerrors: CerrorRecord[] = [];
  /** Event records drained from the event queue (arm_smmu_evtq_thread). */
  readonly events: EventRecord[] = [];
  features: DriverFeatures | null = null;
  initialised = false;

  private readonly opts: Required<SmmuDriverOptions>;
  private seqNo = 0;

  // Queues: shadow prod/cons (llq), base addresses.
  private cmdqBase = 0n;
  private cmdqProd = 0;
  private cmdqCons = 0;
  private evtqBase = 0n;
  private evtqProd = 0;
  private evtqCons = 0;

  // Stream table.
  private strtabBase = 0n;
  private strtabCfg = 0;
  private numL1 = 0;
  private readonly l2Strtab = new Map<number, bigint>();

  private readonly masters = new Map<number, Master>();
  private readonly asids = new Set<number>();
  private readonly vmids = new Set<number>();
  private nextDomainId = 1;
  private cr0 = 0n;

  constructor(
    readonly port: MmioPort,
    readonly mem: PhysicalMemory,
    readonly alloc: TableAllocator,
    opts: SmmuDriverOptions = {},
  ) {
    this.opts = {
      maxQueueShift: opts.maxQueueShift ?? 8,
      disableBypass: opts.disableBypass ?? true,
      syncPoll: opts.syncPoll ?? 'cons',
      prefetchCfg: opts.prefetchCfg ?? true,
      pollLimit: opts.pollLimit ?? 64,
      maxLog: opts.maxLog ?? 20000,
      logMmio: opts.logMmio ?? true,
    };
  }

  /** The sequence number of the last log entry (a marker for "what happened since"). */
  get seq(): number {
    return this.seqNo;
  }

  /** Log entries after a marker taken with `seq`. */
  logSince(seq: number): DriverLogEntry[] {
    return this.log.filter((e) => e.seq > seq);
  }

  private push(e: DriverLogEntry): void {
    this.log.push(e);
    if (this.log.length > this.opts.maxLog) this.log.splice(0, this.log.length - Math.floor((this.opts.maxLog * 3) / 4));
  }

  private note(text: string): void {
    this.push({ seq: ++this.seqNo, kind: 'note', text });
  }

  // -------------------------------------------------------------------------
  // MMIO and memory

  private rd(offset: number): bigint {
    const v = this.port.read(offset);
    this.stats.mmioReads++;
    if (this.opts.logMmio) this.push({ seq: ++this.seqNo, kind: 'mmio', op: 'read', offset, reg: REG_BY_OFFSET.get(offset)?.name ?? hex(offset), value: v });
    return v;
  }

  private rd32(offset: number): number {
    return Number(this.rd(offset) & 0xffff_ffffn);
  }

  private wr(offset: number, value: bigint): void {
    this.stats.mmioWrites++;
    if (this.opts.logMmio) this.push({ seq: ++this.seqNo, kind: 'mmio', op: 'write', offset, reg: REG_BY_OFFSET.get(offset)?.name ?? hex(offset), value });
    this.port.write(offset, value);
  }

  /** arm_smmu_write_reg_sync: write, then poll the ACK register until it matches. */
  private writeRegSync(value: bigint, reg: number, ack: number): void {
    this.wr(reg, value);
    for (let i = 0; i < this.opts.pollLimit; i++) {
      if (this.rd(ack) === value) return;
    }
    this.stats.timeouts++;
    throw new SmmuDriverError('ETIMEDOUT', `${REG_BY_OFFSET.get(reg)?.name ?? hex(reg)} = ${hex(value)} was not acknowledged`);
  }

  /** arm_smmu_update_gbpa. */
  private updateGbpa(set: bigint, clr: bigint): void {
    const waitIdle = (): bigint => {
      for (let i = 0; i < this.opts.pollLimit; i++) {
        const r = this.rd(REG.GBPA);
        if ((r & GBPA_UPDATE) === 0n) return r;
      }
      this.stats.timeouts++;
      throw new SmmuDriverError('ETIMEDOUT', 'GBPA update did not complete');
    };
    let reg = waitIdle();
    reg = (reg & ~clr) | set;
    this.wr(REG.GBPA, reg | GBPA_UPDATE);
    waitIdle();
  }

  private memWrite(addr: bigint, value: bigint): void {
    if (!this.mem.write64(addr, value)) throw new SmmuDriverError('ENOMEM', `no memory behind ${hex(addr)}`);
  }

  private memRead(addr: bigint): bigint {
    const v = this.mem.peek64(addr);
    if (v === undefined) throw new SmmuDriverError('ENOMEM', `no memory behind ${hex(addr)}`);
    return v;
  }

  private allocBytes(size: number, what: string): bigint {
    const a = this.alloc.allocN(Math.max(size, 64));
    if (a === null) throw new SmmuDriverError('ENOMEM', `no memory for ${what} (${size} bytes)`);
    return BigInt(a);
  }

  private requireFeatures(): DriverFeatures {
    if (!this.features) throw new SmmuDriverError('ENODEV', 'probe() has not run');
    return this.features;
  }

  private requireInit(): DriverFeatures {
    const f = this.requireFeatures();
    if (!this.initialised) throw new SmmuDriverError('ENODEV', 'init() has not run');
    return f;
  }

  // -------------------------------------------------------------------------
  // Probe (arm_smmu_device_hw_probe)

  probe(): DriverFeatures {
    const idr0 = this.rd32(REG.IDR0);
    const st = (idr0 >>> 27) & 3;
    let twoLevelStrtab = st === 1;
    const endian = (idr0 >>> 21) & 3;
    if (endian !== 0 && endian !== 2) throw new SmmuDriverError('ENXIO', 'unsupported endianness (IDR0.TTENDIAN)');
    const pri = (idr0 & (1 << 16)) !== 0;
    const ats = (idr0 & (1 << 10)) !== 0;
    const sev = (idr0 & (1 << 14)) !== 0;
    const msi = (idr0 & (1 << 13)) !== 0;
    const hyp = (idr0 & (1 << 9)) !== 0;
    const stallModel = (idr0 >>> 24) & 3;
    const stalls = stallModel === 0 || stallModel === 2;
    const s1 = (idr0 & (1 << 1)) !== 0;
    const s2 = (idr0 & (1 << 0)) !== 0;
    if (!s1 && !s2) throw new SmmuDriverError('ENXIO', 'no translation support');
    let ias = 0;
    switch ((idr0 >>> 2) & 3) {
      case 3:
        ias = 40;
        break;
      case 2:
        break;
      default:
        throw new SmmuDriverError('ENXIO', 'AArch64 table format not supported');
    }
    const asidBits = idr0 & (1 << 12) ? 16 : 8;
    const vmidBits = idr0 & (1 << 18) ? 16 : 8;
    const cd2l = (idr0 & (1 << 19)) !== 0;
    const coherent = (idr0 & (1 << 4)) !== 0;
    const btm = (idr0 & (1 << 5)) !== 0;
    const httu = (idr0 >>> 6) & 3;

    const idr1 = this.rd32(REG.IDR1);
    if (idr1 & ((1 << 30) | (1 << 29) | (1 << 28))) throw new SmmuDriverError('ENXIO', 'embedded implementation not supported (IDR1.TABLES_PRESET/QUEUES_PRESET/REL)');
    const cmdqShift = Math.min(this.opts.maxQueueShift, (idr1 >>> 21) & 0x1f);
    if (cmdqShift <= Math.log2(CMDQ_BATCH_ENTRIES)) {
      throw new SmmuDriverError('ENXIO', `command queue size <= ${CMDQ_BATCH_ENTRIES} entries not supported`);
    }
    const evtqShift = Math.min(this.opts.maxQueueShift, (idr1 >>> 16) & 0x1f);
    const ssidBits = (idr1 >>> 6) & 0x1f;
    const sidBits = idr1 & 0x3f;
    if (sidBits <= STRTAB_SPLIT) twoLevelStrtab = false;

    const idr3 = this.rd32(REG.IDR3);
    const ril = (idr3 & (1 << 10)) !== 0;

    const idr5 = this.rd32(REG.IDR5);
    let pgsizeBitmap = 0n;
    const granules: Granule[] = [];
    if (idr5 & (1 << 6)) {
      pgsizeBitmap |= (1n << 16n) | (1n << 29n);
      granules.push(65536);
    }
    if (idr5 & (1 << 5)) {
      pgsizeBitmap |= (1n << 14n) | (1n << 25n);
      granules.push(16384);
    }
    if (idr5 & (1 << 4)) {
      pgsizeBitmap |= (1n << 12n) | (1n << 21n) | (1n << 30n);
      granules.push(4096);
    }
    const vax = ((idr5 >>> 10) & 3) === 1;
    let oas: number;
    switch (idr5 & 7) {
      case 0:
        oas = 32;
        break;
      case 1:
        oas = 36;
        break;
      case 2:
        oas = 40;
        break;
      case 3:
        oas = 42;
        break;
      case 4:
        oas = 44;
        break;
      case 6:
        oas = 52;
        pgsizeBitmap |= 1n << 42n;
        break;
      default:
        oas = 48; // "unknown output address size. Truncating to 48-bit" for 7
    }
    ias = Math.max(ias, oas);
    const iidr = this.rd32(REG.IIDR);
    this.features = {
      idr0,
      idr1,
      idr3,
      idr5,
      iidr,
      s1,
      s2,
      nesting: s1 && s2,
      twoLevelStrtab,
      cd2l,
      sidBits,
      ssidBits,
      asidBits,
      vmidBits,
      oas,
      ias,
      vax,
      granules,
      pgsizeBitmap,
      ril,
      msi,
      sev,
      hyp,
      coherent,
      ats,
      pri,
      btm,
      stalls,
      httu,
      cmdqShift,
      evtqShift,
      msiPollCapable: msi && coherent,
    };
    return this.features;
  }

  // -------------------------------------------------------------------------
  // Init (arm_smmu_init_structures + arm_smmu_device_reset)

  init(): void {
    const f = this.requireFeatures();
    // arm_smmu_init_queues
    this.cmdqBase = this.allocBytes(16 << f.cmdqShift, 'the command queue');
    this.evtqBase = this.allocBytes(32 << f.evtqShift, 'the event queue');
    this.cmdqProd = this.cmdqCons = 0;
    this.evtqProd = this.evtqCons = 0;
    // arm_smmu_init_strtab
    if (f.twoLevelStrtab) {
      this.numL1 = Math.min(1 << (f.sidBits - STRTAB_SPLIT), STRTAB_MAX_L1_ENTRIES);
      this.strtabBase = this.allocBytes(this.numL1 * 8, 'the L1 stream table');
      this.strtabCfg = (1 << 16) | (STRTAB_SPLIT << 6) | (Math.log2(this.numL1) + STRTAB_SPLIT);
      this.push({ seq: ++this.seqNo, kind: 'bulk', what: 'strtab-init', addr: this.strtabBase, bytes: BigInt(this.numL1 * 8), text: `L1 stream table: ${this.numL1} L1STDs, all invalid (Span = 0)` });
    } else {
      const n = 2 ** f.sidBits;
      this.strtabBase = this.allocBytes(n * 64, 'the linear stream table');
      this.strtabCfg = f.sidBits;
      this.initAbortStes(this.strtabBase, n);
      this.push({ seq: ++this.seqNo, kind: 'bulk', what: 'strtab-init', addr: this.strtabBase, bytes: BigInt(n * 64), text: `linear stream table: ${n} abort STEs` });
    }
    this.deviceReset(f);
    this.initialised = true;
  }

  /** arm_smmu_init_initial_stes with disable_bypass: V = 1, Config = abort (no sync: not yet visible to the SMMU). */
  private initAbortStes(base: bigint, n: number): void {
    const abort = encodeSte({ V: 1, Config: 0 })[0];
    for (let i = 0; i < n; i++) this.memWrite(base + BigInt(i) * 64n, abort);
  }

  private deviceReset(f: DriverFeatures): void {
    const cr0 = this.rd(REG.CR0);
    if (cr0 & CR0_SMMUEN || this.opts.disableBypass) {
      if (cr0 & CR0_SMMUEN) this.note('SMMU currently enabled! Resetting...');
      this.updateGbpa(GBPA_ABORT, 0n);
    }
    // arm_smmu_device_disable
    this.writeRegSync(0n, REG.CR0, REG.CR0ACK);
    this.cr0 = 0n;
    this.wr(REG.CR1, CR1_VALUE);
    // CR2.E2H only for a VHE host kernel (ARM_SMMU_FEAT_E2H); the pKVM host is nVHE.
    this.wr(REG.CR2, CR2_PTM | CR2_RECINVSID);
    // arm_smmu_write_strtab
    this.wr(REG.STRTAB_BASE, (this.strtabBase & STRTAB_BASE_ADDR_MASK) | STRTAB_BASE_RA);
    this.wr(REG.STRTAB_BASE_CFG, BigInt(this.strtabCfg));
    // Command queue
    this.wr(REG.CMDQ_BASE, Q_BASE_RWA | (this.cmdqBase & Q_BASE_ADDR_MASK) | BigInt(f.cmdqShift));
    this.wr(REG.CMDQ_PROD, BigInt(this.cmdqProd));
    this.wr(REG.CMDQ_CONS, BigInt(this.cmdqCons));
    this.cr0 = CR0_CMDQEN;
    this.writeRegSync(this.cr0, REG.CR0, REG.CR0ACK);
    // Invalidate any cached configuration, then any stale TLB entries.
    this.issueCmd(cfgiAll(), true);
    if (f.hyp) this.issueCmd({ op: 'CMD_TLBI_EL2_ALL' }, true);
    this.issueCmd({ op: 'CMD_TLBI_NSNH_ALL' }, true);
    // Event queue (PROD/CONS on page 1)
    this.wr(REG.EVTQ_BASE, Q_BASE_RWA | (this.evtqBase & Q_BASE_ADDR_MASK) | BigInt(f.evtqShift));
    this.wr(REG.EVTQ_PROD, BigInt(this.evtqProd));
    this.wr(REG.EVTQ_CONS, BigInt(this.evtqCons));
    this.cr0 |= CR0_EVTQEN;
    this.writeRegSync(this.cr0, REG.CR0, REG.CR0ACK);
    // arm_smmu_setup_irqs: disable, (MSI address registers cleared), enable evtq + gerror.
    this.writeRegSync(0n, REG.IRQ_CTRL, REG.IRQ_CTRLACK);
    if (f.msi) {
      this.wr(REG.GERROR_IRQ_CFG0, 0n);
      this.wr(REG.EVTQ_IRQ_CFG0, 0n);
    }
    this.writeRegSync(IRQ_CTRL_EVTQ_IRQEN | IRQ_CTRL_GERROR_IRQEN, REG.IRQ_CTRL, REG.IRQ_CTRLACK);
    // Enable the SMMU interface.
    this.cr0 |= CR0_SMMUEN;
    this.writeRegSync(this.cr0, REG.CR0, REG.CR0ACK);
  }

  // -------------------------------------------------------------------------
  // Command queue

  private get qShift(): number {
    return this.requireFeatures().cmdqShift;
  }

  private qIdx(v: number): number {
    return v & ((1 << this.qShift) - 1);
  }

  private qWrp(v: number): number {
    return v & (1 << this.qShift);
  }

  /** queue_inc_prod_n. */
  private qInc(v: number, n: number): number {
    const p = (this.qWrp(v) | this.qIdx(v)) + n;
    return ((v & Q_OVF) | this.qWrp(p) | this.qIdx(p)) >>> 0;
  }

  /** queue_has_space. */
  private qHasSpace(n: number): boolean {
    const prod = this.qIdx(this.cmdqProd);
    const cons = this.qIdx(this.cmdqCons);
    const space = this.qWrp(this.cmdqProd) === this.qWrp(this.cmdqCons) ? (1 << this.qShift) - (prod - cons) : cons - prod;
    return space >= n;
  }

  /** queue_consumed: has CONS moved past `prod`? */
  private qConsumed(cons: number, prod: number): boolean {
    const cw = this.qWrp(cons);
    const pw = this.qWrp(prod);
    return (cw === pw && this.qIdx(cons) > this.qIdx(prod)) || (cw !== pw && this.qIdx(cons) <= this.qIdx(prod));
  }

  private slotAddr(prod: number): bigint {
    return this.cmdqBase + BigInt(this.qIdx(prod) * 16);
  }

  /** __arm_smmu_cmdq_issue_cmd. */
  issueCmd(cmd: Command, sync = false): DriverErrno | undefined {
    return this.issueCmdlist([cmd], sync);
  }

  /**
   * arm_smmu_cmdq_issue_cmdlist: write the commands (and a CMD_SYNC when
   * `sync`) at PROD, publish them with one PROD write, and for a sync wait
   * for its completion. Returns undefined, or ETIMEDOUT.
   */
  issueCmdlist(cmds: readonly Command[], sync: boolean): DriverErrno | undefined {
    const f = this.requireFeatures();
    const n = cmds.length;
    const total = n + (sync ? 1 : 0);
    if (total === 0) return undefined;
    if (total > 1 << f.cmdqShift) throw new SmmuDriverError('EINVAL', `${total} commands do not fit a ${1 << f.cmdqShift}-entry queue`);
    // 1. Space in the queue (arm_smmu_cmdq_poll_until_not_full).
    let polls = 0;
    while (!this.qHasSpace(total)) {
      this.cmdqCons = this.rd32(REG.CMDQ_CONS);
      if (this.qHasSpace(total)) break;
      this.handleGerror();
      if (++polls >= this.opts.pollLimit) {
        this.stats.timeouts++;
        this.note('CMDQ timeout');
        return 'ETIMEDOUT';
      }
    }
    // 2. Write the commands into the queue.
    const start = this.cmdqProd;
    this.stats.cmdLists++;
    for (let i = 0; i < n; i++) this.writeCmd(this.qInc(start, i), cmds[i]);
    const syncProd = this.qInc(start, n);
    // MSI polling needs an SMMU with MSIs and coherent access (ARM_SMMU_OPT_MSIPOLL); otherwise poll CONS.
    const msiPoll = this.opts.syncPoll === 'msi' && (this.features?.msiPollCapable ?? false);
    if (sync) {
      const msi = msiPoll ? this.slotAddr(syncProd) : 0n;
      this.writeCmd(syncProd, syncCmd(msi));
    }
    // 4d. Advance the hardware prod pointer: the doorbell.
    const prod = this.qInc(start, total);
    this.cmdqProd = prod;
    this.stats.prodWrites++;
    this.wr(REG.CMDQ_PROD, BigInt(prod));
    // 5. Wait for our CMD_SYNC.
    if (!sync) return undefined;
    return msiPoll ? this.pollUntilMsi(syncProd) : this.pollUntilConsumed(syncProd);
  }

  private writeCmd(prod: number, cmd: Command): void {
    const dw = encodeCommand(cmd);
    const addr = this.slotAddr(prod);
    this.memWrite(addr, dw[0]);
    this.memWrite(addr + 8n, dw[1]);
    this.stats.commands++;
    if (cmd.op === 'CMD_SYNC') this.stats.syncs++;
    else if (cmd.op.startsWith('CMD_TLBI')) this.stats.tlbiCommands++;
    else if (cmd.op.startsWith('CMD_CFGI')) this.stats.cfgiCommands++;
    // Views format the command (formatCommand) when they show it: the hot path only records it.
    this.push({ seq: ++this.seqNo, kind: 'cmd', prod, addr, dw, cmd });
  }

  /** __arm_smmu_cmdq_poll_until_consumed: read CONS until it passes the sync. */
  private pollUntilConsumed(syncProd: number): DriverErrno | undefined {
    for (let i = 0; i < this.opts.pollLimit; i++) {
      if (this.qConsumed(this.cmdqCons, syncProd)) return undefined;
      this.cmdqCons = this.rd32(REG.CMDQ_CONS);
      if (this.qConsumed(this.cmdqCons, syncProd)) return undefined;
      // No progress: the GERROR interrupt would have fired by now.
      this.handleGerror();
    }
    this.syncTimeout(syncProd);
    return 'ETIMEDOUT';
  }

  /** __arm_smmu_cmdq_poll_until_msi: the sync's MSI (data 0) lands on its own first word. */
  private pollUntilMsi(syncProd: number): DriverErrno | undefined {
    const addr = this.slotAddr(syncProd);
    for (let i = 0; i < this.opts.pollLimit; i++) {
      if ((this.memRead(addr) & 0xffff_ffffn) === 0n) {
        this.cmdqCons = this.qInc(syncProd, 1);
        return undefined;
      }
      this.handleGerror();
    }
    this.syncTimeout(syncProd);
    return 'ETIMEDOUT';
  }

  private syncTimeout(syncProd: number): void {
    this.stats.timeouts++;
    const hwprod = this.rd32(REG.CMDQ_PROD);
    const hwcons = this.rd32(REG.CMDQ_CONS);
    this.note(`CMD_SYNC timeout at ${hex(syncProd)} [hwprod ${hex(hwprod)}, hwcons ${hex(hwcons)}]`);
  }

  /**
   * arm_smmu_gerror_handler (the GERROR interrupt): read GERROR/GERRORN,
   * recover a command-queue error by skipping the bad command, acknowledge
   * by writing GERROR to GERRORN. Returns the active error bits.
   */
  handleGerror(): number {
    const gerror = this.rd32(REG.GERROR);
    const gerrorn = this.rd32(REG.GERRORN);
    const active = (gerror ^ gerrorn) & GERROR_ERR_MASK;
    if (!active) return 0;
    this.stats.gerrors++;
    this.note(`unexpected global error reported (${hex(active)}), this could be serious`);
    if (active & GERROR_SFM_ERR) {
      this.note('device has entered Service Failure Mode!');
      this.writeRegSync(0n, REG.CR0, REG.CR0ACK);
      this.cr0 = 0n;
    }
    if (active & GERROR_CMDQ_ERR) this.cmdqSkipErr();
    this.wr(REG.GERRORN, BigInt(gerror));
    return active;
  }

  /** arm_smmu_cmdq_skip_err: replace the faulting command with a CMD_SYNC (ILL), or retry (ABT, ATC_INV_SYNC). */
  private cmdqSkipErr(): void {
    const cons = this.rd32(REG.CMDQ_CONS);
    const code = (cons >>> CMDQ_CONS_ERR_SHIFT) & 0x7f;
    const name = CERROR_NAMES[code as CerrorCode] ?? `CERROR_${hex(code)}`;
    const addr = this.slotAddr(cons);
    const dw: [bigint, bigint] = [this.memRead(addr), this.memRead(addr + 8n)];
    const d = decodeCommand(dw[0], dw[1]);
    const text = d.ok ? formatCommand(d.cmd) : d.reason;
    this.stats.cerrors++;
    this.push({ seq: ++this.seqNo, kind: 'cerror', cons, code, name, dw, text });
    const retry = code === 0 || code === 2 || code === 3;
    this.cerrors.push({ seq: this.seqNo, cons, code, name, dw, text, action: retry ? 'retried' : 'skipped' });
    if (retry) {
      this.note(code === 2 ? 'retrying command fetch' : `${name}: retrying`);
      return;
    }
    this.note(`skipping command in error state: ${text}`);
    const [s0, s1] = encodeCommand(syncCmd());
    this.memWrite(addr, s0);
    this.memWrite(addr + 8n, s1);
  }

  /** A command batch (struct arm_smmu_cmdq_batch): up to 64 commands, flushed without a sync when full. */
  batch(): { add(cmd: Command): void; submit(): DriverErrno | undefined; readonly length: number } {
    const cmds: Command[] = [];
    return {
      add: (cmd: Command) => {
        if (cmds.length === CMDQ_BATCH_ENTRIES) {
          this.issueCmdlist(cmds, false);
          cmds.length = 0;
        }
        cmds.push(cmd);
      },
      submit: () => this.issueCmdlist(cmds, true),
      get length() {
        return cmds.length;
      },
    };
  }

  // -------------------------------------------------------------------------
  // Event queue (arm_smmu_evtq_thread)

  /** Drain the event queue: records from CONS to PROD, CONS written after each. */
  drainEvents(): EventRecord[] {
    const f = this.requireInit();
    const shift = f.evtqShift;
    const idxMask = (1 << shift) - 1;
    const wrp = 1 << shift;
    const out: EventRecord[] = [];
    const empty = (): boolean => (this.evtqProd & (idxMask | wrp)) === (this.evtqCons & (idxMask | wrp));
    let guard = 0;
    do {
      while (!empty()) {
        const slot = this.evtqBase + BigInt((this.evtqCons & idxMask) * 32);
        const raw = [0, 1, 2, 3].map((i) => this.memRead(slot + BigInt(i * 8)));
        const d = tryDecodeEvent(raw);
        if (d.ok) {
          out.push(d.event);
          this.events.push(d.event);
          this.stats.events++;
        } else this.note(`undecodable event: ${d.reason}`);
        const next = ((this.evtqCons & (idxMask | wrp)) + 1) & (idxMask | wrp);
        this.evtqCons = ((this.evtqCons & Q_OVF) | next) >>> 0;
        this.wr(REG.EVTQ_CONS, BigInt(this.evtqCons));
      }
      const prod = this.rd32(REG.EVTQ_PROD);
      if ((prod & Q_OVF) !== (this.evtqProd & Q_OVF)) this.note('EVTQ overflow detected -- events lost');
      this.evtqProd = prod;
    } while (!empty() && ++guard < 4);
    // queue_sync_cons_ovf
    if ((this.evtqProd & Q_OVF) !== (this.evtqCons & Q_OVF)) {
      this.evtqCons = ((this.evtqProd & Q_OVF) | (this.evtqCons & (idxMask | wrp))) >>> 0;
      this.wr(REG.EVTQ_CONS, BigInt(this.evtqCons));
    }
    return out;
  }

  // -------------------------------------------------------------------------
  // Stream table

  /** Address of a StreamID's STE (the level-2 array must exist for 2-level tables). */
  steAddr(sid: number): bigint {
    const f = this.requireInit();
    if (!f.twoLevelStrtab) return this.strtabBase + BigInt(sid) * 64n;
    const l2 = this.l2Strtab.get(sid >>> STRTAB_SPLIT);
    if (l2 === undefined) throw new SmmuDriverError('EINVAL', `SID ${sid} has no level-2 stream table yet`);
    return l2 + BigInt(sid & ((1 << STRTAB_SPLIT) - 1)) * 64n;
  }

  /** arm_smmu_sid_in_range + arm_smmu_init_sid_strtab (arm_smmu_init_l2_strtab). */
  private initSidStrtab(sid: number): void {
    const f = this.requireInit();
    const inRange = f.twoLevelStrtab ? sid >>> STRTAB_SPLIT < this.numL1 : sid < 2 ** f.sidBits;
    if (!Number.isInteger(sid) || sid < 0 || !inRange) throw new SmmuDriverError('ERANGE', `StreamID ${sid} is out of range`);
    if (!f.twoLevelStrtab) return;
    const l1 = sid >>> STRTAB_SPLIT;
    if (this.l2Strtab.has(l1)) return;
    const n = 1 << STRTAB_SPLIT;
    const l2 = this.allocBytes(n * 64, 'a level-2 stream table');
    this.initAbortStes(l2, n);
    this.push({ seq: ++this.seqNo, kind: 'bulk', what: 'l2-strtab-init', addr: l2, bytes: BigInt(n * 64), text: `level-2 stream table for SIDs ${l1 << STRTAB_SPLIT}..${(l1 << STRTAB_SPLIT) + n - 1}: ${n} abort STEs` });
    this.l2Strtab.set(l1, l2);
    // arm_smmu_write_strtab_l1_desc: Span = SPLIT + 1. An invalid L1STD is never cached, so no CFGI.
    const a = this.strtabBase + BigInt(l1) * 8n;
    const v = encodeL1std({ span: STRTAB_SPLIT + 1, l2ptr: l2 });
    this.memWrite(a, v);
    this.stats.memWrites++;
    this.push({ seq: ++this.seqNo, kind: 'mem', what: 'l1std', addr: a, value: v, sid, dword: 0 });
  }

  /** arm_smmu_probe_device: the master for a StreamID (created on first use). */
  addDevice(sid: number, pasidBits = 0): void {
    this.master(sid, pasidBits);
  }

  private master(sid: number, pasidBits = 0): Master {
    let m = this.masters.get(sid);
    if (m) return m;
    const f = this.requireInit();
    this.initSidStrtab(sid);
    m = { sid, ssidBits: Math.min(f.ssidBits, Math.max(0, pasidBits | 0)), cdTable: null, domain: undefined, pasids: new Map() };
    this.masters.set(sid, m);
    return m;
  }

  private readEntry(addr: bigint): bigint[] {
    const out: bigint[] = [];
    for (let i = 0; i < 8; i++) out.push(this.memRead(addr + BigInt(i) * 8n));
    return out;
  }

  /**
   * arm_smmu_write_entry: move an STE or CD to `target` without the SMMU
   * ever seeing a torn entry: hitless when only one qword's used bits
   * change, else V = 0 first, the body, and qword 0 last. Each step that
   * changed memory is followed by the writer's sync (CFGI + CMD_SYNC).
   */
  private writeEntry(what: 'ste' | 'cd', addr: bigint, sid: number, ssid: number | undefined, target: bigint[], sync: () => void): void {
    const entry = this.readEntry(addr);
    const used = what === 'ste' ? steUsedBits : cdUsedBits;
    const { diff, unusedUpdate, targetOutsideUsed } = entryQwordDiff(entry, target, used);
    if (targetOutsideUsed) this.note(`WARN: ${what} target sets bits its used-mask does not cover`);
    const update = popcount(diff) === 1 ? 'hitless' : diff ? 'breaking' : 'none';
    this.push({ seq: ++this.seqNo, kind: 'entry', what, sid, ssid, update, qwordDiff: diff });
    if (what === 'ste') this.stats.steUpdates++;
    else this.stats.cdUpdates++;
    const set = (vals: readonly bigint[], start: number, len: number): boolean => {
      let changed = false;
      for (let i = start; i < start + len; i++) {
        if (entry[i] !== vals[i]) {
          const a = addr + BigInt(i) * 8n;
          this.memWrite(a, vals[i]);
          entry[i] = vals[i];
          this.stats.memWrites++;
          this.push({ seq: ++this.seqNo, kind: 'mem', what, addr: a, value: vals[i], sid, ssid, dword: i });
          changed = true;
        }
      }
      if (changed) sync();
      return changed;
    };
    if (update === 'hitless') {
      const critical = ffs(BigInt(diff));
      unusedUpdate[critical] = entry[critical];
      set(unusedUpdate, 0, 8);
      set(target, critical, 1);
      set(target, 0, 8);
    } else if (update === 'breaking') {
      unusedUpdate[0] = 0n;
      set(unusedUpdate, 0, 1);
      set(target, 1, 7);
      set(target, 0, 1);
    } else if (set(target, 0, 8)) {
      this.note(`WARN: ${what} unused bits were not zero`);
    }
  }

  /** arm_smmu_write_ste (+ CMD_PREFETCH_CONFIG). */
  private writeSte(sid: number, target: bigint[]): void {
    this.writeEntry('ste', this.steAddr(sid), sid, undefined, target, () => {
      this.issueCmd({ op: 'CMD_CFGI_STE', sid, leaf: true }, true);
    });
    if (this.opts.prefetchCfg) this.issueCmd({ op: 'CMD_PREFETCH_CONFIG', sid, ssid: 0, ssv: false }, false);
  }

  /** arm_smmu_make_abort_ste. */
  private abortSte(): bigint[] {
    return encodeSte({ V: 1, Config: 0 });
  }

  /** arm_smmu_make_cdtable_ste. */
  private cdtableSte(m: Master, s1dss: number): bigint[] {
    const t = m.cdTable as CdTable;
    return encodeSte({
      V: 1,
      Config: 0b101,
      S1Fmt: t.s1fmt,
      S1ContextPtr: t.base,
      S1CDMax: t.s1cdmax,
      S1DSS: s1dss,
      S1CIR: S1C_CACHE_WBRA,
      S1COR: S1C_CACHE_WBRA,
      S1CSH: Number(ARM_SMMU_SH_ISH),
      S1STALLD: 0, // only with ARM_SMMU_FEAT_STALLS and stalls disabled for the master
      STRW: 0, // NS-EL1 (no E2H)
      S2VMID: 0,
    });
  }

  /** arm_smmu_make_s2_domain_ste. */
  private s2DomainSte(d: SmmuDomain): bigint[] {
    return encodeSte({ V: 1, Config: 0b110, ...s2SteFieldsFor(d.pgtable, d.tag) });
  }


  // -------------------------------------------------------------------------
  // CD tables

  /** arm_smmu_alloc_cd_tables. */
  private cdTable(m: Master): CdTable {
    if (m.cdTable) return m.cdTable;
    const f = this.requireInit();
    const maxContexts = 2 ** m.ssidBits;
    let t: CdTable;
    if (!f.cd2l || maxContexts <= CTXDESC_L2_ENTRIES) {
      t = { s1fmt: S1FMT_LINEAR, s1cdmax: m.ssidBits, base: this.allocBytes(maxContexts * 64, 'a CD table'), numL1: maxContexts, l2: new Map(), usedSsids: 0 };
    } else {
      const numL1 = Math.ceil(maxContexts / CTXDESC_L2_ENTRIES);
      t = { s1fmt: S1FMT_64K_L2, s1cdmax: m.ssidBits, base: this.allocBytes(numL1 * 8, 'an L1 CD table'), numL1, l2: new Map(), usedSsids: 0 };
    }
    m.cdTable = t;
    return t;
  }

  /** arm_smmu_get_cd_ptr (alloc: arm_smmu_alloc_cd_ptr). */
  private cdPtr(m: Master, ssid: number, alloc: boolean): bigint | null {
    const t = alloc ? this.cdTable(m) : m.cdTable;
    if (!t) return null;
    if (t.s1fmt === S1FMT_LINEAR) return t.base + BigInt(ssid) * 64n;
    const idx = Math.floor(ssid / CTXDESC_L2_ENTRIES);
    let l2 = t.l2.get(idx);
    if (l2 === undefined) {
      if (!alloc) return null;
      l2 = this.allocBytes(CTXDESC_L2_ENTRIES * 64, 'a level-2 CD table');
      t.l2.set(idx, l2);
      const a = t.base + BigInt(idx) * 8n;
      const v = encodeL1cd({ v: 1, l2ptr: l2 });
      this.memWrite(a, v);
      this.stats.memWrites++;
      this.push({ seq: ++this.seqNo, kind: 'mem', what: 'l1cd', addr: a, value: v, sid: m.sid, ssid, dword: 0 });
      // An invalid L1CD can be cached.
      this.syncCd(m, ssid, false);
    }
    return l2 + BigInt(ssid % CTXDESC_L2_ENTRIES) * 64n;
  }

  /** arm_smmu_sync_cd. */
  private syncCd(m: Master, ssid: number, leaf: boolean): void {
    const b = this.batch();
    b.add({ op: 'CMD_CFGI_CD', sid: m.sid, ssid, leaf });
    b.submit();
  }

  /** arm_smmu_write_cd_entry. */
  private writeCdEntry(m: Master, ssid: number, cdptr: bigint, target: bigint[]): void {
    const t = m.cdTable as CdTable;
    const targetValid = (target[0] & CD0_V) !== 0n;
    const curValid = (this.memRead(cdptr) & CD0_V) !== 0n;
    if (ssid !== 0 && curValid !== targetValid) t.usedSsids += curValid ? -1 : 1;
    this.writeEntry('cd', cdptr, m.sid, ssid, target, () => this.syncCd(m, ssid, true));
  }

  /** arm_smmu_make_s1_cd. */
  private s1Cd(d: SmmuDomain): bigint[] {
    const c = d.pgtable.s1;
    if (!c) throw new SmmuDriverError('EINVAL', 'not a stage-1 domain');
    return encodeCd({
      T0SZ: c.tsz,
      TG0: c.tg,
      IR0: c.irgn,
      OR0: c.orgn,
      SH0: c.sh,
      EPD1: 1,
      V: 1,
      IPS: c.ips,
      AA64: 1,
      R: 1,
      A: 1,
      ASET: 1,
      ASID: d.tag,
      TTB0: c.ttbr,
      MAIR0: Number(c.mair & 0xffff_ffffn),
      MAIR1: Number((c.mair >> 32n) & 0xffff_ffffn),
    });
  }

  /** arm_smmu_clear_cd. */
  private clearCd(m: Master, ssid: number): void {
    if (!m.cdTable) return;
    const p = this.cdPtr(m, ssid, false);
    if (p === null) return;
    this.writeCdEntry(m, ssid, p, new Array<bigint>(CD_DWORDS).fill(0n));
  }

  // -------------------------------------------------------------------------
  // Domains

  /** arm_smmu_domain_alloc_paging + arm_smmu_domain_finalise. */
  allocDomain(stage: DomainStage, opts: AllocDomainOptions = {}): SmmuDomain {
    const f = this.requireInit();
    if (stage === 's1' && !f.s1) throw new SmmuDriverError('EINVAL', 'stage 1 is not supported by this SMMU');
    if (stage === 's2' && !f.s2) throw new SmmuDriverError('EINVAL', 'stage 2 is not supported by this SMMU');
    const granule = opts.granule ?? (f.granules.includes(4096) ? 4096 : f.granules.length ? (Math.min(...f.granules) as Granule) : undefined);
    if (granule === undefined || !f.granules.includes(granule)) throw new SmmuDriverError('EINVAL', `granule ${String(granule)} is not supported`);
    // ASIDs from 1 (xa_alloc XA_LIMIT(1, 2^asid_bits - 1)); VMIDs from 1 (VMID 0 is for S1-only STEs).
    const ids = stage === 's1' ? this.asids : this.vmids;
    const bits = stage === 's1' ? f.asidBits : f.vmidBits;
    let tag = 1;
    while (ids.has(tag) && tag < 2 ** bits) tag++;
    if (tag >= 2 ** bits) throw new SmmuDriverError('ENOSPC', `no free ${stage === 's1' ? 'ASID' : 'VMID'}`);
    const d = new SmmuDomain(this.nextDomainId++, stage, tag);
    const ops: IoPgtableTlbOps = {
      tlbFlushWalk: (iova, size, gran) => this.tlbInvRangeDomain(iova, size, gran, false, d),
      tlbAddPage: (gather, iova, size) => this.tlbInvPageNosync(d, gather, iova, size),
    };
    if (opts.ias !== undefined && (stage !== 's1' || !Number.isInteger(opts.ias) || opts.ias < 25 || opts.ias > 48)) {
      throw new SmmuDriverError('EINVAL', `ias ${opts.ias} is not supported (stage 1 only, 25..48 bits)`);
    }
    const ias = stage === 's1' ? (opts.ias ?? Math.min(f.vax ? 52 : 48, 48)) : f.ias;
    const oas = stage === 's1' ? f.ias : f.oas;
    try {
      d.pgtable = ArmLpaeIoPgtable.alloc({ fmt: stage === 's1' ? 'arm-lpae-s1' : 'arm-lpae-s2', granule, ias, oas, coherentWalk: f.coherent }, this.alloc, ops);
    } catch (e) {
      if (e instanceof IoPgtableConfigError) throw new SmmuDriverError(e.field === 'memory' ? 'ENOMEM' : 'EINVAL', e.message);
      throw e;
    }
    ids.add(tag);
    return d;
  }

  /**
   * arm_smmu_domain_free_paging: free_io_pgtable_ops flushes the whole
   * context (arm_smmu_tlb_inv_context: TLBI_NH_ASID or TLBI_S12_VMALL, with
   * a sync), frees the tables, then the ASID / VMID is released.
   */
  freeDomain(d: SmmuDomain): void {
    if (d.freed) throw new SmmuDriverError('EINVAL', `domain ${d.id} is already freed`);
    if (d.devices.size > 0) throw new SmmuDriverError('EBUSY', `domain ${d.id} is attached to ${[...d.devices].join(', ')}`);
    this.tlbInvContext(d);
    d.pgtable.free();
    (d.stage === 's1' ? this.asids : this.vmids).delete(d.tag);
    d.freed = true;
  }

  /** arm_smmu_tlb_inv_context. */
  private tlbInvContext(d: SmmuDomain): void {
    if (d.stage === 's1') this.issueCmd({ op: 'CMD_TLBI_NH_ASID', vmid: 0, asid: d.tag }, true);
    else this.issueCmd({ op: 'CMD_TLBI_S12_VMALL', vmid: d.tag }, true);
  }

  private checkDomain(d: SmmuDomain): void {
    if (d.freed) throw new SmmuDriverError('EINVAL', `domain ${d.id} has been freed`);
  }

  /**
   * Attach a device's RID (arm_smmu_attach_dev) or one PASID
   * (arm_smmu_set_dev_pasid) to a domain.
   */
  attach(sid: number, d: SmmuDomain, opts: AttachOptions = {}): void {
    this.checkDomain(d);
    const m = this.master(sid, opts.pasidBits ?? 0);
    const ssid = opts.ssid ?? 0;
    if (ssid !== 0) {
      this.setPasid(m, d, ssid);
      return;
    }
    if (d.stage === 's1') {
      // CD 0 first, then the STE that points at the CD table.
      const cdptr = this.cdPtr(m, 0, true) as bigint;
      this.writeCdEntry(m, 0, cdptr, this.s1Cd(d));
      this.writeSte(sid, this.cdtableSte(m, S1DSS_SSID0));
    } else {
      if (m.cdTable && m.cdTable.usedSsids > 0) throw new SmmuDriverError('EBUSY', `SID ${sid} has PASIDs attached; a stage-2 domain cannot serve them`);
      this.writeSte(sid, this.s2DomainSte(d));
      if (m.domain?.stage === 's1') this.clearCd(m, 0);
    }
    m.domain?.devices.delete(String(sid));
    m.domain = d;
    d.devices.add(String(sid));
  }

  /** arm_smmu_set_pasid. */
  private setPasid(m: Master, d: SmmuDomain, ssid: number): void {
    if (d.stage !== 's1') throw new SmmuDriverError('EINVAL', 'only stage-1 domains can be attached to a PASID');
    if (!Number.isInteger(ssid) || ssid < 0 || ssid >= 2 ** m.ssidBits) {
      throw new SmmuDriverError('EINVAL', `SSID ${ssid} is beyond the device's ${m.ssidBits} PASID bits`);
    }
    if (m.domain?.stage === 's2') throw new SmmuDriverError('EINVAL', `SID ${m.sid} is attached to a stage-2 domain`);
    const cdptr = this.cdPtr(m, ssid, true) as bigint;
    this.writeCdEntry(m, ssid, cdptr, this.s1Cd(d));
    // arm_smmu_update_ste: a blocked RID keeps aborting non-PASID traffic (S1DSS = terminate).
    if (m.domain === undefined) this.writeSte(m.sid, this.cdtableSte(m, S1DSS_TERMINATE));
    m.pasids.get(ssid)?.devices.delete(`${m.sid}:${ssid}`);
    m.pasids.set(ssid, d);
    d.devices.add(`${m.sid}:${ssid}`);
  }

  /**
   * Detach: the RID goes to the blocked domain (abort STE, or a CD-table
   * STE with S1DSS = terminate while PASIDs remain), or one PASID is
   * removed (arm_smmu_remove_dev_pasid).
   */
  detach(sid: number, opts: { ssid?: number } = {}): void {
    const m = this.masters.get(sid);
    if (!m) throw new SmmuDriverError('EINVAL', `SID ${sid} is not attached`);
    const ssid = opts.ssid ?? 0;
    if (ssid !== 0) {
      const d = m.pasids.get(ssid);
      if (!d) throw new SmmuDriverError('EINVAL', `SID ${sid} SSID ${ssid} is not attached`);
      this.clearCd(m, ssid);
      m.pasids.delete(ssid);
      d.devices.delete(`${sid}:${ssid}`);
      if (m.domain === undefined && (m.cdTable?.usedSsids ?? 0) === 0) this.writeSte(sid, this.abortSte());
      return;
    }
    const inUse = (m.cdTable?.usedSsids ?? 0) > 0;
    this.writeSte(sid, inUse ? this.cdtableSte(m, S1DSS_TERMINATE) : this.abortSte());
    const old = m.domain;
    m.domain = undefined;
    old?.devices.delete(String(sid));
    if (old?.stage === 's1') this.clearCd(m, 0);
  }

  /** The domain a StreamID's RID (or PASID) is attached to. */
  domainOf(sid: number, ssid = 0): SmmuDomain | undefined {
    const m = this.masters.get(sid);
    return ssid === 0 ? m?.domain : m?.pasids.get(ssid);
  }

  // -------------------------------------------------------------------------
  // TLB maintenance

  /** arm_smmu_tlb_inv_page_nosync → iommu_iotlb_gather_add_page. */
  private tlbInvPageNosync(d: SmmuDomain, gather: IotlbGather | undefined, iova: bigint, size: bigint): void {
    if (!gather) {
      this.tlbInvRangeDomain(iova, size, size, true, d);
      return;
    }
    const end = iova + size - 1n;
    const disjoint = gather.end !== 0n && (end + 1n < gather.start || iova > gather.end + 1n);
    if ((gather.pgsize !== 0n && gather.pgsize !== size) || disjoint) this.iotlbSync(d, gather);
    gather.add(iova, size);
    gather.pgsize = size;
  }

  /** arm_smmu_iotlb_sync, then iommu_iotlb_gather_init. */
  private iotlbSync(d: SmmuDomain, gather: IotlbGather): void {
    if (gather.pgsize !== 0n) this.tlbInvRangeDomain(gather.start, gather.end - gather.start + 1n, gather.pgsize, true, d);
    gather.start = -1n;
    gather.end = 0n;
    gather.pgsize = 0n;
    gather.pages.length = 0;
  }

  /** arm_smmu_tlb_inv_range_domain → __arm_smmu_tlb_inv_range. */
  private tlbInvRangeDomain(iova: bigint, size: bigint, granule: bigint, leaf: boolean, d: SmmuDomain): void {
    const f = this.requireInit();
    const parts = tlbiRangeSplit(iova, size, granule, leaf, ffs(d.pgsizeBitmap), f.ril);
    if (parts.length === 0) return;
    const b = this.batch();
    for (const p of parts) {
      const r = { leaf, ttl: p.ttl, tg: p.tg, num: p.num, scale: p.scale };
      if (d.stage === 's1') b.add({ op: 'CMD_TLBI_NH_VA', vmid: 0, asid: d.tag, addr: p.addr & bitmask(63, 12), ...r });
      else b.add({ op: 'CMD_TLBI_S2_IPA', vmid: d.tag, addr: p.addr & bitmask(51, 12), ...r });
    }
    b.submit();
  }

  // -------------------------------------------------------------------------
  // iommu_map / iommu_unmap

  /** iommu_map: the mapping split into the largest page sizes, map_pages in a loop; unrolled on failure. */
  map(d: SmmuDomain, iova: bigint, paddr: bigint, size: bigint, prot: number): MapOutcome {
    this.checkDomain(d);
    const minPg = 1n << BigInt(ffs(d.pgsizeBitmap));
    if (iova < 0n || paddr < 0n || size < 0n || ((iova | paddr | size) & (minPg - 1n)) !== 0n) return { mapped: 0n, error: 'EINVAL' };
    let remaining = size;
    let va = iova;
    let pa = paddr;
    let error: DriverErrno | undefined;
    while (remaining > 0n) {
      const { pgsize, count } = iommuPgsize(d.pgsizeBitmap, va, pa, remaining);
      const r = d.pgtable.mapPages(va, pa, pgsize, Number(count), prot);
      remaining -= r.mapped;
      if (r.error) {
        error = r.error;
        break;
      }
      va += r.mapped;
      pa += r.mapped;
    }
    if (error) {
      if (size - remaining > 0n) this.unmap(d, iova, size - remaining);
      return { mapped: 0n, error };
    }
    return { mapped: size };
  }

  /** iommu_unmap: unmap_pages in a loop gathering the removed leaves, then one iotlb_sync. Returns bytes unmapped. */
  unmap(d: SmmuDomain, iova: bigint, size: bigint): bigint {
    const gather = new IotlbGather();
    const unmapped = this.unmapInto(d, iova, size, gather);
    if (unmapped > 0n || gather.pgsize !== 0n) this.iotlbSync(d, gather);
    return unmapped;
  }

  /** The unmap_pages loop of iommu_unmap, removed leaves going into `gather`. */
  private unmapInto(d: SmmuDomain, iova: bigint, size: bigint, gather: IotlbGather): bigint {
    this.checkDomain(d);
    const minPg = 1n << BigInt(ffs(d.pgsizeBitmap));
    if (iova < 0n || size <= 0n || ((iova | size) & (minPg - 1n)) !== 0n) return 0n;
    let unmapped = 0n;
    let va = iova;
    while (unmapped < size) {
      const { pgsize, count } = iommuPgsize(d.pgsizeBitmap, va, va, size - unmapped);
      const n = d.pgtable.unmapPages(va, pgsize, Number(count), gather);
      if (n === 0n) break;
      va += n;
      unmapped += n;
    }
    return unmapped;
  }

  /**
   * Lazy (flush-queue) unmap: the PTEs are cleared with a queued gather, so no
   * per-page invalidation is issued; the caller later invalidates the whole
   * context once with flushQueue() for a batch of unmaps (Linux's
   * iommu.strict=0 behaviour with the DMA flush queue). Returns bytes unmapped.
   */
  unmapQueued(d: SmmuDomain, iova: bigint, size: bigint): bigint {
    return this.unmapInto(d, iova, size, new IotlbGather(true));
  }

  /** The flush queue's flush: one context invalidation (TLBI_NH_ASID / TLBI_S12_VMALL) and one CMD_SYNC. */
  flushQueue(d: SmmuDomain): void {
    this.checkDomain(d);
    this.tlbInvContext(d);
  }

  iovaToPhys(d: SmmuDomain, iova: bigint): IovaToPhys | null {
    this.checkDomain(d);
    return d.pgtable.iovaToPhys(iova);
  }

  // -------------------------------------------------------------------------
  // Views

  /** Memory the driver uses: queue, stream table and CD bases. */
  layout(): { cmdq: bigint; evtq: bigint; strtab: bigint; strtabCfg: number; l2: Array<[number, bigint]>; cdTables: Array<[number, bigint]> } {
    return {
      cmdq: this.cmdqBase,
      evtq: this.evtqBase,
      strtab: this.strtabBase,
      strtabCfg: this.strtabCfg,
      l2: [...this.l2Strtab.entries()],
      cdTables: [...this.masters.values()].filter((m) => m.cdTable).map((m) => [m.sid, (m.cdTable as CdTable).base]),
    };
  }

  /** The STE of a StreamID as the driver wrote it. */
  readSte(sid: number): bigint[] {
    return this.readEntry(this.steAddr(sid));
  }
}
