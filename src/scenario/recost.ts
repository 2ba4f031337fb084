/**
 * Re-costing a comparison for new cost parameters without re-running it:
 * the counts do not depend on the parameters, only the modelled time does.
 * Pure arithmetic on counts (imports only the cost model), shared by the
 * Worker (src/scenario/compare.ts) and the UI, so editing a parameter
 * redraws the charts at once.
 */
import { type CostCounts, type CostParams, modelledTime, zeroCounts } from '../emu/hyp/cost';
import { COUNT_NAMES, resolveParams } from './cost-params';
import type { CompareDesignResult, CompareResult } from './view';

/**
 * The cumulative counts behind each point of `series`, by count name (one
 * number per series point). Only counts that are ever non-zero are kept.
 */
export type SeriesCounts = Partial<Record<keyof CostCounts, number[]>>;

/** A design's result as runCompare builds it: the view model plus what re-costing the series needs. */
export interface CompareDesignResultFull extends CompareDesignResult {
  seriesCounts?: SeriesCounts;
}

/** Counts from the view model's plain record (missing names are 0). */
export function toCostCounts(c: Readonly<Record<string, number>>): CostCounts {
  const out = zeroCounts();
  for (const k of COUNT_NAMES) {
    const v = c[k];
    if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  }
  return out;
}

/** Modelled time of some counts under (partial) parameters, defaults for the rest. */
export function costOf(counts: Readonly<Record<string, number>>, params: Partial<CostParams> | Readonly<Record<string, number>> = {}): { totalUs: number; parts: Record<string, number> } {
  return modelledTime(toCostCounts(counts), resolveParams(params));
}

/** The counts at series point i. */
function countsAt(sc: SeriesCounts, i: number): CostCounts {
  const c = zeroCounts();
  for (const k of COUNT_NAMES) {
    const col = sc[k];
    if (col) c[k] = col[i] ?? 0;
  }
  return c;
}

/** Series points' modelled time from their counts. */
export function seriesFromCounts(requests: ReadonlyArray<number>, sc: SeriesCounts, p: CostParams): Array<[number, number]> {
  return requests.map((r, i) => [r, modelledTime(countsAt(sc, i), p).totalUs]);
}

/** One design's result re-costed. */
export function recostDesign<T extends CompareDesignResult>(d: T, params: Partial<CostParams> | Readonly<Record<string, number>>): T {
  const p = resolveParams(params);
  const t = modelledTime(toCostCounts(d.counts), p);
  const sc = (d as CompareDesignResultFull).seriesCounts;
  let series: Array<[number, number]>;
  if (sc && d.series.length > 0 && Object.values(sc).every((col) => col.length === d.series.length)) {
    series = seriesFromCounts(
      d.series.map(([r]) => r),
      sc,
      p,
    );
  } else {
    // No counts per point (a result from elsewhere): scale the curve.
    const k = d.totalUs > 0 ? t.totalUs / d.totalUs : 0;
    series = d.series.map(([r, us]) => [r, us * k]);
  }
  return { ...d, totalUs: t.totalUs, parts: t.parts, perRequestUs: d.requests > 0 ? t.totalUs / d.requests : 0, series };
}

/**
 * The comparison re-costed for `params` (overrides of the defaults, as the
 * store keeps them). Counts, pinned bytes, faults and properties are
 * unchanged; totals, parts, per-request time and series follow the
 * parameters, and `params` becomes the full parameter set used.
 */
export function recost(result: CompareResult, params: Partial<CostParams> | Readonly<Record<string, number>>): CompareResult {
  const p = resolveParams(params);
  return {
    ...result,
    params: { ...p },
    designs: result.designs.map((d) => recostDesign(d, p)),
  };
}
