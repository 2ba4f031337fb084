import { StrictMode, Suspense, lazy } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './ui/App';
import { bindClient, explorerStore } from './state/explorer';
import { decodeShare } from './state/share';
import { compareAt, lessonGate, lessonStore, panelAt } from './state/lesson';
import { lessonById } from './lessons';
import { parseRoute } from './ui/route';
import { WorkerClient } from './worker/client';
import { DEFAULT_SCENARIO } from './scenario/library/default';
import './index.css';

const Builder = lazy(() => import('./ui/builder/Builder'));

const container = document.getElementById('root');
if (!container) throw new Error('#root element missing');

/** What the address asks for: the explorer, a lesson, the lesson index, an embedded panel (see src/ui/route.ts). */
const route = parseRoute(location.search);

// The emulator runs in its Worker; the page only holds the document and the snapshot.
// (The lesson index shows no scenario, so it starts no Worker.)
const client =
  route.view === 'lessons' || route.view === 'build' ? null : new WorkerClient(() => new Worker(new URL('./worker/worker.ts', import.meta.url), { type: 'module', name: 'emulator' }));
bindClient(client);

if (route.embed) {
  const s = explorerStore.getState();
  s.setReadOnly(true);
  s.setPanel(route.embed.panel);
}

function openDefault(message: string | null): void {
  explorerStore.getState().setLoadError(message);
  explorerStore.setState({ scenario: DEFAULT_SCENARIO, step: 0 });
  client?.start(DEFAULT_SCENARIO, 0);
}

/** Open the scenario the URL carries (or the default one, with a message when the link is broken). */
function openFromHash(): void {
  const r = decodeShare(location.hash);
  const s = explorerStore.getState();
  if (r.ok === true) {
    s.setLoadError(null);
    explorerStore.setState({ scenario: r.state.scenario, step: r.state.step });
    client?.start(r.state.scenario, r.state.step);
  } else {
    openDefault(r.ok === false ? r.message : null);
  }
}

/** Open a lesson (its content is a separate chunk) at a step; a URL may open it at any step. */
async function openLesson(id: string, step: number): Promise<void> {
  const meta = lessonById(id);
  lessonStore.setState({ status: 'loading' });
  if (!meta) {
    lessonStore.setState({ status: 'failed' });
    openDefault(`There is no lesson called “${id}”; the lesson list has every lesson.`);
    return;
  }
  let lesson;
  try {
    lesson = await meta.load();
  } catch (e) {
    lessonStore.setState({ status: 'failed' });
    openDefault(`The lesson “${meta.title}” could not be loaded (${e instanceof Error ? e.message : String(e)}).`);
    return;
  }
  lessonStore.getState().open(lesson);
  document.title = `${lesson.title} — SMMUv3 / pKVM explorer`;
  const s = explorerStore.getState();
  // Read-only embeds show any step; the full app asks a step's question before revealing it.
  if (!route.embed) {
    s.setStepGate(lessonGate);
    s.setPanel(panelAt(lesson, step));
  }
  const w = compareAt(lesson, step);
  if (w) s.setCompareWorkload(w);
  explorerStore.setState({ scenario: lesson.scenario, step });
  client?.start(lesson.scenario, step);
}

if (route.view === 'build') {
  // The builder reads a #s= scenario itself; it runs nothing.
  document.title = 'Scenario builder — SMMUv3 / pKVM explorer';
} else if (route.view === 'lessons') {
  document.title = 'Lessons — SMMUv3 / pKVM explorer';
} else if (route.lesson !== null) {
  void openLesson(route.lesson, route.step ?? 0);
} else {
  openFromHash();
}

window.addEventListener('hashchange', () => {
  // Our own Share button writes the hash with replaceState (no event); a pasted or edited link lands here.
  // Only a scenario link counts: an in-page anchor (the "Skip to the panels" link's #main) must not reload anything.
  if (!location.hash.startsWith('#s=')) return;
  if (route.view === 'explorer' && route.lesson === null) {
    openFromHash();
  } else if (route.view !== 'build') {
    // A share link pasted onto a lesson or the index: open it in the explorer.
    location.replace(`${location.pathname}${location.hash}`);
  }
});

// A handle for tests and the console: the stores and fault injection.
(window as unknown as { __explorer: unknown }).__explorer = { store: explorerStore, lesson: lessonStore, client, route };

createRoot(container).render(
  <StrictMode>
    {route.view === 'build' ? (
      <Suspense fallback={<p role="status" className="p-4">Loading the scenario builder…</p>}>
        <Builder />
      </Suspense>
    ) : (
      <App route={route} />
    )}
  </StrictMode>,
);
