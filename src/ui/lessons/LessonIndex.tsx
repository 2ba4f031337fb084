/**
 * The lesson index (`?lessons`): every lesson with its summary and the
 * learner's progress (kept in this browser only), a link to start or to
 * continue where they left off, and a reset.
 */
import { useId } from 'react';
import { LESSONS } from '../../lessons';
import { progressSummary, useLesson, lessonStore } from '../../state/lesson';
import { lessonSearch } from '../route';
import { btn, link } from './styles';

function describe(p: ReturnType<typeof progressSummary>): string {
  if (!p.started) return 'Not started.';
  const parts = [`${p.furthest} / ${p.steps} steps`];
  if (p.questions > 0) parts.push(`${p.answered} / ${p.questions} questions answered (${p.right} right)`);
  return parts.join(', ') + (p.steps > 0 && p.furthest >= p.steps ? ' — finished.' : '.');
}

export default function LessonIndex() {
  const headingId = useId();
  const progress = useLesson((s) => s.progress);
  const storageError = useLesson((s) => s.storageError);
  const any = LESSONS.some((l) => progress[l.id]);

  return (
    <section aria-labelledby={headingId} className="mx-auto max-w-4xl" data-testid="lesson-index">
      <h2 id={headingId} className="text-[1.375rem] font-semibold">
        Lessons
      </h2>
      <p className="mt-1 max-w-[70ch] text-[0.9375rem] text-slate-700 dark:text-slate-300">
        Each lesson is a scenario you step through with a short explanation of every step. Some steps ask you a question first, and some check a goal. Your progress is kept in this browser
        only; nothing is sent anywhere.
      </p>
      {storageError && (
        <p role="status" className="mt-2 rounded border border-amber-600 bg-amber-50 px-3 py-2 text-amber-950 dark:bg-amber-950 dark:text-amber-100">
          {storageError}
        </p>
      )}
      <ol className="mt-4 space-y-3" data-testid="lesson-list">
        {LESSONS.map((l, i) => {
          const p = progressSummary(progress[l.id]);
          const titleId = `${headingId}-${l.id}`;
          return (
            <li key={l.id} data-testid="lesson-item" data-lesson={l.id} className="rounded-md border border-slate-300 p-3 dark:border-slate-700">
              <h3 id={titleId} className="text-[1.0625rem] font-semibold">
                <span className="mr-2 tabular-nums text-slate-700 dark:text-slate-300">{i + 1}.</span>
                <a className={link} href={lessonSearch(l.id)}>
                  {l.title}
                </a>
              </h3>
              <p className="mt-1 text-[0.9375rem]">{l.summary}</p>
              <div className="mt-2 flex flex-wrap items-center gap-3 text-[0.875rem]">
                <p data-testid="lesson-progress" className="text-slate-700 dark:text-slate-300">
                  {describe(p)}
                </p>
                {p.started && p.furthest > 0 && (p.steps === 0 || p.furthest < p.steps) && (
                  <a className={link} href={lessonSearch(l.id, p.furthest)}>
                    Continue at step {p.furthest}
                    <span className="sr-only"> of “{l.title}”</span>
                  </a>
                )}
                {p.started && (
                  <button type="button" className={btn} onClick={() => lessonStore.getState().reset(l.id)}>
                    Reset progress<span className="sr-only"> of “{l.title}”</span>
                  </button>
                )}
              </div>
            </li>
          );
        })}
      </ol>
      {any && (
        <p className="mt-4">
          <button type="button" className={btn} onClick={() => lessonStore.getState().resetAll()}>
            Reset the progress of every lesson
          </button>
        </p>
      )}
    </section>
  );
}
