import { describe, expect, it } from 'vitest';
import { encodeS1Leaf, encodeS1Table, encodeS2Leaf, encodeS2Table } from './descriptor';
import { ArmLpaeIoPgtable, IOMMU_CACHE, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from './iopgtable';
import { PhysicalMemory, TableAllocator } from './memory';
import { type S1WalkParams, type S2WalkParams, newCtx, walkS1, walkS2Only, s2ConfigError, s1PermissionDenied } from './walk';
import { s1ParamsFor, s2ParamsFor } from './walk-params';

const RW = IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE;
const RD = { access: 'read', priv: true } as const;

function machine(ram: { base: bigint; size: bigint }[] | null = null) {
  const mem = new PhysicalMemory(ram);
  const s1Alloc = new TableAllocator(mem, 0x4000_0000n, 0x5000_0000n);
  const s2Alloc = new TableAllocator(mem, 0x5000_0000n, 0x6000_0000n);
  return { mem, s1Alloc, s2Alloc };
}

/** A nested setup: S1 4K/48-bit tables whose pages are identity-mapped by S2 with `s2pg`-sized leaves. */
function nested(s2pg: bigint) {
  const { mem, s1Alloc, s2Alloc } = machine();
  const s1 = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s1', granule: 4096, ias: 48, oas: 48 }, s1Alloc);
  const s2 = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s2', granule: 4096, ias: 48, oas: 48 }, s2Alloc);
  expect(s1.startLevel).toBe(0);
  expect(s2.startLevel).toBe(0);
  expect(s1.mapPages(0x12_3456_7000n, 0x8000_1000n, 0x1000n, 1, RW).mapped).toBe(0x1000n);
  if (s2pg === 0x1000n) {
    for (const t of s1.tables()) expect(s2.mapPages(t.addr, t.addr, 0x1000n, Number(t.size / 0x1000n) || 1, RW).error).toBeUndefined();
    expect(s2.mapPages(0x8000_1000n, 0x9000_1000n, 0x1000n, 1, RW).mapped).toBe(0x1000n);
  } else {
    // 1 GiB blocks: the S1 table region and the output region.
    expect(s2.mapPages(0x4000_0000n, 0x4000_0000n, s2pg, 1, RW).mapped).toBe(s2pg);
    expect(s2.mapPages(0x8000_0000n, 0xc000_0000n, s2pg, 1, RW).mapped).toBe(s2pg);
  }
  return { mem, s1, s2, p1: s1ParamsFor(s1), p2: s2ParamsFor(s2) };
}

describe('nested walk read counts', () => {
  it('4 S1 levels over 4 S2 levels, cold: exactly 24 table reads, S2(S1(iova))', () => {
    const { mem, s1, s2, p1, p2 } = nested(0x1000n);
    const ctx = newCtx(mem, true);
    const r = walkS1(ctx, p1, { va: 0x12_3456_7abcn, txn: RD }, p2);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const ipa = s1.iovaToPhys(0x12_3456_7abcn)!.phys;
    expect(r.ipa).toBe(ipa);
    expect(r.pa).toBe(s2.iovaToPhys(ipa)!.phys);
    expect(r.pa).toBe(0x9000_1abcn);
    expect(ctx.reads).toBe(24);
    const trace = ctx.trace!;
    expect(trace).toHaveLength(24);
    const count = (p: string) => trace.filter((e) => e.purpose === p).length;
    expect(count('s1-table')).toBe(4);
    expect(count('s2-for-s1-table')).toBe(16);
    expect(count('s2-for-output')).toBe(4);
    // Order: for each S1 level, 4 S2 reads then the S1 read; then 4 S2 reads for the output.
    const order = trace.map((e) => e.purpose);
    for (let l = 0; l < 4; l++) {
      expect(order.slice(l * 5, l * 5 + 4)).toEqual(Array(4).fill('s2-for-s1-table'));
      expect(order[l * 5 + 4]).toBe('s1-table');
      expect(trace[l * 5 + 4].level).toBe(l);
      expect(trace[l * 5 + 4].stage).toBe(1);
    }
    expect(order.slice(20)).toEqual(Array(4).fill('s2-for-output'));
    expect(trace.slice(20).map((e) => e.level)).toEqual([0, 1, 2, 3]);
  });

  it('4 S1 levels over a 2-level S2 (1 GiB blocks): exactly 14 table reads', () => {
    const { mem, p1, p2 } = nested(0x4000_0000n);
    const ctx = newCtx(mem, true);
    const r = walkS1(ctx, p1, { va: 0x12_3456_7abcn, txn: RD }, p2);
    expect(r.ok && r.pa).toBe(0xc000_1abcn);
    expect(ctx.reads).toBe(14);
    expect(ctx.trace!.filter((e) => e.purpose === 's2-for-s1-table')).toHaveLength(8);
    if (r.ok) {
      // The TLB-cacheable size is the smaller of the two leaves.
      expect(r.size).toBe(0x1000n);
      expect(r.s2!.size).toBe(0x4000_0000n);
    }
  });
});

describe('stage-1 walk', () => {
  function s1Only(ias = 48, granule: 4096 | 16384 | 65536 = 4096) {
    const { mem, s1Alloc } = machine();
    const pgt = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s1', granule, ias, oas: 48 }, s1Alloc);
    return { mem, pgt, p: s1ParamsFor(pgt) };
  }

  it('translates a 2M block and reads one descriptor per level', () => {
    const { mem, pgt, p } = s1Only();
    pgt.mapPages(0x20_0000n, 0x8020_0000n, 0x20_0000n, 1, RW);
    const ctx = newCtx(mem, true);
    const r = walkS1(ctx, p, { va: 0x2f_1234n, txn: RD });
    expect(r.ok && r.pa).toBe(0x802f_1234n);
    expect(ctx.reads).toBe(3);
    expect(ctx.trace!.map((e) => [e.level, e.kind])).toEqual([
      [0, 'table'],
      [1, 'table'],
      [2, 'block'],
    ]);
  });

  it('F_TRANSLATION at the level of the first invalid descriptor', () => {
    const { mem, pgt, p } = s1Only();
    pgt.mapPages(0x20_0000n, 0x8020_0000n, 0x20_0000n, 1, RW);
    const r = walkS1(newCtx(mem), p, { va: 0x40_0000n, txn: RD });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.fault).toMatchObject({ type: 'F_TRANSLATION', stage: 1, level: 2, class: 'IN', addr: 0x40_0000n });
    const r0 = walkS1(newCtx(mem), p, { va: 0x8000_0000_0000n - 0x1000n, txn: RD });
    if (!r0.ok) expect(r0.fault).toMatchObject({ type: 'F_TRANSLATION', level: 0 });
  });

  it('F_TRANSLATION for an input address outside the TTB0 range and for EPD1', () => {
    const { mem, p } = s1Only();
    const r = walkS1(newCtx(mem), p, { va: 1n << 48n, txn: RD });
    expect(!r.ok && r.fault.type).toBe('F_TRANSLATION');
    expect(!r.ok && r.fault.level).toBeUndefined();
    const up = walkS1(newCtx(mem), p, { va: 0xffff_0000_0000_0000n, txn: RD });
    expect(!up.ok && up.fault.reason).toMatch(/EPD1/);
  });

  it('TBI ignores the top byte and bit 55 selects TTB1', () => {
    const { mem, pgt, p } = s1Only();
    pgt.mapPages(0x1000n, 0x9000n, 0x1000n, 1, RW);
    const tagged = 0x5a00_0000_0000_1008n;
    expect(walkS1(newCtx(mem), p, { va: tagged, txn: RD }).ok).toBe(false);
    p.tt[0].tbi = true;
    const r = walkS1(newCtx(mem), p, { va: tagged, txn: RD });
    expect(r.ok && r.pa).toBe(0x9008n);
    // TTB1: an upper-range address walks the TTB1 table.
    p.tt[1] = { ...p.tt[0], epd: false, tbi: false };
    const r1 = walkS1(newCtx(mem), p, { va: 0xffff_0000_0000_1010n, txn: RD });
    expect(r1.ok && r1.pa).toBe(0x9010n);
    expect(r1.ok && r1.s1!.ttbSel).toBe(1);
  });

  it('F_ADDR_SIZE when the output is wider than IPS, and for a table address', () => {
    const { mem, pgt, p } = s1Only();
    pgt.mapPages(0x1000n, 0x100_0000_0000n, 0x1000n, 1, RW); // PA bit 40
    const r = walkS1(newCtx(mem), { ...p, ips: 2 /* 40 bits */ }, { va: 0x1000n, txn: RD });
    expect(!r.ok && r.fault).toMatchObject({ type: 'F_ADDR_SIZE', stage: 1, level: 3 });
    expect(walkS1(newCtx(mem), { ...p, ips: 3 /* 42 bits */ }, { va: 0x1000n, txn: RD }).ok).toBe(true);
    // A level-0 table pointer with bit 44 set under IPS 44.
    const l0 = pgt.pgd;
    const d = mem.peek64(l0)!;
    mem.write64(l0, d | (1n << 44n));
    const t = walkS1(newCtx(mem), { ...p, ips: 4 }, { va: 0x1000n, txn: RD });
    expect(!t.ok && t.fault).toMatchObject({ type: 'F_ADDR_SIZE', level: 0 });
  });

  it('F_ACCESS when AF = 0 unless AFFD; access flag fault beats permission fault', () => {
    const { mem, pgt, p } = s1Only();
    pgt.mapPages(0x1000n, 0x9000n, 0x1000n, 1, IOMMU_READ);
    const leaf = pgt.tables().find((t) => t.level === 3)!.addr + 8n;
    mem.write64(leaf, mem.peek64(leaf)! & ~(1n << 10n));
    const w = { access: 'write', priv: true } as const;
    const r = walkS1(newCtx(mem), p, { va: 0x1000n, txn: w });
    expect(!r.ok && r.fault).toMatchObject({ type: 'F_ACCESS', stage: 1, level: 3 });
    const r2 = walkS1(newCtx(mem), { ...p, affd: true }, { va: 0x1000n, txn: w });
    expect(!r2.ok && r2.fault.type).toBe('F_PERMISSION');
  });

  it('F_PERMISSION for write to read-only, unprivileged access to a priv mapping, exec of noexec', () => {
    const { mem, pgt, p } = s1Only();
    pgt.mapPages(0x1000n, 0x9000n, 0x1000n, 1, IOMMU_READ);
    pgt.mapPages(0x2000n, 0xa000n, 0x1000n, 1, RW | IOMMU_PRIV);
    pgt.mapPages(0x3000n, 0xb000n, 0x1000n, 1, IOMMU_READ | IOMMU_NOEXEC);
    const go = (va: bigint, access: 'read' | 'write' | 'exec', priv: boolean) => {
      const r = walkS1(newCtx(mem), p, { va, txn: { access, priv } });
      return r.ok ? 'ok' : r.fault.type;
    };
    expect(go(0x1000n, 'read', false)).toBe('ok');
    expect(go(0x1000n, 'write', true)).toBe('F_PERMISSION');
    expect(go(0x2000n, 'write', true)).toBe('ok');
    expect(go(0x2000n, 'read', false)).toBe('F_PERMISSION');
    expect(go(0x3000n, 'exec', true)).toBe('F_PERMISSION');
    expect(go(0x3000n, 'exec', false)).toBe('F_PERMISSION');
    expect(go(0x1000n, 'exec', false)).toBe('ok');
    // EL0-writable memory is implicitly PXN.
    pgt.mapPages(0x4000n, 0xc000n, 0x1000n, 1, RW);
    expect(go(0x4000n, 'exec', true)).toBe('F_PERMISSION');
    expect(go(0x4000n, 'exec', false)).toBe('ok');
  });

  it('APTable and XNTable restrict the levels below unless HAD', () => {
    const { mem, pgt, p } = s1Only();
    pgt.mapPages(0x1000n, 0x9000n, 0x1000n, 1, RW);
    const l0 = pgt.pgd;
    mem.write64(l0, mem.peek64(l0)! | (2n << 61n) | (1n << 60n)); // APTable read-only, UXNTable
    expect(walkS1(newCtx(mem), p, { va: 0x1000n, txn: { access: 'write', priv: true } }).ok).toBe(false);
    expect(walkS1(newCtx(mem), p, { va: 0x1000n, txn: { access: 'exec', priv: false } }).ok).toBe(false);
    expect(walkS1(newCtx(mem), p, { va: 0x1000n, txn: RD }).ok).toBe(true);
    p.tt[0].had = true;
    expect(walkS1(newCtx(mem), p, { va: 0x1000n, txn: { access: 'write', priv: true } }).ok).toBe(true);
  });

  it('a level-3 descriptor with type 0b01 is reserved; a level-0 block is not allowed at 4K', () => {
    const { mem, pgt, p } = s1Only();
    pgt.mapPages(0x1000n, 0x9000n, 0x1000n, 1, RW);
    const l3 = pgt.tables().find((t) => t.level === 3)!.addr + 8n;
    mem.write64(l3, mem.peek64(l3)! & ~2n);
    const r = walkS1(newCtx(mem), p, { va: 0x1000n, txn: RD });
    expect(!r.ok && r.fault).toMatchObject({ type: 'F_TRANSLATION', level: 3 });
    mem.write64(pgt.pgd + 8n, encodeS1Leaf(0x80_0000_0000n, 4096, 0, { af: true, ap: 1 }));
    const b = walkS1(newCtx(mem), p, { va: 0x80_0000_1000n, txn: RD });
    expect(!b.ok && b.fault).toMatchObject({ type: 'F_TRANSLATION', level: 0 });
  });

  it('F_WALK_EABT when a descriptor fetch hits no memory', () => {
    const { mem, s1Alloc } = machine([{ base: 0x4000_0000n, size: 0x2000_0000n }]);
    const pgt = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s1', granule: 4096, ias: 48, oas: 48 }, s1Alloc);
    pgt.mapPages(0x1000n, 0x9000n, 0x1000n, 1, RW);
    const p = s1ParamsFor(pgt);
    // Point the level-0 entry at a table outside RAM.
    mem.write64(pgt.pgd, encodeS1Table(0x7000_0000n, 4096));
    const ctx = newCtx(mem, true);
    const r = walkS1(ctx, p, { va: 0x1000n, txn: RD });
    expect(!r.ok && r.fault).toMatchObject({ type: 'F_WALK_EABT', stage: 1, class: 'TT', level: 1, fetchAddr: 0x7000_0000n });
    expect(ctx.trace!.at(-1)!.desc).toBeUndefined();
  });

  it('64K granule with 52-bit output addresses keeps PA[51:48] in descriptor bits [15:12]', () => {
    const { mem, s1Alloc } = machine();
    const pgt = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s1', granule: 65536, ias: 52, oas: 52 }, s1Alloc);
    const pa = 0xa_bcde_f012_0000n;
    expect(pgt.mapPages(0x1_0000n, pa, 0x1_0000n, 1, RW).mapped).toBe(0x1_0000n);
    const pte = pgt.iovaToPhys(0x1_0000n)!.pte;
    expect((pte >> 12n) & 0xfn).toBe(0xan);
    const r = walkS1(newCtx(mem), s1ParamsFor(pgt, 52), { va: 0x1_0004n, txn: RD });
    expect(r.ok && r.pa).toBe(pa + 4n);
    // With a 48-bit SMMU, bits [15:12] are RES0 and the output is the 48-bit address.
    const p48 = s1ParamsFor(pgt, 48);
    p48.tt[0].tsz = 16; // a 48-bit SMMU has no 52-bit VA either
    const r48 = walkS1(newCtx(mem), p48, { va: 0x1_0004n, txn: RD });
    expect(r48.ok && r48.pa).toBe((pa & ((1n << 48n) - 1n)) + 4n);
  });

  it('rejects an illegal TxSZ as C_BAD_CD instead of walking', () => {
    const { mem, p } = s1Only();
    p.tt[0].tsz = 10;
    const r = walkS1(newCtx(mem), p, { va: 0n, txn: RD });
    expect(!r.ok && r.fault.type).toBe('C_BAD_CD');
  });
});

describe('stage-2 walk', () => {
  it('concatenated start tables: 4K ias 40 starts at level 1 with two tables', () => {
    const { mem, s2Alloc } = machine();
    const pgt = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s2', granule: 4096, ias: 40, oas: 40 }, s2Alloc);
    const p = s2ParamsFor(pgt, 40);
    expect(p.sl0).toBe(1);
    const hi = 0xff_c000_0000n; // in the second concatenated table
    expect(pgt.mapPages(hi, 0x4000_0000n, 0x4000_0000n, 1, RW).mapped).toBe(0x4000_0000n);
    const ctx = newCtx(mem, true);
    const r = walkS2Only(ctx, p, hi + 0x123n, RD);
    expect(r.ok && r.pa).toBe(0x4000_0123n);
    expect(ctx.trace![0].addr).toBe(pgt.pgd + 0x1000n + 511n * 8n);
  });

  it('IPA beyond S2T0SZ is a stage-2 F_TRANSLATION with the IPA', () => {
    const { mem, s2Alloc } = machine();
    const pgt = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s2', granule: 4096, ias: 40, oas: 40 }, s2Alloc);
    const r = walkS2Only(newCtx(mem), s2ParamsFor(pgt, 40), 1n << 40n, RD);
    expect(!r.ok && r.fault).toMatchObject({ type: 'F_TRANSLATION', stage: 2, class: 'IN', ipa: 1n << 40n });
  });

  it('S2AP and XN', () => {
    const { mem, s2Alloc } = machine();
    const pgt = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s2', granule: 4096, ias: 48, oas: 48 }, s2Alloc);
    pgt.mapPages(0x1000n, 0x9000n, 0x1000n, 1, IOMMU_READ);
    pgt.mapPages(0x2000n, 0xa000n, 0x1000n, 1, IOMMU_WRITE);
    pgt.mapPages(0x3000n, 0xb000n, 0x1000n, 1, RW | IOMMU_NOEXEC);
    const p = s2ParamsFor(pgt);
    const go = (ipa: bigint, access: 'read' | 'write' | 'exec') => {
      const r = walkS2Only(newCtx(mem), p, ipa, { access, priv: false });
      return r.ok ? 'ok' : r.fault.type;
    };
    expect([go(0x1000n, 'read'), go(0x1000n, 'write')]).toEqual(['ok', 'F_PERMISSION']);
    expect([go(0x2000n, 'read'), go(0x2000n, 'write')]).toEqual(['F_PERMISSION', 'ok']);
    expect([go(0x3000n, 'exec'), go(0x1000n, 'exec')]).toEqual(['F_PERMISSION', 'ok']);
  });

  it('S2 F_ACCESS unless S2AFFD', () => {
    const { mem, s2Alloc } = machine();
    const pgt = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s2', granule: 4096, ias: 48, oas: 48 }, s2Alloc);
    pgt.mapPages(0x1000n, 0x9000n, 0x1000n, 1, RW);
    const leaf = pgt.tables().find((t) => t.level === 3)!.addr + 8n;
    mem.write64(leaf, mem.peek64(leaf)! & ~(1n << 10n));
    const p = s2ParamsFor(pgt);
    const r = walkS2Only(newCtx(mem), p, 0x1000n, RD);
    expect(!r.ok && r.fault).toMatchObject({ type: 'F_ACCESS', stage: 2, level: 3 });
    expect(walkS2Only(newCtx(mem), { ...p, affd: true }, 0x1000n, RD).ok).toBe(true);
  });

  it('illegal S2 configurations (C_BAD_STE reasons)', () => {
    const base: S2WalkParams = { ttb: 0n, tsz: 24, sl0: 1, granule: 4096, ps: 5, oasBits: 48, affd: false, xnx: false, ptw: false };
    expect(s2ConfigError(base)).toBeNull(); // 40-bit IPA at level 1: 2 tables
    expect(s2ConfigError({ ...base, sl0: 0 })).toMatch(/concatenated/); // level 2 would need 1024 tables
    expect(s2ConfigError({ ...base, tsz: 40 })).toMatch(/above 39/);
    expect(s2ConfigError({ ...base, sl0: 3 })).toMatch(/reserved/);
    expect(s2ConfigError({ ...base, tsz: 16, sl0: 2, oasBits: 40 })).toMatch(/wider|44/);
    expect(s2ConfigError({ ...base, tsz: 34, sl0: 2 })).toMatch(/too small/); // 30-bit IPA cannot start at L0
    expect(s2ConfigError({ ...base, granule: 65536, sl0: 3 })).toMatch(/reserved/);
  });
});

describe('nested faults', () => {
  it('stage-2 fault on a stage-1 table address: S2, CLASS=TT, IPA = the table address', () => {
    const { mem, s1, s2, p1, p2 } = nested(0x1000n);
    const l2 = s1.tables().find((t) => t.level === 2)!.addr;
    s2.unmapPages(l2, 0x1000n, 1);
    const r = walkS1(newCtx(mem), p1, { va: 0x12_3456_7000n, txn: RD }, p2);
    expect(!r.ok && r.fault).toMatchObject({ type: 'F_TRANSLATION', stage: 2, class: 'TT' });
    expect(!r.ok && (r.fault.ipa! & ~0xfffn)).toBe(l2);
  });

  it('stage-2 fault on the output: CLASS=IN with the IPA; S2 permission kept apart from S1', () => {
    const { mem, s2, p1, p2 } = nested(0x1000n);
    s2.unmapPages(0x8000_1000n, 0x1000n, 1);
    const r = walkS1(newCtx(mem), p1, { va: 0x12_3456_7010n, txn: RD }, p2);
    expect(!r.ok && r.fault).toMatchObject({ type: 'F_TRANSLATION', stage: 2, class: 'IN', ipa: 0x8000_1010n });
    s2.mapPages(0x8000_1000n, 0x9000_1000n, 0x1000n, 1, IOMMU_READ);
    const w = walkS1(newCtx(mem), p1, { va: 0x12_3456_7010n, txn: { access: 'write', priv: true } }, p2);
    expect(!w.ok && w.fault).toMatchObject({ type: 'F_PERMISSION', stage: 2, class: 'IN' });
  });

  it('stage-1 permission fault comes before the stage-2 walk of the output', () => {
    const { mem, s1, s2, p1, p2 } = nested(0x1000n);
    s1.unmapPages(0x12_3456_7000n, 0x1000n, 1);
    s1.mapPages(0x12_3456_7000n, 0x8000_1000n, 0x1000n, 1, IOMMU_READ);
    s2.unmapPages(0x8000_1000n, 0x1000n, 1);
    const ctx = newCtx(mem, true);
    const r = walkS1(ctx, p1, { va: 0x12_3456_7000n, txn: { access: 'write', priv: true } }, p2);
    expect(!r.ok && r.fault).toMatchObject({ type: 'F_PERMISSION', stage: 1 });
    expect(ctx.trace!.some((e) => e.purpose === 's2-for-output')).toBe(false);
  });

  it('S2PTW: a stage-1 table in Device memory faults the table walk', () => {
    const { mem, s1Alloc, s2Alloc } = machine();
    const s1 = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s1', granule: 4096, ias: 39, oas: 48 }, s1Alloc);
    const s2 = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s2', granule: 4096, ias: 48, oas: 48 }, s2Alloc);
    s1.mapPages(0x1000n, 0x8000_0000n, 0x1000n, 1, RW);
    s2.mapPages(0x4000_0000n, 0x4000_0000n, 0x4000_0000n, 1, IOMMU_READ | IOMMU_WRITE | 16 /* MMIO */);
    s2.mapPages(0x8000_0000n, 0x8000_0000n, 0x1000n, 1, RW);
    const p2 = { ...s2ParamsFor(s2), ptw: true };
    const r = walkS1(newCtx(mem), s1ParamsFor(s1), { va: 0x1000n, txn: RD }, p2);
    expect(!r.ok && r.fault).toMatchObject({ type: 'F_PERMISSION', stage: 2, class: 'TT' });
    expect(walkS1(newCtx(mem), s1ParamsFor(s1), { va: 0x1000n, txn: RD }, { ...p2, ptw: false }).ok).toBe(true);
  });
});

describe('hand-built descriptors', () => {
  it('stage-2 table/leaf encoders produce walkable tables', () => {
    const mem = new PhysicalMemory();
    const p: S2WalkParams = { ttb: 0x10_0000n, tsz: 34, sl0: 0, granule: 4096, ps: 2, oasBits: 48, affd: false, xnx: false, ptw: false };
    // 30-bit IPA starting at level 2: one L2 table with a 2M block and a table of pages.
    mem.write64(0x10_0000n, encodeS2Leaf(0x4000_0000n, 4096, 2, { af: true, s2ap: 3, memAttr: 0xf }));
    mem.write64(0x10_0008n, encodeS2Table(0x11_0000n, 4096));
    mem.write64(0x11_0000n + 5n * 8n, encodeS2Leaf(0x7777_7000n, 4096, 3, { af: true, s2ap: 1 }));
    expect(walkS2Only(newCtx(mem), p, 0x1_2345n, RD)).toMatchObject({ ok: true, pa: 0x4001_2345n });
    expect(walkS2Only(newCtx(mem), p, 0x20_5010n, RD)).toMatchObject({ ok: true, pa: 0x7777_7010n });
  });

  it('permission function: PAN denies privileged data access to EL0-accessible memory', () => {
    const perm = { ap: 1, pxn: false, uxn: false, wxn: false, pan: true };
    expect(s1PermissionDenied(perm, { access: 'read', priv: true })).toMatch(/PAN/);
    expect(s1PermissionDenied(perm, { access: 'read', priv: false })).toBeNull();
    expect(s1PermissionDenied({ ...perm, wxn: true, pan: false }, { access: 'exec', priv: false })).toMatch(/WXN/);
  });
});

// Keep the S1WalkParams type import used for readers of this file.
export type { S1WalkParams };
