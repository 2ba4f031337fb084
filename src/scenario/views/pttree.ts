/**
 * A translation table read straight from memory (not through io-pgtable
 * objects) as a tree of tables and leaves, for the page-table panel.
 *
 * Bounded on purpose: the tree depth is bounded by the levels, and the total
 * work (nodes built and descriptors read) by `cap`, so a malicious table
 * (pointing at itself or an ancestor, or a huge fan-out) only truncates the
 * tree.
 */

import { type Granule, bitsPerLevel, blockSize, descAddress, levelShift } from '../../emu/descriptor';
import type { PhysicalMemory } from '../../emu/memory';
import type { PtNode, PtTableRef, PtTree } from '../view';
import { fromHex, hx } from './common';
import { descKindAt, descriptorFields } from './descfields';

const GRANULES: readonly Granule[] = [4096, 16384, 65536];

/**
 * The tree of the table `ref` describes. Invalid entries are skipped;
 * reserved ones (valid bit set, illegal type) appear as `invalid` nodes with
 * no leaves. At most `cap` nodes are built (and at most max(64 * cap, 65536)
 * descriptors read); beyond that the tree is cut and `truncated` is set.
 * `lpa`: 64KB-granule tables use the 52-bit layout (OA[51:48] in [15:12]).
 */
/**
 * `withFields` false leaves the per-node `fields` out (a 10,000-leaf tree is
 * then about a tenth of the size); the page decodes a node's fields itself
 * from `desc` with descriptorFields (./descfields) when it shows them.
 */
export function ptTree(mem: PhysicalMemory, ref: PtTableRef, cap = 20000, lpa = false, withFields = true): PtTree {
  const g: Granule = GRANULES.includes(ref.granule) ? ref.granule : 4096;
  const start = Math.max(0, Math.min(3, Math.trunc(ref.startLevel)));
  const stride = bitsPerLevel(g);
  const shift = levelShift(g, start);
  const ias = Math.max(shift + 1, Math.min(64, Math.trunc(ref.ias) || shift + stride));
  // Entries in the start table: by the input size, at least one table and at most 16 concatenated ones.
  let startEntries = 2 ** Math.max(0, ias - shift);
  startEntries = Math.min(Math.max(startEntries, 1), 16 * 2 ** stride);
  const rootAddr = fromHex(ref.root);
  const maxNodes = Math.max(1, Math.trunc(cap));
  let budget = Math.max(65536, 64 * maxNodes);
  let nodes = 1;
  let tables = 1;
  let leaves = 0;
  let truncated = false;

  const root: PtNode = {
    id: 'root',
    level: start,
    kind: 'root',
    index: -1,
    iaBase: hx(0n),
    iaSize: hx(1n << BigInt(ias)),
    addr: hx(rootAddr),
    leafCount: 0,
    children: [],
  };

  const walk = (parent: PtNode, table: bigint, level: number, entries: number, iaBase: bigint): number => {
    let count = 0;
    const size = blockSize(g, level);
    const children = parent.children as PtNode[];
    for (let i = 0; i < entries; i++) {
      if (budget <= 0 || nodes >= maxNodes) {
        truncated = true;
        break;
      }
      budget--;
      const addr = table + BigInt(i) * 8n;
      const desc = mem.peek64(addr);
      if (desc === undefined || (desc & 1n) === 0n) continue;
      const kind = descKindAt(desc, level, g, lpa ? 52 : 48);
      const id = parent.kind === 'root' ? String(i) : `${parent.id}.${i}`;
      const base = iaBase + BigInt(i) * size;
      nodes++;
      const node: PtNode = {
        id,
        level,
        kind: kind === 'reserved' ? 'invalid' : (kind as PtNode['kind']),
        index: i,
        iaBase: hx(base),
        iaSize: hx(size),
        addr: hx(addr),
        desc: hx(desc),
        leafCount: 0,
      };
      if (withFields) node.fields = descriptorFields(desc, ref.stage === 2 ? 2 : 1, level, g, lpa);
      children.push(node);
      if (kind === 'table') {
        const next = descAddress(desc, g, BigInt(g), lpa);
        node.oa = hx(next);
        node.children = [];
        tables++;
        node.leafCount = walk(node, next, level + 1, 2 ** stride, base);
      } else if (kind === 'block' || kind === 'page') {
        node.oa = hx(descAddress(desc, g, size, lpa));
        node.leafCount = 1;
        leaves++;
      }
      count += node.leafCount;
    }
    return count;
  };

  root.leafCount = walk(root, rootAddr, start, startEntries, 0n);
  return { ref, root, leaves, tables, truncated };
}
