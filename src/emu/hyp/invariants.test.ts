import { describe, expect, it } from 'vitest';
import { encodeS1Leaf } from '../descriptor';
import { IOMMU_READ, IOMMU_WRITE } from '../iopgtable';
import { PhysicalMemory } from '../memory';
import { Smmu } from '../smmu/smmu';
import { checkInvariants } from './invariants';
import { PageOwnership } from './ownership';
import { ParavirtHyp } from './paravirt';

function machine() {
  const ram = [{ base: 0x4000_0000n, size: 0x4000_0000n }];
  const mem = new PhysicalMemory(ram);
  const smmu = new Smmu(mem);
  const own = new PageOwnership({ ram });
  const hyp = new ParavirtHyp(mem, smmu, own, { poolBase: 0x7000_0000n, bootPoolPages: 64 });
  const check = () => checkInvariants(smmu, own, { refcountedTables: hyp.liveDomains().map((d) => d.domain.pgtable), pools: [hyp.pool] });
  return { mem, smmu, own, hyp, check };
}

describe('invariant checker', () => {
  it('holds through a paravirt map / unmap / detach / free life cycle', () => {
    const { hyp, check } = machine();
    expect(check()).toEqual({ ok: true, violations: [] });
    expect(hyp.alloc_domain(1, 's1').ret).toBe(0);
    expect(hyp.attach_dev(0, 1, 5, 0, 0).ret).toBe(0);
    expect(hyp.map_pages(1, 0x10_0000n, 0x4010_0000n, 0x1000n, 16, IOMMU_READ | IOMMU_WRITE).ret).toBe(0);
    expect(hyp.map_pages(1, 0x20_0000n, 0x4020_0000n, 0x20_0000n, 1, IOMMU_READ).ret).toBe(0);
    expect(check().ok).toBe(true);
    expect(hyp.unmap_pages(1, 0x10_0000n, 0x1000n, 8).ret).toBe(0);
    expect(check().ok).toBe(true);
    expect(hyp.detach_dev(0, 1, 5, 0).ret).toBe(0);
    expect(hyp.free_domain(1).ret).toBe(0);
    expect(check().ok).toBe(true);
  });

  it('finds a leaf reaching hyp memory by reading the tables, not the bookkeeping', () => {
    const { mem, hyp, check } = machine();
    hyp.alloc_domain(1, 's1');
    hyp.attach_dev(0, 1, 5, 0, 0);
    hyp.map_pages(1, 0x10_0000n, 0x4010_0000n, 0x1000n, 1, IOMMU_READ);
    // Corrupt the leaf behind the hyp's back: point it at the hyp's pool.
    const pgt = hyp.liveDomains()[0].domain.pgtable;
    const l3 = pgt.tables().find((t) => t.level === 3)!.addr;
    mem.write64(l3 + 0x100n * 8n, encodeS1Leaf(0x7000_0000n, 4096, 3, { af: true, ap: 1, nG: true }));
    const r = check();
    expect(r.ok).toBe(false);
    expect(r.violations.some((x) => x.kind === 'reach' && x.sid === 5 && x.pa === 0x7000_0000n)).toBe(true);
    // The refcount check sees the page mapped without a reference too.
    expect(r.violations.some((x) => x.kind === 'refcount')).toBe(true);
  });

  it('finds a refcount that does not match the mappings', () => {
    const { own, hyp, check } = machine();
    hyp.alloc_domain(1, 's2');
    hyp.map_pages(1, 0x1000n, 0x4000_1000n, 0x1000n, 1, IOMMU_READ);
    expect(check().ok).toBe(true);
    own.dmaGet(0x40001, 1);
    const r = check();
    expect(r.violations).toEqual([expect.objectContaining({ kind: 'refcount', pa: 0x4000_1000n })]);
  });

  it('reports a bypassing stream', () => {
    const { mem, smmu, own, hyp } = machine();
    hyp.alloc_domain(1, 's1');
    expect(hyp.attach_dev(0, 1, 7, 0, 0).ret).toBe(0);
    expect(checkInvariants(smmu, own).ok).toBe(true);
    // Rewrite SID 7's STE in memory as bypass (V = 1, Config = 0b100).
    const ste = hyp.driver.steAddr(7);
    mem.write64(ste, 0x9n);
    const r = checkInvariants(smmu, own);
    expect(r.violations).toEqual([expect.objectContaining({ kind: 'bypass', sid: 7 })]);
  });
});
