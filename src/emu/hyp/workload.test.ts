import { describe, expect, it } from 'vitest';
import { type CostCounts, modelledTime, subCounts, zeroCounts } from './cost';
import { type DesignName, MACHINE, PROPERTIES, makeDesign } from './designs';
import { DEFAULT_WORKLOAD, type Progress, type WorkloadKind, type WorkloadReport, type WorkloadSpec, runToEnd, runWorkload } from './workload';

const spec = (o: Partial<WorkloadSpec> = {}): WorkloadSpec => ({ ...DEFAULT_WORKLOAD, buffers: 16, requests: 64, ...o });

/** Designs this build provides ('nested' only once it is registered). */
const AVAILABLE: DesignName[] = (['kernel', 'paravirt', 'identity', 'nested'] as const).filter((n) => {
  try {
    makeDesign(n);
    return true;
  } catch {
    return false;
  }
});
const KINDS: WorkloadKind[] = ['static', 'dynamic', 'sg'];

/** The counts a device access (not a map / unmap) produces. */
const DMA_FIELDS: (keyof CostCounts)[] = ['walkReads', 'iotlbHits', 'iotlbMisses', 'dmaBytes'];
const COUNT_KEYS = Object.keys(zeroCounts()) as (keyof CostCounts)[];

/** Host-owned RAM on the identity machine: what a pinned identity S2 makes reachable. */
const HOST_RAM = BigInt(makeDesign('identity').own.stats().hostPages) * 4096n;


describe('workloads on every design', () => {
  it('the three base designs are available', () => {
    expect(AVAILABLE).toEqual(expect.arrayContaining(['kernel', 'paravirt', 'identity']));
  });

  for (const name of AVAILABLE) {
    for (const kind of KINDS) {
      it(`${name} ${kind}: no faults; the report is consistent with its counts`, () => {
        const s = spec({ kind });
        const r = runToEnd(name, s);
        expect(r.faults).toBe(0);
        expect(r.design).toBe(name);
        expect(r.requests).toBe(s.requests);
        expect(r.properties).toEqual(PROPERTIES[name]);
        const t = modelledTime(r.counts);
        expect(r.totalUs).toBeCloseTo(t.totalUs, 9);
        expect(r.parts).toEqual(t.parts);
        expect(r.perRequestUs).toBeCloseTo(r.totalUs / s.requests, 12);
        expect(r.counts.dmaBytes).toBe(kind === 'sg' ? s.requests * s.sgPages * 4096 : s.requests * s.accessesPerRequest * s.accessSize);
        for (const k of COUNT_KEYS) expect(r.counts[k], k).toBeGreaterThanOrEqual(0);
        // Every map is matched by an unmap by the end (static never unmaps).
        const maps = kind === 'static' ? s.buffers : kind === 'dynamic' ? s.requests : s.requests * s.sgPages;
        expect(r.counts.dmaCalls).toBe(kind === 'static' ? maps : 2 * maps);
      });
    }
  }

  it('the report properties match PROPERTIES for every available design', () => {
    for (const name of AVAILABLE) expect(runToEnd(name, spec({ requests: 8 })).properties).toEqual(PROPERTIES[name]);
  });
});

describe('static workloads: the mapping work happens only at setup', () => {
  for (const name of AVAILABLE) {
    it(`${name}: doubling the requests grows only the DMA-related counts`, () => {
      const s = spec({ kind: 'static', buffers: 8, requests: 64 });
      const a = runToEnd(name, s);
      const b = runToEnd(name, { ...s, requests: 128 });
      const extra = subCounts(b.counts, a.counts);
      for (const k of COUNT_KEYS) if (!DMA_FIELDS.includes(k)) expect(extra[k], k).toBe(0);
      expect(extra.dmaBytes).toBe(64 * s.accessSize);
      expect(extra.iotlbHits + extra.iotlbMisses).toBeGreaterThan(0);
      expect(b.faults).toBe(0);
    });
  }

  it('setup maps each buffer once: kernel writes one PTE per page, paravirt also makes one hypercall per buffer and pins it', () => {
    const s = spec({ kind: 'static', buffers: 8, bufferSize: 0x4000n, requests: 32 });
    const k = runToEnd('kernel', s);
    const p = runToEnd('paravirt', s);
    expect(k.counts).toMatchObject({ dmaCalls: 8, ptes: 32, hypercalls: 0, commands: 0, syncs: 0 });
    expect(p.counts).toMatchObject({ dmaCalls: 8, ptes: 32, hypercalls: 8, hypPinnedPages: 32, hypUnpinnedPages: 0, commands: 0, syncs: 0 });
    expect(p.pinnedBytes).toBe(8n * 0x4000n);
  });
});

describe('dynamic workloads', () => {
  it('paravirt: two hypercalls per request (map + unmap), a CMD_SYNC per unmap, every page pinned and unpinned, nothing left pinned', () => {
    const s = spec({ kind: 'dynamic', requests: 48 });
    const r = runToEnd('paravirt', s);
    expect(r.counts.hypercalls).toBe(2 * s.requests);
    expect(r.counts.syncs).toBeGreaterThanOrEqual(s.requests);
    expect(r.counts.hypPinnedPages).toBe(s.requests);
    expect(r.counts.hypUnpinnedPages).toBe(s.requests);
    expect(r.counts.hypUnmapCalls).toBe(s.requests);
    expect(r.pinnedBytes).toBe(0n);
  });

  it('kernel: no hypercalls, a CMD_SYNC per unmap', () => {
    const s = spec({ kind: 'dynamic', requests: 48 });
    const r = runToEnd('kernel', s);
    expect(r.counts.hypercalls).toBe(0);
    expect(r.counts.syncs).toBeGreaterThanOrEqual(s.requests);
    expect(r.pinnedBytes).toBe(0n);
  });
});

describe('identity: no IOVA space, everything pinned', () => {
  for (const kind of KINDS) {
    it(`${kind}: no PTEs, no hypercalls, no commands; all host RAM pinned`, () => {
      const r = runToEnd('identity', spec({ kind }));
      expect(r.counts).toMatchObject({ ptes: 0, hypercalls: 0, commands: 0, syncs: 0 });
      expect(r.pinnedBytes).toBe(HOST_RAM);
    });
  }

  it('all host RAM is the machine RAM minus the hyp pool', () => {
    expect(HOST_RAM).toBe(MACHINE.ram.size - 1024n * 4096n);
  });
});

describe('batching', () => {
  for (const name of ['kernel', 'paravirt'] as const) {
    it(`${name} dynamic: batch 8 does the same map/unmap work as batch 1`, () => {
      const one = runToEnd(name, spec({ kind: 'dynamic', batch: 1 }));
      const eight = runToEnd(name, spec({ kind: 'dynamic', batch: 8 }));
      for (const k of ['dmaCalls', 'ptes', 'hypercalls'] as const) expect(eight.counts[k], k).toBe(one.counts[k]);
      expect(eight.faults).toBe(0);
    });

    // The kernel batches with its flush queue (one context TLBI + one CMD_SYNC per batch);
    // paravirt cannot: the hyp must invalidate each unmap before it drops the page references.
    it(`${name} dynamic: batch 8 ${name === 'kernel' ? 'issues fewer' : 'issues as many'} CMD_SYNCs as batch 1`, () => {
      const one = runToEnd(name, spec({ kind: 'dynamic', batch: 1 }));
      const eight = runToEnd(name, spec({ kind: 'dynamic', batch: 8 }));
      if (name === 'kernel') expect(eight.counts.syncs).toBeLessThan(one.counts.syncs);
      else expect(eight.counts.syncs).toBe(one.counts.syncs);
    });

    it(`${name} sg with batch 8 runs without faults`, () => {
      expect(runToEnd(name, spec({ kind: 'sg', batch: 8 })).faults).toBe(0);
    });

    // A random slot whose unmap is still deferred flushes the batch first.
    it(`${name} dynamic, random pattern, batch 8 runs without faults`, () => {
      expect(runToEnd(name, spec({ kind: 'dynamic', batch: 8, pattern: 'random' })).faults).toBe(0);
    });
  }
});

describe('IOTLB behaviour', () => {
  // The IOTLB holds 4096 entries (16 MiB of 4K pages). A single large buffer
  // at a 2M-aligned iova/pa is mapped with 2M blocks, so the footprint that
  // exceeds the reach is many 1M buffers (4K pages): 64 MiB.
  const big = (pattern: 'sequential' | 'random', accessesPerRequest: number): WorkloadSpec =>
    spec({ kind: 'static', buffers: 64, bufferSize: 0x10_0000n, requests: 256, accessesPerRequest, accessSize: 4096, pattern });

  it('random access over a footprint far beyond the IOTLB reach misses at least as often as sequential access', () => {
    for (const name of ['kernel', 'paravirt'] as const) {
      const seq = runToEnd(name, big('sequential', 4));
      const rnd = runToEnd(name, big('random', 4));
      expect(seq.faults + rnd.faults).toBe(0);
      expect(rnd.counts.iotlbMisses).toBeGreaterThanOrEqual(seq.counts.iotlbMisses);
      expect(rnd.counts.iotlbMisses).toBeGreaterThan(2 * seq.counts.iotlbMisses);
      // Sequential touches the same 4 pages of each buffer: only compulsory misses.
      expect(seq.counts.iotlbMisses).toBe(64 * 4);
    }
  });

  it('a sequential sweep of every page of a footprint beyond the reach misses on every access (the FIFO IOTLB thrashes)', () => {
    const seq = runToEnd('kernel', big('sequential', 256));
    const rnd = runToEnd('kernel', big('random', 256));
    expect(seq.counts.iotlbMisses).toBe(256 * 256);
    expect(seq.counts.iotlbHits).toBe(0);
    // ... so here random misses less than sequential: the ordering is not universal.
    expect(rnd.counts.iotlbMisses).toBeLessThan(seq.counts.iotlbMisses);
  });

  it('identity: one block-mapped identity S2 serves every buffer from a handful of IOTLB entries', () => {
    const r = runToEnd('identity', spec({ kind: 'dynamic', requests: 64 }));
    expect(r.counts.iotlbMisses).toBeLessThanOrEqual(2);
  });
});

describe('the generator', () => {
  it('yields progress with done increasing to total, then returns the report', () => {
    const s = spec({ requests: 64 });
    const g = runWorkload('paravirt', s, { chunk: 8 });
    const seen: Progress[] = [];
    let report: WorkloadReport | undefined;
    for (;;) {
      const x = g.next();
      if (x.done) {
        report = x.value;
        break;
      }
      seen.push(x.value);
    }
    expect(seen.map((p) => p.done)).toEqual([8, 16, 24, 32, 40, 48, 56, 64]);
    for (const p of seen) expect(p.total).toBe(64);
    expect(report?.requests).toBe(64);
    expect(report?.counts).toEqual(runToEnd('paravirt', s).counts);
  });

  it('can be stopped early with return() without throwing', () => {
    const g = runWorkload('paravirt', spec({ requests: 64 }), { chunk: 8 });
    const first = g.next();
    expect(first).toMatchObject({ done: false, value: { done: 8, total: 64 } });
    // Progress carries the counts so far: 8 paravirt requests = 8 map + 8 unmap hypercalls.
    expect(first.done ? null : first.value.counts).toMatchObject({ hypercalls: 16, dmaCalls: 16 });
    const stopped = g.return(undefined as unknown as WorkloadReport);
    expect(stopped.done).toBe(true);
    expect(g.next()).toEqual({ done: true, value: undefined });
  });

  it('stopping before the first chunk is fine too', () => {
    const g = runWorkload('kernel', spec({ requests: 64 }), { chunk: 8 });
    expect(() => g.return(undefined as unknown as WorkloadReport)).not.toThrow();
  });

  // Progress is yielded only when (r + 1) % chunk === 0.
  it('the last progress reaches total when chunk does not divide requests', () => {
    const g = runWorkload('kernel', spec({ requests: 10 }), { chunk: 4 });
    let last: Progress | undefined;
    for (let x = g.next(); !x.done; x = g.next()) last = x.value;
    expect(last?.done).toBe(10);
  });

  it('the same seed gives the same report', () => {
    const s = spec({ kind: 'dynamic', pattern: 'random', seed: 7 });
    expect(runToEnd('kernel', s).counts).toEqual(runToEnd('kernel', s).counts);
  });
});

describe('comparison claims (hyp.md)', () => {
  it('dynamic (map → DMA → unmap per buffer): paravirt costs more per request than the kernel; identity costs least but pins all host RAM', () => {
    const s = spec({ kind: 'dynamic', requests: 128 });
    const k = runToEnd('kernel', s);
    const p = runToEnd('paravirt', s);
    const i = runToEnd('identity', s);
    expect(p.perRequestUs).toBeGreaterThan(k.perRequestUs);
    expect(i.perRequestUs).toBeLessThan(k.perRequestUs);
    expect(i.perRequestUs).toBeLessThan(p.perRequestUs);
    expect(i.pinnedBytes).toBe(HOST_RAM);
    expect(k.pinnedBytes).toBe(0n);
    expect(p.pinnedBytes).toBe(0n);
    // The gap is the hypercalls and the hyp's per-page work.
    expect(p.parts.hypercalls).toBeGreaterThan(0);
    expect(k.parts.hypercalls).toBe(0);
  });

  it('static: paravirt per-request cost approaches the kernel (within 10 %) since the hypercalls happen only at setup', () => {
    const s = spec({ kind: 'static', requests: 2048 });
    const k = runToEnd('kernel', s);
    const p = runToEnd('paravirt', s);
    expect(p.counts.hypercalls).toBe(s.buffers);
    expect(Math.abs(p.perRequestUs - k.perRequestUs) / k.perRequestUs).toBeLessThan(0.1);
  });

  it('static: the paravirt overhead per request shrinks as the setup is amortised over more requests', () => {
    const gap = (requests: number) => {
      const s = spec({ kind: 'static', requests });
      return runToEnd('paravirt', s).perRequestUs - runToEnd('kernel', s).perRequestUs;
    };
    const g64 = gap(64);
    const g1024 = gap(1024);
    expect(g64).toBeGreaterThan(0);
    expect(g1024).toBeGreaterThan(0);
    expect(g1024).toBeLessThan(g64);
  });
});
