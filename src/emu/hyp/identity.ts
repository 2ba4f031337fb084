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

  private mapRange(base: bigint, size: bigint, mmio: boolean): void {
    const prot = mmio ? IOMMU_READ | IOMMU_WRITE | IOMMU_MMIO : IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE;
    const r = this.driver.map(this.domain, base, base, size, prot);
    if (r.error) throw new Error(`identity: cannot map 0x${base.toString(16)}+0x${size.toString(16)}: ${r.error}`);
    this.counters.s2Maps++;
    this.counters.bytesMapped += size;
  }

  private onOwnership(c: OwnershipChange): void {
    if (c.hostAccess === 'lost') {
      // The page leaves the host: remove it from the identity map; the driver's unmap issues TLBI_S2_IPA + CMD_SYNC.
      this.driver.unmap(this.domain, c.base, c.size);
      this.counters.s2Unmaps++;
      this.counters.bytesUnmapped += c.size;
    } else if (c.hostAccess === 'gained') {
      this.mapRange(c.base, c.size, this.own.isMmio(c.base / PAGE));
    }
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
