/**
 * Small SVG charts for the cost comparison: d3 computes scales and ticks,
 * React renders the SVG. Each design has a colour (dark and light variants
 * with ≥ 3:1 contrast against the background), a fill pattern, a line dash
 * and a marker shape, and every bar and line carries a direct label, so
 * nothing depends on colour alone.
 *
 * Sizes are in user units on a viewBox whose width is set in rem, so the
 * charts (text included) grow with the root font size (presentation mode).
 */
import { format, scaleBand, scaleLinear, scaleLog } from 'd3';
import type { ReactNode } from 'react';
import type { DesignNameView } from '../../scenario/view';

export interface DesignStyle {
  label: string;
  /** Classes: SVG fill, SVG stroke, HTML text colour. */
  fill: string;
  stroke: string;
  text: string;
  /** Line dash (SVG stroke-dasharray), '' = solid. */
  dash: string;
  marker: 'circle' | 'square' | 'triangle' | 'diamond';
  pattern: 'solid' | 'diagonal' | 'cross' | 'dots';
  /** Short description of the pattern / line for legends. */
  look: string;
}

export const DESIGN_STYLE: Record<DesignNameView, DesignStyle> = {
  kernel: {
    label: 'kernel',
    fill: 'fill-sky-700 dark:fill-sky-300',
    stroke: 'stroke-sky-700 dark:stroke-sky-300',
    text: 'text-sky-800 dark:text-sky-300',
    dash: '',
    marker: 'circle',
    pattern: 'solid',
    look: 'solid fill, solid line, circles',
  },
  paravirt: {
    label: 'paravirt',
    fill: 'fill-amber-700 dark:fill-amber-300',
    stroke: 'stroke-amber-700 dark:stroke-amber-300',
    text: 'text-amber-800 dark:text-amber-300',
    dash: '7 3',
    marker: 'square',
    pattern: 'diagonal',
    look: 'diagonal stripes, dashed line, squares',
  },
  nested: {
    label: 'nested',
    fill: 'fill-emerald-700 dark:fill-emerald-300',
    stroke: 'stroke-emerald-700 dark:stroke-emerald-300',
    text: 'text-emerald-800 dark:text-emerald-300',
    dash: '2 3',
    marker: 'triangle',
    pattern: 'cross',
    look: 'cross-hatch, dotted line, triangles',
  },
  identity: {
    label: 'identity',
    fill: 'fill-fuchsia-700 dark:fill-fuchsia-300',
    stroke: 'stroke-fuchsia-700 dark:stroke-fuchsia-300',
    text: 'text-fuchsia-800 dark:text-fuchsia-300',
    dash: '10 3 2 3',
    marker: 'diamond',
    pattern: 'dots',
    look: 'dots, dash-dot line, diamonds',
  },
};

const TEXT = 'fill-slate-800 dark:fill-slate-100';
const MUTED = 'fill-slate-600 dark:fill-slate-300';
const GRID = 'stroke-slate-200 dark:stroke-slate-700';
const AXIS = 'stroke-slate-500 dark:stroke-slate-400';
const BG = 'fill-white dark:fill-slate-950';
const FONT = 12;

/** A number in µs with a unit that suits it (µs, ms, s). */
export function fmtUs(us: number): string {
  if (!Number.isFinite(us)) return '—';
  const a = Math.abs(us);
  if (a >= 1e6) return `${format('.3~r')(us / 1e6)} s`;
  if (a >= 1e3) return `${format('.3~r')(us / 1e3)} ms`;
  if (a === 0) return '0 µs';
  if (a < 0.001) return `${format('.2~e')(us)} µs`;
  return `${format('.3~r')(us)} µs`;
}

/** A count, with thousands separators (or SI above a million). */
export function fmtCount(n: number): string {
  if (!Number.isFinite(n)) return '—';
  if (Math.abs(n) >= 1e7) return format('.3~s')(n);
  return format(',')(Math.round(n));
}

/** A time unit for an axis whose largest value is `maxUs`. */
export function timeUnit(maxUs: number): { unit: string; div: number } {
  if (maxUs >= 1e6) return { unit: 's', div: 1e6 };
  if (maxUs >= 1e4) return { unit: 'ms', div: 1e3 };
  return { unit: 'µs', div: 1 };
}

/** Fill patterns for the designs; ids are `${prefix}-${design}`. */
export function PatternDefs({ prefix }: { prefix: string }) {
  return (
    <defs>
      {(Object.keys(DESIGN_STYLE) as DesignNameView[]).map((d) => {
        const s = DESIGN_STYLE[d];
        const id = `${prefix}-${d}`;
        if (s.pattern === 'solid') {
          return (
            <pattern key={d} id={id} patternUnits="userSpaceOnUse" width="6" height="6">
              <rect width="6" height="6" className={s.fill} />
            </pattern>
          );
        }
        return (
          <pattern key={d} id={id} patternUnits="userSpaceOnUse" width="6" height="6">
            <rect width="6" height="6" className={BG} />
            {s.pattern === 'diagonal' && <path d="M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2" className={s.stroke} strokeWidth="1.6" />}
            {s.pattern === 'cross' && <path d="M0,3 h6 M3,0 v6" className={s.stroke} strokeWidth="1.4" />}
            {s.pattern === 'dots' && <circle cx="3" cy="3" r="1.6" className={s.fill} />}
          </pattern>
        );
      })}
    </defs>
  );
}

/** A marker shape centred on (x, y). */
export function Marker({ shape, x, y, className }: { shape: DesignStyle['marker']; x: number; y: number; className: string }) {
  const r = 4;
  switch (shape) {
    case 'circle':
      return <circle cx={x} cy={y} r={r} className={className} />;
    case 'square':
      return <rect x={x - r} y={y - r} width={2 * r} height={2 * r} className={className} />;
    case 'triangle':
      return <path d={`M${x},${y - r - 1} L${x + r + 1},${y + r} L${x - r - 1},${y + r} Z`} className={className} />;
    case 'diamond':
      return <path d={`M${x},${y - r - 1} L${x + r + 1},${y} L${x},${y + r + 1} L${x - r - 1},${y} Z`} className={className} />;
  }
}

/** The design's swatch for HTML legends and tables (pattern, line, marker). */
export function DesignSwatch({ design, prefix }: { design: DesignNameView; prefix: string }) {
  const s = DESIGN_STYLE[design];
  return (
    <svg width="2.25rem" height="1rem" viewBox="0 0 36 16" aria-hidden="true" className="inline-block shrink-0 align-middle">
      <PatternDefs prefix={prefix} />
      <rect x="1" y="2" width="12" height="12" fill={`url(#${prefix}-${design})`} className={s.stroke} strokeWidth="1.5" />
      <line x1="16" y1="8" x2="35" y2="8" className={s.stroke} strokeWidth="2" strokeDasharray={s.dash || undefined} />
      <Marker shape={s.marker} x={26} y={8} className={s.fill} />
    </svg>
  );
}

function Chart({ width, height, titleId, descId, title, desc, children }: { width: number; height: number; titleId: string; descId: string; title: string; desc: string; children: ReactNode }) {
  return (
    <svg
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-labelledby={`${titleId} ${descId}`}
      style={{ width: `${width / 16}rem`, maxWidth: '100%', height: 'auto' }}
      className="block font-sans"
      fontSize={FONT}
    >
      <title id={titleId}>{title}</title>
      <desc id={descId}>{desc}</desc>
      <rect width={width} height={height} className={BG} />
      {children}
    </svg>
  );
}

export interface BarGroup {
  label: string;
  values: Partial<Record<DesignNameView, number>>;
}

export interface GroupedBarChartProps {
  /** Unique prefix for ids (patterns, title). */
  id: string;
  title: string;
  desc: string;
  groups: BarGroup[];
  designs: DesignNameView[];
  fmt: (v: number) => string;
  axisTitle: string;
  log?: boolean;
}

/** Horizontal grouped bars: one group per category, one bar per design, each bar labelled with its design and value. */
export function GroupedBarChart({ id, title, desc, groups, designs, fmt, axisTitle, log = false }: GroupedBarChartProps) {
  const width = 720;
  // Room for the longest group label (bold 12-unit text is about 7.2 units per character).
  const left = Math.min(240, Math.max(100, Math.ceil(Math.max(0, ...groups.map((g) => g.label.length)) * 7.2) + 16));
  const margin = { top: 8, right: 150, bottom: 44, left };
  const barH = 15;
  const groupH = designs.length * (barH + 3) + 14;
  const height = margin.top + groups.length * groupH + margin.bottom;
  const innerW = width - margin.left - margin.right;
  const all = groups.flatMap((g) => designs.map((d) => g.values[d] ?? 0));
  const max = Math.max(0, ...all);
  const minPos = Math.min(...all.filter((v) => v > 0));
  let x: (v: number) => number;
  let ticks: number[];
  let tickFmt: (v: number) => string;
  if (log && max > 0) {
    const lo = 10 ** Math.floor(Math.log10(minPos)) / 2;
    const s = scaleLog()
      .domain([lo, Math.max(max, lo * 10)])
      .range([0, innerW])
      .clamp(true);
    x = (v) => (v > 0 ? s(v) : 0);
    ticks = s.ticks().filter((t) => Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9);
    while (ticks.length > 7) ticks = ticks.filter((_, i) => i % 2 === 0);
    tickFmt = format('~s');
  } else {
    const s = scaleLinear()
      .domain([0, max > 0 ? max : 1])
      .nice(5)
      .range([0, innerW]);
    x = s;
    ticks = s.ticks(5);
    tickFmt = (v) => fmt(v);
  }
  const y = scaleBand<number>()
    .domain(groups.map((_, i) => i))
    .range([margin.top, margin.top + groups.length * groupH]);
  const titleId = `${id}-title`;
  const descId = `${id}-desc`;
  return (
    <Chart width={width} height={height} titleId={titleId} descId={descId} title={title} desc={desc}>
      <PatternDefs prefix={id} />
      <g transform={`translate(${margin.left},0)`}>
        {ticks.map((t) => (
          <g key={t} transform={`translate(${x(t)},0)`}>
            <line y1={margin.top} y2={height - margin.bottom} className={GRID} />
            <line y1={height - margin.bottom} y2={height - margin.bottom + 5} className={AXIS} />
            <text y={height - margin.bottom + 17} textAnchor="middle" className={MUTED}>
              {tickFmt(t)}
            </text>
          </g>
        ))}
        <line x1={0} x2={innerW} y1={height - margin.bottom} y2={height - margin.bottom} className={AXIS} />
        <line x1={0} x2={0} y1={margin.top} y2={height - margin.bottom} className={AXIS} />
        <text x={innerW / 2} y={height - 6} textAnchor="middle" className={TEXT} fontWeight={600}>
          {axisTitle}
          {log ? ' (log scale)' : ''}
        </text>
      </g>
      {groups.map((g, gi) => {
        const y0 = (y(gi) ?? 0) + 7;
        return (
          <g key={g.label}>
            <text x={margin.left - 8} y={y0 + (designs.length * (barH + 3)) / 2} textAnchor="end" dominantBaseline="middle" className={TEXT} fontWeight={600}>
              {g.label}
            </text>
            {designs.map((d, di) => {
              const v = g.values[d] ?? 0;
              const w = Math.max(0, x(v));
              const by = y0 + di * (barH + 3);
              const s = DESIGN_STYLE[d];
              return (
                <g key={d}>
                  {w > 0 && <rect x={margin.left} y={by} width={w} height={barH} fill={`url(#${id}-${d})`} className={s.stroke} strokeWidth={1.5} />}
                  <text x={margin.left + w + 5} y={by + barH / 2} dominantBaseline="middle" className={TEXT}>
                    <tspan className={s.fill} fontWeight={600}>
                      {s.label}
                    </tspan>{' '}
                    {fmt(v)}
                  </text>
                </g>
              );
            })}
          </g>
        );
      })}
    </Chart>
  );
}

export interface LineSeries {
  design: DesignNameView;
  points: ReadonlyArray<readonly [number, number]>;
}

export interface LineChartProps {
  id: string;
  title: string;
  desc: string;
  series: LineSeries[];
  xTitle: string;
  /** Values are µs; the axis picks µs, ms or s. */
  yTitle: string;
}

/** Cumulative modelled time against requests completed, one line per design, labelled at its end. */
export function LineChart({ id, title, desc, series, xTitle, yTitle }: LineChartProps) {
  const width = 720;
  const height = 340;
  const margin = { top: 12, right: 110, bottom: 46, left: 72 };
  const innerW = width - margin.left - margin.right;
  const innerH = height - margin.top - margin.bottom;
  const maxX = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[0])));
  const maxY = Math.max(0, ...series.flatMap((s) => s.points.map((p) => p[1])));
  const { unit, div } = timeUnit(maxY);
  const x = scaleLinear().domain([0, maxX]).nice(6).range([0, innerW]);
  const yS = scaleLinear()
    .domain([0, maxY > 0 ? maxY / div : 1])
    .nice(5)
    .range([innerH, 0]);
  const y = (us: number) => yS(us / div);
  const xFmt = format('~s');
  const yFmt = format('~r');
  // End labels, pushed apart so they do not overlap.
  const ends = series
    .filter((s) => s.points.length > 0)
    .map((s) => ({ design: s.design, y: y(s.points[s.points.length - 1][1]) }))
    .sort((a, b) => a.y - b.y);
  for (let i = 1; i < ends.length; i++) if (ends[i].y - ends[i - 1].y < 14) ends[i].y = ends[i - 1].y + 14;
  const overflow = ends.length > 0 ? ends[ends.length - 1].y - (innerH + 4) : 0;
  if (overflow > 0) for (const e of ends) e.y -= overflow;
  return (
    <Chart width={width} height={height} titleId={`${id}-title`} descId={`${id}-desc`} title={title} desc={desc}>
      <g transform={`translate(${margin.left},${margin.top})`}>
        {yS.ticks(5).map((t) => (
          <g key={`y${t}`} transform={`translate(0,${yS(t)})`}>
            <line x2={innerW} className={GRID} />
            <line x1={-5} x2={0} className={AXIS} />
            <text x={-8} textAnchor="end" dominantBaseline="middle" className={MUTED}>
              {yFmt(t)}
            </text>
          </g>
        ))}
        {x.ticks(6).map((t) => (
          <g key={`x${t}`} transform={`translate(${x(t)},0)`}>
            <line y1={innerH} y2={innerH + 5} className={AXIS} />
            <text y={innerH + 17} textAnchor="middle" className={MUTED}>
              {xFmt(t)}
            </text>
          </g>
        ))}
        <line x2={innerW} y1={innerH} y2={innerH} className={AXIS} />
        <line y2={innerH} className={AXIS} />
        <text x={innerW / 2} y={innerH + 38} textAnchor="middle" className={TEXT} fontWeight={600}>
          {xTitle}
        </text>
        <text transform={`translate(${-56},${innerH / 2}) rotate(-90)`} textAnchor="middle" className={TEXT} fontWeight={600}>
          {yTitle} ({unit})
        </text>
        {series.map((s, si) => {
          const st = DESIGN_STYLE[s.design];
          const d = s.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join('');
          // A few markers per line, staggered between designs so they do not sit on each other.
          const n = s.points.length;
          const marks = n < 2 ? [] : [0.2, 0.45, 0.7, 0.95].map((f) => s.points[Math.min(n - 1, Math.round((f - si * 0.04) * (n - 1)))]);
          return (
            <g key={s.design}>
              <path d={d} fill="none" className={st.stroke} strokeWidth={2} strokeDasharray={st.dash || undefined} strokeLinejoin="round" />
              {marks.map((p, i) => (
                <Marker key={i} shape={st.marker} x={x(p[0])} y={y(p[1])} className={st.fill} />
              ))}
            </g>
          );
        })}
        {ends.map((e) => (
          <text key={e.design} x={innerW + 8} y={e.y} dominantBaseline="middle" className={DESIGN_STYLE[e.design].fill} fontWeight={600}>
            {DESIGN_STYLE[e.design].label}
          </text>
        ))}
      </g>
    </Chart>
  );
}
