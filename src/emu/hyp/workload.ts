/**
 * DMA workloads, run on any design in chunks (so the Worker can report
 * progress and cancel between chunks), and the per-design cost report.
 *
 * - static: map every buffer once, then the device DMAs over them for ever;
 * - dynamic: map → DMA → unmap per buffer, like a network RX ring;
 * - sg: scatter-gather: one map of several discontiguous pages per request;
 * with or without batching (unmaps deferred and flushed together) and with
 * sequential or random DMA access inside each buffer (so IOTLB behaviour
 * matters).
 */

import { TN_ABORT, TN_FAULT } from '../smmu/smmu';
import { type CostCounts, type CostParams, DEFAULT_COSTS, modelledTime, subCounts } from './cost';
import { type Design, type DesignName, type DesignOptions, MACHINE, PROPERTIES, makeDesign } from './designs';

export type WorkloadKind = 'static' | 'dynamic' | 'sg';

export interface WorkloadSpec {
  kind: WorkloadKind;
  /** Buffers (ring slots) in use. */
  buffers: number;
  /** Bytes per buffer (a multiple of 4 KiB). */
  bufferSize: bigint;
  /** DMA requests to run (each one buffer's worth of accesses). */
  requests: number;
  /** Device accesses per request, each `accessSize` bytes. */
  accessesPerRequest: number;
  accessSize: number;
  pattern: 'sequential' | 'random';
  /** Unmaps deferred and flushed this many at a time (1 = no batching). */
  batch: number;
  /** Pages per scatter-gather request (sg only). */
  sgPages: number;
  /** PRNG seed (deterministic runs). */
  seed: number;
}

export const DEFAULT_WORKLOAD: Readonly<WorkloadSpec> = Object.freeze({
  kind: 'dynamic',
  buffers: 256,
  bufferSize: 4096n,
  requests: 10_000,
  accessesPerRequest: 1,
  accessSize: 1500,
  pattern: 'sequential',
  batch: 1,
  sgPages: 4,
  seed: 1,
});

export interface WorkloadReport {
  design: DesignName;
  requests: number;
  counts: CostCounts;
  totalUs: number;
  /** Modelled µs per DMA request (buffer). */
  perRequestUs: number;
  parts: Record<string, number>;
  pinnedBytes: bigint;
  faults: number;
  properties: (typeof PROPERTIES)[DesignName];
}

export interface Progress {
  done: number;
  total: number;
  /** Counts since the workload started (for cost-over-time curves); dmaBytes included. */
  counts: CostCounts;
}

function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

/**
 * Run a workload on a design. A generator: it yields progress after each
 * chunk of requests and returns the report; the caller may stop early.
 */
export function* runWorkload(
  name: DesignName,
  spec: WorkloadSpec = DEFAULT_WORKLOAD,
  opts: DesignOptions & { chunk?: number; params?: CostParams } = {},
): Generator<Progress, WorkloadReport> {
  const d: Design = makeDesign(name, opts);
  const params = opts.params ?? DEFAULT_COSTS;
  const chunk = opts.chunk ?? 1000;
  const rnd = prng(spec.seed);
  const size = spec.bufferSize;
  // Slots are spaced so a buffer (or an sg request's pages) never overlaps the next slot.
  const span = spec.kind === 'sg' ? BigInt(spec.sgPages) * 0x2000n : size > 0x1000n ? size : 0x1000n;
  const bufPa = (i: number) => MACHINE.bufferBase + BigInt(i) * span * 2n;
  const iovaOf = (i: number) => 0x1_0000_0000n + BigInt(i) * span * 2n;
  const start = d.counts();
  let faults = 0;
  let dmaBytes = 0;
  const access = (iova: bigint, write: boolean) => {
    const r = d.dma(iova, write);
    if (r === TN_FAULT || r === TN_ABORT) faults++;
  };
  const dmaBuffer = (iova: bigint) => {
    for (let a = 0; a < spec.accessesPerRequest; a++) {
      const span = Number(size) - spec.accessSize;
      const off = spec.pattern === 'random' ? Math.floor(rnd() * Math.max(1, span)) & ~63 : (a * spec.accessSize) % Math.max(1, Number(size));
      access(iova + BigInt(off), true);
      dmaBytes += spec.accessSize;
    }
  };
  const since = (): CostCounts => {
    const c = subCounts(d.counts(), start);
    c.dmaBytes = dmaBytes;
    return c;
  };
  const mapped: Array<bigint | null> = new Array<bigint | null>(spec.buffers).fill(null);
  if (spec.kind === 'static') {
    for (let i = 0; i < spec.buffers; i++) mapped[i] = d.map(bufPa(i), size, iovaOf(i));
  }
  let pending: Array<[bigint, bigint]> = [];
  const pendingSlots = new Set<number>();
  const flush = () => {
    if (pending.length > 0) d.unmapBatch(pending);
    pending = [];
    pendingSlots.clear();
  };
  for (let r = 0; r < spec.requests; r++) {
    const slot = spec.pattern === 'random' ? Math.floor(rnd() * spec.buffers) : r % spec.buffers;
    // A slot whose unmap is still deferred cannot be mapped again before the batch is flushed.
    if (pendingSlots.has(slot)) flush();
    if (spec.kind === 'static') {
      dmaBuffer(mapped[slot] as bigint);
    } else if (spec.kind === 'dynamic') {
      const iova = d.map(bufPa(slot), size, iovaOf(slot));
      dmaBuffer(iova);
      pending.push([iova, size]);
      pendingSlots.add(slot);
      if (pending.length >= spec.batch) flush();
    } else {
      // Scatter-gather: sgPages discontiguous pages mapped at consecutive IOVAs.
      const base = iovaOf(slot);
      const iovas: bigint[] = [];
      for (let p = 0; p < spec.sgPages; p++) iovas.push(d.map(bufPa(slot) + BigInt(p) * 0x2000n, 0x1000n, base + BigInt(p) * 0x1000n));
      for (const iova of iovas) access(iova, true);
      dmaBytes += spec.sgPages * 4096;
      for (const iova of iovas) pending.push([iova, 0x1000n]);
      pendingSlots.add(slot);
      if (pending.length >= spec.batch * spec.sgPages) flush();
    }
    if ((r + 1) % chunk === 0 && r + 1 < spec.requests) yield { done: r + 1, total: spec.requests, counts: since() };
  }
  flush();
  const counts = since();
  yield { done: spec.requests, total: spec.requests, counts };
  const t = modelledTime(counts, params);
  return {
    design: name,
    requests: spec.requests,
    counts,
    totalUs: t.totalUs,
    perRequestUs: spec.requests > 0 ? t.totalUs / spec.requests : 0,
    parts: t.parts,
    pinnedBytes: d.pinnedBytes(),
    faults,
    properties: PROPERTIES[name],
  };
}

/** Run a workload to the end (no progress). */
export function runToEnd(name: DesignName, spec: WorkloadSpec = DEFAULT_WORKLOAD, opts: DesignOptions & { params?: CostParams } = {}): WorkloadReport {
  const g = runWorkload(name, spec, opts);
  for (;;) {
    const s = g.next();
    if (s.done) return s.value;
  }
}
