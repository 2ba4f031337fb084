/**
 * The page's side of the Worker protocol: starts the Worker, sends the
 * store's commands, puts answers into the store, and watches for a crash (an
 * uncaught error in the Worker) or a hang (a request unanswered for too
 * long). The scenario document and step live in the store, so a restarted
 * Worker is simply given them again: nothing the user did is lost.
 */
import { type ExplorerCommands, explorerStore } from '../state/explorer';
import type { CompareWorkload, PtTree, Snapshot, WalkRequestView } from '../scenario/view';
import { PROTOCOL_VERSION, type Request, type Response, unpack } from './protocol';

/**
 * The Worker answers requests in order. It is stuck when it has sent nothing
 * for this long while a request is waiting (time queued behind other work
 * does not count: the clock restarts at each message it sends). Loading a
 * scenario runs every step once, so a load gets longer.
 */
const HANG_MS = 10_000;
const LOAD_HANG_MS = 60_000;

type Pending = { type: Request['type']; sent: number };

export class WorkerClient implements ExplorerCommands {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private compareId = 0;
  /** The latest navigation request: older snapshots arriving later are dropped. */
  private latestGoto = 0;
  private latestTree = 0;
  /** When the Worker last sent anything. */
  private lastHeard = 0;
  /** Navigation: one `goto` in flight at a time; a newer target waits here (older ones are dropped). */
  private gotoInFlight = false;
  private queuedGoto: number | null = null;

  constructor(private readonly factory: () => Worker) {}

  start(doc: unknown, step: number): void {
    this.stop();
    const w = this.factory();
    this.worker = w;
    w.onmessage = (ev: MessageEvent<Response>) => this.receive(ev.data);
    w.onerror = (ev: ErrorEvent) => {
      ev.preventDefault();
      this.crashed(`The emulator stopped with an error: ${ev.message || 'unknown error'}.`);
    };
    w.onmessageerror = () => this.crashed('The emulator sent a message the page could not read.');
    const cmp = explorerStore.getState().compare;
    // A comparison running in the old Worker is gone with it.
    explorerStore.setState({ status: 'booting', workerError: null, compare: cmp.status === 'running' ? { ...cmp, status: 'cancelled', progress: undefined } : cmp });
    this.gotoInFlight = false;
    this.queuedGoto = null;
    this.lastHeard = Date.now();
    this.watchdog = setInterval(() => this.checkHang(), 1000);
    this.send({ v: 1, id: this.id(), type: 'load', doc, step });
  }

  stop(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    this.worker?.terminate();
    this.worker = null;
    this.pending.clear();
  }

  private id(): number {
    return this.nextId++;
  }

  private send(req: Request): void {
    if (!this.worker) return;
    if (this.pending.size === 0) this.lastHeard = Date.now();
    if (req.type !== 'cancel') this.pending.set(req.id, { type: req.type, sent: Date.now() });
    if (req.type !== 'compare' && req.type !== 'cancel') explorerStore.setState({ status: explorerStore.getState().status === 'crashed' ? 'crashed' : 'busy' });
    this.worker.postMessage(req);
  }

  private checkHang(): void {
    const waiting = [...this.pending.values()].filter((p) => p.type !== 'compare');
    if (waiting.length === 0) return;
    const limit = waiting.some((p) => p.type === 'load' || p.type === 'translate') ? LOAD_HANG_MS : HANG_MS;
    const silent = Date.now() - this.lastHeard;
    if (silent > limit) this.crashed(`The emulator has not answered for ${Math.round(silent / 1000)} s (stuck on "${waiting[0].type}").`);
  }

  private crashed(message: string): void {
    this.stop();
    const s = explorerStore.getState();
    explorerStore.setState({ status: 'crashed', workerError: message, compare: s.compare.status === 'running' ? { ...s.compare, status: 'error', error: 'The emulator stopped.' } : s.compare });
  }

  private settle(id: number): void {
    this.pending.delete(id);
    const busy = [...this.pending.values()].some((p) => p.type !== 'compare');
    if (explorerStore.getState().status !== 'crashed') explorerStore.setState({ status: busy ? 'busy' : 'ready' });
  }

  private receive(msg: Response): void {
    this.lastHeard = Date.now();
    if (!msg || msg.v !== PROTOCOL_VERSION) {
      this.crashed('The emulator speaks a different protocol version; reload the page.');
      return;
    }
    switch (msg.type) {
      case 'ready':
        return;
      case 'loaded': {
        this.settle(msg.id);
        const snap = unpack<Snapshot>(msg.snapshot);
        const info = msg.info;
        const prev = explorerStore.getState();
        explorerStore.setState({
          scenario: info.doc,
          scenarioTitle: info.title,
          scenarioDescription: info.description,
          stepInfo: info.steps,
          step: snap.step,
          snapshot: snap,
          walkCursor: 0,
          loadError: info.error ? `${info.error.message}${info.error.path ? ` (at ${info.error.path})` : ''}` : prev.loadError,
          tree: null,
        });
        const sel = prev.selectedTable;
        if (sel && snap.tables.some((t) => t.id === sel)) this.requestTree(sel);
        return;
      }
      case 'snapshot': {
        this.settle(msg.id);
        this.gotoDone();
        if (msg.id < this.latestGoto) return;
        const snap = unpack<Snapshot>(msg.snapshot);
        const prevStep = explorerStore.getState().snapshot?.step;
        explorerStore.setState(prevStep === snap.step ? { snapshot: snap, step: snap.step } : { snapshot: snap, step: snap.step, walkCursor: 0 });
        const sel = explorerStore.getState().selectedTable;
        if (sel && snap.tables.some((t) => t.id === sel)) this.requestTree(sel);
        return;
      }
      case 'tree': {
        this.settle(msg.id);
        if (msg.id < this.latestTree) return;
        explorerStore.setState({ tree: unpack<PtTree | null>(msg.tree) });
        return;
      }
      case 'progress':
        this.pending.set(msg.id, { type: 'compare', sent: Date.now() });
        explorerStore.setState({ compare: { ...explorerStore.getState().compare, status: 'running', progress: { design: msg.design, done: msg.done, total: msg.total } } });
        return;
      case 'compared':
        this.settle(msg.id);
        explorerStore.setState({ compare: { status: 'done', result: msg.result } });
        return;
      case 'cancelled':
        this.settle(msg.id);
        explorerStore.setState({ compare: { ...explorerStore.getState().compare, status: 'cancelled', progress: undefined } });
        return;
      case 'pong':
        this.settle(msg.id);
        return;
      case 'error': {
        const type = this.pending.get(msg.id)?.type;
        this.settle(msg.id);
        const s = explorerStore.getState();
        if (this.compareId === msg.id) explorerStore.setState({ compare: { ...s.compare, status: 'error', error: msg.message } });
        else explorerStore.setState({ workerError: `The emulator reported an error: ${msg.message}` });
        // A failed navigation leaves the page on the step it shows.
        if (type === 'goto' || type === 'translate') explorerStore.setState({ step: s.snapshot?.step ?? 0 });
        if (type === 'goto') this.gotoDone();
        return;
      }
    }
  }

  // ExplorerCommands

  goTo(step: number): void {
    // Holding a key must not queue hundreds of requests: one in flight, the newest target next.
    if (this.gotoInFlight) {
      this.queuedGoto = step;
      return;
    }
    const id = this.id();
    this.latestGoto = id;
    this.gotoInFlight = true;
    this.send({ v: 1, id, type: 'goto', step });
  }

  private gotoDone(): void {
    this.gotoInFlight = false;
    const next = this.queuedGoto;
    this.queuedGoto = null;
    if (next !== null) this.goTo(next);
  }

  translate(req: WalkRequestView): void {
    const id = this.id();
    this.latestGoto = id;
    this.send({ v: 1, id, type: 'translate', after: explorerStore.getState().step, req });
  }

  requestTree(tableId: string): void {
    const id = this.id();
    this.latestTree = id;
    this.send({ v: 1, id, type: 'tree', step: explorerStore.getState().step, tableId });
  }

  runCompare(workload: CompareWorkload, params: Record<string, number>): void {
    const id = this.id();
    this.compareId = id;
    this.send({ v: 1, id, type: 'compare', workload, params });
  }

  cancelCompare(): void {
    if (this.compareId) this.send({ v: 1, id: this.id(), type: 'cancel', target: this.compareId });
  }

  load(doc: unknown, step: number): void {
    if (!this.worker) {
      this.start(doc, step);
      return;
    }
    this.send({ v: 1, id: this.id(), type: 'load', doc, step });
  }

  restart(): void {
    const s = explorerStore.getState();
    this.start(s.scenario, s.step);
  }

  /** Fault injection (the e2e test and the help overlay's "simulate a crash"). */
  inject(how: 'throw' | 'hang'): void {
    this.send({ v: 1, id: this.id(), type: 'fault', how });
  }
}
