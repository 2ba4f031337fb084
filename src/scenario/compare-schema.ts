/**
 * Schemas for the design comparison's inputs (a workload and cost-parameter
 * overrides), with size caps so a tampered link or a typo cannot make the
 * Worker run for hours or fail half-way. Imports only zod, so the UI may use
 * it for inline validation.
 */
import { z } from 'zod';
import type { CompareWorkload } from './view';

export const MAX_REQUESTS = 2_000_000;
export const MAX_BUFFERS = 65_536;
export const MAX_BUFFER_SIZE = 64 * 1024 * 1024;
export const MAX_ACCESSES_PER_REQUEST = 1024;
export const MAX_BATCH = 4096;
export const MAX_SG_PAGES = 512;
/** requests × 4K pages mapped per request (dynamic, sg): about a few minutes per design at worst. */
export const MAX_PAGE_OPS = 1 << 24;
/** requests × device accesses per request. */
export const MAX_ACCESSES = 1 << 26;

/**
 * Room for DMA buffers on the emulated machine (src/emu/hyp/designs.ts
 * MACHINE): from `bufferBase` (0x5000_0000) up to the hyp pool (0xb000_0000).
 * Slot i starts at bufferBase + 2·i·span (see runWorkload); a buffer past
 * the end would fault or be refused by the hyp's ownership check.
 */
export const BUFFER_REGION_BYTES = 0xb000_0000 - 0x5000_0000;

/** Bytes of the buffer region a workload's slots reach (mirrors runWorkload's layout). */
export function bufferFootprint(w: Pick<CompareWorkload, 'kind' | 'buffers' | 'bufferSize' | 'sgPages'>): number {
  const span = w.kind === 'sg' ? w.sgPages * 0x2000 : Math.max(w.bufferSize, 0x1000);
  const last = w.kind === 'sg' ? (w.sgPages - 1) * 0x2000 + 0x1000 : w.bufferSize;
  return (w.buffers - 1) * span * 2 + last;
}

/** 4K pages one request maps and unmaps (0 for static: it maps once, up front). */
export function pagesPerRequest(w: Pick<CompareWorkload, 'kind' | 'bufferSize' | 'sgPages'>): number {
  if (w.kind === 'static') return 0;
  if (w.kind === 'sg') return w.sgPages;
  return Math.ceil(w.bufferSize / 4096);
}

const int = (min: number, max: number) => z.int().min(min).max(max);

export const CompareWorkloadSchema = z
  .strictObject({
    kind: z.enum(['static', 'dynamic', 'sg']),
    buffers: int(1, MAX_BUFFERS),
    bufferSize: int(4096, MAX_BUFFER_SIZE).multipleOf(4096, { error: 'bufferSize must be a multiple of 4096 (4 KiB pages)' }),
    requests: int(1, MAX_REQUESTS),
    accessesPerRequest: int(0, MAX_ACCESSES_PER_REQUEST),
    accessSize: int(1, MAX_BUFFER_SIZE),
    pattern: z.enum(['sequential', 'random']),
    batch: int(1, MAX_BATCH),
    sgPages: int(1, MAX_SG_PAGES),
    seed: int(0, 0xffff_ffff),
  })
  .superRefine((w, ctx) => {
    if (w.kind !== 'sg' && w.accessSize > w.bufferSize) {
      ctx.addIssue({ code: 'custom', path: ['accessSize'], message: `accessSize (${w.accessSize}) must not exceed bufferSize (${w.bufferSize})` });
    }
    const fp = bufferFootprint(w);
    if (fp > BUFFER_REGION_BYTES) {
      ctx.addIssue({
        code: 'custom',
        path: ['buffers'],
        message: `the buffers need ${fp} bytes of RAM but the machine has ${BUFFER_REGION_BYTES} for DMA buffers: use fewer or smaller buffers`,
      });
    }
    if (w.requests * Math.max(1, pagesPerRequest(w)) > MAX_PAGE_OPS) {
      ctx.addIssue({ code: 'custom', path: ['requests'], message: `requests × pages mapped per request must be at most ${MAX_PAGE_OPS}` });
    }
    if (w.requests * w.accessesPerRequest > MAX_ACCESSES) {
      ctx.addIssue({ code: 'custom', path: ['requests'], message: `requests × accesses per request must be at most ${MAX_ACCESSES}` });
    }
  });

const COST_KEYS = [
  'hypercallUs',
  'mmioTrapUs',
  'cmdEmulateUs',
  'dmaCallUs',
  'pteUs',
  'commandUs',
  'syncWaitUs',
  'hypPinPerPageUs',
  'hypUnpinPerPageUs',
  'hypUnmapFixedUs',
  'walkReadUs',
  'iotlbHitUs',
  'dmaByteUs',
] as const;

const cost = z.number().min(0).max(1e9);

/** Overrides of any of the cost parameters: finite numbers ≥ 0 (µs); unknown names are rejected. */
export const CostParamsSchema = z.strictObject(Object.fromEntries(COST_KEYS.map((k) => [k, cost.optional()])) as Record<(typeof COST_KEYS)[number], z.ZodOptional<typeof cost>>);

export const COST_PARAM_KEYS: readonly (typeof COST_KEYS)[number][] = COST_KEYS;

/** One line per problem, each starting with the field's path (for messages). */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`);
}
