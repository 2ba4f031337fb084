import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from '../memory';
import { Smmu } from '../smmu/smmu';
import { checkInvariants } from './invariants';
import { IdentityHyp } from './identity';
import { PageOwnership } from './ownership';

function machine() {
  const ram = [{ base: 0x4000_0000n, size: 0x4000_0000n }];
  const mem = new PhysicalMemory(ram);
  const smmu = new Smmu(mem);
  const own = new PageOwnership({ ram });
  const hyp = new IdentityHyp(mem, smmu, own, { poolBase: 0x7f00_0000n, poolPages: 256, sids: [1, 2] });
  const dma = (sid: number, pa: bigint, access: 'read' | 'write' = 'read') => smmu.translate({ sid, iova: pa, access, priv: true });
  return { mem, smmu, own, hyp, dma };
}

describe('pinned identity stage 2', () => {
  it('devices see physical addresses: DMA to any host page works with no map call', () => {
    const { dma, hyp } = machine();
    const r = dma(1, 0x4123_4560n, 'write');
    expect(r).toMatchObject({ kind: 'ok', pa: 0x4123_4560n });
    expect(dma(2, 0x7eff_f000n)).toMatchObject({ kind: 'ok', pa: 0x7eff_f000n });
    // All host RAM is pinned: 1 GiB minus the hyp pool.
    expect(hyp.pinnedBytes).toBe(0x4000_0000n - 256n * 4096n);
  });

  it('the hyp pool is not reachable', () => {
    const { dma } = machine();
    const r = dma(1, 0x7f00_0000n);
    expect(r.kind).toBe('fault');
    if (r.kind === 'fault') expect(r.event).toMatchObject({ type: 'F_TRANSLATION', s2: true });
  });

  it('donating a page to a guest unmaps it from the identity S2 (with invalidation), returning it maps it back', () => {
    const { dma, own, hyp, smmu } = machine();
    expect(dma(1, 0x4020_0000n).kind).toBe('ok'); // now cached in the IOTLB
    const syncs = smmu.stats.syncs;
    expect(own.hostDonateGuest(0x40200, 16, 1).ok).toBe(true);
    expect(smmu.stats.syncs).toBeGreaterThan(syncs);
    expect(hyp.counters.s2Unmaps).toBe(1);
    const r = dma(1, 0x4020_0000n);
    expect(r.kind).toBe('fault');
    if (r.kind === 'fault') expect(r.event).toMatchObject({ type: 'F_TRANSLATION', s2: true, cls: 'IN' });
    // The neighbours of the donated range are still reachable (the 1G/2M blocks were split).
    expect(dma(1, 0x401f_f000n).kind).toBe('ok');
    expect(dma(1, 0x4021_0000n).kind).toBe('ok');
    expect(checkInvariants(smmu, own).ok).toBe(true);
    expect(own.guestReturnHost(0x40200, 16, 1).ok).toBe(true);
    expect(dma(1, 0x4020_0000n).kind).toBe('ok');
  });

  it('unattached StreamIDs abort', () => {
    const { dma } = machine();
    expect(dma(9, 0x4000_0000n).kind).toBe('abort');
  });
});
