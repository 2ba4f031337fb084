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

import { genmask, hex } from './bits';
import { type Granule, granuleShift, bitsToPs } from './descriptor';
import { PhysicalMemory, TableAllocator } from './memory';

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

// Descriptor bits io-pgtable-arm writes.
const PTE_TYPE_BLOCK = 1n;
const PTE_TYPE_TABLE = 3n;
const PTE_TYPE_PAGE = 3n;
const PTE_XN = 3n << 53n;
const PTE_AF = 1n << 10n;
const PTE_SH_OS = 2n << 8n;
const PTE_SH_IS = 3n << 8n;
const PTE_ATTR_LO_MASK = 0x3ffn << 2n;
const PTE_ATTR_HI_MASK = PTE_XN | (1n << 51n); // XN | DBM; the contiguous bit is ignored for splitting
const PTE_ATTR_MASK = PTE_ATTR_LO_MASK | PTE_ATTR_HI_MASK;
const PTE_ADDR_MASK = genmask(47, 12);
// Stage 1
const PTE_AP_UNPRIV = 1n << 6n;
const PTE_AP_RDONLY = 2n << 6n;
const PTE_ATTRINDX_SHIFT = 2n;
const PTE_NG = 1n << 11n;
// Stage 2
const PTE_HAP_READ = 1n << 6n;
const PTE_HAP_WRITE = 2n << 6n;
const PTE_MEMATTR_OIWB = 0xfn << 2n;
const PTE_MEMATTR_NC = 0x5n << 2n;
const PTE_MEMATTR_DEV = 0x1n << 2n;

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
 * Linux's arm_lpae_concat_mandatory (Arm DDI0487 R_DXBSH / R_SRKBC): when a
 * stage-2 walk must start one level lower with concatenated tables.
 */
function concatMandatory(g: Granule, startLevel: number, ias: number, oas: number): boolean {
  if (g === 16384 && startLevel === 0) return oas === 48 || ias === 48;
  if (g === 4096 && startLevel === 0) return oas === 40 || oas === 42;
  return g === 16384 && startLevel === 1 && oas === 40;
}

/**
 * One io-pgtable-arm instance (struct arm_lpae_io_pgtable).
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

  private constructor(
    cfg: IoPgtableCfgIn,
    private readonly alloc: TableAllocator,
    private readonly tlb: IoPgtableTlbOps,
  ) {
    const geo = lpaeGeometry(cfg);
    this.fmt = cfg.fmt;
    this.granule = cfg.granule;
    this.pgsizeBitmap = geo.pgsizeBitmap;
    this.ias = geo.ias;
    this.oas = geo.oas;
    this.pgShift = geo.pgShift;
    this.bitsPerLevel = geo.bitsPerLevel;
    this.startLevel = geo.startLevel;
    this.pgdBits = geo.pgdBits;
    this.concatenated = geo.concatenated;
    this.coherentWalk = cfg.coherentWalk ?? true;
    this.mem = alloc.mem;
    const ps = bitsToPs(this.oas);
    if (ps === undefined) {
      throw new IoPgtableConfigError(`oas ${cfg.oas} is not one of 32, 36, 40, 42, 44, 48, 52`, 'oas');
    }
    const pgd = alloc.alloc(this.pgdSizeAlloc);
    if (pgd === null) throw new IoPgtableConfigError('no memory for the pgd', 'memory');
    this.pgd = pgd;
    const sh = this.coherentWalk ? 3 : 2;
    const rgn = this.coherentWalk ? 1 : 0;
    if (this.fmt === 'arm-lpae-s1') {
      this.s1 = {
        tsz: 64 - this.ias,
        tg: tgEncoding(this.granule),
        ips: ps,
        sh,
        irgn: rgn,
        orgn: rgn,
        ttbr: pgd,
        mair: LINUX_MAIR,
      };
    } else {
      let sl = this.startLevel;
      if (this.granule === 4096) sl++; // SL0 encoding differs for 4K
      this.s2 = {
        tsz: 64 - this.ias,
        sl: ~sl & 3,
        tg: tgEncoding(this.granule),
        ps,
        sh,
        irgn: rgn,
        orgn: rgn,
        vttbr: pgd,
      };
    }
  }

  /** Allocate an instance (alloc_io_pgtable_ops). Throws IoPgtableConfigError where Linux returns NULL. */
  static alloc(cfg: IoPgtableCfgIn, alloc: TableAllocator, tlb: IoPgtableTlbOps = {}): ArmLpaeIoPgtable {
    return new ArmLpaeIoPgtable(cfg, alloc, tlb);
  }

  get granuleBytes(): bigint {
    return 1n << BigInt(this.pgShift);
  }

  get ptesPerTable(): number {
    return 1 << this.bitsPerLevel;
  }

  /** Size of the pgd (ARM_LPAE_PGD_SIZE). */
  get pgdSize(): bigint {
    return 8n << BigInt(this.pgdBits);
  }

  private get pgdSizeAlloc(): bigint {
    const s = this.pgdSize;
    return s < 64n ? 64n : s;
  }

  /** ARM_LPAE_LVL_SHIFT */
  lvlShift(lvl: number): number {
    return (MAX_LEVELS - lvl) * this.bitsPerLevel + 3;
  }

  /** ARM_LPAE_BLOCK_SIZE */
  blockSize(lvl: number): bigint {
    return 1n << BigInt(this.lvlShift(lvl));
  }

  /** ARM_LPAE_LVL_IDX */
  lvlIdx(iova: bigint, lvl: number): number {
    const pgdIdx = lvl === this.startLevel ? this.pgdBits - this.bitsPerLevel : 0;
    const mask = (1n << BigInt(this.bitsPerLevel + pgdIdx)) - 1n;
    return Number((BigInt.asUintN(64, iova) >> BigInt(this.lvlShift(lvl))) & mask);
  }

  /** arm_lpae_max_entries: entries left in this table page from index i. */
  private maxEntries(i: number): number {
    const n = this.ptesPerTable;
    return n - (i & (n - 1));
  }

  private paddrToIopte(pa: bigint): bigint {
    return (pa | (pa >> 36n)) & PTE_ADDR_MASK;
  }

  iopteToPaddr(pte: bigint): bigint {
    const pa = pte & PTE_ADDR_MASK;
    if (this.pgShift < 16) return pa;
    return (pa | (pa << 36n)) & (PTE_ADDR_MASK << 4n);
  }

  private iopteLeaf(pte: bigint, lvl: number): boolean {
    if (lvl === MAX_LEVELS - 1) return (pte & 3n) === PTE_TYPE_PAGE;
    return (pte & 3n) === PTE_TYPE_BLOCK;
  }

  private read(addr: bigint): bigint {
    const v = this.mem.peek64(addr);
    if (v === undefined) throw new Error(`io-pgtable: table memory ${hex(addr)} has no backing`);
    return v;
  }

  private write(addr: bigint, v: bigint): void {
    if (!this.mem.write64(addr, v)) throw new Error(`io-pgtable: table memory ${hex(addr)} has no backing`);
  }

  /** arm_lpae_prot_to_pte */
  protToPte(prot: number): bigint {
    let pte: bigint;
    if (this.fmt === 'arm-lpae-s1') {
      pte = PTE_NG;
      if (!(prot & IOMMU_WRITE) && prot & IOMMU_READ) pte |= PTE_AP_RDONLY;
      if (!(prot & IOMMU_PRIV)) pte |= PTE_AP_UNPRIV;
      if (prot & IOMMU_MMIO) pte |= BigInt(MAIR_ATTR_IDX_DEV) << PTE_ATTRINDX_SHIFT;
      else if (prot & IOMMU_CACHE) pte |= BigInt(MAIR_ATTR_IDX_CACHE) << PTE_ATTRINDX_SHIFT;
    } else {
      pte = 0n;
      if (prot & IOMMU_READ) pte |= PTE_HAP_READ;
      if (prot & IOMMU_WRITE) pte |= PTE_HAP_WRITE;
      if (prot & IOMMU_MMIO) pte |= PTE_MEMATTR_DEV;
      else if (prot & IOMMU_CACHE) pte |= PTE_MEMATTR_OIWB;
      else pte |= PTE_MEMATTR_NC;
    }
    pte |= prot & IOMMU_CACHE ? PTE_SH_IS : PTE_SH_OS;
    if (prot & IOMMU_NOEXEC) pte |= PTE_XN;
    pte |= PTE_AF;
    return pte;
  }

  /** The leaf descriptor Linux writes for prot at a level mapping `pa`. */
  leafPte(pa: bigint, prot: number, lvl: number): bigint {
    return this.protToPte(prot) | (lvl === MAX_LEVELS - 1 ? PTE_TYPE_PAGE : PTE_TYPE_BLOCK) | this.paddrToIopte(pa);
  }

  private isSinglePgsize(pgsize: bigint): boolean {
    return pgsize > 0n && (pgsize & (pgsize - 1n)) === 0n && (pgsize & this.pgsizeBitmap) === pgsize;
  }

  /** arm_lpae_map_pages. `pgcount` is clamped like Linux's min_t(int, ...). */
  mapPages(iova: bigint, paddr: bigint, pgsize: bigint, pgcount: number, prot: number): MapResult {
    const out: MapResult = { mapped: 0n };
    if (pgsize === 0n || (pgsize & this.pgsizeBitmap) !== pgsize) return { error: 'EINVAL', mapped: 0n };
    // The iommu core rejects a mapping not aligned to its page size before it reaches io-pgtable.
    if (this.isSinglePgsize(pgsize) && ((iova | paddr) & (pgsize - 1n)) !== 0n) return { error: 'EINVAL', mapped: 0n };
    if (iova < 0n || paddr < 0n || iova >> BigInt(this.ias) !== 0n || paddr >> BigInt(this.oas) !== 0n) {
      return { error: 'ERANGE', mapped: 0n };
    }
    if (!(prot & (IOMMU_READ | IOMMU_WRITE))) return { error: 'EINVAL', mapped: 0n };
    const pteProt = this.protToPte(prot);
    const err = this.mapAt(iova, paddr, pgsize, pgcount, pteProt, this.startLevel, this.pgd, out);
    if (err) out.error = err;
    return out;
  }

  /** __arm_lpae_map */
  private mapAt(
    iova: bigint,
    paddr: bigint,
    size: bigint,
    pgcount: number,
    prot: bigint,
    lvl: number,
    table: bigint,
    out: MapResult,
  ): Errno | undefined {
    const idx = this.lvlIdx(iova, lvl);
    const ptep = table + BigInt(idx) * 8n;
    if (size === this.blockSize(lvl)) {
      const num = Math.min(pgcount, this.maxEntries(idx));
      const err = this.initPte(iova, paddr, prot, lvl, num, ptep, table);
      if (!err) out.mapped += BigInt(num) * size;
      return err;
    }
    if (lvl >= MAX_LEVELS - 1) return 'EINVAL';
    const pte = this.read(ptep);
    let next: bigint;
    if (pte === 0n) {
      const t = this.alloc.alloc(this.granuleBytes);
      if (t === null) return 'ENOMEM';
      this.write(ptep, this.paddrToIopte(t) | PTE_TYPE_TABLE);
      next = t;
    } else if (!this.iopteLeaf(pte, lvl)) {
      next = this.iopteToPaddr(pte);
    } else {
      return 'EEXIST';
    }
    return this.mapAt(iova, paddr, size, pgcount, prot, lvl + 1, next, out);
  }

  /** arm_lpae_init_pte: check every slot, replace tables by blocks, then write. */
  private initPte(
    iova: bigint,
    paddr: bigint,
    prot: bigint,
    lvl: number,
    num: number,
    ptep: bigint,
    table: bigint,
  ): Errno | undefined {
    const sz = this.blockSize(lvl);
    for (let i = 0; i < num; i++) {
      const old = this.read(ptep + BigInt(i) * 8n);
      if (this.iopteLeaf(old, lvl)) return 'EEXIST';
      if ((old & 3n) === PTE_TYPE_TABLE) {
        if (this.unmapAt(undefined, iova + BigInt(i) * sz, sz, 1, lvl, table) !== sz) return 'EINVAL';
      }
    }
    this.writeLeaves(paddr, prot, lvl, num, ptep);
    return undefined;
  }

  /** __arm_lpae_init_pte */
  private writeLeaves(paddr: bigint, prot: bigint, lvl: number, num: number, ptep: bigint): void {
    const sz = this.blockSize(lvl);
    const pte = prot | (lvl === MAX_LEVELS - 1 ? PTE_TYPE_PAGE : PTE_TYPE_BLOCK);
    for (let i = 0; i < num; i++) {
      this.write(ptep + BigInt(i) * 8n, pte | this.paddrToIopte(paddr + BigInt(i) * sz));
    }
  }

  /** arm_lpae_unmap_pages: bytes unmapped. */
  unmapPages(iova: bigint, pgsize: bigint, pgcount: number, gather?: IotlbGather): bigint {
    if (pgsize === 0n || (pgsize & this.pgsizeBitmap) !== pgsize || pgcount <= 0) return 0n;
    if (iova < 0n || iova >> BigInt(this.ias) !== 0n) return 0n;
    return this.unmapAt(gather, iova, pgsize, pgcount, this.startLevel, this.pgd);
  }

  /** __arm_lpae_unmap */
  private unmapAt(
    gather: IotlbGather | undefined,
    iova: bigint,
    size: bigint,
    pgcount: number,
    lvl: number,
    table: bigint,
  ): bigint {
    if (lvl === MAX_LEVELS) return 0n;
    const idx = this.lvlIdx(iova, lvl);
    const ptep = table + BigInt(idx) * 8n;
    const pte = this.read(ptep);
    if (pte === 0n) return 0n;
    if (size === this.blockSize(lvl)) {
      const num = Math.min(pgcount, this.maxEntries(idx));
      let i = 0;
      for (; i < num; i++) {
        const e = this.read(ptep + BigInt(i) * 8n);
        if (e === 0n) break;
        if (!this.iopteLeaf(e, lvl)) {
          this.write(ptep + BigInt(i) * 8n, 0n);
          this.tlb.tlbFlushWalk?.(iova + BigInt(i) * size, size, this.granuleBytes);
          this.freeTable(lvl + 1, this.iopteToPaddr(e));
        }
      }
      for (let j = 0; j < i; j++) this.write(ptep + BigInt(j) * 8n, 0n);
      if (gather && !gather.queued) {
        for (let j = 0; j < i; j++) this.addPage(gather, iova + BigInt(j) * size, size);
      }
      return BigInt(i) * size;
    }
    if (this.iopteLeaf(pte, lvl)) return this.splitBlkUnmap(gather, iova, size, pte, lvl + 1, ptep, pgcount);
    return this.unmapAt(gather, iova, size, pgcount, lvl + 1, this.iopteToPaddr(pte));
  }

  private addPage(gather: IotlbGather | undefined, iova: bigint, size: bigint): void {
    if (this.tlb.tlbAddPage) this.tlb.tlbAddPage(gather, iova, size);
    else gather?.add(iova, size);
  }

  /** arm_lpae_split_blk_unmap */
  private splitBlkUnmap(
    gather: IotlbGather | undefined,
    iova: bigint,
    size: bigint,
    blkPte: bigint,
    lvl: number,
    ptep: bigint,
    pgcount: number,
  ): bigint {
    if (lvl === MAX_LEVELS) return 0n;
    const tablep = this.alloc.alloc(this.granuleBytes);
    if (tablep === null) return 0n;
    const splitSz = this.blockSize(lvl);
    let unmapIdxStart = -1;
    let num = 0;
    if (size === splitSz) {
      unmapIdxStart = this.lvlIdx(iova, lvl);
      num = Math.min(pgcount, this.maxEntries(unmapIdxStart));
    }
    let blkPaddr = this.iopteToPaddr(blkPte);
    const prot = blkPte & PTE_ATTR_MASK;
    for (let i = 0; i < this.ptesPerTable; i++, blkPaddr += splitSz) {
      if (i >= unmapIdxStart && i < unmapIdxStart + num) continue;
      this.writeLeaves(blkPaddr, prot, lvl, 1, tablep + BigInt(i) * 8n);
    }
    this.write(ptep, this.paddrToIopte(tablep) | PTE_TYPE_TABLE);
    if (unmapIdxStart >= 0) {
      for (let i = 0; i < num; i++) this.addPage(gather, iova + BigInt(i) * size, size);
      return BigInt(num) * size;
    }
    return this.unmapAt(gather, iova, size, pgcount, lvl, tablep);
  }

  /** __arm_lpae_free_pgtable */
  private freeTable(lvl: number, table: bigint): void {
    const tableSize = lvl === this.startLevel ? this.pgdSize : this.granuleBytes;
    if (lvl < MAX_LEVELS - 1) {
      for (let off = 0n; off < tableSize; off += 8n) {
        const pte = this.read(table + off);
        if (pte === 0n || this.iopteLeaf(pte, lvl)) continue;
        this.freeTable(lvl + 1, this.iopteToPaddr(pte));
      }
    }
    this.alloc.release(table);
  }

  /** Free every table (free_io_pgtable_ops). The instance must not be used afterwards. */
  free(): void {
    this.freeTable(this.startLevel, this.pgd);
  }

  /** arm_lpae_iova_to_phys, with the leaf descriptor and its level. */
  iovaToPhys(iova: bigint): IovaToPhys | null {
    let table = this.pgd;
    for (let lvl = this.startLevel; lvl < MAX_LEVELS; lvl++) {
      const pte = this.read(table + BigInt(this.lvlIdx(iova, lvl)) * 8n);
      if (pte === 0n) return null;
      if (this.iopteLeaf(pte, lvl)) {
        const off = BigInt.asUintN(64, iova) & (this.blockSize(lvl) - 1n);
        return { phys: this.iopteToPaddr(pte) | off, pte, level: lvl };
      }
      table = this.iopteToPaddr(pte);
    }
    return null;
  }

  /**
   * Every table page this instance owns, found by walking from the pgd
   * (used by views and by the invariant checker).
   */
  tables(): Array<{ addr: bigint; level: number; size: bigint }> {
    const out: Array<{ addr: bigint; level: number; size: bigint }> = [];
    const visit = (table: bigint, lvl: number): void => {
      const size = lvl === this.startLevel ? this.pgdSize : this.granuleBytes;
      out.push({ addr: table, level: lvl, size });
      if (lvl >= MAX_LEVELS - 1) return;
      for (let off = 0n; off < size; off += 8n) {
        const pte = this.read(table + off);
        if (pte !== 0n && !this.iopteLeaf(pte, lvl)) visit(this.iopteToPaddr(pte), lvl + 1);
      }
    };
    visit(this.pgd, this.startLevel);
    return out;
  }

  /** All leaves, in IOVA order: the mappings as the tables hold them. */
  leaves(): Array<{ iova: bigint; pa: bigint; size: bigint; level: number; pte: bigint }> {
    const out: Array<{ iova: bigint; pa: bigint; size: bigint; level: number; pte: bigint }> = [];
    const visit = (table: bigint, lvl: number, base: bigint): void => {
      const size = lvl === this.startLevel ? this.pgdSize : this.granuleBytes;
      const bs = this.blockSize(lvl);
      for (let i = 0n; i < size / 8n; i++) {
        const pte = this.read(table + i * 8n);
        if (pte === 0n) continue;
        const va = base + i * bs;
        if (this.iopteLeaf(pte, lvl)) out.push({ iova: va, pa: this.iopteToPaddr(pte), size: bs, level: lvl, pte });
        else if (lvl < MAX_LEVELS - 1) visit(this.iopteToPaddr(pte), lvl + 1, va);
      }
    };
    visit(this.pgd, this.startLevel, 0n);
    return out;
  }
}
