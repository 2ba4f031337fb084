import { useId, useState, type FormEvent } from 'react';
import { useExplorer } from '../state/explorer';
import type { StepTag } from '../scenario/view';

const RUN_TO: Array<{ tag: StepTag; label: string }> = [
  { tag: 'fault', label: 'Next fault' },
  { tag: 'trap', label: 'Next trap' },
  { tag: 'hypercall', label: 'Next hypercall' },
  { tag: 'dma', label: 'Next DMA' },
];

const TAG_STYLE: Partial<Record<StepTag, string>> = {
  fault: 'bg-red-600 dark:bg-red-400',
  error: 'bg-amber-600 dark:bg-amber-400',
  trap: 'bg-violet-600 dark:bg-violet-400',
  hypercall: 'bg-sky-600 dark:bg-sky-400',
};

const btn =
  'rounded border border-slate-400 px-2 py-1 text-[0.875rem] hover:bg-slate-100 disabled:cursor-not-allowed disabled:opacity-50 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600 dark:border-slate-500 dark:hover:bg-slate-800';

/**
 * The timeline: slider, step buttons, go-to-step, run to the next event of a kind, and the step's sentence.
 * `hideNote`: a lesson shows the step's narration itself, larger, so the timeline leaves it out.
 */
export function Timeline({ hideNote = false }: { hideNote?: boolean } = {}) {
  const step = useExplorer((s) => s.step);
  const info = useExplorer((s) => s.stepInfo);
  const goTo = useExplorer((s) => s.goTo);
  const runTo = useExplorer((s) => s.runTo);
  const n = info.length;
  const [goto, setGoto] = useState('');
  const [gotoError, setGotoError] = useState<string | null>(null);
  const gotoId = useId();
  const cur = step > 0 ? info[step - 1] : undefined;

  const onGoto = (e: FormEvent) => {
    e.preventDefault();
    const v = Number(goto.trim());
    if (goto.trim() === '' || !Number.isInteger(v) || v < 0 || v > n) {
      setGotoError(`Enter a step from 0 to ${n}.`);
      return;
    }
    setGotoError(null);
    goTo(v);
  };

  return (
    <section aria-label="Timeline" className="border-b border-slate-300 bg-slate-50 px-4 py-2 dark:border-slate-700 dark:bg-slate-900">
      <div className="flex flex-wrap items-center gap-2">
        <button type="button" className={btn} onClick={() => goTo(0)} disabled={step === 0} aria-label="First step (Home)">
          «
        </button>
        <button type="button" className={btn} onClick={() => goTo(step - 1)} disabled={step === 0} aria-label="Previous step (Left arrow)">
          ◀
        </button>
        <button type="button" className={btn} onClick={() => goTo(step + 1)} disabled={step >= n} aria-label="Next step (Right arrow)">
          ▶
        </button>
        <button type="button" className={btn} onClick={() => goTo(n)} disabled={step >= n} aria-label="Last step (End)">
          »
        </button>
        <div className="relative min-w-[12rem] flex-1">
          <input
            type="range"
            min={0}
            max={n}
            step={1}
            value={step}
            aria-label="Step"
            aria-valuetext={`Step ${step} of ${n}${cur ? `: ${cur.label}` : ': machine after boot'}`}
            onChange={(e) => goTo(Number(e.target.value))}
            className="w-full accent-sky-700"
          />
          <div aria-hidden="true" className="pointer-events-none relative h-1.5">
            {info.map((s) => {
              const tag = (['fault', 'error', 'trap', 'hypercall'] as StepTag[]).find((t) => s.tags.includes(t));
              if (!tag || n === 0) return null;
              return <span key={s.index} className={`absolute top-0 h-1.5 w-1 rounded ${TAG_STYLE[tag]}`} style={{ left: `calc(${(s.index / n) * 100}% - 2px)` }} />;
            })}
          </div>
        </div>
        <output className="min-w-[7rem] text-[0.875rem] tabular-nums" aria-live="polite" data-testid="step-counter">
          Step {step} / {n}
        </output>
        <form onSubmit={onGoto} className="flex items-center gap-1" noValidate>
          <label htmlFor={gotoId} className="text-[0.875rem]">
            Go to step
          </label>
          <input
            id={gotoId}
            data-goto-step
            inputMode="numeric"
            value={goto}
            onChange={(e) => setGoto(e.target.value)}
            aria-invalid={gotoError ? true : undefined}
            aria-describedby={gotoError ? `${gotoId}-err` : undefined}
            className="w-16 rounded border border-slate-400 bg-white px-1 py-0.5 text-[0.875rem] dark:border-slate-500 dark:bg-slate-950"
          />
          <button type="submit" className={btn}>
            Go
          </button>
        </form>
        <div role="group" aria-label="Run to the next event" className="flex flex-wrap gap-1">
          {RUN_TO.map(({ tag, label }) => {
            const has = info.some((s) => s.index > step && s.tags.includes(tag));
            return (
              <button key={tag} type="button" className={btn} disabled={!has} onClick={() => runTo(tag)}>
                {label}
              </button>
            );
          })}
        </div>
      </div>
      {gotoError && (
        <p id={`${gotoId}-err`} role="alert" className="mt-1 text-[0.875rem] text-red-700 dark:text-red-300">
          {gotoError}
        </p>
      )}
      <div className="mt-2 text-[0.9375rem]" data-testid="step-text">
        {cur ? (
          <>
            <p>
              <span className="font-mono text-[0.875rem]">{cur.label}</span>
              {cur.tags.length > 0 && <span className="ml-2 text-[0.75rem] text-slate-600 dark:text-slate-300">[{cur.tags.join(', ')}]</span>}
            </p>
            <p>{cur.text}</p>
            {cur.note && !hideNote && <p className="narration mt-1 text-slate-700 italic dark:text-slate-200">{cur.note}</p>}
          </>
        ) : (
          <p>The machine after boot{n > 0 ? ': press → (or ▶) to run the first step.' : '.'}</p>
        )}
      </div>
    </section>
  );
}
