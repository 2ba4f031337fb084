import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  COST_SOURCES,
  type CostCounts,
  type CostParams,
  DEFAULT_COSTS,
  MORELLO,
  addCounts,
  calibrate,
  modelledTime,
  morelloCounts,
  subCounts,
  zeroCounts,
} from './cost';
import { type Design, makeDesign } from './designs';

const PAGE = 0x1000n;

/** Which count each parameter multiplies in modelledTime. */
const COUNT_OF: Record<keyof CostParams, keyof CostCounts> = {
  hypercallUs: 'hypercalls',
  mmioTrapUs: 'mmioTraps',
  cmdEmulateUs: 'commandsEmulated',
  dmaCallUs: 'dmaCalls',
  pteUs: 'ptes',
  commandUs: 'commands',
  syncWaitUs: 'syncs',
  hypPinPerPageUs: 'hypPinnedPages',
  hypUnpinPerPageUs: 'hypUnpinnedPages',
  hypUnmapFixedUs: 'hypUnmapCalls',
  walkReadUs: 'walkReads',
  iotlbHitUs: 'iotlbHits',
  dmaByteUs: 'dmaBytes',
};

const PARAM_KEYS = Object.keys(DEFAULT_COSTS) as (keyof CostParams)[];
const COUNT_KEYS = Object.keys(zeroCounts()) as (keyof CostCounts)[];

/** The fields morelloCounts defines (everything a dma_map_benchmark op touches). */
const MODEL_FIELDS: (keyof CostCounts)[] = ['dmaCalls', 'ptes', 'hypercalls', 'commands', 'syncs', 'hypPinnedPages', 'hypUnpinnedPages', 'hypUnmapCalls'];

type Key = 'map4k' | 'unmap4k' | 'map1m' | 'unmap1m';
interface Measured {
  design: 'kernel' | 'paravirt';
  key: Key;
  op: 'map' | 'unmap';
  pages: number;
  delta: CostCounts;
  /** Descriptor / queue words the operation wrote to physical memory. */
  memWrites: number;
}

/**
 * One map and one unmap of a 4K buffer and of a 1M buffer (1M-aligned, not
 * 2M-aligned: 256 4K pages, no block) on a fresh design without range
 * invalidation (Morello's SMMU), each op's counts taken from the live model.
 * The 4K buffer is mapped first, so its map also creates the table levels
 * (the 1M buffer lies in the same 2M region, so it reuses that L3 table).
 */
function measure(design: 'kernel' | 'paravirt'): Measured[] {
  const d: Design = makeDesign(design, { features: { ril: false } });
  const spy = vi.spyOn(d.smmu.mem, 'write');
  const out: Measured[] = [];
  const op = (key: Key, kind: 'map' | 'unmap', pages: number, f: () => void) => {
    const before = d.counts();
    spy.mockClear();
    f();
    out.push({ design, key, op: kind, pages, delta: subCounts(d.counts(), before), memWrites: spy.mock.calls.length });
  };
  for (const [iova, pa, size, mapKey, unmapKey] of [
    [0x1_0000_0000n, 0x5000_0000n, PAGE, 'map4k', 'unmap4k'],
    [0x1_0010_0000n, 0x5010_0000n, 0x10_0000n, 'map1m', 'unmap1m'],
  ] as const) {
    const pages = Number(size / PAGE);
    op(mapKey, 'map', pages, () => expect(d.map(pa, size, iova)).toBe(iova));
    op(unmapKey, 'unmap', pages, () => d.unmap(iova, size));
  }
  spy.mockRestore();
  return out;
}

const LIVE: Measured[] = [...measure('kernel'), ...measure('paravirt')];

describe('calibration from the live emulation (Morello: no RIL)', () => {
  it.each(LIVE.map((m) => [`${m.design} ${m.key}`, m] as const))('%s: modelled time of the live counts is within 25 %% of Morello', (_n, m) => {
    const measured = MORELLO[m.design][m.key];
    const modelled = modelledTime(m.delta).totalUs;
    expect(Math.abs(modelled - measured) / measured).toBeLessThan(0.25);
  });

  it('the live operations do nothing the model does not define (no traps, emulation, walks or IOTLB traffic)', () => {
    for (const m of LIVE) {
      for (const k of COUNT_KEYS) if (!MODEL_FIELDS.includes(k)) expect(m.delta[k], `${m.design} ${m.key} ${k}`).toBe(0);
    }
  });

  it('the live deltas equal morelloCounts in every field except commands', () => {
    for (const m of LIVE) {
      const want = morelloCounts(m.design, m.op, m.pages);
      for (const k of MODEL_FIELDS) if (k !== 'commands') expect(m.delta[k], `${m.design} ${m.key} ${k}`).toBe(want[k]);
    }
  });

  // counts.commands holds the commands other than CMD_SYNC (charged separately as waits).
  it('live counts.commands equals morelloCounts.commands (TLBIs only) on unmap', () => {
    for (const m of LIVE) expect(m.delta.commands, `${m.design} ${m.key}`).toBe(morelloCounts(m.design, m.op, m.pages).commands);
  });

  it('memory writes: a map writes counts.ptes leaves plus one descriptor per new table; an unmap clears the leaves and writes two words per queued command (TLBIs and the CMD_SYNC)', () => {
    for (const m of LIVE) {
      if (m.op === 'unmap') expect(m.memWrites, `${m.design} ${m.key}`).toBe(m.delta.ptes + 2 * (m.delta.commands + m.delta.syncs));
      else if (m.key === 'map4k') expect(m.memWrites - m.delta.ptes, `${m.design} ${m.key}: L0, L1, L2 table descriptors`).toBe(3);
      else expect(m.memWrites - m.delta.ptes, `${m.design} ${m.key}: same 2M region as the 4K buffer, so its L3 table exists`).toBe(0);
    }
  });
});

describe('the cost model', () => {
  it('calibrate(): every Morello figure within 25 % with DEFAULT_COSTS, and the error is (modelled − measured) / measured', () => {
    const rows = calibrate();
    expect(rows).toHaveLength(8);
    for (const r of rows) {
      expect(Math.abs(r.error), `${r.design} ${r.op}`).toBeLessThan(0.25);
      expect(r.error).toBeCloseTo((r.modelledUs - r.measuredUs) / r.measuredUs, 12);
      const key = `${r.op.startsWith('map') ? 'map' : 'unmap'}${r.op.endsWith('4K') ? '4k' : '1m'}` as Key;
      expect(r.measuredUs).toBe(MORELLO[r.design as 'kernel' | 'paravirt'][key]);
    }
  });

  it('calibrate() uses the parameters it is given', () => {
    const doubled = Object.fromEntries(PARAM_KEYS.map((k) => [k, DEFAULT_COSTS[k] * 2])) as unknown as CostParams;
    const a = calibrate();
    const b = calibrate(doubled);
    for (let i = 0; i < a.length; i++) expect(b[i].modelledUs).toBeCloseTo(2 * a[i].modelledUs, 9);
  });

  it('COST_SOURCES covers exactly the parameters; every default is a finite non-negative number', () => {
    expect(Object.keys(COST_SOURCES).sort()).toEqual([...PARAM_KEYS].sort());
    for (const k of PARAM_KEYS) {
      expect(['fitted', 'assumption']).toContain(COST_SOURCES[k]);
      expect(Number.isFinite(DEFAULT_COSTS[k]) && DEFAULT_COSTS[k] >= 0, k).toBe(true);
    }
    expect(Object.isFrozen(DEFAULT_COSTS)).toBe(true);
    expect(Object.isFrozen(COST_SOURCES)).toBe(true);
  });

  it('every parameter multiplies exactly one count (the COUNT_OF table is the model), and iotlbMisses costs only through walkReads', () => {
    for (const k of PARAM_KEYS) {
      const p = { ...DEFAULT_COSTS, [k]: DEFAULT_COSTS[k] + 1 };
      for (const f of COUNT_KEYS) {
        const c = zeroCounts();
        c[f] = 1;
        const dt = modelledTime(c, p).totalUs - modelledTime(c).totalUs;
        expect(dt, `${k} × ${f}`).toBeCloseTo(f === COUNT_OF[k] ? 1 : 0, 12);
      }
    }
    const miss = zeroCounts();
    miss.iotlbMisses = 1000;
    expect(modelledTime(miss).totalUs).toBe(0);
  });

  const countsArb = fc.record(Object.fromEntries(COUNT_KEYS.map((k) => [k, fc.integer({ min: 0, max: 1_000_000 })])) as unknown as Record<keyof CostCounts, fc.Arbitrary<number>>);
  const paramsArb = fc.record(Object.fromEntries(PARAM_KEYS.map((k) => [k, fc.double({ min: 0, max: 100, noNaN: true })])) as unknown as Record<keyof CostParams, fc.Arbitrary<number>>);
  /** Equal up to rounding relative to `scale` (the size of the totals being subtracted). */
  const close = (a: number, b: number, scale = 0) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b), scale);

  it('property: changing one parameter by δ changes modelledTime by δ × its count', () => {
    fc.assert(
      fc.property(countsArb, paramsArb, fc.constantFrom(...PARAM_KEYS), fc.double({ min: -50, max: 50, noNaN: true }), (c, p, k, delta) => {
        const q = { ...p, [k]: p[k] + delta };
        const tq = modelledTime(c, q).totalUs;
        const tp = modelledTime(c, p).totalUs;
        return close(tq - tp, delta * c[COUNT_OF[k]], Math.max(Math.abs(tq), Math.abs(tp)));
      }),
    );
  });

  it('property: modelledTime is linear in the counts and the total is the sum of the parts', () => {
    fc.assert(
      fc.property(countsArb, countsArb, paramsArb, (a, b, p) => {
        const t = modelledTime(addCounts(a, b), p);
        const sum = Object.values(t.parts).reduce((x, y) => x + y, 0);
        return close(t.totalUs, modelledTime(a, p).totalUs + modelledTime(b, p).totalUs) && close(t.totalUs, sum) && modelledTime(zeroCounts(), p).totalUs === 0;
      }),
    );
  });

  it('property: subCounts undoes addCounts', () => {
    fc.assert(fc.property(countsArb, countsArb, (a, b) => {
      expect(subCounts(addCounts(a, b), b)).toEqual(a);
    }));
  });

  it('morelloCounts: one DMA call, a PTE per page; unmap adds a TLBI per page and one CMD_SYNC; paravirt adds one hypercall and the per-page hyp work', () => {
    for (const pages of [1, 256]) {
      expect(morelloCounts('kernel', 'map', pages)).toEqual({ ...zeroCounts(), dmaCalls: 1, ptes: pages });
      expect(morelloCounts('kernel', 'unmap', pages)).toEqual({ ...zeroCounts(), dmaCalls: 1, ptes: pages, commands: pages, syncs: 1 });
      expect(morelloCounts('paravirt', 'map', pages)).toEqual({ ...zeroCounts(), dmaCalls: 1, ptes: pages, hypercalls: 1, hypPinnedPages: pages });
      expect(morelloCounts('paravirt', 'unmap', pages)).toEqual({ ...zeroCounts(), dmaCalls: 1, ptes: pages, commands: pages, syncs: 1, hypercalls: 1, hypUnpinnedPages: pages, hypUnmapCalls: 1 });
    }
  });
});
