/**
 * Build the view model (src/scenario/view.ts) of a machine at one step: what
 * the panels draw. Reads memory and registers without side effects (no
 * counters, caches or queues change), so building a snapshot never alters
 * the run being explored.
 */
import { u64Out } from '../cli/json';
import { REGISTERS } from '../emu/smmu/registers';
import type { Machine } from './machine';
import type { Scenario } from './scenario';
import type { LogEntry, PtTableRef, PtTree, RegValue, Snapshot, StreamRow } from './view';
import { ownershipView } from './views/ownership';
import { ptTree } from './views/pttree';
import { errorView, queueView } from './views/queues';
import { shadowPairs, streamRows, strtabView, tableRefsFromStreams } from './views/streams';
import { walkView } from './views/walk';

export interface SnapshotContext {
  scenario: Scenario;
  step: number;
  steps: number;
  log: LogEntry[];
  costs: Record<string, number>;
}

function regValues(m: Machine): RegValue[] {
  const out: RegValue[] = [];
  for (const r of REGISTERS) {
    let v: bigint;
    try {
      v = m.smmu.readReg(r.offset); // register reads have no side effects in the model
    } catch {
      continue;
    }
    out.push({ name: r.name, offset: r.offset, value: u64Out(v) });
  }
  return out;
}

function devices(s: Scenario): Map<number, string> {
  const d = new Map<number, string>();
  for (const x of s.machine.devices ?? []) d.set(x.sid, x.name ?? `device ${x.sid}`);
  return d;
}

/** Most stream rows in a snapshot. */
export const MAX_STREAM_ROWS = 512;

/** Stream rows worth a line: declared devices, and every STE that is not Linux's plain abort STE (an initialised table is full of those). */
function rows(m: Machine, s: Scenario): StreamRow[] {
  const sids = (s.machine.devices ?? []).map((d) => d.sid);
  return streamRows(m.smmu, m.mem, { devices: devices(s), sids, max: MAX_STREAM_ROWS, skipPlainAbort: true });
}

/** The page tables the STEs and CDs reach; a table is the hypervisor's when its root page is not the host's to access (paravirt domains, the hyp's S2). */
function tableRefs(m: Machine, streams: StreamRow[]): PtTableRef[] {
  return tableRefsFromStreams(streams, m.smmu).map((t) => ({ ...t, owner: m.own.hostCanAccess(Number(BigInt(t.root) >> 12n)) ? ('host' as const) : ('hyp' as const) }));
}

export function buildSnapshot(m: Machine, ctx: SnapshotContext): Snapshot {
  const streams = rows(m, ctx.scenario);
  const tables = tableRefs(m, streams);
  const warnings: Snapshot['warnings'] = [];
  for (const r of streams) {
    for (const w of r.ste.warnings) warnings.push({ where: `STE ${r.sid}`, text: w });
    for (const c of r.cds) for (const w of c.cd.warnings) warnings.push({ where: `CD ${r.sid}/${c.ssid}`, text: w });
  }
  const inv = m.check();
  const cost = m.cost(ctx.costs);
  return {
    step: ctx.step,
    steps: ctx.steps,
    mode: ctx.scenario.mode,
    title: ctx.scenario.title ?? '',
    regs: regValues(m),
    strtab: strtabView(m.smmu),
    streams,
    tables,
    cmdq: queueView(m.smmu, m.mem, 'cmdq'),
    eventq: queueView(m.smmu, m.mem, 'eventq'),
    errors: errorView(m.smmu),
    ownership: ownershipView(m.own),
    log: ctx.log,
    shadow: m.hyp.nested ? shadowPairs(m.hyp.nested) : [],
    walk: m.lastDma ? walkView(m.lastDma.req, m.lastDma.result, m.smmu) : null,
    cost: { counts: { ...cost.counts }, modelled_us: cost.modelled_us, parts: cost.parts, pinned_bytes: cost.pinned_bytes },
    invariants: { ok: inv.ok, violations: inv.violations ?? [] },
    warnings,
  };
}

/** The page table `tableId` (an id from the snapshot's `tables`) read from memory, or null when it is not there at this step. */
export function buildTree(m: Machine, tableId: string, scenario?: Scenario): PtTree | null {
  const streams = scenario ? rows(m, scenario) : streamRows(m.smmu, m.mem);
  const ref = tableRefs(m, streams).find((t) => t.id === tableId);
  return ref ? { ...ptTree(m.mem, ref, 20000, false, false), lpa: false } : null;
}
