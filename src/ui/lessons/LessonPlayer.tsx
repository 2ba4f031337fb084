/**
 * The lesson bar shown above the panels while a lesson plays: the lesson's
 * title and step, the step's narration (large in presentation mode), the
 * goal of the step (✓ met / ✗ not met), and the question that stands before
 * the next step. It also keeps the step in the address bar, records the
 * furthest step reached, and switches the panel / presets the cost workload
 * when a step that names one is reached.
 */
import { useEffect, useId, useRef } from 'react';
import { LESSONS } from '../../lessons';
import type { Lesson } from '../../lessons/types';
import { explorerStore, useExplorer } from '../../state/explorer';
import { answerFor, checkGoal, compareAt, firstUnanswered, lessonLength, lessonStore, onTrack, panelAt, useLesson } from '../../state/lesson';
import { LESSONS_SEARCH, lessonSearch, replaceSearch } from '../route';
import { GoalBadge } from './GoalBadge';
import { QuestionGate } from './QuestionGate';
import { btn, link } from './styles';

export default function LessonPlayer() {
  const lesson = useLesson((s) => s.lesson);
  const status = useLesson((s) => s.status);
  if (status === 'failed') {
    return (
      <section aria-label="Lesson" className="border-b border-slate-300 px-4 py-2 dark:border-slate-700">
        <p>
          <a className={link} href={LESSONS_SEARCH}>
            Choose a lesson from the list
          </a>
        </p>
      </section>
    );
  }
  if (!lesson) {
    return (
      <section aria-label="Lesson" className="border-b border-slate-300 px-4 py-2 dark:border-slate-700">
        <p role="status">Loading the lesson…</p>
      </section>
    );
  }
  return <Player key={lesson.id} lesson={lesson} />;
}

function noteOf(lesson: Lesson, step: number): string | undefined {
  const s = lesson.scenario.steps[step - 1];
  const note = s && (s as { note?: unknown }).note;
  return typeof note === 'string' ? note : undefined;
}

function Player({ lesson }: { lesson: Lesson }) {
  const headingId = useId();
  const step = useExplorer((s) => s.step);
  const info = useExplorer((s) => s.stepInfo);
  const snapshot = useExplorer((s) => s.snapshot);
  const scenarioTitle = useExplorer((s) => s.scenarioTitle);
  const progress = useLesson((s) => s.progress[lesson.id]);
  const blocked = useLesson((s) => s.blocked);
  const storageError = useLesson((s) => s.storageError);
  const n = lessonLength(lesson);
  const track = onTrack(lesson, { stepInfo: info, scenarioTitle });
  const loaded = info.length > 0 && track;

  // Reaching a step: remember it, keep it in the URL, switch the panel / preset the workload it names.
  const prevStep = useRef<number | null>(null);
  useEffect(() => {
    if (!loaded) return;
    lessonStore.getState().reached(step);
    replaceSearch(lessonSearch(lesson.id, step), false);
    const prev = prevStep.current;
    prevStep.current = step;
    if (prev === null || prev === step) return; // opened here: main.tsx set the panel for this step
    const extra = lesson.steps[step];
    const s = explorerStore.getState();
    if (step === 0) s.setPanel(lesson.panel);
    else if (extra?.panel) s.setPanel(extra.panel);
    if (extra?.compare) s.setCompareWorkload(extra.compare);
  }, [loaded, step, lesson]);

  // Questions are announced when they appear and when they stop a move.
  const nextQ = step < n ? lesson.steps[step + 1]?.question : undefined;
  const nextAnswer = nextQ ? answerFor(lesson, progress, step + 1) : undefined;
  const blockedSeq = blocked && blocked.step === step + 1 ? blocked.seq : 0;
  // (The trailing dot alternates so that a second refused move is read out again.)
  const announce =
    !loaded || !nextQ || nextAnswer ? '' : blockedSeq > 0 ? `Answer the question to reveal step ${step + 1}${'.'.repeat(1 + (blockedSeq % 2))}` : `A question before step ${step + 1}: ${nextQ.prompt}`;

  const goal = lesson.steps[step]?.goal;
  const narration = step === 0 ? lesson.scenario.description : noteOf(lesson, step) ?? info[step - 1]?.note;
  const idx = LESSONS.findIndex((l) => l.id === lesson.id);
  const nextLesson = idx >= 0 ? LESSONS[idx + 1] : undefined;

  // After a Translate at lesson step k the explorer shows the added step k + 1: the lesson resumes at k
  // (never past a question not yet answered beyond the furthest step reached).
  const backAt = (() => {
    const at = Math.min(Math.max(0, step - 1), n);
    const q = firstUnanswered(lesson, progress, Math.min(progress?.furthest ?? 0, at), at);
    return q === null ? at : q - 1;
  })();
  const backToLesson = () => {
    const at = backAt;
    const s = explorerStore.getState();
    s.setPanel(panelAt(lesson, at));
    const w = compareAt(lesson, at);
    if (w) s.setCompareWorkload(w);
    prevStep.current = null;
    s.loadScenario(lesson.scenario, at);
  };

  return (
    <section aria-labelledby={headingId} data-testid="lesson-player" data-lesson={lesson.id} className="border-b border-slate-300 bg-white px-4 py-3 dark:border-slate-700 dark:bg-slate-950">
      <div className="flex flex-wrap items-baseline gap-x-3 gap-y-1">
        <h2 id={headingId} className="text-[1.0625rem] font-semibold">
          <span className="sr-only">Lesson: </span>
          {lesson.title}
        </h2>
        <span className="text-[0.875rem] text-slate-700 tabular-nums dark:text-slate-300" data-testid="lesson-step">
          Step {step} of {n}
        </span>
        <a className={`${link} ml-auto text-[0.875rem]`} href={LESSONS_SEARCH}>
          All lessons
        </a>
      </div>
      {track ? (
        <>
          <div className="narration mt-2 max-w-[70ch] text-[1.125rem] leading-relaxed" data-testid="lesson-narration" aria-live="polite">
            {narration ? <p>{narration}</p> : <p className="text-slate-700 dark:text-slate-300">{info[step - 1]?.text ?? ''}</p>}
          </div>
          {goal && <GoalBadge text={goal.text} state={checkGoal(goal.check, step, info, snapshot)} />}
          {nextQ && loaded && (
            <QuestionGate
              key={step + 1}
              step={step + 1}
              question={nextQ}
              answer={nextAnswer}
              blockedSeq={blockedSeq}
              onAnswer={(c) => lessonStore.getState().answer(step + 1, c)}
              onReveal={() => explorerStore.getState().goTo(step + 1)}
            />
          )}
          {loaded && step === n && (
            <p className="mt-3 text-[0.9375rem]" data-testid="lesson-end">
              <strong>You reached the end of this lesson.</strong>{' '}
              {nextLesson ? (
                <>
                  Next:{' '}
                  <a className={link} href={lessonSearch(nextLesson.id)}>
                    {nextLesson.title}
                  </a>
                  , or go back to{' '}
                </>
              ) : (
                'Go back to '
              )}
              <a className={link} href={LESSONS_SEARCH}>
                all lessons
              </a>
              .
            </p>
          )}
        </>
      ) : (
        <div className="mt-2 flex flex-wrap items-center gap-2 text-[0.9375rem]" data-testid="lesson-detour">
          <p className="flex-1">You changed the lesson’s scenario (a step was added), so its narration and questions are paused.</p>
          <button type="button" className={btn} onClick={backToLesson}>
            Back to the lesson at step {backAt}
          </button>
        </div>
      )}
      {storageError && (
        <p role="status" className="mt-2 text-[0.875rem] text-amber-900 dark:text-amber-200">
          {storageError}
        </p>
      )}
      <p className="sr-only" role="status">
        {announce}
      </p>
    </section>
  );
}
