/**
 * The cost model's parameters as plain data for the UI: name, default, unit,
 * where the default comes from and what it means. Imports only the cost
 * model (src/emu/hyp/cost.ts, pure arithmetic with no imports of its own),
 * so the UI can use it without pulling the emulator into the main bundle.
 */
import { COST_SOURCES, type CostCounts, type CostParams, DEFAULT_COSTS, zeroCounts } from '../emu/hyp/cost';

export type { CostCounts, CostParams };
export { COST_SOURCES, DEFAULT_COSTS };

export type CostParamName = keyof CostParams;
export type CostSource = 'fitted' | 'assumption';

export interface CostParamInfo {
  name: CostParamName;
  /** Short label for a form field. */
  label: string;
  default: number;
  unit: string;
  /** `fitted` to the Morello measurement, or a model `assumption`. */
  source: CostSource;
  description: string;
}

const DESCRIPTIONS: Record<CostParamName, [label: string, unit: string, description: string]> = {
  hypercallUs: ['Hypercall round trip', 'µs', 'Host → hyp → host round trip of one hypercall (fitted: paravirt 4K map − kernel 4K map).'],
  mmioTrapUs: ['MMIO trap', 'µs', 'One trapped SMMU register access emulated by the hyp (assumption: about a hypercall).'],
  cmdEmulateUs: ['Command emulation', 'µs', 'Emulating one command copied from the host’s queue (assumption).'],
  dmaCallUs: ['DMA API call', 'µs', 'Software cost of one map/unmap call in the kernel’s DMA API and io-pgtable (fitted).'],
  pteUs: ['PTE write', 'µs', 'Writing or clearing one page-table entry (fitted from the 1M map).'],
  commandUs: ['Command (TLBI, CFGI…)', 'µs', 'Producing one command into the queue and the SMMU consuming it (fitted from the 1M unmap).'],
  syncWaitUs: ['CMD_SYNC wait', 'µs', 'Waiting for a CMD_SYNC to complete (fitted: 4K unmap − 4K map − one TLBI).'],
  hypPinPerPageUs: ['Hyp pin per page', 'µs', 'Hyp ownership check and DMA refcount per page on map (fitted).'],
  hypUnpinPerPageUs: ['Hyp unpin per page', 'µs', 'Hyp refcount drop per page on unmap (fitted).'],
  hypUnmapFixedUs: ['Hyp unmap fixed cost', 'µs', 'Fixed hyp work per unmap hypercall: locking, gather, completion poll (fitted).'],
  walkReadUs: ['Table-walk read', 'µs', 'One table-walk memory read by the SMMU (assumption: a DRAM access).'],
  iotlbHitUs: ['IOTLB hit', 'µs', 'One IOTLB hit (assumption).'],
  dmaByteUs: ['DMA payload per byte', 'µs/byte', 'Transferring one byte of DMA payload (assumption: about 10 GB/s), charged alike to every design.'],
};

/** Every cost parameter, in the cost model's order. */
export const COST_PARAM_NAMES: readonly CostParamName[] = Object.freeze(Object.keys(DEFAULT_COSTS) as CostParamName[]);

export const COST_PARAM_INFO: readonly CostParamInfo[] = Object.freeze(
  COST_PARAM_NAMES.map((name) => {
    const [label, unit, description] = DESCRIPTIONS[name];
    return Object.freeze({ name, label, default: DEFAULT_COSTS[name], unit, source: COST_SOURCES[name], description });
  }),
);

/** The counts the cost model uses, in its order. */
export const COUNT_NAMES: readonly (keyof CostCounts)[] = Object.freeze(Object.keys(zeroCounts()) as (keyof CostCounts)[]);

/**
 * Full parameters: the defaults with `overrides` on top. Unknown names and
 * values that are not finite numbers ≥ 0 are ignored (the default stays).
 */
export function resolveParams(overrides: Readonly<Record<string, number>> | Partial<CostParams> = {}): CostParams {
  const out: CostParams = { ...DEFAULT_COSTS };
  const o = overrides as Record<string, unknown>;
  for (const k of COST_PARAM_NAMES) {
    const v = o[k];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) out[k] = v;
  }
  return out;
}
