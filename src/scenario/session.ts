/**
 * A scenario being explored: the recording of its run (every step's label,
 * result and tags) and a machine that can be placed at any step. Stepping
 * forward runs the next steps; stepping back rebuilds from boot (the
 * emulation is deterministic) — all in the Worker, with the snapshots of
 * visited steps kept, so going back and forth is an index change for the page.
 */
import { u64Out } from '../cli/json';
import type { Machine, Step } from './machine';
import { type Recording, type Scenario, bootMachine, costOverrides, logMark, parseScenario, record, stepLog } from './scenario';
import { buildSnapshot, buildTree } from './snapshot';
import type { LogEntry, PtTree, Snapshot, WalkRequestView } from './view';

/** Snapshots kept (most recently used). */
const SNAPSHOT_CACHE = 96;
/** Log entries kept for the snapshot (the newest). */
export const LOG_KEEP = 500;

export class Session {
  readonly scenario: Scenario;
  /** The document as loaded (after migration): what Share and Export write. */
  readonly doc: Record<string, unknown>;
  readonly recording: Recording;
  private m: Machine;
  private at = 0;
  private logs: LogEntry[] = [];
  private readonly cache = new Map<number, Snapshot>();

  /** Throws CliInputError (with a path) for a document that is not a valid scenario. */
  constructor(doc: unknown) {
    const { scenario, raw } = parseScenario(doc);
    this.scenario = scenario;
    this.doc = raw as Record<string, unknown>;
    // Record every step on the machine the session then keeps (placed at the last step):
    // opening a scenario at its end runs it once, not twice.
    this.m = bootMachine(scenario, true);
    this.recording = record(scenario, {
      machine: this.m,
      onLog: (entries) => {
        this.logs.push(...entries);
        if (this.logs.length > LOG_KEEP * 2) this.logs = this.logs.slice(-LOG_KEEP);
      },
    }).recording;
    this.at = scenario.steps.length;
  }

  get length(): number {
    return this.scenario.steps.length;
  }

  /** Place the machine after step `i` (0 = after boot). */
  private seek(i: number): void {
    if (i < this.at) {
      this.m = bootMachine(this.scenario, true);
      this.at = 0;
      this.logs = [];
    }
    while (this.at < i) {
      const s = this.scenario.steps[this.at] as Step;
      const mark = logMark(this.m);
      const r = this.m.step(s);
      this.at++;
      this.logs.push(...stepLog(this.at, s, r, this.m, mark));
      if (this.logs.length > LOG_KEEP * 2) this.logs = this.logs.slice(-LOG_KEEP);
    }
  }

  clampStep(i: number): number {
    return Math.max(0, Math.min(this.length, Number.isFinite(i) ? Math.trunc(i) : 0));
  }

  snapshot(step: number): Snapshot {
    const i = this.clampStep(step);
    const hit = this.cache.get(i);
    if (hit) {
      this.cache.delete(i);
      this.cache.set(i, hit);
      return hit;
    }
    this.seek(i);
    const snap = buildSnapshot(this.m, {
      scenario: this.scenario,
      step: i,
      steps: this.length,
      log: this.logs.slice(-LOG_KEEP),
      costs: costOverrides(this.scenario.costs),
    });
    this.cache.set(i, snap);
    if (this.cache.size > SNAPSHOT_CACHE) this.cache.delete(this.cache.keys().next().value as number);
    return snap;
  }

  tree(step: number, tableId: string): PtTree | null {
    this.seek(this.clampStep(step));
    return buildTree(this.m, tableId, this.scenario);
  }

  /** The document with a `dma` step (traced) inserted after step `after`. */
  withDma(after: number, req: WalkRequestView): Record<string, unknown> {
    const steps = [...((this.doc.steps as unknown[]) ?? [])];
    const step: Record<string, unknown> = { do: 'dma', sid: req.sid, iova: req.iova, access: req.access, priv: req.priv };
    if (req.ssid !== undefined) step.ssid = req.ssid;
    steps.splice(this.clampStep(after), 0, step);
    return { ...this.doc, steps };
  }
}

/** The `scenario` command: run to the end; results, invariants, cost report and a summary of the final state. */
export function runScenario(doc: unknown): unknown {
  const { scenario, raw } = parseScenario(doc);
  const { recording, machine } = record(scenario);
  const snap = buildSnapshot(machine, { scenario, step: scenario.steps.length, steps: scenario.steps.length, log: [], costs: costOverrides(scenario.costs) });
  // The snapshot has just checked them: the hyp command's shape ({ok: true} without violations when they hold).
  const invariants = snap.invariants.ok ? { ok: true } : snap.invariants;
  return {
    v: (raw as { v: number }).v,
    title: scenario.title ?? '',
    results: recording.results,
    tags: recording.steps.map((s) => s.tags),
    invariants,
    cost: machine.cost(scenario.costs ?? {}),
    state: {
      mode: scenario.mode,
      smmuen: snap.strtab.smmuen,
      strtab: snap.strtab,
      streams: snap.streams.map((r) => {
        const o: Record<string, unknown> = { sid: r.sid, valid: r.valid, config: r.config };
        if (r.vmid !== undefined) o.vmid = r.vmid;
        if (r.asid !== undefined) o.asid = r.asid;
        if (r.s1ContextPtr !== undefined) o.s1_context_ptr = r.s1ContextPtr;
        if (r.s2ttb !== undefined) o.s2ttb = r.s2ttb;
        if (r.illegal) o.illegal = r.illegal;
        return o;
      }),
      tables: snap.tables.map((t) => ({ id: t.id, stage: t.stage, granule: t.granule, start_level: t.startLevel, root: t.root })),
      cmdq: { prod: snap.cmdq.prod.raw, cons: snap.cmdq.cons.raw },
      eventq: { prod: snap.eventq.prod.raw, cons: snap.eventq.cons.raw, events: machine.smmu.eventLog.map((e) => e.type) },
      gerror: u64Out(BigInt(snap.errors.gerror)),
      gerrorn: u64Out(BigInt(snap.errors.gerrorn)),
      ownership: snap.ownership,
      warnings: snap.warnings,
    },
  };
}
