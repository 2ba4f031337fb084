/**
 * The io-pgtable tree: d3-hierarchy computes positions (horizontal, root on
 * the left), React renders the SVG, d3-zoom owns pan/zoom. Only nodes inside
 * the viewport are rendered; the layout depends only on the expansion state.
 * Beside it, the same tree as a WAI-ARIA tree (the text equivalent and the
 * keyboard interface), virtualised.
 */
import {
  memo,
  useCallback,
  useEffect,
  useId,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
  type FormEvent,
  type KeyboardEvent,
} from 'react';
import { select, zoom, zoomIdentity, type ZoomBehavior, type ZoomTransform } from 'd3';
import { useExplorer } from '../../state/explorer';
import type { PtNode, PtTree, WalkView } from '../../scenario/view';
import { BitDiagram } from '../components/BitDiagram';
import { ExportButtons } from '../components/ExportButtons';
import {
  DEFAULT_LAYOUT,
  ancestorsOf,
  bigToHex,
  centreTransform,
  cullLinks,
  cullNodes,
  findLeafPath,
  formatSize,
  getReducedMotion,
  getReducedMotionServer,
  hexToBig,
  indexTree,
  initialExpanded,
  isLeaf,
  layoutTree,
  layoutWindow,
  litPath,
  nodeLabel,
  nodeRegisterView,
  svgLabel,
  parseHexInput,
  sameWindow,
  subscribeReducedMotion,
  visibleItems,
  withExpanded,
  type LaidLink,
  type LaidNode,
  type LayoutWindow,
  type ZoomTransformLike,
} from './tree-layout';

/** Height of one ARIA tree row, in rem. */
const ROW_REM = 1.75;
/** Extra rows rendered above and below the scrolled window of the ARIA tree. */
const OVERSCAN = 12;
/** Never render more SVG nodes than this at once (zoomed far out on a huge, fully expanded tree). */
const MAX_SVG_NODES = 2500;
/** Below this zoom scale, labels are not drawn (dots only). */
const LABEL_MIN_SCALE = 0.45;
/** Labels extend right of a node by about this many layout units. */
const LABEL_WIDTH = 420;
const SCALE_EXTENT: [number, number] = [0.1, 4];

const FOCUS_RING = 'focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600 dark:focus-visible:outline-sky-400';
const BTN =
  'rounded border border-slate-300 bg-white px-2 py-1 text-sm text-slate-800 hover:bg-slate-100 disabled:opacity-60 ' +
  'motion-safe:transition-colors motion-reduce:transition-none dark:border-slate-600 dark:bg-slate-900 dark:text-slate-100 dark:hover:bg-slate-800 ' +
  FOCUS_RING;
const INPUT =
  'rounded border border-slate-400 bg-white px-2 py-1 font-mono text-sm text-slate-900 aria-[invalid=true]:border-red-700 ' +
  'dark:border-slate-500 dark:bg-slate-900 dark:text-slate-100 dark:aria-[invalid=true]:border-red-400 ' +
  FOCUS_RING;

function useReducedMotion(): boolean {
  return useSyncExternalStore(subscribeReducedMotion, getReducedMotion, getReducedMotionServer);
}

function remPx(): number {
  if (typeof document === 'undefined') return 16;
  const v = parseFloat(getComputedStyle(document.documentElement).fontSize);
  return Number.isFinite(v) && v > 0 ? v : 16;
}

// ---------------------------------------------------------------------------

export function PageTreePanel() {
  const headingId = useId();
  const selectId = useId();
  const snapshot = useExplorer((s) => s.snapshot);
  const tree = useExplorer((s) => s.tree);
  const selectedTable = useExplorer((s) => s.selectedTable);
  const selectTable = useExplorer((s) => s.selectTable);

  const tables = useMemo(() => snapshot?.tables ?? [], [snapshot]);
  const selectedValid = selectedTable !== null && tables.some((t) => t.id === selectedTable);
  const wanted = selectedValid ? selectedTable : (tables[0]?.id ?? null);

  // Pick the first table when none (or one absent at this step) is selected. The Worker
  // client itself asks for the selected table's tree again at every new snapshot.
  useEffect(() => {
    if (snapshot !== null && !selectedValid && wanted !== null) selectTable(wanted);
  }, [snapshot, selectedValid, wanted, selectTable]);

  // While a new tree of the same table loads, keep drawing the previous one.
  const [lastTree, setLastTree] = useState<PtTree | null>(null);
  if (tree && tree !== lastTree) setLastTree(tree);
  const shown = tree ?? (lastTree && lastTree.ref.id === selectedTable ? lastTree : null);
  const loading = tree === null && selectedTable !== null;

  return (
    <section aria-labelledby={headingId} className="space-y-3 text-slate-900 dark:text-slate-100">
      <h2 id={headingId} className="text-base font-semibold">
        Page tables
      </h2>
      {snapshot === null ? (
        <p className="text-sm text-slate-600 dark:text-slate-300">No machine state yet.</p>
      ) : tables.length === 0 ? (
        <p className="text-sm text-slate-600 dark:text-slate-300">No page tables exist at this step.</p>
      ) : (
        <>
          <div className="flex flex-wrap items-end gap-3">
            <div className="flex flex-col gap-1">
              <label htmlFor={selectId} className="text-sm font-medium">
                Page table
              </label>
              <select
                id={selectId}
                className={INPUT + ' font-sans'}
                value={wanted ?? ''}
                onChange={(e) => selectTable(e.target.value)}
              >
                {tables.map((t) => (
                  <option key={t.id} value={t.id}>
                    {t.label}
                  </option>
                ))}
              </select>
            </div>
            {loading && (
              <p role="status" className="pb-1 text-sm text-slate-600 dark:text-slate-300">
                Loading…
              </p>
            )}
          </div>
          {shown ? (
            <TreeView key={shown.ref.id} tree={shown} walk={snapshot.walk} busy={loading} />
          ) : (
            !loading && <p className="text-sm text-slate-600 dark:text-slate-300">Choose a table to draw.</p>
          )}
        </>
      )}
    </section>
  );
}

// ---------------------------------------------------------------------------

interface TreeViewProps {
  tree: PtTree;
  walk: WalkView | null;
  busy: boolean;
}

function TreeView({ tree, walk, busy }: TreeViewProps) {
  const uid = useId().replace(/[^\w-]/g, '');
  const reduced = useReducedMotion();
  const idx = useMemo(() => indexTree(tree.root), [tree]);
  const lit = useMemo(() => litPath(tree, idx, walk), [tree, idx, walk]);

  // Expansion: collapsed below the first level for large trees; the last walk's path always opens.
  const [expanded, setExpanded] = useState<Set<string>>(() => withExpanded(initialExpanded(tree.root), lit.toExpand));
  const [seen, setSeen] = useState({ tree, walk });
  if (seen.tree !== tree || seen.walk !== walk) {
    setSeen({ tree, walk });
    setExpanded((e) => withExpanded(e, lit.toExpand));
  }

  const layout = useMemo(() => layoutTree(tree.root, expanded, DEFAULT_LAYOUT), [tree.root, expanded]);
  const items = useMemo(() => visibleItems(tree.root, expanded), [tree.root, expanded]);
  const itemIndex = useMemo(() => {
    const m = new Map<string, number>();
    items.forEach((it, i) => m.set(it.node.id, i));
    return m;
  }, [items]);

  // Focus (roving tabindex; selection follows focus) and hover.
  const [focusedId, setFocusedId] = useState<string>(tree.root.id);
  const [hoverId, setHoverId] = useState<string | null>(null);
  const activeId = useMemo(() => {
    if (itemIndex.has(focusedId)) return focusedId;
    const anc = ancestorsOf(idx, focusedId).reverse().find((a) => itemIndex.has(a));
    return anc ?? tree.root.id;
  }, [focusedId, itemIndex, idx, tree.root.id]);
  const activeIndex = itemIndex.get(activeId) ?? 0;

  const toggle = useCallback((id: string, open?: boolean) => {
    setExpanded((e) => {
      const isOpen = e.has(id);
      const want = open ?? !isOpen;
      if (want === isOpen) return e;
      const next = new Set(e);
      if (want) next.add(id);
      else next.delete(id);
      return next;
    });
  }, []);

  // ---- SVG, zoom and culling -------------------------------------------------
  const svgRef = useRef<SVGSVGElement | null>(null);
  const gRef = useRef<SVGGElement | null>(null);
  const zoomRef = useRef<ZoomBehavior<SVGSVGElement, unknown> | null>(null);
  const transformRef = useRef<ZoomTransformLike>({ x: 24, y: 224, k: 1 });
  const sizeRef = useRef({ w: 800, h: 448 });
  const rafRef = useRef<number | null>(null);
  const [view, setView] = useState<LayoutWindow & { labels: boolean }>(() => ({
    ...layoutWindow({ x: 24, y: 224, k: 1 }, 800, 448),
    labels: true,
  }));

  const scheduleWindow = useCallback(() => {
    if (rafRef.current !== null) return;
    rafRef.current = requestAnimationFrame(() => {
      rafRef.current = null;
      const t = transformRef.current;
      const { w, h } = sizeRef.current;
      const next = { ...layoutWindow(t, w, h), labels: t.k >= LABEL_MIN_SCALE };
      setView((prev) => (sameWindow(prev, next) && prev.labels === next.labels ? prev : next));
    });
  }, []);

  useEffect(() => {
    const svg = svgRef.current;
    const g = gRef.current;
    if (!svg || !g) return;
    sizeRef.current = { w: svg.clientWidth || 800, h: svg.clientHeight || 448 };
    const sel = select(svg);
    const z = zoom<SVGSVGElement, unknown>()
      .scaleExtent(SCALE_EXTENT)
      .on('zoom', (e: { transform: ZoomTransform }) => {
        g.setAttribute('transform', e.transform.toString());
        transformRef.current = { x: e.transform.x, y: e.transform.y, k: e.transform.k };
        scheduleWindow();
      });
    zoomRef.current = z;
    sel.call(z).on('dblclick.zoom', null);
    z.transform(sel, zoomIdentity.translate(24, sizeRef.current.h / 2));
    const ro = new ResizeObserver(() => {
      sizeRef.current = { w: svg.clientWidth || 800, h: svg.clientHeight || 448 };
      scheduleWindow();
    });
    ro.observe(svg);
    return () => {
      ro.disconnect();
      sel.on('.zoom', null);
      zoomRef.current = null;
      if (rafRef.current !== null) cancelAnimationFrame(rafRef.current);
      rafRef.current = null;
    };
  }, [scheduleWindow]);

  const applyTransform = useCallback(
    (t: ZoomTransformLike, animate: boolean) => {
      const svg = svgRef.current;
      const z = zoomRef.current;
      if (!svg || !z) return;
      const target = zoomIdentity.translate(t.x, t.y).scale(t.k);
      if (animate && !reduced) select(svg).transition().duration(350).call(z.transform, target);
      else z.transform(select(svg), target);
    },
    [reduced],
  );

  /** Centre the SVG on a node (or only when it is off screen). */
  const centreOn = useCallback(
    (n: LaidNode, onlyIfHidden: boolean, animate: boolean) => {
      const t = transformRef.current;
      const { w, h } = sizeRef.current;
      const sx = t.x + n.x * t.k;
      const sy = t.y + n.y * t.k;
      if (onlyIfHidden && sx >= 16 && sx <= w - 120 && sy >= 16 && sy <= h - 16) return;
      const k = Math.max(t.k, 1);
      const c = centreTransform(n.x, n.y, w, h, k);
      // Keep some of the node's label in view: put the node left of centre.
      applyTransform({ x: c.x - Math.min(w / 4, 160), y: c.y, k }, animate);
    },
    [applyTransform],
  );

  // A node to centre on once the layout contains it (after a search expanded its path).
  const pendingCentre = useRef<{ id: string; onlyIfHidden: boolean; animate: boolean } | null>(null);
  useEffect(() => {
    const p = pendingCentre.current;
    if (!p) return;
    const n = layout.byId.get(p.id);
    if (!n) return;
    pendingCentre.current = null;
    centreOn(n, p.onlyIfHidden, p.animate);
  }, [layout, centreOn, activeId]);

  const fit = () => {
    const { w, h } = sizeRef.current;
    const b = layout.bounds;
    const bw = b.x1 - b.x0 + LABEL_WIDTH;
    const bh = b.y1 - b.y0 + DEFAULT_LAYOUT.rowHeight * 2;
    const k = Math.max(SCALE_EXTENT[0], Math.min(1.5, w / bw, h / bh));
    applyTransform({ x: 24 - b.x0 * k, y: h / 2 - ((b.y0 + b.y1) / 2) * k, k }, true);
  };
  const resetView = () => applyTransform({ x: 24, y: sizeRef.current.h / 2, k: 1 }, true);
  const zoomBy = (f: number) => {
    const svg = svgRef.current;
    const z = zoomRef.current;
    if (!svg || !z) return;
    if (reduced) z.scaleBy(select(svg), f);
    else z.scaleBy(select(svg).transition().duration(200), f);
  };

  const culled = useMemo(() => {
    const nodes = cullNodes(layout.nodes, view, view.labels ? LABEL_WIDTH : 0);
    const links = cullLinks(layout.links, view);
    const capped = nodes.length > MAX_SVG_NODES;
    return { nodes: capped ? nodes.slice(0, MAX_SVG_NODES) : nodes, links: links.slice(0, MAX_SVG_NODES * 2), capped, total: nodes.length };
  }, [layout, view]);

  // ---- ARIA tree (virtualised) --------------------------------------------------
  const listRef = useRef<HTMLDivElement | null>(null);
  const [scroll, setScroll] = useState({ top: 0, height: 320, rowPx: ROW_REM * 16 });
  const measure = useCallback(() => {
    const el = listRef.current;
    if (!el) return;
    const next = { top: el.scrollTop, height: el.clientHeight || 320, rowPx: ROW_REM * remPx() };
    setScroll((p) => (p.top === next.top && p.height === next.height && p.rowPx === next.rowPx ? p : next));
  }, []);
  useEffect(() => {
    const el = listRef.current;
    if (!el) return;
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, [measure]);

  const first = Math.max(0, Math.floor(scroll.top / scroll.rowPx) - OVERSCAN);
  const last = Math.min(items.length - 1, Math.ceil((scroll.top + scroll.height) / scroll.rowPx) + OVERSCAN);
  const windowIdx: number[] = [];
  if (activeIndex < first) windowIdx.push(activeIndex);
  for (let i = first; i <= last; i++) windowIdx.push(i);
  if (activeIndex > last && activeIndex < items.length) windowIdx.push(activeIndex);

  // Move DOM focus to the active row after a keyboard move or a search (never on mere re-renders).
  const wantDomFocus = useRef(false);
  useEffect(() => {
    if (!wantDomFocus.current) return;
    wantDomFocus.current = false;
    const list = listRef.current;
    if (!list) return;
    const rowTop = activeIndex * scroll.rowPx;
    if (rowTop < list.scrollTop) list.scrollTop = rowTop;
    else if (rowTop + scroll.rowPx > list.scrollTop + list.clientHeight) list.scrollTop = rowTop + scroll.rowPx - list.clientHeight;
    const el = list.querySelector<HTMLElement>(`[data-row="${activeIndex}"]`);
    el?.focus({ preventScroll: true });
    measure();
  }, [activeId, activeIndex, scroll.rowPx, measure]);

  const moveTo = (i: number) => {
    const it = items[Math.max(0, Math.min(items.length - 1, i))];
    if (!it) return;
    wantDomFocus.current = true;
    setFocusedId(it.node.id);
    pendingCentre.current = { id: it.node.id, onlyIfHidden: true, animate: false };
  };

  const onTreeKey = (e: KeyboardEvent<HTMLUListElement>) => {
    const it = items[activeIndex];
    if (!it) return;
    switch (e.key) {
      case 'ArrowDown':
        moveTo(activeIndex + 1);
        break;
      case 'ArrowUp':
        moveTo(activeIndex - 1);
        break;
      case 'ArrowRight':
        if (it.expandable && !it.expanded) toggle(it.node.id, true);
        else if (it.expanded) moveTo(activeIndex + 1);
        break;
      case 'ArrowLeft':
        if (it.expanded) toggle(it.node.id, false);
        else if (it.parentId !== null) moveTo(itemIndex.get(it.parentId) ?? 0);
        break;
      case 'Home':
        moveTo(0);
        break;
      case 'End':
        moveTo(items.length - 1);
        break;
      case 'Enter':
      case ' ':
        if (it.expandable) toggle(it.node.id);
        break;
      default:
        return;
    }
    e.preventDefault();
    e.stopPropagation();
  };

  // ---- Search by IOVA --------------------------------------------------------------
  const searchId = useId();
  const [query, setQuery] = useState('');
  const [searchError, setSearchError] = useState<string | null>(null);
  const [searchResult, setSearchResult] = useState<string | null>(null);
  const onSearch = (e: FormEvent) => {
    e.preventDefault();
    const ia = parseHexInput(query);
    if (ia === null) {
      setSearchError('Enter a hexadecimal address, e.g. 0x40001000.');
      setSearchResult(null);
      return;
    }
    setSearchError(null);
    const path = findLeafPath(tree.root, ia);
    if (!path) {
      setSearchResult(`${bigToHex(ia)} is not mapped${tree.truncated ? ' (or lies in the part of the tree not drawn)' : ''}.`);
      return;
    }
    const leaf = path[path.length - 1];
    const pa = leaf.oa ? bigToHex(hexToBig(leaf.oa) + (ia - hexToBig(leaf.iaBase))) : '?';
    setSearchResult(`${bigToHex(ia)} → ${pa}: L${leaf.level} ${leaf.kind} [${leaf.index}] of ${formatSize(hexToBig(leaf.iaSize))}.`);
    setExpanded((x) => withExpanded(x, path.slice(0, -1).map((n) => n.id)));
    wantDomFocus.current = true;
    setFocusedId(leaf.id);
    pendingCentre.current = { id: leaf.id, onlyIfHidden: false, animate: true };
  };

  // ---- Detail ---------------------------------------------------------------------
  const detailNode: PtNode | undefined = idx.byId.get(hoverId ?? activeId);
  const detailView = useMemo(() => (detailNode ? nodeRegisterView(detailNode, tree ? { stage: tree.ref.stage, granule: tree.ref.granule, lpa: tree.lpa } : undefined) : null), [detailNode, tree]);

  const onNodeClick = useCallback(
    (id: string, expandable: boolean) => {
      setFocusedId(id);
      if (expandable) toggle(id);
    },
    [toggle],
  );

  const t = tree.ref;
  const titleId = `pt-${uid}-title`;
  const descId = `pt-${uid}-desc`;
  const treeLabelId = `pt-${uid}-tree`;

  return (
    <div className="space-y-3" aria-busy={busy}>
      <p className="text-sm text-slate-700 dark:text-slate-300">
        Stage {t.stage}, {formatSize(BigInt(t.granule))} granule, {t.ias}-bit input, starts at level {t.startLevel}
        {t.concat > 1 ? ` (${t.concat} concatenated tables)` : ''}, root {t.root}, owner {t.owner}. {tree.leaves} leaf mapping
        {tree.leaves === 1 ? '' : 's'}, {tree.tables} table{tree.tables === 1 ? '' : 's'}.
        {tree.truncated && <strong className="font-semibold text-amber-800 dark:text-amber-300"> Truncated at the size cap.</strong>}
        {lit.lit.size > 0 && (
          <span>
            {' '}
            The last walk read {lit.lit.size} descriptor{lit.lit.size === 1 ? '' : 's'} of this table (highlighted).
          </span>
        )}
      </p>

      <form onSubmit={onSearch} className="flex flex-wrap items-end gap-2" noValidate>
        <div className="flex flex-col gap-1">
          <label htmlFor={searchId} className="text-sm font-medium">
            Find input address ({t.stage === 1 ? 'IOVA' : 'IPA'}, hex)
          </label>
          <input
            id={searchId}
            className={INPUT}
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            placeholder="0x40001000"
            spellCheck={false}
            autoComplete="off"
            aria-invalid={searchError !== null}
            aria-describedby={searchError ? `${searchId}-err` : undefined}
          />
        </div>
        <button type="submit" className={BTN}>
          Find
        </button>
        <div role="status" className="min-h-[1.5rem] basis-full text-sm">
          {searchError && (
            <span id={`${searchId}-err`} className="text-red-700 dark:text-red-300">
              {searchError}
            </span>
          )}
          {!searchError && searchResult && <span className="text-slate-800 dark:text-slate-200">{searchResult}</span>}
        </div>
      </form>

      <div className="grid gap-4 lg:grid-cols-[minmax(0,3fr)_minmax(0,2fr)]">
        <div className="space-y-2">
          <div className="flex flex-wrap items-center gap-2">
            <button type="button" className={BTN} onClick={() => zoomBy(1.3)}>
              Zoom in
            </button>
            <button type="button" className={BTN} onClick={() => zoomBy(1 / 1.3)}>
              Zoom out
            </button>
            <button type="button" className={BTN} onClick={fit}>
              Fit
            </button>
            <button type="button" className={BTN} onClick={resetView}>
              Reset view
            </button>
            <ExportButtons target={svgRef} name="page-table" />
            {culled.capped && (
              <span className="text-xs text-slate-700 dark:text-slate-300">
                Showing {culled.nodes.length} of {culled.total} nodes here: zoom in for the rest.
              </span>
            )}
          </div>
          <svg
            ref={svgRef}
            role="img"
            aria-labelledby={titleId}
            aria-describedby={descId}
            className="block h-[28rem] w-full cursor-grab touch-none select-none rounded border border-slate-300 bg-white active:cursor-grabbing dark:border-slate-700 dark:bg-slate-950"
          >
            <title id={titleId}>{`Page table tree: ${t.label}`}</title>
            <desc id={descId}>
              Drag to pan, scroll to zoom, click a table node to expand or collapse it. The list beside the drawing is the same
              tree, usable with the keyboard.
            </desc>
            <g ref={gRef}>
              <g fill="none">
                {culled.links.map((l) => (
                  <LinkPath key={l.id} link={l} lit={lit.onPath.has(l.id) && lit.onPath.has(l.parentId)} />
                ))}
              </g>
              {culled.nodes.map((n) => (
                <NodeGlyph
                  key={n.node.id}
                  ln={n}
                  lit={lit.lit.has(n.node.id)}
                  onPath={lit.onPath.has(n.node.id)}
                  active={n.node.id === activeId}
                  labels={view.labels}
                  onClick={onNodeClick}
                  onHover={setHoverId}
                />
              ))}
            </g>
          </svg>
          <Legend />
        </div>

        <div className="space-y-3">
          <div>
            <h3 id={treeLabelId} className="text-sm font-semibold">
              Entries ({items.length} shown of {idx.count})
            </h3>
            <p className="text-xs text-slate-700 dark:text-slate-300">
              Arrow keys move and open or close, Home / End jump, Enter toggles.
            </p>
            <div
              ref={listRef}
              onScroll={measure}
              className="relative mt-1 h-80 overflow-auto rounded border border-slate-300 bg-white dark:border-slate-700 dark:bg-slate-950"
            >
              <ul
                role="tree"
                aria-labelledby={treeLabelId}
                onKeyDown={onTreeKey}
                className="relative m-0 list-none p-0"
                style={{ height: `${items.length * ROW_REM}rem` }}
              >
                {windowIdx.map((i) => {
                  const it = items[i];
                  const id = it.node.id;
                  const isActive = id === activeId;
                  return (
                    <li
                      key={id}
                      role="treeitem"
                      data-row={i}
                      aria-level={it.level}
                      aria-setsize={it.setsize}
                      aria-posinset={it.posinset}
                      aria-expanded={it.expandable ? it.expanded : undefined}
                      aria-selected={isActive}
                      tabIndex={isActive ? 0 : -1}
                      onClick={() => onNodeClick(id, it.expandable)}
                      onFocus={() => setFocusedId(id)}
                      onMouseEnter={() => setHoverId(id)}
                      onMouseLeave={() => setHoverId(null)}
                      className={
                        'absolute right-0 left-0 flex cursor-pointer items-center gap-1 truncate pr-2 font-mono text-xs whitespace-nowrap ' +
                        'outline-none focus-visible:ring-2 focus-visible:ring-sky-600 focus-visible:ring-inset dark:focus-visible:ring-sky-400 ' +
                        (isActive
                          ? 'bg-sky-100 text-slate-900 dark:bg-sky-900 dark:text-white '
                          : 'text-slate-800 hover:bg-slate-100 dark:text-slate-200 dark:hover:bg-slate-800 ') +
                        (lit.onPath.has(id) ? 'font-semibold' : '')
                      }
                      style={{ top: `${i * ROW_REM}rem`, height: `${ROW_REM}rem`, paddingLeft: `${0.25 + (it.level - 1) * 1}rem` }}
                    >
                      <span aria-hidden="true" className="inline-block w-3 text-center">
                        {it.expandable ? (it.expanded ? '▾' : '▸') : '·'}
                      </span>
                      <span>{nodeLabel(it.node)}</span>
                      {it.expandable && !it.expanded && (
                        <span className="text-slate-700 dark:text-slate-300">
                          ({it.node.leafCount} {it.node.leafCount === 1 ? 'leaf' : 'leaves'})
                        </span>
                      )}
                      {lit.lit.has(id) && <span className="text-amber-800 dark:text-amber-300">(read by last walk)</span>}
                    </li>
                  );
                })}
              </ul>
            </div>
          </div>

          <div className="rounded border border-slate-300 p-2 dark:border-slate-700">
            <h3 className="text-sm font-semibold">Descriptor</h3>
            {detailNode && detailView ? (
              <div className="space-y-1">
                <p className="font-mono text-xs break-all text-slate-800 dark:text-slate-200">{nodeLabel(detailNode)}</p>
                {detailView.fields.length > 0 ? (
                  <BitDiagram view={detailView} headingLevel={4} />
                ) : (
                  <ul className="text-xs text-slate-700 dark:text-slate-300">
                    {detailView.notes.map((n) => (
                      <li key={n}>{n}</li>
                    ))}
                    {detailNode.desc && <li>Raw {detailNode.desc}</li>}
                  </ul>
                )}
              </div>
            ) : (
              <p className="text-xs text-slate-700 dark:text-slate-300">Hover or focus a node to see its descriptor.</p>
            )}
          </div>
        </div>
      </div>
    </div>
  );
}

// ---------------------------------------------------------------------------

const LinkPath = memo(function LinkPath({ link: l, lit }: { link: LaidLink; lit: boolean }) {
  const mx = (l.sx + l.tx) / 2;
  return (
    <path
      d={`M${l.sx},${l.sy}C${mx},${l.sy} ${mx},${l.ty} ${l.tx},${l.ty}`}
      className={lit ? 'stroke-amber-600 dark:stroke-amber-400' : 'stroke-slate-400 dark:stroke-slate-600'}
      strokeWidth={lit ? 2.5 : 1}
    />
  );
});

interface NodeGlyphProps {
  ln: LaidNode;
  lit: boolean;
  onPath: boolean;
  active: boolean;
  labels: boolean;
  onClick: (id: string, expandable: boolean) => void;
  onHover: (id: string | null) => void;
}

function nodeFill(n: PtNode): string {
  if (n.kind === 'invalid') return 'fill-slate-400 dark:fill-slate-500';
  if (isLeaf(n)) return n.kind === 'block' ? 'fill-violet-600 dark:fill-violet-400' : 'fill-emerald-600 dark:fill-emerald-400';
  return 'fill-sky-700 dark:fill-sky-400';
}

const NodeGlyph = memo(function NodeGlyph({ ln, lit, onPath, active, labels, onClick, onHover }: NodeGlyphProps) {
  const n = ln.node;
  const collapsed = ln.expandable && !ln.expanded;
  const r = n.kind === 'root' ? 7 : 5;
  return (
    <g
      transform={`translate(${ln.x},${ln.y})`}
      className="cursor-pointer"
      onClick={() => onClick(n.id, ln.expandable)}
      onMouseEnter={() => onHover(n.id)}
      onMouseLeave={() => onHover(null)}
    >
      {(active || lit) && (
        <circle
          r={r + 4}
          className={
            (active ? 'stroke-sky-600 dark:stroke-sky-300 ' : 'stroke-amber-600 dark:stroke-amber-400 ') + 'fill-none'
          }
          strokeWidth={2}
        />
      )}
      <circle
        r={r}
        className={nodeFill(n) + (collapsed ? ' stroke-slate-900 dark:stroke-white' : ' stroke-none')}
        strokeWidth={collapsed ? 1.5 : 0}
      />
      {labels && (
        <text
          x={r + 6}
          dy="0.32em"
          style={{ fontSize: '0.7rem', paintOrder: 'stroke' }}
          strokeWidth={3}
          strokeLinejoin="round"
          className={
            'stroke-white font-mono dark:stroke-slate-950 ' +
            (onPath ? 'fill-amber-900 font-bold dark:fill-amber-200' : 'fill-slate-900 dark:fill-slate-100')
          }
        >
          {svgLabel(n)}
          {collapsed && (
            <tspan className="fill-slate-600 dark:fill-slate-400">{` ▸ ${n.leafCount} ${n.leafCount === 1 ? 'leaf' : 'leaves'}`}</tspan>
          )}
        </text>
      )}
    </g>
  );
});

function Legend() {
  const item = (cls: string, text: string) => (
    <li className="flex items-center gap-1">
      <svg width="12" height="12" aria-hidden="true" focusable="false">
        <circle cx="6" cy="6" r="5" className={cls} />
      </svg>
      {text}
    </li>
  );
  return (
    <ul className="flex flex-wrap gap-x-4 gap-y-1 text-xs text-slate-700 dark:text-slate-300" aria-label="Legend">
      {item('fill-sky-700 dark:fill-sky-400', 'table')}
      {item('fill-emerald-600 dark:fill-emerald-400', 'page')}
      {item('fill-violet-600 dark:fill-violet-400', 'block')}
      {item('fill-slate-400 dark:fill-slate-500', 'invalid')}
      {item('fill-none stroke-amber-600 stroke-2 dark:stroke-amber-400', 'read by the last walk')}
      <li>Outlined dot: collapsed (click to expand)</li>
    </ul>
  );
}
