/**
 * Property tests: untrusted memory and untrusted commands.
 *
 * - Random STEs, CDs, L1CDs and page-table descriptors (raw words, or legal
 *   structures with random bit flips) and random transactions: translate()
 *   never throws, returns ok / bypass / abort or an architected fault whose
 *   record is written to the event queue exactly as returned; and, memory
 *   being unchanged, a warm SMMU answers a second transaction exactly as a
 *   cold one does (the caches are invisible); after memory is rewritten and
 *   invalidated (CFGI_STE + TLBI_NSNH_ALL + TLBI_EL2_ALL + CMD_SYNC), too.
 * - Random request / invalidation sequences: the fast path translateN()
 *   agrees with translate(); a 1-5 entry IOTLB answers as a large one.
 *   Addresses with any top bits and SubstreamID 0 are generated too (two
 *   bugs fixed after this file first pinned them).
 * - Random 16-byte commands through submit(): never throw, return a CERROR
 *   code matching CMDQ_CONS.ERR, and (memory unchanged) never change what a
 *   transaction translates to.
 */

import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { encodeS1Leaf, encodeS1Table, encodeS2Leaf, encodeS2Table } from '../descriptor';
import { ACC_EXEC, ACC_READ, ACC_WRITE } from '../walk';
import { encodeCd, encodeL1cd } from './cd';
import { CERROR, OPCODES, encodeCommand } from './commands';
import { EVENT_CODES, type EventName, canonicalEvent, decodeEvent, encodeEvent } from './events';
import type { SmmuFeatures } from './features';
import { CR0_CMDQEN, CR0_EVTQEN, CR0_SMMUEN } from './registers';
import { type Access, type Smmu, type TranslateResult, TN_ABORT, TN_BYPASS, TN_FAULT, TN_HIT, TN_MISS } from './smmu';
import { encodeSte } from './ste';
import { NO_RAM, RO, RW, Testbed, cdFor, map, mapTablesIdentity, s2Fields } from './testbed';

// Each property runs in about a second; leave room for a loaded machine.
vi.setConfig({ testTimeout: 30_000 });

const U64 = (1n << 64n) - 1n;
const u64 = fc.bigInt({ min: 0n, max: U64 });

/** Events a transaction may raise on this SMMU (no ATS, no stalls, no PRI). */
const TRANSLATION_EVENTS: ReadonlySet<EventName> = new Set<EventName>([
  'C_BAD_STREAMID',
  'F_STE_FETCH',
  'C_BAD_STE',
  'F_STREAM_DISABLED',
  'C_BAD_SUBSTREAMID',
  'F_CD_FETCH',
  'C_BAD_CD',
  'F_WALK_EABT',
  'F_TRANSLATION',
  'F_ADDR_SIZE',
  'F_ACCESS',
  'F_PERMISSION',
]);
const WALK_FAULTS: ReadonlySet<EventName> = new Set<EventName>(['F_TRANSLATION', 'F_ADDR_SIZE', 'F_ACCESS', 'F_PERMISSION']);

// -----------------------------------------------------------------------------
// Random memory

// Fixed homes for the structures (the stream table is the testbed's, linear, 256 STEs).
const CD_LINEAR = 0x0200_0000n;
const CD_L1 = 0x0210_0000n;
const CD_LEAF = 0x0220_0000n; // one leaf table, big enough for S1Fmt 2
const S1_T = [0x1000_0000n, 0x1000_1000n, 0x1000_2000n, 0x1000_3000n];
const S2_T = [0x2000_0000n, 0x2000_1000n, 0x2000_2000n, 0x2000_3000n];

/** Eight dwords: fully random, or a template with a few random bit flips. */
function words8(template: fc.Arbitrary<bigint[]>): fc.Arbitrary<bigint[]> {
  const flips = fc.array(fc.tuple(fc.nat(7), fc.nat(63)), { maxLength: 3 });
  return fc.oneof(
    { weight: 1, arbitrary: fc.array(u64, { minLength: 8, maxLength: 8 }) },
    { weight: 3, arbitrary: template },
    {
      weight: 3,
      arbitrary: fc.tuple(template, flips).map(([w, fl]) => {
        const out = [...w];
        for (const [i, b] of fl) out[i] ^= 1n << BigInt(b);
        return out;
      }),
    },
  );
}

const steTemplate: fc.Arbitrary<bigint[]> = fc
  .record({
    config: fc.constantFrom(0b101, 0b101, 0b101, 0b101, 0b110, 0b110, 0b110, 0b111, 0b111, 0b100, 0b000, 0b011),
    cdmax: fc.constantFrom(0, 0, 0, 0, 1, 3, 7, 11),
    fmt: fc.integer({ min: 0, max: 3 }),
    dss: fc.integer({ min: 0, max: 3 }),
    strw: fc.constantFrom(0, 0, 2),
    ptr: fc.constantFrom(CD_LINEAR, CD_LINEAR, CD_LINEAR, CD_LINEAR, CD_L1, NO_RAM, 0x7_0000_0000n),
    s2r: fc.integer({ min: 0, max: 1 }),
    vmid: fc.integer({ min: 0, max: 3 }),
    priv: fc.constantFrom(0, 0, 0, 2, 3),
    inst: fc.constantFrom(0, 0, 0, 2, 3),
  })
  .map((r) =>
    encodeSte({
      V: 1,
      Config: r.config,
      S1ContextPtr: r.fmt === 1 || r.fmt === 2 ? (r.ptr === CD_LINEAR ? CD_L1 : r.ptr) : r.ptr,
      S1CDMax: r.cdmax,
      S1Fmt: r.fmt,
      S1DSS: r.dss,
      STRW: r.strw,
      PRIVCFG: r.priv,
      INSTCFG: r.inst,
      S2VMID: r.vmid,
      S2T0SZ: 16,
      S2SL0: 2,
      S2TG: 0,
      S2PS: 5,
      S2AA64: 1,
      S2R: r.s2r,
      S2TTB: S2_T[0],
    }),
  );

const cdTemplate: fc.Arbitrary<bigint[]> = fc
  .record({ r: fc.integer({ min: 0, max: 1 }), asid: fc.integer({ min: 0, max: 3 }), ips: fc.constantFrom(0, 2, 5, 7), tbi: fc.integer({ min: 0, max: 1 }), affd: fc.integer({ min: 0, max: 1 }) })
  .map((c) =>
    encodeCd({ V: 1, A: 1, R: c.r, AA64: 1, T0SZ: 16, TG0: 0, IPS: c.ips, EPD1: 1, ASID: c.asid, TTB0: S1_T[0], TBI0: c.tbi, AFFD: c.affd }),
  );

/** A descriptor at one level of a walk: a table to the next fixed table, a leaf, or raw bits. */
function descArb(stage: 1 | 2, level: number): fc.Arbitrary<bigint> {
  const next = (stage === 1 ? S1_T : S2_T)[level + 1];
  const leafPa = fc.oneof(fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 50n) - 1n })).map((p) => p & ~0xfffn);
  const leaf =
    stage === 1
      ? fc
          .record({ pa: leafPa, ap: fc.nat(3), af: fc.oneof(fc.constant(true), fc.boolean()), nG: fc.boolean(), pxn: fc.boolean(), uxn: fc.boolean() })
          .map((a) => encodeS1Leaf(a.pa, 4096, level, a))
      : fc.record({ pa: leafPa, s2ap: fc.nat(3), af: fc.oneof(fc.constant(true), fc.boolean()), xn: fc.nat(3), memAttr: fc.nat(15) }).map((a) => encodeS2Leaf(a.pa, 4096, level, a));
  const table =
    next === undefined
      ? leaf
      : stage === 1
        ? fc.record({ apTable: fc.nat(3), pxnTable: fc.boolean() }).map((a) => encodeS1Table(next, 4096, a))
        : fc.constant(encodeS2Table(next, 4096));
  return level === 3
    ? fc.oneof({ weight: 8, arbitrary: leaf }, { weight: 1, arbitrary: u64 })
    : level === 0
      ? fc.oneof({ weight: 10, arbitrary: table }, { weight: 1, arbitrary: u64 })
      : fc.oneof({ weight: 10, arbitrary: table }, { weight: 2, arbitrary: leaf }, { weight: 1, arbitrary: u64 });
}

const descs = (stage: 1 | 2) => fc.tuple(descArb(stage, 0), descArb(stage, 1), descArb(stage, 2), descArb(stage, 3));

const l1cdArb = fc.oneof(u64, fc.constant(encodeL1cd({ v: 1, l2ptr: CD_LEAF })), fc.constant(0n));
const accessArb = fc.constantFrom<Access>('read', 'write', 'exec');
const iovaArb = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }).map((v) => v | 0xffff_0000_0000_0000n) },
  { weight: 1, arbitrary: u64 },
);
const ssidArb = fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: 2100 }) });

interface Req {
  sid: number;
  ssid: number | undefined;
  iova: bigint;
  access: Access;
  priv: boolean;
}

const scenario = fc.record({
  ste: words8(steTemplate),
  cd: words8(cdTemplate),
  l1cd: l1cdArb,
  s1: descs(1),
  s2: descs(2),
  sid: fc.oneof({ weight: 8, arbitrary: fc.constant(5) }, { weight: 1, arbitrary: fc.nat(0xffff_ffff) }),
  req1: fc.record({ ssid: ssidArb, iova: iovaArb, access: accessArb, priv: fc.boolean() }),
  // The second transaction is in the first one's page, or anywhere (its top bits too: an IOTLB
  // hit must still honour the TTB input range).
  req2: fc.record({ ssid: ssidArb, low: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), samePage: fc.boolean(), access: accessArb, priv: fc.boolean() }),
});

interface Structs {
  ste: bigint[];
  cd: bigint[];
  l1cd: bigint;
  s1: bigint[];
  s2: bigint[];
}

/**
 * Write the structures; the walk descriptors sit on the path of `iova` (as VA
 * for stage 1, as IPA for stage 2), the CD everywhere the STE may look for it.
 */
function fill(tb: Testbed, s: Structs, iova: bigint, ssid: number): void {
  tb.writeWords(tb.steAddr(5), s.ste);
  tb.writeWords(CD_LINEAR + BigInt(ssid) * 64n, s.cd);
  tb.writeWords(CD_LINEAR, s.cd);
  for (const leafBits of [6, 10]) {
    tb.writeWords(CD_L1 + BigInt(Math.floor(ssid / 2 ** leafBits)) * 8n, [s.l1cd]);
    tb.writeWords(CD_LEAF + BigInt(ssid % 2 ** leafBits) * 64n, s.cd);
  }
  tb.writeWords(CD_L1, [s.l1cd]);
  tb.writeWords(CD_LEAF, s.cd);
  const idx = (lvl: number) => (iova >> BigInt(39 - 9 * lvl)) & 0x1ffn;
  for (let l = 0; l < 4; l++) {
    tb.writeWords(S1_T[l] + idx(l) * 8n, [s.s1[l]]);
    tb.writeWords(S2_T[l] + idx(l) * 8n, [s.s2[l]]);
  }
}

function build(s: Structs, iova: bigint, ssid: number, twoLevel = false): Testbed {
  const tb = new Testbed({ strtab: twoLevel ? { fmt: '2level', log2size: 8, split: 6 } : { fmt: 'linear', log2size: 8 } });
  fill(tb, s, iova, ssid);
  return tb;
}

/** Everything an answer says, for comparison (not how it was found). */
function answer(r: TranslateResult): unknown {
  switch (r.kind) {
    case 'ok':
    case 'bypass':
      return { kind: r.kind, pa: r.pa };
    case 'abort':
      return { kind: 'abort' };
    case 'fault':
      return { kind: 'fault', event: canonicalEvent(r.event) };
  }
}

/** The invariants of one transaction's result, including the record in queue memory. */
function checkResult(tb: Testbed, req: Req, r: TranslateResult, prodBefore: number): void {
  expect(['ok', 'bypass', 'abort', 'fault']).toContain(r.kind);
  expect(r.accesses).toBeGreaterThanOrEqual(0);
  if (r.kind === 'ok') {
    expect(r.pa).toBeGreaterThanOrEqual(0n);
    expect(r.pa < 1n << 48n).toBe(true);
    // A hit walks nothing (configuration fetches, on a configuration cache miss, are allowed).
    if (r.tlb === 'hit' && r.trace) expect(r.trace.filter((t) => t.stage !== 0 && t.purpose !== 's2-for-cd')).toEqual([]);
  } else if (r.kind === 'bypass') {
    expect(r.pa).toBe(BigInt.asUintN(64, req.iova));
    expect(r.pa < 1n << 48n).toBe(true);
  } else if (r.kind === 'fault') {
    const e = r.event;
    expect(TRANSLATION_EVENTS.has(e.type), e.type).toBe(true);
    expect(e.code).toBe(EVENT_CODES[e.type]);
    expect(e.sid).toBe(req.sid >>> 0);
    if (WALK_FAULTS.has(e.type) || e.type === 'F_WALK_EABT') {
      expect(e.inputAddr).toBe(BigInt.asUintN(64, req.iova));
      expect(e.rnw).toBe(req.access !== 'write');
      expect(typeof e.s2).toBe('boolean');
      expect(['CD', 'TT', 'IN']).toContain(e.cls);
    }
    if (WALK_FAULTS.has(e.type) && e.s2) expect(e.ipa).toBeDefined();
    if (e.type === 'F_WALK_EABT' || e.type === 'F_STE_FETCH' || e.type === 'F_CD_FETCH') expect(e.fetchAddr).toBeDefined();
    if (e.type === 'C_BAD_SUBSTREAMID') expect(e.ssid).toBe(req.ssid ?? 0);
    const n = 2 ** tb.evtqLog2;
    if (r.recorded) {
      expect(tb.reg('EVENTQ_PROD') & (2 * n - 1)).toBe((prodBefore + 1) & (2 * n - 1));
      const raw = tb.eventSlot(prodBefore & (n - 1));
      expect(raw).toEqual([...encodeEvent(e)]);
      expect(decodeEvent(raw)).toEqual(canonicalEvent(e));
    } else {
      expect(tb.reg('EVENTQ_PROD')).toBe(prodBefore);
      expect(WALK_FAULTS.has(e.type) || e.type === 'C_BAD_STREAMID').toBe(true);
    }
  }
}

function run(tb: Testbed, req: Req): TranslateResult {
  const prod = tb.reg('EVENTQ_PROD');
  let r: TranslateResult | undefined;
  expect(() => {
    r = tb.smmu.translate({ ...req, trace: true });
  }).not.toThrow();
  const res = r as TranslateResult;
  checkResult(tb, req, res, prod);
  expect(res.trace).toHaveLength(res.accesses);
  tb.drain();
  return res;
}

describe('translate() on random structures', () => {
  it('never throws; returns ok / bypass / abort or an architected fault, recorded in queue memory exactly as returned; warm = cold', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const req1: Req = { sid: s.sid, ...s.req1 };
        const iova2 = s.req2.samePage ? (req1.iova & ~0xfffn) | (s.req2.low & 0xfffn) : s.req2.low;
        const req2: Req = { sid: s.sid, ssid: s.req2.ssid, iova: iova2, access: s.req2.access, priv: s.req2.priv };
        const tb = build(s, req1.iova, req1.ssid ?? 0);
        const r1 = run(tb, req1);
        // The same transaction again: same answer (from the caches, or walked again).
        expect(answer(run(tb, req1))).toEqual(answer(r1));
        // A second transaction on the warm SMMU answers as a cold SMMU over the same memory does.
        const warm = run(tb, req2);
        const cold = tb.twin().translate(req2);
        expect(answer(warm)).toEqual(answer(cold));
      }),
      { numRuns: 700 },
    );
  });

  it('memory rewritten, then CFGI_STE (Leaf = 0) + TLBI_NSNH_ALL + TLBI_EL2_ALL + CMD_SYNC: the warm SMMU answers as a cold one', () => {
    const structs = fc.record({ ste: words8(steTemplate), cd: words8(cdTemplate), l1cd: l1cdArb, s1: descs(1), s2: descs(2) });
    fc.assert(
      fc.property(scenario, structs, fc.boolean(), fc.boolean(), (s, b, twoLevel, sameIova) => {
        const req1: Req = { sid: 5, ...s.req1 };
        const tb = build(s, req1.iova, req1.ssid ?? 0, twoLevel);
        run(tb, req1);
        run(tb, { ...req1, access: 'read' });
        // New structures in memory (on the same path, or on the second transaction's), then invalidate.
        const req2: Req = { sid: 5, ssid: s.req2.ssid, iova: sameIova ? req1.iova : s.req2.low, access: s.req2.access, priv: s.req2.priv };
        fill(tb, b, req2.iova, req2.ssid ?? 0);
        tb.cmd({ op: 'CMD_CFGI_STE', sid: 5, leaf: false });
        tb.cmd({ op: 'CMD_TLBI_NSNH_ALL' });
        tb.cmd({ op: 'CMD_TLBI_EL2_ALL' });
        tb.sync();
        expect(answer(run(tb, req2))).toEqual(answer(tb.twin().translate(req2)));
      }),
      { numRuns: 400 },
    );
  });

  it('random raw words at the STE, CD and every table level, random SIDs / SSIDs / addresses: never throws', () => {
    fc.assert(
      fc.property(
        fc.array(u64, { minLength: 8, maxLength: 8 }),
        fc.array(u64, { minLength: 8, maxLength: 8 }),
        fc.array(u64, { minLength: 8, maxLength: 8 }),
        fc.array(fc.record({ sid: fc.constantFrom(5, 5, 5, 6, 0x1_0000), ssid: ssidArb, iova: iovaArb, access: accessArb, priv: fc.boolean() }), { minLength: 1, maxLength: 4 }),
        (ste, cd, tables, reqs) => {
          const tb = new Testbed();
          tb.writeWords(tb.steAddr(5), ste);
          tb.writeWords(tb.steAddr(6), [ste[0] | 1n, ...ste.slice(1)]);
          // Whatever S1ContextPtr / TTB0 / S2TTB say, put words where the low 32 bits of each point.
          for (const w of [...ste, ...cd, ...tables]) {
            const a = w & 0xfff_fff8n;
            tb.writeWords(a, [tables[Number(w & 7n)]]);
          }
          tb.writeWords(CD_LINEAR, cd);
          for (const q of reqs) run(tb, q);
        },
      ),
      { numRuns: 400 },
    );
  });
});

// -----------------------------------------------------------------------------
// translateN vs translate

const VA0 = 0x40_0000n;

/** A world of every stream kind, built identically on each call. */
function fastWorld(tlbCapacity?: number): Testbed {
  const tb = new Testbed({ tlbCapacity });
  const p = tb.s1Table();
  for (let i = 0; i < 8; i++) map(p, VA0 + BigInt(i) * 0x1000n, 0x8000_0000n + BigInt(i) * 0x3000n, 4096n, i % 3 === 0 ? RO : RW);
  map(p, 0x4000_0000n, 0x9000_0000n, 0x20_0000n);
  const cd = tb.cdTable(2);
  tb.writeCd(cd, cdFor(p, 1));
  tb.writeCd(cd + 64n, cdFor(p, 2));
  tb.writeCd(cd + 128n, cdFor(p, 3, { R: 0 }));
  tb.writeSte(1, { V: 1, Config: 0b101, S1ContextPtr: cd }); // S1CDMax = 0
  tb.writeSte(2, { V: 1, Config: 0b101, S1ContextPtr: cd, S1CDMax: 2, S1DSS: 2, S2VMID: 1 });
  tb.writeSte(3, { V: 1, Config: 0b101, S1ContextPtr: cd, S1CDMax: 2, S1DSS: 1, S2VMID: 2 });
  tb.writeSte(4, { V: 1, Config: 0b101, S1ContextPtr: cd, S1CDMax: 2, S1DSS: 0, S2VMID: 3 });
  tb.writeSte(5, { V: 1, Config: 0b101, S1ContextPtr: cd, PRIVCFG: 2, S2VMID: 4 });
  const s2 = tb.s2Table();
  for (let i = 0; i < 8; i++) map(s2, VA0 + BigInt(i) * 0x1000n, 0xa000_0000n + BigInt(i) * 0x5000n, 4096n, i % 2 === 0 ? RO : RW);
  tb.writeSte(6, { V: 1, Config: 0b110, ...s2Fields(s2, 6) });
  // Nested: stage 2 maps the stage-1 tables and the CD table identically and the stage-1 outputs.
  for (let i = 0; i < 8; i++) map(s2, 0x8000_0000n + BigInt(i) * 0x3000n, 0xb000_0000n + BigInt(i) * 0x1000n, 4096n, i % 4 === 1 ? RO : RW);
  mapTablesIdentity(s2, p);
  map(s2, cd & ~0xfffn, cd & ~0xfffn, 4096n, RO);
  tb.writeSte(7, { V: 1, Config: 0b111, S1ContextPtr: cd, S1CDMax: 2, S1DSS: 2, ...s2Fields(s2, 7) });
  tb.writeSte(8, { V: 1, Config: 0b100 });
  tb.writeSte(9, { V: 1, Config: 0 });
  return tb;
}

const fastOp = fc.oneof(
  {
    weight: 12,
    // One address, accessed one to three times (read, then write, ...: hits with other permissions).
    arbitrary: fc.record({
      t: fc.constant('tr' as const),
      sid: fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 6, 7, 7, 8, 9, 10),
      ssid: fc.constantFrom(-1, -1, -1, 0, 1, 2, 3, 5),
      page: fc.constantFrom(-1, 0, 1, 2, 3),
      off: fc.nat(0xfff),
      accesses: fc.array(fc.constantFrom(ACC_READ, ACC_WRITE, ACC_EXEC), { minLength: 1, maxLength: 3 }),
      priv: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constantFrom({ t: 'nsnh' as const }, { t: 'cfgi' as const }) },
);

function tnOf(r: TranslateResult): number {
  if (r.kind === 'ok') return r.tlb === 'hit' ? TN_HIT : TN_MISS;
  return r.kind === 'bypass' ? TN_BYPASS : r.kind === 'abort' ? TN_ABORT : TN_FAULT;
}

describe('translateN (fast path) agrees with translate()', () => {
  it('same codes, same PAs, same events, over random request and invalidation sequences', () => {
    fc.assert(
      fc.property(fc.array(fastOp, { minLength: 10, maxLength: 30, size: 'max' }), (ops) => {
        const fast = fastWorld();
        const slow = fastWorld();
        for (const op of ops) {
          if (op.t !== 'tr') {
            const c = op.t === 'nsnh' ? ({ op: 'CMD_TLBI_NSNH_ALL' } as const) : ({ op: 'CMD_CFGI_ALL' } as const);
            fast.cmd(c);
            slow.cmd(c);
            continue;
          }
          const iova = op.page < 0 ? 0x4000_0000n + BigInt(op.off) * 0x100n : VA0 + BigInt(op.page) * 0x1000n + BigInt(op.off);
          for (const access of op.accesses) {
            const code = fast.smmu.translateN(op.sid, op.ssid, Number(iova >> 32n), Number(iova & 0xffffffffn), access, op.priv);
            const r = slow.smmu.translate({
              sid: op.sid,
              ssid: op.ssid < 0 ? undefined : op.ssid,
              iova,
              access: access === ACC_READ ? 'read' : access === ACC_WRITE ? 'write' : 'exec',
              priv: op.priv,
            });
            expect(code, JSON.stringify({ ...op, access, kind: r.kind })).toBe(tnOf(r));
            if (r.kind === 'ok' || r.kind === 'bypass') expect(BigInt(fast.smmu.pa)).toBe(r.pa);
          }
          expect(fast.drainRaw()).toEqual(slow.drainRaw());
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('IOTLB capacity', () => {
  it('a tiny IOTLB (FIFO eviction) gives the same answers as a large one, and never holds more than its capacity', () => {
    fc.assert(
      fc.property(fc.constantFrom(1, 2, 3, 5), fc.array(fastOp, { minLength: 10, maxLength: 30, size: 'max' }), (cap, ops) => {
        const small = fastWorld(cap);
        const big = fastWorld();
        for (const op of ops) {
          if (op.t !== 'tr') {
            const c = op.t === 'nsnh' ? ({ op: 'CMD_TLBI_NSNH_ALL' } as const) : ({ op: 'CMD_CFGI_ALL' } as const);
            small.cmd(c);
            big.cmd(c);
            continue;
          }
          const iova = op.page < 0 ? 0x4000_0000n + BigInt(op.off) * 0x100n : VA0 + BigInt(op.page) * 0x1000n + BigInt(op.off);
          for (const access of op.accesses) {
            const req = { sid: op.sid, ssid: op.ssid < 0 ? undefined : op.ssid, iova, access: (['read', 'write', 'exec'] as const)[access], priv: op.priv };
            expect(answer(small.smmu.translate(req))).toEqual(answer(big.smmu.translate(req)));
            expect(small.smmu.iotlb.size).toBeLessThanOrEqual(cap);
            expect(small.smmu.iotlb.entries()).toHaveLength(small.smmu.iotlb.size);
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});

// -----------------------------------------------------------------------------
// Commands

const OPS = Object.keys(OPCODES).map(Number);
const cmdArb = fc.oneof(
  { weight: 1, arbitrary: fc.tuple(u64, u64) },
  // A real opcode with random operands (RES0 bits included).
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...OPS), u64, u64).map(([op, a, b]) => [(a & ~0xffn) | BigInt(op), b] as [bigint, bigint]) },
  // ...with small operands, so the StreamIDs / VMIDs / ASIDs / addresses hit the streams below.
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom(...OPS), fc.nat(15), fc.nat(15), fc.bigInt({ min: 0n, max: 0xff_ffffn }), fc.nat(0x3f))
      .map(([op, x, y, addr, lo]) => [BigInt(op) | (BigInt(x) << 32n) | (BigInt(y) << 48n) | (BigInt(lo & 0x1f) << 12n), (addr << 12n) | BigInt(lo)] as [bigint, bigint]),
  },
);

/** A few streams and what they translate 0x1000..0x3fff to (memory unchanged: commands must not change this). */
function commandWorld(features: Partial<SmmuFeatures> = {}) {
  const tb = new Testbed({ features });
  const p = tb.s1Table();
  map(p, 0x1000n, 0x5000_0000n, 4096n, RW, 3);
  const cd = tb.cdTable(0);
  tb.writeCd(cd, cdFor(p, 3));
  tb.writeSte(1, { V: 1, Config: 0b101, S1ContextPtr: cd, S2VMID: 1 });
  const s2 = tb.s2Table();
  map(s2, 0x1000n, 0x6000_0000n, 4096n, RW, 3);
  tb.writeSte(2, { V: 1, Config: 0b110, ...s2Fields(s2, 2) });
  tb.writeSte(3, { V: 1, Config: 0b100 });
  return tb;
}

function probe(smmu: Smmu): unknown[] {
  const out: unknown[] = [];
  for (const sid of [1, 2, 3, 4])
    for (const iova of [0x1000n, 0x2008n, 0x3ff0n, 0x9000n]) out.push(answer(smmu.translate({ sid, iova, access: 'read', priv: false })));
  return out;
}

describe('random commands', () => {
  it('submit() never throws and returns a CERROR code that CMDQ_CONS.ERR reports; translations never change (MSI off, memory unchanged)', () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 1, maxLength: 24 }), fc.boolean(), (cmds, untilSync) => {
        const tb = commandWorld({ msi: false });
        if (untilSync) tb.smmu.syncModel = 'until-sync';
        const before = probe(tb.smmu);
        for (const [dw0, dw1] of cmds) {
          const prod = tb.reg('CMDQ_PROD');
          let code = -1;
          expect(() => {
            code = tb.smmu.submit(dw0, dw1);
          }).not.toThrow();
          expect([CERROR.NONE, CERROR.ILL, CERROR.ABT, CERROR.ATC_INV_SYNC]).toContain(code);
          const cons = tb.reg('CMDQ_CONS');
          if (code === CERROR.NONE) {
            expect(cons).toBe(tb.reg('CMDQ_PROD'));
          } else {
            expect((cons >>> 24) & 0x7f).toBe(code);
            expect(cons & 0xf).toBe(prod); // stopped at the faulting command
            expect((tb.reg('GERROR') ^ tb.reg('GERRORN')) & 1).toBe(1);
            // The driver replaces it with a CMD_SYNC and acknowledges.
            const [s0, s1] = encodeCommand({ op: 'CMD_SYNC', cs: 0, msh: 0, msiattr: 0, msidata: 0, msiaddr: 0n });
            tb.writeWords(0x0020_0000n + BigInt(prod & 7) * 16n, [s0, s1]);
            tb.smmu.writeRegByName('GERRORN', BigInt(tb.reg('GERROR')));
            expect(tb.reg('CMDQ_CONS') & 0xf).toBe(tb.reg('CMDQ_PROD'));
          }
        }
        tb.sync();
        expect(probe(tb.smmu)).toEqual(before);
      }),
      { numRuns: 250 },
    );
  });

  it('raw 16-byte commands with MSIs on (writes anywhere, aborts included): never throws, always a CERROR code', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(u64, u64), { minLength: 1, maxLength: 16 }), fc.array(cmdArb, { maxLength: 8 }), (raw, more) => {
        const tb = new Testbed({ cr0: CR0_SMMUEN | CR0_EVTQEN | CR0_CMDQEN });
        for (const [a, b] of [...raw, ...more]) {
          const code = tb.smmu.submit(a, b);
          expect([0, 1, 2, 3]).toContain(code);
          if (code !== 0) tb.smmu.writeRegByName('GERRORN', BigInt(tb.reg('GERROR'))); // retried (and fails again, or not)
        }
        expect(() => tb.smmu.execute(raw[0][0], raw[0][1])).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });

  it('execute() on random words never throws and only ever returns NONE / ILL', () => {
    const smmu = new Testbed({ cr0: CR0_SMMUEN }).smmu;
    fc.assert(
      fc.property(u64, u64, (a, b) => {
        expect([CERROR.NONE, CERROR.ILL]).toContain(smmu.execute(a, b));
      }),
      { numRuns: 2000 },
    );
  });
});
