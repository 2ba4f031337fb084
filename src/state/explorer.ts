/**
 * The explorer's store: UI state and the snapshot the Worker sent for the
 * current step. A vanilla Zustand store (usable from plain TS and tests) with
 * a React hook on top. Views read through selectors and call the actions;
 * the actions talk to the Worker through the client set with `bindClient`.
 */
import { createStore } from 'zustand/vanilla';
import { useStore } from 'zustand';
import type { CompareResult, CompareWorkload, PtTree, Snapshot, StepInfo, StepTag, WalkRequestView } from '../scenario/view';

export type WorkerStatus = 'booting' | 'ready' | 'busy' | 'crashed';

export interface CompareState {
  status: 'idle' | 'running' | 'done' | 'cancelled' | 'error';
  progress?: { design: string; done: number; total: number };
  result?: CompareResult;
  error?: string;
}

/** What the store needs from the Worker (implemented in src/worker/client.ts; a fake in tests). */
export interface ExplorerCommands {
  goTo(step: number): void;
  translate(req: WalkRequestView): void;
  requestTree(tableId: string): void;
  runCompare(workload: CompareWorkload, params: Record<string, number>): void;
  cancelCompare(): void;
  restart(): void;
  /** Load a scenario document (validated by the Worker) at a step. */
  load(doc: unknown, step: number): void;
  /** Fault injection: make the Worker crash or hang (to show recovery). */
  inject(how: 'throw' | 'hang'): void;
}

export interface ExplorerState {
  status: WorkerStatus;
  /** Why the Worker stopped (crash, hang), shown with a Restart button. */
  workerError: string | null;
  /** A message about the scenario the page tried to load (broken link, bad file); the default scenario is then shown. */
  loadError: string | null;
  /** The scenario document (JSON) being explored. */
  scenario: unknown;
  scenarioTitle: string;
  scenarioDescription: string;
  /** One entry per step (index 1..n). */
  stepInfo: StepInfo[];
  /** The step shown (0 = after boot). */
  step: number;
  snapshot: Snapshot | null;
  selectedSid: number | null;
  selectedSsid: number | null;
  selectedTable: string | null;
  tree: PtTree | null;
  /** Which access of the walk is highlighted (1-based), 0 = all played. */
  walkCursor: number;
  compare: CompareState;
  compareWorkload: CompareWorkload;
  compareParams: Record<string, number>;
  presentation: boolean;
  helpOpen: boolean;
  /** The panel shown in the main area. */
  panel: PanelId;
  /** Embed mode: the scenario cannot be changed (Translate does nothing). */
  readOnly: boolean;
  /**
   * Limits a forward move (a lesson's unanswered question): given the step
   * shown and the step asked for, returns the furthest step allowed. Every
   * way of moving (buttons, keys, slider, go-to, run-to) goes through goTo.
   */
  stepGate: ((from: number, to: number) => number) | null;

  // Actions
  goTo(step: number): void;
  next(): void;
  prev(): void;
  first(): void;
  last(): void;
  /** Go to the next step after the current one with this tag (no-op when there is none). */
  runTo(tag: StepTag): void;
  translate(req: WalkRequestView): void;
  selectStream(sid: number | null, ssid?: number | null): void;
  selectTable(id: string | null): void;
  setWalkCursor(n: number): void;
  setCompareWorkload(w: CompareWorkload): void;
  setCompareParam(name: string, value: number): void;
  runCompare(): void;
  cancelCompare(): void;
  restartWorker(): void;
  loadScenario(doc: unknown, step?: number): void;
  injectFault(how: 'throw' | 'hang'): void;
  setLoadError(message: string | null): void;
  setPresentation(on: boolean): void;
  setHelpOpen(open: boolean): void;
  setPanel(panel: PanelId): void;
  setReadOnly(on: boolean): void;
  setStepGate(gate: ((from: number, to: number) => number) | null): void;
}

export const PANELS = ['walk', 'streams', 'tables', 'queues', 'hyp', 'costs'] as const;
export type PanelId = (typeof PANELS)[number];
export const PANEL_LABEL: Readonly<Record<PanelId, string>> = {
  walk: 'Translation walk',
  streams: 'Stream table',
  tables: 'Page tables',
  queues: 'Queues',
  hyp: 'Hypervisor',
  costs: 'Costs',
};

export const DEFAULT_COMPARE_WORKLOAD: CompareWorkload = {
  kind: 'dynamic',
  buffers: 256,
  bufferSize: 4096,
  requests: 10_000,
  accessesPerRequest: 1,
  accessSize: 1500,
  pattern: 'sequential',
  batch: 1,
  sgPages: 4,
  seed: 1,
};

let client: ExplorerCommands | null = null;

/** Connect the store to the Worker client (or a fake). */
export function bindClient(c: ExplorerCommands | null): void {
  client = c;
}

function clamp(i: number, n: number): number {
  if (!Number.isFinite(i)) return 0;
  return Math.max(0, Math.min(n, Math.trunc(i)));
}

export const explorerStore = createStore<ExplorerState>()((set, get) => ({
  status: 'booting',
  workerError: null,
  loadError: null,
  scenario: null,
  scenarioTitle: '',
  scenarioDescription: '',
  stepInfo: [],
  step: 0,
  snapshot: null,
  selectedSid: null,
  selectedSsid: null,
  selectedTable: null,
  tree: null,
  walkCursor: 0,
  compare: { status: 'idle' },
  compareWorkload: DEFAULT_COMPARE_WORKLOAD,
  compareParams: {},
  presentation: false,
  helpOpen: false,
  panel: 'walk',
  readOnly: false,
  stepGate: null,

  goTo: (step) => {
    const s = get();
    let i = clamp(step, s.stepInfo.length);
    if (s.stepGate && i > s.step) i = Math.max(s.step, Math.min(i, clamp(s.stepGate(s.step, i), s.stepInfo.length)));
    if (i === s.step && s.snapshot?.step === i) return;
    set({ step: i, walkCursor: 0 });
    client?.goTo(i);
  },
  next: () => get().goTo(get().step + 1),
  prev: () => get().goTo(get().step - 1),
  first: () => get().goTo(0),
  last: () => get().goTo(get().stepInfo.length),
  runTo: (tag) => {
    const s = get();
    const hit = s.stepInfo.find((x) => x.index > s.step && x.tags.includes(tag));
    if (hit) s.goTo(hit.index);
  },
  translate: (req) => {
    if (!get().readOnly) client?.translate(req);
  },
  selectStream: (sid, ssid = null) => set({ selectedSid: sid, selectedSsid: ssid }),
  selectTable: (id) => {
    set({ selectedTable: id, tree: null });
    if (id !== null) client?.requestTree(id);
  },
  setWalkCursor: (n) => set({ walkCursor: n }),
  setCompareWorkload: (w) => set({ compareWorkload: w }),
  setCompareParam: (name, value) => set({ compareParams: { ...get().compareParams, [name]: value } }),
  runCompare: () => {
    const s = get();
    set({ compare: { status: 'running', progress: undefined, result: s.compare.result } });
    client?.runCompare(s.compareWorkload, s.compareParams);
  },
  cancelCompare: () => client?.cancelCompare(),
  restartWorker: () => client?.restart(),
  loadScenario: (doc, step = 0) => {
    // The old timeline goes with the old scenario (a lesson's question gate must not judge the new one by it).
    set({ scenario: doc, step, stepInfo: [], walkCursor: 0, selectedTable: null, tree: null });
    client?.load(doc, step);
  },
  injectFault: (how) => client?.inject(how),
  setLoadError: (message) => set({ loadError: message }),
  setPresentation: (on) => set({ presentation: on }),
  setHelpOpen: (open) => set({ helpOpen: open }),
  setPanel: (panel) => set({ panel }),
  setReadOnly: (on) => set({ readOnly: on }),
  setStepGate: (gate) => set({ stepGate: gate }),
}));

/** React hook over the vanilla store. */
export function useExplorer<T>(selector: (s: ExplorerState) => T): T {
  return useStore(explorerStore, selector);
}
