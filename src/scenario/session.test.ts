import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CliInputError } from '../cli/json';
import { DEFAULT_SCENARIO } from './library/default';
import { costOverrides, parseScenario, record } from './scenario';
import { LOG_KEEP, Session } from './session';
import { buildSnapshot, buildTree } from './snapshot';
import type { CostCounts } from '../emu/hyp/cost';
import type { PtNode, PtTree } from './view';

type Json = Record<string, unknown>;

/** Leaves counted by walking the tree (not trusting `leaves`). */
function countLeaves(n: PtNode): number {
  if (n.kind === 'page' || n.kind === 'block') return 1;
  return (n.children ?? []).reduce((a, c) => a + countLeaves(c), 0);
}

function leafAddrs(t: PtTree): string[] {
  const out: string[] = [];
  const walk = (n: PtNode): void => {
    if (n.kind === 'page' || n.kind === 'block') out.push(n.iaBase);
    for (const c of n.children ?? []) walk(c);
  };
  walk(t.root);
  return out;
}

describe('Session on the default scenario', () => {
  // One session shared by the read-only checks (each builds from boot ~150 ms).
  const s = new Session(DEFAULT_SCENARIO);

  it('has the 8 steps recorded', () => {
    expect(s.length).toBe(8);
    expect(s.recording.steps).toHaveLength(8);
    expect(s.doc).toEqual(DEFAULT_SCENARIO);
  });

  it('the last DMA makes the full 24-read nested walk, 24 grid cells', () => {
    const snap = s.snapshot(8);
    expect(snap.step).toBe(8);
    expect(snap.steps).toBe(8);
    expect(snap.mode).toBe('nested');
    const walk = snap.walk;
    expect(walk).not.toBeNull();
    expect(walk?.tableReads).toBe(24);
    expect(walk?.outcome).toMatchObject({ kind: 'ok', pa: '0x50001234' });
    const cells = (walk?.accesses ?? []).filter((a) => a.row !== undefined && a.col !== undefined);
    expect(cells).toHaveLength(24);
    expect(new Set(cells.map((a) => `${a.row}/${a.col}`)).size).toBe(24);
    expect(walk?.grid).toEqual({ rows: [0, 1, 2, 3, 4], cols: [0, 1, 2, 3] });
    // The request is the step's.
    expect(walk?.request).toMatchObject({ sid: 1, iova: '0x101234', access: 'write' });
  });

  it('the first DMA is shorter (block-mapped S2); non-DMA steps have no walk', () => {
    const first = s.snapshot(5).walk;
    expect(first?.tableReads).toBeGreaterThan(4);
    expect(first?.tableReads).toBeLessThan(24);
    expect(s.snapshot(6).walk).toBeNull();
    expect(s.snapshot(0).walk).toBeNull();
  });

  it('snapshot(0) is the machine after boot: no log, no tables, step 0', () => {
    const z = s.snapshot(0);
    expect(z.step).toBe(0);
    expect(z.log).toEqual([]);
    expect(z.tables).toEqual([]);
    expect(z.invariants.ok).toBe(true);
  });

  it('clamps the step', () => {
    expect(s.snapshot(99).step).toBe(8);
    expect(s.snapshot(-4).step).toBe(0);
    expect(s.snapshot(Number.NaN).step).toBe(0);
    expect(s.snapshot(Infinity).step).toBe(0);
    expect(s.snapshot(2.9).step).toBe(2);
    expect(s.clampStep(1e9)).toBe(8);
  });

  it('log entries accumulate and carry their step index', () => {
    let prev: unknown[] = [];
    let grew = false;
    for (let i = 0; i <= 8; i++) {
      const log = s.snapshot(i).log;
      expect(log.length).toBeLessThanOrEqual(LOG_KEEP);
      // Everything logged before is still there, in order (far below LOG_KEEP here).
      expect(log.slice(0, prev.length)).toEqual(prev);
      if (log.length > prev.length) grew = true;
      for (const e of log) {
        expect(e.step).toBeGreaterThanOrEqual(1);
        expect(e.step).toBeLessThanOrEqual(i);
      }
      // Step indices never go backwards.
      for (let k = 1; k < log.length; k++) expect(log[k].step).toBeGreaterThanOrEqual(log[k - 1].step);
      prev = log;
    }
    expect(grew).toBe(true);
    // host init traps: step 1's entries are there.
    expect(s.snapshot(1).log.some((e) => e.step === 1 && e.kind === 'trap')).toBe(true);
  });

  it('tree(step, id) for every table: leaf counts match the mappings (S1: 4 pages)', () => {
    const snap = s.snapshot(8);
    expect(snap.tables.length).toBeGreaterThanOrEqual(2);
    for (const t of snap.tables) {
      const tree = s.tree(8, t.id);
      expect(tree, t.id).not.toBeNull();
      expect(tree?.ref.id).toBe(t.id);
      expect(tree?.truncated).toBe(false);
      expect(tree?.root.leafCount).toBe(tree?.leaves);
      expect(countLeaves(tree!.root)).toBe(tree?.leaves);
    }
    const s1 = snap.tables.find((t) => t.stage === 1);
    expect(s1).toBeDefined();
    const tree = s.tree(8, s1!.id)!;
    expect(tree.leaves).toBe(4);
    expect(leafAddrs(tree)).toEqual(['0x100000', '0x101000', '0x102000', '0x103000']);
    // Before the map (step 3: attached) the same table exists with no leaves; before the attach it is not there.
    expect(s.tree(3, s1!.id)?.leaves).toBe(0);
    expect(s.tree(2, s1!.id)).toBeNull();
    expect(s.tree(8, 'no-such-table')).toBeNull();
  });

  it('a donation splits the hyp S2 block: its leaf count grows', () => {
    const s2 = s.snapshot(8).tables.find((t) => t.stage === 2)!;
    const before = s.tree(5, s2.id)!.leaves;
    const after = s.tree(8, s2.id)!.leaves;
    expect(after).toBeGreaterThan(before);
  });
});

describe('Session: determinism and step back = rebuild', () => {
  it('snapshot(5) equals a fresh session’s snapshot(5)', () => {
    const a = new Session(DEFAULT_SCENARIO).snapshot(5);
    const b = new Session(DEFAULT_SCENARIO).snapshot(5);
    expect(a).toEqual(b);
    expect(a).not.toBe(b);
  });

  it('8 → 3 → 8 (and 3 → 7) give the snapshots a fresh session gives going forward only', () => {
    const s = new Session(DEFAULT_SCENARIO);
    const ref = new Session(DEFAULT_SCENARIO); // only ever steps forward: 3, 7, 8
    const at8 = s.snapshot(8);
    const at3 = s.snapshot(3);
    expect(at3).toEqual(ref.snapshot(3));
    // The log was rebuilt: nothing from steps after 3.
    expect(at3.log.every((e) => e.step <= 3)).toBe(true);
    expect(s.snapshot(7)).toEqual(ref.snapshot(7)); // forward from the rebuilt machine
    expect(s.snapshot(8)).toEqual(at8);
    expect(at8).toEqual(ref.snapshot(8));
    // A tree (which seeks) after going back matches too.
    const id = at8.tables.find((t) => t.stage === 1)!.id;
    s.snapshot(2);
    expect(s.tree(8, id)).toEqual(ref.tree(8, id));
    expect(s.tree(4, id)?.leaves).toBe(4);
  });

  it('snapshot building does not change the machine’s cost counts', () => {
    const { scenario } = parseScenario(DEFAULT_SCENARIO);
    // The pure run: counts after each step, with no snapshot ever built.
    const pure: CostCounts[] = [];
    const { machine } = record(scenario, { onStep: (_i, m) => pure.push(m.counts()) });
    // A session builds a snapshot (and trees) at every step on its one machine.
    const s = new Session(DEFAULT_SCENARIO);
    for (let i = 1; i <= 8; i++) {
      const snap = s.snapshot(i);
      for (const t of snap.tables) s.tree(i, t.id);
      expect(snap.cost.counts, `step ${i}`).toEqual({ ...pure[i - 1] });
    }
    // Twice on the same machine: identical cost, and the machine's own counts unchanged.
    const ctx = { scenario, step: 8, steps: 8, log: [], costs: costOverrides(scenario.costs) };
    const before = machine.counts();
    const a = buildSnapshot(machine, ctx);
    const b = buildSnapshot(machine, ctx);
    for (const t of a.tables) buildTree(machine, t.id, scenario);
    expect(b.cost).toEqual(a.cost);
    expect(a).toEqual(b);
    expect(machine.counts()).toEqual(before);
    expect(machine.cost()).toEqual(machine.cost());
  });

  it('refuses an invalid document with a CliInputError', () => {
    expect(() => new Session({ ...DEFAULT_SCENARIO, v: 2 })).toThrow(CliInputError);
    expect(() => new Session({ ...DEFAULT_SCENARIO, extra: 1 })).toThrow(CliInputError);
  });
});

describe('Session.withDma', () => {
  const s = new Session(DEFAULT_SCENARIO);
  const req = { sid: 1, iova: '0x102008', access: 'read' as const, priv: false };

  it('inserts a dma step after step `after`, leaving the document alone', () => {
    const doc = s.withDma(4, req) as { steps: Json[] } & Json;
    expect(doc.steps).toHaveLength(9);
    expect(doc.steps[4]).toEqual({ do: 'dma', sid: 1, iova: '0x102008', access: 'read', priv: false });
    expect(doc.steps[3]).toEqual(DEFAULT_SCENARIO.steps[3]);
    expect(doc.steps[5]).toEqual(DEFAULT_SCENARIO.steps[4]);
    expect(doc.title).toBe(DEFAULT_SCENARIO.title);
    expect(s.doc.steps as unknown[]).toHaveLength(8);
    // The new document runs, and its step 5 is that DMA.
    const t = new Session(doc);
    expect(t.recording.results[4]).toEqual({ pa: '0x50002008' });
    const walk = t.snapshot(5).walk;
    expect(walk?.request).toMatchObject({ sid: 1, iova: '0x102008', access: 'read', priv: false });
  });

  it('keeps ssid when given; clamps `after` to [0, steps]', () => {
    const withSsid = s.withDma(0, { ...req, ssid: 2 }) as { steps: Json[] };
    expect(withSsid.steps[0]).toEqual({ do: 'dma', sid: 1, ssid: 2, iova: '0x102008', access: 'read', priv: false });
    expect((s.withDma(-3, req) as { steps: Json[] }).steps[0]).toMatchObject({ do: 'dma' });
    const end = s.withDma(100, req) as { steps: Json[] };
    expect(end.steps).toHaveLength(9);
    expect(end.steps[8]).toMatchObject({ do: 'dma', iova: '0x102008' });
    const at8 = s.withDma(8, req) as { steps: Json[] };
    expect(at8.steps[8]).toMatchObject({ do: 'dma', iova: '0x102008' });
  });
});

// ---------------------------------------------------------------------------
// Bare mode: leaves follow maps and unmaps; random scenarios are deterministic.

const RAM_BASE = 0x40000000;
/** Property runs (raise with SESSION_RUNS=… for a longer hunt). */
const RUNS = Number(process.env.SESSION_RUNS ?? 25);
const RAM = [{ base: '0x40000000', size: '0x4000000' }]; // 64 MiB: all of it the host driver's table memory
const hx = (n: number | bigint): string => `0x${n.toString(16)}`;

function bare(steps: unknown[]): Json {
  return { v: 1, machine: { ram: RAM, devices: [{ sid: 1 }, { sid: 2 }] }, mode: 'bare', steps };
}

describe('Session in bare mode', () => {
  it('S1 tree leaves follow map and unmap', () => {
    const doc = bare([
      { do: 'host', op: 'init' },
      { do: 'host', op: 'alloc_domain', domain: 'a', stage: 's1' },
      { do: 'host', op: 'attach', domain: 'a', sid: 1 },
      { do: 'host', op: 'map', domain: 'a', iova: '0x10000', paddr: '0x41000000', size: '0x5000', prot: ['read'] },
      { do: 'host', op: 'unmap', domain: 'a', iova: '0x11000', size: '0x1000' },
      { do: 'dma', sid: 1, iova: '0x11000', access: 'read' },
      { do: 'dma', sid: 1, iova: '0x12000', access: 'read' },
    ]);
    const s = new Session(doc);
    expect(s.recording.results[3]).toEqual({ ret: 0, value: '0x5000' });
    expect(s.recording.results[4]).toEqual({ ret: 0, value: '0x1000' });
    const id = s.snapshot(7).tables[0].id;
    expect(s.tree(4, id)?.leaves).toBe(5);
    expect(s.tree(5, id)?.leaves).toBe(4);
    expect(leafAddrs(s.tree(5, id)!)).toEqual(['0x10000', '0x12000', '0x13000', '0x14000']);
    expect(s.recording.results[5]).toMatchObject({ fault: { type: 'F_TRANSLATION' } });
    expect(s.recording.results[6]).toEqual({ pa: '0x41002000' });
    expect(s.snapshot(6).walk?.outcome.kind).toBe('fault');
    // Not nested: no grid.
    expect(s.snapshot(7).walk?.grid).toBeUndefined();
  });

  const sid = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(1, 2) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }) });
  const domain = fc.constantFrom('a', 'b');
  const page = fc.integer({ min: 0, max: 0x20 });
  const prot = fc.oneof(
    { weight: 4, arbitrary: fc.subarray(['write', 'noexec', 'cache', 'priv']).map((p) => ['read', ...p]) },
    { weight: 1, arbitrary: fc.subarray(['read', 'write', 'noexec', 'cache', 'priv']) },
  );
  const size = fc.oneof(fc.integer({ min: 1, max: 16 }).map((n) => n * 0x1000), fc.constant(0x200000), fc.integer({ min: 0, max: 0x3000 }));
  const step: fc.Arbitrary<Json> = fc.oneof(
    { weight: 1, arbitrary: fc.constant({ do: 'host', op: 'init' }) },
    {
      weight: 2,
      arbitrary: fc.record(
        {
          do: fc.constant('host'),
          op: fc.constant('alloc_domain'),
          domain,
          stage: fc.constantFrom('s1', 's1', 's2'),
          granule: fc.constantFrom(4096, 16384, 65536),
          ias: fc.constantFrom(32, 39, 48),
        },
        { requiredKeys: ['do', 'op', 'domain', 'stage'] },
      ),
    },
    { weight: 2, arbitrary: fc.record({ do: fc.constant('host'), op: fc.constant('attach'), domain, sid, ssid: fc.integer({ min: 0, max: 3 }) }, { requiredKeys: ['do', 'op', 'domain', 'sid'] }) },
    { weight: 1, arbitrary: fc.record({ do: fc.constant('host'), op: fc.constant('detach'), sid }) },
    {
      weight: 3,
      // Aligned to a granule (4K, 16K or 64K) most of the time, so that most maps succeed.
      arbitrary: fc.constantFrom(0x1000, 0x4000, 0x10000).chain((unit) =>
        fc.record({
          do: fc.constant('host'),
          op: fc.constant('map'),
          domain,
          iova: page.map((p) => hx(p * unit)),
          paddr: page.map((p) => hx(0x41000000 + p * unit)),
          size: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 4 }).map((n) => n * unit) }, { weight: 1, arbitrary: size }).map(hx),
          prot,
        }),
      ),
    },
    { weight: 2, arbitrary: fc.record({ do: fc.constant('host'), op: fc.constant('unmap'), domain, iova: page.map((p) => hx(p * 0x1000)), size: size.map(hx) }) },
    {
      weight: 3,
      arbitrary: fc.record(
        {
          do: fc.constant('dma'),
          sid,
          // Mostly without a SubstreamID (the domains are attached without substreams).
          ssid: fc.oneof({ weight: 4, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 3 }) }),
          iova: fc.oneof(fc.integer({ min: 0, max: 0x41000 }), fc.tuple(page, fc.constantFrom(0x1000, 0x4000, 0x10000)).map(([p, unit]) => p * unit + 8)).map(hx),
          access: fc.constantFrom('read', 'write', 'exec'),
          priv: fc.boolean(),
        },
        { requiredKeys: ['do', 'sid', 'ssid', 'iova', 'access'] },
      ).map(({ ssid, ...rest }) => (ssid < 0 ? rest : { ...rest, ssid })),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        do: fc.constant('write64'),
        // The host's table memory: stream table, queues, CDs and page tables live in its first pages.
        addr: fc.integer({ min: 0, max: 0x40000 / 8 - 1 }).map((k) => hx(RAM_BASE + k * 8)),
        value: fc.oneof(
          fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(hx),
          fc.integer({ min: 0, max: 0x40000 / 0x1000 - 1 }).map((p) => hx(RAM_BASE + p * 0x1000 + 3)), // a table descriptor into table memory
          fc.constantFrom('0x0', '0x1', '0x3', '0xffffffffffffffff'),
        ),
      }),
    },
  );
  /** Mostly a working setup (init, an S1 and an S2 domain, attached) before the random steps, sometimes part of it. */
  const setup: fc.Arbitrary<Json[]> = fc
    .tuple(
      fc.record({ granule: fc.constantFrom(4096, 16384, 65536), ias: fc.constantFrom(32, 39, 48) }, { requiredKeys: [] }),
      fc.constantFrom(4096, 16384, 65536),
    )
    .chain(([s1, g2]) => {
      const all: Json[] = [
        { do: 'host', op: 'init' },
        { do: 'host', op: 'alloc_domain', domain: 'a', stage: 's1', ...s1 },
        { do: 'host', op: 'alloc_domain', domain: 'b', stage: 's2', granule: g2 },
        { do: 'host', op: 'attach', domain: 'a', sid: 1 },
        { do: 'host', op: 'attach', domain: 'b', sid: 2 },
      ];
      return fc.oneof({ weight: 4, arbitrary: fc.constant(all) }, { weight: 1, arbitrary: fc.subarray(all) });
    });
  const scenario = fc.tuple(setup, fc.array(step, { minLength: 1, maxLength: 10 })).map(([pre, steps]) => bare([...pre, ...steps]));

  it('random bare scenarios: snapshot(i) in any order equals a fresh session’s, and never throws (property)', () => {
    fc.assert(
      fc.property(scenario, fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), (doc, picks) => {
        const s = new Session(doc);
        const n = s.length;
        const fresh = new Map<number, Session>();
        for (const p of picks) {
          const i = p % (n + 1);
          const snap = s.snapshot(i);
          expect(snap.step).toBe(i);
          let f = fresh.get(i);
          if (!f) {
            f = new Session(doc);
            fresh.set(i, f);
          }
          expect(snap).toEqual(f.snapshot(i));
          const t = snap.tables[0];
          if (t) expect(s.tree(i, t.id)).toEqual(f.tree(i, t.id));
        }
        // The last step's snapshot agrees with the recording.
        const last = s.snapshot(n);
        expect(last.step).toBe(n);
        expect(s.recording.results).toHaveLength(n);
      }),
      { numRuns: RUNS },
    );
  }, 5000 + RUNS * 100);
});
