import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_COMPARE_WORKLOAD, type ExplorerCommands, bindClient, explorerStore } from './explorer';
import type { CompareResult, Snapshot, StepInfo, StepTag, WalkRequestView } from '../scenario/view';

type Call = [keyof ExplorerCommands, ...unknown[]];

/** A client that records every call. */
function fakeClient(): ExplorerCommands & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    goTo: (step) => calls.push(['goTo', step]),
    translate: (req) => calls.push(['translate', req]),
    requestTree: (id) => calls.push(['requestTree', id]),
    runCompare: (w, p) => calls.push(['runCompare', w, p]),
    cancelCompare: () => calls.push(['cancelCompare']),
    restart: () => calls.push(['restart']),
    load: (doc, step) => calls.push(['load', doc, step]),
    inject: (how) => calls.push(['inject', how]),
  };
}

function info(index: number, tags: StepTag[] = []): StepInfo {
  return { index, do: 'dma', label: `step ${index}`, tags, result: { ret: 0 }, text: `Step ${index}.` };
}

/** Steps 1..6; faults at 2 and 5, a trap at 3, a hypercall at 6. */
const STEPS: StepInfo[] = [info(1, ['dma']), info(2, ['dma', 'fault']), info(3, ['trap']), info(4), info(5, ['fault', 'event']), info(6, ['hypercall'])];

const initial = explorerStore.getInitialState();
let client: ReturnType<typeof fakeClient>;
const st = () => explorerStore.getState();

beforeEach(() => {
  explorerStore.setState(initial, true);
  client = fakeClient();
  bindClient(client);
});

afterEach(() => {
  bindClient(null);
  explorerStore.setState(initial, true);
});

describe('explorer store: navigation', () => {
  beforeEach(() => explorerStore.setState({ stepInfo: STEPS }));

  it('starts at step 0, booting, with no snapshot', () => {
    expect(st().step).toBe(0);
    expect(st().status).toBe('booting');
    expect(st().snapshot).toBeNull();
    expect(st().compare).toEqual({ status: 'idle' });
    expect(st().compareWorkload).toEqual(DEFAULT_COMPARE_WORKLOAD);
  });

  it('goTo sets the step and asks the client; clamps to [0, steps]', () => {
    st().goTo(3);
    expect(st().step).toBe(3);
    st().goTo(99);
    expect(st().step).toBe(6);
    st().goTo(-5);
    expect(st().step).toBe(0);
    st().goTo(2.7);
    expect(st().step).toBe(2);
    st().goTo(Number.NaN);
    expect(st().step).toBe(0);
    st().goTo(Infinity);
    expect(st().step).toBe(0);
    expect(client.calls).toEqual([
      ['goTo', 3],
      ['goTo', 6],
      ['goTo', 0],
      ['goTo', 2],
      ['goTo', 0],
      ['goTo', 0],
    ]);
  });

  it('goTo resets the walk cursor', () => {
    st().setWalkCursor(7);
    st().goTo(4);
    expect(st().walkCursor).toBe(0);
  });

  it('goTo the step already shown (with its snapshot) does nothing; without its snapshot it asks again', () => {
    explorerStore.setState({ step: 4, snapshot: { step: 4 } as Snapshot });
    st().goTo(4);
    expect(client.calls).toEqual([]);
    explorerStore.setState({ snapshot: { step: 2 } as Snapshot });
    st().goTo(4);
    expect(client.calls).toEqual([['goTo', 4]]);
    explorerStore.setState({ snapshot: null });
    st().goTo(4);
    expect(client.calls).toEqual([
      ['goTo', 4],
      ['goTo', 4],
    ]);
  });

  it('next / prev / first / last', () => {
    st().next();
    expect(st().step).toBe(1);
    st().next();
    expect(st().step).toBe(2);
    st().prev();
    expect(st().step).toBe(1);
    st().last();
    expect(st().step).toBe(6);
    st().next(); // clamped at the end
    expect(st().step).toBe(6);
    st().first();
    expect(st().step).toBe(0);
    st().prev(); // clamped at 0
    expect(st().step).toBe(0);
    expect(client.calls.map((c) => c[1])).toEqual([1, 2, 1, 6, 6, 0, 0]);
  });

  it('with no steps everything stays at 0', () => {
    explorerStore.setState({ stepInfo: [] });
    st().next();
    st().last();
    st().goTo(3);
    expect(st().step).toBe(0);
  });

  it('runTo(tag) goes to the next step with that tag after the current one', () => {
    st().runTo('fault');
    expect(st().step).toBe(2);
    st().runTo('fault'); // not the current one again
    expect(st().step).toBe(5);
    st().runTo('fault'); // none left: no-op
    expect(st().step).toBe(5);
    st().runTo('hypercall');
    expect(st().step).toBe(6);
    expect(client.calls).toEqual([
      ['goTo', 2],
      ['goTo', 5],
      ['goTo', 6],
    ]);
  });

  it('runTo(tag) with no such tag, or from past the last one, is a no-op', () => {
    st().runTo('cerror');
    expect(st().step).toBe(0);
    explorerStore.setState({ step: 3 });
    st().runTo('trap'); // the trap is at 3 itself
    expect(st().step).toBe(3);
    st().runTo('dma'); // dma steps are 1 and 2, both behind
    expect(st().step).toBe(3);
    expect(client.calls).toEqual([]);
  });
});

describe('explorer store: step gate and read-only (lessons, embeds)', () => {
  beforeEach(() => explorerStore.setState({ stepInfo: STEPS }));

  it('a step gate limits forward moves of every kind, never backward ones', () => {
    const asked: Array<[number, number]> = [];
    st().setStepGate((from, to) => {
      asked.push([from, to]);
      return 3;
    });
    st().last();
    expect(st().step).toBe(3);
    expect(asked).toEqual([[0, 6]]);
    explorerStore.setState({ snapshot: { step: 3 } as Snapshot });
    st().next(); // held at 3: nothing to ask the client
    st().runTo('fault'); // the next fault (5) is beyond the gate
    expect(st().step).toBe(3);
    st().prev();
    st().first();
    expect(st().step).toBe(0);
    expect(client.calls).toEqual([
      ['goTo', 3],
      ['goTo', 2],
      ['goTo', 0],
    ]);
    st().setStepGate(null);
    st().last();
    expect(st().step).toBe(6);
  });

  it('read-only: translate does not reach the client', () => {
    st().setReadOnly(true);
    st().translate({ sid: 1, iova: '0x0', access: 'read', priv: true });
    expect(client.calls).toEqual([]);
    st().setReadOnly(false);
    st().translate({ sid: 1, iova: '0x0', access: 'read', priv: true });
    expect(client.calls).toHaveLength(1);
  });
});

describe('explorer store: actions that talk to the client', () => {
  it('selectTable requests the tree and clears the old one; null just deselects', () => {
    explorerStore.setState({ tree: { leaves: 1 } as never, selectedTable: 'old' });
    st().selectTable('s1:0x40005000');
    expect(st().selectedTable).toBe('s1:0x40005000');
    expect(st().tree).toBeNull();
    expect(client.calls).toEqual([['requestTree', 's1:0x40005000']]);
    st().selectTable(null);
    expect(st().selectedTable).toBeNull();
    expect(client.calls).toHaveLength(1);
  });

  it('runCompare sets status running and sends the workload and params', () => {
    const w = { ...DEFAULT_COMPARE_WORKLOAD, requests: 500, pattern: 'random' as const };
    st().setCompareWorkload(w);
    st().setCompareParam('hypercallUs', 2);
    st().setCompareParam('mmioTrapUs', 0.5);
    st().setCompareParam('hypercallUs', 3);
    st().runCompare();
    expect(st().compare.status).toBe('running');
    expect(st().compare.progress).toBeUndefined();
    expect(client.calls).toEqual([['runCompare', w, { hypercallUs: 3, mmioTrapUs: 0.5 }]]);
  });

  it('runCompare keeps the previous result while running', () => {
    const result = { workload: DEFAULT_COMPARE_WORKLOAD, params: {}, designs: [] } as CompareResult;
    explorerStore.setState({ compare: { status: 'done', result, progress: { design: 'nested', done: 5, total: 5 } } });
    st().runCompare();
    expect(st().compare).toEqual({ status: 'running', progress: undefined, result });
  });

  it('loadScenario passes the document and step, and resets the view', () => {
    const doc = { v: 1, machine: {}, mode: 'bare', steps: [] };
    explorerStore.setState({ step: 5, walkCursor: 3, selectedTable: 's1:0x1000', tree: { leaves: 1 } as never });
    st().loadScenario(doc, 2);
    expect(st().scenario).toBe(doc);
    expect(st().step).toBe(2);
    expect(st().walkCursor).toBe(0);
    expect(st().selectedTable).toBeNull();
    expect(st().tree).toBeNull();
    st().loadScenario(doc);
    expect(st().step).toBe(0);
    expect(client.calls).toEqual([
      ['load', doc, 2],
      ['load', doc, 0],
    ]);
  });

  it('translate, cancelCompare, restartWorker, injectFault go to the client', () => {
    const req: WalkRequestView = { sid: 1, iova: '0x1000', access: 'read', priv: true };
    st().translate(req);
    st().cancelCompare();
    st().restartWorker();
    st().injectFault('hang');
    expect(client.calls).toEqual([['translate', req], ['cancelCompare'], ['restart'], ['inject', 'hang']]);
  });

  it('plain setters', () => {
    st().selectStream(3, 1);
    expect([st().selectedSid, st().selectedSsid]).toEqual([3, 1]);
    st().selectStream(4);
    expect([st().selectedSid, st().selectedSsid]).toEqual([4, null]);
    st().setLoadError('bad link');
    expect(st().loadError).toBe('bad link');
    st().setPanel('queues');
    expect(st().panel).toBe('queues');
    st().setPresentation(true);
    st().setHelpOpen(true);
    expect([st().presentation, st().helpOpen]).toEqual([true, true]);
    expect(client.calls).toEqual([]);
  });

  it('without a client the actions still update the state and do not throw', () => {
    bindClient(null);
    explorerStore.setState({ stepInfo: STEPS });
    expect(() => {
      st().goTo(3);
      st().selectTable('x');
      st().runCompare();
      st().loadScenario({}, 1);
      st().translate({ sid: 0, iova: '0x0', access: 'read', priv: false });
      st().cancelCompare();
      st().restartWorker();
      st().injectFault('throw');
    }).not.toThrow();
    expect(st().step).toBe(1);
    expect(st().compare.status).toBe('running');
    expect(client.calls).toEqual([]);
  });
});
