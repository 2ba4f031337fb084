/**
 * io-pgtable-arm: the page-table library Linux uses to build SMMU stage-1
 * and stage-2 tables (drivers/iommu/io-pgtable-arm.c), reproduced with its
 * semantics in the map_pages/unmap_pages generation that still splits a
 * block on a partial unmap (Linux 6.8-6.14):
 *
 * - configuration: restrict_pgsizes (granule page/block sizes, ias/oas caps),
 *   start level from ias, mandatory S2 concatenation (arm_lpae_concat_mandatory),
 *   TCR / VTCR / MAIR values;
 * - map_pages: one call maps at most to the end of the current table page
 *   (arm_lpae_max_entries), EEXIST on an existing leaf, a block replaces a
 *   table (which is unmapped and freed first);
 * - unmap_pages: stops at the first empty entry or the table end; block-size
 *   unmaps over a table free the table; partial unmaps split blocks one level
 *   at a time;
 * - iova_to_phys.
 *
 * The tables live in emulated physical memory, so the SMMU walker reads the
 * very bytes this library writes.
 */

import { type Granule, granuleShift, bitsToPs } from './descriptor';
import { type PhysicalMemory, type TableAllocator, u64 } from './memory';

export type IoPgtableFormat = 'arm-lpae-s1' | 'arm-lpae-s2';

// Linux's IOMMU_* prot flags.
export const IOMMU_READ = 1 << 0;
export const IOMMU_WRITE = 1 << 1;
export const IOMMU_CACHE = 1 << 2;
export const IOMMU_NOEXEC = 1 << 3;
export const IOMMU_MMIO = 1 << 4;
export const IOMMU_PRIV = 1 << 5;

export type ProtName = 'read' | 'write' | 'cache' | 'noexec' | 'mmio' | 'priv';
export const PROT_BITS: Record<ProtName, number> = {
  read: IOMMU_READ,
  write: IOMMU_WRITE,
  cache: IOMMU_CACHE,
  noexec: IOMMU_NOEXEC,
  mmio: IOMMU_MMIO,
  priv: IOMMU_PRIV,
};

export function protFromNames(names: readonly ProtName[]): number {
  let p = 0;
  for (const n of names) p |= PROT_BITS[n];
  return p;
}

// Descriptor bits io-pgtable-arm writes, as (lo, hi) 32-bit halves.
const TYPE_BLOCK = 1;
const TYPE_TABLE = 3;
const TYPE_PAGE = 3;
const LO_AF = 1 << 10;
const LO_SH_OS = 2 << 8;
const LO_SH_IS = 3 << 8;
const HI_XN = 3 << 21; // bits 53, 54
const LO_ATTR_MASK = 0x3ff << 2; // ARM_LPAE_PTE_ATTR_LO_MASK
const HI_ATTR_MASK = HI_XN | (1 << 19); // XN | DBM: ARM_LPAE_PTE_ATTR_HI_MASK (the contiguous bit is dropped on a split)
// Stage 1
const LO_AP_UNPRIV = 1 << 6;
const LO_AP_RDONLY = 2 << 6;
const LO_NG = 1 << 11;
// Stage 2
const LO_HAP_READ = 1 << 6;
const LO_HAP_WRITE = 2 << 6;
const LO_MEMATTR_OIWB = 0xf << 2;
const LO_MEMATTR_NC = 0x5 << 2;
const LO_MEMATTR_DEV = 0x1 << 2;
const TWO32 = 4294967296;
const TWO48 = 2 ** 48;

export const MAIR_ATTR_IDX_NC = 0;
export const MAIR_ATTR_IDX_CACHE = 1;
export const MAIR_ATTR_IDX_DEV = 2;
export const MAIR_ATTR_IDX_INC_OCACHE = 3;
/** MAIR Linux programs: idx0 NC 0x44, idx1 WBRWA 0xff, idx2 device 0x04, idx3 0xf4. */
export const LINUX_MAIR = 0xf404ff44n;

const MAX_LEVELS = 4;
const S2_MAX_CONCAT_PAGES = 16;

export type Errno = 'EINVAL' | 'ERANGE' | 'EEXIST' | 'ENOMEM';

export interface MapResult {
  /** 0 on success, else the errno Linux returns. */
  error?: Errno;
  /** Bytes mapped by this call (before the error, if any). */
  mapped: bigint;
}

export interface IovaToPhys {
  phys: bigint;
  pte: bigint;
  level: number;
}

/** TLB maintenance callbacks (Linux's iommu_flush_ops), used by the SMMU driver models. */
export interface IoPgtableTlbOps {
  /** A table was removed: invalidate walk caches for [iova, iova+size). */
  tlbFlushWalk?(iova: bigint, size: bigint, granule: bigint): void;
  /** A leaf of `size` bytes at `iova` was removed; queue its invalidation. */
  tlbAddPage?(gather: IotlbGather | undefined, iova: bigint, size: bigint): void;
}

/** Linux's iommu_iotlb_gather: the range of leaves removed by an unmap, invalidated later in one go. */
export class IotlbGather {
  start = -1n;
  end = 0n;
  pgsize = 0n;
  /** Each leaf queued, in order. */
  readonly pages: Array<{ iova: bigint; size: bigint }> = [];
  /** A gather in "queued" (flush-queue) mode defers invalidation entirely. */
  constructor(readonly queued = false) {}

  add(iova: bigint, size: bigint): void {
    this.pages.push({ iova, size });
    const last = iova + size - 1n;
    if (this.start < 0n || iova < this.start) this.start = iova;
    if (last > this.end) this.end = last;
    if (size > this.pgsize) this.pgsize = size;
  }

  get empty(): boolean {
    return this.pages.length === 0;
  }
}

export interface IoPgtableCfgIn {
  fmt: IoPgtableFormat;
  granule: Granule;
  ias: number;
  oas: number;
  /** cfg->coherent_walk (arm-smmu-v3: SMMU_IDR0.COHACC). Default true. */
  coherentWalk?: boolean;
}

/** TCR-style values for a stage-1 CD (arm_lpae_s1_cfg.tcr). */
export interface S1TcrCfg {
  tsz: number;
  /** TG0 encoding: 0 = 4K, 1 = 64K, 2 = 16K. */
  tg: number;
  ips: number;
  sh: number;
  irgn: number;
  orgn: number;
  ttbr: bigint;
  mair: bigint;
}

/** VTCR-style values for a stage-2 STE (arm_lpae_s2_cfg.vtcr). */
export interface S2VtcrCfg {
  tsz: number;
  sl: number;
  tg: number;
  ps: number;
  sh: number;
  irgn: number;
  orgn: number;
  vttbr: bigint;
}

export class IoPgtableConfigError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
    this.name = 'IoPgtableConfigError';
  }
}

function tgEncoding(g: Granule): number {
  return g === 4096 ? 0 : g === 65536 ? 1 : 2;
}

/**
 * Compute the configuration Linux derives from cfg (arm_lpae_restrict_pgsizes
 * and arm_lpae_alloc_pgtable), without allocating anything.
 */
export function lpaeGeometry(cfg: IoPgtableCfgIn): {
  pgsizeBitmap: bigint;
  ias: number;
  oas: number;
  pgShift: number;
  bitsPerLevel: number;
  startLevel: number;
  pgdBits: number;
  concatenated: number;
} {
  const g = cfg.granule;
  let pageSizes: bigint;
  let maxAddrBits = 48;
  if (g === 4096) pageSizes = (1n << 12n) | (1n << 21n) | (1n << 30n);
  else if (g === 16384) pageSizes = (1n << 14n) | (1n << 25n);
  else if (g === 65536) {
    maxAddrBits = 52;
    pageSizes = (1n << 16n) | (1n << 29n);
    if (cfg.oas > 48) pageSizes |= 1n << 42n; // 4TB level-1 blocks with 52-bit PA
  } else throw new IoPgtableConfigError(`granule ${String(g)} is not 4096, 16384 or 65536`, 'granule');
  const ias = Math.min(cfg.ias, maxAddrBits);
  const oas = Math.min(cfg.oas, maxAddrBits);
  const pgShift = granuleShift(g);
  const bitsPerLevel = pgShift - 3;
  const vaBits = ias - pgShift;
  if (vaBits < 1) throw new IoPgtableConfigError(`ias ${cfg.ias} leaves no bits to translate with a ${g}-byte granule`, 'ias');
  const levels = Math.ceil(vaBits / bitsPerLevel);
  let startLevel = MAX_LEVELS - levels;
  let pgdBits = vaBits - bitsPerLevel * (levels - 1);
  let concatenated = 1;
  if (cfg.fmt === 'arm-lpae-s2' && concatMandatory(g, startLevel, ias, oas)) {
    if (1 << pgdBits > S2_MAX_CONCAT_PAGES) {
      throw new IoPgtableConfigError(
        `stage-2 concatenation is mandatory for ias ${ias}/oas ${oas} but would need ${1 << pgdBits} tables (max 16)`,
        'ias',
      );
    }
    concatenated = 1 << pgdBits;
    pgdBits += bitsPerLevel;
    startLevel++;
  }
  return { pgsizeBitmap: pageSizes, ias, oas, pgShift, bitsPerLevel, startLevel, pgdBits, concatenated };
}

/**
 * Linux's arm_lpae_concat_mandatory (6.14; Arm DDI0487 R_DXBSH / R_SRKBC):
 * when a stage-2 walk must start one level lower with concatenated tables.
 * The architecture forbids the deeper start for these PA sizes, which is why
 * Linux replaced its older "concatenate whenever level 0 has at most 16
 * entries" rule with this one.
 */
function concatMandatory(g: Granule, startLevel: number, ias: number, oas: number): boolean {
  if (g === 16384 && startLevel === 0) return oas === 48 || ias === 48;
  if (g === 4096 && startLevel === 0) return oas === 40 || oas === 42;
  return g === 16384 && startLevel === 1 && oas === 40;
}

/**
 * One io-pgtable-arm instance (struct arm_lpae_io_pgtable).
 *
 * The public API takes and returns bigints; internally addresses are
 * numbers (below 2^52) and descriptors are (lo, hi) 32-bit halves.
 */
export class ArmLpaeIoPgtable {
  readonly fmt: IoPgtableFormat;
  readonly granule: Granule;
  readonly pgsizeBitmap: bigint;
  readonly ias: number;
  readonly oas: number;
  readonly pgShift: number;
  readonly bitsPerLevel: number;
  readonly startLevel: number;
  readonly pgdBits: number;
  /** Number of concatenated start-level tables (stage 2), else 1. */
  readonly concatenated: number;
  readonly coherentWalk: boolean;
  /** Physical address of the start-level table (TTBR / VTTBR). */
  readonly pgd: bigint;
  readonly s1?: S1TcrCfg;
  readonly s2?: S2VtcrCfg;
  private readonly mem: PhysicalMemory;
  private readonly pgdN: number;
  private readonly granuleN: number;
  private readonly pgdSizeN: number;
  private readonly pgsizes: number[];
  private readonly iasLimit: number;
  private readonly oasLimit: number;
  private readonly s1fmt: boolean;
  // prot_to_pte result registers
  private pLo = 0;
  private pHi = 0;

  private constructor(
    cfg: IoPgtableCfgIn,
    private readonly alloc: TableAllocator,
    private readonly tlb: IoPgtableTlbOps,
  ) {
    const geo = lpaeGeometry(cfg);
    this.fmt = cfg.fmt;
    this.s1fmt = cfg.fmt === 'arm-lpae-s1';
    this.granule = cfg.granule;
    this.pgsizeBitmap = geo.pgsizeBitmap;
    this.pgsizes = [12, 14, 16, 21, 25, 29, 30, 42].map((b) => 2 ** b).filter((v) => (BigInt(v) & geo.pgsizeBitmap) !== 0n);
    this.ias = geo.ias;
    this.oas = geo.oas;
    this.iasLimit = 2 ** geo.ias;
    this.oasLimit = 2 ** geo.oas;
    this.pgShift = geo.pgShift;
    this.granuleN = 2 ** geo.pgShift;
    this.bitsPerLevel = geo.bitsPerLevel;
    this.startLevel = geo.startLevel;
    this.pgdBits = geo.pgdBits;
    this.pgdSizeN = 8 * 2 ** geo.pgdBits;
    this.concatenated = geo.concatenated;
    this.coherentWalk = cfg.coherentWalk ?? true;
    this.mem = alloc.mem;
    const ps = bitsToPs(this.oas);
    if (ps === undefined) {
      throw new IoPgtableConfigError(`oas ${cfg.oas} is not one of 32, 36, 40, 42, 44, 48, 52`, 'oas');
    }
    // Like Linux (alloc_pages_node), a start table smaller than a page still gets a whole one,
    // so a batch that runs past its last entry stays inside memory it owns.
    const pgd = alloc.allocN(Math.max(this.pgdSizeN, this.granuleN));
    if (pgd === null) throw new IoPgtableConfigError('no memory for the pgd', 'memory');
    this.pgdN = pgd;
    this.pgd = BigInt(pgd);
    const sh = this.coherentWalk ? 3 : 2;
    const rgn = this.coherentWalk ? 1 : 0;
    if (this.s1fmt) {
      this.s1 = { tsz: 64 - this.ias, tg: tgEncoding(this.granule), ips: ps, sh, irgn: rgn, orgn: rgn, ttbr: this.pgd, mair: LINUX_MAIR };
    } else {
      let sl = this.startLevel;
      if (this.granule === 4096) sl++; // SL0 encoding differs for 4K
      this.s2 = { tsz: 64 - this.ias, sl: ~sl & 3, tg: tgEncoding(this.granule), ps, sh, irgn: rgn, orgn: rgn, vttbr: this.pgd };
    }
  }

  /** Allocate an instance (alloc_io_pgtable_ops). Throws IoPgtableConfigError where Linux returns NULL. */
  static alloc(cfg: IoPgtableCfgIn, alloc: TableAllocator, tlb: IoPgtableTlbOps = {}): ArmLpaeIoPgtable {
    return new ArmLpaeIoPgtable(cfg, alloc, tlb);
  }

  get granuleBytes(): bigint {
    return BigInt(this.granuleN);
  }

  get ptesPerTable(): number {
    return 1 << this.bitsPerLevel;
  }

  /** Size of the pgd (ARM_LPAE_PGD_SIZE). */
  get pgdSize(): bigint {
    return BigInt(this.pgdSizeN);
  }

  /** ARM_LPAE_LVL_SHIFT */
  lvlShift(lvl: number): number {
    return (MAX_LEVELS - lvl) * this.bitsPerLevel + 3;
  }

  /** ARM_LPAE_BLOCK_SIZE */
  blockSize(lvl: number): bigint {
    return 1n << BigInt(this.lvlShift(lvl));
  }

  private blockSizeN(lvl: number): number {
    return 2 ** this.lvlShift(lvl);
  }

  /** ARM_LPAE_LVL_IDX, for an iova given as a number below 2^53. */
  private lvlIdxN(iova: number, lvl: number): number {
    const pgdIdx = lvl === this.startLevel ? this.pgdBits - this.bitsPerLevel : 0;
    return Math.floor(iova / 2 ** this.lvlShift(lvl)) % 2 ** (this.bitsPerLevel + pgdIdx);
  }

  lvlIdx(iova: bigint, lvl: number): number {
    return this.lvlIdxN(Number(BigInt.asUintN(64, iova) % (1n << BigInt(this.lvlShift(lvl) + 20))), lvl);
  }

  /** arm_lpae_max_entries: entries left in this table page from index i. */
  private maxEntries(i: number): number {
    const n = this.ptesPerTable;
    return n - (i & (n - 1));
  }

  /** paddr_to_iopte: low half. */
  private static oaLo(pa: number): number {
    return ((pa % TWO32 & 0xfffff000) | ((Math.floor(pa / TWO48) & 0xf) << 12)) >>> 0;
  }

  /** paddr_to_iopte: high half. */
  private static oaHi(pa: number): number {
    return Math.floor(pa / TWO32) & 0xffff;
  }

  /** iopte_to_paddr */
  private toPaddr(lo: number, hi: number): number {
    if (this.pgShift < 16) return (hi & 0xffff) * TWO32 + ((lo & 0xfffff000) >>> 0);
    return (hi & 0xffff) * TWO32 + ((lo & 0xffff0000) >>> 0) + ((lo >>> 12) & 0xf) * TWO48;
  }

  iopteToPaddr(pte: bigint): bigint {
    return BigInt(this.toPaddr(Number(pte & 0xffffffffn), Number((pte >> 32n) & 0xffffffffn)));
  }

  private static leaf(lo: number, lvl: number): boolean {
    return lvl === MAX_LEVELS - 1 ? (lo & 3) === TYPE_PAGE : (lo & 3) === TYPE_BLOCK;
  }

  /** Read the pte at `pa` into mem.lo/mem.hi. */
  private rd(pa: number): void {
    if (!this.mem.peek(pa)) throw new Error(`io-pgtable: table memory 0x${pa.toString(16)} has no backing`);
  }

  private wr(pa: number, lo: number, hi: number): void {
    if (!this.mem.write(pa, lo, hi)) throw new Error(`io-pgtable: table memory 0x${pa.toString(16)} has no backing`);
  }

  /** arm_lpae_prot_to_pte into pLo/pHi. */
  private protToPteN(prot: number): void {
    let lo: number;
    let hi = 0;
    if (this.s1fmt) {
      lo = LO_NG;
      if (!(prot & IOMMU_WRITE) && prot & IOMMU_READ) lo |= LO_AP_RDONLY;
      if (!(prot & IOMMU_PRIV)) lo |= LO_AP_UNPRIV;
      if (prot & IOMMU_MMIO) lo |= MAIR_ATTR_IDX_DEV << 2;
      else if (prot & IOMMU_CACHE) lo |= MAIR_ATTR_IDX_CACHE << 2;
    } else {
      lo = 0;
      if (prot & IOMMU_READ) lo |= LO_HAP_READ;
      if (prot & IOMMU_WRITE) lo |= LO_HAP_WRITE;
      if (prot & IOMMU_MMIO) lo |= LO_MEMATTR_DEV;
      else if (prot & IOMMU_CACHE) lo |= LO_MEMATTR_OIWB;
      else lo |= LO_MEMATTR_NC;
    }
    lo |= prot & IOMMU_CACHE ? LO_SH_IS : LO_SH_OS;
    if (prot & IOMMU_NOEXEC) hi |= HI_XN;
    lo |= LO_AF;
    this.pLo = lo >>> 0;
    this.pHi = hi >>> 0;
  }

  /** arm_lpae_prot_to_pte */
  protToPte(prot: number): bigint {
    this.protToPteN(prot);
    return u64(this.pLo, this.pHi);
  }

  /** The leaf descriptor Linux writes for prot at a level mapping `pa`. */
  leafPte(pa: bigint, prot: number, lvl: number): bigint {
    this.protToPteN(prot);
    const p = Number(pa);
    const type = lvl === MAX_LEVELS - 1 ? TYPE_PAGE : TYPE_BLOCK;
    return u64((this.pLo | type | ArmLpaeIoPgtable.oaLo(p)) >>> 0, (this.pHi | ArmLpaeIoPgtable.oaHi(p)) >>> 0);
  }

  /** arm_lpae_map_pages. */
  mapPages(iova: bigint, paddr: bigint, pgsize: bigint, pgcount: number, prot: number): MapResult {
    if (pgsize <= 0n || (pgsize & this.pgsizeBitmap) !== pgsize) return { error: 'EINVAL', mapped: 0n };
    // The iommu core rejects a mapping not aligned to its page size before it reaches io-pgtable.
    if ((pgsize & (pgsize - 1n)) === 0n && ((iova | paddr) & (pgsize - 1n)) !== 0n) return { error: 'EINVAL', mapped: 0n };
    if (iova < 0n || paddr < 0n || iova >> BigInt(this.ias) !== 0n || paddr >> BigInt(this.oas) !== 0n) {
      return { error: 'ERANGE', mapped: 0n };
    }
    if (!(prot & (IOMMU_READ | IOMMU_WRITE))) return { error: 'EINVAL', mapped: 0n };
    const out = { mapped: 0 };
    this.protToPteN(prot);
    const err = this.mapAt(Number(iova), Number(paddr), Number(pgsize), pgcount, this.pLo, this.pHi, this.startLevel, this.pgdN, out);
    return err ? { error: err, mapped: BigInt(out.mapped) } : { mapped: BigInt(out.mapped) };
  }

  /** Is `size` exactly one of this table's page/block sizes? */
  private validPgsize(size: number): boolean {
    return this.pgsizes.includes(size);
  }

  /**
   * map_pages on numbers: the hot path for workloads. Same checks and
   * results as mapPages for a single page size; bytes mapped, or an errno.
   */
  mapPagesN(iova: number, paddr: number, pgsize: number, pgcount: number, prot: number): { error?: Errno; mapped: number } {
    if (!this.validPgsize(pgsize)) return { error: 'EINVAL', mapped: 0 };
    if (iova % pgsize !== 0 || paddr % pgsize !== 0) return { error: 'EINVAL', mapped: 0 };
    if (!(iova >= 0 && iova < this.iasLimit && paddr >= 0 && paddr < this.oasLimit)) return { error: 'ERANGE', mapped: 0 };
    if (!(prot & (IOMMU_READ | IOMMU_WRITE))) return { error: 'EINVAL', mapped: 0 };
    this.protToPteN(prot);
    const out: { error?: Errno; mapped: number } = { mapped: 0 };
    const err = this.mapAt(iova, paddr, pgsize, pgcount, this.pLo, this.pHi, this.startLevel, this.pgdN, out);
    if (err) out.error = err;
    return out;
  }

  /** __arm_lpae_map */
  private mapAt(
    iova: number,
    paddr: number,
    size: number,
    pgcount: number,
    protLo: number,
    protHi: number,
    lvl: number,
    table: number,
    out: { mapped: number },
  ): Errno | undefined {
    for (;;) {
      const idx = this.lvlIdxN(iova, lvl);
      const ptep = table + idx * 8;
      if (size === this.blockSizeN(lvl)) {
        const num = Math.min(pgcount, this.maxEntries(idx));
        const err = this.initPte(iova, paddr, protLo, protHi, lvl, num, ptep, table);
        if (!err) out.mapped += num * size;
        return err;
      }
      if (lvl >= MAX_LEVELS - 1) return 'EINVAL';
      this.rd(ptep);
      const lo = this.mem.lo;
      const hi = this.mem.hi;
      let next: number;
      if (lo === 0 && hi === 0) {
        const t = this.alloc.allocN(this.granuleN);
        if (t === null) return 'ENOMEM';
        this.wr(ptep, (ArmLpaeIoPgtable.oaLo(t) | TYPE_TABLE) >>> 0, ArmLpaeIoPgtable.oaHi(t));
        next = t;
      } else if (!ArmLpaeIoPgtable.leaf(lo, lvl)) {
        next = this.toPaddr(lo, hi);
      } else {
        return 'EEXIST';
      }
      table = next;
      lvl++;
    }
  }

  /** arm_lpae_init_pte: check every slot, replace tables by blocks, then write. */
  private initPte(
    iova: number,
    paddr: number,
    protLo: number,
    protHi: number,
    lvl: number,
    num: number,
    ptep: number,
    table: number,
  ): Errno | undefined {
    const sz = this.blockSizeN(lvl);
    for (let i = 0; i < num; i++) {
      this.rd(ptep + i * 8);
      const lo = this.mem.lo;
      if (ArmLpaeIoPgtable.leaf(lo, lvl)) return 'EEXIST';
      if ((lo & 3) === TYPE_TABLE) {
        if (this.unmapAt(undefined, iova + i * sz, sz, 1, lvl, table) !== sz) return 'EINVAL';
      }
    }
    this.writeLeaves(paddr, protLo, protHi, lvl, num, ptep);
    return undefined;
  }

  /** __arm_lpae_init_pte */
  private writeLeaves(paddr: number, protLo: number, protHi: number, lvl: number, num: number, ptep: number): void {
    const sz = this.blockSizeN(lvl);
    const lo0 = protLo | (lvl === MAX_LEVELS - 1 ? TYPE_PAGE : TYPE_BLOCK);
    for (let i = 0; i < num; i++) {
      const pa = paddr + i * sz;
      this.wr(ptep + i * 8, (lo0 | ArmLpaeIoPgtable.oaLo(pa)) >>> 0, (protHi | ArmLpaeIoPgtable.oaHi(pa)) >>> 0);
    }
  }

  /** arm_lpae_unmap_pages: bytes unmapped. */
  unmapPages(iova: bigint, pgsize: bigint, pgcount: number, gather?: IotlbGather): bigint {
    if (pgsize <= 0n || (pgsize & this.pgsizeBitmap) !== pgsize || !(pgcount > 0)) return 0n;
    if (iova < 0n || iova >> BigInt(this.ias) !== 0n) return 0n;
    return BigInt(this.unmapAt(gather, Number(iova), Number(pgsize), pgcount, this.startLevel, this.pgdN));
  }

  /** unmap_pages on numbers (the workload hot path): bytes unmapped. */
  unmapPagesN(iova: number, pgsize: number, pgcount: number, gather?: IotlbGather): number {
    if (!this.validPgsize(pgsize) || !(pgcount > 0)) return 0;
    if (!(iova >= 0 && iova < this.iasLimit)) return 0;
    return this.unmapAt(gather, iova, pgsize, pgcount, this.startLevel, this.pgdN);
  }

  /** __arm_lpae_unmap */
  private unmapAt(gather: IotlbGather | undefined, iova: number, size: number, pgcount: number, lvl: number, table: number): number {
    for (;;) {
      if (lvl === MAX_LEVELS) return 0;
      const idx = this.lvlIdxN(iova, lvl);
      const ptep = table + idx * 8;
      this.rd(ptep);
      const lo = this.mem.lo;
      const hi = this.mem.hi;
      if (lo === 0 && hi === 0) return 0;
      if (size === this.blockSizeN(lvl)) {
        const num = Math.min(pgcount, this.maxEntries(idx));
        let i = 0;
        for (; i < num; i++) {
          this.rd(ptep + i * 8);
          const elo = this.mem.lo;
          const ehi = this.mem.hi;
          if (elo === 0 && ehi === 0) break;
          if (!ArmLpaeIoPgtable.leaf(elo, lvl)) {
            this.wr(ptep + i * 8, 0, 0);
            this.tlb.tlbFlushWalk?.(BigInt(iova + i * size), BigInt(size), BigInt(this.granuleN));
            this.freeTable(lvl + 1, this.toPaddr(elo, ehi));
          }
        }
        for (let j = 0; j < i; j++) this.wr(ptep + j * 8, 0, 0);
        if (gather && !gather.queued) {
          for (let j = 0; j < i; j++) this.addPage(gather, iova + j * size, size);
        }
        return i * size;
      }
      if (ArmLpaeIoPgtable.leaf(lo, lvl)) return this.splitBlkUnmap(gather, iova, size, lo, hi, lvl + 1, ptep, pgcount);
      table = this.toPaddr(lo, hi);
      lvl++;
    }
  }

  private addPage(gather: IotlbGather | undefined, iova: number, size: number): void {
    if (this.tlb.tlbAddPage) this.tlb.tlbAddPage(gather, BigInt(iova), BigInt(size));
    else gather?.add(BigInt(iova), BigInt(size));
  }

  /** arm_lpae_split_blk_unmap */
  private splitBlkUnmap(
    gather: IotlbGather | undefined,
    iova: number,
    size: number,
    blkLo: number,
    blkHi: number,
    lvl: number,
    ptep: number,
    pgcount: number,
  ): number {
    if (lvl === MAX_LEVELS) return 0;
    const tablep = this.alloc.allocN(this.granuleN);
    if (tablep === null) return 0;
    const splitSz = this.blockSizeN(lvl);
    let unmapIdxStart = -1;
    let num = 0;
    if (size === splitSz) {
      unmapIdxStart = this.lvlIdxN(iova, lvl);
      num = Math.min(pgcount, this.maxEntries(unmapIdxStart));
    }
    let blkPaddr = this.toPaddr(blkLo, blkHi);
    const protLo = (blkLo & LO_ATTR_MASK) >>> 0;
    const protHi = (blkHi & HI_ATTR_MASK) >>> 0;
    const n = this.ptesPerTable;
    for (let i = 0; i < n; i++, blkPaddr += splitSz) {
      if (i >= unmapIdxStart && i < unmapIdxStart + num) continue;
      this.writeLeaves(blkPaddr, protLo, protHi, lvl, 1, tablep + i * 8);
    }
    this.wr(ptep, (ArmLpaeIoPgtable.oaLo(tablep) | TYPE_TABLE) >>> 0, ArmLpaeIoPgtable.oaHi(tablep));
    if (unmapIdxStart >= 0) {
      for (let i = 0; i < num; i++) this.addPage(gather, iova + i * size, size);
      return num * size;
    }
    return this.unmapAt(gather, iova, size, pgcount, lvl, tablep);
  }

  /** __arm_lpae_free_pgtable */
  private freeTable(lvl: number, table: number): void {
    const tableSize = lvl === this.startLevel ? this.pgdSizeN : this.granuleN;
    if (lvl < MAX_LEVELS - 1) {
      for (let off = 0; off < tableSize; off += 8) {
        this.rd(table + off);
        const lo = this.mem.lo;
        const hi = this.mem.hi;
        if ((lo === 0 && hi === 0) || ArmLpaeIoPgtable.leaf(lo, lvl)) continue;
        this.freeTable(lvl + 1, this.toPaddr(lo, hi));
      }
    }
    this.alloc.releaseN(table);
  }

  /** Free every table (free_io_pgtable_ops). The instance must not be used afterwards. */
  free(): void {
    this.freeTable(this.startLevel, this.pgdN);
  }

  /** arm_lpae_iova_to_phys, with the leaf descriptor and its level. */
  iovaToPhys(iova: bigint): IovaToPhys | null {
    // LVL_IDX only ever looks at bits below ias, so the iova can be reduced first.
    const va = Number(BigInt.asUintN(64, iova) % (1n << BigInt(this.ias)));
    let table = this.pgdN;
    for (let lvl = this.startLevel; lvl < MAX_LEVELS; lvl++) {
      this.rd(table + this.lvlIdxN(va, lvl) * 8);
      const lo = this.mem.lo;
      const hi = this.mem.hi;
      if (lo === 0 && hi === 0) return null;
      if (ArmLpaeIoPgtable.leaf(lo, lvl)) {
        const bs = this.blockSizeN(lvl);
        return { phys: BigInt(this.toPaddr(lo, hi) + (va % bs)), pte: u64(lo, hi), level: lvl };
      }
      table = this.toPaddr(lo, hi);
    }
    return null;
  }

  /**
   * Like iovaToPhys, and when nothing is mapped, the size of the empty
   * region the walk stopped in (the block size of the empty entry), so a
   * caller can skip it instead of probing page by page.
   */
  lookup(iova: bigint): { leaf: IovaToPhys | null; span: bigint } {
    const va = Number(BigInt.asUintN(64, iova) % (1n << BigInt(this.ias)));
    let table = this.pgdN;
    for (let lvl = this.startLevel; lvl < MAX_LEVELS; lvl++) {
      this.rd(table + this.lvlIdxN(va, lvl) * 8);
      const lo = this.mem.lo;
      const hi = this.mem.hi;
      const bs = this.blockSizeN(lvl);
      if (lo === 0 && hi === 0) return { leaf: null, span: BigInt(bs) };
      if (ArmLpaeIoPgtable.leaf(lo, lvl)) {
        return { leaf: { phys: BigInt(this.toPaddr(lo, hi) + (va % bs)), pte: u64(lo, hi), level: lvl }, span: BigInt(bs) };
      }
      if (lvl === MAX_LEVELS - 1) return { leaf: null, span: BigInt(bs) };
      table = this.toPaddr(lo, hi);
    }
    return { leaf: null, span: this.granuleBytes };
  }

  /**
   * Every table page this instance owns, found by walking from the pgd
   * (used by views and by the invariant checker).
   */
  tables(): Array<{ addr: bigint; level: number; size: bigint }> {
    const out: Array<{ addr: bigint; level: number; size: bigint }> = [];
    const visit = (table: number, lvl: number): void => {
      const size = lvl === this.startLevel ? this.pgdSizeN : this.granuleN;
      out.push({ addr: BigInt(table), level: lvl, size: BigInt(size) });
      if (lvl >= MAX_LEVELS - 1) return;
      for (let off = 0; off < size; off += 8) {
        this.rd(table + off);
        const lo = this.mem.lo;
        const hi = this.mem.hi;
        if ((lo !== 0 || hi !== 0) && !ArmLpaeIoPgtable.leaf(lo, lvl)) visit(this.toPaddr(lo, hi), lvl + 1);
      }
    };
    visit(this.pgdN, this.startLevel);
    return out;
  }

  /** All leaves, in IOVA order: the mappings as the tables hold them. */
  leaves(): Array<{ iova: bigint; pa: bigint; size: bigint; level: number; pte: bigint }> {
    const out: Array<{ iova: bigint; pa: bigint; size: bigint; level: number; pte: bigint }> = [];
    const visit = (table: number, lvl: number, base: number): void => {
      const size = lvl === this.startLevel ? this.pgdSizeN : this.granuleN;
      const bs = this.blockSizeN(lvl);
      for (let i = 0; i < size / 8; i++) {
        this.rd(table + i * 8);
        const lo = this.mem.lo;
        const hi = this.mem.hi;
        if (lo === 0 && hi === 0) continue;
        const va = base + i * bs;
        if (ArmLpaeIoPgtable.leaf(lo, lvl)) {
          out.push({ iova: BigInt(va), pa: BigInt(this.toPaddr(lo, hi)), size: BigInt(bs), level: lvl, pte: u64(lo, hi) });
        } else if (lvl < MAX_LEVELS - 1) visit(this.toPaddr(lo, hi), lvl + 1, va);
      }
    };
    visit(this.pgdN, this.startLevel, 0);
    return out;
  }
}
