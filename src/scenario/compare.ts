/**
 * The design comparison: one workload run on each DMA-protection design in
 * turn (kernel baseline, paravirt, nested, pinned identity), reported as the
 * view model's CompareResult. A generator, so the Worker can post progress
 * and check for cancellation between chunks of requests; deterministic for a
 * given workload (its seed), whatever the chunking.
 *
 * Runs in the Worker and in Node (tests, CLI). The UI must not import this
 * module (it pulls in the emulator): it uses ./recost, ./cost-params and
 * ./compare-schema instead.
 */
import type { CostCounts, CostParams } from '../emu/hyp/cost';
import { type DesignName, DESIGNS, PROPERTIES } from '../emu/hyp/designs';
import { type WorkloadSpec, runWorkload } from '../emu/hyp/workload';
import { CompareWorkloadSchema, CostParamsSchema, formatIssues, pagesPerRequest } from './compare-schema';
import { COUNT_NAMES, resolveParams } from './cost-params';
import { type CompareDesignResultFull, type SeriesCounts, seriesFromCounts } from './recost';
import type { CompareResult, CompareWorkload } from './view';

export { CompareWorkloadSchema, CostParamsSchema, formatIssues } from './compare-schema';
export { COST_PARAM_INFO, DEFAULT_COSTS, COST_SOURCES, resolveParams } from './cost-params';
export { recost, recostDesign, costOf, type CompareDesignResultFull, type SeriesCounts } from './recost';

/** The designs compared, in display order. */
export const COMPARE_DESIGNS: readonly DesignName[] = Object.freeze(['kernel', 'paravirt', 'nested', 'identity'] as DesignName[]);

/** Most points kept in a design's `series` (including the origin). */
export const MAX_SERIES_POINTS = 200;

/**
 * Progress of a comparison. `done` / `total` count requests over the whole
 * comparison (all designs), so a progress bar only moves forward;
 * `designDone` / `designTotal` are within the design being run.
 */
export interface CompareProgress {
  design: DesignName;
  done: number;
  total: number;
  designIndex: number;
  designs: number;
  designDone: number;
  designTotal: number;
}

export interface RunCompareOptions {
  /** Designs to run (default: all four, in COMPARE_DESIGNS order). */
  designs?: readonly DesignName[];
  /** Requests per chunk (default: sized per design to roughly 4 ms of work). */
  chunk?: number;
}

/** Invalid workload or parameters: one message per problem, each prefixed with its path. */
export class CompareInputError extends Error {
  constructor(
    readonly what: 'workload' | 'params',
    readonly issues: string[],
  ) {
    super(`invalid ${what}: ${issues.join('; ')}`);
    this.name = 'CompareInputError';
  }
}

/** The emulator's workload spec for a view-model workload. */
export function toWorkloadSpec(w: CompareWorkload): WorkloadSpec {
  return { ...w, bufferSize: BigInt(w.bufferSize) };
}

// Rough emulation cost per request (µs of wall time) by design, to size chunks:
// fixed, per 4K page mapped and unmapped, per device access. Measured on the
// emulator and rounded up, so chunks err on the short side.
const EMU_COST: Record<DesignName, { base: number; page: number; access: number }> = {
  kernel: { base: 30, page: 8, access: 1 },
  paravirt: { base: 40, page: 20, access: 1 },
  nested: { base: 50, page: 10, access: 1 },
  identity: { base: 4, page: 1, access: 0.5 },
};

/** Pages the emulator writes per request: 2 MiB blocks count once where the buffer is big enough. */
function effectivePages(w: CompareWorkload): number {
  const n = pagesPerRequest(w);
  if (w.kind !== 'dynamic' || w.bufferSize < 0x20_0000) return n;
  return Math.floor(w.bufferSize / 0x20_0000) + (w.bufferSize % 0x20_0000) / 0x1000;
}

/** Requests per chunk so a chunk is about `targetMs` of emulation on this design. */
export function chunkFor(design: DesignName, w: CompareWorkload, targetMs = 4): number {
  const e = EMU_COST[design];
  const base = w.kind === 'static' ? 4 : e.base;
  const us = base + e.page * Math.max(0, effectivePages(w) - 1) + e.access * w.accessesPerRequest;
  // Also at least ~100 chunks, so the series has points to draw.
  return Math.max(1, Math.min(Math.ceil(w.requests / 100), 10_000, Math.floor((targetMs * 1000) / us)));
}

/** DMA payload bytes one request moves (as runWorkload counts them). */

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

function pushCounts(sc: SeriesCounts, c: CostCounts, index: number): void {
  for (const k of COUNT_NAMES) {
    const v = c[k];
    let col = sc[k];
    if (!col) {
      if (v === 0) continue;
      col = sc[k] = new Array<number>(index).fill(0);
    }
    col.push(v);
  }
}

function* runDesign(
  name: DesignName,
  w: CompareWorkload,
  params: CostParams,
  chunk: number,
  at: { index: number; designs: number; offset: number; total: number },
): Generator<CompareProgress, CompareDesignResultFull> {
  const progress = (designDone: number): CompareProgress => ({
    design: name,
    done: at.offset + designDone,
    total: at.total,
    designIndex: at.index,
    designs: at.designs,
    designDone,
    designTotal: w.requests,
  });
  yield progress(0);
  const g = runWorkload(name, toWorkloadSpec(w), { chunk, params });
  let step = g.next();
  const yields = Math.ceil(w.requests / chunk);
  const stride = Math.max(1, Math.ceil(yields / (MAX_SERIES_POINTS - 2)));
  const xs: number[] = [0];
  const sc: SeriesCounts = {};
  let n = 0;
  while (!step.done) {
    const { done, counts } = step.value;
    n++;
    if (done < w.requests && n % stride === 0) {
      pushCounts(sc, counts, xs.length);
      xs.push(done);
    }
    yield progress(done);
    step = g.next();
  }
  const r = step.value;
  pushCounts(sc, r.counts, xs.length);
  xs.push(r.requests);
  const series = seriesFromCounts(xs, sc, params);
  return {
    design: name,
    requests: r.requests,
    counts: { ...r.counts },
    totalUs: r.totalUs,
    perRequestUs: r.perRequestUs,
    parts: { ...r.parts },
    pinnedBytes: hex(r.pinnedBytes),
    faults: r.faults,
    properties: { ...PROPERTIES[name] },
    series,
    seriesCounts: sc,
  };
}

/**
 * Run `workload` on each design in turn. Yields progress (at least once per
 * chunk, and once as each design starts); returns the comparison, costed
 * with `params` over the defaults. Throws CompareInputError (at the first
 * `next()`) if the workload or parameters fail their schema.
 */
export function* runCompare(
  workload: CompareWorkload,
  params: Partial<CostParams> | Readonly<Record<string, number>> = {},
  opts: RunCompareOptions = {},
): Generator<CompareProgress, CompareResult> {
  const wv = CompareWorkloadSchema.safeParse(workload);
  if (!wv.success) throw new CompareInputError('workload', formatIssues(wv.error));
  const pv = CostParamsSchema.safeParse(params);
  if (!pv.success) throw new CompareInputError('params', formatIssues(pv.error));
  const w: CompareWorkload = wv.data;
  const p = resolveParams(pv.data);
  const designs = (opts.designs ?? COMPARE_DESIGNS).filter((d) => DESIGNS[d] !== undefined);
  if (opts.chunk !== undefined && !(Number.isInteger(opts.chunk) && opts.chunk >= 1)) throw new RangeError(`chunk must be a positive integer, not ${opts.chunk}`);
  const total = w.requests * designs.length;
  const out: CompareDesignResultFull[] = [];
  for (let i = 0; i < designs.length; i++) {
    const name = designs[i];
    const chunk = opts.chunk ?? chunkFor(name, w);
    out.push(yield* runDesign(name, w, p, chunk, { index: i, designs: designs.length, offset: i * w.requests, total }));
  }
  return { workload: { ...w }, params: { ...p }, designs: out };
}

/** Run a comparison to the end (no progress): tests and the CLI. */
export function runCompareToEnd(workload: CompareWorkload, params: Partial<CostParams> | Readonly<Record<string, number>> = {}, opts: RunCompareOptions = {}): CompareResult {
  const g = runCompare(workload, params, opts);
  for (;;) {
    const s = g.next();
    if (s.done) return s.value;
  }
}
