import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from '../memory';
import {
  GUEST_OPS,
  MAX_PFN,
  OWNERSHIP_OPS,
  PKVM_NOPAGE,
  PKVM_PAGE_OWNED,
  PKVM_PAGE_SHARED_BORROWED,
  PKVM_PAGE_SHARED_OWNED,
  PageOwnership,
  bytesToPages,
  type OwnershipChange,
  type OwnershipOp,
  type OwnershipResult,
  type PageState,
} from './ownership';

// RAM0 [2 GiB, 3 GiB), MMIO right after it (64 KiB), a gap, RAM1 [4 GiB, 5 GiB),
// and a UART-like MMIO page far below.
const RAM0 = 0x80000; // pfn
const RAM0_END = 0xc0000;
const MMIO0 = RAM0_END; // adjacent to RAM0
const MMIO0_END = MMIO0 + 16;
const RAM1 = 0x100000;
const RAM1_END = 0x140000;
const UART = 0x9000;

function machine(): PageOwnership {
  return new PageOwnership({
    ram: [
      { base: 0x8000_0000n, size: 0x4000_0000n },
      { base: 0x1_0000_0000n, size: 0x4000_0000n },
    ],
    mmio: [
      { base: BigInt(MMIO0) << 12n, size: 0x10000n },
      { base: BigInt(UART) << 12n, size: 0x1000n },
    ],
  });
}

function expectErr(r: OwnershipResult, error: string, pfn?: number): void {
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.error).toBe(error);
  expect(typeof r.reason).toBe('string');
  if (pfn !== undefined) expect(r.pfn).toBe(pfn);
}

function expectOk(r: OwnershipResult): void {
  expect(r).toEqual({ ok: true });
}

describe('boot state', () => {
  it('host owns all RAM and MMIO; hyp and guests own nothing', () => {
    const o = machine();
    for (const p of [RAM0, RAM0_END - 1, RAM1, RAM1 + 12345, MMIO0, UART]) {
      const s = o.state(p);
      expect(s.tracked).toBe(true);
      expect(s.host).toBe(PKVM_PAGE_OWNED);
      expect(s.hyp).toBe(PKVM_NOPAGE);
      expect(s.guests).toEqual([]);
      expect(s.dmaRefcount).toBe(0);
      expect(o.owner(p)).toBe('host');
      expect(o.hostCanAccess(p)).toBe(true);
      expect(o.hostOwnsExclusively(p)).toBe(true);
    }
    expect(o.isMmio(MMIO0)).toBe(true);
    expect(o.isMmio(UART)).toBe(true);
    expect(o.isMmio(RAM0)).toBe(false);
    expect(o.stateIn(RAM0, { guest: 1 })).toBe(PKVM_NOPAGE);
  });

  it('pages outside RAM and MMIO are untracked and owned by none', () => {
    const o = machine();
    for (const p of [0, RAM0 - 1, MMIO0_END, RAM1_END, MAX_PFN - 1, -1, 1.5]) {
      expect(o.owner(p)).toBe('none');
      expect(o.isTracked(p)).toBe(false);
      expect(o.hostCanAccess(p)).toBe(false);
      expect(o.state(p).tracked).toBe(false);
      expect(o.state(p).host).toBe(PKVM_NOPAGE);
    }
  });

  it('regions() lists the declared ranges', () => {
    const o = machine();
    const rs = o.regions();
    expect(rs.map((r) => [r.pfn, r.nr, r.mmio])).toEqual([
      [UART, 1, true],
      [RAM0, RAM0_END - RAM0, false],
      [MMIO0, 16, true],
      [RAM1, RAM1_END - RAM1, false],
    ]);
    expect(rs[1].base).toBe(0x8000_0000n);
    expect(rs[1].size).toBe(0x4000_0000n);
    expect(rs.every((r) => r.owner === 'host' && r.sharedWith === null && !r.dmaPinned)).toBe(true);
  });

  it('whole 52-bit RAM (ram: null) is one run; building it does not touch pages', () => {
    const o = new PageOwnership({ ram: null, mmio: [{ base: 0x900_0000n, size: 0x1000n }] });
    expect(o.runCount).toBe(3);
    expect(o.owner(MAX_PFN - 1)).toBe('host');
    expect(o.isMmio(0x9000)).toBe(true);
    expectOk(o.hostDonateGuest(MAX_PFN - 4, 4, 1));
    expect(o.regions().length).toBe(4);
  });

  it('fromMemory takes the RAM ranges of a PhysicalMemory', () => {
    const mem = new PhysicalMemory([{ base: 0x4000_0000n, size: 0x10_0000n }]);
    const o = PageOwnership.fromMemory(mem, [{ base: 0x900_0000n, size: 0x1000n }]);
    expect(o.stats().ramPages).toBe(256);
    expect(o.stats().mmioPages).toBe(1);
  });

  it('rejects bad layouts with RangeError', () => {
    expect(() => new PageOwnership({ ram: [{ base: 0x1000n, size: 0x800n }] })).toThrow(RangeError);
    expect(() => new PageOwnership({ ram: [{ base: 0x800n, size: 0x1000n }] })).toThrow(RangeError);
    expect(() => new PageOwnership({ ram: [{ base: 0n, size: 0n }] })).toThrow(RangeError);
    expect(() => new PageOwnership({ ram: [{ base: 0n, size: 1n << 53n }] })).toThrow(RangeError);
    expect(
      () => new PageOwnership({ ram: [{ base: 0n, size: 0x10000n }], mmio: [{ base: 0x8000n, size: 0x10000n }] }),
    ).toThrow(/overlaps RAM/);
  });

  it('overlapping and adjacent RAM ranges are merged', () => {
    const o = new PageOwnership({
      ram: [
        { base: 0x10000n, size: 0x10000n },
        { base: 0x0n, size: 0x10000n },
        { base: 0x8000n, size: 0x10000n },
      ],
    });
    expect(o.runCount).toBe(1);
    expect(o.stats().ramPages).toBe(32);
  });
});

describe('host <-> hyp sharing', () => {
  it('share then unshare', () => {
    const o = machine();
    expectOk(o.hostShareHyp(RAM0 + 10, 4));
    for (let p = RAM0 + 10; p < RAM0 + 14; p++) {
      const s = o.state(p);
      expect(s.host).toBe(PKVM_PAGE_SHARED_OWNED);
      expect(s.hyp).toBe(PKVM_PAGE_SHARED_BORROWED);
      expect(s.owner).toBe('host');
      expect(s.sharedWith).toBe('hyp');
      expect(o.hostCanAccess(p)).toBe(true);
      expect(o.hostOwnsExclusively(p)).toBe(false);
    }
    expect(o.state(RAM0 + 9).host).toBe(PKVM_PAGE_OWNED);
    expect(o.state(RAM0 + 14).host).toBe(PKVM_PAGE_OWNED);
    expectOk(o.hostUnshareHyp(RAM0 + 10, 4));
    expect(o.state(RAM0 + 10).host).toBe(PKVM_PAGE_OWNED);
    expect(o.state(RAM0 + 10).hyp).toBe(PKVM_NOPAGE);
    expect(o.snapshot()).toEqual(machine().snapshot());
  });

  it('share needs host OWNED exclusively', () => {
    const o = machine();
    expectOk(o.hostShareHyp(RAM0, 1));
    expectErr(o.hostShareHyp(RAM0, 1), 'EPERM', RAM0);
    expectOk(o.hostDonateHyp(RAM0 + 1, 1));
    expectErr(o.hostShareHyp(RAM0 + 1, 1), 'EPERM', RAM0 + 1);
    expectOk(o.hostDonateGuest(RAM0 + 2, 1, 7));
    expectErr(o.hostShareHyp(RAM0 + 2, 1), 'EPERM', RAM0 + 2);
    expectOk(o.hostShareGuest(RAM0 + 3, 1, 7));
    expectErr(o.hostShareHyp(RAM0 + 3, 1), 'EPERM', RAM0 + 3);
  });

  it('unshare needs exactly host SHARED_OWNED + hyp SHARED_BORROWED', () => {
    const o = machine();
    expectErr(o.hostUnshareHyp(RAM0, 1), 'EPERM', RAM0); // not shared
    expectOk(o.hostDonateHyp(RAM0, 1));
    expectErr(o.hostUnshareHyp(RAM0, 1), 'EPERM', RAM0); // hyp OWNED
    expectOk(o.hostShareGuest(RAM0 + 1, 1, 2));
    expectErr(o.hostUnshareHyp(RAM0 + 1, 1), 'EPERM', RAM0 + 1); // shared with a guest
  });

  it('unshare refuses pages the hyp has pinned (EBUSY)', () => {
    const o = machine();
    expectErr(o.hypPin(RAM0, 1), 'EPERM', RAM0); // not shared: cannot pin
    expectOk(o.hostShareHyp(RAM0, 2));
    expectOk(o.hypPin(RAM0 + 1, 1));
    expectOk(o.hypPin(RAM0 + 1, 1));
    expect(o.state(RAM0 + 1).hypPins).toBe(2);
    expectErr(o.hostUnshareHyp(RAM0, 2), 'EBUSY', RAM0 + 1);
    expect(o.state(RAM0).host).toBe(PKVM_PAGE_SHARED_OWNED); // nothing changed
    expectOk(o.hypUnpin(RAM0 + 1, 1));
    expectErr(o.hostUnshareHyp(RAM0, 2), 'EBUSY', RAM0 + 1);
    expectOk(o.hypUnpin(RAM0 + 1, 1));
    expectErr(o.hypUnpin(RAM0 + 1, 1), 'EPERM', RAM0 + 1); // underflow refused
    expectOk(o.hostUnshareHyp(RAM0, 2));
  });
});

describe('host <-> hyp donation', () => {
  it('donate then give back', () => {
    const o = machine();
    expectOk(o.hostDonateHyp(RAM1, 16));
    const s = o.state(RAM1 + 5);
    expect(s.host).toBe(PKVM_NOPAGE);
    expect(s.hyp).toBe(PKVM_PAGE_OWNED);
    expect(o.owner(RAM1 + 5)).toBe('hyp');
    expect(o.hostCanAccess(RAM1 + 5)).toBe(false);
    expectErr(o.hostDonateHyp(RAM1 + 15, 2), 'EPERM', RAM1 + 15);
    expectOk(o.hypDonateHost(RAM1, 16));
    expect(o.owner(RAM1 + 5)).toBe('host');
    expect(o.snapshot()).toEqual(machine().snapshot());
  });

  it('hyp can only give back what it owns', () => {
    const o = machine();
    expectErr(o.hypDonateHost(RAM0, 1), 'EPERM', RAM0);
    expectOk(o.hostShareHyp(RAM0, 1));
    expectErr(o.hypDonateHost(RAM0, 1), 'EPERM', RAM0); // borrowed, not owned
    expectOk(o.hostDonateGuest(RAM0 + 1, 1, 0));
    expectErr(o.hypDonateHost(RAM0 + 1, 1), 'EPERM', RAM0 + 1);
  });

  it('the hyp may take MMIO (the SMMU registers) and give it back', () => {
    const o = machine();
    expectOk(o.hostDonateHyp(MMIO0, 16));
    expect(o.owner(MMIO0 + 3)).toBe('hyp');
    expect(o.isMmio(MMIO0 + 3)).toBe(true);
    expect(o.hostCanAccess(MMIO0 + 3)).toBe(false);
    expectOk(o.hypDonateHost(MMIO0, 16));
    expect(o.hostOwnsExclusively(MMIO0 + 3)).toBe(true);
  });
});

describe('host <-> guest', () => {
  it('donate to a guest and return on teardown', () => {
    const o = machine();
    expectOk(o.hostDonateGuest(RAM0 + 100, 50, 3));
    const s = o.state(RAM0 + 120);
    expect(s.host).toBe(PKVM_NOPAGE);
    expect(s.hyp).toBe(PKVM_NOPAGE);
    expect(s.guests).toEqual([{ vm: 3, state: PKVM_PAGE_OWNED }]);
    expect(o.owner(RAM0 + 120)).toEqual({ guest: 3 });
    expect(o.stateIn(RAM0 + 120, { guest: 3 })).toBe(PKVM_PAGE_OWNED);
    expect(o.stateIn(RAM0 + 120, { guest: 4 })).toBe(PKVM_NOPAGE);
    expect(o.hostCanAccess(RAM0 + 120)).toBe(false);
    expectErr(o.hostDonateGuest(RAM0 + 149, 1, 4), 'EPERM', RAM0 + 149);
    expectErr(o.guestReturnHost(RAM0 + 100, 50, 4), 'EPERM', RAM0 + 100); // wrong guest
    expectErr(o.guestReturnHost(RAM0 + 99, 2, 3), 'EPERM', RAM0 + 99); // first page is the host's
    expectOk(o.guestReturnHost(RAM0 + 100, 50, 3));
    expect(o.snapshot()).toEqual(machine().snapshot());
  });

  it('guest pages cannot go to the hyp or another guest', () => {
    const o = machine();
    expectOk(o.hostDonateGuest(RAM0, 1, 1));
    expectErr(o.hostDonateHyp(RAM0, 1), 'EPERM', RAM0);
    expectErr(o.hostDonateGuest(RAM0, 1, 2), 'EPERM', RAM0);
    expectErr(o.hostShareGuest(RAM0, 1, 1), 'EPERM', RAM0);
  });

  it('share with a guest and unshare', () => {
    const o = machine();
    expectOk(o.hostShareGuest(RAM1, 2, 5));
    const s = o.state(RAM1 + 1);
    expect(s.host).toBe(PKVM_PAGE_SHARED_OWNED);
    expect(s.guests).toEqual([{ vm: 5, state: PKVM_PAGE_SHARED_BORROWED }]);
    expect(s.sharedWith).toEqual({ guest: 5 });
    expect(o.hostCanAccess(RAM1)).toBe(true);
    expectErr(o.hostShareGuest(RAM1, 1, 6), 'EPERM', RAM1);
    expectErr(o.hostDonateGuest(RAM1, 1, 5), 'EPERM', RAM1); // shared pages cannot be donated
    expectErr(o.hostUnshareGuest(RAM1, 2, 6), 'EPERM', RAM1); // wrong guest
    expectErr(o.hostUnshareGuest(RAM1, 3, 5), 'EPERM', RAM1 + 2);
    expectErr(o.guestReturnHost(RAM1, 2, 5), 'EPERM', RAM1); // borrowed, not owned
    expectOk(o.hostUnshareGuest(RAM1, 2, 5));
    expect(o.snapshot()).toEqual(machine().snapshot());
  });

  it('guest transitions are RAM only', () => {
    const o = machine();
    expectErr(o.hostDonateGuest(UART, 1, 0), 'EINVAL', UART);
    expectErr(o.hostShareGuest(MMIO0, 1, 0), 'EINVAL', MMIO0);
    expectErr(o.hostShareHyp(MMIO0, 1), 'EINVAL', MMIO0);
  });
});

describe('DMA refcount', () => {
  it('get / put are symmetric and merge back', () => {
    const o = machine();
    const runs0 = o.runCount;
    expectOk(o.dmaGet(RAM0, 8));
    expectOk(o.dmaGet(RAM0 + 4, 8));
    expect([RAM0 + 3, RAM0 + 4, RAM0 + 7, RAM0 + 8, RAM0 + 11, RAM0 + 12].map((p) => o.dmaRefcount(p))).toEqual([
      1, 2, 2, 1, 1, 0,
    ]);
    expect(o.hostOwnsExclusively(RAM0 + 4)).toBe(true); // DMA does not change ownership
    expect(o.stats().dmaPinnedPages).toBe(12);
    expectOk(o.dmaPut(RAM0, 8));
    expectOk(o.dmaPut(RAM0 + 4, 8));
    expect(o.dmaRefcount(RAM0 + 5)).toBe(0);
    expect(o.runCount).toBe(runs0);
    expect(o.snapshot()).toEqual(machine().snapshot());
  });

  it('put refuses to go below zero and changes nothing', () => {
    const o = machine();
    expectOk(o.dmaGet(RAM0, 2));
    const before = o.snapshot();
    expectErr(o.dmaPut(RAM0, 3), 'EPERM', RAM0 + 2);
    expect(o.snapshot()).toEqual(before);
    expectOk(o.dmaPut(RAM0, 2));
    expectErr(o.dmaPut(RAM0, 1), 'EPERM', RAM0);
  });

  it('get needs host OWNED exclusively', () => {
    const o = machine();
    expectOk(o.hostShareHyp(RAM0, 1));
    expectOk(o.hostDonateHyp(RAM0 + 1, 1));
    expectOk(o.hostDonateGuest(RAM0 + 2, 1, 1));
    expectOk(o.hostShareGuest(RAM0 + 3, 1, 1));
    for (let i = 0; i < 4; i++) expectErr(o.dmaGet(RAM0 + i, 1), 'EPERM', RAM0 + i);
  });

  it('MMIO cannot be refcounted (EINVAL)', () => {
    const o = machine();
    expectErr(o.dmaGet(UART, 1), 'EINVAL', UART);
    expectErr(o.dmaGet(MMIO0, 4), 'EINVAL', MMIO0);
    expectErr(o.dmaPut(MMIO0, 1), 'EINVAL', MMIO0);
    expect(o.dmaRefcount(UART)).toBe(0);
  });

  it('refcounted pages cannot be shared or donated (EBUSY)', () => {
    const o = machine();
    expectOk(o.dmaGet(RAM0 + 3, 1));
    const before = o.snapshot();
    expectErr(o.hostShareHyp(RAM0, 8), 'EBUSY', RAM0 + 3);
    expectErr(o.hostDonateHyp(RAM0, 8), 'EBUSY', RAM0 + 3);
    expectErr(o.hostDonateGuest(RAM0, 8, 1), 'EBUSY', RAM0 + 3);
    expectErr(o.hostShareGuest(RAM0, 8, 1), 'EBUSY', RAM0 + 3);
    expect(o.snapshot()).toEqual(before);
    expectOk(o.dmaPut(RAM0 + 3, 1));
    expectOk(o.hostDonateGuest(RAM0, 8, 1));
  });

  it('a wrong state earlier in the range is reported before a later pinned page', () => {
    const o = machine();
    expectOk(o.hostDonateHyp(RAM0 + 1, 1));
    expectOk(o.dmaGet(RAM0 + 5, 1));
    expectErr(o.hostDonateGuest(RAM0, 8, 0), 'EPERM', RAM0 + 1);
    expectOk(o.hypDonateHost(RAM0 + 1, 1));
    expectErr(o.hostDonateGuest(RAM0, 8, 0), 'EBUSY', RAM0 + 5);
  });
});

describe('bad arguments (EINVAL)', () => {
  it('zero pages, non-integers, negatives, overflow', () => {
    const o = machine();
    expectErr(o.hostShareHyp(RAM0, 0), 'EINVAL');
    expectErr(o.hostShareHyp(-1, 1), 'EINVAL');
    expectErr(o.hostShareHyp(RAM0 + 0.5, 1), 'EINVAL');
    expectErr(o.hostShareHyp(Number.NaN, 1), 'EINVAL');
    expectErr(o.hostShareHyp(RAM0, -1), 'EINVAL');
    expectErr(o.hostShareHyp(RAM0, 1.5), 'EINVAL');
    expectErr(o.hostShareHyp(MAX_PFN - 1, 2), 'EINVAL');
    expectErr(o.hostShareHyp(MAX_PFN, 1), 'EINVAL');
    expectErr(o.hostShareHyp(RAM0, Number.MAX_SAFE_INTEGER), 'EINVAL');
    expectErr(o.hostShareHyp((1n << 64n) - 1n, 2n), 'EINVAL');
    expectErr(o.dmaGet(RAM0, 2n ** 63n), 'EINVAL');
    expect(o.snapshot()).toEqual(machine().snapshot());
  });

  it('bigint arguments work', () => {
    const o = machine();
    expectOk(o.hostDonateGuest(BigInt(RAM0), 2n, 9n));
    expect(o.owner(BigInt(RAM0 + 1))).toEqual({ guest: 9 });
  });

  it('pages that are not RAM or MMIO, and ranges mixing the two', () => {
    const o = machine();
    expectErr(o.hostDonateHyp(0, 1), 'EINVAL', 0);
    expectErr(o.hostDonateHyp(RAM0 - 1, 2), 'EINVAL', RAM0 - 1);
    expectErr(o.hostDonateHyp(MMIO0_END - 1, 2), 'EINVAL', MMIO0_END); // MMIO then a hole
    expectErr(o.hostDonateHyp(RAM1_END - 2, 4), 'EINVAL', RAM1_END);
    expectErr(o.hostDonateHyp(RAM0_END - 1, 2), 'EINVAL', MMIO0); // RAM then MMIO
    expect(o.snapshot()).toEqual(machine().snapshot());
  });

  it('guest operations need a valid VM handle', () => {
    const o = machine();
    expectErr(o.apply('host_donate_guest', RAM0, 1), 'EINVAL');
    expectErr(o.hostDonateGuest(RAM0, 1, -1), 'EINVAL');
    expectErr(o.hostDonateGuest(RAM0, 1, 0.5), 'EINVAL');
    expectErr(o.apply('nonsense' as OwnershipOp, RAM0, 1), 'EINVAL');
  });

  it('byte ranges: unaligned, empty, overflowing', () => {
    const o = machine();
    const pa = BigInt(RAM0) << 12n;
    expectErr(o.applyBytes('host_share_hyp', pa + 8n, 0x1000n), 'EINVAL');
    expectErr(o.applyBytes('host_share_hyp', pa, 0x1800n), 'EINVAL');
    expectErr(o.applyBytes('host_share_hyp', pa, 0n), 'EINVAL');
    expectErr(o.applyBytes('host_share_hyp', (1n << 52n) - 0x1000n, 0x2000n), 'EINVAL');
    expectErr(o.applyBytes('host_share_hyp', (1n << 64n) - 0x1000n, 0x2000n), 'EINVAL');
    expectErr(o.applyBytes('host_share_hyp', -0x1000n, 0x1000n), 'EINVAL');
    expectOk(o.applyBytes('host_share_hyp', pa, 0x2000n));
    expect(o.stateIn(RAM0 + 1, 'hyp')).toBe(PKVM_PAGE_SHARED_BORROWED);
    expect(bytesToPages(0x8000_1000, 0x3000)).toEqual({ ok: true, pfn: 0x80001, nr: 3 });
  });
});

describe('all-or-nothing ranges', () => {
  it('a partially failing range changes nothing and notifies nobody', () => {
    const o = machine();
    expectOk(o.hostDonateGuest(RAM0 + 5, 1, 2));
    expectOk(o.hostShareHyp(RAM0 + 9, 1));
    const before = o.snapshot();
    const seen: OwnershipChange[] = [];
    o.onChange((c) => seen.push(c));
    for (const op of ['host_share_hyp', 'host_donate_hyp', 'dma_get'] as const) {
      expectErr(o.apply(op, RAM0, 8), 'EPERM', RAM0 + 5);
    }
    expectErr(o.hostShareGuest(RAM0, 8, 1), 'EPERM', RAM0 + 5);
    expectErr(o.guestReturnHost(RAM0 + 5, 2, 2), 'EPERM', RAM0 + 6);
    expectErr(o.hostUnshareHyp(RAM0 + 8, 2), 'EPERM', RAM0 + 8);
    expect(o.snapshot()).toEqual(before);
    expect(seen).toEqual([]);
  });
});

describe('regions()', () => {
  it('splits around a changed page and merges back', () => {
    const o = machine();
    expectOk(o.hostDonateHyp(RAM0 + 10, 1));
    let rs = o.regions(RAM0, RAM0_END);
    expect(rs.map((r) => [r.pfn, r.nr, r.owner])).toEqual([
      [RAM0, 10, 'host'],
      [RAM0 + 10, 1, 'hyp'],
      [RAM0 + 11, RAM0_END - RAM0 - 11, 'host'],
    ]);
    expectOk(o.hostDonateHyp(RAM0 + 11, 1));
    expectOk(o.hostDonateHyp(RAM0 + 9, 1));
    rs = o.regions(RAM0, RAM0_END);
    expect(rs.map((r) => [r.pfn, r.nr, r.owner])).toEqual([
      [RAM0, 9, 'host'],
      [RAM0 + 9, 3, 'hyp'],
      [RAM0 + 12, RAM0_END - RAM0 - 12, 'host'],
    ]);
    expectOk(o.hypDonateHost(RAM0 + 9, 3));
    expect(o.regions(RAM0, RAM0_END)).toHaveLength(1);
  });

  it('merges pages with different non-zero refcounts but keeps exact runs in snapshot()', () => {
    const o = machine();
    expectOk(o.dmaGet(RAM0, 4));
    expectOk(o.dmaGet(RAM0 + 2, 2));
    const rs = o.regions(RAM0, RAM0 + 8);
    expect(rs.map((r) => [r.pfn, r.nr, r.dmaPinned, r.maxDmaRefcount])).toEqual([
      [RAM0, 4, true, 2],
      [RAM0 + 4, 4, false, 0],
    ]);
    const snap = o.snapshot().runs.filter((r) => r.pfn >= RAM0 && r.pfn < RAM0 + 4);
    expect(snap.map((r) => [r.pfn, r.nr, r.dmaRefcount])).toEqual([
      [RAM0, 2, 1],
      [RAM0 + 2, 2, 2],
    ]);
  });

  it('distinguishes owner, share partner, mmio and hyp pins; windows clip', () => {
    const o = machine();
    expectOk(o.hostShareGuest(RAM1, 2, 1));
    expectOk(o.hostShareGuest(RAM1 + 2, 2, 2));
    expectOk(o.hostShareHyp(RAM1 + 4, 2));
    expectOk(o.hypPin(RAM1 + 5, 1));
    const rs = o.regions(RAM1 - 5, RAM1 + 7);
    expect(rs.map((r) => [r.pfn, r.nr, r.sharedWith, r.hypPinned])).toEqual([
      [RAM1, 2, { guest: 1 }, false],
      [RAM1 + 2, 2, { guest: 2 }, false],
      [RAM1 + 4, 1, 'hyp', false],
      [RAM1 + 5, 1, 'hyp', true],
      [RAM1 + 6, 1, null, false],
    ]);
    // RAM0 and the MMIO just after it stay apart.
    const edge = o.regions(RAM0_END - 1, MMIO0 + 1);
    expect(edge.map((r) => [r.pfn, r.nr, r.mmio])).toEqual([
      [RAM0_END - 1, 1, false],
      [MMIO0, 1, true],
    ]);
  });
});

describe('listeners, snapshot, clone, stats', () => {
  it('onChange reports the op, range and host access change', () => {
    const o = machine();
    const seen: OwnershipChange[] = [];
    const off = o.onChange((c) => seen.push(c));
    o.hostDonateGuest(RAM0, 4, 3);
    o.hostShareHyp(RAM0 + 4, 1);
    o.guestReturnHost(RAM0, 4, 3);
    o.dmaGet(RAM0, 1);
    expect(seen.map((c) => [c.op, c.pfn, c.nr, c.vm, c.hostAccess])).toEqual([
      ['host_donate_guest', RAM0, 4, 3, 'lost'],
      ['host_share_hyp', RAM0 + 4, 1, undefined, 'unchanged'],
      ['guest_return_host', RAM0, 4, 3, 'gained'],
      ['dma_get', RAM0, 1, undefined, 'unchanged'],
    ]);
    expect(seen[0].base).toBe(0x8000_0000n);
    expect(seen[0].size).toBe(0x4000n);
    off();
    o.dmaPut(RAM0, 1);
    expect(seen).toHaveLength(4);
  });

  it('snapshot() is plain JSON', () => {
    const o = machine();
    o.hostDonateGuest(RAM0, 4, 3);
    o.dmaGet(RAM0 + 4, 1);
    const snap = o.snapshot();
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
    const g = snap.runs.find((r) => r.pfn === RAM0);
    expect(g).toMatchObject({ base: '0x80000000', size: '0x4000', owner: { guest: 3 }, host: PKVM_NOPAGE });
    expect(g?.guests).toEqual([{ vm: 3, state: PKVM_PAGE_OWNED }]);
  });

  it('clone() is independent', () => {
    const o = machine();
    o.hostDonateHyp(RAM0, 1);
    const c = o.clone();
    expect(c.snapshot()).toEqual(o.snapshot());
    o.hypDonateHost(RAM0, 1);
    expect(c.owner(RAM0)).toBe('hyp');
    expect(o.owner(RAM0)).toBe('host');
    c.hostDonateGuest(RAM0 + 1, 1, 1);
    expect(o.owner(RAM0 + 1)).toBe('host');
  });

  it('stats() counts pages per owner', () => {
    const o = machine();
    o.hostDonateHyp(RAM0, 3);
    o.hostDonateGuest(RAM0 + 3, 5, 1);
    o.hostDonateGuest(RAM0 + 8, 2, 2);
    o.hostShareGuest(RAM0 + 10, 1, 2);
    o.dmaGet(RAM0 + 11, 4);
    const st = o.stats();
    const ram = 2 * (RAM0_END - RAM0);
    expect(st).toEqual({
      trackedPages: ram + 17,
      ramPages: ram,
      mmioPages: 17,
      hostPages: ram + 17 - 10,
      hypPages: 3,
      guestPages: { 1: 5, 2: 2 },
      sharedPages: 1,
      dmaPinnedPages: 4,
      hypPinnedPages: 0,
    });
  });
});

// Speed lives in `npm run bench`; this checks that large memories stay a handful of runs.
describe('large memories', () => {
  it('64 GiB boots as one run; a fragmented DMA ring and a 16 GiB guest stay run-based through 1M operations', () => {
    const o = new PageOwnership({ ram: [{ base: 0x8000_0000n, size: 64n << 30n }] });
    expect(o.runCount).toBe(1);
    const base = 0x80000;
    // A fragmented ring: 4096 buffers pinned, every other page.
    for (let i = 0; i < 4096; i++) expectOk(o.dmaGet(base + 2 * i, 1));
    expect(o.runCount).toBe(8192); // 4096 pinned pages, 4095 free pages between them, the rest of RAM
    expectOk(o.hostDonateGuest(base + 0x100000, 0x400000, 1)); // 16 GiB guest: one run (and a split tail)
    expect(o.runCount).toBe(8194);
    let x = 12345;
    const N = 1_000_000;
    for (let i = 0; i < N / 2; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      const p = base + 2 * (x % 4096) + 1;
      o.dmaGet(p, 1);
      o.dmaPut(p, 1);
    }
    expect(o.runCount).toBe(8194);
    expect(o.dmaRefcount(base)).toBe(1);
    expect(o.dmaRefcount(base + 1)).toBe(0);
  });
});

// ------------------------------------------------------------------------------------------
// Property test: the run-based implementation against a per-page reference model.

interface RefPage {
  mmio: boolean;
  host: PageState;
  hyp: PageState;
  guests: Map<number, PageState>;
  dma: number;
  pins: number;
}

type RefResult = { ok: true } | { ok: false; error: string; pfn?: number };

const P_RAM: Array<[number, number]> = [
  [16, 40],
  [48, 60],
];
const P_MMIO: Array<[number, number]> = [[40, 44]];
const P_LO = 8;
const P_HI = 66;

class RefModel {
  pages = new Map<number, RefPage>();
  constructor(ram: Array<[number, number]>, mmio: Array<[number, number]>) {
    for (const [s, e] of ram) for (let p = s; p < e; p++) this.pages.set(p, this.fresh(false));
    for (const [s, e] of mmio) for (let p = s; p < e; p++) this.pages.set(p, this.fresh(true));
  }
  private fresh(mmio: boolean): RefPage {
    return { mmio, host: PKVM_PAGE_OWNED, hyp: PKVM_NOPAGE, guests: new Map(), dma: 0, pins: 0 };
  }
  guest(p: RefPage, vm: number): PageState {
    return p.guests.get(vm) ?? PKVM_NOPAGE;
  }
  setGuest(p: RefPage, vm: number, st: PageState): void {
    if (st === PKVM_NOPAGE) p.guests.delete(vm);
    else p.guests.set(vm, st);
  }

  apply(op: OwnershipOp, pfn: number, nr: number, vm: number): RefResult {
    if (nr === 0) return { ok: false, error: 'EINVAL' };
    const pages: RefPage[] = [];
    for (let p = pfn; p < pfn + nr; p++) {
      const pg = this.pages.get(p);
      if (!pg) return { ok: false, error: 'EINVAL', pfn: p };
      if (pages.length > 0 && pg.mmio !== pages[0].mmio) return { ok: false, error: 'EINVAL', pfn: p };
      pages.push(pg);
    }
    const ramOnly = op !== 'host_donate_hyp' && op !== 'hyp_donate_host';
    if (ramOnly && pages[0].mmio) return { ok: false, error: 'EINVAL', pfn };
    for (let k = 0; k < nr; k++) {
      const e = this.check(op, pages[k], vm);
      if (e) return { ok: false, error: e, pfn: pfn + k };
    }
    for (const pg of pages) this.mutate(op, pg, vm);
    return { ok: true };
  }

  private check(op: OwnershipOp, p: RefPage, vm: number): string | null {
    const hostOwned = p.host === PKVM_PAGE_OWNED;
    switch (op) {
      case 'host_share_hyp':
      case 'host_donate_hyp':
      case 'host_donate_guest':
      case 'host_share_guest':
        return !hostOwned ? 'EPERM' : p.dma > 0 ? 'EBUSY' : null;
      case 'host_unshare_hyp':
        return p.host !== PKVM_PAGE_SHARED_OWNED || p.hyp !== PKVM_PAGE_SHARED_BORROWED
          ? 'EPERM'
          : p.pins > 0
            ? 'EBUSY'
            : null;
      case 'hyp_donate_host':
        return p.hyp === PKVM_PAGE_OWNED ? null : 'EPERM';
      case 'guest_return_host':
        return this.guest(p, vm) === PKVM_PAGE_OWNED ? null : 'EPERM';
      case 'host_unshare_guest':
        return p.host === PKVM_PAGE_SHARED_OWNED && this.guest(p, vm) === PKVM_PAGE_SHARED_BORROWED ? null : 'EPERM';
      case 'dma_get':
        return hostOwned ? null : 'EPERM';
      case 'dma_put':
        return p.dma > 0 ? null : 'EPERM';
      case 'hyp_pin':
        return p.host === PKVM_PAGE_SHARED_OWNED && p.hyp === PKVM_PAGE_SHARED_BORROWED ? null : 'EPERM';
      case 'hyp_unpin':
        return p.pins > 0 ? null : 'EPERM';
    }
  }

  private mutate(op: OwnershipOp, p: RefPage, vm: number): void {
    switch (op) {
      case 'host_share_hyp':
        p.host = PKVM_PAGE_SHARED_OWNED;
        p.hyp = PKVM_PAGE_SHARED_BORROWED;
        break;
      case 'host_unshare_hyp':
        p.host = PKVM_PAGE_OWNED;
        p.hyp = PKVM_NOPAGE;
        break;
      case 'host_donate_hyp':
        p.host = PKVM_NOPAGE;
        p.hyp = PKVM_PAGE_OWNED;
        break;
      case 'hyp_donate_host':
        p.hyp = PKVM_NOPAGE;
        p.host = PKVM_PAGE_OWNED;
        break;
      case 'host_donate_guest':
        p.host = PKVM_NOPAGE;
        this.setGuest(p, vm, PKVM_PAGE_OWNED);
        break;
      case 'guest_return_host':
        this.setGuest(p, vm, PKVM_NOPAGE);
        p.host = PKVM_PAGE_OWNED;
        break;
      case 'host_share_guest':
        p.host = PKVM_PAGE_SHARED_OWNED;
        this.setGuest(p, vm, PKVM_PAGE_SHARED_BORROWED);
        break;
      case 'host_unshare_guest':
        p.host = PKVM_PAGE_OWNED;
        this.setGuest(p, vm, PKVM_NOPAGE);
        break;
      case 'dma_get':
        p.dma++;
        break;
      case 'dma_put':
        p.dma--;
        break;
      case 'hyp_pin':
        p.pins++;
        break;
      case 'hyp_unpin':
        p.pins--;
        break;
    }
  }
}

/** Invariant violations, as strings (one expect per step keeps the property test fast). */
function violations(o: PageOwnership, lo = P_LO, hi = P_HI): string[] {
  const bad: string[] = [];
  for (let p = lo; p < hi; p++) {
    const s = o.state(p);
    if (!s.tracked) continue;
    const all: PageState[] = [s.host, s.hyp, ...s.guests.map((g) => g.state)];
    const count = (st: PageState) => all.filter((x) => x === st).length;
    const owned = count(PKVM_PAGE_OWNED);
    const sharedOwned = count(PKVM_PAGE_SHARED_OWNED);
    const borrowed = count(PKVM_PAGE_SHARED_BORROWED);
    if (owned > 1) bad.push(`${p}: OWNED in ${owned} spaces`);
    if (owned + sharedOwned !== 1) bad.push(`${p}: ${owned + sharedOwned} owners`);
    if (sharedOwned === 1 && borrowed !== 1) bad.push(`${p}: SHARED_OWNED with ${borrowed} borrowers`);
    if (borrowed > 0 && (sharedOwned !== 1 || borrowed !== 1)) bad.push(`${p}: SHARED_BORROWED without one SHARED_OWNED`);
    if (s.dmaRefcount > 0 && (s.host !== PKVM_PAGE_OWNED || s.mmio || !o.hostOwnsExclusively(p))) {
      bad.push(`${p}: refcount ${s.dmaRefcount} but host ${s.host}`);
    }
    if (s.hypPins > 0 && (s.host !== PKVM_PAGE_SHARED_OWNED || s.hyp !== PKVM_PAGE_SHARED_BORROWED)) {
      bad.push(`${p}: hyp pins on a page not shared with hyp`);
    }
    if (o.hostCanAccess(p) !== (s.host !== PKVM_NOPAGE)) bad.push(`${p}: hostCanAccess disagrees`);
  }
  // Runs are sorted and maximal.
  const runs = o.snapshot().runs;
  for (let i = 1; i < runs.length; i++) {
    const a = runs[i - 1];
    const b = runs[i];
    if (a.pfn + a.nr > b.pfn) bad.push(`runs overlap at ${b.pfn}`);
    const key = (r: typeof a) =>
      JSON.stringify([r.owner, r.sharedWith, r.mmio, r.dmaRefcount, r.hypPins]);
    if (a.pfn + a.nr === b.pfn && key(a) === key(b)) bad.push(`runs not merged at ${b.pfn}`);
  }
  // regions() covers exactly the tracked pages, each consistently.
  let covered = 0;
  for (const r of o.regions(lo, hi)) {
    for (let p = r.pfn; p < r.pfn + r.nr; p++) {
      covered++;
      const s = o.state(p);
      if (
        JSON.stringify([s.owner, s.sharedWith, s.mmio, s.dmaRefcount > 0, s.hypPins > 0]) !==
        JSON.stringify([r.owner, r.sharedWith, r.mmio, r.dmaPinned, r.hypPinned])
      ) {
        bad.push(`${p}: region disagrees with state()`);
      }
    }
  }
  if (covered !== o.stats().trackedPages) bad.push(`regions cover ${covered} pages`);
  return bad;
}

function implView(o: PageOwnership, lo = P_LO, hi = P_HI): unknown[] {
  const out: unknown[] = [];
  for (let p = lo; p < hi; p++) {
    const s = o.state(p);
    if (!s.tracked) {
      out.push(null);
      continue;
    }
    out.push([s.mmio, s.host, s.hyp, s.guests.map((g) => [g.vm, g.state]), s.dmaRefcount, s.hypPins]);
  }
  return out;
}

function refView(ref: RefModel, lo = P_LO, hi = P_HI): unknown[] {
  const out: unknown[] = [];
  for (let p = lo; p < hi; p++) {
    const r = ref.pages.get(p);
    if (!r) {
      out.push(null);
      continue;
    }
    const guests = [...r.guests].sort((a, b) => a[0] - b[0]);
    out.push([r.mmio, r.host, r.hyp, guests, r.dma, r.pins]);
  }
  return out;
}

function build(ram: Array<[number, number]>, mmio: Array<[number, number]>): PageOwnership {
  const bytes = ([s, e]: [number, number]) => ({ base: BigInt(s) << 12n, size: BigInt(e - s) << 12n });
  return new PageOwnership({ ram: ram.map(bytes), mmio: mmio.map(bytes) });
}

const opArb = fc.record({
  op: fc.constantFrom<OwnershipOp>(...OWNERSHIP_OPS),
  pfn: fc.integer({ min: P_LO, max: P_HI - 1 }),
  nr: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 12 })),
  vm: fc.integer({ min: 0, max: 2 }),
  cloneHere: fc.boolean(),
});

describe('property: runs agree with a per-page reference model', () => {
  it('random operation sequences', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (steps) => {
        const o = build(P_RAM, P_MMIO);
        const ref = new RefModel(P_RAM, P_MMIO);
        const changes: OwnershipChange[] = [];
        o.onChange((c) => changes.push(c));
        let saved: { clone: PageOwnership; snap: ReturnType<PageOwnership['snapshot']> } | null = null;
        for (const st of steps) {
          const nChanges = changes.length;
          const got = o.apply(st.op, st.pfn, st.nr, GUEST_OPS.has(st.op) ? st.vm : undefined);
          const want = ref.apply(st.op, st.pfn, st.nr, st.vm);
          expect(got.ok).toBe(want.ok);
          if (!got.ok && !want.ok) {
            expect(got.error).toBe(want.error);
            if (want.pfn !== undefined) expect(got.pfn).toBe(want.pfn);
            expect(changes.length).toBe(nChanges);
          } else {
            expect(changes.length).toBe(nChanges + 1);
            expect(changes[nChanges]).toMatchObject({ op: st.op, pfn: st.pfn, nr: st.nr });
          }
          expect(implView(o)).toEqual(refView(ref));
          expect(violations(o)).toEqual([]);
          if (st.cloneHere && !saved) saved = { clone: o.clone(), snap: o.snapshot() };
        }
        if (saved) expect(saved.clone.snapshot()).toEqual(saved.snap);
      }),
      { numRuns: 200 },
    );
  });
});

describe('property: many runs (exercises block splits and merges)', () => {
  const RAM: Array<[number, number]> = [
    [0, 1500],
    [1600, 2400],
  ];
  const MMIO: Array<[number, number]> = [[1500, 1510]];
  const stepArb = fc.record({
    op: fc.constantFrom<OwnershipOp>(
      'dma_get',
      'dma_get',
      'dma_put',
      'host_donate_hyp',
      'hyp_donate_host',
      'host_donate_guest',
      'guest_return_host',
      'host_share_hyp',
      'host_unshare_hyp',
      'hyp_pin',
      'hyp_unpin',
      'host_share_guest',
      'host_unshare_guest',
    ),
    pfn: fc.integer({ min: 0, max: 2450 }),
    nr: fc.oneof(
      { arbitrary: fc.constant(1), weight: 6 },
      { arbitrary: fc.integer({ min: 1, max: 40 }), weight: 2 },
      { arbitrary: fc.integer({ min: 1, max: 900 }), weight: 1 },
    ),
    vm: fc.integer({ min: 0, max: 3 }),
  });
  it('long random sequences agree with the reference model', () => {
    let biggest = 0;
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 500, maxLength: 1500 }), (steps) => {
        const o = build(RAM, MMIO);
        const ref = new RefModel(RAM, MMIO);
        let maxRuns = 0;
        steps.forEach((st, i) => {
          const got = o.apply(st.op, st.pfn, st.nr, GUEST_OPS.has(st.op) ? st.vm : undefined);
          const want = ref.apply(st.op, st.pfn, st.nr, st.vm);
          expect([got.ok, got.ok ? null : got.error]).toEqual([want.ok, want.ok ? null : want.error]);
          if (!got.ok && !want.ok && want.pfn !== undefined) expect(got.pfn).toBe(want.pfn);
          maxRuns = Math.max(maxRuns, o.runCount);
          if (i % 100 === 99) expect(implView(o, 0, 2450)).toEqual(refView(ref, 0, 2450));
        });
        expect(implView(o, 0, 2450)).toEqual(refView(ref, 0, 2450));
        expect(violations(o, 0, 2450)).toEqual([]);
        // Undo everything that can be undone; the runs must merge back to the boot layout.
        for (let p = 0; p < 2450; p++) {
          const s = o.state(p);
          if (!s.tracked) continue;
          while (o.dmaRefcount(p) > 0) expectOk(o.dmaPut(p, 1));
          while (o.state(p).hypPins > 0) expectOk(o.hypUnpin(p, 1));
          const owner = o.owner(p);
          const shared = o.state(p).sharedWith;
          if (shared === 'hyp') expectOk(o.hostUnshareHyp(p, 1));
          else if (shared !== null && typeof shared === 'object') expectOk(o.hostUnshareGuest(p, 1, shared.guest));
          if (owner === 'hyp') expectOk(o.hypDonateHost(p, 1));
          else if (typeof owner === 'object') expectOk(o.guestReturnHost(p, 1, owner.guest));
        }
        expect(o.snapshot()).toEqual(build(RAM, MMIO).snapshot());
        biggest = Math.max(biggest, maxRuns);
      }),
      { numRuns: 15, endOnFailure: true }, // shrinking 1000-step sequences is slow
    );
    expect(biggest).toBeGreaterThan(128); // many blocks of runs: blocks did split and merge
  });
});
