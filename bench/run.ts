/**
 * Benchmarks: print figures, assert nothing. `npm run bench`.
 *
 * Each figure is the best of several timed rounds after a warm-up round,
 * so a busy machine shows up as a lower (never a higher) figure.
 */

import { ArmLpaeIoPgtable, IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE } from '../src/emu/iopgtable';
import { PhysicalMemory, TableAllocator } from '../src/emu/memory';
import { ACC_READ, WalkCtx, compileS1, compileS2, s1Walk, s2Walk, CLS_IN } from '../src/emu/walk';
import { s1ParamsFor, s2ParamsFor } from '../src/emu/walk-params';

const RW = IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE;
const results: Array<{ name: string; value: string }> = [];

function report(name: string, value: string): void {
  results.push({ name, value });
  console.log(`${name.padEnd(58)} ${value}`);
}

function rate(fn: (n: number) => void, n: number, rounds = 5): number {
  fn(Math.min(n, 100_000)); // warm up
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    fn(n);
    best = Math.min(best, performance.now() - t);
  }
  return (n / best) * 1000;
}

const fmt = (x: number) => `${(x / 1e6).toFixed(2)} M/s`;

/** Map `count` 4K pages at iova 0.. to pa base.. (looping over partial maps). */
function mapRange(pgt: ArmLpaeIoPgtable, iova: number, pa: number, count: number, pgsize = 4096): void {
  let done = 0;
  while (done < count) {
    const r = pgt.mapPagesN(iova + done * pgsize, pa + done * pgsize, pgsize, count - done, RW);
    if (r.error) throw new Error(`map failed: ${r.error}`);
    done += r.mapped / pgsize;
  }
}

// --- Walks --------------------------------------------------------------------
const PAGES = 1 << 16; // 256 MiB of 4K mappings: walks touch 128 leaf tables
{
  const mem = new PhysicalMemory();
  const s1a = new TableAllocator(mem, 0x4000_0000n, 0x5000_0000n);
  const s2a = new TableAllocator(mem, 0x5000_0000n, 0x6000_0000n);
  const s1 = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s1', granule: 4096, ias: 48, oas: 48 }, s1a);
  mapRange(s1, 0x10_0000_0000, 0x1_0000_0000, PAGES);
  const c1 = compileS1(s1ParamsFor(s1));
  // S2 4K, ias 48: 4 levels, identity for the S1 tables, and the S1 outputs.
  const s2 = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s2', granule: 4096, ias: 48, oas: 48 }, s2a);
  mapRange(s2, 0x4000_0000, 0x4000_0000, 0x1_0000);
  mapRange(s2, 0x1_0000_0000, 0x2_0000_0000, PAGES);
  const c2 = compileS2(s2ParamsFor(s2));
  // S2 with concatenation: 4K, ias = oas = 40 starts at level 1 with 2 tables.
  const s2c = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s2', granule: 4096, ias: 40, oas: 40 }, new TableAllocator(mem, 0x6000_0000n, 0x7000_0000n));
  mapRange(s2c, 0x80_0000_0000, 0x1_0000_0000, PAGES);
  const c2c = compileS2(s2ParamsFor(s2c, 40));
  if (s2c.concatenated !== 2) throw new Error('expected a concatenated S2');

  const ctx = new WalkCtx(mem);
  const check = (ok: boolean) => {
    if (!ok) throw new Error(`walk faulted: ${ctx.fault} ${ctx.fReason}`);
  };
  check(s1Walk(ctx, c1, 0x10, 0, ACC_READ, true, c2));
  if (ctx.reads !== 24) throw new Error(`nested walk made ${ctx.reads} reads, expected 24`);

  // Pages in order (a DMA stream), or scattered over all 65536 pages (every
  // walk lands in a different leaf table: host cache misses dominate).
  let stride = 1;
  const s1Run = (n: number) => {
    for (let i = 0; i < n; i++) s1Walk(ctx, c1, 0x10, ((i * stride) % PAGES) * 4096, ACC_READ, true, null);
  };
  const s2Run = (n: number) => {
    for (let i = 0; i < n; i++) s2Walk(ctx, c2c, 0x80, ((i * stride) % PAGES) * 4096, ACC_READ, true, CLS_IN);
  };
  const nRun = (n: number) => {
    for (let i = 0; i < n; i++) s1Walk(ctx, c1, 0x10, ((i * stride) % PAGES) * 4096, ACC_READ, true, c2);
  };
  const traced = (f: (n: number) => void) => (n: number) => {
    for (let i = 0; i < n; i++) {
      ctx.trace = [];
      f(1);
    }
    ctx.trace = undefined;
  };
  s1Run(1);
  check(ctx.fault === null);
  report('walk: stage 1, 4K, 4 levels, trace off', fmt(rate(s1Run, 4_000_000)));
  report('walk: stage 1, 4K, 4 levels, trace on', fmt(rate(traced(s1Run), 400_000)));
  s2Run(1);
  check(ctx.fault === null);
  report('walk: stage 2, 4K, ias 40, 2 concatenated tables, trace off', fmt(rate(s2Run, 4_000_000)));
  report('walk: stage 2, 4K, ias 40, 2 concatenated tables, trace on', fmt(rate(traced(s2Run), 400_000)));
  nRun(1);
  check(ctx.fault === null);
  report('walk: nested 4+4 (24 reads), trace off', fmt(rate(nRun, 1_000_000)));
  report('walk: nested 4+4 (24 reads), trace on', fmt(rate(traced(nRun), 100_000)));
  stride = 4099;
  report('walk: stage 1, 4 levels, scattered pages, trace off', fmt(rate(s1Run, 4_000_000)));
  report('walk: nested 4+4, scattered pages, trace off', fmt(rate(nRun, 1_000_000)));
}

// --- map + unmap ----------------------------------------------------------------
{
  const mem = new PhysicalMemory();
  const pgt = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s1', granule: 4096, ias: 48, oas: 48 }, new TableAllocator(mem, 0x4000_0000n, 0x8000_0000n));
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      const iova = (i % 4096) * 4096;
      pgt.mapPagesN(iova, 0x1_0000_0000 + iova, 4096, 1, RW);
      pgt.unmapPagesN(iova, 4096, 1);
    }
  };
  report('io-pgtable: map + unmap of one 4K page (pairs)', fmt(rate(run, 500_000)));
}

// --- 1,000,000 mappings -----------------------------------------------------------
{
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage();
  const mem = new PhysicalMemory();
  const pgt = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s1', granule: 4096, ias: 48, oas: 48 }, new TableAllocator(mem, 0x4000_0000n, 0x8000_0000n));
  const t = performance.now();
  for (let i = 0; i < 1_000_000; i++) {
    const r = pgt.mapPagesN(i * 4096, 0x1_0000_0000 + i * 4096, 4096, 1, RW);
    if (r.mapped !== 4096) throw new Error('map failed');
  }
  const ms = performance.now() - t;
  gc?.();
  const after = process.memoryUsage();
  const used = after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers);
  report('io-pgtable: 1,000,000 4K mappings, one map_pages each', `${(ms / 1000).toFixed(2)} s`);
  report('io-pgtable: memory for 1,000,000 4K mappings', `${(used / 2 ** 20).toFixed(1)} MiB${gc ? '' : ' (no --expose-gc: approximate)'}`);
  report('io-pgtable: emulated table frames for 1,000,000 mappings', `${mem.residentFrames} x 4 KiB`);
  if (pgt.iovaToPhys(999_999n * 4096n)?.phys !== 0x1_0000_0000n + 999_999n * 4096n) throw new Error('lost a mapping');
}

if (process.env.BENCH_JSON) console.log(JSON.stringify(results));
