/**
 * The map_pages / unmap_pages / iova_to_phys behaviours of io-pgtable-arm
 * (Linux 6.8-6.14, the generation that still splits blocks) listed in
 * /work/shared/spec/pgtable.md, one test each (plus a few neighbours).
 *
 * Expected values are derived from the Linux code paths named in each test
 * (arm_lpae_map_pages, __arm_lpae_map, arm_lpae_init_pte,
 * arm_lpae_max_entries, __arm_lpae_unmap, arm_lpae_split_blk_unmap,
 * __arm_lpae_free_pgtable) and from the architecture's descriptor format;
 * descriptors are checked against `expectedLeaf`, written here from the rules.
 * Table memory is checked through TableAllocator.liveBytes deltas (one
 * granule per table page).
 */
import { describe, expect, it } from 'vitest';
import { ArmLpaeIoPgtable, type IoPgtableFormat } from './iopgtable';
import { PhysicalMemory, TableAllocator } from './memory';
import type { Granule } from './descriptor';

const R = 1;
const W = 2;
const C = 4;
const X = 8;
const M = 16;
const P = 32;
const RWC = R | W | C;

const K4 = 0x1000n;
const M2 = 0x20_0000n;
const G1 = 0x4000_0000n;

const S1: IoPgtableFormat = 'arm-lpae-s1';
const S2: IoPgtableFormat = 'arm-lpae-s2';

function shiftOf(g: Granule): number {
  return g === 4096 ? 12 : g === 16384 ? 14 : 16;
}

/** The leaf descriptor Linux writes (see iopgtable.encoding.test.ts for the derivation). */
function expectedLeaf(fmt: IoPgtableFormat, g: Granule, level: number, pa: bigint, prot: number): bigint {
  let d = 1n << 10n;
  d |= prot & C ? 3n << 8n : 2n << 8n;
  if (prot & X) d |= (1n << 53n) | (1n << 54n);
  d |= level === 3 ? 0b11n : 0b01n;
  if (fmt === S1) {
    d |= 1n << 11n;
    if (!(prot & P)) d |= 1n << 6n;
    if (prot & R && !(prot & W)) d |= 1n << 7n;
    d |= (prot & M ? 2n : prot & C ? 1n : 0n) << 2n;
  } else {
    if (prot & R) d |= 1n << 6n;
    if (prot & W) d |= 1n << 7n;
    d |= (prot & M ? 0x1n : prot & C ? 0xfn : 0x5n) << 2n;
  }
  const lo = BigInt(shiftOf(g));
  d |= pa & ((1n << 48n) - 1n) & ~((1n << lo) - 1n);
  if (g === 65536) d |= ((pa >> 48n) & 0xfn) << 12n;
  return d;
}

function make(fmt: IoPgtableFormat = S1, granule: Granule = 4096, ias = 48, oas = 48) {
  const mem = new PhysicalMemory();
  const alloc = new TableAllocator(mem, 0xe000_0000_0000n, 0xe100_0000_0000n);
  const pt = ArmLpaeIoPgtable.alloc({ fmt, granule, ias, oas }, alloc);
  const gran = BigInt(granule);
  const pgdBytes = alloc.liveBytes;
  /** Table pages allocated beyond the pgd. */
  const tables = () => {
    const extra = alloc.liveBytes - pgdBytes;
    expect(extra % gran).toBe(0n);
    return Number(extra / gran);
  };
  return { pt, alloc, mem, tables, fmt, granule };
}

/** The caller's loop (iommu_map → __iommu_map): call map_pages until everything is mapped. */
function mapAll(pt: ArmLpaeIoPgtable, iova: bigint, pa: bigint, size: bigint, count: number, prot: number): bigint[] {
  const calls: bigint[] = [];
  let done = 0n;
  const total = size * BigInt(count);
  while (done < total) {
    const left = Number((total - done) / size);
    const r = pt.mapPages(iova + done, pa + done, size, left, prot);
    expect(r.error).toBeUndefined();
    expect(r.mapped).toBeGreaterThan(0n);
    calls.push(r.mapped);
    done += r.mapped;
  }
  return calls;
}

function phys(pt: ArmLpaeIoPgtable, iova: bigint): bigint | null {
  return pt.iovaToPhys(iova)?.phys ?? null;
}

describe('map_pages argument checks (arm_lpae_map_pages)', () => {
  it.each([
    [S1, 4096, 39, 4096n],
    [S2, 16384, 40, 16384n],
    [S1, 65536, 42, 65536n],
    [S2, 4096, 40, 1n << 30n],
  ] as Array<[IoPgtableFormat, Granule, number, bigint]>)(
    '%s %i-byte granule ias %i: iova >= 2^ias → ERANGE, nothing mapped or allocated',
    (fmt, g, ias, size) => {
      const { pt, tables } = make(fmt, g, ias, 40);
      const top = 1n << BigInt(ias);
      expect(pt.mapPages(top, 0n, size, 1, RWC)).toEqual({ error: 'ERANGE', mapped: 0n });
      expect(pt.mapPages(top * 4n, 0n, size, 1, RWC)).toEqual({ error: 'ERANGE', mapped: 0n });
      expect(pt.mapPages(1n << 63n, 0n, size, 1, RWC)).toEqual({ error: 'ERANGE', mapped: 0n });
      expect(tables()).toBe(0);
      expect(pt.mapPages(top - size, size, size, 1, RWC)).toEqual({ mapped: size });
      expect(phys(pt, top - 1n)).toBe(2n * size - 1n);
    },
  );

  it('paddr >= 2^oas → ERANGE (4K oas 40, 64K oas 48 and 52)', () => {
    const a = make(S1, 4096, 48, 40);
    expect(a.pt.mapPages(0n, 1n << 40n, K4, 1, RWC)).toEqual({ error: 'ERANGE', mapped: 0n });
    expect(a.pt.mapPages(0n, 1n << 45n, M2, 1, RWC)).toEqual({ error: 'ERANGE', mapped: 0n });
    expect(a.tables()).toBe(0);
    expect(a.pt.iovaToPhys(0n)).toBeNull();
    expect(a.pt.mapPages(0n, (1n << 40n) - K4, K4, 1, RWC)).toEqual({ mapped: K4 });

    const b = make(S2, 65536, 48, 48);
    expect(b.pt.mapPages(0n, 1n << 48n, 0x10000n, 1, RWC)).toEqual({ error: 'ERANGE', mapped: 0n });
    const c = make(S2, 65536, 48, 52);
    expect(c.pt.mapPages(0n, 1n << 48n, 0x10000n, 1, RWC)).toEqual({ mapped: 0x10000n });
    expect(c.pt.mapPages(0x10000n, 1n << 52n, 0x10000n, 1, RWC)).toEqual({ error: 'ERANGE', mapped: 0n });
  });

  it.each([
    [4096, [0n, 0x800n, 0x2000n, 0x4000n, 0x10000n, 0x100000n, 0x400000n, 1n << 39n]],
    [16384, [0x1000n, 0x8000n, 0x10000n, 0x200000n, 1n << 30n, 1n << 36n]],
    [65536, [0x1000n, 0x4000n, 0x20000n, 0x200000n, 1n << 30n, 1n << 42n]],
  ] as Array<[Granule, bigint[]]>)('%i-byte granule: pgsize not in the bitmap → EINVAL', (g, sizes) => {
    for (const fmt of [S1, S2]) {
      const { pt, tables } = make(fmt, g, 48, 48);
      for (const size of sizes) {
        expect(pt.mapPages(0n, 0n, size, 1, RWC), `pgsize ${size.toString(16)}`).toEqual({ error: 'EINVAL', mapped: 0n });
      }
      expect(tables()).toBe(0);
      expect(pt.iovaToPhys(0n)).toBeNull();
    }
  });

  it('misaligned iova or paddr → EINVAL, nothing mapped', () => {
    const { pt, tables } = make();
    const bad: Array<[bigint, bigint, bigint]> = [
      [0x800n, 0n, K4],
      [0n, 0x800n, K4],
      [0x1000n, 0n, M2],
      [0n, 0x1000n, M2],
      [M2, 0n, G1],
      [0n, M2, G1],
      [0x1234_5000n, 0x1000n, M2],
    ];
    for (const [iova, pa, size] of bad) {
      expect(pt.mapPages(iova, pa, size, 1, RWC)).toEqual({ error: 'EINVAL', mapped: 0n });
    }
    expect(tables()).toBe(0);
    for (const [iova] of bad) expect(pt.iovaToPhys(iova)).toBeNull();
  });

  it('prot without read or write → EINVAL, nothing mapped or allocated', () => {
    const { pt, tables } = make();
    for (const prot of [0, C, X, M, P, C | X | M | P]) {
      expect(pt.mapPages(0x1000n, 0x1000n, K4, 4, prot)).toEqual({ error: 'EINVAL', mapped: 0n });
    }
    expect(tables()).toBe(0);
    expect(pt.iovaToPhys(0x1000n)).toBeNull();
  });

  it('pgcount entries get consecutive output addresses and one descriptor each', () => {
    const { pt, tables } = make();
    expect(pt.mapPages(0x40_0000n, 0x8000_0000n, K4, 5, R)).toEqual({ mapped: 5n * K4 });
    for (let i = 0n; i < 5n; i++) {
      expect(pt.iovaToPhys(0x40_0000n + i * K4 + 0x10n)).toEqual({
        phys: 0x8000_0000n + i * K4 + 0x10n,
        pte: expectedLeaf(S1, 4096, 3, 0x8000_0000n + i * K4, R),
        level: 3,
      });
    }
    expect(pt.iovaToPhys(0x40_0000n + 5n * K4)).toBeNull();
    expect(pt.iovaToPhys(0x40_0000n - K4)).toBeNull();
    expect(tables()).toBe(3); // levels 1, 2, 3 under the level-0 pgd
  });
});

describe('one call stops at the end of the current table page (arm_lpae_max_entries)', () => {
  it('4K pages from 0x1ff000, pgcount 4: maps 0x1000; the caller loop maps the rest', () => {
    const { pt } = make();
    expect(pt.mapPages(0x1f_f000n, 0x10_0000n, K4, 4, RWC)).toEqual({ mapped: 0x1000n });
    expect(phys(pt, 0x1f_f000n)).toBe(0x10_0000n);
    expect(pt.iovaToPhys(0x20_0000n)).toBeNull();
    // The caller continues from where the call stopped.
    expect(pt.mapPages(0x20_0000n, 0x10_1000n, K4, 3, RWC)).toEqual({ mapped: 0x3000n });
    for (let i = 0n; i < 4n; i++) expect(phys(pt, 0x1f_f000n + i * K4)).toBe(0x10_0000n + i * K4);
    expect(pt.iovaToPhys(0x20_3000n)).toBeNull();
  });

  it('a batch that starts at a table start maps up to 512 entries in one call', () => {
    const { pt } = make();
    expect(pt.mapPages(0x20_0000n, 0n, K4, 600, RWC)).toEqual({ mapped: 512n * K4 });
    expect(phys(pt, 0x3f_f000n)).toBe(511n * K4);
    expect(pt.iovaToPhys(0x40_0000n)).toBeNull();
  });

  it('caller loop over several tables: each call ends at a 2M boundary', () => {
    const { pt } = make();
    const calls = mapAll(pt, 0x3f_0000n, 0x1_0000_0000n, K4, 1040, RWC);
    expect(calls).toEqual([16n * K4, 512n * K4, 512n * K4]);
    expect(phys(pt, 0x3f_0000n + 1039n * K4)).toBe(0x1_0000_0000n + 1039n * K4);
    expect(pt.iovaToPhys(0x3f_0000n + 1040n * K4)).toBeNull();
  });

  it('2M blocks from 1G - 2M with pgcount 3 map one block (end of the level-2 table)', () => {
    const { pt } = make();
    expect(pt.mapPages(G1 - M2, 0n, M2, 3, RWC)).toEqual({ mapped: M2 });
    expect(pt.iovaToPhys(G1)).toBeNull();
    expect(mapAll(pt, G1, M2, M2, 2, RWC)).toEqual([2n * M2]);
  });

  it('16K pages and 64K pages stop at their table ends (2048 / 8192 entries)', () => {
    const a = make(S1, 16384);
    expect(a.pt.mapPages(0x200_0000n - 0x4000n, 0n, 0x4000n, 2048, RWC)).toEqual({ mapped: 0x4000n });
    expect(a.pt.mapPages(0x200_0000n, 0n, 0x4000n, 3000, RWC)).toEqual({ mapped: 2048n * 0x4000n });
    const b = make(S2, 65536);
    expect(b.pt.mapPages(0x2000_0000n - 0x20000n, 0n, 0x10000n, 10, RWC)).toEqual({ mapped: 0x20000n });
    expect(b.pt.mapPages(1n << 42n, 0n, 1n << 29n, 9000, RWC)).toEqual({ mapped: 8192n << 29n });
  });

  it('concatenated S2 start table (4K ias 40): 1G blocks stop at the end of each 4K page of the pgd', () => {
    const { pt } = make(S2, 4096, 40, 40);
    expect(pt.concatenated).toBe(2);
    // Entry 511 is the last of the first concatenated table: one block only.
    expect(pt.mapPages(511n * G1, 0n, G1, 2, RWC)).toEqual({ mapped: G1 });
    expect(pt.iovaToPhys(512n * G1)).toBeNull();
    // From entry 512 the second table holds 512 more: pgcount 600 maps 512 of them.
    expect(pt.mapPages(512n * G1, G1, G1, 600, RWC)).toEqual({ mapped: 512n * G1 });
    expect(phys(pt, (1n << 40n) - 1n)).toBe(513n * G1 - 1n);
    // unmap_pages uses the same limit.
    expect(pt.unmapPages(510n * G1, G1, 3)).toBe(0n); // entry 510 is empty
    expect(pt.unmapPages(511n * G1, G1, 3)).toBe(G1);
    expect(phys(pt, 512n * G1)).toBe(G1);
    expect(pt.unmapPages(1000n * G1, G1, 100)).toBe(24n * G1);
    expect(phys(pt, 999n * G1)).toBe(488n * G1);
  });

  it('concatenated S2 start table (16K ias 40): 32M blocks stop at each 2048-entry page', () => {
    const { pt } = make(S2, 16384, 40, 40);
    const B = 1n << 25n;
    expect(pt.mapPages(2047n * B, 0n, B, 3, RWC)).toEqual({ mapped: B });
    expect(pt.mapPages(2048n * B, B, B, 3, RWC)).toEqual({ mapped: 3n * B });
    expect(pt.mapPages(4095n * B, 0n, B, 2, RWC)).toEqual({ mapped: B });
  });

  it('a non-concatenated level-1 table (S1 4K ias 48) also stops at entry 511', () => {
    const { pt } = make(S1, 4096, 48, 48);
    expect(pt.mapPages(511n * G1, 0n, G1, 2, RWC)).toEqual({ mapped: G1 });
    expect(pt.iovaToPhys(512n * G1)).toBeNull();
  });
});

describe('EEXIST (arm_lpae_init_pte / __arm_lpae_map)', () => {
  it('an existing page anywhere in the batch → EEXIST, mapped 0, nothing written', () => {
    const { pt, tables } = make();
    expect(pt.mapPages(0x5000n, 0xaa_0000n, K4, 1, R)).toEqual({ mapped: K4 });
    const before = Array.from({ length: 512 }, (_, i) => pt.iovaToPhys(BigInt(i) * K4));
    const t = tables();
    expect(pt.mapPages(0n, 0xbb_0000n, K4, 8, RWC)).toEqual({ error: 'EEXIST', mapped: 0n });
    expect(pt.mapPages(0x5000n, 0xbb_0000n, K4, 1, RWC)).toEqual({ error: 'EEXIST', mapped: 0n });
    const after = Array.from({ length: 512 }, (_, i) => pt.iovaToPhys(BigInt(i) * K4));
    expect(after).toEqual(before);
    expect(tables()).toBe(t);
    expect(pt.iovaToPhys(0x5000n)?.pte).toBe(expectedLeaf(S1, 4096, 3, 0xaa_0000n, R));
  });

  it('a page or block under an existing block → EEXIST without allocating tables', () => {
    const { pt, tables } = make();
    expect(pt.mapPages(G1, 0x8000_0000n, G1, 1, RWC)).toEqual({ mapped: G1 });
    expect(pt.mapPages(M2, 0n, M2, 1, RWC)).toEqual({ mapped: M2 });
    const t = tables();
    expect(pt.mapPages(G1 + M2, 0n, M2, 1, RWC)).toEqual({ error: 'EEXIST', mapped: 0n });
    expect(pt.mapPages(G1 + 5n * K4, 0n, K4, 1, RWC)).toEqual({ error: 'EEXIST', mapped: 0n });
    expect(pt.mapPages(M2 + K4, 0n, K4, 3, RWC)).toEqual({ error: 'EEXIST', mapped: 0n });
    expect(pt.mapPages(G1, 0n, G1, 1, RWC)).toEqual({ error: 'EEXIST', mapped: 0n });
    // Batch [empty, block]: the empty slot is not written either.
    expect(pt.mapPages(0n, 0n, M2, 2, RWC)).toEqual({ error: 'EEXIST', mapped: 0n });
    expect(pt.iovaToPhys(0n)).toBeNull();
    expect(tables()).toBe(t);
    expect(phys(pt, G1 + M2 + 0x123n)).toBe(0x8000_0000n + M2 + 0x123n);
  });

  it('Linux checks and replaces slot by slot: a table before the colliding leaf is already unmapped and freed', () => {
    // arm_lpae_init_pte() walks the batch once: a table slot is unmapped
    // (__arm_lpae_unmap + free) as soon as it is seen; the leaf found later
    // returns -EEXIST without writing any leaf. mapped stays 0.
    const { pt, tables } = make();
    expect(pt.mapPages(0x1000n, 0x1000n, K4, 1, RWC)).toEqual({ mapped: K4 }); // L3 table under L2 entry 0
    expect(pt.mapPages(M2, 0x4000_0000n, M2, 1, RWC)).toEqual({ mapped: M2 }); // block at L2 entry 1
    const t = tables();
    expect(pt.mapPages(0n, 0x8000_0000n, M2, 2, RWC)).toEqual({ error: 'EEXIST', mapped: 0n });
    expect(pt.iovaToPhys(0x1000n)).toBeNull();
    expect(pt.iovaToPhys(0n)).toBeNull();
    expect(tables()).toBe(t - 1);
    expect(phys(pt, M2)).toBe(0x4000_0000n);
  });
});

describe('a block mapped over a table replaces it (arm_lpae_init_pte)', () => {
  it('2M over a level-3 table: old pages gone, the table page freed', () => {
    const { pt, tables } = make();
    expect(pt.mapPages(M2, 0x10_0000n, K4, 3, RWC)).toEqual({ mapped: 3n * K4 });
    expect(tables()).toBe(3);
    expect(pt.mapPages(M2, 0x8000_0000n, M2, 1, R | W)).toEqual({ mapped: M2 });
    expect(tables()).toBe(2);
    expect(pt.iovaToPhys(M2 + K4 + 0x10n)).toEqual({
      phys: 0x8000_0000n + K4 + 0x10n,
      pte: expectedLeaf(S1, 4096, 2, 0x8000_0000n, R | W),
      level: 2,
    });
  });

  it('the table is replaced even when all its pages were unmapped (an empty table is still a table)', () => {
    const { pt, tables } = make();
    pt.mapPages(M2, 0n, K4, 1, RWC);
    expect(pt.unmapPages(M2, K4, 1)).toBe(K4);
    expect(tables()).toBe(3);
    expect(pt.mapPages(M2, 0n, M2, 1, RWC)).toEqual({ mapped: M2 });
    expect(tables()).toBe(2);
  });

  it('1G over a level-2 table holding two level-3 tables and a block frees all three tables', () => {
    const { pt, tables } = make();
    pt.mapPages(G1 + 0x5000n, 0x5000n, K4, 1, RWC);
    pt.mapPages(G1 + 7n * M2, 0n, K4, 2, RWC);
    pt.mapPages(G1 + 9n * M2, 0n, M2, 1, RWC);
    expect(tables()).toBe(4); // L1, L2, two L3
    expect(pt.mapPages(G1, 0xc000_0000n, G1, 1, R)).toEqual({ mapped: G1 });
    expect(tables()).toBe(1); // only the level-1 table remains
    for (const off of [0x5000n, 7n * M2, 7n * M2 + K4, 9n * M2 + 0x777n]) {
      expect(pt.iovaToPhys(G1 + off)).toEqual({
        phys: 0xc000_0000n + off,
        pte: expectedLeaf(S1, 4096, 1, 0xc000_0000n, R),
        level: 1,
      });
    }
  });

  it('a batch of blocks over [table, empty, table] replaces both tables and maps all three', () => {
    const { pt, tables } = make(S2);
    pt.mapPages(0n, 0n, K4, 1, RWC);
    pt.mapPages(2n * M2 + K4, 0n, K4, 1, RWC);
    expect(tables()).toBe(4);
    expect(pt.mapPages(0n, 0x20_0000_0000n, M2, 3, RWC)).toEqual({ mapped: 3n * M2 });
    expect(tables()).toBe(2);
    for (let i = 0n; i < 3n; i++) {
      expect(pt.iovaToPhys(i * M2 + K4)?.phys).toBe(0x20_0000_0000n + i * M2 + K4);
      expect(pt.iovaToPhys(i * M2)?.level).toBe(2);
    }
  });
});

describe('unmap_pages (__arm_lpae_unmap)', () => {
  it('returns 0 when the first entry is empty, at any level', () => {
    const { pt } = make();
    expect(pt.unmapPages(0n, K4, 1)).toBe(0n);
    expect(pt.unmapPages(0n, M2, 1)).toBe(0n);
    expect(pt.unmapPages(0n, G1, 5)).toBe(0n);
    pt.mapPages(0x2000n, 0n, K4, 1, RWC);
    // Level-3 table exists but entry 1 is empty, even though entry 2 is mapped.
    expect(pt.unmapPages(0x1000n, K4, 2)).toBe(0n);
    expect(phys(pt, 0x2000n)).toBe(0n);
    // Level-2 entry 1 (next 2M) is empty.
    expect(pt.unmapPages(M2 + K4, K4, 1)).toBe(0n);
  });

  it('stops at the first empty entry', () => {
    const { pt } = make();
    pt.mapPages(0n, 0x10000n, K4, 3, RWC);
    pt.mapPages(4n * K4, 0x20000n, K4, 1, RWC);
    expect(pt.unmapPages(0n, K4, 5)).toBe(3n * K4);
    for (let i = 0n; i < 4n; i++) expect(pt.iovaToPhys(i * K4)).toBeNull();
    expect(phys(pt, 4n * K4)).toBe(0x20000n);
  });

  it('stops at the end of the table page', () => {
    const { pt } = make();
    pt.mapPages(M2 - 2n * K4, 0n, K4, 2, RWC);
    pt.mapPages(M2, 0x5000n, K4, 1, RWC);
    expect(pt.unmapPages(M2 - 2n * K4, K4, 3)).toBe(2n * K4);
    expect(phys(pt, M2)).toBe(0x5000n);
  });

  it('unmapping at block size where a table sits clears the whole table and reports the block size', () => {
    const { pt, tables } = make();
    pt.mapPages(M2 + 3n * K4, 0n, K4, 1, RWC);
    pt.mapPages(2n * M2, 0x40_0000n, M2, 1, RWC);
    expect(tables()).toBe(3);
    // Two entries: [table holding one page, 2M block] → 4M.
    expect(pt.unmapPages(M2, M2, 2)).toBe(2n * M2);
    expect(tables()).toBe(2);
    expect(pt.iovaToPhys(M2 + 3n * K4)).toBeNull();
    expect(pt.iovaToPhys(2n * M2)).toBeNull();
  });

  it('1G unmap over a level-2 table frees it and every level-3 table beneath', () => {
    const { pt, tables } = make(S2);
    pt.mapPages(G1 + K4, 0n, K4, 1, RWC);
    pt.mapPages(G1 + 100n * M2, 0n, K4, 1, RWC);
    pt.mapPages(G1 + 200n * M2, 0n, M2, 1, RWC);
    expect(tables()).toBe(4);
    expect(pt.unmapPages(G1, G1, 1)).toBe(G1);
    expect(tables()).toBe(1);
    expect(pt.iovaToPhys(G1 + 100n * M2)).toBeNull();
  });

  it('unmaps exactly the blocks asked for', () => {
    const { pt } = make();
    pt.mapPages(0n, 0n, M2, 4, RWC);
    expect(pt.unmapPages(M2, M2, 2)).toBe(2n * M2);
    expect(phys(pt, 0n)).toBe(0n);
    expect(pt.iovaToPhys(M2)).toBeNull();
    expect(pt.iovaToPhys(2n * M2)).toBeNull();
    expect(phys(pt, 3n * M2)).toBe(3n * M2);
  });

  it('pgsize not in the bitmap, pgcount 0 or iova beyond ias → 0, nothing changes', () => {
    const { pt } = make(S1, 4096, 39, 48);
    pt.mapPages(0n, 0n, M2, 1, RWC);
    expect(pt.unmapPages(0n, 0x8000n, 1)).toBe(0n);
    expect(pt.unmapPages(0n, M2, 0)).toBe(0n);
    expect(pt.unmapPages(1n << 39n, M2, 1)).toBe(0n);
    expect(phys(pt, 0n)).toBe(0n);
  });
});

interface SplitCase {
  name: string;
  fmt: IoPgtableFormat;
  granule: Granule;
  ias: number;
  oas: number;
  /** Leaf sizes from the block mapped down to the page unmapped. */
  sizes: bigint[];
  /** Levels of those sizes. */
  levels: number[];
  pa: bigint;
  prot: number;
}

const SPLITS: SplitCase[] = [
  { name: 'S1 4K 1G→2M→4K', fmt: S1, granule: 4096, ias: 48, oas: 48, sizes: [G1, M2, K4], levels: [1, 2, 3], pa: 0x12_c000_0000n, prot: R | C | X },
  { name: 'S2 4K 1G→2M→4K', fmt: S2, granule: 4096, ias: 40, oas: 40, sizes: [G1, M2, K4], levels: [1, 2, 3], pa: 0x80_4000_0000n, prot: W | M },
  { name: 'S1 16K 32M→16K', fmt: S1, granule: 16384, ias: 48, oas: 48, sizes: [1n << 25n, 1n << 14n], levels: [2, 3], pa: 0xabc_0200_0000n, prot: R | W | P },
  { name: 'S2 16K 32M→16K', fmt: S2, granule: 16384, ias: 40, oas: 40, sizes: [1n << 25n, 1n << 14n], levels: [2, 3], pa: 0x42_0000_0000n, prot: R | X },
  { name: 'S1 64K 512M→64K', fmt: S1, granule: 65536, ias: 48, oas: 48, sizes: [1n << 29n, 1n << 16n], levels: [2, 3], pa: 0xfff_e000_0000n, prot: R | W | C | M },
  {
    name: 'S2 64K 52-bit 4T→512M→64K (PA above 2^48)',
    fmt: S2,
    granule: 65536,
    ias: 52,
    oas: 52,
    sizes: [1n << 42n, 1n << 29n, 1n << 16n],
    levels: [1, 2, 3],
    pa: 0xa_bc00_0000_0000n,
    prot: R | W | C | X,
  },
  {
    name: 'S1 64K 52-bit 4T→512M→64K (PA above 2^48)',
    fmt: S1,
    granule: 65536,
    ias: 52,
    oas: 52,
    sizes: [1n << 42n, 1n << 29n, 1n << 16n],
    levels: [1, 2, 3],
    pa: 0xf_0400_0000_0000n,
    prot: R,
  },
];

describe('splitting a block on a partial unmap (arm_lpae_split_blk_unmap)', () => {
  it.each(SPLITS.map((s) => [s.name, s] as const))('%s', (_n, s) => {
    const { pt, tables } = make(s.fmt, s.granule, s.ias, s.oas);
    const top = s.sizes[0];
    const page = s.sizes[s.sizes.length - 1];
    const iova = top * 3n;
    expect(pt.mapPages(iova, s.pa, top, 1, s.prot)).toEqual({ mapped: top });
    const t0 = tables();
    // A page in the middle of the block, at a different index at every level.
    let off = 0n;
    for (let i = 1; i < s.sizes.length; i++) off += s.sizes[i] * BigInt(5 + 7 * i);
    expect(pt.unmapPages(iova + off, page, 1)).toBe(page);
    // One new table per level split.
    expect(tables()).toBe(t0 + s.sizes.length - 1);
    expect(pt.iovaToPhys(iova + off)).toBeNull();
    expect(pt.iovaToPhys(iova + off + page - 1n)).toBeNull();

    // At every level below the block, the entries not on the path to the
    // unmapped page are leaves of that level with the block's attributes.
    let base = 0n; // offset of the region being split, inside the original block
    for (let i = 1; i < s.sizes.length; i++) {
      const size = s.sizes[i];
      const parent = s.sizes[i - 1];
      const n = parent / size;
      const hit = (off - base) / size;
      for (let k = 0n; k < n; k++) {
        const o = base + k * size;
        if (k === hit) continue;
        const probe = iova + o + ((k * 0x1238n) & (size - 1n) & ~7n);
        expect(pt.iovaToPhys(probe), `offset 0x${o.toString(16)}`).toEqual({
          phys: s.pa + (probe - iova),
          pte: expectedLeaf(s.fmt, s.granule, s.levels[i], s.pa + o, s.prot),
          level: s.levels[i],
        });
      }
      base += hit * size;
    }
    // Nothing outside the original block appeared.
    expect(pt.iovaToPhys(iova - page)).toBeNull();
    expect(pt.iovaToPhys(iova + top)).toBeNull();
  });

  it('4K unmap inside a 1G block: 2M blocks at level 2, 4K pages only in the affected 2M', () => {
    const { pt, tables } = make();
    const pa = 0x1_4000_0000n;
    pt.mapPages(2n * G1, pa, G1, 1, RWC);
    expect(pt.unmapPages(2n * G1 + 17n * M2 + 0x45000n, K4, 1)).toBe(K4);
    expect(tables()).toBe(3); // L1 (pre-existing), new L2, new L3
    for (let k = 0n; k < 512n; k++) {
      const r = pt.iovaToPhys(2n * G1 + k * M2 + 0x3000n);
      if (k === 17n) {
        expect(r?.level).toBe(3);
        expect(r?.pte).toBe(expectedLeaf(S1, 4096, 3, pa + 17n * M2 + 0x3000n, RWC));
      } else {
        expect(r?.level).toBe(2);
        expect(r?.pte).toBe(expectedLeaf(S1, 4096, 2, pa + k * M2, RWC));
        expect(r?.phys).toBe(pa + k * M2 + 0x3000n);
      }
    }
  });

  it('a block-sized unmap one level down: 2M inside 1G leaves 511 2M blocks', () => {
    const { pt, tables } = make(S2);
    pt.mapPages(G1, 0n, G1, 1, RWC);
    expect(pt.unmapPages(G1 + 300n * M2, M2, 1)).toBe(M2);
    expect(tables()).toBe(2); // L1 + L2 under the L0 pgd; no level-3 table
    expect(pt.iovaToPhys(G1 + 300n * M2)).toBeNull();
    expect(pt.iovaToPhys(G1 + 299n * M2)?.level).toBe(2);
    expect(pt.iovaToPhys(G1 + 301n * M2)?.phys).toBe(301n * M2);
  });

  it('pgcount crossing the end of the new table reports only up to the table end', () => {
    const { pt } = make();
    pt.mapPages(M2, 0x4000_0000n, M2, 2, RWC); // blocks at 2M and 4M
    expect(pt.unmapPages(2n * M2 - 2n * K4, K4, 4)).toBe(2n * K4);
    expect(pt.iovaToPhys(2n * M2 - K4)).toBeNull();
    expect(pt.iovaToPhys(2n * M2 - 2n * K4)).toBeNull();
    expect(phys(pt, 2n * M2 - 3n * K4)).toBe(0x4000_0000n + M2 - 3n * K4);
    // The next block is untouched.
    expect(pt.iovaToPhys(2n * M2)).toEqual({ phys: 0x4000_0000n + M2, pte: expectedLeaf(S1, 4096, 2, 0x4000_0000n + M2, RWC), level: 2 });

    const b = make(S2);
    b.pt.mapPages(G1, 0n, G1, 2, RWC);
    expect(b.pt.unmapPages(2n * G1 - 2n * M2, M2, 5)).toBe(2n * M2);
    expect(b.pt.iovaToPhys(2n * G1)?.level).toBe(1);
    // A further split of the 2M block at entry 508, count limited by the level-3 table end.
    expect(b.pt.unmapPages(2n * G1 - 3n * M2 - 3n * K4, K4, 10)).toBe(3n * K4);
    expect(b.pt.iovaToPhys(2n * G1 - 3n * M2 - 4n * K4)?.level).toBe(3);
    expect(b.pt.iovaToPhys(2n * G1 - 4n * M2)?.level).toBe(3);
    expect(b.pt.iovaToPhys(2n * G1 - 5n * M2)?.level).toBe(2);
    expect(b.pt.iovaToPhys(2n * G1 - 3n * M2)?.level).toBe(2); // entry 509: still a block
    expect(b.pt.iovaToPhys(2n * G1 - 2n * M2)).toBeNull(); // entry 510: unmapped above

    // Two levels of split in one call (1G → 2M blocks → 4K pages), count limited by the level-3 table end.
    const c = make(S1);
    c.pt.mapPages(G1, 0x8000_0000n, G1, 1, RWC);
    expect(c.pt.unmapPages(2n * G1 - 3n * K4, K4, 10)).toBe(3n * K4);
    expect(c.tables()).toBe(3);
    expect(c.pt.iovaToPhys(2n * G1 - 4n * K4)?.phys).toBe(0x8000_0000n + G1 - 4n * K4);
    expect(c.pt.iovaToPhys(2n * G1 - 2n * M2)?.level).toBe(2);
  });

  it('splitting inside a concatenated S2 start table works in the second table', () => {
    const { pt } = make(S2, 4096, 40, 40);
    pt.mapPages(900n * G1, 0x10_0000_0000n, G1, 1, R | W);
    expect(pt.unmapPages(900n * G1 + 5n * K4, K4, 1)).toBe(K4);
    expect(pt.iovaToPhys(900n * G1 + 6n * K4)).toEqual({
      phys: 0x10_0000_0000n + 6n * K4,
      pte: expectedLeaf(S2, 4096, 3, 0x10_0000_0000n + 6n * K4, R | W),
      level: 3,
    });
    expect(pt.iovaToPhys(900n * G1 + M2)?.level).toBe(2);
  });
});

describe('start table smaller than a page', () => {
  // A start-level table with fewer entries than a table page (S1 4K ias 32:
  // 4 entries, 32 bytes) is still allocated a whole page, as Linux 6.8-6.14
  // does (__arm_lpae_alloc_pages → alloc_pages_node(..., get_order(size))).
  // __arm_lpae_map bounds a batch at the start level by arm_lpae_max_entries()
  // (entries left in a table *page*), so such a batch writes unreachable
  // entries inside its own pgd page and never into a neighbour.
  it('a batch running past 2^ias never writes into another io-pgtable (pgds packed in one pool)', () => {
    const mem = new PhysicalMemory();
    const alloc = new TableAllocator(mem, 0x1000_0000n, 0x2000_0000n);
    const a = ArmLpaeIoPgtable.alloc({ fmt: S1, granule: 4096, ias: 32, oas: 40 }, alloc);
    const b = ArmLpaeIoPgtable.alloc({ fmt: S1, granule: 4096, ias: 32, oas: 40 }, alloc);
    expect(a.startLevel).toBe(1);
    // Linux: idx 3, max_entries 512 - 3 = 509, num = min(20, 509) → 20 blocks "mapped".
    expect(a.mapPages(3n * G1, G1, G1, 20, RWC)).toEqual({ mapped: 20n * G1 });
    expect(phys(a, 3n * G1)).toBe(G1);
    // b was never touched.
    for (let i = 0n; i < 4n; i++) expect(b.iovaToPhys(i * G1)).toBeNull();
  });
});

describe('table lifetime', () => {
  it('tables emptied by page unmaps are not freed, and are reused', () => {
    const { pt, tables } = make();
    pt.mapPages(0x7000n, 0x7000n, K4, 1, RWC);
    const t = tables();
    expect(pt.unmapPages(0x7000n, K4, 1)).toBe(K4);
    expect(tables()).toBe(t);
    expect(pt.iovaToPhys(0x7000n)).toBeNull();
    expect(pt.mapPages(0x8000n, 0x8000n, K4, 1, RWC)).toEqual({ mapped: K4 });
    expect(tables()).toBe(t);
  });

  it('a split block whose pages are all unmapped keeps its tables', () => {
    const { pt, tables } = make();
    pt.mapPages(M2, 0n, M2, 1, RWC);
    expect(pt.unmapPages(M2, K4, 1)).toBe(K4);
    const t = tables();
    expect(pt.unmapPages(M2 + K4, K4, 511)).toBe(511n * K4);
    expect(tables()).toBe(t);
  });

  it.each([
    [S1, 4096, 48, 48],
    [S2, 4096, 40, 40],
    [S2, 16384, 40, 40],
    [S1, 65536, 52, 52],
  ] as Array<[IoPgtableFormat, Granule, number, number]>)('free() on %s %i ias %i releases every table (liveBytes 0)', (fmt, g, ias, oas) => {
    const { pt, alloc } = make(fmt, g, ias, oas);
    const gran = BigInt(g);
    const l2 = gran << BigInt(shiftOf(g) - 3); // a level-2 block
    pt.mapPages(0n, 0n, gran, 7, RWC);
    pt.mapPages(l2 * 3n, 0n, l2, 2, RWC);
    pt.unmapPages(l2 * 3n + gran * 9n, gran, 1); // split
    pt.mapPages((1n << BigInt(ias)) - gran, 0n, gran, 1, RWC);
    expect(alloc.liveBytes).toBeGreaterThan(0n);
    pt.free();
    expect(alloc.liveBytes).toBe(0n);
  });
});
