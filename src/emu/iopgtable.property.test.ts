/**
 * Property tests: random map/unmap sequences against a reference model.
 *
 * Design
 * ------
 * io-pgtable's results depend on the table structure, not only on the
 * iova → pa mapping (a 2M unmap where a table sits clears the whole table
 * and reports 2M; a 2M map over a table replaces it; EEXIST depends on
 * whether a leaf sits at or above the mapped level). So the reference model
 * here is *structural*: an abstract tree of Maps (index → leaf{pa, prot} or
 * table) per level, updated with the Linux 6.8-6.14 rules written from
 * io-pgtable-arm.c:
 *   - map (arm_lpae_map_pages/__arm_lpae_map/arm_lpae_init_pte): argument
 *     checks (EINVAL pgsize/alignment, ERANGE iova/pa, EINVAL no read/write);
 *     descend creating tables, EEXIST on a leaf above the target level; at the
 *     target level take min(pgcount, entries left in this table page)
 *     (arm_lpae_max_entries, so concatenated start tables stop at each page),
 *     then slot by slot: leaf → EEXIST (mapped 0), table → free it; then
 *     write all leaves.
 *   - unmap (__arm_lpae_unmap): empty first entry → 0; at the target level
 *     clear up to the first empty entry or the page end, freeing tables; a
 *     leaf above the target level is split one level at a time
 *     (arm_lpae_split_blk_unmap), the reported count stopping at the new
 *     table's end; emptied tables stay.
 * The model holds no memory, no descriptors and no addresses of tables; its
 * geometry (start level, entries per start table, concatenation) is derived
 * here from the architecture rules.
 *
 * After every operation we assert:
 *   (b) the implementation's {error, mapped} / unmapped equals the model's,
 *       and mapped/unmapped is consistent with table-page boundaries;
 *   (a) for a per-run sample of IOVAs plus the edges of the operation,
 *       iovaToPhys equals the model's lookup: phys, level, and a pte equal to
 *       `expectedLeaf` (the descriptor from the architecture/Linux rules) —
 *       this is (c) for every leaf probed;
 *   - TableAllocator.liveBytes == pgd + (model's table count) × granule
 *     (catches leaks, missing frees, double allocations).
 * At the end of every sequence, an independent raw walk of the table memory
 * (PhysicalMemory.peek64 from the pgd, decoding descriptors here) must find
 * exactly the model's leaves with exactly the expected descriptors (c), only
 * well-formed table descriptors pointing at live allocations, and exactly the
 * model's number of tables.
 *
 * IOVAs are drawn around an anchor that is a table-page boundary at every
 * level used (and, for the concatenated S2 configs, a boundary between
 * concatenated start tables), with small offsets most of the time so that
 * collisions, block splits and table replacement are frequent, and pgcount up
 * to 600 so batches cross table ends. (d): every granule, both formats, S2
 * with and without concatenation.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ArmLpaeIoPgtable, type IoPgtableFormat } from './iopgtable';
import { PhysicalMemory, TableAllocator } from './memory';
import type { Granule } from './descriptor';

const R = 1;
const W = 2;
const C = 4;
const X = 8;
const M = 16;
const P = 32;

const S1: IoPgtableFormat = 'arm-lpae-s1';
const S2: IoPgtableFormat = 'arm-lpae-s2';

const ADDR_47_12 = ((1n << 48n) - 1n) & ~0xfffn;

// ---------------------------------------------------------------------------
// Geometry, from the rules (not from the implementation).

interface Geo {
  fmt: IoPgtableFormat;
  granule: Granule;
  pgShift: number;
  bpl: number;
  ias: number;
  oas: number;
  start: number;
  rootEntries: number;
  perTable: number;
  sizes: bigint[]; // pgsize_bitmap, ascending
}

function refGeo(fmt: IoPgtableFormat, granule: Granule, iasIn: number, oasIn: number): Geo {
  const pgShift = granule === 4096 ? 12 : granule === 16384 ? 14 : 16;
  const bpl = pgShift - 3;
  const maxBits = granule === 65536 ? 52 : 48;
  const ias = Math.min(iasIn, maxBits);
  const oas = Math.min(oasIn, maxBits);
  const levels = Math.ceil((ias - pgShift) / bpl);
  let start = 4 - levels;
  let rootBits = ias - pgShift - bpl * (levels - 1);
  if (fmt === S2) {
    const mandatory =
      (granule === 16384 && start === 0 && (oas === 48 || ias === 48)) ||
      (granule === 4096 && start === 0 && (oas === 40 || oas === 42)) ||
      (granule === 16384 && start === 1 && oas === 40);
    if (mandatory) {
      rootBits += bpl;
      start++;
    }
  }
  const sizes =
    granule === 4096
      ? [1n << 12n, 1n << 21n, 1n << 30n]
      : granule === 16384
        ? [1n << 14n, 1n << 25n]
        : oasIn > 48
          ? [1n << 16n, 1n << 29n, 1n << 42n]
          : [1n << 16n, 1n << 29n];
  return { fmt, granule, pgShift, bpl, ias, oas, start, rootEntries: 1 << rootBits, perTable: 1 << bpl, sizes };
}

const lvlShift = (g: Geo, l: number) => g.pgShift + (3 - l) * g.bpl;
const blockSize = (g: Geo, l: number) => 1n << BigInt(lvlShift(g, l));
const log2 = (v: bigint) => v.toString(2).length - 1;
function levelOf(g: Geo, size: bigint): number {
  return 3 - (log2(size) - g.pgShift) / g.bpl;
}

/** Descriptor Linux writes for a leaf (see iopgtable.encoding.test.ts). */
function expectedLeaf(fmt: IoPgtableFormat, g: Granule, level: number, pa: bigint, prot: number): bigint {
  let d = 1n << 10n;
  d |= prot & C ? 3n << 8n : 2n << 8n;
  if (prot & X) d |= (1n << 53n) | (1n << 54n);
  d |= level === 3 ? 0b11n : 0b01n;
  if (fmt === S1) {
    d |= 1n << 11n;
    if (!(prot & P)) d |= 1n << 6n;
    if (prot & R && !(prot & W)) d |= 1n << 7n;
    d |= (prot & M ? 2n : prot & C ? 1n : 0n) << 2n;
  } else {
    if (prot & R) d |= 1n << 6n;
    if (prot & W) d |= 1n << 7n;
    d |= (prot & M ? 0x1n : prot & C ? 0xfn : 0x5n) << 2n;
  }
  const lo = BigInt(g === 4096 ? 12 : g === 16384 ? 14 : 16);
  d |= pa & ((1n << 48n) - 1n) & ~((1n << lo) - 1n);
  if (g === 65536) d |= ((pa >> 48n) & 0xfn) << 12n;
  return d;
}

// ---------------------------------------------------------------------------
// Structural reference model.

interface MLeaf {
  kind: 'leaf';
  pa: bigint;
  prot: number;
}
interface MTable {
  kind: 'table';
  e: Map<number, MNode>;
}
type MNode = MLeaf | MTable;

interface MapOut {
  error?: 'EINVAL' | 'ERANGE' | 'EEXIST';
  mapped: bigint;
}

class Model {
  readonly root = new Map<number, MNode>();
  tables = 0;
  constructor(readonly g: Geo) {}

  private idx(iova: bigint, l: number): number {
    const n = l === this.g.start ? this.g.rootEntries : this.g.perTable;
    return Number((iova >> BigInt(lvlShift(this.g, l))) & BigInt(n - 1));
  }

  private maxEntries(i: number): number {
    return this.g.perTable - (i & (this.g.perTable - 1));
  }

  private newTable(): MTable {
    this.tables++;
    return { kind: 'table', e: new Map() };
  }

  private freeTable(t: MTable): void {
    this.tables--;
    for (const n of t.e.values()) if (n.kind === 'table') this.freeTable(n);
  }

  map(iova: bigint, pa: bigint, size: bigint, count: number, prot: number): MapOut {
    const g = this.g;
    if (!g.sizes.includes(size)) return { error: 'EINVAL', mapped: 0n };
    if (((iova | pa) & (size - 1n)) !== 0n) return { error: 'EINVAL', mapped: 0n };
    if (iova >> BigInt(g.ias) !== 0n || pa >> BigInt(g.oas) !== 0n) return { error: 'ERANGE', mapped: 0n };
    if (!(prot & (R | W))) return { error: 'EINVAL', mapped: 0n };
    let tbl = this.root;
    for (let l = g.start; ; l++) {
      const i0 = this.idx(iova, l);
      if (size === blockSize(g, l)) {
        const n = Math.min(count, this.maxEntries(i0));
        for (let i = 0; i < n; i++) {
          const e = tbl.get(i0 + i);
          if (e?.kind === 'leaf') return { error: 'EEXIST', mapped: 0n };
          if (e?.kind === 'table') {
            this.freeTable(e);
            tbl.delete(i0 + i);
          }
        }
        for (let i = 0; i < n; i++) tbl.set(i0 + i, { kind: 'leaf', pa: pa + BigInt(i) * size, prot });
        return { mapped: BigInt(n) * size };
      }
      let e = tbl.get(i0);
      if (!e) {
        e = this.newTable();
        tbl.set(i0, e);
      } else if (e.kind === 'leaf') {
        return { error: 'EEXIST', mapped: 0n };
      }
      tbl = e.e;
    }
  }

  unmap(iova: bigint, size: bigint, count: number): bigint {
    const g = this.g;
    if (!g.sizes.includes(size) || count <= 0 || iova >> BigInt(g.ias) !== 0n) return 0n;
    return this.unmapAt(this.root, g.start, iova, size, count);
  }

  private unmapAt(tbl: Map<number, MNode>, l: number, iova: bigint, size: bigint, count: number): bigint {
    if (l === 4) return 0n;
    const i0 = this.idx(iova, l);
    const e = tbl.get(i0);
    if (!e) return 0n;
    if (size === blockSize(this.g, l)) {
      const n = Math.min(count, this.maxEntries(i0));
      let i = 0;
      for (; i < n; i++) {
        const x = tbl.get(i0 + i);
        if (!x) break;
        if (x.kind === 'table') this.freeTable(x);
      }
      for (let j = 0; j < i; j++) tbl.delete(i0 + j);
      return BigInt(i) * size;
    }
    if (e.kind === 'leaf') return this.split(tbl, i0, e, l + 1, iova, size, count);
    return this.unmapAt(e.e, l + 1, iova, size, count);
  }

  private split(parent: Map<number, MNode>, pidx: number, blk: MLeaf, l: number, iova: bigint, size: bigint, count: number): bigint {
    if (l === 4) return 0n;
    const t = this.newTable();
    const splitSz = blockSize(this.g, l);
    let us = -1;
    let n = 0;
    if (size === splitSz) {
      us = this.idx(iova, l);
      n = Math.min(count, this.g.perTable - us);
    }
    for (let i = 0; i < this.g.perTable; i++) {
      if (i >= us && i < us + n) continue;
      t.e.set(i, { kind: 'leaf', pa: blk.pa + BigInt(i) * splitSz, prot: blk.prot });
    }
    parent.set(pidx, t);
    if (us >= 0) return BigInt(n) * size;
    return this.unmapAt(t.e, l, iova, size, count);
  }

  lookup(iova: bigint): { phys: bigint; pte: bigint; level: number } | null {
    const g = this.g;
    let tbl = this.root;
    for (let l = g.start; l < 4; l++) {
      const e = tbl.get(this.idx(iova, l));
      if (!e) return null;
      if (e.kind === 'leaf') {
        const bs = blockSize(g, l);
        return { phys: e.pa + (iova & (bs - 1n)), pte: expectedLeaf(g.fmt, g.granule, l, e.pa, e.prot), level: l };
      }
      tbl = e.e;
    }
    return null;
  }

  /** Every leaf, as "iova level pte" strings in IOVA order. */
  leafList(): string[] {
    const out: string[] = [];
    const visit = (tbl: Map<number, MNode>, l: number, base: bigint) => {
      const keys = [...tbl.keys()].sort((a, b) => a - b);
      for (const k of keys) {
        const e = tbl.get(k) as MNode;
        const va = base + BigInt(k) * blockSize(this.g, l);
        if (e.kind === 'leaf') out.push(`${va.toString(16)} L${l} ${expectedLeaf(this.g.fmt, this.g.granule, l, e.pa, e.prot).toString(16)}`);
        else visit(e.e, l + 1, va);
      }
    };
    visit(this.root, this.g.start, 0n);
    return out;
  }
}

/** Independent walk of the bytes in table memory. */
function rawWalk(mem: PhysicalMemory, alloc: TableAllocator, pgd: bigint, g: Geo): { leaves: string[]; tables: bigint[] } {
  const leaves: string[] = [];
  const tables: bigint[] = [];
  const decodeAddr = (d: bigint) => (d & ADDR_47_12 & ~((1n << BigInt(g.pgShift)) - 1n)) | (g.granule === 65536 ? ((d >> 12n) & 0xfn) << 48n : 0n);
  const visit = (table: bigint, l: number, base: bigint, entries: number) => {
    for (let i = 0; i < entries; i++) {
      const d = mem.peek64(table + BigInt(i) * 8n);
      if (d === undefined) throw new Error(`table memory at ${table.toString(16)} unbacked`);
      if (d === 0n) continue;
      const va = base + BigInt(i) * blockSize(g, l);
      const type = d & 3n;
      if (l < 3 && type === 3n) {
        if ((d & ~(ADDR_47_12 | 3n)) !== 0n) throw new Error(`table descriptor with attribute bits: ${d.toString(16)} at L${l}`);
        const next = decodeAddr(d);
        if (!alloc.isLive(next)) throw new Error(`table descriptor at L${l} va ${va.toString(16)} points at a non-live block ${next.toString(16)}`);
        tables.push(next);
        visit(next, l + 1, va, g.perTable);
      } else if ((l < 3 && type === 1n) || (l === 3 && type === 3n)) {
        leaves.push(`${va.toString(16)} L${l} ${d.toString(16)}`);
      } else {
        throw new Error(`invalid non-zero descriptor ${d.toString(16)} at L${l} va ${va.toString(16)}`);
      }
    }
  };
  visit(pgd, g.start, 0n, g.rootEntries);
  return { leaves, tables };
}

// ---------------------------------------------------------------------------
// Operations.

type Op =
  | { kind: 'map'; iova: bigint; pa: bigint; size: bigint; count: number; prot: number }
  | { kind: 'unmap'; iova: bigint; size: bigint; count: number }
  /** An unmap inside an earlier successful map (resolved when run): makes splits frequent. */
  | { kind: 'unmapIn'; pick: number; frac: bigint; size: bigint; count: number };

interface Cfg {
  name: string;
  fmt: IoPgtableFormat;
  granule: Granule;
  ias: number;
  oas: number;
  /** A table-page boundary at every level in use. */
  anchor: bigint;
  numRuns: number;
}

const CONFIGS: Cfg[] = [
  { name: 'S1 4K ias 48 (start level 0)', fmt: S1, granule: 4096, ias: 48, oas: 48, anchor: 1n << 39n, numRuns: 120 },
  { name: 'S1 4K ias 39 (start level 1)', fmt: S1, granule: 4096, ias: 39, oas: 44, anchor: 1n << 38n, numRuns: 80 },
  { name: 'S2 4K ias 48 (no concatenation)', fmt: S2, granule: 4096, ias: 48, oas: 48, anchor: 1n << 39n, numRuns: 100 },
  { name: 'S2 4K ias 40 (2 concatenated level-1 tables)', fmt: S2, granule: 4096, ias: 40, oas: 40, anchor: 1n << 39n, numRuns: 150 },
  { name: 'S1 16K ias 48', fmt: S1, granule: 16384, ias: 48, oas: 48, anchor: 1n << 36n, numRuns: 100 },
  { name: 'S2 16K ias 48 (2 concatenated level-1 tables)', fmt: S2, granule: 16384, ias: 48, oas: 48, anchor: 1n << 36n, numRuns: 80 },
  { name: 'S2 16K ias 40 (16 concatenated level-2 tables)', fmt: S2, granule: 16384, ias: 40, oas: 40, anchor: 3n << 36n, numRuns: 120 },
  { name: 'S1 64K ias 48', fmt: S1, granule: 65536, ias: 48, oas: 48, anchor: 1n << 42n, numRuns: 60 },
  { name: 'S2 64K ias 42 (start level 2)', fmt: S2, granule: 65536, ias: 42, oas: 42, anchor: 1n << 41n, numRuns: 60 },
  { name: 'S2 64K ias 52 oas 52 (4T blocks, PA above 2^48)', fmt: S2, granule: 65536, ias: 52, oas: 52, anchor: 1n << 42n, numRuns: 80 },
  { name: 'S1 64K ias 52 oas 52 (4T blocks, PA above 2^48)', fmt: S1, granule: 65536, ias: 52, oas: 52, anchor: 1n << 42n, numRuns: 50 },
];

const validProt = fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 15 })).map(([rw, rest]) => rw | (rest << 2));
const anyProt = fc.integer({ min: 0, max: 63 });
const protArb = fc.oneof({ weight: 12, arbitrary: validProt }, { weight: 1, arbitrary: anyProt });
const kArb = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -8, max: 8 }) }, { weight: 1, arbitrary: fc.integer({ min: -600, max: 600 }) });
const countArb = fc.oneof({ weight: 2, arbitrary: fc.integer({ min: 1, max: 4 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 600 }) });

function opsArb(g: Geo, anchor: bigint): fc.Arbitrary<Op[]> {
  const top = 1n << BigInt(g.ias);
  const gran = BigInt(g.granule);
  const iovaFor = (size: bigint, k: number) => {
    let iova = anchor + BigInt(k) * size;
    if (iova < 0n) iova = -iova;
    return iova;
  };
  const clampCount = (iova: bigint, size: bigint, count: number) => {
    // Stay below 2^ias: a start table shorter than a page (or the last concatenated page) has no entries beyond it.
    if (iova >= top) return count;
    const room = (top - iova) / size;
    return Number(room < BigInt(count) ? room : BigInt(count));
  };
  const paFor = (size: bigint, seed: bigint) => {
    const shift = BigInt(log2(size));
    let maxIdx = (1n << (BigInt(g.oas) - shift)) - 601n;
    if (maxIdx < 0n) maxIdx = 0n;
    const idx = (seed >> shift) % (maxIdx + 1n);
    return idx << shift;
  };
  const sizeArb = fc.constantFrom(...g.sizes);
  const seedArb = fc.bigInt({ min: 0n, max: (1n << BigInt(g.oas)) - 1n });

  const mapOp: fc.Arbitrary<Op> = fc.record({ size: sizeArb, k: kArb, seed: seedArb, count: countArb, prot: protArb }).map(({ size, k, seed, count, prot }) => {
    const iova = iovaFor(size, k);
    return { kind: 'map', iova, pa: paFor(size, seed), size, count: Math.max(1, clampCount(iova, size, count)), prot };
  });
  const unmapOp: fc.Arbitrary<Op> = fc.record({ size: sizeArb, k: kArb, count: countArb }).map(({ size, k, count }) => {
    const iova = iovaFor(size, k);
    return { kind: 'unmap', iova, size, count: Math.max(1, clampCount(iova, size, count)) };
  });
  // Requests Linux rejects: misaligned iova or pa, a pgsize not in the bitmap, iova/pa out of range.
  const badOp: fc.Arbitrary<Op> = fc
    .record({ which: fc.integer({ min: 0, max: 5 }), size: sizeArb, k: fc.integer({ min: 0, max: 8 }), seed: seedArb, prot: validProt })
    .map(({ which, size, k, seed, prot }) => {
      const iova = iovaFor(size, k);
      const pa = paFor(size, seed);
      const mis = size === gran ? gran / 2n : gran;
      switch (which) {
        case 0:
          return { kind: 'map', iova: iova + mis, pa, size, count: 1, prot };
        case 1:
          return { kind: 'map', iova, pa: pa + mis, size, count: 1, prot };
        case 2:
          return { kind: 'map', iova, pa, size: gran * 2n, count: 1, prot };
        case 3:
          return { kind: 'map', iova: top + BigInt(k) * size, pa, size, count: 1, prot };
        case 4:
          return { kind: 'map', iova, pa: (1n << BigInt(g.oas)) + BigInt(k) * size, size, count: 1, prot };
        default:
          return { kind: 'unmap', iova: top + BigInt(k) * size, size, count: 1 };
      }
    });
  const unmapInOp: fc.Arbitrary<Op> = fc
    .record({ pick: fc.nat(), frac: fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }), size: sizeArb, count: countArb })
    .map(({ pick, frac, size, count }) => ({ kind: 'unmapIn', pick, frac, size, count }));
  const op = fc.oneof(
    { weight: 10, arbitrary: mapOp },
    { weight: 5, arbitrary: unmapOp },
    { weight: 4, arbitrary: unmapInOp },
    { weight: 1, arbitrary: badOp },
  );
  return fc.array(op, { minLength: 1, maxLength: 40 });
}

function probesArb(g: Geo, anchor: bigint): fc.Arbitrary<bigint[]> {
  const gran = BigInt(g.granule);
  return fc.array(
    fc.record({ size: fc.constantFrom(...g.sizes), k: fc.integer({ min: -10, max: 10 }), sub: fc.bigInt({ min: 0n, max: (1n << 30n) - 1n }) }).map(({ size, k, sub }) => {
      let iova = anchor + BigInt(k) * size + ((sub * gran) % size) + (sub & (gran - 1n));
      if (iova < 0n) iova = -iova;
      return iova;
    }),
    { minLength: 8, maxLength: 24 },
  );
}

type RunOp = Exclude<Op, { kind: 'unmapIn' }>;

function fmtOp(o: RunOp): string {
  const h = (v: bigint) => '0x' + v.toString(16);
  return o.kind === 'map'
    ? `map iova=${h(o.iova)} pa=${h(o.pa)} size=${h(o.size)} count=${o.count} prot=${o.prot}`
    : `unmap iova=${h(o.iova)} size=${h(o.size)} count=${o.count}`;
}

/** Resolve an 'unmapIn' against the ranges mapped so far (an aligned IOVA inside one of them). */
function resolve(op: Op, mapped: Array<{ iova: bigint; len: bigint }>, top: bigint): RunOp | null {
  if (op.kind !== 'unmapIn') return op;
  if (mapped.length === 0) return null;
  const r = mapped[op.pick % mapped.length];
  const iova = r.iova + ((op.frac % r.len) & ~(op.size - 1n));
  const room = (top - iova) / op.size;
  const count = Number(room < BigInt(op.count) ? room : BigInt(op.count));
  return count > 0 ? { kind: 'unmap', iova, size: op.size, count } : null;
}

function runSequence(cfg: Cfg, g: Geo, ops: Op[], probes: bigint[]): void {
  const mem = new PhysicalMemory();
  const alloc = new TableAllocator(mem, 0xd000_0000_0000n, 0xd100_0000_0000n);
  const pt = ArmLpaeIoPgtable.alloc({ fmt: cfg.fmt, granule: cfg.granule, ias: cfg.ias, oas: cfg.oas }, alloc);
  expect(pt.startLevel).toBe(g.start);
  const pgdBytes = alloc.liveBytes;
  const model = new Model(g);
  const top = 1n << BigInt(g.ias);
  const gran = BigInt(g.granule);

  const mappedRanges: Array<{ iova: bigint; len: bigint }> = [];
  ops.forEach((op, n) => {
    const o = resolve(op, mappedRanges, top);
    if (!o) return;
    const where = `op #${n}: ${fmtOp(o)}`;
    let edges: bigint[];
    if (o.kind === 'map') {
      const want = model.map(o.iova, o.pa, o.size, o.count, o.prot);
      const got = pt.mapPages(o.iova, o.pa, o.size, o.count, o.prot);
      expect(got, where).toEqual(want);
      if (!got.error) {
        // Model-free check: the call stops at the batch end or at a table-page end of the leaf level.
        const end = o.iova + got.mapped;
        const pageSpan = o.size * BigInt(g.perTable);
        expect(got.mapped > 0n && got.mapped <= o.size * BigInt(o.count), where).toBe(true);
        expect(got.mapped === o.size * BigInt(o.count) || end % pageSpan === 0n, where).toBe(true);
        mappedRanges.push({ iova: o.iova, len: got.mapped });
      }
      edges = [o.iova, o.iova + o.size - gran, o.iova + got.mapped - gran, o.iova + got.mapped, o.iova + o.size * BigInt(o.count) - gran];
    } else {
      const want = model.unmap(o.iova, o.size, o.count);
      const got = pt.unmapPages(o.iova, o.size, o.count);
      expect(got, where).toBe(want);
      expect(got % o.size, where).toBe(0n);
      expect(got <= o.size * BigInt(o.count), where).toBe(true);
      edges = [o.iova, o.iova + o.size - gran, o.iova + got - gran, o.iova + got];
    }
    expect(alloc.liveBytes, `${where}: table memory`).toBe(pgdBytes + BigInt(model.tables) * gran);
    for (const p of [...edges, o.iova - gran, ...probes]) {
      if (p < 0n || p >= top) continue;
      for (const q of [p, p + gran - 8n]) {
        expect(pt.iovaToPhys(q), `${where}: iova 0x${q.toString(16)}`).toEqual(model.lookup(q));
      }
    }
  });

  const raw = rawWalk(mem, alloc, pt.pgd, g);
  const want = model.leafList();
  expect(raw.leaves.length, 'leaf count').toBe(want.length);
  expect(raw.leaves).toEqual(want);
  expect(raw.tables.length, 'table count').toBe(model.tables);
  expect(new Set(raw.tables.map(String)).size, 'tables are distinct').toBe(raw.tables.length);
  pt.free();
  expect(alloc.liveBytes).toBe(0n);
}

describe('io-pgtable-arm against a structural reference model (fast-check)', () => {
  it('reference model sanity: a hand-checked sequence', () => {
    // 1G block split by a 4K unmap; a 2M map onto a remaining 2M block is EEXIST, onto the
    // level-3 table it replaces the table; a 2M unmap where a table sits reports 2M.
    const g = refGeo(S1, 4096, 48, 48);
    const m = new Model(g);
    const G = 1n << 30n;
    const M2 = 0x20_0000n;
    expect(m.map(G, 0n, G, 1, R | W)).toEqual({ mapped: G });
    expect(m.unmap(G + 0x1000n, 0x1000n, 1)).toBe(0x1000n);
    expect(m.tables).toBe(3);
    expect(m.lookup(G + 0x2000n)).toEqual({ phys: 0x2000n, pte: expectedLeaf(S1, 4096, 3, 0x2000n, R | W), level: 3 });
    expect(m.lookup(G + M2)?.level).toBe(2);
    expect(m.lookup(G + 0x1000n)).toBeNull();
    expect(m.map(G + M2, 0n, M2, 1, R)).toEqual({ error: 'EEXIST', mapped: 0n });
    expect(m.map(G, 0n, M2, 1, R)).toEqual({ mapped: M2 });
    expect(m.tables).toBe(2);
    expect(m.unmap(G, M2, 2)).toBe(2n * M2);
    expect(m.map(G + 2n * M2 + 0x5000n, 0n, 0x1000n, 1, R)).toEqual({ error: 'EEXIST', mapped: 0n }); // inside block 2
    expect(m.map(G + 0x5000n, 0n, 0x1000n, 1, R)).toEqual({ mapped: 0x1000n });
    expect(m.tables).toBe(3);
    expect(m.unmap(G, M2, 1)).toBe(M2);
    expect(m.tables).toBe(2);
    expect(m.map(0x1ff000n, 0n, 0x1000n, 4, R)).toEqual({ mapped: 0x1000n });
    expect(refGeo(S2, 4096, 40, 40)).toMatchObject({ start: 1, rootEntries: 1024 });
    expect(refGeo(S2, 16384, 40, 40)).toMatchObject({ start: 2, rootEntries: 32768 });
    expect(refGeo(S2, 16384, 48, 48)).toMatchObject({ start: 1, rootEntries: 4096 });
    expect(levelOf(g, 1n << 30n)).toBe(1);
  });

  for (const cfg of CONFIGS) {
    it(`${cfg.name}: random map/unmap sequences match the model`, () => {
      const g = refGeo(cfg.fmt, cfg.granule, cfg.ias, cfg.oas);
      fc.assert(
        fc.property(opsArb(g, cfg.anchor), probesArb(g, cfg.anchor), (ops, probes) => {
          runSequence(cfg, g, ops, probes);
        }),
        { numRuns: cfg.numRuns },
      );
    });
  }
});
