/**
 * The lesson being played and the learner's progress.
 *
 * Progress (the furthest step reached and the answer given to each question,
 * per lesson) is kept in this browser's localStorage under a versioned key,
 * never sent anywhere. Reading it is guarded: storage that is disabled, a
 * value that is not JSON, of another version, too large or of the wrong shape
 * yields no progress (or only its valid part) rather than an error; a failed
 * write (quota, private mode) keeps the progress for this visit and says so.
 *
 * The question gate: a lesson step with a `question` cannot be reached from
 * the step before it until the question is answered. `lessonGate` is
 * installed as the explorer store's `stepGate`, which every forward move
 * (buttons, keys, slider, go-to box, run-to) passes through.
 */
import { createStore } from 'zustand/vanilla';
import { useStore } from 'zustand';
import { goalFailure } from '../lessons/goal';
import type { GoalCheck, Lesson } from '../lessons/types';
import type { CompareWorkload, Snapshot, StepInfo } from '../scenario/view';
import { explorerStore, type ExplorerState, type PanelId } from './explorer';

export const PROGRESS_VERSION = 1;
export const PROGRESS_KEY = `smmu-explorer.lesson-progress.v${PROGRESS_VERSION}`;
/** Stored text longer than this is ignored (a real value is a few KB). */
const MAX_STORED = 256 * 1024;
const MAX_LESSONS = 200;
const MAX_ANSWERS = 500;
const MAX_STEP = 1_000_000;
const ID = /^[a-z0-9][a-z0-9-]{0,63}$/;

export interface Answer {
  /** The choice picked (index into the question's choices). */
  choice: number;
  right: boolean;
}

export interface LessonProgress {
  /** The furthest step reached. */
  furthest: number;
  /** The lesson's number of steps and of questions when last opened (for the index). */
  steps: number;
  questions: number;
  /** Answers by step (the step the question stands before). */
  answers: Record<number, Answer>;
}

export type ProgressMap = Record<string, LessonProgress>;

interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Keep only the well-formed part of a stored value (anything else is dropped, never trusted). */
export function sanitizeProgress(data: unknown): ProgressMap {
  const out: ProgressMap = {};
  if (!isRecord(data) || data.v !== PROGRESS_VERSION || !isRecord(data.lessons)) return out;
  let n = 0;
  for (const [id, p] of Object.entries(data.lessons)) {
    if (n >= MAX_LESSONS) break;
    // An entry without a sound step count is dropped whole; a bad answer is dropped alone.
    if (!ID.test(id) || !isRecord(p) || !isInt(p.furthest, 0, MAX_STEP) || !isInt(p.steps, 0, MAX_STEP)) continue;
    const answers: Record<number, Answer> = {};
    if (isRecord(p.answers)) {
      let k = 0;
      for (const [step, a] of Object.entries(p.answers)) {
        if (k >= MAX_ANSWERS) break;
        const i = Number(step);
        if (!/^\d+$/.test(step) || !isInt(i, 1, MAX_STEP) || !isRecord(a) || !isInt(a.choice, 0, 255) || typeof a.right !== 'boolean') continue;
        answers[i] = { choice: a.choice, right: a.right };
        k++;
      }
    }
    out[id] = {
      furthest: p.furthest,
      steps: p.steps,
      questions: isInt(p.questions, 0, MAX_STEP) ? p.questions : 0,
      answers,
    };
    n++;
  }
  return out;
}

function storage(): StorageLike | null {
  try {
    return typeof window === 'undefined' ? null : window.localStorage;
  } catch {
    return null; // storage disabled (a SecurityError on access)
  }
}

export function loadProgress(store: StorageLike | null = storage()): ProgressMap {
  if (!store) return {};
  try {
    const text = store.getItem(PROGRESS_KEY);
    if (!text || text.length > MAX_STORED) return {};
    return sanitizeProgress(JSON.parse(text));
  } catch {
    return {};
  }
}

/** Write the progress; returns an error message when the browser refused. */
export function saveProgress(progress: ProgressMap, store: StorageLike | null = storage()): string | null {
  if (!store) return 'This browser does not allow the page to store anything: your progress is kept for this visit only.';
  try {
    if (Object.keys(progress).length === 0) store.removeItem(PROGRESS_KEY);
    else store.setItem(PROGRESS_KEY, JSON.stringify({ v: PROGRESS_VERSION, lessons: progress }));
    return null;
  } catch (e) {
    const quota = e instanceof DOMException && (e.name === 'QuotaExceededError' || e.name === 'NS_ERROR_DOM_QUOTA_REACHED');
    return quota
      ? 'The browser’s storage for this site is full: your progress is kept for this visit only.'
      : 'Your progress could not be saved in this browser: it is kept for this visit only.';
  }
}

// ---------------------------------------------------------------------------
// Lesson arithmetic (pure)

export function lessonLength(lesson: Lesson): number {
  return Array.isArray(lesson.scenario.steps) ? lesson.scenario.steps.length : 0;
}

/** The steps that have a question, ascending. */
export function questionSteps(lesson: Lesson): number[] {
  return Object.entries(lesson.steps)
    .filter(([, s]) => s?.question && s.question.choices.length > 0)
    .map(([k]) => Number(k))
    .filter((i) => Number.isInteger(i) && i >= 1)
    .sort((a, b) => a - b);
}

/** The answer recorded for the question before `step`, when it is a valid one. */
export function answerFor(lesson: Lesson, progress: LessonProgress | undefined, step: number): Answer | undefined {
  const q = lesson.steps[step]?.question;
  const a = progress?.answers[step];
  return q && a && a.choice < q.choices.length ? { choice: a.choice, right: a.choice === q.answer } : undefined;
}

/** The first step in (from, to] whose question is unanswered, or null. */
export function firstUnanswered(lesson: Lesson, progress: LessonProgress | undefined, from: number, to: number): number | null {
  for (const i of questionSteps(lesson)) if (i > from && i <= to && !answerFor(lesson, progress, i)) return i;
  return null;
}

/** The panel a lesson shows at `step` when opened there: the last one a step up to it names, else the lesson's. */
export function panelAt(lesson: Lesson, step: number): PanelId {
  let p = lesson.panel;
  for (let i = 1; i <= step; i++) p = lesson.steps[i]?.panel ?? p;
  return p;
}

/** The cost workload preset in force at `step` (the last one a step up to it sets), if any. */
export function compareAt(lesson: Lesson, step: number): CompareWorkload | undefined {
  let w: CompareWorkload | undefined;
  for (let i = 1; i <= step; i++) w = lesson.steps[i]?.compare ?? w;
  return w;
}

export type GoalState = 'met' | 'unmet' | 'pending';

/** Check a goal at `step` (src/lessons/goal.ts) against the recording and, for table reads, the snapshot of that step. */
export function checkGoal(check: GoalCheck, step: number, info: StepInfo[], snapshot: Snapshot | null): GoalState {
  if (info.length === 0) return 'pending';
  if (check.tableReads !== undefined && snapshot?.step !== step) return 'pending';
  return goalFailure(check, step > 0 ? info[step - 1] : undefined, snapshot?.walk?.tableReads) === '' ? 'met' : 'unmet';
}

/** For the index: "5 / 9 steps, 2 / 3 questions". */
export function progressSummary(p: LessonProgress | undefined): { started: boolean; furthest: number; steps: number; answered: number; right: number; questions: number } {
  if (!p) return { started: false, furthest: 0, steps: 0, answered: 0, right: 0, questions: 0 };
  const answers = Object.values(p.answers);
  return {
    started: true,
    furthest: p.steps > 0 ? Math.min(p.furthest, p.steps) : p.furthest,
    steps: p.steps,
    answered: p.questions > 0 ? Math.min(answers.length, p.questions) : answers.length,
    right: answers.filter((a) => a.right).length,
    questions: p.questions,
  };
}

// ---------------------------------------------------------------------------
// The store

export interface LessonState {
  /** 'none': no lesson asked for; 'failed': the lesson asked for does not exist or did not load. */
  status: 'none' | 'loading' | 'ready' | 'failed';
  /** The lesson playing (null on the explorer without a lesson, or while it loads). */
  lesson: Lesson | null;
  progress: ProgressMap;
  /** Why progress could not be saved, when it could not. */
  storageError: string | null;
  /** Set when a move was stopped by a question (the UI focuses it); `seq` changes each time. */
  blocked: { step: number; seq: number } | null;

  open(lesson: Lesson): void;
  /** Record the answer to the question before `step`. */
  answer(step: number, choice: number): void;
  /** The learner reached `step`. */
  reached(step: number): void;
  reset(id: string): void;
  resetAll(): void;
  /** Re-read the stored progress (another tab changed it). */
  reload(): void;
}

function empty(lesson: Lesson): LessonProgress {
  return { furthest: 0, steps: lessonLength(lesson), questions: questionSteps(lesson).length, answers: {} };
}

export const lessonStore = createStore<LessonState>()((set, get) => {
  const commit = (progress: ProgressMap) => set({ progress, storageError: saveProgress(progress) });
  return {
    status: 'none',
    lesson: null,
    progress: loadProgress(),
    storageError: null,
    blocked: null,

    open: (lesson) => {
      const progress = get().progress;
      const p = progress[lesson.id] ?? empty(lesson);
      set({ lesson, status: 'ready', blocked: null });
      commit({ ...progress, [lesson.id]: { ...p, steps: lessonLength(lesson), questions: questionSteps(lesson).length } });
    },
    answer: (step, choice) => {
      const { lesson, progress } = get();
      const q = lesson?.steps[step]?.question;
      if (!lesson || !q || !isInt(choice, 0, q.choices.length - 1)) return;
      const p = progress[lesson.id] ?? empty(lesson);
      commit({ ...progress, [lesson.id]: { ...p, answers: { ...p.answers, [step]: { choice, right: choice === q.answer } } } });
      if (get().blocked?.step === step) set({ blocked: null });
    },
    reached: (step) => {
      const { lesson, progress } = get();
      if (!lesson || !isInt(step, 0, MAX_STEP)) return;
      const p = progress[lesson.id] ?? empty(lesson);
      if (p.furthest >= step && progress[lesson.id]) return;
      commit({ ...progress, [lesson.id]: { ...p, furthest: Math.max(p.furthest, step) } });
    },
    reset: (id) => {
      const progress = { ...get().progress };
      delete progress[id];
      commit(progress);
    },
    resetAll: () => commit({}),
    reload: () => set({ progress: loadProgress() }),
  };
});

export function useLesson<T>(selector: (s: LessonState) => T): T {
  return useStore(lessonStore, selector);
}

/**
 * True while the explorer shows the lesson's own scenario (not after a
 * Translate added a step, nor after a fallback to the default scenario).
 */
export function onTrack(lesson: Lesson, s: Pick<ExplorerState, 'stepInfo' | 'scenarioTitle'>): boolean {
  if (s.stepInfo.length === 0) return true; // still loading
  return s.stepInfo.length === lessonLength(lesson) && s.scenarioTitle === lesson.scenario.title;
}

/** The explorer's step gate while a lesson plays: stop before the first unanswered question. */
export function lessonGate(from: number, to: number): number {
  const { lesson, progress } = lessonStore.getState();
  if (!lesson || !onTrack(lesson, explorerStore.getState())) return to;
  const q = firstUnanswered(lesson, progress[lesson.id], from, to);
  if (q === null) return to;
  lessonStore.setState({ blocked: { step: q, seq: (lessonStore.getState().blocked?.seq ?? 0) + 1 } });
  return q - 1;
}

if (typeof window !== 'undefined') {
  window.addEventListener('storage', (e) => {
    if (e.key === PROGRESS_KEY || e.key === null) lessonStore.getState().reload();
  });
  // A page restored from the back/forward cache may hold old progress.
  window.addEventListener('pageshow', (e) => {
    if (e.persisted) lessonStore.getState().reload();
  });
}
