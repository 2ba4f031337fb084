import { useEffect, useId, useLayoutEffect, useMemo, useRef, useState, type ReactNode, type RefObject } from 'react';
import { useExplorer } from '../../state/explorer';
import type { LogEntry, LogKind, OwnershipRunView, ShadowPair, Snapshot } from '../../scenario/view';
import { BitDiagram } from '../components/BitDiagram';
import { ExportButtons } from '../components/ExportButtons';
import { HexValue, fmtSize, hex, toBig } from '../components/Hex';

// ---------------------------------------------------------------------------
// Ownership map

type OwnerKey = 'host' | 'hyp' | 'guest0' | 'guest1' | 'guest2' | 'none';

const OWNER_FILL: Record<OwnerKey, string> = {
  host: 'fill-sky-300 dark:fill-sky-700',
  hyp: 'fill-violet-400 dark:fill-violet-600',
  guest0: 'fill-emerald-300 dark:fill-emerald-700',
  guest1: 'fill-lime-300 dark:fill-lime-700',
  guest2: 'fill-teal-300 dark:fill-teal-700',
  none: 'fill-slate-200 dark:fill-slate-700',
};

function ownerKey(r: OwnershipRunView): OwnerKey {
  if (r.owner === 'guest') return (['guest0', 'guest1', 'guest2'] as const)[(r.guest ?? 0) % 3];
  return r.owner;
}

function ownerLabel(r: OwnershipRunView): string {
  if (r.owner === 'guest') return `guest ${r.guest ?? '?'}`;
  if (r.owner === 'none') return 'none';
  return r.owner;
}

function runLabel(r: OwnershipRunView): string {
  const end = toBig(r.base) + toBig(r.size) - 1n;
  const parts = [
    `${hex(toBig(r.base))}–${hex(end)} (${fmtSize(r.size)})`,
    `owner ${ownerLabel(r)}`,
    r.mmio ? 'MMIO' : 'RAM',
    r.state,
  ];
  if (r.sharedWith) parts.push(`shared with ${r.sharedWith}`);
  if (r.dmaRefcount > 0) parts.push(`DMA refcount ${r.dmaRefcount}`);
  if (r.hypPins > 0) parts.push(`hyp pins ${r.hypPins}`);
  return parts.join(', ');
}

/** Width of an element, following resizes; and the root font size in px (presentation mode scales it). */
function useMeasure<T extends HTMLElement>() {
  const ref = useRef<T>(null);
  const [m, setM] = useState({ width: 800, rem: 16 });
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const read = () => {
      const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
      const width = Math.max(200, Math.floor(el.clientWidth));
      setM((o) => (o.width === width && o.rem === rem ? o : { width, rem }));
    };
    read();
    const ro = new ResizeObserver(read);
    ro.observe(el);
    ro.observe(document.documentElement);
    return () => ro.disconnect();
  }, []);
  return [ref, m] as const;
}

interface Seg {
  run: OwnershipRunView;
  i: number;
  x: number;
  w: number;
}

const MIN_PX = 6;
const BREAK_PX = 14;

function layout(runs: OwnershipRunView[], width: number): { segs: Seg[]; breaks: number[]; total: number } {
  const sorted = runs.map((run, i) => ({ run, i })).sort((a, b) => (toBig(a.run.base) < toBig(b.run.base) ? -1 : 1));
  const weights = sorted.map(({ run }) => 1 + Math.log2(Math.max(1, Number(toBig(run.size)) / 4096)));
  const sumW = weights.reduce((a, b) => a + b, 0) || 1;
  const breakAt: boolean[] = sorted.map(({ run }, k) => {
    if (k === 0) return false;
    const prev = sorted[k - 1].run;
    return toBig(prev.base) + toBig(prev.size) !== toBig(run.base);
  });
  const nBreaks = breakAt.filter(Boolean).length;
  const total = Math.max(width, sorted.length * MIN_PX + nBreaks * BREAK_PX);
  const extra = total - sorted.length * MIN_PX - nBreaks * BREAK_PX;
  const segs: Seg[] = [];
  const breaks: number[] = [];
  let x = 0;
  sorted.forEach(({ run, i }, k) => {
    if (breakAt[k]) {
      breaks.push(x);
      x += BREAK_PX;
    }
    const w = MIN_PX + (extra * weights[k]) / sumW;
    segs.push({ run, i, x, w });
    x += w;
  });
  return { segs, breaks, total };
}

function OwnershipMap({ runs, svgRef }: { runs: OwnershipRunView[]; svgRef: RefObject<SVGSVGElement | null> }) {
  const uid = useId().replace(/[^\w-]/g, '');
  const [boxRef, { width, rem }] = useMeasure<HTMLDivElement>();
  const [active, setActive] = useState<number | null>(null);
  const [pinned, setPinned] = useState<number | null>(null);
  const { segs, breaks, total } = useMemo(() => layout(runs, width), [runs, width]);
  const shown = active ?? pinned;
  const shownRun = shown !== null ? runs[shown] : undefined;

  const fs = 0.75 * rem;
  const barY = 1.4 * rem;
  const barH = 2.5 * rem;
  const dmaH = 0.4 * rem;
  const labelY = barY + barH + dmaH + 1.1 * rem;

  // Address labels at the start of each contiguous range, on two staggered rows, skipping those that would still overlap.
  const labels: Array<{ x: number; row: number; text: string }> = [];
  const rowEnd = [-Infinity, -Infinity];
  segs.forEach((s, k) => {
    const starts = k === 0 || breaks.includes(s.x - BREAK_PX);
    if (!starts) return;
    const text = hex(toBig(s.run.base));
    const tw = text.length * fs * 0.62;
    const row = rowEnd.findIndex((e) => s.x >= e + 6);
    if (row < 0) return;
    labels.push({ x: s.x, row, text });
    rowEnd[row] = s.x + tw;
  });
  const labelRows = labels.some((l) => l.row === 1) ? 2 : 1;

  // Legend laid out in rows inside the SVG (so an exported file carries it).
  const legendItems: Array<{ key: string; swatch: ReactNode; text: string }> = [];
  const owners = new Map<OwnerKey, Set<string>>();
  for (const r of runs) {
    const k = ownerKey(r);
    if (!owners.has(k)) owners.set(k, new Set());
    owners.get(k)!.add(ownerLabel(r));
  }
  for (const [k, set] of owners) {
    const text = [...set].join(', ');
    legendItems.push({ key: k, text, swatch: <rect width={rem} height={0.75 * rem} className={`${OWNER_FILL[k]} stroke-slate-700 dark:stroke-slate-300`} strokeWidth={0.5} /> });
  }
  legendItems.push({
    key: 'shared',
    text: 'shared (hatched)',
    swatch: (
      <>
        <rect width={rem} height={0.75 * rem} className="fill-white stroke-slate-700 dark:fill-slate-900 dark:stroke-slate-300" strokeWidth={0.5} />
        <rect width={rem} height={0.75 * rem} fill={`url(#own-hatch-${uid})`} />
      </>
    ),
  });
  legendItems.push({
    key: 'dma',
    text: 'DMA-refcounted (bar below)',
    swatch: <rect y={0.45 * rem} width={rem} height={0.3 * rem} className="fill-slate-900 dark:fill-slate-100" />,
  });
  legendItems.push({
    key: 'pin',
    text: 'hyp-pinned (▼ above)',
    swatch: <path d={`M0 0 L${rem} 0 L${rem / 2} ${0.7 * rem} Z`} className="fill-red-700 dark:fill-red-300" />,
  });
  legendItems.push({
    key: 'mmio',
    text: 'MMIO (dashed outline)',
    swatch: <rect width={rem} height={0.75 * rem} className="fill-none stroke-slate-900 dark:stroke-slate-100" strokeDasharray="3 2" strokeWidth={1.5} />,
  });
  legendItems.push({
    key: 'gap',
    text: 'gap in the address map (//)',
    swatch: (
      <path
        d={`M2 ${0.75 * rem} L6 0 M6 ${0.75 * rem} L10 0`}
        className="fill-none stroke-slate-900 dark:stroke-slate-100"
        strokeWidth={1.5}
      />
    ),
  });
  let lx = 0;
  let ly = labelY + (labelRows > 1 ? 2.3 : 1.2) * rem;
  const legendPos = legendItems.map((it) => {
    const w = rem * 1.4 + it.text.length * fs * 0.52 + rem;
    if (lx > 0 && lx + w > total) {
      lx = 0;
      ly += 1.3 * rem;
    }
    const p = { ...it, x: lx, y: ly };
    lx += w;
    return p;
  });
  const height = ly + 1.2 * rem;

  return (
    <div className="space-y-2">
      <div ref={boxRef} className="overflow-x-auto">
        <svg
          ref={svgRef}
          width={total}
          height={height}
          viewBox={`0 0 ${total} ${height}`}
          role="group"
          aria-label={`Ownership map of physical memory: ${runs.length} runs. Focus a run for its details.`}
          className="block font-sans"
        >
          <defs>
            <pattern id={`own-hatch-${uid}`} width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
              <line x1="0" y1="0" x2="0" y2="6" className="stroke-slate-900 dark:stroke-white" strokeWidth={1.6} />
            </pattern>
          </defs>
          {segs.map((s) => {
            const r = s.run;
            const isActive = s.i === shown;
            return (
              <g
                key={s.i}
                tabIndex={0}
                role="button"
                aria-pressed={s.i === pinned}
                aria-label={runLabel(r)}
                className="cursor-pointer outline-none"
                onMouseEnter={() => setActive(s.i)}
                onMouseLeave={() => setActive(null)}
                onFocus={() => setActive(s.i)}
                onBlur={() => setActive(null)}
                onClick={() => setPinned(pinned === s.i ? null : s.i)}
                onKeyDown={(e) => {
                  if (e.key === 'Enter' || e.key === ' ') {
                    e.preventDefault();
                    setPinned(pinned === s.i ? null : s.i);
                  }
                }}
              >
                <title>{runLabel(r)}</title>
                <rect
                  x={s.x}
                  y={barY}
                  width={Math.max(1, s.w)}
                  height={barH}
                  className={`${OWNER_FILL[ownerKey(r)]} stroke-white dark:stroke-slate-950`}
                  strokeWidth={1}
                />
                {r.sharedWith && <rect x={s.x} y={barY} width={Math.max(1, s.w)} height={barH} fill={`url(#own-hatch-${uid})`} />}
                {r.mmio && (
                  <rect
                    x={s.x + 1.5}
                    y={barY + 1.5}
                    width={Math.max(1, s.w - 3)}
                    height={barH - 3}
                    className="fill-none stroke-slate-900 dark:stroke-slate-100"
                    strokeDasharray="4 3"
                    strokeWidth={1.5}
                  />
                )}
                {r.dmaRefcount > 0 && (
                  <rect x={s.x} y={barY + barH + 1} width={Math.max(1, s.w)} height={dmaH} className="fill-slate-900 dark:fill-slate-100" />
                )}
                {r.hypPins > 0 && (
                  <path
                    d={`M${s.x + s.w / 2 - 0.35 * rem} ${barY - 0.7 * rem} L${s.x + s.w / 2 + 0.35 * rem} ${barY - 0.7 * rem} L${s.x + s.w / 2} ${barY - 0.1 * rem} Z`}
                    className="fill-red-700 dark:fill-red-300"
                  />
                )}
                {s.w > fs * 4 && (
                  <text
                    x={s.x + s.w / 2}
                    y={barY + barH / 2}
                    textAnchor="middle"
                    dominantBaseline="central"
                    fontSize={fs}
                    className="pointer-events-none fill-slate-950 font-medium dark:fill-white"
                  >
                    {ownerLabel(r).length * fs * 0.6 < s.w - 4 ? ownerLabel(r) : ownerLabel(r).slice(0, 1)}
                  </text>
                )}
                {isActive && (
                  <rect
                    x={s.x + 1}
                    y={barY - 2}
                    width={Math.max(1, s.w - 2)}
                    height={barH + 4}
                    className="fill-none stroke-sky-700 dark:stroke-sky-300"
                    strokeWidth={3}
                  />
                )}
              </g>
            );
          })}
          {breaks.map((x) => (
            <path
              key={x}
              aria-hidden="true"
              d={`M${x + 3} ${barY + barH * 0.75} L${x + 7} ${barY + barH * 0.25} M${x + 7} ${barY + barH * 0.75} L${x + 11} ${barY + barH * 0.25}`}
              className="fill-none stroke-slate-900 dark:stroke-slate-100"
              strokeWidth={1.5}
            />
          ))}
          <g aria-hidden="true">
            {labels.map((l) => (
              <text key={l.x} x={l.x} y={labelY + l.row * 1.1 * rem} fontSize={fs} className="fill-slate-800 font-mono dark:fill-slate-200">
                {l.text}
              </text>
            ))}
          </g>
          <g aria-hidden="true">
            {legendPos.map((it) => (
              <g key={it.key} transform={`translate(${it.x} ${it.y - 0.7 * rem})`}>
                {it.swatch}
                <text x={1.4 * rem} y={0.65 * rem} fontSize={fs} className="fill-slate-800 dark:fill-slate-200">
                  {it.text}
                </text>
              </g>
            ))}
          </g>
        </svg>
      </div>
      <div className="min-h-[3rem] rounded border border-slate-300 bg-slate-50 p-2 text-sm dark:border-slate-600 dark:bg-slate-900">
        {shownRun ? (
          <dl className="flex flex-wrap gap-x-4 gap-y-0.5">
            <div className="flex gap-1">
              <dt className="text-slate-700 dark:text-slate-300">Base</dt>
              <dd>
                <HexValue value={shownRun.base} />
              </dd>
            </div>
            <div className="flex gap-1">
              <dt className="text-slate-700 dark:text-slate-300">Size</dt>
              <dd>
                <HexValue value={shownRun.size} /> ({fmtSize(shownRun.size)})
              </dd>
            </div>
            <div className="flex gap-1">
              <dt className="text-slate-700 dark:text-slate-300">Owner</dt>
              <dd className="font-medium">
                {ownerLabel(shownRun)} {shownRun.mmio ? '(MMIO)' : '(RAM)'}
              </dd>
            </div>
            <div className="flex gap-1">
              <dt className="text-slate-700 dark:text-slate-300">State</dt>
              <dd className="font-mono">{shownRun.state}</dd>
            </div>
            <div className="flex gap-1">
              <dt className="text-slate-700 dark:text-slate-300">Shared with</dt>
              <dd>{shownRun.sharedWith ?? 'no one'}</dd>
            </div>
            <div className="flex gap-1">
              <dt className="text-slate-700 dark:text-slate-300">DMA refcount</dt>
              <dd>{shownRun.dmaRefcount}</dd>
            </div>
            <div className="flex gap-1">
              <dt className="text-slate-700 dark:text-slate-300">Hyp pins</dt>
              <dd>{shownRun.hypPins}</dd>
            </div>
          </dl>
        ) : (
          <p className="text-slate-700 dark:text-slate-300">
            Hover over or focus (Tab) a run for its details; Enter or a click keeps it shown. Widths are log-scaled so small runs stay visible.
          </p>
        )}
      </div>
    </div>
  );
}

function OwnershipTable({ runs }: { runs: OwnershipRunView[] }) {
  const sorted = [...runs].sort((a, b) => (toBig(a.base) < toBig(b.base) ? -1 : 1));
  const th = 'border-b border-slate-300 px-2 py-1 text-left font-semibold whitespace-nowrap dark:border-slate-600';
  const td = 'border-b border-slate-200 px-2 py-1 align-top dark:border-slate-700';
  return (
    <div className="max-h-[24rem] overflow-auto" tabIndex={0} role="region" aria-label="Ownership runs table">
      <table className="w-full border-collapse text-sm">
        <caption className="pb-1 text-left text-sm text-slate-700 dark:text-slate-300">Ownership runs ({runs.length})</caption>
        <thead className="sticky top-0 bg-white dark:bg-slate-950">
          <tr>
            <th scope="col" className={th}>Base</th>
            <th scope="col" className={th}>Size</th>
            <th scope="col" className={th}>Owner</th>
            <th scope="col" className={th}>Type</th>
            <th scope="col" className={th}>State</th>
            <th scope="col" className={th}>Shared with</th>
            <th scope="col" className={th}>DMA refcount</th>
            <th scope="col" className={th}>Hyp pins</th>
          </tr>
        </thead>
        <tbody>
          {sorted.map((r) => (
            <tr key={r.base}>
              <th scope="row" className={`${td} text-left font-normal`}>
                <HexValue value={r.base} />
              </th>
              <td className={`${td} whitespace-nowrap`}>{fmtSize(r.size)}</td>
              <td className={td}>{ownerLabel(r)}</td>
              <td className={td}>{r.mmio ? 'MMIO' : 'RAM'}</td>
              <td className={`${td} font-mono text-xs`}>{r.state}</td>
              <td className={td}>{r.sharedWith ?? '—'}</td>
              <td className={`${td} ${r.dmaRefcount > 0 ? 'font-semibold' : ''}`}>{r.dmaRefcount}</td>
              <td className={`${td} ${r.hypPins > 0 ? 'font-semibold' : ''}`}>{r.hypPins}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// ---------------------------------------------------------------------------
// Hypercall / trap log

const LOG_KINDS: LogKind[] = ['hypercall', 'trap', 'cmd', 'ste', 's2', 'event', 'cerror', 'reject', 'mmio', 'driver', 'note'];

const KIND_CLASS: Record<LogKind, string> = {
  hypercall: 'bg-violet-100 text-violet-900 dark:bg-violet-900 dark:text-violet-50',
  trap: 'bg-orange-100 text-orange-900 dark:bg-orange-900 dark:text-orange-50',
  cmd: 'bg-sky-100 text-sky-900 dark:bg-sky-900 dark:text-sky-50',
  ste: 'bg-teal-100 text-teal-900 dark:bg-teal-900 dark:text-teal-50',
  s2: 'bg-emerald-100 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-50',
  event: 'bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-50',
  cerror: 'bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-50',
  reject: 'bg-rose-100 text-rose-900 dark:bg-rose-900 dark:text-rose-50',
  mmio: 'bg-slate-200 text-slate-900 dark:bg-slate-700 dark:text-slate-50',
  driver: 'bg-indigo-100 text-indigo-900 dark:bg-indigo-900 dark:text-indigo-50',
  note: 'bg-stone-100 text-stone-900 dark:bg-stone-700 dark:text-stone-50',
};

function HypLog({ log, step }: { log: LogEntry[]; step: number }) {
  const selectId = useId();
  const [kind, setKind] = useState<LogKind | 'all'>('all');
  const listRef = useRef<HTMLDivElement>(null);
  const counts = useMemo(() => {
    const c = new Map<LogKind, number>();
    for (const e of log) c.set(e.kind, (c.get(e.kind) ?? 0) + 1);
    return c;
  }, [log]);
  const shown = kind === 'all' ? log : log.filter((e) => e.kind === kind);
  const current = shown.filter((e) => e.step === step).length;

  // Newest last: keep the end of the log in view as steps advance (no smooth scrolling).
  useEffect(() => {
    const el = listRef.current;
    if (!el) return;
    const first = el.querySelector('[data-current="true"]');
    if (first instanceof HTMLElement) el.scrollTop = Math.max(0, first.offsetTop - el.offsetTop - 8);
    else el.scrollTop = el.scrollHeight;
  }, [log, step, kind]);

  return (
    <div className="space-y-2">
      <div className="flex flex-wrap items-center gap-2 text-sm">
        <label htmlFor={selectId} className="font-medium">
          Show kind
        </label>
        <select
          id={selectId}
          value={kind}
          onChange={(e) => setKind(e.target.value as LogKind | 'all')}
          className="rounded border border-slate-400 bg-white px-1 py-0.5 text-slate-900 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600 dark:border-slate-500 dark:bg-slate-900 dark:text-slate-100"
        >
          <option value="all">all ({log.length})</option>
          {LOG_KINDS.map((k) => (
            <option key={k} value={k}>
              {k} ({counts.get(k) ?? 0})
            </option>
          ))}
        </select>
        <span className="text-slate-700 dark:text-slate-300">
          {shown.length} entr{shown.length === 1 ? 'y' : 'ies'}, {current} from step {step}
        </span>
      </div>
      {shown.length === 0 ? (
        <p className="text-sm text-slate-700 dark:text-slate-300">No log entries{kind === 'all' ? '' : ` of kind ${kind}`} yet.</p>
      ) : (
        <div ref={listRef} className="max-h-[24rem] overflow-y-auto rounded border border-slate-200 dark:border-slate-700" tabIndex={0} role="region" aria-label="Hypervisor log entries">
          <ol className="divide-y divide-slate-200 text-sm dark:divide-slate-700">
            {shown.map((e, i) => {
              const cur = e.step === step;
              return (
                <li
                  key={i}
                  data-current={cur && (i === 0 || shown[i - 1].step !== step) ? 'true' : undefined}
                  className={`flex flex-wrap items-baseline gap-x-2 px-2 py-1 ${cur ? 'border-l-4 border-sky-700 bg-sky-50 dark:border-sky-300 dark:bg-sky-950' : 'border-l-4 border-transparent'}`}
                >
                  <span className="w-12 shrink-0 font-mono text-xs text-slate-700 dark:text-slate-300">step {e.step}</span>
                  <span className={`rounded px-1.5 text-xs font-semibold ${KIND_CLASS[e.kind] ?? KIND_CLASS.note}`}>{e.kind}</span>
                  {cur && <span className="rounded border border-sky-800 px-1 text-xs font-semibold text-sky-900 dark:border-sky-200 dark:text-sky-100">this step</span>}
                  <span className="min-w-0 flex-1">{e.text}</span>
                  {e.detail && <span className="basis-full pl-14 font-mono text-xs break-all text-slate-700 dark:text-slate-300">{e.detail}</span>}
                </li>
              );
            })}
          </ol>
        </div>
      )}
    </div>
  );
}

// ---------------------------------------------------------------------------
// Nested: host STE vs shadow STE

function ShadowCompare({ pairs }: { pairs: ShadowPair[] }) {
  const selectId = useId();
  const selectedSid = useExplorer((s) => s.selectedSid);
  const selectStream = useExplorer((s) => s.selectStream);
  if (pairs.length === 0) {
    return <p className="text-sm text-slate-700 dark:text-slate-300">No shadowed stream table entries yet.</p>;
  }
  const pair = pairs.find((p) => p.sid === selectedSid) ?? pairs[0];
  return (
    <div className="space-y-2">
      <div className="flex flex-wrap items-center gap-2 text-sm">
        <label htmlFor={selectId} className="font-medium">
          StreamID
        </label>
        <select
          id={selectId}
          value={pair.sid}
          onChange={(e) => selectStream(Number(e.target.value))}
          className="rounded border border-slate-400 bg-white px-1 py-0.5 text-slate-900 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600 dark:border-slate-500 dark:bg-slate-900 dark:text-slate-100"
        >
          {pairs.map((p) => (
            <option key={p.sid} value={p.sid}>
              SID {p.sid} ({p.hostKind} → {p.shadowKind})
            </option>
          ))}
        </select>
        <span>
          {pair.differs.length === 0 ? (
            'The shadow STE has the same fields as the host STE.'
          ) : (
            <>
              <span aria-hidden="true">◆ </span>
              {pair.differs.length} field{pair.differs.length === 1 ? '' : 's'} differ: <span className="font-mono">{pair.differs.join(', ')}</span>
            </>
          )}
        </span>
      </div>
      <div className="grid grid-cols-1 gap-3 xl:grid-cols-2">
        <div className="min-w-0 space-y-1">
          <h4 className="text-sm font-semibold">Host STE (what the host wrote): {pair.hostKind}</h4>
          {pair.host ? (
            <BitDiagram view={pair.host} highlight={pair.differs} headingLevel={5} />
          ) : (
            <p className="text-sm text-slate-700 dark:text-slate-300">No host STE.</p>
          )}
        </div>
        <div className="min-w-0 space-y-1">
          <h4 className="text-sm font-semibold">Shadow STE (what the SMMU uses): {pair.shadowKind}</h4>
          {pair.shadow ? (
            <BitDiagram view={pair.shadow} highlight={pair.differs} headingLevel={5} />
          ) : (
            <p className="text-sm text-slate-700 dark:text-slate-300">No shadow STE.</p>
          )}
        </div>
      </div>
    </div>
  );
}

// ---------------------------------------------------------------------------
// Invariants

function Invariants({ inv }: { inv: Snapshot['invariants'] }) {
  if (inv.ok && inv.violations.length === 0) {
    return (
      <p className="rounded border border-emerald-700 bg-emerald-50 p-2 text-sm font-medium text-emerald-900 dark:border-emerald-400 dark:bg-emerald-950 dark:text-emerald-50">
        <span aria-hidden="true">✓ </span>OK: every isolation invariant holds at this step.
      </p>
    );
  }
  return (
    <div role="note" className="rounded border-2 border-red-700 bg-red-50 p-2 text-sm text-red-900 dark:border-red-400 dark:bg-red-950 dark:text-red-100">
      <p className="font-semibold">
        <span aria-hidden="true">✗ </span>
        {inv.violations.length} invariant violation{inv.violations.length === 1 ? '' : 's'}
      </p>
      <ul className="mt-1 list-disc space-y-0.5 pl-5">
        {inv.violations.map((v, i) => (
          <li key={i}>
            <span className="font-mono font-semibold">{v.kind}</span>: {v.message}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** The hypervisor's view: memory ownership, the hypercall/trap log, shadow STEs (nested) and the invariants. */
export function HypervisorPanel() {
  const snapshot = useExplorer((s) => s.snapshot);
  const svgRef = useRef<SVGSVGElement>(null);
  return (
    <section aria-labelledby="hyp-heading" className="space-y-4 text-slate-900 dark:text-slate-100">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h2 id="hyp-heading" className="text-lg font-semibold">
          Hypervisor
        </h2>
        <ExportButtons target={svgRef} name="ownership-map" label="ownership map" />
      </div>
      {snapshot === null ? (
        <p role="status" className="text-sm text-slate-700 dark:text-slate-300">
          Loading the machine state…
        </p>
      ) : (
        <>
          <div className="space-y-2">
            <h3 className="text-base font-semibold">Invariants</h3>
            <Invariants inv={snapshot.invariants} />
          </div>
          <div className="space-y-2">
            <h3 className="text-base font-semibold">Ownership of physical memory</h3>
            {snapshot.ownership.length === 0 ? (
              <p className="text-sm text-slate-700 dark:text-slate-300">No ownership state in this mode ({snapshot.mode}).</p>
            ) : (
              <>
                <OwnershipMap runs={snapshot.ownership} svgRef={svgRef} />
                <OwnershipTable runs={snapshot.ownership} />
              </>
            )}
          </div>
          {snapshot.mode === 'nested' && (
            <div className="space-y-2">
              <h3 className="text-base font-semibold">Shadow stream table (nested)</h3>
              <ShadowCompare pairs={snapshot.shadow} />
            </div>
          )}
          <div className="space-y-2">
            <h3 className="text-base font-semibold">Hypercall and trap log</h3>
            <HypLog log={snapshot.log} step={snapshot.step} />
          </div>
        </>
      )}
    </section>
  );
}
