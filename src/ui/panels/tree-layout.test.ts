import { describe, expect, it } from 'vitest';
import type { PtNode, PtTree, WalkAccess, WalkView } from '../../scenario/view';
import {
  bigToHex,
  cullLinks,
  cullNodes,
  findLeafPath,
  indexTree,
  initialExpanded,
  lastReadNumber,
  layoutTree,
  layoutWindow,
  litPath,
  nodeLabel,
  normHex,
  parseHexInput,
  parseIndex,
  playState,
  sameWindow,
  validateWalkForm,
  visibleItems,
  walkGrid,
  walkAddrs,
  withExpanded,
} from './tree-layout';

const GRANULE = 4096n;

/** A 4-level, 4 KiB-granule S1 tree with `leaves` consecutive pages from IOVA 0x4000_0000 (512 per L3 table). */
function makeTree(leaves: number): PtTree {
  const shift = (lvl: number) => 12n + 9n * BigInt(3 - lvl);
  let nextAddr = 0x8000_0000n;
  const alloc = () => {
    const a = nextAddr;
    nextAddr += GRANULE;
    return a;
  };
  const rootTable = alloc();
  const root: PtNode = {
    id: '0',
    level: 0,
    kind: 'root',
    index: -1,
    iaBase: '0x0',
    iaSize: bigToHex(1n << 48n),
    addr: bigToHex(rootTable),
    leafCount: 0,
    children: [],
  };
  const tables = new Map<string, { node: PtNode; table: bigint }>([['0', { node: root, table: rootTable }]]);
  const base = 0x4000_0000n;
  for (let i = 0; i < leaves; i++) {
    const ia = base + BigInt(i) * GRANULE;
    let parent = tables.get('0')!;
    for (let lvl = 0; lvl < 3; lvl++) {
      const index = Number((ia >> shift(lvl)) & 511n);
      const id = `${parent.node.id}.${index}`;
      let t = tables.get(id);
      if (!t) {
        const table = alloc();
        const size = 1n << shift(lvl);
        const node: PtNode = {
          id,
          level: lvl,
          kind: 'table',
          index,
          iaBase: bigToHex((ia >> shift(lvl)) << shift(lvl)),
          iaSize: bigToHex(size),
          addr: bigToHex(parent.table + BigInt(index) * 8n),
          desc: bigToHex(table | 3n),
          oa: bigToHex(table),
          leafCount: 0,
          children: [],
        };
        parent.node.children!.push(node);
        t = { node, table };
        tables.set(id, t);
      }
      parent = t;
    }
    const index = Number((ia >> 12n) & 511n);
    parent.node.children!.push({
      id: `${parent.node.id}.${index}`,
      level: 3,
      kind: 'page',
      index,
      iaBase: bigToHex(ia),
      iaSize: bigToHex(GRANULE),
      addr: bigToHex(parent.table + BigInt(index) * 8n),
      desc: bigToHex(0x1_0000_0000n + BigInt(i) * GRANULE + 0x743n),
      oa: bigToHex(0x1_0000_0000n + BigInt(i) * GRANULE),
      leafCount: 1,
    });
  }
  const count = (n: PtNode): number => {
    if (!n.children) return n.leafCount;
    n.leafCount = n.children.reduce((s, c) => s + count(c), 0);
    return n.leafCount;
  };
  count(root);
  return {
    ref: { id: 't', label: 'test', stage: 1, granule: 4096, startLevel: 0, root: bigToHex(rootTable), ias: 48, concat: 1, owner: 'host' },
    root,
    leaves,
    tables: tables.size,
    truncated: false,
  };
}

describe('hex input', () => {
  it('parses hex with or without 0x, underscores and spaces', () => {
    expect(parseHexInput('0x4000_1000')).toBe(0x40001000n);
    expect(parseHexInput(' 40001000 ')).toBe(0x40001000n);
    expect(parseHexInput('0XFFFF')).toBe(0xffffn);
  });
  it('rejects junk, empty and over-long input', () => {
    expect(parseHexInput('')).toBeNull();
    expect(parseHexInput('0x')).toBeNull();
    expect(parseHexInput('0x12g')).toBeNull();
    expect(parseHexInput('0x1' + '0'.repeat(16))).toBeNull();
  });
  it('normalises view-model hex', () => {
    expect(normHex('0x0000000000001000')).toBe('0x1000');
  });
});

describe('expansion and visible items', () => {
  it('expands small trees fully and collapses large ones below the first level', () => {
    const small = makeTree(20);
    const all = initialExpanded(small.root);
    expect(visibleItems(small.root, all)).toHaveLength(indexTree(small.root).count);
    const big = makeTree(1000);
    const e = initialExpanded(big.root);
    expect([...e]).toEqual(['0']);
    const items = visibleItems(big.root, e);
    expect(items).toHaveLength(1 + big.root.children!.length);
    expect(items[1]).toMatchObject({ level: 2, posinset: 1, setsize: big.root.children!.length, expandable: true, expanded: false });
  });
  it('lists items in document order with ARIA positions', () => {
    const t = makeTree(3);
    const items = visibleItems(t.root, initialExpanded(t.root));
    expect(items.map((i) => i.level)).toEqual([1, 2, 3, 4, 5, 5, 5]);
    expect(items.slice(4).map((i) => [i.posinset, i.setsize])).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
    expect(items[4].parentId).toBe(items[3].node.id);
  });
  it('withExpanded keeps identity when nothing changes', () => {
    const s = new Set(['a']);
    expect(withExpanded(s, ['a'])).toBe(s);
    expect(withExpanded(s, ['b'])).not.toBe(s);
  });
});

describe('layout', () => {
  it('is horizontal: depth to the right, rows down', () => {
    const t = makeTree(3);
    const l = layoutTree(t.root, initialExpanded(t.root), { rowHeight: 20, colWidth: 100 });
    expect(l.nodes).toHaveLength(7);
    const leaves = l.nodes.filter((n) => n.node.kind === 'page');
    expect(leaves.every((n) => n.x === 400)).toBe(true);
    const ys = leaves.map((n) => n.y);
    expect(ys[1] - ys[0]).toBe(20);
    expect(l.links).toHaveLength(6);
  });
  it('lays out only expanded nodes', () => {
    const t = makeTree(2000);
    const l = layoutTree(t.root, new Set(['0']));
    expect(l.nodes).toHaveLength(1 + t.root.children!.length);
  });
  it('handles 10,000 leaves fully expanded quickly', () => {
    const t = makeTree(10_000);
    const idx = indexTree(t.root);
    const all = new Set([...idx.byId.values()].filter((n) => n.children).map((n) => n.id));
    const t0 = performance.now();
    const l = layoutTree(t.root, all);
    const ms = performance.now() - t0;
    expect(l.nodes).toHaveLength(idx.count);
    expect(ms).toBeLessThan(2000);
    // A viewport shows a small part of it.
    const w = layoutWindow({ x: 24, y: 200, k: 1 }, 800, 450);
    const vis = cullNodes(l.nodes, w, 400);
    expect(vis.length).toBeGreaterThan(0);
    expect(vis.length).toBeLessThan(200);
    expect(cullLinks(l.links, w).length).toBeLessThan(400);
  });
  it('snaps the window so that small pans do not change it', () => {
    const a = layoutWindow({ x: 10, y: 10, k: 1 }, 800, 400);
    const b = layoutWindow({ x: 14, y: 7, k: 1 }, 800, 400);
    expect(sameWindow(a, b)).toBe(true);
    const c = layoutWindow({ x: 10 - 1000, y: 10, k: 1 }, 800, 400);
    expect(sameWindow(a, c)).toBe(false);
  });
});

describe('search', () => {
  const t = makeTree(600);
  it('finds the leaf covering an address', () => {
    const path = findLeafPath(t.root, 0x4000_0000n + 513n * 4096n + 0x123n)!;
    expect(path).not.toBeNull();
    expect(path.map((n) => n.level)).toEqual([0, 0, 1, 2, 3]);
    const leaf = path[path.length - 1];
    expect(leaf.iaBase).toBe(bigToHex(0x4000_0000n + 513n * 4096n));
    expect(nodeLabel(leaf)).toContain('page');
  });
  it('says not mapped for a hole', () => {
    expect(findLeafPath(t.root, 0x1000n)).toBeNull();
    expect(findLeafPath(t.root, 0x4000_0000n + 600n * 4096n)).toBeNull();
  });
});

function access(n: number, over: Partial<WalkAccess>): WalkAccess {
  return { n, stage: 1, level: 0, addr: '0x0', desc: '0x3', purpose: 's1-table', fields: [], text: `read ${n}`, ...over };
}

describe('walk path', () => {
  it('lights the descriptors read and expands their ancestors', () => {
    const t = makeTree(1000);
    const path = findLeafPath(t.root, 0x4000_0000n + 700n * 4096n)!;
    const walk: WalkView = {
      request: { sid: 1, iova: '0x400bc000', access: 'read', priv: false },
      accesses: [
        access(1, { stage: 0, purpose: 'ste', addr: '0x100' }),
        ...path.slice(1).map((n, i) => access(i + 2, { level: n.level, addr: n.addr.replace('0x', '0x0000') })),
      ],
      outcome: { kind: 'ok', pa: '0x0', tlb: 'miss' },
      tableReads: 4,
    };
    expect(walkAddrs(walk, 1).size).toBe(4);
    expect(walkAddrs(walk, 2).size).toBe(0);
    const idx = indexTree(t.root);
    const lit = litPath(t, idx, walk);
    expect(lit.lit.size).toBe(4);
    expect([...lit.toExpand].sort()).toEqual(path.slice(0, -1).map((n) => n.id).sort());
    const e = withExpanded(initialExpanded(t.root), lit.toExpand);
    const ids = new Set(visibleItems(t.root, e).map((i) => i.node.id));
    for (const n of path) expect(ids.has(n.id)).toBe(true);
  });
});

describe('nested walk grid', () => {
  it('places 24 reads of a 4+4 nested walk, with an output row', () => {
    const acc: WalkAccess[] = [access(1, { stage: 0, purpose: 'ste' }), access(2, { stage: 0, purpose: 'cd' })];
    let n = 3;
    for (let row = 0; row <= 4; row++) {
      for (let col = 0; col < 4; col++) {
        acc.push(access(n++, { stage: 2, level: col, row, col, purpose: row === 4 ? 's2-for-output' : 's2-for-s1-table' }));
      }
      if (row < 4) acc.push(access(n++, { stage: 1, level: row, row, col: 's1' }));
    }
    const walk: WalkView = {
      request: { sid: 1, iova: '0x0', access: 'read', priv: false },
      accesses: acc,
      outcome: { kind: 'ok', pa: '0x0', ipa: '0x0', tlb: 'miss' },
      tableReads: 24,
      grid: { rows: [0, 1, 2, 3], cols: [0, 1, 2, 3] },
    };
    const g = walkGrid(walk)!;
    expect(g.placed).toBe(24);
    expect(g.rows).toEqual([0, 1, 2, 3, 4]);
    expect(g.cols).toEqual([0, 1, 2, 3, 's1']);
    expect(g.outputRow).toBe(4);
    expect(g.cells.get('4:s1')).toBeUndefined();
    expect(g.cells.get('2:s1')![0].level).toBe(2);
    expect(lastReadNumber(walk)).toBe(26);
    expect(walkGrid({ ...walk, grid: undefined })).toBeNull();
  });
  it('has no output row when the walk stops in an S2 read for an S1 table', () => {
    const acc: WalkAccess[] = [
      access(1, { stage: 2, level: 0, row: 0, col: 0, purpose: 's2-for-s1-table' }),
      access(2, { stage: 1, level: 0, row: 0, col: 's1' }),
      access(3, { stage: 2, level: 0, row: 1, col: 0, purpose: 's2-for-s1-table', desc: '0x0' }),
    ];
    const g = walkGrid({
      request: { sid: 1, iova: '0x0', access: 'read', priv: false },
      accesses: acc,
      outcome: { kind: 'abort', reason: 'x' },
      tableReads: 3,
      grid: { rows: [0, 1], cols: [0] },
    })!;
    expect(g.outputRow).toBeNull();
    expect(g.rows).toEqual([0, 1]);
    expect(g.placed).toBe(3);
  });
  it('classifies reads against the playback cursor', () => {
    expect(playState(3, 0)).toBe('all');
    expect(playState(2, 3)).toBe('done');
    expect(playState(3, 3)).toBe('current');
    expect(playState(4, 3)).toBe('future');
  });
});

describe('walk form validation', () => {
  const ok = { sid: '1', ssid: '', iova: '0x4000_1000', access: 'write' as const, priv: true };
  it('builds a request', () => {
    expect(validateWalkForm(ok)).toEqual({ req: { sid: 1, iova: '0x40001000', access: 'write', priv: true }, errors: {} });
    expect(validateWalkForm({ ...ok, ssid: '3' }).req?.ssid).toBe(3);
  });
  it('reports each bad field', () => {
    const r = validateWalkForm({ ...ok, sid: '-1', ssid: 'x', iova: '0xzz' });
    expect(r.req).toBeNull();
    expect(Object.keys(r.errors).sort()).toEqual(['iova', 'sid', 'ssid']);
    expect(parseIndex('0x10', 100)).toBe(16);
    expect(parseIndex('1.5', 100)).toBeNull();
    expect(parseIndex('100', 100)).toBeNull();
  });
});
