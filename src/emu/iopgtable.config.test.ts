/**
 * io-pgtable-arm configuration (Linux 6.8-6.14): arm_lpae_restrict_pgsizes,
 * arm_lpae_alloc_pgtable, arm_64_lpae_alloc_pgtable_s1/_s2 (TCR, VTCR, MAIR)
 * and the 6.14 arm_lpae_concat_mandatory stage-2 concatenation rule.
 *
 * Expected values come from the architecture's encodings (TCR_ELx.TG0/IPS,
 * VTCR_EL2.SL0/PS) and Linux's rules, written out here as tables or as small
 * independent formulas; none is read back from the implementation.
 */
import { describe, expect, it } from 'vitest';
import { ArmLpaeIoPgtable, IoPgtableConfigError, lpaeGeometry, type IoPgtableFormat } from './iopgtable';
import { PhysicalMemory, TableAllocator } from './memory';
import type { Granule } from './descriptor';

const S1: IoPgtableFormat = 'arm-lpae-s1';
const S2: IoPgtableFormat = 'arm-lpae-s2';
const K4: Granule = 4096;
const K16: Granule = 16384;
const K64: Granule = 65536;
const G = 1n << 30n;

const R = 1;
const W = 2;
const C = 4;

function make(fmt: IoPgtableFormat, granule: Granule, ias: number, oas: number, coherentWalk?: boolean) {
  const mem = new PhysicalMemory();
  const alloc = new TableAllocator(mem, 0x8000_0000_0000n, 0x8100_0000_0000n);
  const pt = ArmLpaeIoPgtable.alloc({ fmt, granule, ias, oas, coherentWalk }, alloc);
  return { pt, alloc, mem };
}

/** Architecture: TCR.TG0 encodes 4K = 0b00, 64K = 0b01, 16K = 0b10. */
const TG0: Record<Granule, number> = { 4096: 0, 16384: 2, 65536: 1 };
/** Architecture: TCR.IPS / VTCR.PS. */
const PS: Record<number, number> = { 32: 0, 36: 1, 40: 2, 42: 3, 44: 4, 48: 5, 52: 6 };
/** Architecture: VTCR_EL2.SL0 (no SL2): 4K: 2 - start level; 16K/64K: 3 - start level. */
function sl0(granule: Granule, startLevel: number): number {
  return granule === 4096 ? 2 - startLevel : 3 - startLevel;
}

describe('start level from ias (stage 1, no concatenation)', () => {
  it.each([
    [K4, 48, 0],
    [K4, 39, 1],
    [K4, 32, 1],
    [K4, 30, 2],
    [K4, 21, 3],
    [K16, 48, 0],
    [K16, 47, 1],
    [K16, 37, 1],
    [K16, 36, 2],
    [K16, 35, 2],
    [K64, 48, 1],
    [K64, 42, 2],
    [K64, 43, 1],
    [K64, 52, 1],
    [K64, 29, 3],
  ] as Array<[Granule, number, number]>)('%i-byte granule, ias %i → start level %i', (g, ias, start) => {
    const { pt } = make(S1, g, ias, 48);
    expect(pt.startLevel).toBe(start);
    expect(pt.concatenated).toBe(1);
    expect(lpaeGeometry({ fmt: S1, granule: g, ias, oas: 48 }).startLevel).toBe(start);
  });

  it('start-level table size covers exactly ias bits (no concatenation at stage 1)', () => {
    // 4K ias 32: level 1 resolves VA[31:30] → 4 entries; 4K ias 39: VA[38:30] → 512.
    expect(make(S1, K4, 32, 48).pt.pgdSize).toBe(4n * 8n);
    expect(make(S1, K4, 39, 48).pt.pgdSize).toBe(512n * 8n);
    // 16K ias 48: level 0 resolves VA[47] → 2 entries.
    expect(make(S1, K16, 48, 48).pt.pgdSize).toBe(2n * 8n);
    // 64K ias 48: level 1 resolves VA[47:42] → 64 entries; ias 52: VA[51:42] → 1024.
    expect(make(S1, K64, 48, 48).pt.pgdSize).toBe(64n * 8n);
    expect(make(S1, K64, 52, 52).pt.pgdSize).toBe(1024n * 8n);
  });
});

describe('pgsize_bitmap and address-size capping', () => {
  it.each([
    [K4, 48, (1n << 12n) | (1n << 21n) | (1n << 30n)],
    [K4, 52, (1n << 12n) | (1n << 21n) | (1n << 30n)],
    [K16, 48, (1n << 14n) | (1n << 25n)],
    [K16, 52, (1n << 14n) | (1n << 25n)],
    [K64, 48, (1n << 16n) | (1n << 29n)],
    [K64, 52, (1n << 16n) | (1n << 29n) | (1n << 42n)],
  ] as Array<[Granule, number, bigint]>)('%i-byte granule, oas %i → bitmap %s', (g, oas, bitmap) => {
    for (const fmt of [S1, S2]) {
      const { pt } = make(fmt, g, 48, oas);
      expect(pt.pgsizeBitmap).toBe(bitmap);
    }
  });

  it('ias and oas are capped to 48 bits for 4K and 16K, 52 bits for 64K', () => {
    for (const g of [K4, K16]) {
      const { pt } = make(S1, g, 52, 52);
      expect(pt.ias).toBe(48);
      expect(pt.oas).toBe(48);
      expect(pt.s1?.tsz).toBe(16);
      expect(pt.s1?.ips).toBe(PS[48]);
    }
    const a = make(S1, K64, 52, 52).pt;
    expect(a.ias).toBe(52);
    expect(a.oas).toBe(52);
    expect(a.s1?.tsz).toBe(12);
    expect(a.s1?.ips).toBe(PS[52]);
    // Over-wide requests are capped, not rejected.
    const b = make(S1, K64, 56, 56).pt;
    expect(b.ias).toBe(52);
    expect(b.oas).toBe(52);
    const c = make(S2, K4, 50, 50).pt;
    expect(c.ias).toBe(48);
    expect(c.oas).toBe(48);
    expect(c.s2?.ps).toBe(PS[48]);
  });

  it('the capped ias bounds map_pages: 4K with ias 52 requested rejects IOVA 2^48 with ERANGE', () => {
    const { pt } = make(S1, K4, 52, 52);
    expect(pt.mapPages(1n << 48n, 0n, 0x1000n, 1, R | W)).toEqual({ error: 'ERANGE', mapped: 0n });
    expect(pt.mapPages((1n << 48n) - 0x1000n, 0n, 0x1000n, 1, R | W)).toEqual({ mapped: 0x1000n });
  });
});

describe('stage-1 TCR and MAIR', () => {
  it.each([
    [K4, 48, 48],
    [K4, 39, 40],
    [K4, 32, 32],
    [K16, 48, 44],
    [K16, 36, 36],
    [K64, 48, 42],
    [K64, 42, 48],
    [K64, 52, 52],
  ] as Array<[Granule, number, number]>)('%i-byte granule ias %i oas %i', (g, ias, oas) => {
    const { pt } = make(S1, g, ias, oas);
    expect(pt.s2).toBeUndefined();
    expect(pt.s1).toEqual({
      tsz: 64 - ias,
      tg: TG0[g],
      ips: PS[oas],
      sh: 3, // inner shareable
      irgn: 1, // write-back write-allocate
      orgn: 1,
      ttbr: pt.pgd,
      mair: 0xf404ff44n,
    });
  });

  it('IPS encodes every architected output size (32 → 0 … 52 → 6)', () => {
    const cases: Array<[number, number]> = [
      [32, 0],
      [36, 1],
      [40, 2],
      [42, 3],
      [44, 4],
      [48, 5],
      [52, 6],
    ];
    for (const [oas, ips] of cases) {
      const g = oas === 52 ? K64 : K4;
      expect(make(S1, g, 48, oas).pt.s1?.ips).toBe(ips);
    }
  });

  it('MAIR holds the four attributes at Linux indices 0..3 (NC 0x44, WB 0xff, device 0x04, INC/OWB 0xf4)', () => {
    const mair = make(S1, K4, 48, 48).pt.s1?.mair ?? 0n;
    const byte = (i: number) => (mair >> BigInt(8 * i)) & 0xffn;
    expect([byte(0), byte(1), byte(2), byte(3)]).toEqual([0x44n, 0xffn, 0x04n, 0xf4n]);
    expect(mair >> 32n).toBe(0n);
  });

  it('non-coherent walk: outer-shareable, non-cacheable walks (sh 2, irgn = orgn = 0)', () => {
    const s1 = make(S1, K4, 48, 48, false).pt.s1;
    expect([s1?.sh, s1?.irgn, s1?.orgn]).toEqual([2, 0, 0]);
    const s2 = make(S2, K4, 48, 48, false).pt.s2;
    expect([s2?.sh, s2?.irgn, s2?.orgn]).toEqual([2, 0, 0]);
  });
});

describe('stage-2 VTCR and mandatory concatenation (arm_lpae_concat_mandatory, 6.14)', () => {
  interface S2Case {
    g: Granule;
    ias: number;
    oas: number;
    start: number;
    tables: number;
  }
  const cases: S2Case[] = [
    // 4K, PA size 40: level 0 would resolve one bit → level 1 with 2 concatenated tables.
    { g: K4, ias: 40, oas: 40, start: 1, tables: 2 },
    // 4K, PA size 42: 8 concatenated level-1 tables.
    { g: K4, ias: 42, oas: 42, start: 1, tables: 8 },
    // 4K, 48 bits: no concatenation, 4 levels.
    { g: K4, ias: 48, oas: 48, start: 0, tables: 1 },
    // 4K ias 40 but PA size 48: not mandatory → level 0 with a 2-entry table.
    { g: K4, ias: 40, oas: 48, start: 0, tables: 1 },
    // 4K ias 36 starts at level 1 anyway (64 entries).
    { g: K4, ias: 36, oas: 36, start: 1, tables: 1 },
    // 16K, 48 bits (R_DXBSH): level 1, 2 tables.
    { g: K16, ias: 48, oas: 48, start: 1, tables: 2 },
    // 16K ias 48, oas 40: still R_DXBSH (ias 48).
    { g: K16, ias: 48, oas: 40, start: 1, tables: 2 },
    // 16K ias 40, PA size 40 (R_SRKBC, the case 6.14 added): level 2, 16 tables.
    { g: K16, ias: 40, oas: 40, start: 2, tables: 16 },
    // 16K ias 40, PA 48: level 1 with 16 entries, no concatenation.
    { g: K16, ias: 40, oas: 48, start: 1, tables: 1 },
    // 64K: never mandatory.
    { g: K64, ias: 48, oas: 48, start: 1, tables: 1 },
    { g: K64, ias: 42, oas: 42, start: 2, tables: 1 },
    { g: K64, ias: 52, oas: 52, start: 1, tables: 1 },
  ];

  it.each(cases.map((c) => [c.g, c.ias, c.oas, c.start, c.tables, c] as const))(
    '%i-byte granule ias %i oas %i → start level %i, %i table(s)',
    (_g, _i, _o, _s, _t, c) => {
      const { pt, alloc } = make(S2, c.g, c.ias, c.oas);
      expect(pt.startLevel).toBe(c.start);
      expect(pt.concatenated).toBe(c.tables);
      expect(pt.s1).toBeUndefined();
      // Entries at the start level: ias bits above the start level's shift.
      const pgShift = c.g === K4 ? 12 : c.g === K16 ? 14 : 16;
      const startShift = pgShift + (3 - c.start) * (pgShift - 3);
      const entries = 1n << BigInt(c.ias - startShift);
      expect(pt.pgdSize).toBe(entries * 8n);
      if (c.tables > 1) {
        // Concatenated: exactly `tables` full granule-sized tables, allocated as one block.
        expect(pt.pgdSize).toBe(BigInt(c.tables) * BigInt(c.g));
        expect(alloc.liveBytes).toBe(pt.pgdSize);
        expect(pt.pgd % pt.pgdSize).toBe(0n);
      }
      expect(pt.s2).toEqual({
        tsz: 64 - c.ias,
        sl: sl0(c.g, c.start),
        tg: TG0[c.g],
        ps: PS[c.oas],
        sh: 3,
        irgn: 1,
        orgn: 1,
        vttbr: pt.pgd,
      });
    },
  );

  it('spot values from the brief: 4K 40 → SL0 1, pgd 8K; 4K 48 → SL0 2; 16K 48 → SL0 2', () => {
    const a = make(S2, K4, 40, 40).pt;
    expect([a.startLevel, a.concatenated, a.pgdSize, a.s2?.sl]).toEqual([1, 2, 8192n, 1]);
    const b = make(S2, K4, 42, 42).pt;
    expect([b.startLevel, b.concatenated, b.pgdSize, b.s2?.sl]).toEqual([1, 8, 32768n, 1]);
    const c = make(S2, K4, 48, 48).pt;
    expect([c.startLevel, c.concatenated, c.pgdSize, c.s2?.sl]).toEqual([0, 1, 4096n, 2]);
    const d = make(S2, K16, 48, 48).pt;
    expect([d.startLevel, d.concatenated, d.pgdSize, d.s2?.sl]).toEqual([1, 2, 32768n, 2]);
    const e = make(S2, K16, 40, 40).pt;
    expect([e.startLevel, e.concatenated, e.pgdSize, e.s2?.sl]).toEqual([2, 16, 16n * 16384n, 1]);
  });

  it('stage 1 never concatenates, even where stage 2 must', () => {
    const a = make(S1, K4, 40, 40).pt;
    expect([a.startLevel, a.concatenated, a.pgdSize]).toEqual([0, 1, 16n]);
    const b = make(S1, K16, 40, 40).pt;
    expect([b.startLevel, b.concatenated, b.pgdSize]).toEqual([1, 1, 128n]);
  });

  it('4K stage 2 with oas 40 but ias 48 would need 512 concatenated tables: rejected (Linux returns NULL)', () => {
    expect(() => make(S2, K4, 48, 40)).toThrow(IoPgtableConfigError);
  });

  it.each([
    [S1, K4, 34],
    [S2, K4, 34],
    [S1, K4, 38],
    [S2, K16, 46],
    [S1, K64, 50],
    [S2, K64, 50],
    [S1, K64, 30],
  ] as Array<[IoPgtableFormat, Granule, number]>)('%s %i-byte granule oas %i is rejected (field oas)', (fmt, g, oas) => {
    let err: unknown;
    try {
      make(fmt, g, 32, oas);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IoPgtableConfigError);
    expect((err as IoPgtableConfigError).field).toBe('oas');
  });

  it('a rejected configuration allocates nothing that stays live', () => {
    const mem = new PhysicalMemory();
    const alloc = new TableAllocator(mem, 0x1000_0000n, 0x2000_0000n);
    expect(() => ArmLpaeIoPgtable.alloc({ fmt: S2, granule: K4, ias: 40, oas: 46 }, alloc)).toThrow(IoPgtableConfigError);
    expect(alloc.liveBytes).toBe(0n);
  });
});

describe('mapping through a concatenated start table', () => {
  const PROT = R | W | C;

  it('4K ias 40: 1G blocks in the second concatenated table and the last entry; entries sit at pgd + idx*8', () => {
    const { pt, mem } = make(S2, K4, 40, 40);
    const cases: Array<[bigint, bigint]> = [
      [512n * G, 0x40_0000_0000n], // first entry of the second level-1 table
      [700n * G, 0x80_0000_0000n],
      [1023n * G, 0xc0_4000_0000n], // last entry of the last table
    ];
    for (const [iova, pa] of cases) {
      expect(pt.mapPages(iova, pa, G, 1, PROT)).toEqual({ mapped: G });
      const r = pt.iovaToPhys(iova + 0x1234_5678n);
      expect(r?.phys).toBe(pa + 0x1234_5678n);
      expect(r?.level).toBe(1);
      // The architecture indexes the concatenated level-1 tables with IPA[39:30].
      const raw = mem.peek64(pt.pgd + (iova >> 30n) * 8n);
      expect(raw).toBe(r?.pte);
      expect((raw ?? 0n) & 3n).toBe(1n); // block
    }
    expect(pt.iovaToPhys(511n * G)).toBeNull();
    expect(pt.iovaToPhys(0n)).toBeNull();
  });

  it('4K ias 40: a 4K page at the very top goes through the last entry of the second table', () => {
    const { pt, mem } = make(S2, K4, 40, 40);
    const iova = (1n << 40n) - 0x1000n;
    expect(pt.mapPages(iova, 0x12_3456_7000n, 0x1000n, 1, PROT)).toEqual({ mapped: 0x1000n });
    expect(pt.iovaToPhys(iova + 0xabcn)).toEqual({ phys: 0x12_3456_7abcn, pte: 0x12_3456_7000n | 0x7ffn, level: 3 });
    const l1 = mem.peek64(pt.pgd + 1023n * 8n) ?? 0n;
    expect(l1 & 3n).toBe(3n); // table descriptor at pgd index 1023 (second table, last entry)
    // A table descriptor holds only the next-level address and the type bits.
    expect(l1 & ~(((1n << 48n) - 1n) & ~0xfffn) & ~3n).toBe(0n);
    // Nothing landed in the first table's last entry.
    expect(mem.peek64(pt.pgd + 511n * 8n)).toBe(0n);
  });

  it('16K ias 40: 32M blocks in the second and the last of 16 concatenated level-2 tables', () => {
    const { pt, mem } = make(S2, K16, 40, 40);
    const B32M = 1n << 25n;
    const perTable = 2048n;
    const cases: Array<[bigint, bigint]> = [
      [perTable * B32M, 0x20_0000_0000n], // index 2048: first entry of table 1
      [(perTable + 5n) * B32M, 0x20_0200_0000n],
      [(16n * perTable - 1n) * B32M, 0xff_fe00_0000n], // index 32767: last entry of table 15
    ];
    for (const [iova, pa] of cases) {
      expect(pt.mapPages(iova, pa, B32M, 1, PROT)).toEqual({ mapped: B32M });
      const r = pt.iovaToPhys(iova + B32M - 1n);
      expect(r?.phys).toBe(pa + B32M - 1n);
      expect(r?.level).toBe(2);
      expect(mem.peek64(pt.pgd + (iova >> 25n) * 8n)).toBe(r?.pte);
    }
    // 16K pages in the last table.
    const top = (1n << 40n) - 0x4000n;
    expect(pt.mapPages(top - 31n * B32M, 0x4000n, 0x4000n, 1, PROT)).toEqual({ mapped: 0x4000n });
    expect(pt.iovaToPhys(top - 31n * B32M)?.phys).toBe(0x4000n);
    expect(pt.iovaToPhys(top - 31n * B32M)?.level).toBe(3);
  });

  it('16K ias 48 (2 concatenated level-1 tables): mapping above 2^47 uses the second table', () => {
    const { pt, mem } = make(S2, K16, 48, 48);
    const iova = (1n << 47n) + (3n << 36n) + (7n << 25n); // level-1 index 2048 + 3, level-2 index 7
    expect(pt.mapPages(iova, 0xabc_0000_0000n, 1n << 25n, 1, PROT)).toEqual({ mapped: 1n << 25n });
    expect(pt.iovaToPhys(iova)?.phys).toBe(0xabc_0000_0000n);
    expect(((mem.peek64(pt.pgd + 2051n * 8n) ?? 0n) & 3n)).toBe(3n);
    expect(mem.peek64(pt.pgd + 3n * 8n)).toBe(0n);
  });
});
