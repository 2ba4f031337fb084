/**
 * Property tests: the SMMU table walker (walk.ts) against Linux's
 * io-pgtable-arm (iopgtable.ts) over the very same emulated memory.
 *
 * 1. Single stage, every granule, every start level, stage-2 concatenation:
 *    after random map/unmap sequences the walker agrees with iova_to_phys
 *    (PA, leaf level, leaf descriptor, fault level) and reads exactly one
 *    descriptor per level walked.
 * 2. Nested: a random stage 1 whose tables are identity-mapped by a stage 2,
 *    and a random stage-2 mapping of its outputs; PA = S2(S1(va)), the read
 *    count and the trace order match what the two io-pgtables imply.
 * 3. Permissions: the walker's allow/deny decisions against an oracle written
 *    from the architecture's rules and Linux's prot -> descriptor encoding.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bit } from './bits';
import type { Granule } from './descriptor';
import {
  ArmLpaeIoPgtable,
  lpaeGeometry,
  IOMMU_CACHE,
  IOMMU_MMIO,
  IOMMU_NOEXEC,
  IOMMU_PRIV,
  IOMMU_READ,
  IOMMU_WRITE,
  type IoPgtableFormat,
} from './iopgtable';
import { PhysicalMemory, TableAllocator } from './memory';
import {
  type Access,
  type Transaction,
  type TracePurpose,
  type WalkFaultType,
  type WalkResult,
  newCtx,
  s1StartLevel,
  s1TableConfigError,
  s2Concatenated,
  s2ConfigError,
  s2StartLevel,
  walkS1,
  walkS2Only,
} from './walk';
import { s1ParamsFor, s2ParamsFor } from './walk-params';

// ---------------------------------------------------------------------------
// Configurations

interface Cfg {
  fmt: IoPgtableFormat;
  granule: Granule;
  ias: number;
  oas: number;
  /** Start level from the ias alone, before any stage-2 concatenation. */
  natural: number;
}

/** Name with the start level and concatenation io-pgtable actually picks. */
function cfgName(c: Cfg): string {
  const g = c.granule === 4096 ? '4K' : c.granule === 16384 ? '16K' : '64K';
  const geo = lpaeGeometry(c);
  const cc = geo.concatenated > 1 ? `, ${geo.concatenated} concatenated` : '';
  return `${c.fmt === 'arm-lpae-s1' ? 'S1' : 'S2'} ${g} ias=${c.ias} oas=${c.oas} (L${geo.startLevel}${cc})`;
}

const s1 = (granule: Granule, ias: number, natural: number, oas = 48): Cfg => ({ fmt: 'arm-lpae-s1', granule, ias, oas, natural });
const s2 = (granule: Granule, ias: number, oas: number, natural: number): Cfg => ({ fmt: 'arm-lpae-s2', granule, ias, oas, natural });

const S1_CFGS: Cfg[] = [
  s1(4096, 48, 0),
  s1(4096, 44, 0), // 32-entry level-0 table
  s1(4096, 39, 1),
  s1(4096, 32, 1), // 4-entry level-1 table
  s1(4096, 30, 2),
  s1(16384, 48, 0), // 2-entry level-0 table
  s1(16384, 47, 1),
  s1(16384, 40, 1),
  s1(16384, 36, 2),
  s1(16384, 25, 3),
  s1(65536, 52, 1, 52), // 52-bit VA and PA: FEAT_LPA descriptor layout, 4TB level-1 blocks
  s1(65536, 48, 1),
  s1(65536, 42, 2),
  s1(65536, 29, 3),
];

const S2_CFGS: Cfg[] = [
  s2(4096, 48, 48, 0),
  s2(4096, 43, 48, 0), // 16-entry level 0 (16 concatenated level-1 tables if io-pgtable concatenates whenever it can)
  s2(4096, 40, 48, 0), // 2-entry level 0 (concatenated only under the concatenate-if-possible rule)
  s2(4096, 39, 48, 1),
  s2(4096, 30, 48, 2),
  s2(16384, 47, 48, 1),
  s2(16384, 36, 48, 2),
  s2(16384, 25, 48, 3),
  s2(65536, 52, 52, 1),
  s2(65536, 48, 48, 1),
  s2(65536, 42, 48, 2),
  s2(65536, 29, 48, 3),
  // Concatenation: mandatory by the architecture (R_DXBSH / R_SRKBC) for these PA sizes.
  s2(4096, 40, 40, 0), // 2 level-1 tables
  s2(4096, 42, 42, 0), // 8 level-1 tables
  s2(16384, 40, 40, 1), // 16 level-2 tables
  s2(16384, 48, 48, 0), // 2 level-1 tables
];

/**
 * The SMMU's implemented OAS given to the walker in the agreement properties:
 * 52 where the tables use 52-bit PAs, else 48 (so that the configuration is
 * legal whatever start level io-pgtable picks; see the separate OAS test).
 */
function smmuOas(c: { oas: number }): number {
  return c.oas > 48 ? 52 : 48;
}

const TABLE_BASE = 0x4000_0000n;
const TABLE_SPAN = 0x0100_0000n; // 16 MB of table memory per io-pgtable
const S2_TABLE_BASE = 0x8000_0000n;

function build(c: { fmt: IoPgtableFormat; granule: Granule; ias: number; oas: number }, mem: PhysicalMemory, base = TABLE_BASE) {
  const alloc = new TableAllocator(mem, base, base + TABLE_SPAN);
  return ArmLpaeIoPgtable.alloc({ fmt: c.fmt, granule: c.granule, ias: c.ias, oas: c.oas }, alloc);
}

/** Every page/block size of the format (descending). */
function bitmapSizes(pgt: ArmLpaeIoPgtable): bigint[] {
  const out: bigint[] = [];
  for (let b = 63; b >= 0; b--) if (pgt.pgsizeBitmap & (1n << BigInt(b))) out.push(1n << BigInt(b));
  return out;
}

/** Page/block sizes io-pgtable can map in this instance (descending). */
function usableSizes(pgt: ArmLpaeIoPgtable): bigint[] {
  const out: bigint[] = [];
  for (let b = 63; b >= 0; b--) {
    const s = 1n << BigInt(b);
    if (pgt.pgsizeBitmap & s && s <= pgt.blockSize(pgt.startLevel)) out.push(s);
  }
  return out;
}

const alignDown = (v: bigint, a: bigint): bigint => v - (v % a);
const alignUp = (v: bigint, a: bigint): bigint => alignDown(v + a - 1n, a);

// ---------------------------------------------------------------------------
// Reference walk over io-pgtable's tables (for the addresses each level reads)

interface RefStep {
  level: number;
  addr: bigint;
  pte: bigint;
}

interface RefWalk {
  steps: RefStep[];
  /** The last step is a leaf (else it is an empty entry). */
  leaf: boolean;
}

function isLeaf(pte: bigint, lvl: number): boolean {
  return lvl === 3 ? (pte & 3n) === 3n : (pte & 3n) === 1n;
}

function refWalk(pgt: ArmLpaeIoPgtable, mem: PhysicalMemory, iova: bigint): RefWalk {
  const steps: RefStep[] = [];
  let table = pgt.pgd;
  for (let lvl = pgt.startLevel; lvl <= 3; lvl++) {
    const addr = table + BigInt(pgt.lvlIdx(iova, lvl)) * 8n;
    const pte = mem.peek64(addr);
    if (pte === undefined) throw new Error('reference walk: unbacked table memory');
    steps.push({ level: lvl, addr, pte });
    if (pte === 0n) return { steps, leaf: false };
    if (isLeaf(pte, lvl)) return { steps, leaf: true };
    table = pgt.iopteToPaddr(pte);
  }
  throw new Error('reference walk ran past level 3');
}

function last<T>(a: T[]): T {
  const v = a[a.length - 1];
  if (v === undefined) throw new Error('empty');
  return v;
}

// ---------------------------------------------------------------------------
// Arbitraries

function toProt(p: { r: boolean; w: boolean; noexec: boolean; priv: boolean; cache: boolean; mmio: boolean }): number {
  return (
    (p.r ? IOMMU_READ : 0) |
    (p.w ? IOMMU_WRITE : 0) |
    (p.noexec ? IOMMU_NOEXEC : 0) |
    (p.priv ? IOMMU_PRIV : 0) |
    (p.cache ? IOMMU_CACHE : 0) |
    (p.mmio ? IOMMU_MMIO : 0)
  );
}

const protArb = fc
  .record({ r: fc.boolean(), w: fc.boolean(), noexec: fc.boolean(), priv: fc.boolean(), cache: fc.boolean(), mmio: fc.boolean() })
  .filter((p) => p.r || p.w)
  .map(toProt);

const txnArb: fc.Arbitrary<Transaction> = fc.record({
  access: fc.constantFrom<Access>('read', 'write', 'exec'),
  priv: fc.boolean(),
});

const U52 = (1n << 52n) - 1n;

interface Op {
  kind: 'map' | 'unmap';
  sizeIdx: number;
  /** Index at each larger size (collisions are likely: 0..3). */
  idx: number[];
  /** Index in units of the op's own size. */
  page: number;
  pgcount: number;
  paSeed: bigint;
  prot: number;
}

const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.oneof({ arbitrary: fc.constant<'map'>('map'), weight: 3 }, { arbitrary: fc.constant<'unmap'>('unmap'), weight: 1 }),
  sizeIdx: fc.nat({ max: 3 }),
  idx: fc.array(fc.nat({ max: 3 }), { minLength: 4, maxLength: 4 }),
  page: fc.nat({ max: 47 }),
  pgcount: fc.integer({ min: 1, max: 40 }),
  paSeed: fc.bigInt({ min: 0n, max: U52 }),
  prot: protArb,
});

interface Sample {
  fromLeaf: boolean;
  pick: number;
  off: bigint;
  preferWrite: boolean;
}

const sampleArb: fc.Arbitrary<Sample> = fc.record({
  fromLeaf: fc.boolean(),
  pick: fc.nat(),
  off: fc.bigInt({ min: 0n, max: U52 }),
  preferWrite: fc.boolean(),
});

/** The IOVA window ops and samples fall in: small enough that ops collide. */
interface Window {
  base: bigint;
  size: bigint;
}

function windowFor(pgt: ArmLpaeIoPgtable, high: boolean): Window {
  const sizes = usableSizes(pgt);
  const top = 1n << BigInt(pgt.ias);
  let size = sizes.length > 1 ? 4n * sizes[0] : 64n * sizes[0];
  if (size > top) size = top;
  return { base: high ? top - size : 0n, size };
}

/** Resolve an op to (iova, pa, pgsize, pgcount) inside the window and the address spaces. */
function resolveOp(pgt: ArmLpaeIoPgtable, win: Window, op: Op, paBase: bigint, paSpan: bigint) {
  const sizes = usableSizes(pgt);
  // Mostly sizes that have a level in this table; 1 in 4 any size of the format's bitmap
  // (e.g. 1G with a 4K granule and ias 30, which io-pgtable rejects with EINVAL).
  const all = bitmapSizes(pgt);
  const pgsize = op.sizeIdx < 3 ? sizes[op.sizeIdx % sizes.length] : all[op.idx[3] % all.length];
  let off = BigInt(op.page) * pgsize;
  sizes.forEach((s, j) => {
    if (s > pgsize) off += BigInt(op.idx[j]) * s;
  });
  const iova = alignDown(win.base + (off % win.size), pgsize);
  // io-pgtable (like Linux) only range-checks the first page: keep the whole run inside the IAS.
  const room = Number(((1n << BigInt(pgt.ias)) - iova) / pgsize);
  const pgcount = Math.max(1, Math.min(op.pgcount, room));
  let pa = paBase + alignDown(op.paSeed % paSpan, pgsize);
  const paTop = 1n << BigInt(pgt.oas);
  if (pa + BigInt(pgcount) * pgsize > paTop) pa = paTop - BigInt(pgcount) * pgsize;
  return { iova, pa, pgsize, pgcount };
}

function applyOps(pgt: ArmLpaeIoPgtable, win: Window, ops: Op[], paBase: bigint, paSpan: bigint) {
  const mapped: Array<{ pa: bigint; len: bigint }> = [];
  for (const op of ops) {
    const { iova, pa, pgsize, pgcount } = resolveOp(pgt, win, op, paBase, paSpan);
    if (op.kind === 'map') {
      const r = pgt.mapPages(iova, pa, pgsize, pgcount, op.prot);
      const levelless = pgsize > pgt.blockSize(pgt.startLevel);
      expect(r.error === undefined || r.error === 'EEXIST' || (levelless && r.error === 'EINVAL'), `map error ${r.error}`).toBe(true);
      if (r.mapped > 0n) mapped.push({ pa, len: r.mapped });
    } else {
      pgt.unmapPages(iova, pgsize, pgcount);
    }
  }
  return mapped;
}

/** IOVAs to check: every leaf's first and last byte and the byte after it, plus random ones. */
function sampleIovas(pgt: ArmLpaeIoPgtable, win: Window, samples: Sample[]): Array<{ iova: bigint; preferWrite: boolean }> {
  const leaves = pgt.leaves();
  const top = 1n << BigInt(pgt.ias);
  const out: Array<{ iova: bigint; preferWrite: boolean }> = [];
  for (const l of leaves.slice(0, 48)) {
    out.push({ iova: l.iova, preferWrite: false });
    out.push({ iova: l.iova + l.size - 1n, preferWrite: true });
    if (l.iova + l.size < top) out.push({ iova: l.iova + l.size, preferWrite: false });
  }
  for (const s of samples) {
    if (s.fromLeaf && leaves.length > 0) {
      const l = leaves[s.pick % leaves.length];
      out.push({ iova: l.iova + (s.off % l.size), preferWrite: s.preferWrite });
    } else {
      out.push({ iova: win.base + (s.off % win.size), preferWrite: s.preferWrite });
    }
  }
  return out;
}

function expectFault(r: WalkResult, type: WalkFaultType, stage: 1 | 2, level: number | undefined, cls?: 'TT' | 'IN'): void {
  if (r.ok) throw new Error(`expected ${type} at stage ${stage} level ${level}, walk succeeded with pa 0x${r.pa.toString(16)}`);
  expect({ type: r.fault.type, stage: r.fault.stage, level: r.fault.level }).toEqual({ type, stage, level });
  if (cls) expect(r.fault.class).toBe(cls);
}

function expectOk(r: WalkResult): asserts r is Extract<WalkResult, { ok: true }> {
  if (!r.ok) throw new Error(`expected a translation, got ${r.fault.type} (stage ${r.fault.stage}, level ${r.fault.level}): ${r.fault.reason}`);
}

// ---------------------------------------------------------------------------
// 1. Single stage: walker == iova_to_phys

describe('walker agrees with io-pgtable iova_to_phys after random map/unmap sequences', () => {
  it('the configurations cover every start level and concatenation, and the walker derives the same geometry', () => {
    const seen = new Set<string>();
    for (const c of [...S1_CFGS, ...S2_CFGS]) {
      const pgt = build(c, new PhysicalMemory());
      seen.add(`${c.fmt} ${c.granule} L${pgt.startLevel}`);
      // Concatenating 2^k tables starts the walk exactly one level lower.
      expect(pgt.startLevel - (pgt.concatenated > 1 ? 1 : 0), cfgName(c)).toBe(c.natural);
      if (pgt.concatenated > 1) seen.add(`concat ${pgt.concatenated}`);
      if (c.fmt === 'arm-lpae-s1') {
        const p = s1ParamsFor(pgt, smmuOas(c));
        expect(s1TableConfigError(p.tt[0], p.oasBits), cfgName(c)).toBeNull();
        expect(s1StartLevel(64 - p.tt[0].tsz, c.granule), cfgName(c)).toBe(pgt.startLevel);
      } else {
        const p = s2ParamsFor(pgt, smmuOas(c));
        expect(s2ConfigError(p), cfgName(c)).toBeNull();
        expect(s2StartLevel(p.sl0, c.granule), cfgName(c)).toBe(pgt.startLevel);
        expect(s2Concatenated(p), cfgName(c)).toBe(pgt.concatenated);
      }
    }
    const want = [
      ...[0, 1, 2].map((l) => `arm-lpae-s1 4096 L${l}`),
      ...[0, 1, 2, 3].map((l) => `arm-lpae-s1 16384 L${l}`),
      ...[1, 2, 3].map((l) => `arm-lpae-s1 65536 L${l}`),
      ...[0, 1, 2].map((l) => `arm-lpae-s2 4096 L${l}`),
      ...[1, 2, 3].map((l) => `arm-lpae-s2 16384 L${l}`),
      ...[1, 2, 3].map((l) => `arm-lpae-s2 65536 L${l}`),
      'concat 2',
      'concat 8',
      'concat 16',
    ];
    expect(want.filter((w) => !seen.has(w))).toEqual([]);
  });

  // arm-smmu-v3 builds stage-2 tables with cfg.oas = smmu->oas (SMMU_IDR5.OAS): the
  // walker must accept them when its implemented OAS is that same value.
  // Architecture (AArch64.S2InvalidSL): a 16K-granule stage-2 walk may start at
  // level 1 only if the implemented PA size is at least 42 bits, so with a
  // 40-bit OAS and a 40-bit IPA the walk must start at level 2 with 16
  // concatenated tables (R_SRKBC; Linux's arm_lpae_concat_mandatory).
  it('stage-2 tables are legal for an SMMU whose OAS is the io-pgtable oas', () => {
    const bad: string[] = [];
    for (const c of S2_CFGS) {
      const mem = new PhysicalMemory();
      const pgt = build(c, mem);
      const p = s2ParamsFor(pgt, c.oas);
      const err = s2ConfigError(p);
      if (err) {
        bad.push(`${cfgName(c)}: ${err}`);
        continue;
      }
      const pa = 0x1234_0000n & ~(pgt.granuleBytes - 1n);
      expect(pgt.mapPages(0n, pa, pgt.granuleBytes, 1, IOMMU_READ)).toEqual({ mapped: pgt.granuleBytes });
      const r = walkS2Only(newCtx(mem), p, 8n, { access: 'read', priv: true });
      expectOk(r);
      expect(r.pa).toBe(pa + 8n);
    }
    expect(bad).toEqual([]);
  });

  for (const c of [...S1_CFGS, ...S2_CFGS]) {
    it(cfgName(c), () => {
      fc.assert(
        fc.property(
          fc.array(opArb, { minLength: 1, maxLength: 30 }),
          fc.array(sampleArb, { minLength: 4, maxLength: 24 }),
          fc.boolean(),
          (ops, samples, high) => {
            const mem = new PhysicalMemory();
            const pgt = build(c, mem);
            const win = windowFor(pgt, high);
            applyOps(pgt, win, ops, 0n, 1n << BigInt(pgt.oas));
            const stage1 = c.fmt === 'arm-lpae-s1';
            const p1 = stage1 ? s1ParamsFor(pgt, smmuOas(c)) : undefined;
            const p2 = stage1 ? undefined : s2ParamsFor(pgt, smmuOas(c));
            for (const { iova, preferWrite } of sampleIovas(pgt, win, samples)) {
              const ref = pgt.iovaToPhys(iova);
              const rw = refWalk(pgt, mem, iova);
              const stop = last(rw.steps);
              // The reference walk and iova_to_phys agree (sanity of the helper).
              expect(ref === null).toBe(!rw.leaf);
              const ctx = newCtx(mem);
              let access: Access = 'read';
              if (ref) {
                if (stage1) access = preferWrite && !bit(ref.pte, 7) ? 'write' : 'read';
                else access = bit(ref.pte, 6) && !(preferWrite && bit(ref.pte, 7)) ? 'read' : 'write';
              }
              const txn: Transaction = { access, priv: true };
              const r = p1 ? walkS1(ctx, p1, { va: iova, txn }) : walkS2Only(ctx, p2!, iova, txn);
              if (!ref) {
                expectFault(r, 'F_TRANSLATION', stage1 ? 1 : 2, stop.level, 'IN');
                expect(ctx.reads).toBe(stop.level - pgt.startLevel + 1);
                continue;
              }
              expectOk(r);
              expect(r.pa).toBe(ref.phys);
              const leaf = stage1 ? r.s1 : r.s2;
              expect(leaf).toBeDefined();
              expect({ level: leaf!.level, desc: leaf!.desc, size: leaf!.size }).toEqual({
                level: ref.level,
                desc: ref.pte,
                size: pgt.blockSize(ref.level),
              });
              expect(ctx.reads).toBe(ref.level - pgt.startLevel + 1);
              if (!stage1) expect(r.ipa).toBe(iova);
            }
            // Input addresses beyond the configured input size: a translation fault before any read
            // (stage 1: outside the TTB0 range, and TTB1 is disabled; stage 2: beyond S2T0SZ).
            for (const smp of samples.slice(0, 4)) {
              const maxBit = stage1 ? 63 : 47;
              if (pgt.ias > maxBit) continue;
              const b = pgt.ias + Number(smp.off % BigInt(maxBit - pgt.ias + 1));
              const iova = (win.base + (smp.off % win.size)) | (1n << BigInt(b));
              const ctx = newCtx(mem);
              const txn: Transaction = { access: 'read', priv: true };
              const r = p1 ? walkS1(ctx, p1, { va: iova, txn }) : walkS2Only(ctx, p2!, iova, txn);
              expectFault(r, 'F_TRANSLATION', stage1 ? 1 : 2, undefined, 'IN');
              expect(ctx.reads).toBe(0);
            }
          },
        ),
        { numRuns: 30 },
      );
    });
  }
});

// ---------------------------------------------------------------------------
// Permission oracles (architecture + Linux's prot encoding)

/** Stage-1 descriptor permission fields as Linux's arm_lpae_prot_to_pte writes them. */
function s1PermFromProt(prot: number) {
  return {
    el0: (prot & IOMMU_PRIV) === 0, // AP[1]
    ro: (prot & IOMMU_READ) !== 0 && (prot & IOMMU_WRITE) === 0, // AP[2]
    xn: (prot & IOMMU_NOEXEC) !== 0, // UXN and PXN
  };
}

function s1PermFromDesc(d: bigint) {
  return { el0: bit(d, 6), ro: bit(d, 7), pxn: bit(d, 53), uxn: bit(d, 54) };
}

/** VMSAv8-64 stage-1 (EL1&0 regime, no WXN/PAN) permission for a transaction. */
function s1Allows(p: { el0: boolean; ro: boolean; pxn: boolean; uxn: boolean }, t: Transaction): boolean {
  if (t.access === 'exec') {
    if (!t.priv) return !p.uxn;
    // A region writable at EL0 is never executable at EL1 (implicit PXN).
    return !p.pxn && !(p.el0 && !p.ro);
  }
  if (!t.priv && !p.el0) return false;
  return t.access === 'read' || !p.ro;
}

function s2PermFromDesc(d: bigint) {
  return { r: bit(d, 6), w: bit(d, 7), xn: bit(d, 54) };
}

/** Stage-2 permission (no FEAT_XNX): S2AP[0] read, S2AP[1] write, XN (bit 54) exec. */
function s2Allows(p: { r: boolean; w: boolean; xn: boolean }, t: Transaction): boolean {
  return t.access === 'read' ? p.r : t.access === 'write' ? p.w : !p.xn;
}

// ---------------------------------------------------------------------------
// 2. Nested stage 1 + stage 2

/** S1 configurations for nesting: 40-bit IPA output. */
const NESTED_S1: Cfg[] = [
  s1(4096, 48, 0, 40),
  s1(4096, 39, 1, 40),
  s1(4096, 30, 2, 40),
  s1(16384, 47, 1, 40),
  s1(16384, 36, 2, 40),
  s1(16384, 25, 3, 40),
  s1(65536, 48, 1, 40),
  s1(65536, 42, 2, 40),
  s1(65536, 29, 3, 40),
];

/** S2 configurations whose IPA covers the S1 output (>= 40 bits). */
const NESTED_S2: Cfg[] = [
  s2(4096, 40, 40, 0),
  s2(4096, 42, 42, 0),
  s2(4096, 48, 48, 0),
  s2(16384, 40, 40, 1),
  s2(16384, 48, 48, 0),
  s2(16384, 47, 48, 1),
  s2(65536, 42, 48, 2),
  s2(65536, 48, 48, 1),
];

/** S1 outputs (IPAs) live here, away from the S1 table memory at TABLE_BASE. */
const OUT_BASE = 1n << 36n;
const OUT_SPAN = 1n << 33n;

/** Map [iova, iova+len) -> [pa, ...) in pgsize units, skipping entries that already exist. */
function mapRange(pgt: ArmLpaeIoPgtable, iova: bigint, pa: bigint, len: bigint, pgsize: bigint, prot: number): void {
  let done = 0n;
  while (done < len) {
    const r = pgt.mapPages(iova + done, pa + done, pgsize, Number((len - done) / pgsize), prot);
    done += r.mapped;
    if (r.error) {
      expect(r.error).toBe('EEXIST');
      done += pgsize;
    }
  }
}

describe('nested walk: PA = S2(S1(va)), read count and trace order', () => {
  it('random S1 over an identity-mapped table region and a random S2 of its outputs', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...NESTED_S1),
        fc.constantFrom(...NESTED_S2),
        fc.array(opArb, { minLength: 1, maxLength: 20 }),
        fc.record({
          blocks: fc.boolean(),
          blockPick: fc.nat(),
          /** In page mode, leave this stage-1 table out of the identity map (stage-2 faults on table walks). */
          skip: fc.option(fc.nat(), { freq: 3 }),
          prot: fc.oneof(
            { arbitrary: fc.constant(IOMMU_READ | IOMMU_WRITE), weight: 4 },
            { arbitrary: fc.constant(IOMMU_READ | IOMMU_NOEXEC), weight: 4 },
            { arbitrary: fc.constant(IOMMU_WRITE), weight: 1 },
          ),
        }),
        fc.array(fc.record({ cover: fc.boolean(), sizePick: fc.nat(), paSeed: fc.bigInt({ min: 0n, max: U52 }), prot: protArb }), {
          minLength: 20,
          maxLength: 20,
        }),
        fc.array(opArb, { maxLength: 5 }),
        fc.array(
          fc.record({
            sample: sampleArb,
            txn: fc.oneof(txnArb, fc.constant<Transaction>({ access: 'read', priv: true })),
          }),
          { minLength: 4, maxLength: 24 },
        ),
        fc.boolean(),
        (c1, c2, s1Ops, ident, covers, s2Unmaps, samples, high) => {
          const mem = new PhysicalMemory();
          const pgt1 = build(c1, mem, TABLE_BASE);
          const pgt2 = build(c2, mem, S2_TABLE_BASE);
          const win = windowFor(pgt1, high);
          const outs = applyOps(pgt1, win, s1Ops, OUT_BASE, OUT_SPAN);

          // Identity-map the stage-1 table memory at stage 2.
          const s2Sizes = usableSizes(pgt2);
          if (ident.blocks) {
            const fit = s2Sizes.filter((s) => TABLE_SPAN / s <= 64n);
            const bs = fit.length > 0 ? fit[ident.blockPick % fit.length] : s2Sizes[0];
            const lo = alignDown(TABLE_BASE, bs);
            mapRange(pgt2, lo, lo, alignUp(TABLE_BASE + TABLE_SPAN, bs) - lo, bs, ident.prot);
          } else {
            const g = pgt2.granuleBytes;
            const tables = pgt1.tables();
            const skip = ident.skip === null ? -1 : ident.skip % tables.length;
            for (const [j, t] of tables.entries()) {
              if (j === skip) continue;
              const lo = alignDown(t.addr, g);
              mapRange(pgt2, lo, lo, alignUp(t.addr + t.size, g) - lo, g, ident.prot);
            }
          }
          // Map (some of) the stage-1 outputs at stage 2, anywhere in the stage-2 output space.
          outs.forEach((o, i) => {
            const cv = covers[i % covers.length];
            if (!cv.cover) return;
            const fit = s2Sizes.filter((s) => o.len / s <= 64n);
            const sz = fit.length > 0 ? fit[cv.sizePick % fit.length] : s2Sizes[0];
            const lo = alignDown(o.pa, sz);
            const len = alignUp(o.pa + o.len, sz) - lo;
            let pa = alignDown(cv.paSeed % (1n << BigInt(pgt2.oas)), sz);
            if (pa + len > 1n << BigInt(pgt2.oas)) pa = (1n << BigInt(pgt2.oas)) - len;
            mapRange(pgt2, lo, pa, len, sz, cv.prot);
          });
          // And punch some holes in stage 2's view of the output region (possibly splitting blocks).
          for (const u of outs.length > 0 ? s2Unmaps : []) {
            const o = outs[u.page % outs.length];
            const sz = s2Sizes[u.sizeIdx % s2Sizes.length];
            pgt2.unmapPages(alignDown(o.pa + (u.paSeed % o.len), sz), sz, u.pgcount);
          }

          const p1 = s1ParamsFor(pgt1);
          const p2 = s2ParamsFor(pgt2);
          const inputs = sampleIovas(
            pgt1,
            win,
            samples.map((s) => s.sample),
          );
          inputs.forEach(({ iova }, k) => {
            const txn = samples[k % samples.length].txn;
            const ctx = newCtx(mem, true);
            const r = walkS1(ctx, p1, { va: iova, txn }, p2);

            // Expected behaviour, from the two io-pgtables.
            // Every read the walk must make, in order: stage, level, purpose, the address being
            // translated (VA for stage 1, IPA for stage 2), the PA read and the descriptor found.
            const rows: Array<{ stage: number; level: number; purpose: TracePurpose; ia: bigint; addr: bigint; desc: bigint }> = [];
            const s1Addrs: bigint[] = [];
            let reads = 0;
            // Stage 2 of one IPA: the fault to expect, or the PA and the leaf.
            const stage2 = (ipa: bigint, purpose: TracePurpose, tableWalk: boolean) => {
              const w = refWalk(pgt2, mem, ipa);
              reads += w.steps.length;
              for (const st of w.steps) rows.push({ stage: 2, level: st.level, purpose, ia: ipa, addr: st.addr, desc: st.pte });
              const stop = last(w.steps);
              const cls: 'TT' | 'IN' = tableWalk ? 'TT' : 'IN';
              if (!w.leaf) return { fault: { type: 'F_TRANSLATION' as const, stage: 2 as const, level: stop.level, cls } };
              const ok = s2Allows(s2PermFromDesc(stop.pte), tableWalk ? { access: 'read', priv: txn.priv } : txn);
              if (!ok) return { fault: { type: 'F_PERMISSION' as const, stage: 2 as const, level: stop.level, cls } };
              const t = pgt2.iovaToPhys(ipa);
              expect(t).not.toBeNull();
              expect(t!.level).toBe(stop.level);
              return { pa: t!.phys, level: stop.level, pte: stop.pte };
            };

            type Expect =
              | { fault: { type: WalkFaultType; stage: 1 | 2; level: number; cls: 'TT' | 'IN' } }
              | { pa: bigint; s1: RefStep; s2: { level: number; pte: bigint } };
            const expected = ((): Expect => {
              const w1 = refWalk(pgt1, mem, iova);
              for (const st of w1.steps) {
                const t = stage2(st.addr, 's2-for-s1-table', true);
                if ('fault' in t) return t as Expect;
                expect(t.pa).toBe(st.addr); // identity-mapped table memory
                reads += 1;
                rows.push({ stage: 1, level: st.level, purpose: 's1-table', ia: iova, addr: t.pa, desc: st.pte });
                s1Addrs.push(t.pa);
              }
              const stop = last(w1.steps);
              if (!w1.leaf) return { fault: { type: 'F_TRANSLATION', stage: 1, level: stop.level, cls: 'IN' } };
              if (!s1Allows(s1PermFromDesc(stop.pte), txn)) {
                return { fault: { type: 'F_PERMISSION', stage: 1, level: stop.level, cls: 'IN' } };
              }
              const s1t = pgt1.iovaToPhys(iova);
              expect(s1t).not.toBeNull();
              const o = stage2(s1t!.phys, 's2-for-output', false);
              if ('fault' in o) return o as Expect;
              return { pa: o.pa, s1: stop, s2: o };
            })();

            if ('fault' in expected) {
              const f = expected.fault;
              expectFault(r, f.type, f.stage, f.level, f.cls);
            } else {
              expectOk(r);
              expect(r.pa).toBe(expected.pa);
              expect({ l1: r.s1?.level, d1: r.s1?.desc, l2: r.s2?.level, d2: r.s2?.desc }).toEqual({
                l1: expected.s1.level,
                d1: expected.s1.pte,
                l2: expected.s2.level,
                d2: expected.s2.pte,
              });
            }
            expect(ctx.reads).toBe(reads);
            const trace = ctx.trace!;
            expect(trace.map((e) => ({ stage: e.stage, level: e.level, purpose: e.purpose, ia: e.ia, addr: e.addr, desc: e.desc }))).toEqual(rows);
            expect(trace.filter((e) => e.purpose === 's1-table')).toHaveLength(rows.filter((e) => e.stage === 1).length);
            expect(trace.filter((e) => e.purpose === 's1-table').map((e) => e.addr)).toEqual(s1Addrs);
            // Every stage-1 descriptor read is immediately preceded by the stage-2 walk of its IPA.
            trace.forEach((e, j) => {
              if (e.purpose !== 's1-table') return;
              expect(j).toBeGreaterThan(0);
              expect(trace[j - 1].purpose).toBe('s2-for-s1-table');
              expect(trace[j - 1].stage).toBe(2);
            });
            // A successful walk ends with the stage-2 walk of the output.
            if (r.ok) expect(last(trace).purpose).toBe('s2-for-output');
          });
        },
      ),
      { numRuns: 120 },
    );
  });
});

// ---------------------------------------------------------------------------
// 3. Permissions

describe('walker permissions match the architecture for Linux prot values', () => {
  for (const stage of [1, 2] as const) {
    it(`stage ${stage}`, () => {
      const cfgs = stage === 1 ? S1_CFGS : S2_CFGS;
      fc.assert(
        fc.property(
          fc.constantFrom(...cfgs),
          fc.array(fc.record({ prot: protArb, sizePick: fc.nat(), pgcount: fc.integer({ min: 1, max: 4 }), paSeed: fc.bigInt({ min: 0n, max: U52 }) }), {
            minLength: 1,
            maxLength: 8,
          }),
          fc.array(fc.record({ pick: fc.nat(), off: fc.bigInt({ min: 0n, max: U52 }), txn: txnArb }), { minLength: 8, maxLength: 40 }),
          (c, maps, txns) => {
            const mem = new PhysicalMemory();
            const pgt = build(c, mem);
            const sizes = usableSizes(pgt);
            const region = 4n * sizes[0];
            const maxOps = Number((1n << BigInt(pgt.ias)) / region);
            const done: Array<{ iova: bigint; pa: bigint; len: bigint; prot: number; level: number }> = [];
            maps.slice(0, maxOps).forEach((m, i) => {
              const pgsize = sizes[m.sizePick % sizes.length];
              const iova = BigInt(i) * region;
              const len = BigInt(m.pgcount) * pgsize;
              let pa = alignDown(m.paSeed % (1n << BigInt(pgt.oas)), pgsize);
              if (pa + len > 1n << BigInt(pgt.oas)) pa = (1n << BigInt(pgt.oas)) - len;
              const r = pgt.mapPages(iova, pa, pgsize, m.pgcount, m.prot);
              expect(r).toEqual({ mapped: len });
              const level = pgt.iovaToPhys(iova)!.level;
              expect(pgt.blockSize(level)).toBe(pgsize);
              done.push({ iova, pa, len, prot: m.prot, level });
            });
            const params1 = stage === 1 ? s1ParamsFor(pgt, smmuOas(c)) : undefined;
            const params2 = stage === 2 ? s2ParamsFor(pgt, smmuOas(c)) : undefined;
            for (const t of txns) {
              const m = done[t.pick % done.length];
              const off = t.off % m.len;
              const iova = m.iova + off;
              const desc = pgt.iovaToPhys(iova)!.pte;
              let allowed: boolean;
              if (stage === 1) {
                const p = s1PermFromProt(m.prot);
                // The descriptor holds exactly these bits (AP[1], AP[2], PXN, UXN).
                expect(s1PermFromDesc(desc)).toEqual({ el0: p.el0, ro: p.ro, pxn: p.xn, uxn: p.xn });
                allowed = s1Allows({ el0: p.el0, ro: p.ro, pxn: p.xn, uxn: p.xn }, t.txn);
              } else {
                const p = { r: (m.prot & IOMMU_READ) !== 0, w: (m.prot & IOMMU_WRITE) !== 0, xn: (m.prot & IOMMU_NOEXEC) !== 0 };
                expect(s2PermFromDesc(desc)).toEqual(p);
                allowed = s2Allows(p, t.txn);
              }
              const ctx = newCtx(mem);
              const r = params1 ? walkS1(ctx, params1, { va: iova, txn: t.txn }) : walkS2Only(ctx, params2!, iova, t.txn);
              const what = `${stage === 1 ? 'S1' : 'S2'} prot=0x${m.prot.toString(16)} ${t.txn.priv ? 'priv' : 'unpriv'} ${t.txn.access}`;
              if (allowed) {
                expect(r.ok ? 'allowed' : `denied: ${r.fault.type} ${r.fault.reason}`, what).toBe('allowed');
                expect(r.ok && r.pa).toBe(m.pa + off);
              } else {
                expect(r.ok ? 'allowed' : 'denied', what).toBe('denied');
                expectFault(r, 'F_PERMISSION', stage, m.level, 'IN');
              }
              expect(ctx.reads).toBe(m.level - pgt.startLevel + 1);
            }
          },
        ),
        { numRuns: 150 },
      );
    });
  }
});
