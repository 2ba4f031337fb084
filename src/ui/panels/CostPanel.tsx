/**
 * The cost comparison: a workload and cost parameters, a Run that sends them
 * to the Worker (progress, Cancel), and the results as charts and a table.
 * Editing a cost parameter re-costs the stored counts at once (no re-run).
 *
 * Lazy-loaded from App (default export). Imports no emulator code: the
 * parameter table, the schema and the re-costing arithmetic come from small
 * modules under src/scenario that only depend on the cost model and zod.
 */
import { useId, useMemo, useRef, useState, type ReactNode } from 'react';
import { useExplorer } from '../../state/explorer';
import { COST_PARAM_INFO, type CostParamInfo } from '../../scenario/cost-params';
import { CompareWorkloadSchema } from '../../scenario/compare-schema';
import { recost } from '../../scenario/recost';
import type { CompareDesignResult, CompareResult, CompareWorkload, DesignNameView } from '../../scenario/view';
import { ExportButtons } from '../components/ExportButtons';
import { type BarGroup, DESIGN_STYLE, DesignSwatch, GroupedBarChart, LineChart, fmtCount, fmtUs } from './charts';

const INPUT =
  'w-full rounded border border-slate-400 bg-white px-2 py-1 text-sm text-slate-900 ' +
  'focus-visible:outline-2 focus-visible:outline-offset-1 focus-visible:outline-sky-600 ' +
  'aria-[invalid=true]:border-red-700 dark:border-slate-500 dark:bg-slate-900 dark:text-slate-100 dark:aria-[invalid=true]:border-red-400';
const BTN =
  'rounded border px-3 py-1.5 text-sm font-medium focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600 ' +
  'disabled:cursor-not-allowed disabled:opacity-60 motion-safe:transition-colors motion-reduce:transition-none';
const BTN_PRIMARY = `${BTN} border-sky-800 bg-sky-700 text-white hover:bg-sky-800 dark:border-sky-300 dark:bg-sky-300 dark:text-slate-950 dark:hover:bg-sky-200`;
const BTN_PLAIN = `${BTN} border-slate-400 bg-white text-slate-900 hover:bg-slate-100 dark:border-slate-500 dark:bg-slate-900 dark:text-slate-100 dark:hover:bg-slate-800`;
const ERR = 'text-xs text-red-700 dark:text-red-300';
const HINT = 'text-xs text-slate-600 dark:text-slate-300';

const DESIGN_TITLE: Record<DesignNameView, string> = {
  kernel: 'Kernel driver (no protection)',
  paravirt: 'Paravirt I/O page tables',
  nested: 'Nested trap-and-emulate',
  identity: 'Pinned identity S2',
};

// ---------------------------------------------------------------------------
// Workload form

type NumField = Exclude<keyof CompareWorkload, 'kind' | 'pattern'>;

interface FieldInfo {
  name: NumField;
  label: string;
  hint: string;
  /** Shown value = bytes / scale (buffer size in KiB). */
  scale?: number;
  min: number;
  max: number;
  step: number;
  /** Only meaningful for these kinds. */
  kinds?: CompareWorkload['kind'][];
}

const FIELDS: FieldInfo[] = [
  { name: 'requests', label: 'Requests', hint: 'DMA requests to run on each design (each one buffer’s worth of accesses).', min: 1, max: 2_000_000, step: 1 },
  { name: 'buffers', label: 'Buffers', hint: 'Buffers (ring slots) in use.', min: 1, max: 65_536, step: 1 },
  { name: 'bufferSize', label: 'Buffer size (KiB)', hint: 'A multiple of 4 KiB, at most 64 MiB.', scale: 1024, min: 4, max: 65_536, step: 4, kinds: ['static', 'dynamic'] },
  { name: 'accessesPerRequest', label: 'Accesses per request', hint: 'Device accesses per request (each one translation).', min: 0, max: 1024, step: 1, kinds: ['static', 'dynamic'] },
  { name: 'accessSize', label: 'Access size (bytes)', hint: 'Bytes moved by each device access.', min: 1, max: 67_108_864, step: 1, kinds: ['static', 'dynamic'] },
  { name: 'batch', label: 'Unmap batch', hint: 'Unmaps deferred and flushed together (1 = no batching).', min: 1, max: 4096, step: 1, kinds: ['dynamic', 'sg'] },
  { name: 'sgPages', label: 'Pages per scatter-gather request', hint: 'Discontiguous 4 KiB pages mapped per request.', min: 1, max: 512, step: 1, kinds: ['sg'] },
  { name: 'seed', label: 'Seed', hint: 'Random seed (runs are deterministic).', min: 0, max: 4_294_967_295, step: 1 },
];

type Drafts = Record<NumField, string>;

function toDrafts(w: CompareWorkload): Drafts {
  const d = {} as Drafts;
  for (const f of FIELDS) d[f.name] = String(w[f.name] / (f.scale ?? 1));
  return d;
}

function fromDrafts(kind: CompareWorkload['kind'], pattern: CompareWorkload['pattern'], d: Drafts): { workload: CompareWorkload; errors: Partial<Record<keyof CompareWorkload, string>> } {
  const errors: Partial<Record<keyof CompareWorkload, string>> = {};
  const w = { kind, pattern } as CompareWorkload;
  for (const f of FIELDS) {
    const s = d[f.name].trim();
    const n = s === '' ? Number.NaN : Number(s);
    if (!Number.isFinite(n)) errors[f.name] = 'Enter a number.';
    w[f.name] = Math.round(n * (f.scale ?? 1) * 1e6) / 1e6;
  }
  const r = CompareWorkloadSchema.safeParse(w);
  if (!r.success) {
    for (const i of r.error.issues) {
      const k = i.path[0] as keyof CompareWorkload | undefined;
      if (k && !errors[k]) errors[k] = i.message.charAt(0).toUpperCase() + i.message.slice(1) + (i.message.endsWith('.') ? '' : '.');
    }
  }
  return { workload: w, errors };
}

function Field({ id, label, hint, error, children }: { id: string; label: string; hint: string; error?: string; children: (describedBy: string) => ReactNode }) {
  const hintId = `${id}-hint`;
  const errId = `${id}-err`;
  return (
    <div className="space-y-0.5">
      <label htmlFor={id} className="block text-sm font-medium">
        {label}
      </label>
      {children(error ? `${hintId} ${errId}` : hintId)}
      <p id={hintId} className={HINT}>
        {hint}
      </p>
      {error && (
        <p id={errId} className={ERR}>
          {error}
        </p>
      )}
    </div>
  );
}

function WorkloadForm({ uid, onValidity }: { uid: string; onValidity: (valid: boolean) => void }) {
  const workload = useExplorer((s) => s.compareWorkload);
  const setWorkload = useExplorer((s) => s.setCompareWorkload);
  const [kind, setKind] = useState(workload.kind);
  const [pattern, setPattern] = useState(workload.pattern);
  const [drafts, setDrafts] = useState<Drafts>(() => toDrafts(workload));
  const { errors } = useMemo(() => fromDrafts(kind, pattern, drafts), [kind, pattern, drafts]);

  const update = (k: CompareWorkload['kind'], p: CompareWorkload['pattern'], d: Drafts) => {
    setKind(k);
    setPattern(p);
    setDrafts(d);
    const r = fromDrafts(k, p, d);
    const ok = Object.keys(r.errors).length === 0;
    onValidity(ok);
    if (ok) setWorkload(r.workload);
  };

  return (
    <fieldset className="space-y-3 rounded-md border border-slate-300 p-3 dark:border-slate-600">
      <legend className="px-1 text-sm font-semibold">Workload</legend>
      <div className="grid grid-cols-1 gap-3 sm:grid-cols-2">
        <Field id={`${uid}-kind`} label="Kind" hint="static: map once, DMA for ever; dynamic: map → DMA → unmap per buffer; sg: scatter-gather.">
          {(db) => (
            <select id={`${uid}-kind`} className={INPUT} value={kind} aria-describedby={db} onChange={(e) => update(e.target.value as CompareWorkload['kind'], pattern, drafts)}>
              <option value="static">static</option>
              <option value="dynamic">dynamic</option>
              <option value="sg">scatter-gather (sg)</option>
            </select>
          )}
        </Field>
        <Field id={`${uid}-pattern`} label="Access pattern" hint="Which buffer each request uses and where inside it the device accesses (IOTLB behaviour).">
          {(db) => (
            <select id={`${uid}-pattern`} className={INPUT} value={pattern} aria-describedby={db} onChange={(e) => update(kind, e.target.value as CompareWorkload['pattern'], drafts)}>
              <option value="sequential">sequential</option>
              <option value="random">random</option>
            </select>
          )}
        </Field>
        {FIELDS.map((f) => {
          const id = `${uid}-${f.name}`;
          const unused = f.kinds !== undefined && !f.kinds.includes(kind);
          return (
            <Field key={f.name} id={id} label={f.label} hint={unused ? `${f.hint} (Not used by ${kind} workloads.)` : f.hint} error={errors[f.name]}>
              {(db) => (
                <input
                  id={id}
                  type="number"
                  inputMode="numeric"
                  className={INPUT}
                  min={f.min}
                  max={f.max}
                  step={f.step}
                  value={drafts[f.name]}
                  aria-invalid={errors[f.name] ? true : undefined}
                  aria-describedby={db}
                  onChange={(e) => update(kind, pattern, { ...drafts, [f.name]: e.target.value })}
                />
              )}
            </Field>
          );
        })}
      </div>
    </fieldset>
  );
}

// ---------------------------------------------------------------------------
// Cost parameters

function ParamInput({ info, uid }: { info: CostParamInfo; uid: string }) {
  const value = useExplorer((s) => s.compareParams[info.name]);
  const setParam = useExplorer((s) => s.setCompareParam);
  const current = value ?? info.default;
  const [draft, setDraft] = useState<string | null>(null);
  const shown = draft ?? String(current);
  const n = Number(shown);
  const error = shown.trim() === '' || !Number.isFinite(n) ? 'Enter a number.' : n < 0 ? 'Must be 0 or more.' : undefined;
  const id = `${uid}-p-${info.name}`;
  const changed = current !== info.default;
  return (
    <Field
      id={id}
      label={`${info.label} (${info.unit})`}
      hint={`${info.source === 'fitted' ? 'Fitted to the Morello measurement' : 'Assumption'} · default ${info.default}${changed ? ' · changed' : ''}. ${info.description}`}
      error={error}
    >
      {(db) => (
        <div className="flex items-center gap-2">
          <input
            id={id}
            type="number"
            inputMode="decimal"
            step="any"
            min={0}
            className={INPUT}
            value={shown}
            aria-invalid={error ? true : undefined}
            aria-describedby={db}
            onChange={(e) => {
              const s = e.target.value;
              const v = Number(s);
              if (s.trim() !== '' && Number.isFinite(v) && v >= 0) {
                setParam(info.name, v);
                setDraft(String(v) === s ? null : s);
              } else setDraft(s);
            }}
            onBlur={() => {
              if (!error) setDraft(null);
            }}
          />
          <span
            className={`shrink-0 rounded px-1.5 py-0.5 text-xs font-medium ${
              info.source === 'fitted' ? 'bg-emerald-100 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-100' : 'bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100'
            }`}
          >
            {info.source}
          </span>
        </div>
      )}
    </Field>
  );
}

function ParamsForm({ uid }: { uid: string }) {
  const params = useExplorer((s) => s.compareParams);
  const setParam = useExplorer((s) => s.setCompareParam);
  const [resetKey, setResetKey] = useState(0);
  const changed = COST_PARAM_INFO.some((p) => params[p.name] !== undefined && params[p.name] !== p.default);
  return (
    <fieldset className="space-y-3 rounded-md border border-slate-300 p-3 dark:border-slate-600">
      <legend className="px-1 text-sm font-semibold">Cost parameters</legend>
      <p className={HINT}>
        Counts come from the emulation; only these per-event times are parameters. “fitted” values reproduce the one published measurement (pKVM RFC v2 on Arm Morello,
        dma_map_benchmark); “assumption” values are the model’s guesses. Changing one re-costs the results at once.
      </p>
      <div className="grid grid-cols-1 gap-3 sm:grid-cols-2" key={resetKey}>
        {COST_PARAM_INFO.map((p) => (
          <ParamInput key={p.name} info={p} uid={uid} />
        ))}
      </div>
      <button
        type="button"
        className={BTN_PLAIN}
        disabled={!changed}
        onClick={() => {
          for (const p of COST_PARAM_INFO) if (params[p.name] !== undefined) setParam(p.name, p.default);
          setResetKey((k) => k + 1);
        }}
      >
        Reset parameters to defaults
      </button>
    </fieldset>
  );
}

// ---------------------------------------------------------------------------
// Run, progress

function RunControls({ valid }: { valid: boolean }) {
  const compare = useExplorer((s) => s.compare);
  const workerStatus = useExplorer((s) => s.status);
  const run = useExplorer((s) => s.runCompare);
  const cancel = useExplorer((s) => s.cancelCompare);
  const running = compare.status === 'running';
  const p = compare.progress;
  const pct = p && p.total > 0 ? Math.min(100, Math.round((100 * p.done) / p.total)) : 0;
  const progressText = p ? `${p.design}: ${fmtCount(p.done)} of ${fmtCount(p.total)} requests (all designs)` : 'starting…';
  let status: string;
  if (workerStatus === 'crashed') status = 'The emulator stopped; restart it to run the comparison.';
  else if (!valid && !running) status = 'Fix the workload fields marked invalid to run the comparison.';
  else if (running) status = `Running the comparison (${p?.design ?? 'starting'}).`;
  else if (compare.status === 'done') status = 'Comparison done.';
  else if (compare.status === 'cancelled') status = 'Cancelled.';
  else if (compare.status === 'error') status = `Error: ${compare.error ?? 'the comparison failed'}`;
  else status = 'Not run yet: set a workload and press Run.';
  return (
    <div className="space-y-2">
      <div className="flex flex-wrap items-center gap-2">
        <button type="button" className={BTN_PRIMARY} disabled={running || !valid || workerStatus === 'crashed'} onClick={run}>
          Run comparison
        </button>
        <button type="button" className={BTN_PLAIN} disabled={!running} onClick={cancel}>
          Cancel
        </button>
        <p role="status" className={`text-sm ${compare.status === 'error' ? 'text-red-700 dark:text-red-300' : 'text-slate-700 dark:text-slate-300'}`}>
          {status}
        </p>
      </div>
      {running && (
        <div className="space-y-1">
          <div
            role="progressbar"
            aria-label="Comparison progress"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={pct}
            aria-valuetext={`${pct}% — ${progressText}`}
            className="h-3 w-full overflow-hidden rounded border border-slate-500 bg-slate-100 dark:border-slate-400 dark:bg-slate-800"
          >
            <div className="h-full bg-sky-700 motion-safe:transition-[width] dark:bg-sky-300" style={{ width: `${pct}%` }} />
          </div>
          <p className={HINT} aria-hidden="true">
            {pct}% — {progressText}
          </p>
        </div>
      )}
    </div>
  );
}

// ---------------------------------------------------------------------------
// Results

/** Modelled-time categories: the cost model's parts, grouped. */
const TIME_GROUPS: Array<[string, string[]]> = [
  ['Host DMA API + PTEs', ['DMA API calls', 'PTE writes']],
  ['Hypervisor', ['hypercalls', 'MMIO traps', 'command emulation', 'hyp pin (ownership checks)', 'hyp unpin']],
  ['Invalidation', ['commands (TLBI, CFGI, ...)', 'CMD_SYNC waits']],
  ['Translation', ['table-walk reads', 'IOTLB hits']],
  ['DMA payload', ['DMA payload']],
];

const COUNT_ROWS: Array<[string, string]> = [
  ['hypercalls', 'Hypercalls'],
  ['mmioTraps', 'MMIO traps'],
  ['commandsEmulated', 'Commands emulated'],
  ['commands', 'Commands (TLBI, CFGI…)'],
  ['syncs', 'CMD_SYNCs'],
  ['walkReads', 'Table-walk reads'],
  ['iotlbMisses', 'IOTLB misses'],
  ['ptes', 'PTEs written'],
];

const PROPERTY_ROWS: Array<[string, string]> = [
  ['hostIsolation', 'Host isolation (host devices cannot reach hyp/guest memory… or the host’s own)'],
  ['guestIsolation', 'Guest isolation'],
  ['hostIovaSpace', 'Host IOVA space'],
  ['svaPossible', 'SVA possible'],
  ['noPinningNeeded', 'No pinning needed'],
];

function fmtBytes(hexStr: string): string {
  let b: bigint;
  try {
    b = BigInt(hexStr);
  } catch {
    return hexStr;
  }
  if (b === 0n) return '0 (0x0)';
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(b);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(2)} ${units[u]} (${hexStr})`;
}

function perRequestGroups(designs: CompareDesignResult[]): BarGroup[] {
  const groups: BarGroup[] = [];
  for (const [label, parts] of TIME_GROUPS) {
    const values: BarGroup['values'] = {};
    let any = false;
    for (const d of designs) {
      const v = parts.reduce((a, p) => a + (d.parts[p] ?? 0), 0) / Math.max(1, d.requests);
      values[d.design] = v;
      if (v > 0) any = true;
    }
    if (any) groups.push({ label, values });
  }
  groups.push({ label: 'Total', values: Object.fromEntries(designs.map((d) => [d.design, d.perRequestUs])) });
  return groups;
}

function countGroups(designs: CompareDesignResult[]): BarGroup[] {
  return COUNT_ROWS.map(([k, label]) => ({ label, values: Object.fromEntries(designs.map((d) => [d.design, d.counts[k] ?? 0])) }));
}

function describeWorkload(w: CompareWorkload): string {
  const size = w.kind === 'sg' ? `${w.sgPages} × 4 KiB pages` : `${fmtCount(w.bufferSize / 1024)} KiB`;
  return `${w.kind}, ${fmtCount(w.requests)} requests over ${fmtCount(w.buffers)} buffers of ${size}, ${w.pattern}, batch ${w.batch}, seed ${w.seed}`;
}

function Results({ result, uid, stale }: { result: CompareResult; uid: string; stale: boolean }) {
  const [log, setLog] = useState(false);
  const chartsRef = useRef<HTMLDivElement>(null);
  const designs = result.designs;
  const names = designs.map((d) => d.design);
  const fastest = designs.reduce<CompareDesignResult | null>((a, d) => (a === null || d.perRequestUs < a.perRequestUs ? d : a), null);
  const summary = designs.map((d) => `${d.design} ${fmtUs(d.perRequestUs)}`).join(', ');
  const th = 'border-b border-slate-300 px-2 py-1 text-left font-semibold dark:border-slate-600';
  const td = 'border-b border-slate-200 px-2 py-1 text-right tabular-nums dark:border-slate-700';
  const rowTh = 'border-b border-slate-200 px-2 py-1 text-left font-normal dark:border-slate-700';
  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h3 id={`${uid}-results`} className="text-base font-semibold">
          Results
        </h3>
        <ExportButtons target={chartsRef} name="costs" label="cost comparison charts" />
      </div>
      <p className="text-sm text-slate-700 dark:text-slate-300">
        Workload: {describeWorkload(result.workload)}.{' '}
        {stale && <strong className="font-semibold">The workload has changed since this run: press Run to update.</strong>}
      </p>
      <ul className="flex flex-wrap gap-x-4 gap-y-1 text-sm" aria-label="Legend">
        {names.map((d) => (
          <li key={d} className="flex items-center gap-1.5">
            <DesignSwatch design={d} prefix={`${uid}-sw-${d}`} />
            <span className={`font-semibold ${DESIGN_STYLE[d].text}`}>{d}</span>
            <span className="text-slate-700 dark:text-slate-300">— {DESIGN_TITLE[d]}</span>
            <span className="sr-only">({DESIGN_STYLE[d].look})</span>
          </li>
        ))}
      </ul>
      <div ref={chartsRef} className="space-y-4 bg-white p-1 text-slate-900 dark:bg-slate-950 dark:text-slate-100">
        <figure className="space-y-1">
          <figcaption className="text-sm font-semibold">Modelled time per DMA request, by where it goes</figcaption>
          <GroupedBarChart
            id={`${uid}-time`}
            title="Modelled time per DMA request, by design and category"
            desc={`Per request: ${summary}. ${fastest ? `Cheapest: ${fastest.design}.` : ''} The table below has the numbers.`}
            groups={perRequestGroups(designs)}
            designs={names}
            fmt={fmtUs}
            axisTitle="Modelled time per request"
          />
        </figure>
        <figure className="space-y-1">
          <figcaption className="flex flex-wrap items-center justify-between gap-2 text-sm font-semibold">
            <span>What each design did (counts over the whole run)</span>
            <label className="flex items-center gap-1.5 font-normal">
              <input type="checkbox" checked={log} onChange={(e) => setLog(e.target.checked)} className="h-4 w-4 accent-sky-700 dark:accent-sky-300" />
              Log scale
            </label>
          </figcaption>
          <GroupedBarChart
            id={`${uid}-counts`}
            title="Event counts by design"
            desc="Hypercalls, MMIO traps, emulated commands, commands, CMD_SYNCs, table-walk reads, IOTLB misses and PTEs written by each design. The table below has the numbers."
            groups={countGroups(designs)}
            designs={names}
            fmt={fmtCount}
            axisTitle="Count"
            log={log}
          />
        </figure>
        <figure className="space-y-1">
          <figcaption className="text-sm font-semibold">Cumulative modelled time as the requests complete</figcaption>
          <LineChart
            id={`${uid}-series`}
            title="Cumulative modelled time against requests completed"
            desc={`One line per design. Totals: ${designs.map((d) => `${d.design} ${fmtUs(d.totalUs)}`).join(', ')}.`}
            series={designs.map((d) => ({ design: d.design, points: d.series }))}
            xTitle="Requests completed"
            yTitle="Cumulative modelled time"
          />
        </figure>
      </div>
      <div className="overflow-x-auto">
        <table className="w-full border-collapse text-sm">
          <caption className="pb-1 text-left text-sm font-semibold">Numbers per design (modelled with the current parameters)</caption>
          <thead>
            <tr>
              <th scope="col" className={th}>
                Measure
              </th>
              {designs.map((d) => (
                <th key={d.design} scope="col" className={`${th} text-right`}>
                  <span className={DESIGN_STYLE[d.design].text}>{d.design}</span>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            <tr>
              <th scope="row" className={rowTh}>
                Modelled time per request
              </th>
              {designs.map((d) => (
                <td key={d.design} className={td}>
                  {fmtUs(d.perRequestUs)}
                </td>
              ))}
            </tr>
            <tr>
              <th scope="row" className={rowTh}>
                Modelled time, whole run
              </th>
              {designs.map((d) => (
                <td key={d.design} className={td}>
                  {fmtUs(d.totalUs)}
                </td>
              ))}
            </tr>
            {COUNT_ROWS.map(([k, label]) => (
              <tr key={k}>
                <th scope="row" className={rowTh}>
                  {label}
                </th>
                {designs.map((d) => (
                  <td key={d.design} className={td}>
                    {fmtCount(d.counts[k] ?? 0)}
                  </td>
                ))}
              </tr>
            ))}
            <tr>
              <th scope="row" className={rowTh}>
                IOTLB hits
              </th>
              {designs.map((d) => (
                <td key={d.design} className={td}>
                  {fmtCount(d.counts.iotlbHits ?? 0)}
                </td>
              ))}
            </tr>
            <tr>
              <th scope="row" className={rowTh}>
                Pinned memory
              </th>
              {designs.map((d) => (
                <td key={d.design} className={td}>
                  {fmtBytes(d.pinnedBytes)}
                </td>
              ))}
            </tr>
            <tr>
              <th scope="row" className={rowTh}>
                DMA faults
              </th>
              {designs.map((d) => (
                <td key={d.design} className={td}>
                  {fmtCount(d.faults)}
                </td>
              ))}
            </tr>
            {PROPERTY_ROWS.map(([k, label]) => (
              <tr key={k}>
                <th scope="row" className={rowTh}>
                  {label}
                </th>
                {designs.map((d) => {
                  const v = d.properties[k];
                  return (
                    <td key={d.design} className={`${td} ${v ? 'text-emerald-800 dark:text-emerald-300' : 'text-red-800 dark:text-red-300'}`}>
                      <span aria-hidden="true">{v ? '✓ ' : '✗ '}</span>
                      {v === undefined ? '—' : v ? 'yes' : 'no'}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <details className="text-sm">
        <summary className="cursor-pointer font-medium">Modelled time breakdown (all cost-model parts)</summary>
        <div className="overflow-x-auto">
          <table className="mt-2 w-full border-collapse">
            <caption className="sr-only">Modelled time of each cost-model part, whole run, per design</caption>
            <thead>
              <tr>
                <th scope="col" className={th}>
                  Part
                </th>
                {designs.map((d) => (
                  <th key={d.design} scope="col" className={`${th} text-right`}>
                    {d.design}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {Object.keys(designs[0]?.parts ?? {}).map((part) => (
                <tr key={part}>
                  <th scope="row" className={rowTh}>
                    {part}
                  </th>
                  {designs.map((d) => (
                    <td key={d.design} className={td}>
                      {fmtUs(d.parts[part] ?? 0)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </div>
  );
}

// ---------------------------------------------------------------------------

/** The cost comparison panel. */
export function CostPanel() {
  const uid = useId().replace(/[^\w-]/g, '');
  const raw = useExplorer((s) => s.compare.result);
  const params = useExplorer((s) => s.compareParams);
  const workload = useExplorer((s) => s.compareWorkload);
  const result = useMemo(() => (raw ? recost(raw, params) : null), [raw, params]);
  const storedValid = useMemo(() => CompareWorkloadSchema.safeParse(workload).success, [workload]);
  // The form's own fields may be mid-edit and invalid while the store keeps the last valid workload.
  const [formValid, setFormValid] = useState(true);
  const valid = storedValid && formValid;
  const stale = result !== null && (Object.keys(workload) as (keyof CompareWorkload)[]).some((k) => result.workload[k] !== workload[k]);
  const headingId = `${uid}-heading`;
  return (
    <section aria-labelledby={headingId} className="space-y-4 text-slate-900 dark:text-slate-100">
      <h2 id={headingId} className="text-lg font-semibold">
        DMA protection cost comparison
      </h2>
      <p className="max-w-prose text-sm text-slate-700 dark:text-slate-300">
        The same DMA workload runs on four designs: the kernel’s own SMMU driver (no protection), paravirtual I/O page tables, nested trap-and-emulate, and a pinned
        identity stage 2. The emulation counts what each does; the cost parameters turn the counts into modelled time.
      </p>
      <div className="grid grid-cols-1 gap-4 lg:grid-cols-2">
        <WorkloadForm uid={uid} onValidity={setFormValid} />
        <ParamsForm uid={uid} />
      </div>
      <RunControls valid={valid} />
      {result && <Results result={result} uid={uid} stale={stale} />}
    </section>
  );
}

export default CostPanel;
