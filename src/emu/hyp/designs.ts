/**
 * The designs compared on one workload, each on a fresh machine with the
 * same RAM and device: the unprotected kernel driver (baseline), paravirt
 * I/O page tables, nested trap-and-emulate, and pinned identity S2. Each
 * exposes the host's DMA API (map a buffer, unmap it) and counts what it
 * costs, taken from the running components.
 */

import { IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE } from '../iopgtable';
import { PhysicalMemory, TableAllocator } from '../memory';
import { type SmmuDomain, SmmuDriver, directPort, iommuPgsize } from '../host/smmu-driver';
import { Smmu, TN_BYPASS } from '../smmu/smmu';
import type { SmmuFeatures } from '../smmu/features';
import { ACC_READ, ACC_WRITE } from '../walk';
import { type CostCounts, zeroCounts } from './cost';
import { IdentityHyp } from './identity';
import { NestedHyp } from './nested';
import { PageOwnership } from './ownership';
import { ParavirtHyp } from './paravirt';

export type DesignName = 'kernel' | 'paravirt' | 'nested' | 'identity';

export interface DesignProperties {
  hostIsolation: boolean;
  guestIsolation: boolean;
  hostIovaSpace: boolean;
  svaPossible: boolean;
  noPinningNeeded: boolean;
}

export const PROPERTIES: Readonly<Record<DesignName, DesignProperties>> = Object.freeze({
  kernel: { hostIsolation: false, guestIsolation: false, hostIovaSpace: true, svaPossible: true, noPinningNeeded: true },
  paravirt: { hostIsolation: true, guestIsolation: true, hostIovaSpace: true, svaPossible: false, noPinningNeeded: true },
  nested: { hostIsolation: true, guestIsolation: true, hostIovaSpace: true, svaPossible: true, noPinningNeeded: true },
  identity: { hostIsolation: false, guestIsolation: true, hostIovaSpace: false, svaPossible: false, noPinningNeeded: false },
});

/** The machine every design runs on. */
export const MACHINE = Object.freeze({
  ram: { base: 0x4000_0000n, size: 0x8000_0000n },
  /** Host pages used for DMA buffers start here. */
  bufferBase: 0x5000_0000n,
  /** Host memory for the host driver's own tables (kernel and nested). */
  hostTables: { base: 0x4000_0000n, limit: 0x4800_0000n },
  /** The hyp's pool (paravirt, identity) and private memory. */
  hypPool: 0xb000_0000n,
  sid: 1,
});

export interface DesignOptions {
  features?: Partial<SmmuFeatures>;
}

export interface Design {
  readonly name: DesignName;
  readonly smmu: Smmu;
  readonly own: PageOwnership;
  /** Map a buffer for DMA; the IOVA the device uses. */
  map(pa: bigint, size: bigint, iova: bigint): bigint;
  /** Unmap a buffer (its invalidation completes before this returns). */
  unmap(iova: bigint, size: bigint): void;
  /**
   * Unmap several buffers as one batch. Where the design allows it the
   * invalidation is shared (the kernel's flush queue: one context TLBI and
   * one CMD_SYNC per batch); paravirt cannot, since the hyp must invalidate
   * before it drops each buffer's page references.
   */
  unmapBatch(list: ReadonlyArray<readonly [bigint, bigint]>): void;
  /** One DMA access by the device: the result code of Smmu.translateN. */
  dma(iova: bigint, write: boolean): number;
  /** Counts so far. */
  counts(): CostCounts;
  pinnedBytes(): bigint;
}

function machine(opts: DesignOptions): { mem: PhysicalMemory; smmu: Smmu; own: PageOwnership } {
  const ram = [{ base: MACHINE.ram.base, size: MACHINE.ram.size }];
  const mem = new PhysicalMemory(ram);
  const smmu = new Smmu(mem, opts.features ?? {});
  const own = new PageOwnership({ ram });
  return { mem, smmu, own };
}

function smmuCounts(smmu: Smmu, c: CostCounts): CostCounts {
  // CMD_SYNCs are charged as waits, not as commands.
  c.commands = smmu.stats.commands - smmu.stats.syncs;
  c.syncs = smmu.stats.syncs;
  c.walkReads = smmu.stats.walkReads;
  c.iotlbHits = smmu.stats.tlbHits;
  c.iotlbMisses = smmu.stats.tlbMisses;
  return c;
}

/** PTEs a map/unmap of `size` at iova/pa writes (iommu_pgsize decomposition). */
export function pteCount(bitmap: bigint, iova: bigint, pa: bigint, size: bigint): number {
  let n = 0;
  let left = size;
  while (left > 0n) {
    const { pgsize, count } = iommuPgsize(bitmap, iova, pa, left);
    n += Number(count);
    const step = pgsize * count;
    iova += step;
    pa += step;
    left -= step;
  }
  return n;
}

abstract class Base implements Design {
  abstract readonly name: DesignName;
  protected readonly c: CostCounts = zeroCounts();
  constructor(
    readonly smmu: Smmu,
    readonly own: PageOwnership,
  ) {}
  abstract map(pa: bigint, size: bigint, iova: bigint): bigint;
  abstract unmap(iova: bigint, size: bigint): void;
  unmapBatch(list: ReadonlyArray<readonly [bigint, bigint]>): void {
    for (const [iova, size] of list) this.unmap(iova, size);
  }
  dma(iova: bigint, write: boolean): number {
    const r = this.smmu.translateN(MACHINE.sid, -1, Number(iova >> 32n), Number(iova & 0xffffffffn), write ? ACC_WRITE : ACC_READ, true);
    return r;
  }
  counts(): CostCounts {
    return smmuCounts(this.smmu, { ...this.c });
  }
  abstract pinnedBytes(): bigint;
}

/** A design where the host's own arm-smmu-v3 driver maps and unmaps (through some MMIO port). */
abstract class DriverDesign extends Base {
  protected abstract readonly driver: SmmuDriver;
  protected abstract readonly d: SmmuDomain;
  /** Set up the driver: probe, init, one stage-1 domain attached to the device. */
  protected start(): SmmuDomain {
    this.driver.probe();
    this.driver.init();
    const d = this.driver.allocDomain('s1');
    this.driver.attach(MACHINE.sid, d);
    return d;
  }
  map(pa: bigint, size: bigint, iova: bigint): bigint {
    this.c.dmaCalls++;
    this.c.ptes += pteCount(this.d.pgsizeBitmap, iova, pa, size);
    const r = this.driver.map(this.d, iova, pa, size, IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE);
    if (r.error) throw new Error(`${this.name} map: ${r.error}`);
    return iova;
  }
  unmap(iova: bigint, size: bigint): void {
    this.c.dmaCalls++;
    this.c.ptes += pteCount(this.d.pgsizeBitmap, iova, iova, size);
    this.driver.unmap(this.d, iova, size);
  }
  /** The flush queue: PTEs cleared without per-buffer invalidation, then one context TLBI + CMD_SYNC. */
  override unmapBatch(list: ReadonlyArray<readonly [bigint, bigint]>): void {
    if (list.length === 1) return this.unmap(list[0][0], list[0][1]);
    for (const [iova, size] of list) {
      this.c.dmaCalls++;
      this.c.ptes += pteCount(this.d.pgsizeBitmap, iova, iova, size);
      this.driver.unmapQueued(this.d, iova, size);
    }
    this.driver.flushQueue(this.d);
  }
  pinnedBytes(): bigint {
    return 0n;
  }
}

/** The host kernel driving the SMMU itself: no protection (the baseline). */
class KernelDesign extends DriverDesign {
  readonly name = 'kernel' as const;
  protected readonly driver: SmmuDriver;
  protected readonly d: SmmuDomain;
  constructor(opts: DesignOptions) {
    const { mem, smmu, own } = machine(opts);
    super(smmu, own);
    this.driver = new SmmuDriver(directPort(smmu), mem, new TableAllocator(mem, MACHINE.hostTables.base, MACHINE.hostTables.limit));
    this.d = this.start();
  }
}

/** Paravirtual I/O page tables: one hypercall per map / unmap. */
class ParavirtDesign extends Base {
  readonly name = 'paravirt' as const;
  readonly hyp: ParavirtHyp;
  constructor(opts: DesignOptions) {
    const { mem, smmu, own } = machine(opts);
    super(smmu, own);
    this.hyp = new ParavirtHyp(mem, smmu, own, { poolBase: MACHINE.hypPool, bootPoolPages: 256 });
    this.hyp.logging = false;
    this.hyp.alloc_domain(0, 's1');
    this.hyp.attach_dev(0, 0, MACHINE.sid, 0, 0);
  }
  map(pa: bigint, size: bigint, iova: bigint): bigint {
    this.c.dmaCalls++;
    const bitmap = this.hyp.liveDomains()[0].domain.pgsizeBitmap;
    let left = size;
    let va = iova;
    let p = pa;
    while (left > 0n) {
      const { pgsize, count } = iommuPgsize(bitmap, va, p, left);
      let done = 0n;
      while (done < count) {
        const r = this.hyp.map_pages(0, va + done * pgsize, p + done * pgsize, pgsize, Number(count - done), IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE);
        this.c.hypercalls++;
        if (r.ret !== 0) throw new Error(`paravirt map: ${r.ret} ${r.reason ?? ''}`);
        const n = (r.value ?? 0n) / pgsize;
        this.c.ptes += Number(n);
        this.c.hypPinnedPages += Number((n * pgsize) / 4096n);
        done += n;
        if (r.memRequest !== undefined) {
          const t = this.hyp.topUp(r.memRequest);
          if (t.ret !== 0) throw new Error(`paravirt top-up: ${t.reason ?? t.ret}`);
        } else if (n === 0n) throw new Error('paravirt map made no progress');
      }
      va += count * pgsize;
      p += count * pgsize;
      left -= count * pgsize;
    }
    return iova;
  }
  unmap(iova: bigint, size: bigint): void {
    this.c.dmaCalls++;
    const bitmap = this.hyp.liveDomains()[0].domain.pgsizeBitmap;
    let left = size;
    let va = iova;
    while (left > 0n) {
      const { pgsize, count } = iommuPgsize(bitmap, va, va, left);
      const r = this.hyp.unmap_pages(0, va, pgsize, Number(count));
      this.c.hypercalls++;
      this.c.hypUnmapCalls++;
      this.c.ptes += Number(count);
      this.c.hypUnpinnedPages += Number(((r.value ?? 0n) + 4095n) / 4096n);
      va += count * pgsize;
      left -= count * pgsize;
    }
  }
  pinnedBytes(): bigint {
    return BigInt(this.own.stats().dmaPinnedPages ?? 0) * 4096n;
  }
}

/** Pinned identity S2: no host IOVA space, map and unmap cost nothing. */
class IdentityDesign extends Base {
  readonly name = 'identity' as const;
  readonly hyp: IdentityHyp;
  constructor(opts: DesignOptions) {
    const { mem, smmu, own } = machine(opts);
    super(smmu, own);
    this.hyp = new IdentityHyp(mem, smmu, own, { poolBase: MACHINE.hypPool, poolPages: 1024, sids: [MACHINE.sid] });
  }
  map(pa: bigint): bigint {
    this.c.dmaCalls++;
    return pa; // devices see physical addresses
  }
  unmap(): void {
    this.c.dmaCalls++;
  }
  pinnedBytes(): bigint {
    return this.hyp.pinnedBytes;
  }
}

/** Nested trap and emulate: the host's ordinary driver, its register accesses and command queue trapped by the hyp. */
class NestedDesign extends DriverDesign {
  readonly name = 'nested' as const;
  readonly hyp: NestedHyp;
  protected readonly driver: SmmuDriver;
  protected readonly d: SmmuDomain;
  constructor(opts: DesignOptions & { vcmdq?: boolean }) {
    const { mem, smmu, own } = machine(opts);
    super(smmu, own);
    this.hyp = new NestedHyp(mem, smmu, own, { poolBase: MACHINE.hypPool, bootPoolPages: 1024, vcmdq: opts.vcmdq ?? false, logMmio: false, maxLog: 1000 });
    this.driver = new SmmuDriver(this.hyp.hostPort(), mem, new TableAllocator(mem, MACHINE.hostTables.base, MACHINE.hostTables.limit), { logMmio: false, maxLog: 1000 });
    this.d = this.start();
  }
  override counts(): CostCounts {
    const c = super.counts();
    const n = this.hyp.counters;
    c.mmioTraps = n.mmioTraps.reads + n.mmioTraps.writes;
    c.commandsEmulated = n.commandsEmulated;
    return c;
  }
}

export type DesignFactory = (opts: DesignOptions) => Design;

/** The designs, by name. */
export const DESIGNS: Partial<Record<DesignName, DesignFactory>> = {
  kernel: (o) => new KernelDesign(o),
  paravirt: (o) => new ParavirtDesign(o),
  identity: (o) => new IdentityDesign(o),
  nested: (o) => new NestedDesign(o),
};

export function makeDesign(name: DesignName, opts: DesignOptions = {}): Design {
  const f = DESIGNS[name];
  if (!f) throw new Error(`design ${name} is not available`);
  return f(opts);
}

export { TN_BYPASS };
