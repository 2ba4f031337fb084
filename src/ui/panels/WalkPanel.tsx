/**
 * Translate an address and look at the walk: the request form, the 2-D nested
 * walk grid (S1 levels × S2 levels, played in order), the ordered list of every
 * read (its text equivalent) and the outcome.
 */
import { useEffect, useId, useMemo, useRef, useState, useSyncExternalStore, type FormEvent } from 'react';
import { useExplorer } from '../../state/explorer';
import type { WalkAccess, WalkOutcome, WalkRequestView, WalkView } from '../../scenario/view';
import { BitDiagram } from '../components/BitDiagram';
import {
  PURPOSE_LABEL,
  accessRegisterView,
  cellKey,
  getReducedMotion,
  getReducedMotionServer,
  isConfigFetch,
  lastReadNumber,
  normHex,
  playState,
  subscribeReducedMotion,
  validateWalkForm,
  walkGrid,
  type GridCol,
  type WalkFormErrors,
  type WalkFormState,
} from './tree-layout';

const FOCUS_RING = 'focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600 dark:focus-visible:outline-sky-400';
const BTN =
  'rounded border border-slate-300 bg-white px-2 py-1 text-sm text-slate-800 hover:bg-slate-100 disabled:cursor-not-allowed disabled:opacity-60 ' +
  'motion-safe:transition-colors motion-reduce:transition-none dark:border-slate-600 dark:bg-slate-900 dark:text-slate-100 dark:hover:bg-slate-800 ' +
  FOCUS_RING;
const PRIMARY =
  'rounded bg-sky-700 px-3 py-1 text-sm font-medium text-white hover:bg-sky-800 disabled:cursor-not-allowed disabled:opacity-60 ' +
  'motion-safe:transition-colors motion-reduce:transition-none dark:bg-sky-600 dark:hover:bg-sky-500 dark:text-slate-950 ' +
  FOCUS_RING;
const INPUT =
  'rounded border border-slate-400 bg-white px-2 py-1 text-sm text-slate-900 aria-[invalid=true]:border-red-700 ' +
  'dark:border-slate-500 dark:bg-slate-900 dark:text-slate-100 dark:aria-[invalid=true]:border-red-400 ' +
  FOCUS_RING;
const ERR = 'text-xs text-red-700 dark:text-red-300';
const MUTED = 'text-slate-700 dark:text-slate-300';

/** Delay between reads while playing. */
const PLAY_MS = 900;

function useReducedMotion(): boolean {
  return useSyncExternalStore(subscribeReducedMotion, getReducedMotion, getReducedMotionServer);
}

// ---------------------------------------------------------------------------

export function WalkPanel() {
  const headingId = useId();
  const snapshot = useExplorer((s) => s.snapshot);
  const setWalkCursor = useExplorer((s) => s.setWalkCursor);
  const walk = snapshot?.walk ?? null;

  // A new walk (e.g. after Translate) starts with every read shown.
  const shownWalk = useRef(walk);
  useEffect(() => {
    if (shownWalk.current === walk) return;
    shownWalk.current = walk;
    setWalkCursor(0);
  }, [walk, setWalkCursor]);

  return (
    <section aria-labelledby={headingId} className="space-y-4 text-slate-900 dark:text-slate-100">
      <h2 id={headingId} className="text-base font-semibold">
        Translation walk
      </h2>
      {snapshot === null ? (
        <p className={`text-sm ${MUTED}`}>No machine state yet.</p>
      ) : (
        <>
          <WalkForm request={walk?.request ?? null} />
          {walk ? (
            <WalkResult key={walkKey(walk)} walk={walk} />
          ) : (
            <p className={`text-sm ${MUTED}`}>
              This step is not a DMA access. Translate an address above to add one and see its walk.
            </p>
          )}
        </>
      )}
    </section>
  );
}

function walkKey(w: WalkView): string {
  const r = w.request;
  return `${r.sid}|${r.ssid ?? ''}|${r.iova}|${r.access}|${r.priv}|${w.accesses.length}|${w.outcome.kind}`;
}

// ---------------------------------------------------------------------------
// The request form

function formFrom(r: WalkRequestView | null): WalkFormState {
  if (!r) return { sid: '0', ssid: '', iova: '0x0', access: 'read', priv: false };
  return { sid: String(r.sid), ssid: r.ssid === undefined ? '' : String(r.ssid), iova: r.iova, access: r.access, priv: r.priv };
}

function requestKey(r: WalkRequestView | null): string {
  return r ? `${r.sid}|${r.ssid ?? ''}|${r.iova}|${r.access}|${r.priv}` : '';
}

function WalkForm({ request }: { request: WalkRequestView | null }) {
  const id = useId();
  const translate = useExplorer((s) => s.translate);
  const status = useExplorer((s) => s.status);
  const [form, setForm] = useState<WalkFormState>(() => formFrom(request));
  const [errors, setErrors] = useState<WalkFormErrors>({});
  const [sent, setSent] = useState<string | null>(null);

  // Prefill from the walk shown (when it changes).
  const rk = requestKey(request);
  const [prefilled, setPrefilled] = useState(rk);
  if (rk !== prefilled) {
    setPrefilled(rk);
    if (request) {
      setForm(formFrom(request));
      setErrors({});
    }
  }

  const set = <K extends keyof WalkFormState>(k: K, v: WalkFormState[K]) => {
    setForm((f) => ({ ...f, [k]: v }));
    if (k in errors) setErrors((e) => ({ ...e, [k]: undefined }));
  };

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    const { req, errors: errs } = validateWalkForm(form);
    setErrors(errs);
    if (!req) {
      setSent(null);
      return;
    }
    translate(req);
    setSent(`Translating ${req.iova} for SID ${req.sid}${req.ssid !== undefined ? ` SSID ${req.ssid}` : ''} (${req.access}${req.priv ? ', privileged' : ''})…`);
  };

  const busy = status === 'busy' || status === 'booting';
  const field = 'flex flex-col gap-1';
  const described = (k: keyof WalkFormErrors) => (errors[k] ? `${id}-${k}-err` : undefined);

  return (
    <form onSubmit={onSubmit} noValidate className="space-y-2" aria-describedby={`${id}-help`}>
      <p id={`${id}-help`} className={`text-sm ${MUTED}`}>
        A device access through the SMMU: the explorer appends it as a DMA step and shows its walk.
      </p>
      <div className="flex flex-wrap items-start gap-3">
        <div className={field}>
          <label htmlFor={`${id}-sid`} className="text-sm font-medium">
            StreamID (SID)
          </label>
          <input
            id={`${id}-sid`}
            className={`${INPUT} w-28`}
            inputMode="numeric"
            autoComplete="off"
            value={form.sid}
            onChange={(e) => set('sid', e.target.value)}
            aria-invalid={errors.sid !== undefined}
            aria-describedby={described('sid')}
          />
          {errors.sid && (
            <span id={`${id}-sid-err`} className={ERR}>
              {errors.sid}
            </span>
          )}
        </div>
        <div className={field}>
          <label htmlFor={`${id}-ssid`} className="text-sm font-medium">
            SubstreamID (SSID, optional)
          </label>
          <input
            id={`${id}-ssid`}
            className={`${INPUT} w-28`}
            inputMode="numeric"
            autoComplete="off"
            value={form.ssid}
            onChange={(e) => set('ssid', e.target.value)}
            aria-invalid={errors.ssid !== undefined}
            aria-describedby={described('ssid')}
          />
          {errors.ssid && (
            <span id={`${id}-ssid-err`} className={ERR}>
              {errors.ssid}
            </span>
          )}
        </div>
        <div className={field}>
          <label htmlFor={`${id}-iova`} className="text-sm font-medium">
            IOVA (hex)
          </label>
          <input
            id={`${id}-iova`}
            className={`${INPUT} w-48 font-mono`}
            spellCheck={false}
            autoComplete="off"
            value={form.iova}
            onChange={(e) => set('iova', e.target.value)}
            aria-invalid={errors.iova !== undefined}
            aria-describedby={described('iova')}
          />
          {errors.iova && (
            <span id={`${id}-iova-err`} className={ERR}>
              {errors.iova}
            </span>
          )}
        </div>
        <div className={field}>
          <label htmlFor={`${id}-access`} className="text-sm font-medium">
            Access
          </label>
          <select
            id={`${id}-access`}
            className={INPUT}
            value={form.access}
            onChange={(e) => set('access', e.target.value as WalkFormState['access'])}
          >
            <option value="read">read</option>
            <option value="write">write</option>
            <option value="exec">exec (instruction fetch)</option>
          </select>
        </div>
        <div className="flex items-center gap-2 self-end pb-1">
          <input
            id={`${id}-priv`}
            type="checkbox"
            className={`h-4 w-4 accent-sky-700 ${FOCUS_RING}`}
            checked={form.priv}
            onChange={(e) => set('priv', e.target.checked)}
          />
          <label htmlFor={`${id}-priv`} className="text-sm">
            Privileged
          </label>
        </div>
        <div className="self-end">
          <button type="submit" className={PRIMARY} disabled={busy}>
            Translate
          </button>
        </div>
      </div>
      <p role="status" className={`min-h-[1.25rem] text-xs ${MUTED}`}>
        {sent && busy ? sent : ''}
      </p>
    </form>
  );
}

// ---------------------------------------------------------------------------
// The walk

function WalkResult({ walk }: { walk: WalkView }) {
  const id = useId();
  const cursorRaw = useExplorer((s) => s.walkCursor);
  const setWalkCursor = useExplorer((s) => s.setWalkCursor);
  const reduced = useReducedMotion();
  const total = lastReadNumber(walk);
  const cursor = cursorRaw > total ? 0 : cursorRaw;
  const [playing, setPlaying] = useState(false);
  const [selected, setSelected] = useState<number | null>(null);
  const grid = useMemo(() => walkGrid(walk), [walk]);
  const accesses = useMemo(() => [...walk.accesses].sort((a, b) => a.n - b.n), [walk]);
  const configFetches = accesses.filter(isConfigFetch).length;

  // Autoplay: one read per tick (no animated transitions under prefers-reduced-motion).
  useEffect(() => {
    if (!playing) return;
    const t = setTimeout(() => {
      const next = cursor <= 0 ? 1 : cursor + 1;
      if (cursor >= total || next > total) setPlaying(false);
      else setWalkCursor(next);
    }, cursor <= 0 ? 0 : PLAY_MS);
    return () => clearTimeout(t);
  }, [playing, cursor, total, setWalkCursor]);

  const play = () => {
    if (playing) {
      setPlaying(false);
      return;
    }
    if (cursor === 0 || cursor >= total) setWalkCursor(1);
    setPlaying(true);
  };
  const step = (d: number) => {
    setPlaying(false);
    if (total === 0) return;
    if (cursor === 0) setWalkCursor(d > 0 ? 1 : total);
    else setWalkCursor(Math.max(1, Math.min(total, cursor + d)));
  };
  const showAll = () => {
    setPlaying(false);
    setWalkCursor(0);
  };

  const detailN = selected ?? (cursor > 0 ? cursor : null);
  const detail = detailN !== null ? accesses.find((a) => a.n === detailN) : undefined;
  const detailView = useMemo(() => (detail ? accessRegisterView(detail) : null), [detail]);
  const transition = reduced
    ? 'transition-none'
    : 'motion-safe:transition-[opacity,background-color] motion-safe:duration-300 motion-reduce:transition-none';

  return (
    <div className="space-y-4">
      <p className="text-sm">
        <span className="font-semibold">{`${walk.tableReads} table read${walk.tableReads === 1 ? '' : 's'}`}</span>
        {', '}
        {`${configFetches} configuration fetch${configFetches === 1 ? '' : 'es'}`} (STE / CD)
        {grid ? ` — a nested walk: ${grid.rows.length} S1 row${grid.rows.length === 1 ? '' : 's'} × ${grid.cols.length - 1} S2 level${grid.cols.length === 2 ? '' : 's'}.` : '.'}
      </p>

      <Outcome outcome={walk.outcome} />

      {total > 0 && (
        <div className="flex flex-wrap items-center gap-2" role="group" aria-label="Play the reads in order">
          <button type="button" className={BTN} onClick={play} aria-pressed={playing}>
            {playing ? 'Pause' : 'Play'}
          </button>
          <button type="button" className={BTN} onClick={() => step(-1)} disabled={cursor === 1}>
            Previous read
          </button>
          <button type="button" className={BTN} onClick={() => step(1)} disabled={cursor === total}>
            Next read
          </button>
          <button type="button" className={BTN} onClick={showAll} disabled={cursor === 0 && !playing}>
            Show all
          </button>
          <span role="status" className={`text-sm ${MUTED}`}>
            {cursor === 0 ? `All ${total} reads shown` : `Read ${cursor} of ${total}`}
          </span>
        </div>
      )}

      {grid && (
        <div className="overflow-x-auto">
          <table data-testid="walk-grid" className="border-collapse text-xs">
            <caption className={`mb-1 text-left text-sm ${MUTED}`}>
              Nested walk: each row locates one S1 table (the last row, the output address); each read of the S1 table address
              (an IPA) goes through the S2 levels left to right, then the S1 descriptor is read.
            </caption>
            <thead>
              <tr>
                <th scope="col" className="p-1 text-left font-semibold">
                  <span className="sr-only">S1 level</span>
                </th>
                {grid.cols.map((c) => (
                  <th key={String(c)} scope="col" className="p-1 text-left font-semibold">
                    {c === 's1' ? 'S1 descriptor' : `S2 L${c}`}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {grid.rows.map((r) => (
                <tr key={r}>
                  <th scope="row" className="p-1 pr-2 text-left font-semibold whitespace-nowrap">
                    {r === grid.outputRow ? 'Output' : `S1 L${r}`}
                  </th>
                  {grid.cols.map((c: GridCol) => {
                    const list = grid.cells.get(cellKey(r, c)) ?? [];
                    return (
                      <td key={String(c)} className="border border-slate-300 p-0.5 align-top dark:border-slate-700">
                        {list.length === 0 ? (
                          <span className="block min-w-[7rem] p-1 text-slate-600 dark:text-slate-400">
                            <span aria-hidden="true">—</span>
                            <span className="sr-only">no read</span>
                          </span>
                        ) : (
                          list.map((a) => (
                            <GridCell
                              key={a.n}
                              a={a}
                              state={playState(a.n, cursor)}
                              selected={a.n === detailN}
                              transition={transition}
                              onSelect={() => setSelected(a.n)}
                            />
                          ))
                        )}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <div className="grid gap-4 lg:grid-cols-[minmax(0,3fr)_minmax(0,2fr)]">
        <div>
          <h3 id={`${id}-list`} className="text-sm font-semibold">
            Every read, in order
          </h3>
          <ol aria-labelledby={`${id}-list`} className="mt-1 space-y-1">
            {accesses.map((a) => {
              const st = playState(a.n, cursor);
              const isSel = a.n === detailN;
              return (
                <li key={a.n} aria-current={st === 'current' ? 'step' : undefined}>
                  <button
                    type="button"
                    onClick={() => setSelected(a.n)}
                    aria-pressed={isSel}
                    className={
                      'w-full rounded border px-2 py-1 text-left text-xs ' +
                      FOCUS_RING +
                      ' ' +
                      transition +
                      ' ' +
                      stateClasses(st, isSel)
                    }
                  >
                    <span className="font-semibold">{a.n}.</span> {PURPOSE_LABEL[a.purpose] ?? a.purpose}
                    {a.stage !== 0 && ` · S${a.stage} L${a.level}`}
                    {a.kind && ` · ${a.kind}`} · <span className="font-mono">{normHex(a.addr)}</span> →{' '}
                    <span className="font-mono">{a.desc === null ? 'external abort' : a.desc}</span>
                    <span className="block text-slate-700 dark:text-slate-300">{a.text}</span>
                  </button>
                </li>
              );
            })}
          </ol>
        </div>
        <div className="rounded border border-slate-300 p-2 dark:border-slate-700">
          <h3 className="text-sm font-semibold">Read detail</h3>
          {detail && detailView ? (
            <BitDiagram view={detailView} headingLevel={4} />
          ) : (
            <p className={`text-xs ${MUTED}`}>Select a read (or step through them) to see its descriptor fields.</p>
          )}
        </div>
      </div>
    </div>
  );
}

function stateClasses(st: ReturnType<typeof playState>, selected: boolean): string {
  const sel = selected ? 'ring-2 ring-sky-600 dark:ring-sky-400 ' : '';
  switch (st) {
    case 'current':
      return sel + 'border-amber-600 bg-amber-100 text-slate-900 dark:border-amber-400 dark:bg-amber-900 dark:text-white';
    case 'future':
      // Dimmed without opacity, so that the text keeps AA contrast.
      return sel + 'border-dashed border-slate-300 bg-slate-100 text-slate-600 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-400';
    default:
      return sel + 'border-slate-300 bg-white text-slate-900 hover:bg-slate-50 dark:border-slate-700 dark:bg-slate-900 dark:text-slate-100 dark:hover:bg-slate-800';
  }
}

function GridCell({
  a,
  state,
  selected,
  transition,
  onSelect,
}: {
  a: WalkAccess;
  state: ReturnType<typeof playState>;
  selected: boolean;
  transition: string;
  onSelect: () => void;
}) {
  return (
    <button
      type="button"
      data-testid="walk-cell"
      data-n={a.n}
      data-state={state}
      onClick={onSelect}
      aria-pressed={selected}
      aria-current={state === 'current' ? 'step' : undefined}
      title={a.text}
      className={`block w-full min-w-[7rem] rounded border p-1 text-left ${FOCUS_RING} ${transition} ${stateClasses(state, selected)}`}
    >
      <span className="block font-semibold">#{a.n}</span>
      <span className="block font-mono">{normHex(a.addr)}</span>
      <span className="block font-mono">{a.desc === null ? 'abort' : normHex(a.desc)}</span>
    </button>
  );
}

function Outcome({ outcome: o }: { outcome: WalkOutcome }) {
  const box = 'rounded border p-2 text-sm';
  switch (o.kind) {
    case 'ok':
      return (
        <div className={`${box} border-emerald-700 bg-emerald-50 dark:border-emerald-400 dark:bg-emerald-950`}>
          <p>
            <span className="font-semibold">Translated:</span> PA <span className="font-mono">{o.pa}</span>
            {o.ipa && (
              <>
                {' '}
                (IPA <span className="font-mono">{o.ipa}</span>)
              </>
            )}
            , TLB {o.tlb}.
          </p>
        </div>
      );
    case 'bypass':
      return (
        <div className={`${box} border-slate-400 bg-slate-50 dark:border-slate-500 dark:bg-slate-900`}>
          <p>
            <span className="font-semibold">Bypass:</span> the access goes untranslated to PA{' '}
            <span className="font-mono">{o.pa}</span>.
          </p>
        </div>
      );
    case 'abort':
      return (
        <div className={`${box} border-red-700 bg-red-50 dark:border-red-400 dark:bg-red-950`}>
          <p>
            <span className="font-semibold">Aborted:</span> {o.reason}
          </p>
        </div>
      );
    case 'fault':
      return (
        <div className={`${box} space-y-2 border-red-700 bg-red-50 dark:border-red-400 dark:bg-red-950`}>
          <p>
            <span className="font-semibold">Fault {o.type}</span> (code <span className="font-mono">{o.code}</span>): {o.text}
          </p>
          {o.reason && <p className={MUTED}>{o.reason}</p>}
          <BitDiagram view={o.record} headingLevel={4} />
        </div>
      );
  }
}
