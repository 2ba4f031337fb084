/**
 * pKVM paravirtual I/O page tables (the RFC v2 design): the hypervisor owns
 * the SMMU, its stream table, command queue and every page table; the host
 * asks for DMA mappings through hypercalls, each checked against page
 * ownership.
 *
 * The hyp drives the real (emulated) SMMU with its own instance of the
 * arm-smmu-v3 driver model (src/emu/host/smmu-driver.ts) over direct MMIO,
 * with table memory from a pool the host tops up by donating pages. Every
 * check in hyp.md is here: id and range checks, prot, overflow, ownership
 * and DMA refcounts before mapping, refcounts dropped only after the
 * invalidation (TLBI + CMD_SYNC) has completed, and a map that runs the pool
 * dry returning what it mapped plus a memory request.
 */

import { IOMMU_CACHE, IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from '../iopgtable';
import type { PhysicalMemory } from '../memory';
import { TableAllocator } from '../memory';
import { type DomainStage, SmmuDomain, SmmuDriver, SmmuDriverError, directPort } from '../host/smmu-driver';
import type { Smmu } from '../smmu/smmu';
import type { PageOwnership } from './ownership';

const PAGE = 4096n;
const U64 = 1n << 64n;
const VALID_PROT = IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE | IOMMU_NOEXEC | IOMMU_MMIO | IOMMU_PRIV;

/** Linux errno names the hypercalls return. */
export type HypErrno = 'EINVAL' | 'ENOENT' | 'EBUSY' | 'EEXIST' | 'ENOMEM' | 'EPERM' | 'ERANGE' | 'ENODEV' | 'EOVERFLOW';

export interface HvcResult {
  /** 0, or the errno. */
  ret: 0 | HypErrno;
  /** Bytes mapped / unmapped, or the physical address for iova_to_phys. */
  value?: bigint;
  /** When the pool ran dry: how many pages the host should donate before retrying. */
  memRequest?: number;
  /** Why a call failed (one sentence, for the hypercall log). */
  reason?: string;
}

export type HypercallName =
  | 'alloc_domain'
  | 'free_domain'
  | 'attach_dev'
  | 'detach_dev'
  | 'map_pages'
  | 'unmap_pages'
  | 'iova_to_phys'
  | 'map_sg';

export interface HvcLogEntry {
  call: HypercallName;
  args: Record<string, unknown>;
  result: HvcResult;
}

interface HypDomain {
  id: number;
  type: DomainStage;
  /** 1 while allocated, +1 per attached device (free_domain needs exactly 1). */
  refs: number;
  dom: SmmuDomain;
  /** "iommu:sid:pasid" keys. */
  devices: Set<string>;
}

export interface ParavirtOptions {
  /** Domain ids accepted: [0, maxDomains). */
  maxDomains?: number;
  /** Physical address where the hyp's page pool starts (the host donates pages from here up). */
  poolBase: bigint;
  /** Pages the host donates at boot for the hyp's SMMU structures. */
  bootPoolPages?: number;
}

export interface ParavirtCounters {
  hypercalls: number;
  byCall: Record<HypercallName, number>;
  failed: number;
  poolTopUps: number;
  pagesDonatedToPool: number;
}

export class ParavirtHyp {
  readonly driver: SmmuDriver;
  readonly pool: TableAllocator;
  readonly log: HvcLogEntry[] = [];
  readonly counters: ParavirtCounters;
  private readonly domains = new Map<number, HypDomain>();
  private readonly maxDomains: number;
  private readonly poolBase: bigint;
  /** Whether to keep a hypercall log (off for long workloads). */
  logging = true;

  constructor(
    readonly mem: PhysicalMemory,
    readonly smmu: Smmu,
    readonly own: PageOwnership,
    opts: ParavirtOptions,
  ) {
    this.maxDomains = opts.maxDomains ?? 1024;
    this.poolBase = opts.poolBase;
    this.pool = new TableAllocator(mem, opts.poolBase, opts.poolBase);
    this.counters = {
      hypercalls: 0,
      byCall: { alloc_domain: 0, free_domain: 0, attach_dev: 0, detach_dev: 0, map_pages: 0, unmap_pages: 0, iova_to_phys: 0, map_sg: 0 },
      failed: 0,
      poolTopUps: 0,
      pagesDonatedToPool: 0,
    };
    const boot = opts.bootPoolPages ?? 64;
    const r = this.topUp(boot);
    if (r.ret !== 0) throw new Error(`paravirt: the boot pool donation failed: ${r.reason ?? r.ret}`);
    this.driver = new SmmuDriver(directPort(smmu), mem, this.pool);
    this.driver.probe();
    this.driver.init();
  }

  /**
   * The host donates `pages` more pages to the hyp's pool (the pages right
   * after it). Fails when the host does not own them exclusively.
   */
  topUp(pages: number): HvcResult {
    if (!Number.isInteger(pages) || pages <= 0) return { ret: 'EINVAL', reason: 'a top-up needs a positive number of pages' };
    const start = this.pool.limit;
    const r = this.own.hostDonateHyp(start / PAGE, pages);
    if (!r.ok) return { ret: r.error, reason: `pool top-up: ${r.reason}` };
    this.pool.grow(start + BigInt(pages) * PAGE);
    this.counters.poolTopUps++;
    this.counters.pagesDonatedToPool += pages;
    return { ret: 0 };
  }

  get poolBytes(): bigint {
    return this.pool.limit - this.poolBase;
  }

  private done(call: HypercallName, args: Record<string, unknown>, result: HvcResult): HvcResult {
    this.counters.hypercalls++;
    this.counters.byCall[call]++;
    if (result.ret !== 0) this.counters.failed++;
    if (this.logging) this.log.push({ call, args, result });
    return result;
  }

  private domain(id: number): HypDomain | HvcResult {
    if (!Number.isInteger(id) || id < 0 || id >= this.maxDomains) return { ret: 'EINVAL', reason: `domain id ${id} is out of range` };
    const d = this.domains.get(id);
    if (!d) return { ret: 'ENOENT', reason: `domain ${id} is not allocated` };
    return d;
  }

  // -------------------------------------------------------------------------
  // Hypercalls

  alloc_domain(domainId: number, type: DomainStage): HvcResult {
    const args = { domain_id: domainId, type };
    if (!Number.isInteger(domainId) || domainId < 0 || domainId >= this.maxDomains) {
      return this.done('alloc_domain', args, { ret: 'EINVAL', reason: `domain id ${domainId} is out of range` });
    }
    if (type !== 's1' && type !== 's2') return this.done('alloc_domain', args, { ret: 'EINVAL', reason: `unknown domain type ${String(type)}` });
    if (this.domains.has(domainId)) return this.done('alloc_domain', args, { ret: 'EBUSY', reason: `domain ${domainId} is live` });
    try {
      const dom = this.driver.allocDomain(type);
      this.domains.set(domainId, { id: domainId, type, refs: 1, dom, devices: new Set() });
      return this.done('alloc_domain', args, { ret: 0 });
    } catch (e) {
      return this.done('alloc_domain', args, this.driverError(e));
    }
  }

  free_domain(domainId: number): HvcResult {
    const args = { domain_id: domainId };
    const d = this.domain(domainId);
    if (!('dom' in d)) return this.done('free_domain', args, d);
    if (d.refs !== 1) return this.done('free_domain', args, { ret: 'EBUSY', reason: `domain ${domainId} is attached to ${d.refs - 1} device(s)` });
    // Unpin every page still mapped: the TLBI context flush in freeDomain completes before the refcounts drop.
    const leaves = d.dom.pgtable.leaves();
    this.driver.freeDomain(d.dom);
    for (const l of leaves) this.unpin(l.pa, l.size, l.pte);
    d.refs = 0;
    this.domains.delete(domainId);
    return this.done('free_domain', args, { ret: 0 });
  }

  attach_dev(iommuId: number, domainId: number, sid: number, pasid: number, pasidBits: number): HvcResult {
    const args = { iommu_id: iommuId, domain_id: domainId, sid, pasid, pasid_bits: pasidBits };
    if (iommuId !== 0) return this.done('attach_dev', args, { ret: 'EINVAL', reason: `no SMMU with id ${iommuId}` });
    const d = this.domain(domainId);
    if (!('dom' in d)) return this.done('attach_dev', args, d);
    const f = this.smmu.f;
    if (!Number.isInteger(sid) || sid < 0 || sid >= 2 ** f.sidsize) return this.done('attach_dev', args, { ret: 'EINVAL', reason: `StreamID ${sid} is out of range` });
    if (!Number.isInteger(pasidBits) || pasidBits < 0 || pasidBits > f.ssidsize) {
      return this.done('attach_dev', args, { ret: 'EINVAL', reason: `pasid_bits ${pasidBits} is beyond the SMMU's ${f.ssidsize}` });
    }
    if (!Number.isInteger(pasid) || pasid < 0 || pasid >= Math.max(1, 2 ** pasidBits)) {
      return this.done('attach_dev', args, { ret: 'EINVAL', reason: `PASID ${pasid} is beyond ${pasidBits} PASID bits` });
    }
    const key = `${iommuId}:${sid}:${pasid}`;
    for (const other of this.domains.values()) {
      if (other.devices.has(key)) return this.done('attach_dev', args, { ret: 'EBUSY', reason: `SID ${sid} PASID ${pasid} is attached to domain ${other.id}` });
    }
    try {
      this.driver.attach(sid, d.dom, { ssid: pasid, pasidBits });
    } catch (e) {
      return this.done('attach_dev', args, this.driverError(e));
    }
    d.devices.add(key);
    d.refs++;
    return this.done('attach_dev', args, { ret: 0 });
  }

  detach_dev(iommuId: number, domainId: number, sid: number, pasid: number): HvcResult {
    const args = { iommu_id: iommuId, domain_id: domainId, sid, pasid };
    if (iommuId !== 0) return this.done('detach_dev', args, { ret: 'EINVAL', reason: `no SMMU with id ${iommuId}` });
    const d = this.domain(domainId);
    if (!('dom' in d)) return this.done('detach_dev', args, d);
    const key = `${iommuId}:${sid}:${pasid}`;
    if (!d.devices.has(key)) return this.done('detach_dev', args, { ret: 'EINVAL', reason: `SID ${sid} PASID ${pasid} is not attached to domain ${domainId}` });
    try {
      this.driver.detach(sid, { ssid: pasid });
    } catch (e) {
      return this.done('detach_dev', args, this.driverError(e));
    }
    d.devices.delete(key);
    d.refs--;
    return this.done('detach_dev', args, { ret: 0 });
  }

  map_pages(domainId: number, iova: bigint, paddr: bigint, pgsize: bigint, pgcount: number, prot: number): HvcResult {
    const args = { domain_id: domainId, iova, paddr, pgsize, pgcount, prot };
    return this.done('map_pages', args, this.mapOne(domainId, iova, paddr, pgsize, pgcount, prot));
  }

  private mapOne(domainId: number, iova: bigint, paddr: bigint, pgsize: bigint, pgcount: number, prot: number): HvcResult {
    const d = this.domain(domainId);
    if (!('dom' in d)) return d;
    if ((prot & ~VALID_PROT) !== 0) return { ret: 'EINVAL', reason: `prot 0x${prot.toString(16)} has bits outside READ|WRITE|CACHE|NOEXEC|MMIO|PRIV` };
    if (!(prot & (IOMMU_READ | IOMMU_WRITE))) return { ret: 'EINVAL', reason: 'prot grants neither read nor write' };
    const bitmap = d.dom.pgsizeBitmap;
    if (pgsize <= 0n || (pgsize & (pgsize - 1n)) !== 0n || (pgsize & bitmap) !== pgsize) {
      return { ret: 'EINVAL', reason: `pgsize 0x${pgsize.toString(16)} is not a page size of this domain` };
    }
    if (!Number.isInteger(pgcount) || pgcount <= 0) return { ret: 'EINVAL', reason: 'pgcount must be a positive integer' };
    const size = pgsize * BigInt(pgcount);
    if (iova < 0n || paddr < 0n || iova + size > U64 || paddr + size > U64) return { ret: 'EOVERFLOW', reason: 'iova or paddr + size wraps' };
    if (((iova | paddr) & (pgsize - 1n)) !== 0n) return { ret: 'EINVAL', reason: 'iova and paddr must be aligned to pgsize' };
    // Nothing may be mapped there already: io-pgtable would silently replace a table of live
    // leaves by a block, and their page references would leak.
    for (let va = iova; va < iova + size; ) {
      const { leaf, span } = d.dom.pgtable.lookup(va);
      if (leaf) return { ret: 'EEXIST', reason: `iova 0x${va.toString(16)} is already mapped` };
      va = (va & ~(span - 1n)) + span;
    }
    // Ownership before mapping: every page host-owned exclusively; RAM pages get a DMA reference.
    const mmio = (prot & IOMMU_MMIO) !== 0;
    const pin = this.pin(paddr, size, mmio);
    if (pin) return pin;
    let mapped = 0n;
    let va = iova;
    let pa = paddr;
    let left = pgcount;
    while (left > 0) {
      const r = d.dom.pgtable.mapPages(va, pa, pgsize, left, prot);
      mapped += r.mapped;
      left -= Number(r.mapped / pgsize);
      va += r.mapped;
      pa += r.mapped;
      if (r.error === 'ENOMEM') {
        // The pool ran dry: give back the references of what was not mapped; the host donates and retries.
        this.unpinRange(pa, size - mapped, mmio);
        return { ret: 0, value: mapped, memRequest: 8, reason: 'the hypervisor page pool is empty' };
      }
      if (r.error) {
        this.unpinRange(pa, size - mapped, mmio);
        return { ret: r.error === 'EEXIST' ? 'EEXIST' : r.error === 'ERANGE' ? 'ERANGE' : 'EINVAL', value: mapped, reason: `io-pgtable map_pages: ${r.error}` };
      }
      if (r.mapped === 0n) break;
    }
    return { ret: 0, value: mapped };
  }

  /** Check and take DMA references for [pa, pa+size): all or nothing. */
  private pin(pa: bigint, size: bigint, mmio: boolean): HvcResult | null {
    const pfn = pa / PAGE;
    const nr = (size + PAGE - 1n) / PAGE;
    if (mmio) {
      for (let p = pfn; p < pfn + nr; p++) {
        if (!this.own.isMmio(p) || !this.own.hostOwnsExclusively(p)) return { ret: 'EPERM', reason: `page 0x${(p * PAGE).toString(16)} is not host-owned MMIO` };
      }
      return null;
    }
    const r = this.own.dmaGet(pfn, nr);
    if (!r.ok) return { ret: r.error === 'EBUSY' ? 'EBUSY' : 'EPERM', reason: `ownership: ${r.reason}` };
    return null;
  }

  private unpinRange(pa: bigint, size: bigint, mmio: boolean): void {
    if (mmio || size <= 0n) return;
    const r = this.own.dmaPut(pa / PAGE, (size + PAGE - 1n) / PAGE);
    if (!r.ok) throw new Error(`paravirt: DMA refcount underflow at 0x${pa.toString(16)}: ${r.reason}`);
  }

  /** Drop the references of one removed leaf (after its invalidation completed). */
  private unpin(pa: bigint, size: bigint, pte: bigint): void {
    // A leaf mapped with IOMMU_MMIO carries Device attributes (S1 AttrIndx 2 / S2 MemAttr 1) and no reference.
    const idx = Number((pte >> 2n) & 0xfn);
    const isMmio = this.own.isMmio(pa / PAGE) && (idx === 2 || idx === 1);
    this.unpinRange(pa, size, isMmio);
  }

  unmap_pages(domainId: number, iova: bigint, pgsize: bigint, pgcount: number): HvcResult {
    const args = { domain_id: domainId, iova, pgsize, pgcount };
    const d = this.domain(domainId);
    if (!('dom' in d)) return this.done('unmap_pages', args, d);
    if (pgsize <= 0n || (pgsize & (pgsize - 1n)) !== 0n || (pgsize & d.dom.pgsizeBitmap) !== pgsize) {
      return this.done('unmap_pages', args, { ret: 'EINVAL', reason: `pgsize 0x${pgsize.toString(16)} is not a page size of this domain` });
    }
    if (!Number.isInteger(pgcount) || pgcount <= 0) return this.done('unmap_pages', args, { ret: 'EINVAL', reason: 'pgcount must be a positive integer' });
    const size = pgsize * BigInt(pgcount);
    if (iova < 0n || iova + size > U64) return this.done('unmap_pages', args, { ret: 'EOVERFLOW', reason: 'iova + size wraps' });
    if ((iova & (pgsize - 1n)) !== 0n) return this.done('unmap_pages', args, { ret: 'EINVAL', reason: 'iova must be aligned to pgsize' });
    // Record what is mapped before removing it: references drop only after TLBI + CMD_SYNC.
    const removed: Array<{ va: bigint; pa: bigint; size: bigint; pte: bigint }> = [];
    for (let va = iova; va < iova + size; ) {
      // Empty regions are skipped a whole table entry at a time, so a huge range costs what is mapped in it.
      const { leaf: t, span } = d.dom.pgtable.lookup(va);
      const regionEnd = (va & ~(span - 1n)) + span;
      if (!t) {
        va = regionEnd;
        continue;
      }
      const end = regionEnd < iova + size ? regionEnd : iova + size;
      removed.push({ va, pa: t.phys, size: end - va, pte: t.pte });
      va = end;
    }
    const unmapped = this.driver.unmap(d.dom, iova, size);
    // Unpin exactly the leaves now gone: io-pgtable reports [iova, iova + unmapped) as removed
    // (a freed table counts whole, holes included); leaves past it are still mapped and stay pinned.
    const stop = iova + unmapped;
    for (const r of removed) {
      if (r.va >= stop) break;
      const n = r.va + r.size <= stop ? r.size : stop - r.va;
      this.unpin(r.pa, n, r.pte);
    }
    return this.done('unmap_pages', args, { ret: 0, value: unmapped });
  }

  iova_to_phys(domainId: number, iova: bigint): HvcResult {
    const args = { domain_id: domainId, iova };
    const d = this.domain(domainId);
    if (!('dom' in d)) return this.done('iova_to_phys', args, d);
    const t = d.dom.pgtable.iovaToPhys(iova);
    return this.done('iova_to_phys', args, { ret: 0, value: t ? t.phys : 0n });
  }

  /** Many mappings in one hypercall: stops at the first failure, returning the bytes mapped so far. */
  map_sg(domainId: number, iova: bigint, list: ReadonlyArray<{ phys: bigint; pgsize: bigint; pgcount: number }>, prot: number): HvcResult {
    const args = { domain_id: domainId, iova, entries: list.length, prot };
    let total = 0n;
    let va = iova;
    for (const e of list) {
      const r = this.mapOne(domainId, va, e.phys, e.pgsize, e.pgcount, prot);
      total += r.value ?? 0n;
      if (r.ret !== 0 || r.memRequest !== undefined) return this.done('map_sg', args, { ...r, value: total });
      va += e.pgsize * BigInt(e.pgcount);
    }
    return this.done('map_sg', args, { ret: 0, value: total });
  }

  private driverError(e: unknown): HvcResult {
    if (e instanceof SmmuDriverError) {
      const errno: HypErrno = e.errno === 'ENOMEM' ? 'ENOMEM' : e.errno === 'EBUSY' ? 'EBUSY' : e.errno === 'ENODEV' ? 'ENODEV' : 'EINVAL';
      return errno === 'ENOMEM' ? { ret: errno, reason: e.message, memRequest: 8 } : { ret: errno, reason: e.message };
    }
    throw e;
  }

  /** Live domains, for views and the invariant checker. */
  liveDomains(): Array<{ id: number; type: DomainStage; refs: number; devices: string[]; domain: SmmuDomain }> {
    return [...this.domains.values()].map((d) => ({ id: d.id, type: d.type, refs: d.refs, devices: [...d.devices], domain: d.dom }));
  }
}
