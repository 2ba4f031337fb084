import { afterEach, describe, expect, it } from 'vitest';
import type { Lesson } from '../lessons/types';
import type { StepInfo } from '../scenario/view';
import { bindClient, explorerStore } from './explorer';
import { PROGRESS_KEY, checkGoal, compareAt, firstUnanswered, lessonGate, lessonStore, loadProgress, panelAt, sanitizeProgress, saveProgress } from './lesson';
import { parseRoute, lessonSearch, embedSearch } from '../ui/route';

const q = { prompt: 'Which?', choices: ['a', 'b', 'c'], answer: 1, explain: 'Because b.' };
const LESSON: Lesson = {
  id: 'demo',
  title: 'Demo',
  summary: 'A demo.',
  panel: 'walk',
  scenario: { v: 1, title: 'Demo', description: 'A demo.', steps: [{}, {}, {}, {}, {}] },
  steps: { 2: { question: q, panel: 'queues' }, 4: { question: q, compare: { kind: 'static' } as never } },
};

function info(n: number): StepInfo[] {
  return Array.from({ length: n }, (_, i) => ({ index: i + 1, do: 'dma', label: '', tags: i === 2 ? ['fault'] : [], result: { ok: i, deep: { a: 1, b: [1, 2] } }, text: '' }));
}

class MemStorage {
  map = new Map<string, string>();
  full = false;
  getItem(k: string) {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    if (this.full) throw new DOMException('full', 'QuotaExceededError');
    this.map.set(k, v);
  }
  removeItem(k: string) {
    this.map.delete(k);
  }
}

afterEach(() => {
  bindClient(null);
  explorerStore.setState(explorerStore.getInitialState(), true);
  lessonStore.setState({ lesson: null, progress: {}, blocked: null, status: 'none' });
});

describe('stored progress', () => {
  it('keeps only the well-formed part', () => {
    expect(sanitizeProgress(null)).toEqual({});
    expect(sanitizeProgress({ v: 2, lessons: { demo: { furthest: 1, steps: 2 } } })).toEqual({});
    const p = sanitizeProgress({
      v: 1,
      lessons: {
        demo: { furthest: 3, steps: 5, questions: 2, answers: { 2: { choice: 1, right: true }, x: { choice: 0, right: true }, 4: { choice: -1, right: false } } },
        '../evil': { furthest: 1, steps: 1 },
        bad: { furthest: 'x', steps: 1 },
      },
    });
    expect(p).toEqual({ demo: { furthest: 3, steps: 5, questions: 2, answers: { 2: { choice: 1, right: true } } } });
  });

  it('survives broken, oversized and refused storage', () => {
    const s = new MemStorage();
    s.map.set(PROGRESS_KEY, '{not json');
    expect(loadProgress(s)).toEqual({});
    s.map.set(PROGRESS_KEY, ' '.repeat(300_000));
    expect(loadProgress(s)).toEqual({});
    const prog = { demo: { furthest: 1, steps: 5, questions: 2, answers: {} } };
    expect(saveProgress(prog, s)).toBeNull();
    expect(loadProgress(s)).toEqual(prog);
    s.full = true;
    expect(saveProgress(prog, s)).toMatch(/full/);
    expect(saveProgress(prog, null)).toMatch(/this visit only/);
  });
});

describe('lesson arithmetic', () => {
  it('finds the first unanswered question and the panel / workload in force', () => {
    expect(firstUnanswered(LESSON, undefined, 0, 5)).toBe(2);
    expect(firstUnanswered(LESSON, { furthest: 2, steps: 5, questions: 2, answers: { 2: { choice: 0, right: false } } }, 0, 5)).toBe(4);
    expect(firstUnanswered(LESSON, undefined, 2, 3)).toBeNull();
    expect(panelAt(LESSON, 1)).toBe('walk');
    expect(panelAt(LESSON, 3)).toBe('queues');
    expect(compareAt(LESSON, 3)).toBeUndefined();
    expect(compareAt(LESSON, 5)).toEqual({ kind: 'static' });
  });

  it('checks goals against the step result (partial), its tags and the walk', () => {
    const steps = info(5);
    expect(checkGoal({ result: { deep: { a: 1 } } }, 1, steps, null)).toBe('met');
    expect(checkGoal({ result: { deep: { b: [1] } } }, 1, steps, null)).toBe('unmet');
    expect(checkGoal({ tag: 'fault' }, 3, steps, null)).toBe('met');
    expect(checkGoal({ notTag: 'fault' }, 3, steps, null)).toBe('unmet');
    expect(checkGoal({ tableReads: 4 }, 2, steps, null)).toBe('pending');
    expect(checkGoal({ tableReads: 4 }, 2, steps, { step: 2, walk: { tableReads: 4 } } as never)).toBe('met');
    expect(checkGoal({ tag: 'dma' }, 1, [], null)).toBe('pending');
  });
});

describe('the question gate', () => {
  it('stops every forward move before an unanswered question', () => {
    const calls: number[] = [];
    // The fake Worker answers each move at once (as the real one does, a little later).
    const goTo = (i: number) => {
      calls.push(i);
      explorerStore.setState({ snapshot: { step: i } as never });
    };
    bindClient({ goTo, translate() {}, requestTree() {}, runCompare() {}, cancelCompare() {}, restart() {}, load() {}, inject() {} });
    lessonStore.setState({ lesson: LESSON, progress: {}, status: 'ready' });
    explorerStore.setState({ stepInfo: info(5), scenarioTitle: 'Demo', step: 0, snapshot: { step: 0 } as never, stepGate: lessonGate });
    const s = () => explorerStore.getState();
    s().last();
    expect(s().step).toBe(1);
    expect(lessonStore.getState().blocked?.step).toBe(2);
    s().next();
    s().runTo('fault');
    s().goTo(3);
    expect(s().step).toBe(1);
    lessonStore.getState().answer(2, 0);
    expect(lessonStore.getState().blocked).toBeNull();
    s().last();
    expect(s().step).toBe(3);
    s().prev();
    expect(s().step).toBe(2);
    expect(calls).toEqual([1, 3, 2]);
    // Off the lesson's scenario (a step was added): no gate.
    explorerStore.setState({ stepInfo: info(6) });
    s().last();
    expect(s().step).toBe(6);
  });
});

describe('routes', () => {
  it('parses and writes lesson, index and embed addresses', () => {
    expect(parseRoute('?lessons')).toEqual({ view: 'lessons', lesson: null, step: null, embed: null });
    expect(parseRoute('?lesson=two-stages&step=3')).toEqual({ view: 'explorer', lesson: 'two-stages', step: 3, embed: null });
    expect(parseRoute('?lesson=x&step=-1').step).toBeNull();
    expect(parseRoute('?lesson=x&step=1e3').step).toBeNull();
    expect(parseRoute('?embed&panel=costs&static').embed).toEqual({ panel: 'costs', static: true });
    expect(parseRoute('?embed&panel=nope').embed).toEqual({ panel: 'walk', static: false });
    expect(parseRoute('').view).toBe('explorer');
    expect(lessonSearch('sva', 0)).toBe('?lesson=sva');
    expect(lessonSearch('sva', 4)).toBe('?lesson=sva&step=4');
    expect(embedSearch('hyp', { lesson: 'sva', step: 2, static: true })).toBe('?embed&panel=hyp&lesson=sva&step=2&static');
    expect(parseRoute(embedSearch('hyp', { lesson: 'sva', step: 2 }))).toEqual({ view: 'explorer', lesson: 'sva', step: 2, embed: { panel: 'hyp', static: false } });
  });
});
