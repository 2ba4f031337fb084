/**
 * The cost model: counts of what the emulation did, turned into modelled
 * time by parameters the user can change.
 *
 * Every count comes from the running model (hypercalls made, MMIO traps
 * taken, commands the SMMU consumed, CMD_SYNCs, table-walk reads, IOTLB hits
 * and misses, PTEs written). Only the per-event times are parameters.
 *
 * Defaults: the one published measurement is pKVM RFC v2 on Arm Morello
 * (dma_map_benchmark, one thread, µs per map / unmap): 4K: kernel driver
 * 0.1 / 0.7, pKVM paravirt 0.3 / 1.3; 1M: 0.8 / 21.5 vs 2.6 / 27.3. The
 * parameters marked "fitted" were chosen so the model reproduces those eight
 * figures (see calibrate()); every other default is an assumption, and the UI
 * says so.
 */

export interface CostParams {
  /** Host → hyp → host round trip of one hypercall (fitted: paravirt 4K map − kernel 4K map). */
  hypercallUs: number;
  /** One trapped MMIO access, emulated by the hyp (assumption: about a hypercall). */
  mmioTrapUs: number;
  /** Emulating one command copied from the host's queue (assumption). */
  cmdEmulateUs: number;
  /** Software cost of one map/unmap call in the kernel's DMA API and io-pgtable (fitted). */
  dmaCallUs: number;
  /** Writing or clearing one PTE (fitted from the 1M map). */
  pteUs: number;
  /** Producing one command into the queue and the SMMU consuming it (fitted from the 1M unmap: one TLBI per page, no RIL on Morello). */
  commandUs: number;
  /** Waiting for a CMD_SYNC to complete (fitted: 4K unmap − 4K map − one TLBI). */
  syncWaitUs: number;
  /** Hyp ownership check + DMA refcount per page on map (fitted). */
  hypPinPerPageUs: number;
  /** Hyp refcount drop per page on unmap (fitted). */
  hypUnpinPerPageUs: number;
  /** Fixed hyp work per unmap hypercall: locking, gather, completion poll (fitted). */
  hypUnmapFixedUs: number;
  /** One table-walk memory read by the SMMU (assumption: a DRAM access). */
  walkReadUs: number;
  /** One IOTLB hit (assumption). */
  iotlbHitUs: number;
  /** Transferring one byte of DMA payload (assumption: ~10 GB/s), charged alike to every design. */
  dmaByteUs: number;
}

export const DEFAULT_COSTS: Readonly<CostParams> = Object.freeze({
  hypercallUs: 0.2,
  mmioTrapUs: 0.25,
  cmdEmulateUs: 0.05,
  dmaCallUs: 0.09,
  pteUs: 0.0028,
  commandUs: 0.08,
  syncWaitUs: 0.5,
  hypPinPerPageUs: 0.0063,
  hypUnpinPerPageUs: 0.022,
  hypUnmapFixedUs: 0.37,
  walkReadUs: 0.1,
  iotlbHitUs: 0.002,
  dmaByteUs: 0.0001,
});

/** Which parameters come from the Morello measurement and which are assumptions. */
export const COST_SOURCES: Readonly<Record<keyof CostParams, 'fitted' | 'assumption'>> = Object.freeze({
  hypercallUs: 'fitted',
  mmioTrapUs: 'assumption',
  cmdEmulateUs: 'assumption',
  dmaCallUs: 'fitted',
  pteUs: 'fitted',
  commandUs: 'fitted',
  syncWaitUs: 'fitted',
  hypPinPerPageUs: 'fitted',
  hypUnpinPerPageUs: 'fitted',
  hypUnmapFixedUs: 'fitted',
  walkReadUs: 'assumption',
  iotlbHitUs: 'assumption',
  dmaByteUs: 'assumption',
});

/** What happened, counted by the emulation. */
export interface CostCounts {
  dmaCalls: number;
  ptes: number;
  hypercalls: number;
  mmioTraps: number;
  commandsEmulated: number;
  commands: number;
  syncs: number;
  hypPinnedPages: number;
  hypUnpinnedPages: number;
  hypUnmapCalls: number;
  walkReads: number;
  iotlbHits: number;
  iotlbMisses: number;
  dmaBytes: number;
}

export function zeroCounts(): CostCounts {
  return {
    dmaCalls: 0,
    ptes: 0,
    hypercalls: 0,
    mmioTraps: 0,
    commandsEmulated: 0,
    commands: 0,
    syncs: 0,
    hypPinnedPages: 0,
    hypUnpinnedPages: 0,
    hypUnmapCalls: 0,
    walkReads: 0,
    iotlbHits: 0,
    iotlbMisses: 0,
    dmaBytes: 0,
  };
}

export function addCounts(a: CostCounts, b: CostCounts): CostCounts {
  const out = zeroCounts();
  for (const k of Object.keys(out) as (keyof CostCounts)[]) out[k] = a[k] + b[k];
  return out;
}

export function subCounts(a: CostCounts, b: CostCounts): CostCounts {
  const out = zeroCounts();
  for (const k of Object.keys(out) as (keyof CostCounts)[]) out[k] = a[k] - b[k];
  return out;
}

/** Modelled time in µs, and its breakdown. */
export function modelledTime(c: CostCounts, p: CostParams = DEFAULT_COSTS): { totalUs: number; parts: Record<string, number> } {
  const parts: Record<string, number> = {
    'DMA API calls': c.dmaCalls * p.dmaCallUs,
    'PTE writes': c.ptes * p.pteUs,
    hypercalls: c.hypercalls * p.hypercallUs,
    'MMIO traps': c.mmioTraps * p.mmioTrapUs,
    'command emulation': c.commandsEmulated * p.cmdEmulateUs,
    'commands (TLBI, CFGI, ...)': c.commands * p.commandUs,
    'CMD_SYNC waits': c.syncs * p.syncWaitUs,
    'hyp pin (ownership checks)': c.hypPinnedPages * p.hypPinPerPageUs,
    'hyp unpin': c.hypUnpinnedPages * p.hypUnpinPerPageUs + c.hypUnmapCalls * p.hypUnmapFixedUs,
    'table-walk reads': c.walkReads * p.walkReadUs,
    'IOTLB hits': c.iotlbHits * p.iotlbHitUs,
    'DMA payload': c.dmaBytes * p.dmaByteUs,
  };
  let totalUs = 0;
  for (const v of Object.values(parts)) totalUs += v;
  return { totalUs, parts };
}

/** The Morello figures (µs), for calibration checks and the UI. */
export const MORELLO = Object.freeze({
  kernel: { map4k: 0.1, unmap4k: 0.7, map1m: 0.8, unmap1m: 21.5 },
  paravirt: { map4k: 0.3, unmap4k: 1.3, map1m: 2.6, unmap1m: 27.3 },
});

/**
 * The counts of one dma_map / dma_unmap of `pages` 4K pages on Morello's
 * SMMU (no range invalidation: one TLBI per page, then one CMD_SYNC), for
 * the unprotected kernel driver and for paravirt, as the emulation produces
 * them. Used to check the defaults against MORELLO.
 */
export function morelloCounts(design: 'kernel' | 'paravirt', op: 'map' | 'unmap', pages: number): CostCounts {
  const c = zeroCounts();
  c.dmaCalls = 1;
  c.ptes = pages;
  if (op === 'unmap') {
    c.commands = pages;
    c.syncs = 1;
  }
  if (design === 'paravirt') {
    c.hypercalls = 1;
    if (op === 'map') c.hypPinnedPages = pages;
    else {
      c.hypUnpinnedPages = pages;
      c.hypUnmapCalls = 1;
    }
  }
  return c;
}

/** Modelled vs measured for the eight Morello figures. */
export function calibrate(p: CostParams = DEFAULT_COSTS): Array<{ design: string; op: string; measuredUs: number; modelledUs: number; error: number }> {
  const out: Array<{ design: string; op: string; measuredUs: number; modelledUs: number; error: number }> = [];
  for (const design of ['kernel', 'paravirt'] as const) {
    for (const [op, pages, key] of [
      ['map', 1, 'map4k'],
      ['unmap', 1, 'unmap4k'],
      ['map', 256, 'map1m'],
      ['unmap', 256, 'unmap1m'],
    ] as const) {
      const modelled = modelledTime(morelloCounts(design, op, pages), p).totalUs;
      const measured = MORELLO[design][key];
      out.push({ design, op: `${op} ${pages === 1 ? '4K' : '1M'}`, measuredUs: measured, modelledUs: modelled, error: (modelled - measured) / measured });
    }
  }
  return out;
}
