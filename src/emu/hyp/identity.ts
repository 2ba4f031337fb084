/**
 * pKVM pinned identity stage 2 (the v3 series / the review's proposal): no
 * host IOVA space. The hypervisor keeps one stage-2 table that is an
 * identity map of everything the host owns (RAM and MMIO) and points every
 * device's STE at it (Config = S2 only, so devices see physical addresses).
 * Host map and unmap cost nothing; giving a page away from the host (to the
 * hyp or a guest) costs a stage-2 unmap, a TLBI and a CMD_SYNC.
 *
 * It protects the hypervisor and guests from host devices, not the host from
 * its own devices, and a guest using it would need all its memory pinned.
 */

import { IOMMU_CACHE, IOMMU_MMIO, IOMMU_READ, IOMMU_WRITE } from '../iopgtable';
import type { PhysicalMemory } from '../memory';
import { TableAllocator } from '../memory';
import { type SmmuDomain, SmmuDriver, directPort } from '../host/smmu-driver';
import type { Smmu } from '../smmu/smmu';
import type { OwnershipChange, PageOwnership } from './ownership';

const PAGE = 4096n;

export interface IdentityOptions {
  /** Where the hyp's pool starts (the host donates pages from here at boot). */
  poolBase: bigint;
  poolPages?: number;
  /** StreamIDs of the devices to give identity DMA. */
  sids: number[];
}

export interface IdentityCounters {
  s2Maps: number;
  s2Unmaps: number;
  /** Bytes removed from / returned to the identity map. */
  bytesUnmapped: bigint;
  bytesMapped: bigint;
}

export class IdentityHyp {
  readonly driver: SmmuDriver;
  readonly pool: TableAllocator;
  readonly domain: SmmuDomain;
  readonly counters: IdentityCounters = { s2Maps: 0, s2Unmaps: 0, bytesUnmapped: 0n, bytesMapped: 0n };
  private readonly unsubscribe: () => void;

  constructor(
    readonly mem: PhysicalMemory,
    readonly smmu: Smmu,
    readonly own: PageOwnership,
    opts: IdentityOptions,
  ) {
    const pages = opts.poolPages ?? 1024;
    const r = own.hostDonateHyp(opts.poolBase / PAGE, pages);
    if (!r.ok) throw new Error(`identity: boot pool donation failed: ${r.reason}`);
    this.pool = new TableAllocator(mem, opts.poolBase, opts.poolBase + BigInt(pages) * PAGE);
    this.driver = new SmmuDriver(directPort(smmu), mem, this.pool);
    this.driver.probe();
    this.driver.init();
    this.domain = this.driver.allocDomain('s2');
    // Mirror the host's view: every range the host can access, identity-mapped.
    for (const reg of own.regions()) {
      if (reg.owner === 'host' || reg.sharedWith === 'host') this.mapRange(reg.base, reg.size, reg.mmio);
    }
    for (const sid of opts.sids) this.driver.attach(sid, this.domain);
    this.unsubscribe = own.onChange((c) => this.onOwnership(c));
  }

  /**
   * Host ranges that should be in the identity map but are not, because the
   * pool ran dry: devices cannot reach them (the safe direction) until a
   * top-up lets the hyp map them back.
   */
  private degraded: Array<[bigint, bigint]> = [];

  private mapRange(base: bigint, size: bigint, mmio: boolean): void {
    const prot = mmio ? IOMMU_READ | IOMMU_WRITE | IOMMU_MMIO : IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE;
    const r = this.driver.map(this.domain, base, base, size, prot);
    if (r.error) {
      // iommu_map unrolled the partial mapping: remember the range and map it after a top-up.
      this.degraded.push([base, base + size]);
      return;
    }
    this.counters.s2Maps++;
    this.counters.bytesMapped += size;
  }

  /** Map every host-accessible part of [start, end) (at boot, on a return, or after a forced block unmap). */
  private mapHostParts(start: bigint, end: bigint): void {
    for (const reg of this.own.regions(Number(start / PAGE), Number(end / PAGE))) {
      if (reg.owner !== 'host' && reg.sharedWith !== 'host') continue;
      const b = reg.base > start ? reg.base : start;
      const e = reg.base + reg.size < end ? reg.base + reg.size : end;
      if (e > b) this.mapRange(b, e - b, reg.mmio);
    }
  }

  private onOwnership(c: OwnershipChange): void {
    if (c.hostAccess === 'lost') {
      // The page leaves the host: remove it from the identity map; the driver's unmap issues TLBI_S2_IPA + CMD_SYNC.
      const got = this.driver.unmap(this.domain, c.base, c.size);
      this.counters.s2Unmaps++;
      this.counters.bytesUnmapped += c.size;
      if (got < c.size) this.forceUnmap(c.base, c.size);
      // The donated pages leave the degraded list; the rest of each range stays to be mapped back.
      const lo = c.base;
      const hi = c.base + c.size;
      this.degraded = this.degraded.flatMap(([b, e]): Array<[bigint, bigint]> => {
        if (e <= lo || b >= hi) return [[b, e]];
        const parts: Array<[bigint, bigint]> = [];
        if (b < lo) parts.push([b, lo]);
        if (e > hi) parts.push([hi, e]);
        return parts;
      });
    } else if (c.hostAccess === 'gained') {
      this.mapHostParts(c.base, c.base + c.size);
    }
  }

  /**
   * Splitting a block needs a table page; when the pool is dry the split
   * fails and the page would stay mapped. Remove every leaf overlapping the
   * range whole (no table needed), then map back what the host still owns
   * around it, as far as the pool allows.
   */
  private forceUnmap(base: bigint, size: bigint): void {
    const pgt = this.domain.pgtable;
    const blocks: Array<[bigint, bigint]> = [];
    for (let va = base; va < base + size; ) {
      const { leaf, span } = pgt.lookup(va);
      const start = va & ~(span - 1n);
      if (leaf) {
        this.driver.unmap(this.domain, start, span);
        blocks.push([start, start + span]);
      }
      va = start + span;
    }
    for (const [b, e] of blocks) this.mapHostParts(b, e);
  }

  /** The host donates `pages` more pages to the pool (right after it); degraded ranges are mapped back. */
  topUp(pages: number): boolean {
    const start = this.pool.limit;
    if (!this.own.hostDonateHyp(start / PAGE, pages).ok) return false;
    this.pool.grow(start + BigInt(pages) * PAGE);
    const todo = this.degraded;
    this.degraded = [];
    for (const [b, e] of todo) this.mapHostParts(b, e);
    return true;
  }

  /** Host ranges the identity map lacks for want of pool memory. */
  get degradedRanges(): ReadonlyArray<readonly [bigint, bigint]> {
    return this.degraded;
  }

  /** Stop following ownership changes. */
  dispose(): void {
    this.unsubscribe();
  }

  /** Bytes a device can reach: everything the host owns is pinned for DMA at all times. */
  get pinnedBytes(): bigint {
    let n = 0n;
    for (const l of this.domain.pgtable.leaves()) n += l.size;
    return n;
  }
}
