import { useId, useRef, useState } from 'react';
import { useExplorer } from '../../state/explorer';
import type { ErrorView, QueueEntryView, QueueView, RegisterView } from '../../scenario/view';
import { BitDiagram } from '../components/BitDiagram';
import { ExportButtons } from '../components/ExportButtons';
import { HexValue, hex } from '../components/Hex';

const QUEUE_TITLE: Record<QueueView['name'], string> = {
  cmdq: 'Command queue (CMDQ)',
  eventq: 'Event queue (EVENTQ)',
};

const QUEUE_ROLE: Record<QueueView['name'], string> = {
  cmdq: 'Software (the driver or the hypervisor) writes commands and advances PROD; the SMMU consumes them and advances CONS.',
  eventq: 'The SMMU writes event records (faults, configuration errors) and advances PROD; software reads them and advances CONS.',
};

/** Explanations of the GERROR bits, by name. */
const GERROR_DOC: Array<[RegExp, string]> = [
  [/^CMDQ_ERR/, 'The command queue met an error (CMDQ_CONS.ERR says which): the SMMU stopped consuming commands until software fixes the command and acknowledges by toggling GERRORN.CMDQ_ERR.'],
  [/^EVENTQ_ABT/, 'A write of an event record aborted: the event queue is disabled and events are lost.'],
  [/^PRIQ_ABT/, 'A write to the PRI queue aborted: PRI requests are lost.'],
  [/^MSI_CMDQ_ABT/, 'The MSI write of a CMD_SYNC completion aborted: the waiter is never signalled by interrupt.'],
  [/^MSI_EVENTQ_ABT/, 'The event queue MSI write aborted: software is not interrupted for new events.'],
  [/^MSI_PRIQ_ABT/, 'The PRI queue MSI write aborted.'],
  [/^MSI_GERROR_ABT/, 'The GERROR MSI write aborted.'],
  [/^SFM_ERR/, 'Service failure mode: the SMMU met an unrecoverable error and stopped translating; every transaction now terminates.'],
];

/** Explanations of CMDQ_CONS.ERR (CERROR) values. */
const CERROR_DOC: Array<[RegExp, string]> = [
  [/ATC_INV_SYNC/, 'CERROR_ATC_INV_SYNC: an ATS invalidation did not complete before CMD_SYNC (the device did not answer).'],
  [/ILL/, 'CERROR_ILL: an illegal command (unknown opcode, reserved field set, or a field out of range) — the SMMU stopped at it; CONS points at the bad command.'],
  [/ABT/, 'CERROR_ABT: reading the command from memory aborted — CONS points at the command that could not be fetched.'],
  [/NONE/, 'CERROR_NONE: no command error.'],
];

function explain(table: Array<[RegExp, string]>, name: string): string {
  return table.find(([re]) => re.test(name))?.[1] ?? '';
}

function pendingCount(q: QueueView): number {
  const n = q.log2size;
  const size = 2 ** (n + 1);
  const p = q.prod.wrap * 2 ** n + q.prod.index;
  const c = q.cons.wrap * 2 ** n + q.cons.index;
  return (((p - c) % size) + size) % size;
}

function queueState(q: QueueView): string {
  const pending = pendingCount(q);
  if (pending === 0) return 'empty (PROD = CONS, same wrap)';
  if (pending === 2 ** q.log2size) return 'full (same index, different wrap)';
  return `${pending} entr${pending === 1 ? 'y' : 'ies'} pending`;
}

function entryView(q: QueueView, e: QueueEntryView): RegisterView {
  return {
    title: `${e.name} (slot ${e.index})`,
    width: Math.max(1, e.raw.length) * 64,
    raw: e.raw,
    fields: e.fields,
    notes: [e.text],
    warnings: [],
  };
}

const RING_MAX = 256;

/** The queue drawn as a ring of slots with PROD and CONS markers. */
function QueueRing({ q }: { q: QueueView }) {
  const uid = useId().replace(/[^\w-]/g, '');
  const size = 2 ** q.log2size;
  if (size > RING_MAX) {
    return (
      <p className="text-sm text-slate-700 dark:text-slate-300">
        The ring has {size} slots, too many to draw; the written slots are listed below.
      </p>
    );
  }
  const written = new Map(q.entries.map((e) => [e.index, e]));
  const pending = pendingCount(q);
  const isPending = (i: number) => {
    const off = (((i - q.cons.index) % size) + size) % size;
    return off < pending;
  };
  const cx = 100;
  const cy = 100;
  const r0 = 58;
  const r1 = 84;
  const ang = (i: number) => (i / size) * 2 * Math.PI - Math.PI / 2;
  const pt = (a: number, r: number) => [cx + r * Math.cos(a), cy + r * Math.sin(a)] as const;
  const gap = size > 64 ? 0 : 0.012;
  const arc = (i: number) => {
    const a0 = ang(i) + gap;
    const a1 = ang(i + 1) - gap;
    const large = a1 - a0 > Math.PI ? 1 : 0;
    const [x0, y0] = pt(a0, r1);
    const [x1, y1] = pt(a1, r1);
    const [x2, y2] = pt(a1, r0);
    const [x3, y3] = pt(a0, r0);
    if (size === 1) {
      return `M ${cx - r1} ${cy} A ${r1} ${r1} 0 1 1 ${cx + r1} ${cy} A ${r1} ${r1} 0 1 1 ${cx - r1} ${cy} M ${cx - r0} ${cy} A ${r0} ${r0} 0 1 0 ${cx + r0} ${cy} A ${r0} ${r0} 0 1 0 ${cx - r0} ${cy} Z`;
    }
    return `M ${x0} ${y0} A ${r1} ${r1} 0 ${large} 1 ${x1} ${y1} L ${x2} ${y2} A ${r0} ${r0} 0 ${large} 0 ${x3} ${y3} Z`;
  };
  const marker = (i: number, outer: boolean, label: string) => {
    const a = ang(i + 0.5);
    const [x0, y0] = pt(a, outer ? r1 + 1 : r0 - 1);
    const [x1, y1] = pt(a, outer ? r1 + 9 : r0 - 9);
    const [tx, ty] = pt(a, outer ? r1 + 14 : r0 - 15);
    return (
      <g>
        <line x1={x0} y1={y0} x2={x1} y2={y1} className="stroke-slate-900 dark:stroke-slate-100" strokeWidth={2} />
        <text x={tx} y={ty} textAnchor="middle" dominantBaseline="middle" className="fill-slate-900 font-sans dark:fill-slate-100" fontSize={9} fontWeight={700}>
          {label}
        </text>
      </g>
    );
  };
  const desc = `${QUEUE_TITLE[q.name]} ring of ${size} slots: CONS at slot ${q.cons.index} (wrap ${q.cons.wrap}), PROD at slot ${q.prod.index} (wrap ${q.prod.wrap}), ${queueState(q)}.`;
  return (
    <svg viewBox="-10 -10 220 220" className="h-auto w-[14rem] max-w-full shrink-0" role="img" aria-label={desc}>
      <defs>
        <pattern id={`hatch-${uid}`} width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
          <rect width="4" height="4" className="fill-amber-300 dark:fill-amber-600" />
          <line x1="0" y1="0" x2="0" y2="4" className="stroke-amber-900 dark:stroke-amber-100" strokeWidth={1.5} />
        </pattern>
      </defs>
      {Array.from({ length: size }, (_, i) => {
        const p = isPending(i);
        const w = written.has(i);
        return (
          <path
            key={i}
            d={arc(i)}
            fill={p ? `url(#hatch-${uid})` : undefined}
            className={
              p
                ? 'stroke-amber-900 dark:stroke-amber-200'
                : w
                  ? 'fill-sky-200 stroke-sky-800 dark:fill-sky-800 dark:stroke-sky-300'
                  : 'fill-white stroke-slate-400 dark:fill-slate-900 dark:stroke-slate-500'
            }
            strokeWidth={0.6}
          >
            <title>{`slot ${i}${w ? `: ${written.get(i)!.name}` : ': never written'}${p ? ' (pending)' : ''}`}</title>
          </path>
        );
      })}
      {marker(q.prod.index, true, 'PROD')}
      {marker(q.cons.index, false, 'CONS')}
      <text x={cx} y={cy - 6} textAnchor="middle" className="fill-slate-900 font-sans dark:fill-slate-100" fontSize={11} fontWeight={700}>
        {pending === 0 ? 'empty' : pending === size ? 'full' : `${pending} pending`}
      </text>
      <text x={cx} y={cy + 9} textAnchor="middle" className="fill-slate-700 font-sans dark:fill-slate-300" fontSize={9}>
        {size} slots
      </text>
    </svg>
  );
}

function RingLegend() {
  return (
    <ul className="space-y-1 text-xs text-slate-700 dark:text-slate-300" aria-label="Ring legend">
      <li className="flex items-center gap-1.5">
        <svg aria-hidden="true" width="14" height="10">
          <rect width="14" height="10" className="fill-amber-300 stroke-amber-900" />
          <line x1="0" y1="10" x2="10" y2="0" className="stroke-amber-900" />
        </svg>
        pending (hatched)
      </li>
      <li className="flex items-center gap-1.5">
        <svg aria-hidden="true" width="14" height="10">
          <rect width="14" height="10" className="fill-sky-200 stroke-sky-800 dark:fill-sky-800 dark:stroke-sky-300" />
        </svg>
        written, consumed
      </li>
      <li className="flex items-center gap-1.5">
        <svg aria-hidden="true" width="14" height="10">
          <rect width="14" height="10" className="fill-white stroke-slate-400 dark:fill-slate-900 dark:stroke-slate-500" />
        </svg>
        never written
      </li>
      <li>PROD outside the ring, CONS inside</li>
    </ul>
  );
}

function Pointer({ label, p, extra }: { label: string; p: { index: number; wrap: number; raw: number }; extra?: string }) {
  return (
    <div className="flex flex-wrap gap-x-1">
      <dt className="text-slate-700 dark:text-slate-300">{label}</dt>
      <dd>
        slot <span className="font-mono font-semibold">{p.index}</span>, wrap <span className="font-mono font-semibold">{p.wrap}</span>{' '}
        <span className="text-slate-700 dark:text-slate-300">
          (raw <HexValue value={hex(p.raw >>> 0)} />){extra}
        </span>
      </dd>
    </div>
  );
}

function EntryItem({ q, e, isProd, isCons }: { q: QueueView; e: QueueEntryView | null; index: number; isProd: boolean; isCons: boolean }) {
  const [open, setOpen] = useState(false);
  const id = useId();
  const markers = (
    <>
      {isCons && (
        <span className="rounded border border-slate-800 px-1 text-xs font-bold dark:border-slate-200">
          <span aria-hidden="true">◀ </span>CONS
        </span>
      )}
      {isProd && (
        <span className="rounded border border-slate-800 px-1 text-xs font-bold dark:border-slate-200">
          <span aria-hidden="true">◀ </span>PROD
        </span>
      )}
    </>
  );
  return (
    <div
      className={`rounded border px-2 py-1 text-sm ${
        e?.pending
          ? 'border-l-4 border-amber-700 bg-amber-50 text-amber-950 dark:border-amber-400 dark:bg-amber-950 dark:text-amber-50'
          : 'border-slate-200 dark:border-slate-700'
      }`}
    >
      <div className="flex flex-wrap items-baseline gap-x-2 gap-y-1">
        <span className="w-10 shrink-0 font-mono text-slate-700 dark:text-slate-300">#{e?.index ?? '—'}</span>
        {e ? (
          <>
            <span className="font-mono font-semibold">{e.name}</span>
            {e.pending && <span className="rounded bg-amber-800 px-1 text-xs font-semibold text-white dark:bg-amber-200 dark:text-amber-950">pending</span>}
            {markers}
            {e.text !== e.name && <span className="min-w-0 flex-1 basis-full text-slate-800 sm:basis-auto dark:text-slate-200">{e.text}</span>}
            <button
              type="button"
              aria-expanded={open}
              aria-controls={id}
              onClick={() => setOpen(!open)}
              className="rounded border border-slate-400 px-1.5 text-xs hover:bg-slate-100 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600 dark:border-slate-500 dark:hover:bg-slate-800"
            >
              {open ? 'Hide fields' : 'Show fields'}
              <span className="sr-only"> of {e.name} in slot {e.index}</span>
            </button>
          </>
        ) : (
          <>
            <span className="text-slate-700 dark:text-slate-300">empty slot</span>
            {markers}
          </>
        )}
      </div>
      {e && open && (
        <div id={id} className="mt-2">
          <BitDiagram view={entryView(q, e)} headingLevel={4} />
        </div>
      )}
    </div>
  );
}

function QueueCard({ q }: { q: QueueView }) {
  const headingId = useId();
  const size = 2 ** q.log2size;
  // The written entries plus the PROD / CONS slots (even when never written).
  const slots = new Map<number, QueueEntryView | null>(q.entries.map((e) => [e.index, e]));
  if (!slots.has(q.prod.index)) slots.set(q.prod.index, null);
  if (!slots.has(q.cons.index)) slots.set(q.cons.index, null);
  const list = [...slots.entries()].sort((a, b) => a[0] - b[0]);
  const err = q.cons.err;
  return (
    <section aria-labelledby={headingId} className="min-w-0 space-y-2 rounded-md border border-slate-300 p-3 dark:border-slate-600">
      <h3 id={headingId} className="text-base font-semibold">
        {QUEUE_TITLE[q.name]}
        <span className={`ml-2 text-sm font-normal ${q.enabled ? '' : 'text-red-800 dark:text-red-200'}`}>
          {q.enabled ? '(enabled)' : '(disabled)'}
        </span>
      </h3>
      <p className="text-xs text-slate-700 dark:text-slate-300">{QUEUE_ROLE[q.name]}</p>
      <dl className="space-y-0.5 text-sm">
        <div className="flex gap-1">
          <dt className="text-slate-700 dark:text-slate-300">Base</dt>
          <dd>
            <HexValue value={q.base} />
          </dd>
        </div>
        <div className="flex gap-1">
          <dt className="text-slate-700 dark:text-slate-300">Size</dt>
          <dd>
            2<sup>{q.log2size}</sup> = {size} entries
          </dd>
        </div>
        <Pointer label="PROD" p={q.prod} />
        <Pointer label="CONS" p={q.cons} />
        <div className="flex gap-1">
          <dt className="text-slate-700 dark:text-slate-300">State</dt>
          <dd className="font-medium">{queueState(q)}</dd>
        </div>
      </dl>

      {err && (
        <div role="note" className="rounded border-2 border-red-700 bg-red-50 p-2 text-sm text-red-900 dark:border-red-400 dark:bg-red-950 dark:text-red-100">
          <p className="font-semibold">
            <span aria-hidden="true">✖ </span>CMDQ_CONS.ERR = {err}
          </p>
          <p>{explain(CERROR_DOC, err) || 'The command queue stopped at the command CONS points to.'}</p>
        </div>
      )}
      {q.overflow && (
        <div role="note" className="rounded border-2 border-amber-700 bg-amber-50 p-2 text-sm text-amber-950 dark:border-amber-400 dark:bg-amber-950 dark:text-amber-50">
          <p className="font-semibold">
            <span aria-hidden="true">⚠ </span>Overflow
          </p>
          <p>
            {q.name === 'eventq'
              ? 'The event queue was full when the SMMU had another record to write (PROD.OVFLG ≠ CONS.OVACKFLG): events were lost.'
              : 'The queue overflowed.'}
          </p>
        </div>
      )}

      <div className="flex flex-wrap items-center gap-3">
        <QueueRing q={q} />
        {size <= RING_MAX && <RingLegend />}
      </div>

      {list.length === 0 ? (
        <p className="text-sm text-slate-700 dark:text-slate-300">Nothing written yet.</p>
      ) : (
        <div
          className="max-h-[28rem] overflow-y-auto"
          tabIndex={0}
          role="region"
          aria-label={`${QUEUE_TITLE[q.name]} slots`}
        >
          <ol className="space-y-1" aria-label={`${QUEUE_TITLE[q.name]} slots (${q.entries.length} written)`}>
            {list.map(([i, e]) => (
              <li key={i}>
                <EntryItem q={q} e={e} index={i} isProd={i === q.prod.index} isCons={i === q.cons.index} />
              </li>
            ))}
          </ol>
        </div>
      )}
    </section>
  );
}

function GlobalErrors({ errors }: { errors: ErrorView }) {
  const bad = errors.active.length > 0;
  return (
    <div
      role="note"
      aria-label="Global errors"
      className={`rounded border p-2 text-sm ${
        bad
          ? 'border-2 border-red-700 bg-red-50 text-red-900 dark:border-red-400 dark:bg-red-950 dark:text-red-100'
          : 'border-slate-300 text-slate-900 dark:border-slate-600 dark:text-slate-100'
      }`}
    >
      <p>
        <span className="font-semibold">
          {bad ? <span aria-hidden="true">✖ </span> : <span aria-hidden="true">✓ </span>}
          GERROR
        </span>{' '}
        <HexValue value={hex(errors.gerror >>> 0)} />, GERRORN <HexValue value={hex(errors.gerrorn >>> 0)} /> —{' '}
        {bad ? `${errors.active.length} active error${errors.active.length === 1 ? '' : 's'} (GERROR ≠ GERRORN)` : 'no active global error (GERROR = GERRORN)'}
      </p>
      {bad && (
        <ul className="mt-1 space-y-1">
          {errors.active.map((n) => (
            <li key={n}>
              <span className="font-mono font-semibold">{n}</span>: {explain(GERROR_DOC, n) || 'a global error condition.'}
            </li>
          ))}
        </ul>
      )}
      {errors.cerror && (
        <p className="mt-1">
          <span className="font-semibold">Command error:</span> {errors.cerror}
          {explain(CERROR_DOC, errors.cerror) && ` — ${explain(CERROR_DOC, errors.cerror)}`}
        </p>
      )}
    </div>
  );
}

/** The command and event queues, their pointers and entries, and the global errors. */
export function QueuesPanel() {
  const snapshot = useExplorer((s) => s.snapshot);
  const ref = useRef<HTMLDivElement>(null);
  return (
    <section aria-labelledby="queues-heading" className="space-y-3 text-slate-900 dark:text-slate-100">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h2 id="queues-heading" className="text-lg font-semibold">
          Queues
        </h2>
        <ExportButtons target={ref} name="queues" />
      </div>
      {snapshot === null ? (
        <p role="status" className="text-sm text-slate-700 dark:text-slate-300">
          Loading the machine state…
        </p>
      ) : (
        <div ref={ref} className="space-y-3 bg-white dark:bg-slate-950">
          <GlobalErrors errors={snapshot.errors} />
          <div className="grid grid-cols-1 gap-3 lg:grid-cols-2">
            <QueueCard q={snapshot.cmdq} />
            <QueueCard q={snapshot.eventq} />
          </div>
        </div>
      )}
    </section>
  );
}
