import { useId, useMemo, useState, type Ref } from 'react';
import type { BitField, RegisterView } from '../../scenario/view';
import { bin, dwordHex, hex, toBig } from './Hex';

export interface BitDiagramProps {
  /** The structure to draw (STE, CD, L1STD, command, event record, register…). */
  view: RegisterView;
  /** Names of fields to mark (e.g. the fields that differ between a host and a shadow STE). */
  highlight?: readonly string[];
  /** What a highlighted field is, for its label (default `differs`). */
  highlightLabel?: string;
  /** Heading level of the title (default 3). */
  headingLevel?: 3 | 4 | 5 | 6;
  /** Hide the title (when the caller already shows one). */
  hideTitle?: boolean;
  /** Hide the raw dwords list. */
  hideRaw?: boolean;
  className?: string;
  /** Ref to the outer element (for ExportButtons). */
  diagramRef?: Ref<HTMLElement>;
}

/** One box of a dword row: a field (or the part of one in this dword) or an unnamed / RES0 gap. */
interface Piece {
  kind: 'field' | 'gap';
  /** Absolute bit positions of this piece. */
  hi: number;
  lo: number;
  field?: BitField;
  /** 1-based part number and count when a field crosses a dword boundary. */
  part?: [number, number];
  /** The piece's own value (for a gap: from the raw dwords). */
  value: bigint;
  nonzero: boolean;
  highlighted: boolean;
}

interface Detail {
  name: string;
  hi: number;
  lo: number;
  value: bigint;
  doc: string;
  meaning?: string;
  gap: boolean;
  highlighted: boolean;
  part?: [number, number];
}

const MASK64 = (1n << 64n) - 1n;

function rawBits(raw: readonly bigint[], hi: number, lo: number): bigint {
  let v = 0n;
  for (let b = hi; b >= lo; b--) {
    const w = raw[Math.floor(b / 64)] ?? 0n;
    v = (v << 1n) | ((w >> BigInt(b % 64)) & 1n);
  }
  return v;
}

/** Abbreviate a name to roughly what fits in `bits` columns. */
function abbreviate(name: string, bits: number): string {
  const fit = Math.max(1, Math.floor(bits * 1.4));
  if (name.length <= fit) return name;
  if (fit <= 2) return name.slice(0, fit);
  return name.slice(0, fit - 1) + '…';
}

function rangeText(hi: number, lo: number): string {
  return hi === lo ? `[${hi}]` : `[${hi}:${lo}]`;
}

function valueText(v: bigint, width: number): string {
  return width <= 16 ? `${hex(v)} (${bin(v, width)})` : hex(v);
}

function buildRows(view: RegisterView, highlight: ReadonlySet<string>): Piece[][] {
  const dwords = Math.max(1, Math.ceil(view.width / 64), view.raw.length);
  const raw = Array.from({ length: dwords }, (_, i) => toBig(view.raw[i]) & MASK64);
  const rows: Piece[][] = Array.from({ length: dwords }, () => []);
  for (const f of view.fields) {
    const hi = Math.max(f.hi, f.lo);
    const lo = Math.min(f.hi, f.lo);
    if (lo < 0 || hi >= dwords * 64) continue;
    const d0 = Math.floor(lo / 64);
    const d1 = Math.floor(hi / 64);
    const fv = toBig(f.value);
    for (let d = d0; d <= d1; d++) {
      const plo = Math.max(lo, d * 64);
      const phi = Math.min(hi, d * 64 + 63);
      // The piece's own bits of the field value.
      const mask = (1n << BigInt(phi - plo + 1)) - 1n;
      const pv = (fv >> BigInt(plo - lo)) & mask;
      rows[d].push({
        kind: 'field',
        hi: phi,
        lo: plo,
        field: f,
        part: d1 > d0 ? [d - d0 + 1, d1 - d0 + 1] : undefined,
        value: pv,
        nonzero: fv !== 0n,
        highlighted: highlight.has(f.name),
      });
    }
  }
  // Fill the gaps (RES0 / unnamed bits), reading their value from the raw dwords.
  return rows.map((pieces, d) => {
    const sorted = pieces.sort((a, b) => b.hi - a.hi);
    const out: Piece[] = [];
    let next = d * 64 + 63;
    const gap = (hi: number, lo: number) => {
      const v = rawBits(raw, hi, lo);
      out.push({ kind: 'gap', hi, lo, value: v, nonzero: v !== 0n, highlighted: false });
    };
    for (const p of sorted) {
      if (p.hi > next) continue; // overlapping field: drawn once only
      if (p.hi < next) gap(next, p.hi + 1);
      out.push(p);
      next = p.lo - 1;
    }
    if (next >= d * 64) gap(next, d * 64);
    return out;
  });
}

function pieceClass(p: Piece): string {
  const base =
    'relative flex min-w-0 flex-col items-center justify-center overflow-hidden border px-px py-0.5 text-center leading-tight ' +
    'focus-visible:z-10 focus-visible:outline-3 focus-visible:outline-offset-0 focus-visible:outline-sky-600 dark:focus-visible:outline-sky-300 ' +
    'motion-safe:transition-colors motion-reduce:transition-none';
  if (p.kind === 'gap') {
    return p.nonzero
      ? `${base} cursor-help border-solid border-amber-700 bg-amber-100 text-amber-950 dark:border-amber-400 dark:bg-amber-950 dark:text-amber-50`
      : `${base} cursor-default border-dotted border-slate-400 bg-slate-100 text-slate-600 dark:border-slate-600 dark:bg-slate-800 dark:text-slate-300`;
  }
  const hl = p.highlighted ? ' ring-2 ring-inset ring-fuchsia-700 dark:ring-fuchsia-300' : '';
  return p.nonzero
    ? `${base} cursor-help border-solid border-sky-700 bg-sky-100 font-semibold text-sky-950 hover:bg-sky-200 dark:border-sky-400 dark:bg-sky-950 dark:text-sky-50 dark:hover:bg-sky-900${hl}`
    : `${base} cursor-help border-dashed border-slate-400 bg-white text-slate-700 hover:bg-slate-50 dark:border-slate-500 dark:bg-slate-900 dark:text-slate-200 dark:hover:bg-slate-800${hl}`;
}

function ariaFor(p: Piece, highlightLabel: string): string {
  if (p.kind === 'gap') {
    return `Reserved ${rangeText(p.hi, p.lo)} = ${hex(p.value)}${p.nonzero ? ': reserved bits are set (should be 0)' : ''}`;
  }
  const f = p.field!;
  const width = Math.abs(f.hi - f.lo) + 1;
  const part = p.part ? ` (part ${p.part[0]} of ${p.part[1]}, bits ${rangeText(p.hi, p.lo)})` : '';
  const hl = p.highlighted ? ` (${highlightLabel})` : '';
  return `${f.name} ${rangeText(Math.max(f.hi, f.lo), Math.min(f.hi, f.lo))} = ${valueText(toBig(f.value), width)}${part}${hl}: ${f.meaning ?? f.doc}`;
}

/** A structure drawn as a register diagram: one row per 64-bit dword, bits high to low, left to right. */
export function BitDiagram({
  view,
  highlight,
  highlightLabel = 'differs',
  headingLevel = 3,
  hideTitle = false,
  hideRaw = false,
  className = '',
  diagramRef,
}: BitDiagramProps) {
  const uid = useId().replace(/[^\w-]/g, '');
  const titleId = `bd-${uid}-title`;
  const detailId = `bd-${uid}-detail`;
  const hlSet = useMemo(() => new Set(highlight ?? []), [highlight]);
  const rows = useMemo(() => buildRows(view, hlSet), [view, hlSet]);
  const [detail, setDetail] = useState<Detail | null>(null);
  const H = `h${headingLevel}` as 'h3';

  const show = (p: Piece) => {
    if (p.kind === 'gap') {
      setDetail({
        name: 'Reserved (RES0) / unnamed',
        hi: p.hi,
        lo: p.lo,
        value: p.value,
        doc: 'Bits the model does not decode: RES0 or a feature it does not implement. Software should write 0.',
        meaning: p.nonzero ? 'Some of these bits are set: reserved bits should be 0.' : undefined,
        gap: true,
        highlighted: false,
      });
      return;
    }
    const f = p.field!;
    setDetail({
      name: f.name,
      hi: Math.max(f.hi, f.lo),
      lo: Math.min(f.hi, f.lo),
      value: toBig(f.value),
      doc: f.doc,
      meaning: f.meaning,
      gap: false,
      highlighted: p.highlighted,
      part: p.part,
    });
  };

  const dwords = rows.length;

  return (
    <figure
      ref={diagramRef as Ref<HTMLElement>}
      aria-labelledby={hideTitle ? undefined : titleId}
      aria-label={hideTitle ? view.title : undefined}
      className={`min-w-0 space-y-2 rounded-md border border-slate-200 bg-white p-2 text-slate-900 dark:border-slate-700 dark:bg-slate-950 dark:text-slate-100 ${className}`}
    >
      {!hideTitle && (
        <figcaption>
          <H id={titleId} className="text-sm font-semibold">
            {view.title}{' '}
            <span className="font-normal text-slate-600 dark:text-slate-300">
              ({view.width} bits, {dwords} dword{dwords === 1 ? '' : 's'})
            </span>
          </H>
        </figcaption>
      )}

      <ul className="flex flex-wrap gap-x-3 gap-y-1 text-xs text-slate-700 dark:text-slate-300" aria-label="Legend">
        <li className="flex items-center gap-1">
          <span aria-hidden="true" className="inline-block h-3 w-4 border border-solid border-sky-700 bg-sky-100 dark:border-sky-400 dark:bg-sky-950" />
          non-zero (bold, solid border)
        </li>
        <li className="flex items-center gap-1">
          <span aria-hidden="true" className="inline-block h-3 w-4 border border-dashed border-slate-400 bg-white dark:bg-slate-900" />
          zero (dashed border)
        </li>
        <li className="flex items-center gap-1">
          <span aria-hidden="true" className="inline-block h-3 w-4 border border-dotted border-slate-400 bg-slate-100 dark:bg-slate-800" />
          reserved / unnamed (RES0)
        </li>
        {hlSet.size > 0 && (
          <li className="flex items-center gap-1">
            <span aria-hidden="true" className="inline-block h-3 w-4 border border-slate-400 ring-2 ring-inset ring-fuchsia-700 dark:ring-fuchsia-300" />
            ◆ {highlightLabel}
          </li>
        )}
      </ul>

      <div className="space-y-1.5 overflow-x-auto">
        {rows.map((pieces, d) => {
          const top = d * 64 + 63;
          const bottom = d * 64;
          const label = `DW${d} [${top}:${bottom}]`;
          return (
            <div key={d} role="group" aria-label={label} className="flex min-w-[30rem] items-stretch gap-1">
              <div className="w-[6rem] shrink-0 self-center font-mono text-xs text-slate-700 dark:text-slate-300">{label}</div>
              <div className="min-w-0 flex-1">
                <div aria-hidden="true" className="grid grid-cols-[repeat(64,minmax(0,1fr))] font-mono text-[0.625rem] text-slate-600 dark:text-slate-300">
                  {[63, 55, 47, 39, 31, 23, 15, 7, 0].map((b) => (
                    <span key={b} style={{ gridColumnStart: 64 - b, gridRowStart: 1 }} className="whitespace-nowrap">
                      {bottom + b}
                    </span>
                  ))}
                </div>
                <div className="grid min-h-[2.75rem] grid-cols-[repeat(64,minmax(0,1fr))] text-[0.6875rem]">
                  {pieces.map((p) => {
                    const bits = p.hi - p.lo + 1;
                    const colStart = 64 - (p.hi - bottom);
                    const style = { gridColumn: `${colStart} / span ${bits}`, gridRowStart: 1 };
                    const aria = ariaFor(p, highlightLabel);
                    const focusable = p.kind === 'field' || p.nonzero;
                    const name = p.kind === 'gap' ? (p.nonzero ? 'RES0!' : bits >= 4 ? 'RES0' : '') : p.field!.name;
                    const shown = abbreviate((p.highlighted ? '◆' : '') + name, bits);
                    const val = p.kind === 'field' ? hex(p.value) : p.nonzero ? hex(p.value) : '';
                    return (
                      <div
                        key={`${p.hi}-${p.lo}`}
                        style={style}
                        className={pieceClass(p)}
                        tabIndex={focusable ? 0 : undefined}
                        role={focusable ? 'button' : undefined}
                        aria-hidden={focusable ? undefined : true}
                        onMouseEnter={() => show(p)}
                        onFocus={() => show(p)}
                        onClick={() => show(p)}
                      >
                        {/* The accessible name is the full description; the visible text is an abbreviation of it. */}
                        {focusable && <span className="sr-only">{aria}</span>}
                        <span aria-hidden="true" className="block w-full truncate">
                          {shown}
                        </span>
                        {bits >= 3 && val && (
                          <span aria-hidden="true" className="block w-full truncate font-mono font-normal">
                            {abbreviate(val, bits + 1)}
                          </span>
                        )}
                      </div>
                    );
                  })}
                </div>
              </div>
            </div>
          );
        })}
      </div>

      <div
        id={detailId}
        className="min-h-[4.5rem] rounded border border-slate-300 bg-slate-50 p-2 text-sm dark:border-slate-600 dark:bg-slate-900"
      >
        {detail ? (
          <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-0.5">
            <dt className="font-medium text-slate-700 dark:text-slate-300">Field</dt>
            <dd className="font-semibold">
              {detail.name}
              {detail.highlighted && <span className="ml-2 font-normal text-fuchsia-800 dark:text-fuchsia-200">◆ {highlightLabel}</span>}
            </dd>
            <dt className="font-medium text-slate-700 dark:text-slate-300">Bits</dt>
            <dd className="font-mono">
              {rangeText(detail.hi, detail.lo)} ({detail.hi - detail.lo + 1} bit{detail.hi === detail.lo ? '' : 's'}
              {Math.floor(detail.hi / 64) === Math.floor(detail.lo / 64)
                ? `, DW${Math.floor(detail.lo / 64)} ${rangeText(detail.hi % 64, detail.lo % 64)}`
                : ', crosses a dword boundary'}
              )
            </dd>
            <dt className="font-medium text-slate-700 dark:text-slate-300">Value</dt>
            <dd className="font-mono break-all">
              {valueText(detail.value, detail.hi - detail.lo + 1)}
              {detail.value < 1n << 53n && detail.value > 9n ? ` = ${detail.value.toString(10)}` : ''}
            </dd>
            <dt className="font-medium text-slate-700 dark:text-slate-300">About</dt>
            <dd>{detail.doc}</dd>
            {detail.meaning && (
              <>
                <dt className="font-medium text-slate-700 dark:text-slate-300">Here</dt>
                <dd>{detail.meaning}</dd>
              </>
            )}
          </dl>
        ) : (
          <p className="text-slate-600 dark:text-slate-300">Hover over or focus a field (Tab) to see its name, bits, value and meaning.</p>
        )}
      </div>

      {!hideRaw && (
        <div className="text-xs">
          <span className="font-medium text-slate-700 dark:text-slate-300">Raw: </span>
          <ul className="inline-flex flex-wrap gap-x-3" aria-label={`Raw dwords of ${view.title}`}>
            {rows.map((_, d) => (
              <li key={d} className="font-mono">
                DW{d} {dwordHex(view.raw[d] ?? '0x0')}
              </li>
            ))}
          </ul>
        </div>
      )}

      {view.notes.length > 0 && (
        <ul className="list-disc space-y-0.5 pl-5 text-sm text-slate-800 dark:text-slate-200" aria-label={`Notes on ${view.title}`}>
          {view.notes.map((n, i) => (
            <li key={i}>{n}</li>
          ))}
        </ul>
      )}

      {view.warnings.length > 0 && (
        <div
          role="note"
          aria-label={`Warnings on ${view.title}`}
          className="rounded border border-amber-700 bg-amber-50 p-2 text-sm text-amber-950 dark:border-amber-400 dark:bg-amber-950 dark:text-amber-50"
        >
          <ul className="space-y-0.5">
            {view.warnings.map((w, i) => (
              <li key={i} className="flex gap-1.5">
                <span aria-hidden="true">⚠</span>
                <span>
                  <span className="sr-only">Warning: </span>
                  {w}
                </span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </figure>
  );
}
