/// <reference lib="webworker" />
/**
 * The Worker that owns the emulator. It holds one Session (a scenario and a
 * machine placed at the requested step) and answers the page's requests
 * (src/worker/protocol.ts). Long jobs (the cost comparison) run in slices
 * between which messages — a cancel — are handled.
 */
import { CliInputError } from '../cli/json';
import { runCompare } from '../scenario/compare';
import { DEFAULT_SCENARIO } from '../scenario/library/default';
import { Session } from '../scenario/session';
import type { StepInfo } from '../scenario/view';
import { type LoadedInfo, PROTOCOL_VERSION, type Request, type Response, pack } from './protocol';

declare const self: DedicatedWorkerGlobalScope;

let session: Session | null = null;
const cancelled = new Set<number>();

function post(msg: Response, transfer: Transferable[] = []): void {
  self.postMessage(msg, transfer);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Load a scenario. A document that is refused (invalid, or a bug while
 * running it) falls back to the default scenario with the reason — unless
 * `keepOnError` (an edit of the current scenario, such as an added DMA): then
 * the current scenario stays and the page gets an error.
 */
function load(id: number, doc: unknown, step: number, keepOnError = false): void {
  let error: LoadedInfo['error'] = null;
  let next: Session;
  try {
    next = new Session(doc);
  } catch (e) {
    const why = e instanceof CliInputError ? { message: e.message, path: e.path } : { message: `the emulator failed while running it: ${errorText(e)}`, path: '' };
    if (keepOnError && session) {
      post({ v: PROTOCOL_VERSION, id, type: 'error', message: `${why.message}${why.path ? ` (at ${why.path})` : ''}` });
      return;
    }
    error = why;
    next = new Session(DEFAULT_SCENARIO);
    step = 0;
  }
  session = next;
  const s = session;
  const steps: StepInfo[] = s.recording.steps;
  const info: LoadedInfo = { doc: s.doc, title: s.scenario.title ?? 'Untitled scenario', description: s.scenario.description ?? '', steps, error };
  const snap = pack(s.snapshot(s.clampStep(step)));
  post({ v: PROTOCOL_VERSION, id, type: 'loaded', info, snapshot: snap }, [snap]);
}

function compare(id: number, req: Extract<Request, { type: 'compare' }>): void {
  const gen = runCompare(req.workload, req.params);
  const slice = () => {
    if (cancelled.delete(id)) {
      post({ v: PROTOCOL_VERSION, id, type: 'cancelled' });
      return;
    }
    try {
      const t0 = performance.now();
      for (;;) {
        const r = gen.next();
        if (r.done) {
          post({ v: PROTOCOL_VERSION, id, type: 'compared', result: r.value });
          return;
        }
        if (performance.now() - t0 > 100) {
          post({ v: PROTOCOL_VERSION, id, type: 'progress', design: r.value.design, done: r.value.done, total: r.value.total });
          break;
        }
      }
    } catch (e) {
      post({ v: PROTOCOL_VERSION, id, type: 'error', message: errorText(e) });
      return;
    }
    setTimeout(slice, 0);
  };
  slice();
}

function handle(req: Request): void {
  switch (req.type) {
    case 'load':
      load(req.id, req.doc, req.step);
      return;
    case 'goto': {
      if (!session) throw new Error('no scenario loaded');
      const snap = pack(session.snapshot(req.step));
      post({ v: PROTOCOL_VERSION, id: req.id, type: 'snapshot', snapshot: snap }, [snap]);
      return;
    }
    case 'translate': {
      if (!session) throw new Error('no scenario loaded');
      const doc = session.withDma(req.after, req.req);
      load(req.id, doc, session.clampStep(req.after) + 1, true);
      return;
    }
    case 'tree': {
      if (!session) throw new Error('no scenario loaded');
      const tree = pack(session.tree(req.step, req.tableId));
      post({ v: PROTOCOL_VERSION, id: req.id, type: 'tree', tree }, [tree]);
      return;
    }
    case 'compare':
      compare(req.id, req);
      return;
    case 'cancel':
      cancelled.add(req.target);
      return;
    case 'ping':
      post({ v: PROTOCOL_VERSION, id: req.id, type: 'pong' });
      return;
    case 'fault':
      if (req.how === 'hang') {
        const end = Date.now() + 60_000;
        while (Date.now() < end) {
          /* stuck on purpose: the page's watchdog must notice */
        }
        return;
      }
      // An uncaught error, as a bug in the emulator would raise.
      setTimeout(() => {
        throw new Error('simulated emulator crash (fault injection)');
      }, 0);
      return;
  }
}

self.onmessage = (ev: MessageEvent<Request>) => {
  const req = ev.data;
  if (!req || typeof req !== 'object' || req.v !== PROTOCOL_VERSION) {
    post({ v: PROTOCOL_VERSION, id: (req as { id?: number })?.id ?? -1, type: 'error', message: `protocol mismatch: expected v${PROTOCOL_VERSION}` });
    return;
  }
  try {
    handle(req);
  } catch (e) {
    post({ v: PROTOCOL_VERSION, id: req.id, type: 'error', message: errorText(e) });
  }
};

post({ v: PROTOCOL_VERSION, type: 'ready' });
