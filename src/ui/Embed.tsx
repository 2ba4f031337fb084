/**
 * Embed mode (`?embed&panel=<panel>`, with a lesson or a `#s=` share hash):
 * one panel for a slide or a course page, read-only (no translate form, no
 * share / import / export), a compact step indicator with previous / next
 * (unless `&static`), and a link that opens the full app at the same step.
 */
import { useEffect, useMemo, type ReactNode } from 'react';
import { PANEL_LABEL, explorerStore, useExplorer } from '../state/explorer';
import { lessonStore, useLesson } from '../state/lesson';
import { encodeShare } from '../state/share';
import { lessonSearch, type EmbedRoute } from './route';
import { btn, link } from './lessons/styles';

export function Embed({ embed, lessonId, children }: { embed: EmbedRoute; lessonId: string | null; children: ReactNode }) {
  const step = useExplorer((s) => s.step);
  const n = useExplorer((s) => s.stepInfo.length);
  const status = useExplorer((s) => s.status);
  const title = useExplorer((s) => s.scenarioTitle);
  const scenario = useExplorer((s) => s.scenario);
  const loadError = useExplorer((s) => s.loadError);
  const workerError = useExplorer((s) => s.workerError);
  const goTo = useExplorer((s) => s.goTo);
  const lesson = useLesson((s) => s.lesson);
  const lessonOk = useLesson((s) => s.status === 'ready');

  // A lesson step that presets the cost workload does so here too.
  useEffect(() => {
    const w = lessonStore.getState().lesson?.steps[step]?.compare;
    if (w) explorerStore.getState().setCompareWorkload(w);
  }, [step, lesson]);

  const href = useMemo(() => {
    if (lessonId !== null && lessonOk) return `${location.pathname}${lessonSearch(lessonId, step)}`;
    if (scenario === null) return location.pathname;
    return `${location.pathname}#${encodeShare({ scenario, step })}`;
  }, [lessonId, lessonOk, scenario, step]);

  const name = lesson?.title ?? title;
  return (
    <div className="flex min-h-screen flex-col" data-embed={embed.panel}>
      <div className="flex flex-wrap items-center gap-2 border-b border-slate-300 bg-slate-50 px-3 py-1.5 text-[0.875rem] dark:border-slate-700 dark:bg-slate-900">
        <p className="mr-2 min-w-0 truncate font-semibold" title={name}>
          {name || 'SMMUv3 / pKVM explorer'}
        </p>
        {!embed.static && (
          <button type="button" className={btn} onClick={() => goTo(step - 1)} disabled={step === 0} aria-label="Previous step">
            ◀
          </button>
        )}
        <output data-testid="step-counter" aria-live="polite" className="tabular-nums">
          Step {step} / {n}
        </output>
        {!embed.static && (
          <button type="button" className={btn} onClick={() => goTo(step + 1)} disabled={step >= n} aria-label="Next step">
            ▶
          </button>
        )}
        <a className={`${link} ml-auto`} href={href} target="_blank" rel="noopener" data-testid="open-full-app">
          Open in the full app at this step
          <span className="sr-only"> (opens in a new tab)</span>
        </a>
      </div>
      {loadError && (
        <p role="alert" data-testid="load-error" className="border-b border-amber-500 bg-amber-50 px-3 py-1.5 text-[0.875rem] text-amber-950 dark:bg-amber-950 dark:text-amber-100">
          This scenario could not be opened. {loadError} The default scenario is shown instead.
        </p>
      )}
      {status === 'crashed' && (
        <div role="alert" data-testid="worker-error" className="flex items-center gap-2 border-b border-red-500 bg-red-50 px-3 py-1.5 text-[0.875rem] text-red-950 dark:bg-red-950 dark:text-red-100">
          <p className="flex-1">The emulator stopped. {workerError}</p>
          <button type="button" className={btn} onClick={() => explorerStore.getState().restartWorker()}>
            Restart the emulator
          </button>
        </div>
      )}
      {/* Read-only: the walk panel's translate form (which would add a step) is not shown. */}
      <main id="main" tabIndex={-1} className={`w-full flex-1 px-3 py-3 ${embed.panel === 'walk' ? '[&_form]:hidden' : ''}`} aria-busy={status !== 'ready'} data-status={status}>
        <h1 className="sr-only">
          {PANEL_LABEL[embed.panel]}
          {name ? ` — ${name}` : ''} (SMMUv3 / pKVM explorer)
        </h1>
        <div id="panel">{children}</div>
      </main>
    </div>
  );
}
