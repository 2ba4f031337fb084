import { describe, expect, it } from 'vitest';
import { DEFAULT_COSTS, modelledTime } from '../emu/hyp/cost';
import { MACHINE } from '../emu/hyp/designs';
import { BUFFER_REGION_BYTES } from './compare-schema';
import {
  COMPARE_DESIGNS,
  CompareInputError,
  CompareWorkloadSchema,
  CostParamsSchema,
  MAX_SERIES_POINTS,
  type CompareDesignResultFull,
  type CompareProgress,
  recost,
  runCompare,
  runCompareToEnd,
} from './compare';
import { COST_PARAM_INFO } from './cost-params';
import type { CompareResult, CompareWorkload } from './view';

const SMALL: CompareWorkload = {
  kind: 'dynamic',
  buffers: 16,
  bufferSize: 4096,
  requests: 200,
  accessesPerRequest: 1,
  accessSize: 1500,
  pattern: 'sequential',
  batch: 1,
  sgPages: 4,
  seed: 1,
};

function byName(r: CompareResult, name: string) {
  const d = r.designs.find((x) => x.design === name);
  if (!d) throw new Error(`no ${name}`);
  return d;
}

function drain(g: Generator<CompareProgress, CompareResult>): { progress: CompareProgress[]; result: CompareResult } {
  const progress: CompareProgress[] = [];
  for (;;) {
    const s = g.next();
    if (s.done) return { progress, result: s.value };
    progress.push(s.value);
  }
}

describe('runCompare', () => {
  const dyn = runCompareToEnd(SMALL, {}, { chunk: 7 });

  it('runs every design in order, on the same workload', () => {
    expect(dyn.designs.map((d) => d.design)).toEqual([...COMPARE_DESIGNS]);
    for (const d of dyn.designs) {
      expect(d.requests).toBe(200);
      expect(d.faults).toBe(0);
      expect(d.counts.dmaBytes).toBe(200 * 1500);
    }
    expect(dyn.workload).toEqual(SMALL);
    expect(dyn.params).toEqual({ ...DEFAULT_COSTS });
  });

  it('counts what each design does on a dynamic workload', () => {
    const k = byName(dyn, 'kernel');
    const pv = byName(dyn, 'paravirt');
    const n = byName(dyn, 'nested');
    const id = byName(dyn, 'identity');
    // One map and one unmap per request everywhere.
    for (const d of dyn.designs) expect(d.counts.dmaCalls).toBe(400);
    // Paravirt: a hypercall per map and per unmap; nobody else makes any.
    expect(pv.counts.hypercalls).toBe(400);
    expect(pv.counts.hypUnmapCalls).toBe(200);
    expect(k.counts.hypercalls).toBe(0);
    expect(n.counts.hypercalls).toBe(0);
    expect(id.counts.hypercalls).toBe(0);
    // Nested traps the driver's MMIO; the others take no traps.
    expect(n.counts.mmioTraps).toBeGreaterThan(0);
    expect(k.counts.mmioTraps + pv.counts.mmioTraps + id.counts.mmioTraps).toBe(0);
    // Unmap invalidates (one TLBI + one CMD_SYNC per buffer, no batching) except identity, which never unmaps.
    for (const d of [k, pv, n]) {
      expect(d.counts.commands).toBe(200);
      expect(d.counts.syncs).toBe(200);
    }
    expect(id.counts.commands).toBe(0);
    expect(id.counts.ptes).toBe(0);
    // 2-D walks cost more reads than one-stage walks.
    expect(id.counts.walkReads).toBeLessThan(n.counts.walkReads);
    expect(k.counts.walkReads).toBeLessThan(n.counts.walkReads);
    // Only identity pins memory (all host RAM, mirrored), reported as hex.
    expect(BigInt(id.pinnedBytes)).toBeGreaterThan(0n);
    expect(id.pinnedBytes).toMatch(/^0x[0-9a-f]+$/);
    expect(k.pinnedBytes).toBe('0x0');
    // Properties travel with the result.
    expect(id.properties.noPinningNeeded).toBe(false);
    expect(pv.properties.hostIsolation).toBe(true);
    expect(k.properties.hostIsolation).toBe(false);
    // Modelled time: protection costs; identity's map/unmap is free.
    expect(pv.perRequestUs).toBeGreaterThan(k.perRequestUs);
    expect(id.perRequestUs).toBeLessThan(k.perRequestUs);
  });

  it('totals agree with the cost model and the series ends at the total', () => {
    for (const d of dyn.designs) {
      const t = modelledTime(d.counts as never, DEFAULT_COSTS);
      expect(d.totalUs).toBeCloseTo(t.totalUs, 9);
      expect(d.perRequestUs).toBeCloseTo(t.totalUs / 200, 12);
      expect(d.series[0]).toEqual([0, 0]);
      const last = d.series[d.series.length - 1];
      expect(last[0]).toBe(200);
      expect(last[1]).toBeCloseTo(d.totalUs, 9);
      // Cumulative: requests and time never go down.
      for (let i = 1; i < d.series.length; i++) {
        expect(d.series[i][0]).toBeGreaterThan(d.series[i - 1][0]);
        expect(d.series[i][1]).toBeGreaterThanOrEqual(d.series[i - 1][1]);
      }
      // A point per chunk of 7 here (200 / 7 → 28 intermediate + origin + end).
      expect(d.series.length).toBe(30);
      const sc = (d as CompareDesignResultFull).seriesCounts ?? {};
      for (const col of Object.values(sc)) expect(col.length).toBe(d.series.length);
    }
  });

  it('is deterministic, whatever the chunking', () => {
    const again = runCompareToEnd(SMALL, {}, { chunk: 50 });
    for (const name of COMPARE_DESIGNS) {
      const a = byName(dyn, name);
      const b = byName(again, name);
      expect(b.counts).toEqual(a.counts);
      expect(b.totalUs).toBe(a.totalUs);
      expect(b.pinnedBytes).toBe(a.pinnedBytes);
    }
    expect(runCompareToEnd(SMALL, {}, { chunk: 7 })).toEqual(dyn);
  });

  it('maps once on a static workload', () => {
    const r = runCompareToEnd({ ...SMALL, kind: 'static' }, {}, { chunk: 20 });
    const pv = byName(r, 'paravirt');
    expect(pv.counts.hypercalls).toBe(SMALL.buffers);
    expect(pv.counts.hypPinnedPages).toBe(SMALL.buffers);
    expect(pv.counts.hypUnmapCalls).toBe(0);
    expect(BigInt(pv.pinnedBytes)).toBe(BigInt(SMALL.buffers * 4096));
    for (const d of r.designs) {
      expect(d.counts.dmaCalls).toBe(SMALL.buffers);
      expect(d.counts.syncs).toBe(0);
    }
    // Buffers stay mapped, so the IOTLB hits after the first touch of each.
    expect(byName(r, 'kernel').counts.iotlbHits).toBe(200 - SMALL.buffers);
  });

  it('batches unmaps on the kernel driver but not on paravirt', () => {
    const r = runCompareToEnd({ ...SMALL, batch: 8 }, {}, { chunk: 25 });
    expect(byName(r, 'kernel').counts.syncs).toBe(200 / 8);
    expect(byName(r, 'paravirt').counts.hypercalls).toBe(400);
    expect(byName(r, 'paravirt').counts.syncs).toBe(200);
  });

  it('maps each scatter-gather page', () => {
    const r = runCompareToEnd({ ...SMALL, kind: 'sg', sgPages: 3 }, {}, { chunk: 40 });
    const pv = byName(r, 'paravirt');
    expect(pv.counts.hypercalls).toBe(200 * 3 * 2);
    expect(pv.counts.dmaBytes).toBe(200 * 3 * 4096);
  });

  it('yields monotonic progress over all designs, announcing each design', () => {
    const { progress, result } = drain(runCompare(SMALL, {}, { chunk: 20, designs: ['kernel', 'identity'] }));
    expect(result.designs.map((d) => d.design)).toEqual(['kernel', 'identity']);
    expect(progress[0]).toMatchObject({ design: 'kernel', done: 0, total: 400, designIndex: 0, designs: 2 });
    expect(progress.find((p) => p.design === 'identity')).toMatchObject({ done: 200, designDone: 0 });
    for (let i = 1; i < progress.length; i++) expect(progress[i].done).toBeGreaterThanOrEqual(progress[i - 1].done);
    expect(progress[progress.length - 1]).toMatchObject({ design: 'identity', done: 400, designDone: 200 });
    // 200 / 20 chunks per design, plus the start of each.
    expect(progress.length).toBe(2 * (10 + 1));
  });

  it('keeps the series short on long runs and sizes chunks itself', () => {
    const { progress, result } = drain(runCompare({ ...SMALL, kind: 'static', requests: 20_000, buffers: 4 }, {}, { designs: ['identity'] }));
    expect(progress.length).toBeGreaterThan(50);
    const d = result.designs[0];
    expect(d.series.length).toBeLessThanOrEqual(MAX_SERIES_POINTS);
    expect(d.series.length).toBeGreaterThan(50);
    expect(d.series[d.series.length - 1][1]).toBeCloseTo(d.totalUs, 9);
  });

  it('applies parameter overrides', () => {
    const r = runCompareToEnd(SMALL, { hypercallUs: 1 }, { chunk: 50, designs: ['paravirt'] });
    expect(r.params.hypercallUs).toBe(1);
    expect(r.designs[0].parts.hypercalls).toBeCloseTo(400, 9);
  });

  it('rejects bad input before running, with the path', () => {
    const g = runCompare({ ...SMALL, bufferSize: 5000 }, {});
    expect(() => g.next()).toThrow(CompareInputError);
    let err: unknown;
    try {
      runCompareToEnd({ ...SMALL, requests: -1 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CompareInputError);
    expect((err as CompareInputError).what).toBe('workload');
    expect((err as CompareInputError).issues[0]).toMatch(/^requests: /);
    expect(() => runCompareToEnd(SMALL, { hypercallUs: -1 })).toThrow(/params: hypercallUs/);
  });
});

describe('recost', () => {
  const base = runCompareToEnd(SMALL, {}, { chunk: 10 });

  it('doubling the hypercall cost adds exactly the hypercall part to paravirt', () => {
    const pv = byName(base, 'paravirt');
    const r = recost(base, { hypercallUs: DEFAULT_COSTS.hypercallUs * 2 });
    const pv2 = byName(r, 'paravirt');
    expect(pv2.totalUs - pv.totalUs).toBeCloseTo(pv.parts.hypercalls, 9);
    expect(pv2.parts.hypercalls).toBeCloseTo(2 * pv.parts.hypercalls, 9);
    expect(pv2.perRequestUs).toBeCloseTo(pv2.totalUs / 200, 12);
    expect(pv2.series[pv2.series.length - 1][1]).toBeCloseTo(pv2.totalUs, 9);
    expect(r.params.hypercallUs).toBe(DEFAULT_COSTS.hypercallUs * 2);
    // No hypercalls elsewhere: unchanged.
    for (const name of ['kernel', 'nested', 'identity']) expect(byName(r, name).totalUs).toBeCloseTo(byName(base, name).totalUs, 9);
    // Counts untouched, and the input is not modified.
    expect(pv2.counts).toEqual(pv.counts);
    expect(byName(base, 'paravirt').totalUs).toBe(pv.totalUs);
  });

  it('matches a fresh run with the same parameters, series included', () => {
    const params = { walkReadUs: 0.5, syncWaitUs: 2, dmaByteUs: 0 };
    const fresh = runCompareToEnd(SMALL, params, { chunk: 10 });
    const re = recost(base, params);
    for (const name of COMPARE_DESIGNS) {
      const a = byName(fresh, name);
      const b = byName(re, name);
      expect(b.totalUs).toBeCloseTo(a.totalUs, 9);
      expect(b.series.length).toBe(a.series.length);
      b.series.forEach(([x, y], i) => {
        expect(x).toBe(a.series[i][0]);
        expect(y).toBeCloseTo(a.series[i][1], 9);
      });
    }
  });

  it('recost to the defaults is the identity', () => {
    const r = recost(recost(base, { hypercallUs: 3 }), {});
    for (const name of COMPARE_DESIGNS) expect(byName(r, name).totalUs).toBeCloseTo(byName(base, name).totalUs, 9);
  });

  it('scales the series when there are no counts per point', () => {
    const stripped: CompareResult = { ...base, designs: base.designs.map(({ seriesCounts: _sc, ...d }: CompareDesignResultFull) => d) };
    const r = recost(stripped, { dmaByteUs: 0.0002 });
    const d = byName(r, 'kernel');
    expect(d.series[d.series.length - 1][1]).toBeCloseTo(d.totalUs, 9);
  });
});

describe('schemas', () => {
  it('accept the defaults', () => {
    expect(CompareWorkloadSchema.safeParse(SMALL).success).toBe(true);
    expect(CostParamsSchema.safeParse({}).success).toBe(true);
    expect(CostParamsSchema.safeParse({ ...DEFAULT_COSTS }).success).toBe(true);
  });

  it.each([
    [{ bufferSize: 5000 }, 'bufferSize'],
    [{ bufferSize: 128 * 1024 * 1024 }, 'bufferSize'],
    [{ requests: 2_000_001 }, 'requests'],
    [{ requests: 1.5 }, 'requests'],
    [{ buffers: 65_537 }, 'buffers'],
    [{ buffers: 0 }, 'buffers'],
    [{ batch: 0 }, 'batch'],
    [{ kind: 'bogus' }, 'kind'],
    [{ pattern: 'zigzag' }, 'pattern'],
    [{ accessSize: 8192 }, 'accessSize'],
    [{ seed: -1 }, 'seed'],
    [{ buffers: 13, bufferSize: 64 * 1024 * 1024 }, 'buffers'],
    [{ requests: 2_000_000, bufferSize: 1024 * 1024, buffers: 4 }, 'requests'],
  ])('rejects %j at %s', (patch, path) => {
    const r = CompareWorkloadSchema.safeParse({ ...SMALL, ...patch });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join('.'))).toContain(path);
  });

  it('rejects unknown and missing fields', () => {
    const extra = CompareWorkloadSchema.safeParse({ ...SMALL, evil: 1 });
    expect(extra.success).toBe(false);
    const { seed: _seed, ...noSeed } = SMALL;
    const missing = CompareWorkloadSchema.safeParse(noSeed);
    expect(missing.error?.issues[0].path).toEqual(['seed']);
  });

  it('rejects bad cost parameters with the path', () => {
    for (const bad of [{ hypercallUs: -0.1 }, { hypercallUs: Number.NaN }, { walkReadUs: Number.POSITIVE_INFINITY }, { pteUs: '1' }]) {
      const r = CostParamsSchema.safeParse(bad);
      expect(r.success).toBe(false);
      expect(r.error?.issues[0].path).toEqual([Object.keys(bad)[0]]);
    }
    expect(CostParamsSchema.safeParse({ bogusUs: 1 }).success).toBe(false);
  });

  it('the buffer region matches the machine, and the largest allowed layout runs', () => {
    expect(BUFFER_REGION_BYTES).toBe(Number(MACHINE.hypPool - MACHINE.bufferBase));
    const w = { ...SMALL, buffers: 12, bufferSize: 64 * 1024 * 1024, requests: 12 };
    expect(CompareWorkloadSchema.safeParse(w).success).toBe(true);
    const r = runCompareToEnd(w, {}, { designs: ['paravirt', 'identity'] });
    for (const d of r.designs) expect(d.faults).toBe(0);
  });

  it('describes every cost parameter', () => {
    expect(COST_PARAM_INFO.map((p) => p.name).sort()).toEqual(Object.keys(DEFAULT_COSTS).sort());
    for (const p of COST_PARAM_INFO) {
      expect(p.default).toBe(DEFAULT_COSTS[p.name]);
      expect(['fitted', 'assumption']).toContain(p.source);
      expect(p.unit).toMatch(/µs/);
    }
  });
});
