/**
 * Leaf-descriptor encoding of io-pgtable-arm (arm_lpae_prot_to_pte +
 * __arm_lpae_init_pte + paddr_to_iopte, Linux 6.8-6.14), checked for every
 * subset of the six IOMMU prot flags, both formats, all three granules and
 * every level at which that granule's pgsize_bitmap allows a leaf.
 *
 * The expected descriptor is computed by `expectedLeaf` below, written from
 * the architecture / Linux rules (pgtable.md "Leaf descriptors for each
 * prot"), not from the implementation: nothing here calls protToPte/leafPte.
 * The prot values passed to mapPages are Linux's IOMMU_* numbers, defined
 * here too.
 */
import { describe, expect, it } from 'vitest';
import { ArmLpaeIoPgtable, PROT_BITS, protFromNames, type IoPgtableFormat, type ProtName } from './iopgtable';
import { PhysicalMemory, TableAllocator } from './memory';
import type { Granule } from './descriptor';

// Linux include/linux/iommu.h
const R = 1 << 0; // IOMMU_READ
const W = 1 << 1; // IOMMU_WRITE
const C = 1 << 2; // IOMMU_CACHE
const X = 1 << 3; // IOMMU_NOEXEC
const M = 1 << 4; // IOMMU_MMIO
const P = 1 << 5; // IOMMU_PRIV
const FLAG_NAMES: Array<[number, ProtName]> = [
  [R, 'read'],
  [W, 'write'],
  [C, 'cache'],
  [X, 'noexec'],
  [M, 'mmio'],
  [P, 'priv'],
];

function protLabel(prot: number): string {
  const n = FLAG_NAMES.filter(([b]) => prot & b).map(([, s]) => s);
  return n.length ? n.join('+') : 'none';
}

function shiftOf(g: Granule): number {
  return g === 4096 ? 12 : g === 16384 ? 14 : 16;
}

/**
 * The descriptor Linux writes for a leaf mapping `pa` at `level` with IOMMU
 * prot `prot` (no quirks, so no NS/DBM/S2FWB), derived from the rules:
 * - both: AF (bit 10); SH = 0b11 (IS) if cache else 0b10 (OS); noexec sets
 *   bits 53 and 54; bits[1:0] = 0b11 at level 3 (page), 0b01 above (block);
 * - S1: nG (bit 11); AP[1] (bit 6) unless priv; AP[2] (bit 7) iff read and
 *   not write; AttrIndx[4:2] = 2 (mmio) / 1 (cache) / 0;
 * - S2: S2AP bit 6 = read, bit 7 = write; MemAttr[5:2] = 0x1 (mmio) / 0xf
 *   (cache) / 0x5;
 * - output address in bits [47:granule shift]; with the 64K granule PA[51:48]
 *   goes to bits [15:12].
 */
function expectedLeaf(fmt: IoPgtableFormat, g: Granule, level: number, pa: bigint, prot: number): bigint {
  let d = 1n << 10n;
  d |= prot & C ? 3n << 8n : 2n << 8n;
  if (prot & X) d |= (1n << 53n) | (1n << 54n);
  d |= level === 3 ? 0b11n : 0b01n;
  if (fmt === 'arm-lpae-s1') {
    d |= 1n << 11n;
    if (!(prot & P)) d |= 1n << 6n;
    if (prot & R && !(prot & W)) d |= 1n << 7n;
    const attrIndx = prot & M ? 2n : prot & C ? 1n : 0n;
    d |= attrIndx << 2n;
  } else {
    if (prot & R) d |= 1n << 6n;
    if (prot & W) d |= 1n << 7n;
    const memAttr = prot & M ? 0x1n : prot & C ? 0xfn : 0x5n;
    d |= memAttr << 2n;
  }
  const lo = BigInt(shiftOf(g));
  const addrBits = ((1n << 48n) - 1n) & ~((1n << lo) - 1n); // [47:lo]
  d |= pa & addrBits;
  if (g === 65536) d |= ((pa >> 48n) & 0xfn) << 12n;
  return d;
}

interface LevelCase {
  granule: Granule;
  ias: number;
  oas: number;
  level: number;
  size: bigint;
}

// Every level at which a leaf can exist, with the block/page size it maps.
const LEVEL_CASES: LevelCase[] = [
  { granule: 4096, ias: 48, oas: 48, level: 1, size: 1n << 30n },
  { granule: 4096, ias: 48, oas: 48, level: 2, size: 1n << 21n },
  { granule: 4096, ias: 48, oas: 48, level: 3, size: 1n << 12n },
  { granule: 16384, ias: 48, oas: 48, level: 2, size: 1n << 25n },
  { granule: 16384, ias: 48, oas: 48, level: 3, size: 1n << 14n },
  { granule: 65536, ias: 48, oas: 48, level: 2, size: 1n << 29n },
  { granule: 65536, ias: 48, oas: 48, level: 3, size: 1n << 16n },
  // 52-bit output (FEAT_LPA): 4TB level-1 blocks exist, and PAs above 2^48 are packed in [15:12].
  { granule: 65536, ias: 52, oas: 52, level: 1, size: 1n << 42n },
  { granule: 65536, ias: 52, oas: 52, level: 2, size: 1n << 29n },
  { granule: 65536, ias: 52, oas: 52, level: 3, size: 1n << 16n },
];

const FORMATS: IoPgtableFormat[] = ['arm-lpae-s1', 'arm-lpae-s2'];
const ALL_PROTS = Array.from({ length: 64 }, (_, i) => i);

function newTable(fmt: IoPgtableFormat, c: { granule: Granule; ias: number; oas: number }) {
  const mem = new PhysicalMemory();
  // Table memory sits high in the PA space, away from any output address used below.
  const alloc = new TableAllocator(mem, 0xf000_0000_0000n, 0xf100_0000_0000n);
  const pt = ArmLpaeIoPgtable.alloc({ fmt, granule: c.granule, ias: c.ias, oas: c.oas }, alloc);
  return { pt, alloc, mem };
}

/** A PA aligned to `size`, below 2^oas, with varied high bits (and bits 51:48 set when oas is 52). */
function paFor(c: LevelCase, prot: number): bigint {
  const oasMask = (1n << BigInt(c.oas)) - 1n;
  const pattern = 0x000d_5a5a_c3c3_b000n ^ (BigInt(prot) * 0x0001_2345_6789_0000n);
  let pa = pattern & oasMask & ~(c.size - 1n);
  if (c.oas === 52) pa |= 0xan << 48n; // PA[51:48] = 0b1010
  return pa & oasMask;
}

describe('io-pgtable-arm leaf encoding: anchors', () => {
  it('S1 read+write+cache page at PA 0 is 0xf47', () => {
    const { pt } = newTable('arm-lpae-s1', { granule: 4096, ias: 48, oas: 48 });
    expect(pt.mapPages(0x1000n, 0n, 0x1000n, 1, R | W | C)).toEqual({ mapped: 0x1000n });
    expect(pt.iovaToPhys(0x1000n)).toEqual({ phys: 0n, pte: 0xf47n, level: 3 });
  });

  it('S2 read+write+cache page at PA 0 is 0x7ff', () => {
    const { pt } = newTable('arm-lpae-s2', { granule: 4096, ias: 48, oas: 48 });
    expect(pt.mapPages(0x1000n, 0n, 0x1000n, 1, R | W | C)).toEqual({ mapped: 0x1000n });
    expect(pt.iovaToPhys(0x1000n)).toEqual({ phys: 0n, pte: 0x7ffn, level: 3 });
  });

  it('expectedLeaf reproduces the anchors (the oracle itself is sane)', () => {
    expect(expectedLeaf('arm-lpae-s1', 4096, 3, 0n, R | W | C)).toBe(0xf47n);
    expect(expectedLeaf('arm-lpae-s2', 4096, 3, 0n, R | W | C)).toBe(0x7ffn);
  });

  it("prot names map to Linux's IOMMU_* values", () => {
    for (const [b, name] of FLAG_NAMES) {
      expect(PROT_BITS[name]).toBe(b);
      expect(protFromNames([name])).toBe(b);
    }
    expect(protFromNames(['read', 'write', 'cache', 'noexec', 'mmio', 'priv'])).toBe(63);
  });

  it('64K granule, 52-bit PA: PA[51:48] lives in descriptor bits [15:12], bits [51:48] stay 0', () => {
    const { pt } = newTable('arm-lpae-s1', { granule: 65536, ias: 52, oas: 52 });
    const pa = 0xf_1234_5678_0000n; // PA[51:48] = 0xf
    expect(pt.mapPages(0x10000n, pa, 0x10000n, 1, R | W)).toEqual({ mapped: 0x10000n });
    const r = pt.iovaToPhys(0x10abcn);
    expect(r?.phys).toBe(pa | 0xabcn);
    const pte = r?.pte ?? 0n;
    expect((pte >> 12n) & 0xfn).toBe(0xfn);
    expect((pte >> 48n) & 0xfn).toBe(0n);
    expect(pte & 0x0000_ffff_ffff_0000n).toBe(0x1234_5678_0000n);
  });
});

for (const fmt of FORMATS) {
  for (const c of LEVEL_CASES) {
    const label = `${fmt} ${c.granule / 1024}K ias ${c.ias} oas ${c.oas} level ${c.level} (${c.size === 1n << 42n ? '4T' : c.size >= 1n << 20n ? `${c.size >> 20n}M` : `${c.size >> 10n}K`} ${c.level === 3 ? 'page' : 'block'})`;
    describe(`io-pgtable-arm leaf encoding: ${label}`, () => {
      // One table per (format, granule, level); each prot gets its own aligned IOVA.
      // Created on first use, so a configuration error fails the tests rather than the collection.
      let ctx: ReturnType<typeof newTable> | undefined;
      const iovaFor = (prot: number): bigint => (BigInt(prot) + 3n) * c.size;

      it.each(ALL_PROTS.map((p) => [protLabel(p), p] as const))('prot %s', (_name, prot) => {
        ctx ??= newTable(fmt, c);
        const { pt, alloc } = ctx;
        const iova = iovaFor(prot);
        const pa = paFor(c, prot);
        expect(pa % c.size).toBe(0n);
        expect(pa >> BigInt(c.oas)).toBe(0n);
        const live = alloc.liveBytes;
        const res = pt.mapPages(iova, pa, c.size, 1, prot);
        if (!(prot & (R | W))) {
          // Neither read nor write: EINVAL before any table is touched.
          expect(res).toEqual({ error: 'EINVAL', mapped: 0n });
          expect(pt.iovaToPhys(iova)).toBeNull();
          expect(pt.iovaToPhys(iova + c.size - 1n)).toBeNull();
          expect(alloc.liveBytes).toBe(live);
          return;
        }
        expect(res).toEqual({ mapped: c.size });
        const want = expectedLeaf(fmt, c.granule, c.level, pa, prot);
        const off = (c.size - 1n) & 0x5a5a5a5a5a5an & ~7n;
        expect(pt.iovaToPhys(iova)).toEqual({ phys: pa, pte: want, level: c.level });
        expect(pt.iovaToPhys(iova + off)).toEqual({ phys: pa + off, pte: want, level: c.level });
        expect(pt.iovaToPhys(iova + c.size - 1n)).toEqual({ phys: pa + c.size - 1n, pte: want, level: c.level });
        // Neighbouring IOVAs (never mapped by this prot) are untouched.
        expect(pt.iovaToPhys(iova + c.size * 64n * 2n)).toBeNull();
      });
    });
  }
}
