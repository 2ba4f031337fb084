/**
 * Pure helpers for the page-table tree and the walk views: indexing a PtTree,
 * expansion state, the d3-hierarchy layout (which depends only on the tree and
 * the expansion state, never on the zoom), viewport culling, IOVA search,
 * lighting the last walk's path, and RegisterViews built from view-model data.
 * No DOM, no React: everything here is testable under Vitest's node environment.
 */
import { descriptorFields } from '../../scenario/views/descfields';
import { hierarchy, tree as d3tree } from 'd3';
import type { PtNode, PtTree, RegisterView, TracePurposeView, WalkAccess, WalkRequestView, WalkView } from '../../scenario/view';

// ---------------------------------------------------------------------------
// Hex

/** Parse a hex address typed by a user: optional `0x`, `_` and spaces allowed. Null when invalid. */
export function parseHexInput(text: string): bigint | null {
  const t = text.trim().replace(/[_\s]/g, '').toLowerCase();
  const digits = t.startsWith('0x') ? t.slice(2) : t;
  if (digits.length === 0 || digits.length > 16 || !/^[0-9a-f]+$/.test(digits)) return null;
  return BigInt(`0x${digits}`);
}

/** A view-model hex string (`0x…`) as a bigint; 0n when malformed. */
export function hexToBig(h: string | undefined | null): bigint {
  if (!h) return 0n;
  try {
    return BigInt(h);
  } catch {
    return 0n;
  }
}

/** Canonical lower-case `0x…` without leading zeros. */
export function bigToHex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

/** Normalise a hex string so that equal values compare equal (`0x0001000` = `0x1000`). */
export function normHex(h: string | undefined | null): string {
  return bigToHex(hexToBig(h));
}

/** A human-readable size: 4 KiB, 2 MiB, 1 GiB… */
export function formatSize(bytes: bigint): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let v = bytes;
  let u = 0;
  while (u < units.length - 1 && v >= 1024n && v % 1024n === 0n) {
    v /= 1024n;
    u++;
  }
  return `${v.toString()} ${units[u]}`;
}

// ---------------------------------------------------------------------------
// Tree index

export interface TreeIndex {
  byId: Map<string, PtNode>;
  parent: Map<string, string | null>;
  /** Total number of nodes (fully expanded). */
  count: number;
}

export function indexTree(root: PtNode): TreeIndex {
  const byId = new Map<string, PtNode>();
  const parent = new Map<string, string | null>();
  const stack: Array<[PtNode, string | null]> = [[root, null]];
  while (stack.length > 0) {
    const [n, p] = stack.pop()!;
    byId.set(n.id, n);
    parent.set(n.id, p);
    if (n.children) for (const c of n.children) stack.push([c, n.id]);
  }
  return { byId, parent, count: byId.size };
}

export function hasChildren(n: PtNode): boolean {
  return (n.children?.length ?? 0) > 0;
}

/** Ids of n's ancestors, root first (n itself excluded). */
export function ancestorsOf(idx: TreeIndex, id: string): string[] {
  const out: string[] = [];
  let p = idx.parent.get(id) ?? null;
  while (p !== null) {
    out.push(p);
    p = idx.parent.get(p) ?? null;
  }
  return out.reverse();
}

/** Default threshold above which a tree starts collapsed below its first level. */
export const LARGE_TREE_NODES = 200;

/**
 * Initial expansion: everything when the whole tree has at most `threshold`
 * nodes, otherwise only the root (its children show, collapsed, with their leaf count).
 */
export function initialExpanded(root: PtNode, threshold = LARGE_TREE_NODES): Set<string> {
  const idx = indexTree(root);
  if (idx.count <= threshold) {
    const all = new Set<string>();
    for (const n of idx.byId.values()) if (hasChildren(n)) all.add(n.id);
    return all;
  }
  return new Set([root.id]);
}

/** A copy of `expanded` with every id in `ids` added (returns the same set when nothing changes). */
export function withExpanded(expanded: Set<string>, ids: Iterable<string>): Set<string> {
  let out: Set<string> | null = null;
  for (const id of ids) {
    if (!expanded.has(id)) {
      out ??= new Set(expanded);
      out.add(id);
    }
  }
  return out ?? expanded;
}

// ---------------------------------------------------------------------------
// Visible (expanded) nodes in document order — the ARIA tree's rows

export interface VisibleItem {
  node: PtNode;
  /** 1-based, as aria-level. */
  level: number;
  /** 1-based position among siblings, and their number. */
  posinset: number;
  setsize: number;
  parentId: string | null;
  expandable: boolean;
  expanded: boolean;
}

export function visibleItems(root: PtNode, expanded: ReadonlySet<string>): VisibleItem[] {
  const out: VisibleItem[] = [];
  const stack: Array<{ node: PtNode; level: number; pos: number; size: number; parentId: string | null }> = [
    { node: root, level: 1, pos: 1, size: 1, parentId: null },
  ];
  while (stack.length > 0) {
    const e = stack.pop()!;
    const expandable = hasChildren(e.node);
    const isOpen = expandable && expanded.has(e.node.id);
    out.push({ node: e.node, level: e.level, posinset: e.pos, setsize: e.size, parentId: e.parentId, expandable, expanded: isOpen });
    if (isOpen) {
      const ch = e.node.children!;
      for (let i = ch.length - 1; i >= 0; i--) {
        stack.push({ node: ch[i], level: e.level + 1, pos: i + 1, size: ch.length, parentId: e.node.id });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Layout (horizontal: root on the left, levels to the right)

export interface LaidNode {
  node: PtNode;
  /** Horizontal position (depth × column width) and vertical position, in layout units. */
  x: number;
  y: number;
  depth: number;
  parentId: string | null;
  expandable: boolean;
  expanded: boolean;
}

export interface LaidLink {
  /** Child id (unique per link). */
  id: string;
  sx: number;
  sy: number;
  tx: number;
  ty: number;
  parentId: string;
}

export interface TreeLayout {
  nodes: LaidNode[];
  links: LaidLink[];
  byId: Map<string, LaidNode>;
  bounds: { x0: number; x1: number; y0: number; y1: number };
}

export interface LayoutOptions {
  /** Vertical distance between adjacent rows. */
  rowHeight: number;
  /** Horizontal distance between levels. */
  colWidth: number;
}

export const DEFAULT_LAYOUT: LayoutOptions = { rowHeight: 26, colWidth: 260 };

/**
 * Lay out the expanded part of the tree with d3-hierarchy's tidy tree. The
 * result depends only on (root, expanded), so the caller memoises it and never
 * recomputes it while zooming.
 */
export function layoutTree(root: PtNode, expanded: ReadonlySet<string>, opts: LayoutOptions = DEFAULT_LAYOUT): TreeLayout {
  const h = hierarchy<PtNode>(root, (d) => (expanded.has(d.id) && d.children && d.children.length > 0 ? d.children : undefined));
  const laid = d3tree<PtNode>()
    .nodeSize([opts.rowHeight, opts.colWidth])
    .separation((a, b) => (a.parent === b.parent ? 1 : 1.25))(h);
  const nodes: LaidNode[] = [];
  const links: LaidLink[] = [];
  const byId = new Map<string, LaidNode>();
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  laid.each((d) => {
    // d3's tree is vertical (x across, y down): swap to draw it horizontally.
    const ln: LaidNode = {
      node: d.data,
      x: d.y,
      y: d.x,
      depth: d.depth,
      parentId: d.parent ? d.parent.data.id : null,
      expandable: hasChildren(d.data),
      expanded: hasChildren(d.data) && expanded.has(d.data.id),
    };
    nodes.push(ln);
    byId.set(ln.node.id, ln);
    if (ln.x < x0) x0 = ln.x;
    if (ln.x > x1) x1 = ln.x;
    if (ln.y < y0) y0 = ln.y;
    if (ln.y > y1) y1 = ln.y;
    if (d.parent) links.push({ id: d.data.id, sx: d.parent.y, sy: d.parent.x, tx: d.y, ty: d.x, parentId: d.parent.data.id });
  });
  return { nodes, links, byId, bounds: { x0, x1, y0, y1 } };
}

// ---------------------------------------------------------------------------
// Viewport culling

export interface ZoomTransformLike {
  x: number;
  y: number;
  k: number;
}

/** A rectangle in layout coordinates. */
export interface LayoutWindow {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/**
 * The part of the layout visible through a viewport of `width`×`height` screen
 * pixels under the zoom transform, grown by `margin` screen pixels and snapped
 * outwards to multiples of `chunk` layout units, so that small pans yield the
 * same window (and no re-render).
 */
export function layoutWindow(t: ZoomTransformLike, width: number, height: number, margin = 200, chunk = 256): LayoutWindow {
  const k = t.k > 0 ? t.k : 1;
  const snapDown = (v: number) => Math.floor(v / chunk) * chunk;
  const snapUp = (v: number) => Math.ceil(v / chunk) * chunk;
  return {
    x0: snapDown((-t.x - margin) / k),
    x1: snapUp((width - t.x + margin) / k),
    y0: snapDown((-t.y - margin) / k),
    y1: snapUp((height - t.y + margin) / k),
  };
}

export function sameWindow(a: LayoutWindow, b: LayoutWindow): boolean {
  return a.x0 === b.x0 && a.x1 === b.x1 && a.y0 === b.y0 && a.y1 === b.y1;
}

/**
 * Nodes inside the window; labels extend to the right of a node, so a node up
 * to `labelWidth` left of the window still counts.
 */
export function cullNodes(nodes: readonly LaidNode[], w: LayoutWindow, labelWidth = 0): LaidNode[] {
  return nodes.filter((n) => n.x >= w.x0 - labelWidth && n.x <= w.x1 && n.y >= w.y0 && n.y <= w.y1);
}

/** Links whose bounding box meets the window. */
export function cullLinks(links: readonly LaidLink[], w: LayoutWindow): LaidLink[] {
  return links.filter(
    (l) => Math.max(l.sx, l.tx) >= w.x0 && Math.min(l.sx, l.tx) <= w.x1 && Math.max(l.sy, l.ty) >= w.y0 && Math.min(l.sy, l.ty) <= w.y1,
  );
}

/** The transform that puts layout point (x, y) at the centre of a width×height viewport at scale k. */
export function centreTransform(x: number, y: number, width: number, height: number, k: number): ZoomTransformLike {
  return { x: width / 2 - x * k, y: height / 2 - y * k, k };
}

// ---------------------------------------------------------------------------
// Search by input address

export function isLeaf(n: PtNode): boolean {
  return n.kind === 'block' || n.kind === 'page';
}

function covers(n: PtNode, ia: bigint): boolean {
  const base = hexToBig(n.iaBase);
  const size = hexToBig(n.iaSize);
  return ia >= base && ia < base + size;
}

/**
 * The path (root first) to the leaf mapping `ia`, or null when no block/page
 * covers it (an invalid entry, a hole, or a part of the tree not drawn).
 */
export function findLeafPath(root: PtNode, ia: bigint): PtNode[] | null {
  const path: PtNode[] = [root];
  let cur = root;
  for (;;) {
    if (isLeaf(cur)) return covers(cur, ia) ? path : null;
    const next = cur.children?.find((c) => c.kind !== 'invalid' && covers(c, ia));
    if (!next) return null;
    path.push(next);
    cur = next;
  }
}

// ---------------------------------------------------------------------------
// The last walk's path

const S1_PURPOSES: ReadonlySet<TracePurposeView> = new Set(['s1-table']);
const S2_PURPOSES: ReadonlySet<TracePurposeView> = new Set(['s2-for-output', 's2-for-s1-table', 's2-for-cd']);

/** Normalised descriptor addresses the walk read from a table of this stage. */
export function walkAddrs(walk: WalkView | null | undefined, stage: 1 | 2): Set<string> {
  const out = new Set<string>();
  if (!walk) return out;
  const want = stage === 1 ? S1_PURPOSES : S2_PURPOSES;
  for (const a of walk.accesses) if (want.has(a.purpose)) out.add(normHex(a.addr));
  return out;
}

export interface LitPath {
  /** Nodes whose descriptor address the walk read. */
  lit: Set<string>;
  /** Those and their ancestors (to expand, and to draw the path's links). */
  onPath: Set<string>;
  /** Ancestors only (the ones to expand so that every lit node shows). */
  toExpand: Set<string>;
}

export function litPath(tree: PtTree, idx: TreeIndex, walk: WalkView | null | undefined): LitPath {
  const addrs = walkAddrs(walk, tree.ref.stage);
  const lit = new Set<string>();
  const onPath = new Set<string>();
  const toExpand = new Set<string>();
  if (addrs.size === 0) return { lit, onPath, toExpand };
  for (const n of idx.byId.values()) {
    if (n.kind === 'root') continue; // the root's addr is its table's, not a descriptor's
    if (!addrs.has(normHex(n.addr))) continue;
    lit.add(n.id);
    onPath.add(n.id);
    for (const a of ancestorsOf(idx, n.id)) {
      onPath.add(a);
      toExpand.add(a);
    }
  }
  return { lit, onPath, toExpand };
}

// ---------------------------------------------------------------------------
// Labels

export function iaRange(n: PtNode): string {
  const base = hexToBig(n.iaBase);
  const size = hexToBig(n.iaSize);
  return `${bigToHex(base)}–${bigToHex(base + (size > 0n ? size - 1n : 0n))}`;
}

/** The one-line label of a node (used in the SVG and the ARIA tree). */
export function nodeLabel(n: PtNode): string {
  switch (n.kind) {
    case 'root':
      return `L${n.level} root table @ ${normHex(n.addr)}`;
    case 'table':
      return `L${n.level} [${n.index}] table @ ${normHex(n.addr)}${n.oa ? ` → ${normHex(n.oa)}` : ''}`;
    case 'block':
    case 'page':
      return `L${n.level} [${n.index}] ${iaRange(n)} → ${n.oa ? normHex(n.oa) : '?'} ${n.kind}`;
    case 'invalid':
      return `L${n.level} [${n.index}] invalid (${iaRange(n)})`;
  }
}

/** A shorter label for the drawing (tables omit their next-level address). */
export function svgLabel(n: PtNode): string {
  switch (n.kind) {
    case 'root':
      return `L${n.level} root @ ${normHex(n.addr)}`;
    case 'table':
      return `L${n.level}[${n.index}] @ ${normHex(n.addr)}`;
    default:
      return nodeLabel(n).replace(/^L(\d+) \[(\d+)\]/, 'L$1[$2]');
  }
}

/**
 * The descriptor as a register diagram. Large trees arrive without per-node
 * `fields`: they are then decoded here from `desc` (a pure decoder of the
 * 64-bit value), given the table's stage and granule.
 */
export function nodeRegisterView(n: PtNode, table?: { stage: 1 | 2; granule: 4096 | 16384 | 65536; lpa?: boolean }): RegisterView {
  const fields = n.fields ?? (n.desc && table && n.kind !== 'root' ? descriptorFields(BigInt(n.desc), table.stage, n.level, table.granule, table.lpa ?? false) : []);
  const kind = n.kind === 'root' ? 'root table' : `${n.kind} descriptor`;
  const notes = [`Input ${iaRange(n)} (${formatSize(hexToBig(n.iaSize))})`, `Descriptor at ${normHex(n.addr)}`];
  if (n.oa) notes.push(n.kind === 'table' ? `Next-level table at ${normHex(n.oa)}` : `Output ${normHex(n.oa)}`);
  if (hasChildren(n) || n.kind === 'table' || n.kind === 'root') notes.push(`${n.leafCount} leaf mapping${n.leafCount === 1 ? '' : 's'} below`);
  return {
    title: `L${n.level} ${kind}${n.index >= 0 ? ` [${n.index}]` : ''}`,
    width: 64,
    raw: [n.desc ?? '0x0'],
    fields,
    notes,
    warnings: [],
  };
}

// ---------------------------------------------------------------------------
// Walk helpers

export const PURPOSE_LABEL: Record<TracePurposeView, string> = {
  's1-table': 'S1 table descriptor',
  's2-for-s1-table': 'S2 read locating an S1 table',
  's2-for-output': 'S2 read translating the output IPA',
  's2-for-cd': 'S2 read locating the CD',
  ste: 'STE fetch',
  cd: 'CD fetch',
  l1std: 'L1 stream table descriptor fetch',
  l1cd: 'L1 CD table descriptor fetch',
};

export const CONFIG_PURPOSES: ReadonlySet<TracePurposeView> = new Set(['ste', 'cd', 'l1std', 'l1cd']);

export function isConfigFetch(a: WalkAccess): boolean {
  return CONFIG_PURPOSES.has(a.purpose);
}

export function accessRegisterView(a: WalkAccess): RegisterView {
  const where = a.stage === 0 ? '' : ` S${a.stage} L${a.level}`;
  return {
    title: `Read #${a.n}: ${PURPOSE_LABEL[a.purpose] ?? a.purpose}${where}${a.kind ? ` (${a.kind})` : ''}`,
    width: 64,
    raw: [a.desc ?? '0x0'],
    fields: a.fields,
    notes: [a.text, `Address ${normHex(a.addr)}${a.ia ? `, translating ${normHex(a.ia)}` : ''}`],
    warnings: a.desc === null ? ['External abort: the read returned no data.'] : [],
  };
}

export type GridCol = number | 's1';

export interface WalkGridModel {
  rows: number[];
  cols: GridCol[];
  /** The row that locates the final output (S2 translation of the output IPA), if any. */
  outputRow: number | null;
  /** Accesses per `${row}:${col}` cell, in read order. */
  cells: Map<string, WalkAccess[]>;
  /** Total accesses placed in the grid. */
  placed: number;
}

export function cellKey(row: number, col: GridCol): string {
  return `${row}:${col}`;
}

/** Arrange a nested walk's accesses on its 2-D grid. Null when the walk has no grid. */
export function walkGrid(walk: WalkView): WalkGridModel | null {
  if (!walk.grid) return null;
  const rowSet = new Set<number>(walk.grid.rows);
  const colSet = new Set<number>(walk.grid.cols);
  const cells = new Map<string, WalkAccess[]>();
  let placed = 0;
  for (const a of walk.accesses) {
    if (a.row === undefined || a.col === undefined) continue;
    rowSet.add(a.row);
    if (a.col !== 's1') colSet.add(a.col);
    const k = cellKey(a.row, a.col);
    const list = cells.get(k);
    if (list) list.push(a);
    else cells.set(k, [a]);
    placed++;
  }
  for (const list of cells.values()) list.sort((p, q) => p.n - q.n);
  const rows = [...rowSet].sort((p, q) => p - q);
  const cols: GridCol[] = [...[...colSet].sort((p, q) => p - q), 's1'];
  // The output row holds the S2 reads translating the final IPA (the row after the S1 leaf).
  const out = walk.accesses.find((a) => a.purpose === 's2-for-output' && a.row !== undefined);
  const outputRow: number | null = out?.row ?? null;
  if (outputRow !== null && !rows.includes(outputRow)) rows.push(outputRow);
  return { rows, cols, outputRow, cells, placed };
}

/** Largest read number of the walk (the playback's end). */
export function lastReadNumber(walk: WalkView | null | undefined): number {
  if (!walk) return 0;
  let m = 0;
  for (const a of walk.accesses) if (a.n > m) m = a.n;
  return m;
}

/** Where a read sits relative to the playback cursor (0 = all shown). */
export function playState(n: number, cursor: number): 'done' | 'current' | 'future' | 'all' {
  if (cursor <= 0) return 'all';
  if (n < cursor) return 'done';
  if (n === cursor) return 'current';
  return 'future';
}

// ---------------------------------------------------------------------------
// prefers-reduced-motion (for useSyncExternalStore; safe without a DOM)

const REDUCED = '(prefers-reduced-motion: reduce)';

export function subscribeReducedMotion(cb: () => void): () => void {
  if (typeof window === 'undefined' || typeof window.matchMedia !== 'function') return () => {};
  const mq = window.matchMedia(REDUCED);
  mq.addEventListener('change', cb);
  return () => mq.removeEventListener('change', cb);
}

export function getReducedMotion(): boolean {
  if (typeof window === 'undefined' || typeof window.matchMedia !== 'function') return false;
  return window.matchMedia(REDUCED).matches;
}

export function getReducedMotionServer(): boolean {
  return false;
}

// ---------------------------------------------------------------------------
// The walk request form

export interface WalkFormState {
  sid: string;
  ssid: string;
  iova: string;
  access: 'read' | 'write' | 'exec';
  priv: boolean;
}

export interface WalkFormErrors {
  sid?: string;
  ssid?: string;
  iova?: string;
}

/** Parse a non-negative decimal (or `0x` hex) integer below `max`. */
export function parseIndex(text: string, max: number): number | null {
  const t = text.trim();
  let v: number;
  if (/^0x[0-9a-f]+$/i.test(t)) v = parseInt(t.slice(2), 16);
  else if (/^\d+$/.test(t)) v = parseInt(t, 10);
  else return null;
  return Number.isSafeInteger(v) && v >= 0 && v < max ? v : null;
}

/** Validate the form: a request, or a message per invalid field. */
export function validateWalkForm(f: WalkFormState): { req: WalkRequestView | null; errors: WalkFormErrors } {
  const errors: WalkFormErrors = {};
  const sid = parseIndex(f.sid, 2 ** 32);
  if (sid === null) errors.sid = 'StreamID must be a whole number from 0 to 4294967295.';
  let ssid: number | undefined;
  if (f.ssid.trim() !== '') {
    const s = parseIndex(f.ssid, 2 ** 20);
    if (s === null) errors.ssid = 'SubstreamID must be empty or a whole number from 0 to 1048575.';
    else ssid = s;
  }
  const ia = parseHexInput(f.iova);
  if (ia === null) errors.iova = 'IOVA must be a hexadecimal number of at most 16 digits, e.g. 0x40001000.';
  if (sid === null || errors.ssid || ia === null) return { req: null, errors };
  const req: WalkRequestView = { sid, iova: bigToHex(ia), access: f.access, priv: f.priv };
  if (ssid !== undefined) req.ssid = ssid;
  return { req, errors };
}
