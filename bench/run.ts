/**
 * Benchmarks: print figures, assert nothing. `npm run bench`.
 *
 * Each figure is the best of several timed rounds after a warm-up round,
 * so a busy machine shows up as a lower (never a higher) figure.
 */

import { ArmLpaeIoPgtable, IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE } from '../src/emu/iopgtable';
import { PhysicalMemory, TableAllocator } from '../src/emu/memory';
import { ACC_READ, ACC_WRITE, WalkCtx, compileS1, compileS2, s1Walk, s2Walk, CLS_IN } from '../src/emu/walk';
import { s1ParamsFor, s2ParamsFor } from '../src/emu/walk-params';
import { encodeCd } from '../src/emu/smmu/cd';
import { encodeCommand } from '../src/emu/smmu/commands';
import { Smmu, TN_BYPASS, TN_HIT } from '../src/emu/smmu/smmu';
import { encodeSte } from '../src/emu/smmu/ste';
import { runToEnd } from '../src/emu/hyp/workload';
import { MACHINE, makeDesign } from '../src/emu/hyp/designs';

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

// --- SMMU: translations and commands ------------------------------------------------
{
  const mem = new PhysicalMemory();
  const s1a = new TableAllocator(mem, 0x4000_0000n, 0x5000_0000n);
  const s2a = new TableAllocator(mem, 0x5000_0000n, 0x6000_0000n);
  const s1 = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s1', granule: 4096, ias: 48, oas: 48 }, s1a);
  mapRange(s1, 0x10_0000_0000, 0x1_0000_0000, PAGES);
  const s2 = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s2', granule: 4096, ias: 48, oas: 48 }, s2a);
  mapRange(s2, 0x4000_0000, 0x4000_0000, 0x1_0000); // S1 tables, identity
  mapRange(s2, 0x1000_0000, 0x1000_0000, 16); // CD table, identity
  mapRange(s2, 0x1_0000_0000, 0x2_0000_0000, PAGES);
  const t = s1.s1!;
  const v = s2.s2!;
  const cd = encodeCd({ V: 1, T0SZ: t.tsz, TG0: t.tg, IR0: 1, OR0: 1, SH0: 3, IPS: t.ips, EPD1: 1, AA64: 1, A: 1, R: 1, ASID: 1, TTB0: t.ttbr, MAIR0: 0xf404ff44 });
  cd.forEach((w, i) => mem.write64(0x1000_0000n + BigInt(i * 8), w));
  const steS1 = encodeSte({ V: 1, Config: 0b101, S1ContextPtr: 0x1000_0000n, S1CDMax: 0, S2VMID: 1 });
  const steNested = encodeSte({
    V: 1, Config: 0b111, S1ContextPtr: 0x1000_0000n, S1CDMax: 0, S2VMID: 2,
    S2T0SZ: v.tsz, S2SL0: v.sl, S2IR0: 1, S2OR0: 1, S2SH0: 3, S2TG: v.tg, S2PS: v.ps, S2AA64: 1, S2R: 1, S2TTB: v.vttbr,
  });
  steS1.forEach((w, i) => mem.write64(0x2000_0000n + 1n * 64n + BigInt(i * 8), w));
  steNested.forEach((w, i) => mem.write64(0x2000_0000n + 2n * 64n + BigInt(i * 8), w));
  const smmu = new Smmu(mem);
  smmu.writeRegByName('STRTAB_BASE', 0x2000_0000n);
  smmu.writeRegByName('STRTAB_BASE_CFG', 4n);
  smmu.writeRegByName('CMDQ_BASE', 0x3000_0000n | 10n);
  smmu.writeRegByName('EVENTQ_BASE', 0x3010_0000n | 8n);
  smmu.writeRegByName('CR0', 0xdn);
  const ok = (code: number, what: string) => {
    if (code > TN_BYPASS) throw new Error(`${what}: ${JSON.stringify(smmu.lastResult, (_k, x) => (typeof x === 'bigint' ? x.toString(16) : x))}`);
  };
  // Warm 64 pages into the IOTLB for each stream.
  for (let i = 0; i < 64; i++) {
    ok(smmu.translateN(1, -1, 0x10, i * 4096, ACC_READ, true), 's1 warm');
    ok(smmu.translateN(2, -1, 0x10, i * 4096, ACC_READ, true), 'nested warm');
  }
  const hitS1 = (n: number) => {
    for (let i = 0; i < n; i++) smmu.translateN(1, -1, 0x10, (i & 63) * 4096 + 0x10, ACC_READ, true);
  };
  const hitNested = (n: number) => {
    for (let i = 0; i < n; i++) smmu.translateN(2, -1, 0x10, (i & 63) * 4096 + 0x10, ACC_WRITE, true);
  };
  if (smmu.translateN(2, -1, 0x10, 0x10, ACC_WRITE, true) !== TN_HIT) throw new Error('expected an IOTLB hit');
  report('smmu: translate, IOTLB hit, stage 1', fmt(rate(hitS1, 10_000_000)));
  report('smmu: translate, IOTLB hit, nested', fmt(rate(hitNested, 10_000_000)));
  // Config cache hit, IOTLB miss: sweep more pages than the IOTLB holds.
  let page = 64;
  const missNested = (n: number) => {
    for (let i = 0; i < n; i++) {
      smmu.translateN(2, -1, 0x10, (page % PAGES) * 4096, ACC_READ, true);
      page++;
    }
  };
  const before = smmu.stats.tlbMisses;
  missNested(10_000);
  if (smmu.stats.tlbMisses - before !== 10_000) throw new Error('expected IOTLB misses');
  report('smmu: translate, config hit + IOTLB miss, nested 4+4', fmt(rate(missNested, 300_000)));
  // Command queue: batches of 256 commands (TLBI_NH_VA ... CMD_SYNC) per PROD write.
  const [va0, va1] = encodeCommand({ op: 'CMD_TLBI_NH_VA', asid: 1, vmid: 1, addr: 0x10_0000_0000n, leaf: true, ttl: 0, tg: 0, num: 0, scale: 0 });
  const [sy0, sy1] = encodeCommand({ op: 'CMD_SYNC', cs: 0, msh: 0, msiattr: 0, msidata: 0, msiaddr: 0n });
  const qBase = 0x3000_0000n;
  const Q = 1024;
  for (let i = 0; i < Q; i++) {
    const last = i % 256 === 255;
    mem.write64(qBase + BigInt(i * 16), last ? sy0 : va0);
    mem.write64(qBase + BigInt(i * 16) + 8n, last ? sy1 : va1);
  }
  let prod = 0;
  const cmds = (n: number) => {
    for (let i = 0; i < n; i += 256) {
      prod = (prod + 256) % (2 * Q);
      smmu.writeReg(0x98, BigInt(prod));
    }
  };
  const c0 = smmu.stats.commands;
  cmds(256);
  if (smmu.stats.commands - c0 !== 256 || smmu.cmdqErrorActive) throw new Error('command queue did not drain');
  report('smmu: commands consumed (TLBI_NH_VA x255 + CMD_SYNC per batch)', fmt(rate(cmds, 256 * 2000)));
}

// --- Hypervisor designs ---------------------------------------------------------------
{
  const base = { buffers: 256, bufferSize: 4096n, accessesPerRequest: 1, accessSize: 1500, pattern: 'sequential' as const, batch: 1, sgPages: 4, seed: 1 };
  // Map + unmap of one 4K buffer through the whole model: paravirt hypercall pairs (ownership,
  // io-pgtable, the real CMDQ) and the nested host driver (unmap: a trapped PROD write).
  const pairs = (design: 'paravirt' | 'nested') => {
    const d = makeDesign(design);
    return (n: number) => {
      for (let i = 0; i < n; i++) {
        const iova = 0x1_0000_0000n + BigInt(i % 256) * 0x2000n;
        d.map(MACHINE.bufferBase + BigInt(i % 256) * 0x2000n, 0x1000n, iova);
        d.unmap(iova, 0x1000n);
      }
    };
  };
  report('paravirt: map_pages + unmap_pages hypercall pairs', `${(rate(pairs('paravirt'), 20_000, 3) / 1000).toFixed(1)} k/s`);
  report('nested: host map + unmap + invalidate (trapped)', `${(rate(pairs('nested'), 20_000, 3) / 1000).toFixed(1)} k/s`);
  for (const design of ['kernel', 'paravirt', 'nested', 'identity'] as const) {
    const t = performance.now();
    runToEnd(design, { ...base, kind: 'static', requests: 1_000_000 });
    report(`workload ${design}: 1,000,000 DMAs over 256 mapped buffers`, `${((performance.now() - t) / 1000).toFixed(2)} s`);
  }
  for (const design of ['kernel', 'paravirt', 'nested', 'identity'] as const) {
    const requests = process.env.BENCH_QUICK ? 100_000 : 1_000_000;
    const t = performance.now();
    const dyn = runToEnd(design, { ...base, kind: 'dynamic', requests });
    report(
      `workload ${design}: ${requests.toLocaleString('en')} map → DMA → unmap`,
      `${((performance.now() - t) / 1000).toFixed(1)} s (modelled ${dyn.perRequestUs.toFixed(2)} µs/buffer)`,
    );
  }
}

if (process.env.BENCH_JSON) console.log(JSON.stringify(results));
