/**
 * The scenario builder (`?build`): a full page, lazy-loaded. Start from a
 * blank machine, a lesson or the explorer's scenario; edit the machine and
 * the steps through forms; the document is validated continuously against
 * the scenario schema (errors next to their field, the rest in a summary);
 * open it in the explorer, share it as a link, export or paste JSON. Work in
 * progress is kept in localStorage.
 */
import { useCallback, useEffect, useId, useMemo, useRef, useState, type ReactNode } from 'react';
import { LESSONS } from '../../lessons';
import { explorerStore, useExplorer } from '../../state/explorer';
import { decodeShare, encodeShare, parseImport } from '../../state/share';
import { BTN, BTN_PRIMARY, BTN_SMALL, FIELDSET, INPUT, IssuesContext, LEGEND, TextArea, TextField } from './fields';
import { MachineForm } from './MachineForm';
import { StepForm, StepTypeOptions } from './StepForm';
import { WorkloadForm } from './WorkloadForm';
import {
  MODES,
  blankDraft,
  deviceSids,
  docOf,
  fieldId,
  fieldPaths,
  initState,
  kindsForMode,
  loadStored,
  newStep,
  pathLabel,
  reduce,
  routeIssues,
  saveStored,
  stepContext,
  textOf,
  toDraft,
  type BuilderAction,
  type BuilderState,
  type Draft,
  type Issue,
  type Mode,
  type RawStep,
} from './model';
import { validateDoc } from './validate';
import { download, scenarioFileName as fileName } from '../download';
import { useRootAttributes } from '../root-attributes';

/** Steps shown expanded when a scenario is loaded with at most this many. */
const EXPAND_UP_TO = 30;

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/** The explorer URL that opens `doc` at step 0 (a share link: the hash holds the document). */
export function shareUrl(doc: unknown): string {
  return `${location.origin}${location.pathname}#${encodeShare({ scenario: doc, step: 0 })}`;
}

function Section({ id, title, children, className = '' }: { id: string; title: ReactNode; children: ReactNode; className?: string }) {
  return (
    <section aria-labelledby={id} className={`space-y-3 ${className}`}>
      <h2 id={id} className="text-[1.0625rem] font-semibold" tabIndex={-1}>
        {title}
      </h2>
      {children}
    </section>
  );
}

/** Focus (and reveal) the input of a path once the next render is on screen. */
function focusField(path: string): void {
  setTimeout(() => {
    const el = document.getElementById(fieldId(path));
    if (!el) return;
    el.scrollIntoView({ block: 'center' });
    el.focus();
  }, 0);
}

export function Builder() {
  const [state, setState] = useState<BuilderState>(() => initState(loadStored(storage()) ?? blankDraft('bare')));
  const dispatch = useCallback((a: BuilderAction) => setState((s) => reduce(s, a)), []);
  const draft = state.draft;
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(() => new Set(state.draft.steps.length > EXPAND_UP_TO ? state.ids : []));
  const [startMsg, setStartMsg] = useState<string | null>(null);
  useRootAttributes();

  useEffect(() => {
    const before = document.title;
    document.title = 'Scenario builder — SMMUv3 / pKVM explorer';
    return () => {
      document.title = before;
    };
  }, []);

  // Persist (debounced), and on leaving the page.
  const latest = useRef(draft);
  useEffect(() => {
    latest.current = draft;
    const t = setTimeout(() => saveStored(storage(), draft), 250);
    return () => clearTimeout(t);
  }, [draft]);
  useEffect(() => {
    const flush = () => saveStored(storage(), latest.current);
    window.addEventListener('pagehide', flush);
    return () => window.removeEventListener('pagehide', flush);
  }, []);

  // Continuous validation.
  const doc = useMemo(() => docOf(draft), [draft]);
  const validation = useMemo(() => validateDoc(doc), [doc]);
  const fields = useMemo(() => fieldPaths(draft), [draft]);
  const routed = useMemo(() => routeIssues(validation.issues, fields), [validation, fields]);

  const replace = (next: Draft, message: string) => {
    const s = reduce(state, { type: 'replace', draft: next });
    setState(s);
    setCollapsed(new Set(next.steps.length > EXPAND_UP_TO ? s.ids : []));
    setStartMsg(message);
  };

  // Per-step pickers (StepForm compares them by content, so unchanged steps skip rendering).
  const contexts = useMemo(() => draft.steps.map((_, i) => stepContext(draft, i)), [draft]);
  const devices = useMemo(() => deviceSids(draft.machine), [draft.machine]);

  const onStepChange = useCallback((index: number, step: RawStep) => dispatch({ type: 'updateStep', index, step }), [dispatch]);
  const onMove = useCallback((index: number, delta: -1 | 1) => dispatch({ type: 'moveStep', index, delta }), [dispatch]);
  const onDuplicate = useCallback((index: number) => dispatch({ type: 'duplicateStep', index }), [dispatch]);
  const onRemove = useCallback(
    (index: number) => {
      dispatch({ type: 'removeStep', index });
      setTimeout(() => document.getElementById('builder-steps')?.focus(), 0);
    },
    [dispatch],
  );
  const idsRef = useRef(state.ids);
  useEffect(() => {
    idsRef.current = state.ids;
  }, [state.ids]);
  const onToggle = useCallback((index: number) => {
    const id = idsRef.current[index];
    setCollapsed((c) => {
      const n = new Set(c);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  }, []);

  const jump = (path: string) => {
    const m = /^steps\[(\d+)\]/.exec(path);
    if (m) {
      const id = state.ids[Number(m[1])];
      if (id && collapsed.has(id)) {
        const n = new Set(collapsed);
        n.delete(id);
        setCollapsed(n);
      }
    }
    focusField(fields.has(path) ? path : (m?.[0] ? `${m[0]}.do` : path));
  };

  const fieldIssues: Issue[] = [];
  for (const list of routed.byField.values()) fieldIssues.push(...list);

  return (
    <IssuesContext.Provider value={routed.byField}>
      <div className="flex min-h-screen flex-col bg-white text-slate-900 dark:bg-slate-950 dark:text-slate-100">
        <a href="#builder-steps" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2 dark:focus:bg-slate-900">
          Skip to the steps
        </a>
        <header className="border-b border-slate-300 bg-slate-50 dark:border-slate-700 dark:bg-slate-900">
          <div className="flex flex-wrap items-center gap-3 px-4 py-2">
            <h1 className="mr-auto text-[1.125rem] font-semibold tracking-tight">
              Scenario builder <span className="text-[0.9375rem] font-normal text-slate-700 dark:text-slate-300">SMMUv3 / pKVM explorer</span>
            </h1>
            <a href={location.pathname} className="text-[0.875rem] text-sky-800 underline hover:no-underline focus-visible:outline-2 focus-visible:outline-sky-600 dark:text-sky-300">
              Back to the explorer
            </a>
          </div>
        </header>
        <main id="main" className="grid w-full flex-1 grid-cols-1 gap-6 px-4 py-4 lg:grid-cols-[minmax(0,1fr)_26rem]">
          <div className="min-w-0 space-y-6">
            <StartSection draft={draft} previous={state.previous} onReplace={replace} onUndo={() => { dispatch({ type: 'undoReplace' }); setStartMsg('Restored your previous scenario.'); }} message={startMsg} />

            <Section id="builder-details" title="Title and description">
              <TextField path="title" label="Title" kind="text" value={draft.title ?? ''} onChange={(v) => dispatch({ type: 'setMeta', title: textOf(v) })} />
              <TextArea path="description" label="Description" rows={3} value={draft.description ?? ''} onChange={(v) => dispatch({ type: 'setMeta', description: v })} />
            </Section>

            <MachineForm mode={draft.mode} machine={draft.machine} onMode={(mode) => dispatch({ type: 'setMode', mode })} onChange={(machine) => dispatch({ type: 'setMachine', machine })} />

            <section aria-labelledby="builder-steps" className="space-y-3">
              <h2 id="builder-steps" tabIndex={-1} className="text-[1.0625rem] font-semibold">
                Steps <span className="font-normal text-slate-700 dark:text-slate-300">({draft.steps.length})</span>
              </h2>
              {draft.steps.length === 0 && <p className="text-[0.875rem] text-slate-700 dark:text-slate-300">No steps yet: add one below, or a whole workload.</p>}
              <ol className="space-y-3">
                {draft.steps.map((s, i) => (
                  <StepForm
                    key={state.ids[i]}
                    index={i}
                    count={draft.steps.length}
                    step={s}
                    mode={draft.mode}
                    ctx={contexts[i]}
                    devices={devices}
                    expanded={!collapsed.has(state.ids[i])}
                    onToggle={onToggle}
                    onChange={onStepChange}
                    onMove={onMove}
                    onDuplicate={onDuplicate}
                    onRemove={onRemove}
                  />
                ))}
              </ol>
              <AddStep mode={draft.mode} onAdd={(kind) => {
                const step = newStep(kind, stepContext(draft));
                dispatch({ type: 'addStep', step });
                focusField(`steps[${draft.steps.length}].do`);
              }} />
              <WorkloadForm draft={draft} onAppend={(steps) => dispatch({ type: 'appendSteps', steps })} />
            </section>
          </div>

          <aside aria-label="Check and share" className="min-w-0 space-y-4 lg:sticky lg:top-0 lg:max-h-screen lg:overflow-y-auto lg:pb-4">
            <CheckPanel draft={draft} doc={doc} ok={validation.ok} summary={routed.summary} fieldIssues={fieldIssues} onJump={jump} />
            <JsonPanel doc={doc} onLoad={(d) => replace(d, 'Loaded the pasted JSON.')} />
          </aside>
        </main>
      </div>
    </IssuesContext.Provider>
  );
}

export default Builder;

// ---------------------------------------------------------------------------

function scenarioInHash(): unknown {
  const r = decodeShare(location.hash);
  return r.ok === true ? r.state.scenario : null;
}

function titleOf(doc: unknown): string {
  return typeof doc === 'object' && doc !== null && typeof (doc as { title?: unknown }).title === 'string' ? (doc as { title: string }).title : '';
}

function StartSection({ draft, previous, onReplace, onUndo, message }: { draft: Draft; previous: Draft | null; onReplace(d: Draft, message: string): void; onUndo(): void; message: string | null }) {
  const id = useId();
  const [mode, setMode] = useState<Mode>(draft.mode);
  const [lesson, setLesson] = useState(LESSONS[0]?.id ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // The explorer's scenario: the one open in this page, else the one a `?build#s=…` link carries.
  const [hashScenario, setHashScenario] = useState(scenarioInHash);
  useEffect(() => {
    const onHash = () => setHashScenario(scenarioInHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const current = useExplorer((s) => s.scenario) ?? hashScenario;
  const currentTitle = useExplorer((s) => s.scenarioTitle) || titleOf(current);

  const fromLesson = async () => {
    const meta = LESSONS.find((l) => l.id === lesson);
    if (!meta) return;
    setBusy(true);
    setError(null);
    try {
      const l = await meta.load();
      const r = toDraft(l.scenario);
      if ('error' in r) setError(`The lesson’s scenario cannot be edited: ${r.error}`);
      else onReplace(r.draft, `Started from the lesson “${meta.title}”.`);
    } catch (e) {
      setError(`The lesson could not be loaded: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      setBusy(false);
    }
  };

  const fromCurrent = () => {
    const r = toDraft(current);
    if ('error' in r) setError(`The explorer’s scenario cannot be edited: ${r.error}`);
    else {
      setError(null);
      onReplace(r.draft, 'Started from the explorer’s current scenario.');
    }
  };

  return (
    <Section id="builder-start" title="Start from">
      <div className="grid grid-cols-1 gap-3 md:grid-cols-3">
        <fieldset className={FIELDSET}>
          <legend className={LEGEND}>A blank machine</legend>
          <label htmlFor={`${id}-mode`} className="block text-[0.8125rem] font-medium">
            Mode
          </label>
          <select id={`${id}-mode`} className={INPUT} value={mode} onChange={(e) => setMode(e.target.value as Mode)}>
            {MODES.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
          <button type="button" className={`${BTN} mt-2`} onClick={() => { setError(null); onReplace(blankDraft(mode), `Started a blank ${mode} machine.`); }}>
            Start a blank machine
          </button>
        </fieldset>
        <fieldset className={FIELDSET}>
          <legend className={LEGEND}>A lesson</legend>
          <label htmlFor={`${id}-lesson`} className="block text-[0.8125rem] font-medium">
            Lesson
          </label>
          <select id={`${id}-lesson`} className={INPUT} value={lesson} onChange={(e) => setLesson(e.target.value)}>
            {LESSONS.map((l) => (
              <option key={l.id} value={l.id}>
                {l.title}
              </option>
            ))}
          </select>
          <button type="button" className={`${BTN} mt-2`} disabled={busy || !lesson} onClick={() => void fromLesson()}>
            {busy ? 'Loading…' : 'Start from the lesson'}
          </button>
        </fieldset>
        <fieldset className={FIELDSET}>
          <legend className={LEGEND}>The explorer’s scenario</legend>
          <p className="text-[0.8125rem] text-slate-700 dark:text-slate-300">{current ? currentTitle || 'The scenario open in the explorer.' : 'No scenario is open in the explorer.'}</p>
          <button type="button" className={`${BTN} mt-2`} disabled={!current} onClick={fromCurrent}>
            Start from the current scenario
          </button>
        </fieldset>
      </div>
      {error && (
        <p role="alert" className="text-[0.875rem] text-red-700 dark:text-red-300">
          {error}
        </p>
      )}
      <div role="status" className="flex flex-wrap items-center gap-2 text-[0.875rem]">
        {message && <span>{message}</span>}
        {message && previous && (
          <button type="button" className={BTN_SMALL} onClick={onUndo}>
            Undo
          </button>
        )}
      </div>
    </Section>
  );
}

function AddStep({ mode, onAdd }: { mode: Mode; onAdd(kind: string): void }) {
  const id = useId();
  const first = kindsForMode(mode).valid[0]?.id ?? 'dma';
  const [kind, setKind] = useState(first);
  const [lastMode, setLastMode] = useState(mode);
  if (lastMode !== mode) {
    setLastMode(mode);
    setKind(first);
  }
  return (
    <form
      className="flex flex-wrap items-end gap-2"
      onSubmit={(e) => {
        e.preventDefault();
        onAdd(kind);
      }}
    >
      <div>
        <label htmlFor={`${id}-kind`} className="block text-[0.8125rem] font-medium">
          New step type
        </label>
        <select id={`${id}-kind`} className={INPUT} value={kind} onChange={(e) => setKind(e.target.value)}>
          <StepTypeOptions mode={mode} />
        </select>
      </div>
      <button type="submit" className={BTN}>
        Add step
      </button>
    </form>
  );
}

function CheckPanel({ draft, doc, ok, summary, fieldIssues, onJump }: { draft: Draft; doc: unknown; ok: boolean; summary: Issue[]; fieldIssues: Issue[]; onJump(path: string): void }) {
  const [shared, setShared] = useState<{ doc: unknown; url: string; copied: boolean } | null>(null);
  const shareShown = shared && shared.doc === doc ? shared : null;
  const n = summary.length + fieldIssues.length;

  const open = () => {
    explorerStore.getState().loadScenario(doc, 0);
    location.assign(shareUrl(doc));
  };
  const share = () => {
    const url = shareUrl(doc);
    setShared({ doc, url, copied: false });
    navigator.clipboard?.writeText(url).then(
      () => setShared((s) => (s && s.url === url ? { ...s, copied: true } : s)),
      () => undefined,
    );
  };

  return (
    <Section id="builder-check" title="Check and share">
      <p className={`text-[0.875rem] font-medium ${ok ? 'text-emerald-800 dark:text-emerald-300' : 'text-red-700 dark:text-red-300'}`} data-testid="builder-validity">
        {ok ? `✓ Valid scenario: ${draft.steps.length} step${draft.steps.length === 1 ? '' : 's'}, mode ${draft.mode}.` : `✗ ${n} problem${n === 1 ? '' : 's'} to fix before it can be opened or shared.`}
      </p>
      {summary.length > 0 && (
        <div role="alert" className="rounded-md border border-red-700 bg-red-50 p-2 text-[0.875rem] text-red-950 dark:border-red-300 dark:bg-red-950 dark:text-red-100" data-testid="builder-summary">
          <p className="font-semibold">The scenario as a whole:</p>
          <ul className="ml-4 list-disc">
            {summary.map((is, i) => (
              <li key={i}>
                <span className="font-mono">{pathLabel(is.path, draft)}</span>: {is.message}
              </li>
            ))}
          </ul>
        </div>
      )}
      {fieldIssues.length > 0 && (
        <ul className="space-y-1 text-[0.8125rem]" aria-label="Fields to fix">
          {fieldIssues.slice(0, 50).map((is, i) => (
            <li key={i}>
              <button type="button" className="text-left text-red-700 underline hover:no-underline focus-visible:outline-2 focus-visible:outline-sky-600 dark:text-red-300" onClick={() => onJump(is.path)}>
                {pathLabel(is.path, draft)}
              </button>
              : {is.message}
            </li>
          ))}
          {fieldIssues.length > 50 && <li>…and {fieldIssues.length - 50} more.</li>}
        </ul>
      )}
      <div className="flex flex-wrap gap-2">
        <button type="button" className={BTN_PRIMARY} disabled={!ok} onClick={open}>
          Open in the explorer
        </button>
        <button type="button" className={BTN} disabled={!ok} onClick={share}>
          Share link
        </button>
        <button type="button" className={BTN} onClick={() => download(fileName(draft.title), JSON.stringify(doc, null, 2) + '\n')}>
          Export JSON
        </button>
      </div>
      {shareShown && (
        <div className="space-y-1">
          <label htmlFor="builder-share-url" className="block text-[0.8125rem] font-medium">
            Share link {shareShown.copied ? '(copied to the clipboard)' : ''}
          </label>
          <input id="builder-share-url" readOnly value={shareShown.url} data-testid="builder-share-url" className={`${INPUT} font-mono text-[0.75rem]`} onFocus={(e) => e.currentTarget.select()} />
          <p className="text-[0.75rem] text-slate-700 dark:text-slate-300">The whole scenario is in the link (after #); nothing is sent to a server.</p>
        </div>
      )}
    </Section>
  );
}

function JsonPanel({ doc, onLoad }: { doc: unknown; onLoad(d: Draft): void }) {
  const id = useId();
  const [paste, setPaste] = useState('');
  const [error, setError] = useState<string | null>(null);
  const json = useMemo(() => JSON.stringify(doc, null, 2), [doc]);
  const load = () => {
    if (paste.trim() === '') {
      setError('Paste a scenario’s JSON first.');
      return;
    }
    const r = parseImport(paste);
    if (r.ok !== true) {
      setError(r.ok === false ? r.message : 'Nothing to load.');
      return;
    }
    const d = toDraft(r.state.scenario);
    if ('error' in d) {
      setError(d.error);
      return;
    }
    setError(null);
    setPaste('');
    onLoad(d.draft);
  };
  return (
    <Section id="builder-json" title="JSON">
      <div>
        <label htmlFor={`${id}-out`} className="block text-[0.8125rem] font-medium">
          The scenario as JSON (read-only)
        </label>
        <textarea id={`${id}-out`} readOnly rows={12} value={json} className={`${INPUT} font-mono text-[0.75rem]`} data-testid="builder-json" />
      </div>
      <div>
        <label htmlFor={`${id}-in`} className="block text-[0.8125rem] font-medium">
          Paste a scenario (or a share envelope) to edit it
        </label>
        <textarea
          id={`${id}-in`}
          rows={4}
          value={paste}
          onChange={(e) => {
            setPaste(e.target.value);
            setError(null);
          }}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${id}-in-err` : undefined}
          className={`${INPUT} font-mono text-[0.75rem]`}
        />
        {error && (
          <p id={`${id}-in-err`} role="alert" className="mt-0.5 text-[0.8125rem] text-red-700 dark:text-red-300">
            {error}
          </p>
        )}
        <button type="button" className={`${BTN} mt-2`} onClick={load}>
          Load JSON
        </button>
      </div>
    </Section>
  );
}
