/**
 * The four designs side by side (hyp.md "The cost model"): the same static
 * workload reaches the same physical addresses under every design, and the
 * table walks a translation costs on a cold IOTLB differ as the spec says:
 * one stage (4 S1 levels) for the kernel driver and paravirt, one stage
 * (the S2 only, large blocks) for identity, and a 2-D walk for nested:
 * (4 + 1)(m + 1) - 1 reads for 4 S1 levels over an m-level S2 walk
 * (24 for a 4-level S2, 14 when the S2 maps the range with 1 GiB blocks, as
 * NestedHyp's identity S2 does).
 */

import { describe, expect, it } from 'vitest';
import type { TraceEntry } from '../walk';
import { type Design, type DesignName, MACHINE, makeDesign } from './designs';

const K4 = 0x1000n;
const NAMES: readonly DesignName[] = ['kernel', 'paravirt', 'nested', 'identity'];

/** Buffers of the static workload: PA and size (4 KiB pages, not 2 MiB aligned, so S1 maps them with level-3 pages). */
const BUFFERS: ReadonlyArray<{ pa: bigint; size: bigint }> = [
  { pa: MACHINE.bufferBase, size: K4 },
  { pa: MACHINE.bufferBase + 0x3000n, size: 2n * K4 },
  { pa: MACHINE.bufferBase + 0x1_0000n, size: 16n * K4 },
  { pa: MACHINE.bufferBase + 0x23_4000n, size: 3n * K4 },
  { pa: MACHINE.bufferBase + 0x1000_0000n, size: K4 },
];
/** The IOVA each buffer gets under the designs with a host IOVA space. */
const iovaOf = (i: number): bigint => 0x1_0000_0000n + BigInt(i) * 0x20_0000n + 0x5000n;
/** Offsets the device accesses in each buffer. */
const offsets = (size: bigint): bigint[] => [0n, 0x8n, 0x123n, K4 - 8n, size - 8n, size / 2n];

function mapAll(d: Design): bigint[] {
  return BUFFERS.map((b, i) => d.map(b.pa, b.size, iovaOf(i)));
}

function paOf(d: Design, iova: bigint): bigint {
  const r = d.smmu.translate({ sid: MACHINE.sid, iova, access: 'write', priv: false });
  if (r.kind !== 'ok') throw new Error(`${d.name}: DMA to IOVA 0x${iova.toString(16)}: ${r.kind}${'reason' in r ? ` (${r.reason})` : ''}`);
  return r.pa;
}

const WALK_PURPOSES = new Set(['s1-table', 's2-for-s1-table', 's2-for-output']);

interface Walk {
  /** Table reads (S1 levels and the S2 walks for them and for the output). */
  reads: number;
  s1: number;
  /** Lengths of the S2 walks, in trace order (for S1 tables, then for the output). */
  s2Walks: number[];
  accesses: number;
  config: number;
  /** S2 reads for the CD fetch (nested): configuration, not table, reads. */
  cdS2: number;
}

/** Split a cold translation's trace into its S1 reads and S2 walks. */
function walkOf(d: Design, iova: bigint): Walk {
  d.smmu.iotlb.invalidateAll();
  const r = d.smmu.translate({ sid: MACHINE.sid, iova, access: 'read', priv: false, trace: true });
  if (r.kind !== 'ok') throw new Error(`${d.name}: ${r.kind}`);
  expect(r.tlb).toBe('miss');
  const trace: TraceEntry[] = r.trace ?? [];
  const s2Walks: number[] = [];
  let s1 = 0;
  let prev: TraceEntry | undefined;
  let reads = 0;
  for (const e of trace) {
    if (WALK_PURPOSES.has(e.purpose)) reads++;
    if (e.purpose === 's1-table') s1++;
    else if (e.purpose === 's2-for-s1-table' || e.purpose === 's2-for-output') {
      // A new S2 walk starts at a different purpose or when the level does not go down (a new walk from the start level).
      const cont = prev !== undefined && prev.purpose === e.purpose && prev.stage === 2 && e.level > prev.level;
      if (cont) s2Walks[s2Walks.length - 1]++;
      else s2Walks.push(1);
    }
    prev = e;
  }
  return { reads, s1, s2Walks, accesses: r.accesses, config: trace.filter((e) => e.stage === 0).length, cdS2: trace.filter((e) => e.purpose === 's2-for-cd').length };
}

describe('designs: the same workload, the same physical addresses', () => {
  it('kernel, paravirt, nested and identity map the same buffers and DMA reaches the same PAs (buffer PA + offset)', () => {
    const expected = BUFFERS.flatMap((b) => offsets(b.size).map((o) => b.pa + o));
    const got = new Map<DesignName, bigint[]>();
    for (const name of NAMES) {
      const d = makeDesign(name);
      const iovas = mapAll(d);
      if (name === 'identity') expect(iovas).toEqual(BUFFERS.map((b) => b.pa));
      else expect(iovas).toEqual(BUFFERS.map((_b, i) => iovaOf(i)));
      got.set(
        name,
        BUFFERS.flatMap((b, i) => offsets(b.size).map((o) => paOf(d, iovas[i] + o))),
      );
    }
    for (const name of NAMES) expect(got.get(name), name).toEqual(expected);
  });
});

describe('designs: table-walk reads on a cold IOTLB', () => {
  const walks = new Map<DesignName, Walk>();
  for (const name of NAMES) {
    const d = makeDesign(name);
    const iovas = mapAll(d);
    walks.set(name, walkOf(d, iovas[2] + 0x123n));
  }
  const get = (n: DesignName): Walk => walks.get(n) as Walk;

  it('kernel and paravirt: 4 reads, all stage-1 levels', () => {
    for (const n of ['kernel', 'paravirt'] as const) {
      expect(get(n), n).toMatchObject({ reads: 4, s1: 4, s2Walks: [] });
      // translate().accesses counts the configuration fetches (STE, CD) too.
      expect(get(n).accesses - get(n).config, n).toBe(4);
    }
  });

  it('identity: one S2 walk and no S1, at most 4 levels (large blocks)', () => {
    const w = get('identity');
    expect(w.s1).toBe(0);
    expect(w.s2Walks).toHaveLength(1);
    expect(w.reads).toBe(w.s2Walks[0]);
    expect(w.reads).toBeGreaterThan(0);
    expect(w.reads).toBeLessThanOrEqual(4);
    expect(w.accesses - w.config).toBe(w.reads);
  });

  it('nested: 4 S1 levels, each and the output through an m-level S2 walk: (4 + 1)(m + 1) - 1 reads', () => {
    const w = get('nested');
    expect(w.s1).toBe(4);
    expect(w.s2Walks).toHaveLength(5); // one per S1 table + one for the output
    const m = w.s2Walks[0];
    expect(w.s2Walks.every((x) => x === m)).toBe(true);
    expect(w.reads).toBe((4 + 1) * (m + 1) - 1);
    // NestedHyp maps the first GiB of host RAM (host tables and buffers) with a 1 GiB block: a 2-level S2 walk, 14 reads.
    expect(m).toBe(2);
    expect(w.reads).toBe(14);
    // translate().accesses = configuration fetches (STE, CD, and the CD's own S2 walk) + table reads.
    expect(w.accesses - w.config - w.cdS2).toBe(w.reads);
  });

  it('nested over a stage 2 split down to 4 KiB pages: 4-level S2 walks, (4 + 1)(4 + 1) - 1 = 24 reads', () => {
    const d = makeDesign('nested');
    const iovas = mapAll(d);
    // A page donated to a guest in the 2 MiB block of the host's S1 tables and one in the buffer's block:
    // NestedHyp splits the 1 GiB block down to 4 KiB pages around them.
    for (const pa of [MACHINE.hostTables.base + 0x1f_f000n, BUFFERS[2].pa + 0x1e_0000n]) expect(d.own.hostDonateGuest(pa / K4, 1, 5).ok).toBe(true);
    const w = walkOf(d, iovas[2] + 0x123n);
    expect(w.s1).toBe(4);
    expect(w.s2Walks).toEqual([4, 4, 4, 4, 4]);
    expect(w.reads).toBe(24);
    expect(w.accesses - w.config - w.cdS2).toBe(24);
    expect(paOf(d, iovas[2] + 0x123n)).toBe(BUFFERS[2].pa + 0x123n);
  });

  it('nested > paravirt > identity', () => {
    expect(get('nested').reads).toBeGreaterThan(get('paravirt').reads);
    expect(get('paravirt').reads).toBeGreaterThan(get('identity').reads);
    expect(get('kernel').reads).toBe(get('paravirt').reads);
  });
});
