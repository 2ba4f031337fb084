import { Suspense, lazy, useRef, useState, type ChangeEvent, type ReactNode } from 'react';
import { useAppStore, type Theme } from '../state/store';
import { PANELS, PANEL_LABEL, explorerStore, useExplorer, type PanelId } from '../state/explorer';
import { encodeShare, parseImport } from '../state/share';
import { lessonStore, onTrack, useLesson } from '../state/lesson';
import { Embed } from './Embed';
import { LESSONS_SEARCH, lessonSearch, type Route } from './route';
import { Timeline } from './Timeline';
import { HelpOverlay } from './HelpOverlay';
import { useGlobalKeys } from './keys';
import { WalkPanel } from './panels/WalkPanel';
import { StreamTablePanel } from './panels/StreamTablePanel';
import { PageTreePanel } from './panels/PageTreePanel';
import { QueuesPanel } from './panels/QueuesPanel';
import { HypervisorPanel } from './panels/HypervisorPanel';
import { download, scenarioFileName as fileName } from './download';
import { useRootAttributes } from './root-attributes';

const CostPanel = lazy(() => import('./panels/CostPanel'));
// The lesson views are loaded only on the pages that show them.
const LessonPlayer = lazy(() => import('./lessons/LessonPlayer'));
const LessonIndex = lazy(() => import('./lessons/LessonIndex'));

const THEME_LABEL: Record<Theme, string> = {
  system: 'Theme: system',
  light: 'Theme: light',
  dark: 'Theme: dark',
};

const btn =
  'rounded-md border border-slate-400 px-3 py-1.5 text-[0.875rem] hover:bg-slate-100 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600 dark:border-slate-500 dark:hover:bg-slate-800';

function Panel({ id }: { id: PanelId }) {
  switch (id) {
    case 'walk':
      return <WalkPanel />;
    case 'streams':
      return <StreamTablePanel />;
    case 'tables':
      return <PageTreePanel />;
    case 'queues':
      return <QueuesPanel />;
    case 'hyp':
      return <HypervisorPanel />;
    case 'costs':
      return (
        <Suspense fallback={<p role="status">Loading the cost charts…</p>}>
          <CostPanel />
        </Suspense>
      );
  }
}

function ShareBox() {
  const [url, setUrl] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const share = () => {
    const s = explorerStore.getState();
    const lesson = lessonStore.getState().lesson;
    let u: string;
    if (lesson && onTrack(lesson, s)) {
      // A lesson is shared by its address (the step is kept there).
      u = `${location.origin}${location.pathname}${lessonSearch(lesson.id, s.step)}`;
    } else if (lesson) {
      // A lesson's scenario with a step added: share the scenario itself (outside the lesson).
      u = `${location.origin}${location.pathname}#${encodeShare({ scenario: s.scenario, step: s.step })}`;
    } else {
      const hash = encodeShare({ scenario: s.scenario, step: s.step });
      history.replaceState(null, '', `${location.pathname}${location.search}#${hash}`);
      u = location.href;
    }
    setUrl(u);
    setCopied(false);
    navigator.clipboard?.writeText(u).then(
      () => setCopied(true),
      () => setCopied(false),
    );
  };
  return (
    <>
      <button type="button" className={btn} onClick={share}>
        Share
      </button>
      {url && (
        <div className="flex basis-full items-center gap-2 text-[0.875rem]" role="status">
          <label htmlFor="share-url">{copied ? 'Link copied:' : 'Link:'}</label>
          <input id="share-url" readOnly value={url} data-testid="share-url" className="min-w-0 flex-1 rounded border border-slate-400 bg-white px-1 font-mono text-[0.75rem] dark:border-slate-500 dark:bg-slate-950" onFocus={(e) => e.currentTarget.select()} />
          <button type="button" className={btn} onClick={() => setUrl(null)} aria-label="Close the share link">
            ✕
          </button>
        </div>
      )}
    </>
  );
}

function SkipLink({ children }: { children: ReactNode }) {
  return (
    <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2 dark:focus:bg-slate-900">
      {children}
    </a>
  );
}

/** Presentation and theme buttons (every full page has them). */
function ViewButtons() {
  const theme = useAppStore((s) => s.theme);
  const cycleTheme = useAppStore((s) => s.cycleTheme);
  const presentation = useExplorer((s) => s.presentation);
  const setPresentation = useExplorer((s) => s.setPresentation);
  return (
    <>
      <button type="button" className={btn} aria-pressed={presentation} onClick={() => setPresentation(!presentation)}>
        Presentation
      </button>
      <button type="button" onClick={cycleTheme} aria-label={`${THEME_LABEL[theme]} (click to change)`} className={btn}>
        {THEME_LABEL[theme]}
      </button>
    </>
  );
}

/**
 * The page for the address: the lesson index (`?lessons`), one panel embedded
 * (`?embed&panel=…`), or the explorer (with a lesson's bar for `?lesson=…`).
 */
export function App({ route = { view: 'explorer', lesson: null, step: null, embed: null } }: { route?: Route }) {
  useRootAttributes();
  if (route.view === 'lessons') return <LessonIndexPage />;
  if (route.embed)
    return (
      <Embed embed={route.embed} lessonId={route.lesson}>
        <Panel id={route.embed.panel} />
      </Embed>
    );
  return <Explorer inLesson={route.lesson !== null} />;
}

function LessonIndexPage() {
  return (
    <div className="flex min-h-screen flex-col">
      <SkipLink>Skip to the lessons</SkipLink>
      <header className="border-b border-slate-300 bg-slate-50 dark:border-slate-700 dark:bg-slate-900">
        <div className="flex flex-wrap items-center gap-2 px-4 py-2">
          <h1 className="mr-auto text-[1.125rem] font-semibold tracking-tight">SMMUv3 / pKVM explorer</h1>
          <a className={btn} href={location.pathname}>
            Open the explorer
          </a>
          <ViewButtons />
        </div>
      </header>
      <main id="main" tabIndex={-1} className="w-full flex-1 px-4 py-4">
        <Suspense fallback={<p role="status">Loading the lessons…</p>}>
          <LessonIndex />
        </Suspense>
      </main>
    </div>
  );
}

function Explorer({ inLesson }: { inLesson: boolean }) {
  const panel = useExplorer((s) => s.panel);
  const setPanel = useExplorer((s) => s.setPanel);
  const title = useExplorer((s) => s.scenarioTitle);
  const description = useExplorer((s) => s.scenarioDescription);
  const status = useExplorer((s) => s.status);
  const workerError = useExplorer((s) => s.workerError);
  const loadError = useExplorer((s) => s.loadError);
  const restart = useExplorer((s) => s.restartWorker);
  const setHelpOpen = useExplorer((s) => s.setHelpOpen);
  const stepInfo = useExplorer((s) => s.stepInfo);
  const lesson = useLesson((s) => s.lesson);
  // While a lesson plays on its own scenario, its bar shows the narration (larger) instead of the timeline and the description.
  const lessonNarrates = inLesson && lesson !== null && onTrack(lesson, { stepInfo, scenarioTitle: title });
  const importRef = useRef<HTMLInputElement>(null);
  useGlobalKeys();

  const onImport = async (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    e.target.value = '';
    if (!file) return;
    const r = parseImport(await file.text());
    const s = explorerStore.getState();
    if (r.ok === true) {
      s.setLoadError(null);
      s.loadScenario(r.state.scenario, r.state.step);
    } else if (r.ok === false) s.setLoadError(`Import of ${file.name} failed: ${r.message}`);
  };

  const tabId = (p: PanelId) => `tab-${p}`;
  const onTabKey = (e: React.KeyboardEvent, i: number) => {
    let j = -1;
    if (e.key === 'ArrowRight') j = (i + 1) % PANELS.length;
    else if (e.key === 'ArrowLeft') j = (i + PANELS.length - 1) % PANELS.length;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = PANELS.length - 1;
    if (j < 0) return;
    e.preventDefault();
    setPanel(PANELS[j]);
    document.getElementById(tabId(PANELS[j]))?.focus();
  };

  return (
    <div className="flex min-h-screen flex-col">
      <SkipLink>Skip to the panels</SkipLink>
      <header className="border-b border-slate-300 bg-slate-50 dark:border-slate-700 dark:bg-slate-900">
        <div className="flex flex-wrap items-center gap-2 px-4 py-2">
          <h1 className="mr-auto text-[1.125rem] font-semibold tracking-tight">
            SMMUv3 / pKVM explorer
            {title && <span className="ml-3 text-[0.9375rem] font-normal text-slate-700 dark:text-slate-300">{title}</span>}
          </h1>
          <a className={btn} href={LESSONS_SEARCH}>
            Lessons
          </a>
          <a
            className={btn}
            href="?build"
            onClick={(e) => {
              // The link carries the current scenario; build it at click time (the document may have changed).
              e.currentTarget.href = `?build#${encodeShare({ scenario: explorerStore.getState().scenario, step: 0 })}`;
            }}
          >
            Edit in the builder
          </a>
          <ShareBox />
          <button type="button" className={btn} onClick={() => download(fileName(title), JSON.stringify(explorerStore.getState().scenario, null, 2) + '\n')}>
            Export JSON
          </button>
          <button type="button" className={btn} onClick={() => importRef.current?.click()}>
            Import JSON
          </button>
          <input ref={importRef} type="file" accept="application/json,.json" className="hidden" aria-label="Import a scenario file" onChange={(e) => void onImport(e)} data-testid="import-file" />
          <ViewButtons />
          <button type="button" className={btn} onClick={() => setHelpOpen(true)} aria-label="Keyboard shortcuts (?)">
            ?
          </button>
        </div>
      </header>
      {loadError && (
        <div role="alert" data-testid="load-error" className="flex items-start gap-3 border-b border-amber-500 bg-amber-50 px-4 py-2 text-amber-950 dark:bg-amber-950 dark:text-amber-100">
          <p className="flex-1">
            <strong>This scenario could not be opened.</strong> {loadError} The default scenario is shown instead.
          </p>
          <button type="button" className={btn} onClick={() => explorerStore.getState().setLoadError(null)}>
            Dismiss
          </button>
        </div>
      )}
      {status === 'crashed' && (
        <div role="alert" data-testid="worker-error" className="flex items-start gap-3 border-b border-red-500 bg-red-50 px-4 py-2 text-red-950 dark:bg-red-950 dark:text-red-100">
          <p className="flex-1">
            <strong>The emulator stopped.</strong> {workerError} Your scenario and step are kept.
          </p>
          <button type="button" className={btn} onClick={restart}>
            Restart the emulator
          </button>
        </div>
      )}
      {status !== 'crashed' && workerError && (
        <div role="status" className="border-b border-amber-500 bg-amber-50 px-4 py-2 text-amber-950 dark:bg-amber-950 dark:text-amber-100">
          {workerError}
        </div>
      )}
      <Timeline hideNote={lessonNarrates} />
      {inLesson && (
        <Suspense fallback={<p role="status" className="px-4 py-2">Loading the lesson…</p>}>
          <LessonPlayer />
        </Suspense>
      )}
      {description && !lessonNarrates && <p className="narration px-4 pt-2 text-[0.9375rem] text-slate-700 dark:text-slate-300">{description}</p>}
      <nav aria-label="Panels" className="px-4 pt-3">
        <div role="tablist" aria-label="Panels" className="flex flex-wrap gap-1 border-b border-slate-300 dark:border-slate-700">
          {PANELS.map((p, i) => (
            <button
              key={p}
              id={tabId(p)}
              role="tab"
              type="button"
              aria-selected={panel === p}
              aria-controls="panel"
              tabIndex={panel === p ? 0 : -1}
              onClick={() => setPanel(p)}
              onKeyDown={(e) => onTabKey(e, i)}
              className={`rounded-t-md border border-b-0 px-3 py-1.5 text-[0.9375rem] focus-visible:outline-2 focus-visible:outline-sky-600 ${
                panel === p ? 'border-slate-400 bg-white font-semibold dark:border-slate-500 dark:bg-slate-950' : 'border-transparent text-slate-700 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800'
              }`}
            >
              <span aria-hidden="true" className="mr-1 text-[0.75rem] text-slate-600 dark:text-slate-400">
                {i + 1}
              </span>
              {PANEL_LABEL[p]}
            </button>
          ))}
        </div>
      </nav>
      <main id="main" tabIndex={-1} className="w-full flex-1 px-4 py-4" aria-busy={status !== 'ready'} data-status={status}>
        <div id="panel" role="tabpanel" aria-labelledby={tabId(panel)}>
          <Panel id={panel} />
        </div>
      </main>
      <HelpOverlay />
    </div>
  );
}
