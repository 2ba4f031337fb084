/**
 * The SMMU as a device: configurations, stream and CD tables, and every walk
 * fault, checked through the registers and the event queue in memory (full
 * records, raw dwords included), not through the model's own views.
 */

import { describe, expect, it } from 'vitest';
import type { Granule } from '../descriptor';
import { encodeS1Leaf } from '../descriptor';
import { IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_WRITE } from '../iopgtable';
import { PhysicalMemory } from '../memory';
import { ACC_READ, ACC_WRITE, type TraceEntry } from '../walk';
import type { Cd } from './cd';
import { type EventRecord, canonicalEvent, decodeEvent } from './events';
import { CR0_CMDQEN, CR0_EVTQEN, CR0_SMMUEN } from './registers';
import { Smmu, type TranslateResult, TN_FAULT, TN_HIT } from './smmu';
import type { Ste } from './ste';
import {
  NO_RAM,
  RO,
  RW,
  STRTAB_ADDR,
  Testbed,
  type TxnFields,
  cdFor,
  cfgEvent,
  leafPtr,
  map,
  mapTablesIdentity,
  rawEvent,
  s2Fields,
  walkEvent,
} from './testbed';

const S1: Partial<Ste> = { V: 1, Config: 0b101 };
const S2ONLY: Partial<Ste> = { V: 1, Config: 0b110 };
const NESTED: Partial<Ste> = { V: 1, Config: 0b111 };

/** The records the SMMU wrote to the event queue since the last call equal `exps`, bit for bit. */
function expectEvents(tb: Testbed, exps: EventRecord[]): void {
  const raw = tb.drainRaw();
  expect(raw.map((d) => decodeEvent(d))).toEqual(exps);
  expect(raw).toEqual(exps.map(rawEvent));
}

/** A fault result carrying this record (recorded or not). */
function expectFault(r: TranslateResult, exp: EventRecord, recorded = true): void {
  expect(r.kind).toBe('fault');
  if (r.kind !== 'fault') return;
  expect(canonicalEvent(r.event)).toEqual(exp);
  expect(r.recorded).toBe(recorded);
}

function expectOk(r: TranslateResult, pa: bigint, tlb?: 'hit' | 'miss', accesses?: number): void {
  expect(r.kind, 'reason' in r ? r.reason : '').toBe('ok');
  if (r.kind !== 'ok') return;
  expect(r.pa).toBe(pa);
  if (tlb !== undefined) expect(r.tlb).toBe(tlb);
  if (accesses !== undefined) expect(r.accesses).toBe(accesses);
}

/** A stage-1 stream: one CD (S1CDMax = 0) for `pgt`. */
function s1Stream(tb: Testbed, sid: number, pgt: ReturnType<Testbed['s1Table']>, asid: number, cd: Partial<Cd> = {}, ste: Partial<Ste> = {}): bigint {
  const cdAddr = tb.cdTable(0);
  tb.writeCd(cdAddr, cdFor(pgt, asid, cd));
  tb.writeSte(sid, { ...S1, S1ContextPtr: cdAddr, ...ste });
  return cdAddr;
}

const VA = 0x12_3456_7000n;
const IPA = 0x4000_0000n;
const PA = 0x9000_0000n;

/**
 * A nested stream: VA -> IPA at stage 1 (tables and CD identity-mapped at
 * stage 2, read-only), IPA -> PA at stage 2.
 */
function nestedStream(
  tb: Testbed,
  sid: number,
  o: { s1Prot?: number; s2Prot?: number; mapCd?: boolean; mapTables?: boolean; cd?: Partial<Cd>; ste?: Partial<Ste> } = {},
) {
  const s1 = tb.s1Table();
  const s2 = tb.s2Table();
  map(s1, VA, IPA, 4096n, o.s1Prot ?? RW);
  map(s2, IPA, PA, 4096n, o.s2Prot ?? RW);
  if (o.mapTables !== false) mapTablesIdentity(s2, s1);
  const cd = tb.cdTable(0);
  if (o.mapCd !== false) map(s2, cd & ~0xfffn, cd & ~0xfffn, 4096n, RO);
  tb.writeCd(cd, cdFor(s1, 7, o.cd));
  tb.writeSte(sid, { ...NESTED, S1ContextPtr: cd, ...s2Fields(s2, 9), ...o.ste });
  return { s1, s2, cd };
}

// -----------------------------------------------------------------------------

describe('Config', () => {
  it('Config = abort (and the reserved 0b001-0b011): abort, no event', () => {
    const tb = new Testbed();
    for (const [sid, config] of [
      [1, 0],
      [2, 1],
      [3, 2],
      [4, 3],
    ]) {
      tb.writeSte(sid, { V: 1, Config: config });
      const r = tb.tr(sid, 0x1000n, { access: 'write' });
      expect(r.kind).toBe('abort');
    }
    expectEvents(tb, []);
    expect(tb.smmu.stats.eventsRecorded).toBe(0);
    expect(tb.reg('EVENTQ_PROD')).toBe(0);
  });

  it('Config = bypass: PA = IOVA, one STE read, no event', () => {
    const tb = new Testbed();
    tb.writeSte(5, { V: 1, Config: 0b100 });
    const r = tb.tr(5, 0xabc_dead_b000n, { access: 'write', priv: true });
    expect(r).toMatchObject({ kind: 'bypass', pa: 0xabc_dead_b000n, accesses: 1 });
    expect(tb.tr(5, 0x1234n)).toMatchObject({ kind: 'bypass', pa: 0x1234n, accesses: 0 });
    expectEvents(tb, []);
  });

  const granules: Array<{ g: Granule; levels: number }> = [
    { g: 4096, levels: 4 },
    { g: 16384, levels: 4 },
    { g: 65536, levels: 3 },
  ];
  for (const { g, levels } of granules) {
    it(`stage 1, ${g / 1024}KB granule: PA from the io-pgtable, STE + CD + ${levels} table reads, then an IOTLB hit`, () => {
      const tb = new Testbed();
      const pgt = tb.s1Table(g);
      const G = BigInt(g);
      const iova = 0x5_0000_0000n + 7n * G;
      const pa = 0x8000_0000n + 3n * G;
      map(pgt, iova, pa, G);
      s1Stream(tb, 1, pgt, 1);
      const r = tb.tr(1, iova + 0x123n, { trace: true });
      expectOk(r, pa + 0x123n, 'miss', 2 + levels);
      expect((r.trace as TraceEntry[]).map((t) => t.purpose)).toEqual(['ste', 'cd', ...Array<string>(levels).fill('s1-table')]);
      expectOk(tb.tr(1, iova + G - 8n, { access: 'write' }), pa + G - 8n, 'hit', 0);
      // The next page is unmapped.
      expectFault(tb.tr(1, iova + G), walkEvent('F_TRANSLATION', { sid: 1, iova: iova + G }, { s2: false, cls: 'IN' }));
      expectEvents(tb, [walkEvent('F_TRANSLATION', { sid: 1, iova: iova + G }, { s2: false, cls: 'IN' })]);
    });
  }

  it('stage 1, 4KB granule: a 2MB block is found at level 2 (three table reads)', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, 0x4000_0000n, 0xa000_0000n, 0x20_0000n);
    s1Stream(tb, 1, pgt, 1);
    expectOk(tb.tr(1, 0x401f_f008n), 0xa01f_f008n, 'miss', 2 + 3);
    expectOk(tb.tr(1, 0x4000_0010n), 0xa000_0010n, 'hit', 0);
  });

  it('stage 2 with two concatenated level-1 tables (4KB, 40-bit IPA, 40-bit PS)', () => {
    const tb = new Testbed();
    const pgt = tb.s2Table(4096, 40, 40);
    expect(pgt.concatenated).toBe(2);
    expect(pgt.s2).toMatchObject({ tsz: 24, sl: 1 });
    map(pgt, 0x3000n, 0x7_0000_3000n, 4096n);
    map(pgt, 0x80_0000_5000n, 0x12_3456_7000n, 4096n); // IPA bit 39: the second table
    tb.writeSte(2, { ...S2ONLY, ...s2Fields(pgt, 3) });
    expectOk(tb.tr(2, 0x3008n), 0x7_0000_3008n, 'miss', 1 + 3);
    expectOk(tb.tr(2, 0x80_0000_5ff8n, { access: 'write' }), 0x12_3456_7ff8n, 'miss', 3);
    expectOk(tb.tr(2, 0x80_0000_5000n), 0x12_3456_7000n, 'hit', 0);
    // IPA bit 40 is beyond S2T0SZ = 24: a stage-2 translation fault on the input.
    const t: TxnFields = { sid: 2, iova: 0x100_0000_0000n };
    expectFault(tb.tr(2, t.iova), walkEvent('F_TRANSLATION', t, { s2: true, cls: 'IN', ipa: t.iova }));
    expectEvents(tb, [walkEvent('F_TRANSLATION', t, { s2: true, cls: 'IN', ipa: t.iova })]);
  });

  it('stage 2 with two concatenated level-1 tables (16KB, 48-bit IPA)', () => {
    const tb = new Testbed();
    const pgt = tb.s2Table(16384, 48, 48);
    expect(pgt.concatenated).toBe(2);
    map(pgt, 0x8000_0000_4000n, 0x1234_0000n, 16384n); // IPA bit 47: the second table
    tb.writeSte(2, { ...S2ONLY, ...s2Fields(pgt, 3) });
    expectOk(tb.tr(2, 0x8000_0000_4abcn), 0x1234_0abcn, 'miss', 1 + 3);
  });

  it('nested: PA = S2(S1(VA)); a cold walk is STE + CD through S2 (4 + 1) + (4 + 1) x 4 + 4 = 30 reads', () => {
    const tb = new Testbed();
    nestedStream(tb, 4);
    const r = tb.tr(4, VA + 0x44n, { trace: true });
    expectOk(r, PA + 0x44n, 'miss', 30);
    if (r.kind === 'ok') expect(r.ipa).toBe(IPA + 0x44n);
    const purposes = (r.trace as TraceEntry[]).map((t) => t.purpose);
    expect(purposes.slice(0, 6)).toEqual(['ste', 's2-for-cd', 's2-for-cd', 's2-for-cd', 's2-for-cd', 'cd']);
    expect(purposes.filter((p) => p === 's2-for-s1-table')).toHaveLength(16);
    expect(purposes.slice(-4)).toEqual(Array<string>(4).fill('s2-for-output'));
    expectOk(tb.tr(4, VA + 0xff8n, { access: 'write' }), PA + 0xff8n, 'hit', 0);
    expectEvents(tb, []);
  });

  it('nested, a 2MB stage-1 block over 4KB stage-2 pages: the combined IOTLB entry covers only the smaller page', () => {
    const tb = new Testbed();
    const s1 = tb.s1Table();
    const s2 = tb.s2Table();
    map(s1, 0x20_0000n, 0x4000_0000n, 0x20_0000n); // VA 2MB block -> IPA 0x4000_0000
    map(s2, 0x4000_0000n, 0x9000_0000n, 4096n);
    map(s2, 0x4000_1000n, 0x7777_0000n, 4096n); // the next IPA page is elsewhere in PA
    mapTablesIdentity(s2, s1);
    const cd = tb.cdTable(0);
    map(s2, cd & ~0xfffn, cd & ~0xfffn, 4096n, RO);
    tb.writeCd(cd, cdFor(s1, 7));
    tb.writeSte(4, { ...NESTED, S1ContextPtr: cd, ...s2Fields(s2, 9) });
    expectOk(tb.tr(4, 0x20_0010n), 0x9000_0010n, 'miss');
    expectOk(tb.tr(4, 0x20_1010n), 0x7777_0010n, 'miss');
    expectOk(tb.tr(4, 0x20_0ff0n), 0x9000_0ff0n, 'hit');
    const t: TxnFields = { sid: 4, iova: 0x20_2000n };
    expectFault(tb.tr(4, t.iova), walkEvent('F_TRANSLATION', t, { s2: true, cls: 'IN', ipa: 0x4000_2000n }));
  });

  it('a 2MB stage-2 block under 4KB stage-1 pages (nested) translates every page of the block', () => {
    const tb = new Testbed();
    const s1 = tb.s1Table();
    const s2 = tb.s2Table();
    map(s1, 0x1000n, 0x4010_0000n, 4096n);
    map(s1, 0x2000n, 0x4000_3000n, 4096n);
    map(s2, 0x4000_0000n, 0xa000_0000n, 0x20_0000n);
    mapTablesIdentity(s2, s1);
    const cd = tb.cdTable(0);
    map(s2, cd & ~0xfffn, cd & ~0xfffn, 4096n, RO);
    tb.writeCd(cd, cdFor(s1, 7));
    tb.writeSte(4, { ...NESTED, S1ContextPtr: cd, ...s2Fields(s2, 9) });
    expectOk(tb.tr(4, 0x1008n), 0xa010_0008n, 'miss');
    expectOk(tb.tr(4, 0x2008n), 0xa000_3008n, 'miss');
    expectOk(tb.tr(4, 0x1ff8n), 0xa010_0ff8n, 'hit');
  });

  it('SMMUEN = 0: GBPA written with UPDATE | ABORT (0x80100000) aborts, no event', () => {
    const tb = new Testbed({ cr0: null });
    expect(tb.reg('GBPA')).toBe(0x1000);
    expect(tb.smmu.writeRegByName('GBPA', 0x8010_0000n)).toBe(true);
    expect(tb.reg('GBPA')).toBe(0x0010_0000); // UPDATE reads 0 once the update is done
    expect(tb.tr(1, 0x1000n).kind).toBe('abort');
    expect(tb.smmu.stats.eventsRecorded).toBe(0);
  });

  it('SMMUEN = 0: a GBPA write without UPDATE is ignored (reads back 0x1000) and traffic bypasses', () => {
    const tb = new Testbed({ cr0: null });
    tb.smmu.writeRegByName('GBPA', 0x0010_0000n);
    expect(tb.reg('GBPA')).toBe(0x1000);
    expect(tb.tr(77, 0xdead_b000n, { access: 'write' })).toMatchObject({ kind: 'bypass', pa: 0xdead_b000n, accesses: 0 });
  });

  it('SMMUEN = 0 ignores the stream table entirely (GBPA bypass), SMMUEN = 1 uses it', () => {
    const tb = new Testbed({ cr0: CR0_EVTQEN | CR0_CMDQEN });
    tb.writeSte(1, { V: 1, Config: 0 });
    expect(tb.tr(1, 0x5000n).kind).toBe('bypass');
    tb.smmu.writeRegByName('CR0', BigInt(CR0_SMMUEN | CR0_EVTQEN | CR0_CMDQEN));
    expect(tb.tr(1, 0x5000n).kind).toBe('abort');
  });
});

// -----------------------------------------------------------------------------

describe('stream tables', () => {
  it('linear: SIDs below 2^LOG2SIZE are looked up at base + SID * 64; SID >= 2^LOG2SIZE is C_BAD_STREAMID (RECINVSID = 1)', () => {
    const tb = new Testbed({ strtab: { fmt: 'linear', log2size: 4 } });
    tb.writeSte(15, { V: 1, Config: 0b100 });
    const r = tb.tr(15, 0x1000n, { trace: true });
    expect(r.kind).toBe('bypass');
    expect(r.trace?.map((t) => [t.purpose, t.addr])).toEqual([['ste', STRTAB_ADDR + 15n * 64n]]);
    expectFault(tb.tr(16, 0x1000n), cfgEvent('C_BAD_STREAMID', 16));
    expectFault(tb.tr(0xffff, 0x1000n, { ssid: 3 }), cfgEvent('C_BAD_STREAMID', 0xffff, { ssid: 3 }));
    expectEvents(tb, [cfgEvent('C_BAD_STREAMID', 16), cfgEvent('C_BAD_STREAMID', 0xffff, { ssid: 3 })]);
  });

  it('the StreamID range is MIN(LOG2SIZE, IDR1.SIDSIZE)', () => {
    const tb = new Testbed({ strtab: { fmt: 'linear', log2size: 8 }, features: { sidsize: 6 } });
    tb.writeSte(63, { V: 1, Config: 0b100 });
    tb.writeSte(64, { V: 1, Config: 0b100 });
    expect(tb.tr(63, 0x1000n).kind).toBe('bypass');
    expectFault(tb.tr(64, 0x1000n), cfgEvent('C_BAD_STREAMID', 64));
  });

  it('C_BAD_STREAMID is not recorded with CR2.RECINVSID = 0 (the transaction still aborts)', () => {
    const tb = new Testbed({ strtab: { fmt: 'linear', log2size: 4 }, recinvsid: false });
    expectFault(tb.tr(16, 0x1000n), cfgEvent('C_BAD_STREAMID', 16), false);
    expectEvents(tb, []);
    expect(tb.reg('EVENTQ_PROD')).toBe(0);
  });

  for (const split of [6, 8, 10]) {
    it(`2-level, SPLIT = ${split}: L1STD at base + (SID >> SPLIT) * 8, STE at L2Ptr + (SID & mask) * 64`, () => {
      const tb = new Testbed({ strtab: { fmt: '2level', log2size: 16, split } });
      const sid = (3 << split) + 5;
      const steAddr = tb.writeSte(sid, { V: 1, Config: 0b100 });
      const r = tb.tr(sid, 0x4_0000n, { trace: true });
      expect(r).toMatchObject({ kind: 'bypass', pa: 0x4_0000n, accesses: 2 });
      expect(r.trace?.map((t) => [t.purpose, t.addr])).toEqual([
        ['l1std', STRTAB_ADDR + 3n * 8n],
        ['ste', steAddr],
      ]);
      // The last SID of the same level-2 table, and one of another L1STD.
      tb.writeSte((4 << split) - 1, { V: 1, Config: 0b100 });
      expect(tb.tr((4 << split) - 1, 0x1000n).kind).toBe('bypass');
      tb.writeSte((7 << split) + 1, { V: 1, Config: 0 });
      expect(tb.tr((7 << split) + 1, 0x1000n).kind).toBe('abort');
      expectEvents(tb, []);
    });
  }

  it('2-level: L1STD.Span = 0 is C_BAD_STREAMID', () => {
    const tb = new Testbed({ strtab: { fmt: '2level', log2size: 12, split: 6 } });
    const l2 = tb.allocStruct(64n * 64n);
    tb.setL1std(2, 0, l2);
    expectFault(tb.tr(2 * 64 + 1, 0x1000n), cfgEvent('C_BAD_STREAMID', 129));
    expectEvents(tb, [cfgEvent('C_BAD_STREAMID', 129)]);
  });

  it('2-level: L1STD.Span > SPLIT + 1 is C_BAD_STREAMID', () => {
    const tb = new Testbed({ strtab: { fmt: '2level', log2size: 12, split: 6 } });
    const l2 = tb.allocStruct(64n * 128n);
    tb.writeWords(l2 + 64n, [1n | (4n << 1n)]); // a bypass STE at index 1
    tb.setL1std(1, 8, l2);
    expectFault(tb.tr(65, 0x1000n), cfgEvent('C_BAD_STREAMID', 65));
    tb.setL1std(1, 7, l2); // SPLIT + 1: fine
    expect(tb.tr(65, 0x1000n).kind).toBe('bypass');
    expectEvents(tb, [cfgEvent('C_BAD_STREAMID', 65)]);
  });

  it('2-level: an L2 index beyond 2^(Span - 1) is C_BAD_STREAMID', () => {
    const tb = new Testbed({ strtab: { fmt: '2level', log2size: 12, split: 8 } });
    const l2 = tb.allocStruct(4n * 64n);
    for (let i = 0; i < 4; i++) tb.writeWords(l2 + BigInt(i) * 64n, [1n | (4n << 1n)]);
    tb.setL1std(1, 3, l2); // 4 STEs: SIDs 256..259
    expect(tb.tr(259, 0x1000n).kind).toBe('bypass');
    expectFault(tb.tr(260, 0x1000n), cfgEvent('C_BAD_STREAMID', 260));
    expectFault(tb.tr(511, 0x1000n, { ssid: 1 }), cfgEvent('C_BAD_STREAMID', 511, { ssid: 1 }));
    expectEvents(tb, [cfgEvent('C_BAD_STREAMID', 260), cfgEvent('C_BAD_STREAMID', 511, { ssid: 1 })]);
  });

  it('F_STE_FETCH: a linear stream table outside RAM; FetchAddr is the STE address', () => {
    const tb = new Testbed({ strtab: { fmt: 'linear', log2size: 8 } });
    tb.smmu.writeRegByName('CR0', BigInt(CR0_EVTQEN | CR0_CMDQEN));
    expect(tb.smmu.writeRegByName('STRTAB_BASE', NO_RAM)).toBe(true);
    tb.smmu.writeRegByName('CR0', BigInt(CR0_SMMUEN | CR0_EVTQEN | CR0_CMDQEN));
    const exp = cfgEvent('F_STE_FETCH', 9, { ssid: 4, fetchAddr: NO_RAM + 9n * 64n });
    expectFault(tb.tr(9, 0x1000n, { ssid: 4 }), exp);
    expectEvents(tb, [exp]);
  });

  it('F_STE_FETCH: 2-level, the L1STD array outside RAM (FetchAddr = the L1STD) and an L2Ptr outside RAM (FetchAddr = the STE)', () => {
    const tb = new Testbed({ strtab: { fmt: '2level', log2size: 16, split: 8 } });
    tb.setL1std(5, 9, NO_RAM + 0x10_0000n);
    const e1 = cfgEvent('F_STE_FETCH', (5 << 8) + 3, { fetchAddr: NO_RAM + 0x10_0000n + 3n * 64n });
    expectFault(tb.tr((5 << 8) + 3, 0x1000n), e1);
    tb.smmu.writeRegByName('CR0', BigInt(CR0_EVTQEN | CR0_CMDQEN));
    tb.smmu.writeRegByName('STRTAB_BASE', NO_RAM);
    tb.smmu.writeRegByName('CR0', BigInt(CR0_SMMUEN | CR0_EVTQEN | CR0_CMDQEN));
    const e2 = cfgEvent('F_STE_FETCH', (6 << 8) + 1, { fetchAddr: NO_RAM + 6n * 8n });
    expectFault(tb.tr((6 << 8) + 1, 0x1000n), e2);
    expectEvents(tb, [e1, e2]);
  });

  it('C_BAD_STE: V = 0', () => {
    const tb = new Testbed();
    tb.writeSte(3, { V: 0, Config: 0b100 });
    expectFault(tb.tr(3, 0x1000n), cfgEvent('C_BAD_STE', 3));
    expectFault(tb.tr(3, 0x1000n, { ssid: 9 }), cfgEvent('C_BAD_STE', 3, { ssid: 9 }));
    expectEvents(tb, [cfgEvent('C_BAD_STE', 3), cfgEvent('C_BAD_STE', 3, { ssid: 9 })]);
  });

  it('C_BAD_STE: illegal stage-2 configurations (reserved S2TG, S2AA64 = 0, S2SL0/S2T0SZ mismatch, S2S = 1)', () => {
    const tb = new Testbed();
    const pgt = tb.s2Table();
    const good = s2Fields(pgt, 1);
    const bad: Array<Partial<Ste>> = [{ S2TG: 3 }, { S2AA64: 0 }, { S2SL0: 3 }, { S2T0SZ: 44 }, { S2S: 1 }];
    bad.forEach((b, i) => tb.writeSte(10 + i, { ...S2ONLY, ...good, ...b }));
    bad.forEach((_, i) => expectFault(tb.tr(10 + i, 0x1000n), cfgEvent('C_BAD_STE', 10 + i)));
    expectEvents(
      tb,
      bad.map((_, i) => cfgEvent('C_BAD_STE', 10 + i)),
    );
    // Nothing of a bad STE is cached: fixing it in memory is enough.
    tb.writeSte(10, { ...S2ONLY, ...good });
    map(pgt, 0x1000n, 0x5000n, 4096n);
    expectOk(tb.tr(10, 0x1000n), 0x5000n);
  });
});

// -----------------------------------------------------------------------------

describe('CD tables', () => {
  /** A stage-1 stream with S1CDMax / S1Fmt / S1DSS and a CD per listed SSID mapping 0x1000 -> 0x10_0000 * (ssid + 1). */
  function substreams(tb: Testbed, sid: number, cdmax: number, fmt: 0 | 1 | 2, ssids: number[], ste: Partial<Ste> = {}) {
    const pgts = new Map<number, ReturnType<Testbed['s1Table']>>();
    let ptr: bigint;
    const cdAddrs = new Map<number, bigint>();
    if (fmt === 0) {
      ptr = tb.cdTable(cdmax);
      for (const s of ssids) cdAddrs.set(s, ptr + BigInt(s) * 64n);
    } else {
      const leafBits = fmt === 1 ? 6 : 10;
      ptr = tb.cdL1Table(cdmax, leafBits);
      const leaves = new Map<number, bigint>();
      for (const s of ssids) {
        const l1 = Math.floor(s / 2 ** leafBits);
        let leaf = leaves.get(l1);
        if (leaf === undefined) {
          leaf = tb.cdLeaf(ptr, l1, leafBits);
          leaves.set(l1, leaf);
        }
        cdAddrs.set(s, leaf + BigInt(s % 2 ** leafBits) * 64n);
      }
    }
    for (const s of ssids) {
      const pgt = tb.s1Table();
      map(pgt, 0x1000n, 0x10_0000n * BigInt(s + 1), 4096n);
      tb.writeCd(cdAddrs.get(s) as bigint, cdFor(pgt, 100 + s));
      pgts.set(s, pgt);
    }
    tb.writeSte(sid, { ...S1, S1ContextPtr: ptr, S1CDMax: cdmax, S1Fmt: fmt, ...ste });
    return { ptr, pgts, cdAddrs };
  }

  it('linear: each SSID selects its CD at S1ContextPtr + SSID * 64; SSID >= 2^S1CDMax is C_BAD_SUBSTREAMID', () => {
    const tb = new Testbed();
    const { cdAddrs } = substreams(tb, 1, 3, 0, [1, 2, 7]);
    const r = tb.tr(1, 0x1010n, { ssid: 2, trace: true });
    expectOk(r, 0x30_0010n, 'miss', 6);
    expect(r.trace?.[1]).toMatchObject({ purpose: 'cd', addr: cdAddrs.get(2) });
    expectOk(tb.tr(1, 0x1010n, { ssid: 1 }), 0x20_0010n, 'miss', 5);
    expectOk(tb.tr(1, 0x1010n, { ssid: 7 }), 0x80_0010n);
    expectFault(tb.tr(1, 0x1010n, { ssid: 8 }), cfgEvent('C_BAD_SUBSTREAMID', 1, { ssid: 8 }));
    expectFault(tb.tr(1, 0x1010n, { ssid: 0xfffff }), cfgEvent('C_BAD_SUBSTREAMID', 1, { ssid: 0xfffff }));
    expectEvents(tb, [cfgEvent('C_BAD_SUBSTREAMID', 1, { ssid: 8 }), cfgEvent('C_BAD_SUBSTREAMID', 1, { ssid: 0xfffff })]);
  });

  it('2-level, S1Fmt = 1 (64 CDs per leaf): L1CD at ptr + (SSID >> 6) * 8, CD at L2Ptr + (SSID & 63) * 64', () => {
    const tb = new Testbed();
    const { ptr, cdAddrs } = substreams(tb, 1, 8, 1, [3, 70, 255]);
    const r = tb.tr(1, 0x1000n, { ssid: 70, trace: true });
    expectOk(r, 0x470_0000n, 'miss', 1 + 1 + 1 + 4);
    expect(r.trace?.slice(0, 3).map((t) => [t.purpose, t.addr])).toEqual([
      ['ste', tb.steAddr(1)],
      ['l1cd', ptr + 8n],
      ['cd', cdAddrs.get(70)],
    ]);
    expectOk(tb.tr(1, 0x1000n, { ssid: 3 }), 0x40_0000n);
    expectOk(tb.tr(1, 0x1000n, { ssid: 255 }), 0x1000_0000n);
    expectEvents(tb, []);
  });

  it('2-level, S1Fmt = 2 (1024 CDs per leaf): L1CD at ptr + (SSID >> 10) * 8, CD at L2Ptr + (SSID & 1023) * 64', () => {
    const tb = new Testbed();
    const { ptr, cdAddrs } = substreams(tb, 1, 12, 2, [5, 1030]);
    const r = tb.tr(1, 0x1000n, { ssid: 1030, trace: true });
    expectOk(r, 0x4070_0000n, 'miss', 7);
    expect(r.trace?.slice(1, 3).map((t) => [t.purpose, t.addr])).toEqual([
      ['l1cd', ptr + 8n],
      ['cd', cdAddrs.get(1030)],
    ]);
    expectOk(tb.tr(1, 0x1000n, { ssid: 5 }), 0x60_0000n);
  });

  it('2-level: an L1CD with V = 0 (or all zero) is C_BAD_SUBSTREAMID for every SSID it covers', () => {
    const tb = new Testbed();
    const { ptr } = substreams(tb, 1, 8, 1, [3]);
    tb.cdLeaf(ptr, 1, 6, false);
    expectFault(tb.tr(1, 0x1000n, { ssid: 70 }), cfgEvent('C_BAD_SUBSTREAMID', 1, { ssid: 70 }));
    expectFault(tb.tr(1, 0x1000n, { ssid: 130 }), cfgEvent('C_BAD_SUBSTREAMID', 1, { ssid: 130 }));
    expectOk(tb.tr(1, 0x1000n, { ssid: 3 }), 0x40_0000n);
    expectEvents(tb, [cfgEvent('C_BAD_SUBSTREAMID', 1, { ssid: 70 }), cfgEvent('C_BAD_SUBSTREAMID', 1, { ssid: 130 })]);
  });

  it('a SubstreamID on a stream with S1CDMax = 0, a bypass stream or a stage-2-only stream is C_BAD_SUBSTREAMID', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, 0x1000n, 0x2000n, 4096n);
    s1Stream(tb, 1, pgt, 1);
    tb.writeSte(2, { V: 1, Config: 0b100 });
    const s2 = tb.s2Table();
    map(s2, 0x1000n, 0x3000n, 4096n);
    tb.writeSte(3, { ...S2ONLY, ...s2Fields(s2, 1) });
    expectOk(tb.tr(1, 0x1000n), 0x2000n);
    expectFault(tb.tr(1, 0x1000n, { ssid: 1 }), cfgEvent('C_BAD_SUBSTREAMID', 1, { ssid: 1 }));
    expectFault(tb.tr(1, 0x1000n, { ssid: 0 }), cfgEvent('C_BAD_SUBSTREAMID', 1, { ssid: 0 }));
    expectFault(tb.tr(2, 0x1000n, { ssid: 5 }), cfgEvent('C_BAD_SUBSTREAMID', 2, { ssid: 5 }));
    expectFault(tb.tr(3, 0x1000n, { ssid: 6, access: 'write' }), cfgEvent('C_BAD_SUBSTREAMID', 3, { ssid: 6 }));
    expect(tb.tr(2, 0x1000n).kind).toBe('bypass');
    expectOk(tb.tr(3, 0x1000n), 0x3000n);
    expectEvents(tb, [
      cfgEvent('C_BAD_SUBSTREAMID', 1, { ssid: 1 }),
      cfgEvent('C_BAD_SUBSTREAMID', 1, { ssid: 0 }),
      cfgEvent('C_BAD_SUBSTREAMID', 2, { ssid: 5 }),
      cfgEvent('C_BAD_SUBSTREAMID', 3, { ssid: 6 }),
    ]);
  });

  it('S1DSS = 0 (terminate): traffic without a SubstreamID is F_STREAM_DISABLED; SSID 0 is an ordinary substream', () => {
    const tb = new Testbed();
    substreams(tb, 1, 2, 0, [0, 1], { S1DSS: 0 });
    expectFault(tb.tr(1, 0x1000n), cfgEvent('F_STREAM_DISABLED', 1));
    expectOk(tb.tr(1, 0x1000n, { ssid: 0 }), 0x10_0000n);
    expectOk(tb.tr(1, 0x1000n, { ssid: 1 }), 0x20_0000n);
    expectEvents(tb, [cfgEvent('F_STREAM_DISABLED', 1)]);
  });

  it('S1DSS = 1 (bypass): traffic without a SubstreamID bypasses stage 1 (PA = IOVA on an S1 stream, S2 only when nested)', () => {
    const tb = new Testbed();
    substreams(tb, 1, 2, 0, [1], { S1DSS: 1 });
    expect(tb.tr(1, 0xabc_d000n)).toMatchObject({ kind: 'bypass', pa: 0xabc_d000n });
    expectOk(tb.tr(1, 0x1000n, { ssid: 1 }), 0x20_0000n);
    // Nested: the input address is the IPA.
    const { s2 } = nestedStream(tb, 2, { ste: { S1CDMax: 1, S1DSS: 1 } });
    map(s2, 0x7000n, 0x66_6000n, 4096n);
    expectOk(tb.tr(2, 0x7010n), 0x66_6010n);
    expectEvents(tb, []);
  });

  it('S1DSS = 2 (substream 0): traffic without a SubstreamID uses CD 0', () => {
    const tb = new Testbed();
    substreams(tb, 1, 2, 0, [0, 3], { S1DSS: 2 });
    expectOk(tb.tr(1, 0x1000n), 0x10_0000n);
    expectOk(tb.tr(1, 0x1000n, { ssid: 3 }), 0x40_0000n);
    expectEvents(tb, []);
  });

  it('S1DSS = 2: a transaction arriving with SubstreamID 0 is aborted and an event recorded (F_STREAM_DISABLED)', () => {
    // IHI 0070 3.3.2: "transactions that arrive with SubstreamID 0 are aborted and an event recorded".
    // The event type asserted is the one the brief specifies (see the report: the architecture text
    // quoted does not name it; C_BAD_SUBSTREAMID is the other candidate).
    const tb = new Testbed();
    substreams(tb, 1, 2, 0, [0], { S1DSS: 2 });
    expectOk(tb.tr(1, 0x1000n), 0x10_0000n); // CD 0 now cached
    expectFault(tb.tr(1, 0x1000n, { ssid: 0 }), cfgEvent('F_STREAM_DISABLED', 1));
    expectEvents(tb, [cfgEvent('F_STREAM_DISABLED', 1)]);
  });

  it('F_CD_FETCH: a CD table outside RAM (FetchAddr = the CD) and an L1CD table outside RAM (FetchAddr = the L1CD)', () => {
    const tb = new Testbed();
    tb.writeSte(1, { ...S1, S1ContextPtr: NO_RAM, S1CDMax: 4 });
    tb.writeSte(2, { ...S1, S1ContextPtr: NO_RAM + 0x1000n, S1CDMax: 10, S1Fmt: 1 });
    const e1 = cfgEvent('F_CD_FETCH', 1, { ssid: 5, fetchAddr: NO_RAM + 5n * 64n });
    const e2 = cfgEvent('F_CD_FETCH', 2, { ssid: 200, fetchAddr: NO_RAM + 0x1000n + 3n * 8n });
    expectFault(tb.tr(1, 0x1000n, { ssid: 5 }), e1);
    expectFault(tb.tr(2, 0x1000n, { ssid: 200 }), e2);
    // An L1CD pointing outside RAM: the leaf CD fetch aborts.
    const l1 = tb.cdL1Table(10, 6);
    tb.writeWords(l1 + 8n, [(NO_RAM + 0x4000n) | 1n]);
    tb.writeSte(3, { ...S1, S1ContextPtr: l1, S1CDMax: 10, S1Fmt: 1 });
    const e3 = cfgEvent('F_CD_FETCH', 3, { ssid: 65, fetchAddr: NO_RAM + 0x4000n + 64n });
    expectFault(tb.tr(3, 0x1000n, { ssid: 65 }), e3);
    expectEvents(tb, [e1, e2, e3]);
  });

  it('C_BAD_CD: V = 0, AA64 = 0, A = 0, T0SZ out of range', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    const bad: Array<Partial<Cd>> = [{ V: 0 }, { AA64: 0 }, { A: 0 }, { T0SZ: 10 }];
    bad.forEach((b, i) => s1Stream(tb, 20 + i, pgt, 1, b));
    bad.forEach((_, i) => expectFault(tb.tr(20 + i, 0x1000n), cfgEvent('C_BAD_CD', 20 + i)));
    // With a SubstreamID the record carries it.
    const { cdAddrs } = substreams(tb, 30, 2, 0, [2]);
    tb.writeCd(cdAddrs.get(2) as bigint, { V: 0 });
    expectFault(tb.tr(30, 0x1000n, { ssid: 2 }), cfgEvent('C_BAD_CD', 30, { ssid: 2 }));
    expectFault(tb.tr(30, 0x1000n, { ssid: 1 }), cfgEvent('C_BAD_CD', 30, { ssid: 1 }));
    expectEvents(tb, [...bad.map((_, i) => cfgEvent('C_BAD_CD', 20 + i)), cfgEvent('C_BAD_CD', 30, { ssid: 2 }), cfgEvent('C_BAD_CD', 30, { ssid: 1 })]);
  });

  it('nested: S1ContextPtr is an IPA; a CD IPA unmapped at stage 2 is a stage-2 F_TRANSLATION with CLASS = CD and the CD IPA', () => {
    const tb = new Testbed();
    const { cd } = nestedStream(tb, 4, { mapCd: false });
    const t: TxnFields = { sid: 4, iova: VA + 8n, access: 'write', priv: true };
    const exp = walkEvent('F_TRANSLATION', t, { s2: true, cls: 'CD', ipa: cd });
    expectFault(tb.tr(4, t.iova, { access: 'write', priv: true }), exp);
    expectEvents(tb, [exp]);
  });

  it('nested: the CD is read at S2(S1ContextPtr), not at S1ContextPtr', () => {
    const tb = new Testbed();
    const s1 = tb.s1Table();
    const s2 = tb.s2Table();
    map(s1, VA, IPA, 4096n);
    map(s2, IPA, PA, 4096n);
    mapTablesIdentity(s2, s1);
    const cdPa = tb.cdTable(0);
    const cdIpa = 0x7_0000_0000n;
    map(s2, cdIpa, cdPa, 4096n, RO);
    tb.writeCd(cdPa, cdFor(s1, 7));
    tb.writeSte(4, { ...NESTED, S1ContextPtr: cdIpa + 0x40n, ...s2Fields(s2, 9) }); // CD at offset 0x40 of the page
    tb.writeCd(cdPa + 0x40n, cdFor(s1, 7));
    const r = tb.tr(4, VA, { trace: true });
    expectOk(r, PA);
    expect(r.trace?.find((t) => t.purpose === 'cd')?.addr).toBe(cdPa + 0x40n);
  });
});

// -----------------------------------------------------------------------------

describe('walk faults, through the device', () => {
  it('S1 F_TRANSLATION: an unmapped page (record with SubstreamID, write, privileged)', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, 0x1000n, 0x2000n, 4096n);
    const cd = tb.cdTable(1);
    tb.writeCd(cd + 64n, cdFor(pgt, 3));
    tb.writeSte(1, { ...S1, S1ContextPtr: cd, S1CDMax: 1, S1DSS: 0 });
    const t: TxnFields = { sid: 1, ssid: 1, iova: 0x5_0000n, access: 'write', priv: true };
    const exp = walkEvent('F_TRANSLATION', t, { s2: false, cls: 'IN' });
    expectFault(tb.tr(1, t.iova, { ssid: 1, access: 'write', priv: true }), exp);
    expectEvents(tb, [exp]);
  });

  it('S1 F_TRANSLATION: an input address outside the TTB0 range (top bits set, TBI0 = 0), an exec fetch', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, 0x1000n, 0x2000n, 4096n);
    s1Stream(tb, 1, pgt, 1);
    const t: TxnFields = { sid: 1, iova: 0xff00_0000_0000_1000n, access: 'exec' };
    const exp = walkEvent('F_TRANSLATION', t, { s2: false, cls: 'IN' });
    expectFault(tb.tr(1, t.iova, { access: 'exec' }), exp);
    expectEvents(tb, [exp]);
  });

  it('S1 TBI0 = 1: the top byte is ignored (0xff00_0000_0000_1000 translates like 0x1000)', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, 0x1000n, 0x2000n, 4096n);
    s1Stream(tb, 1, pgt, 1, { TBI0: 1 });
    expectOk(tb.tr(1, 0xff00_0000_0000_1010n), 0x2010n);
    expectOk(tb.tr(1, 0x1010n), 0x2010n, 'hit');
  });

  it('an IOTLB hit must not bypass the input range check (VA with bits [63:52] set, TBI0 = 0)', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, 0x1000n, 0x2000n, 4096n);
    s1Stream(tb, 1, pgt, 1);
    expectOk(tb.tr(1, 0x1000n), 0x2000n); // cached
    for (const iova of [0xff00_0000_0000_1000n, 0x0010_0000_0000_1000n, 0x0070_0000_0000_1000n]) {
      const t: TxnFields = { sid: 1, iova };
      expectFault(tb.tr(1, iova), walkEvent('F_TRANSLATION', t, { s2: false, cls: 'IN' }));
    }
  });

  it('translateN must not serve an out-of-range VA from the IOTLB either', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, 0x1000n, 0x2000n, 4096n);
    s1Stream(tb, 1, pgt, 1);
    expectOk(tb.tr(1, 0x1000n), 0x2000n);
    expect(tb.smmu.translateN(1, -1, 0xff00_0000, 0x1000, ACC_READ, false)).toBe(TN_FAULT);
  });

  it('S2 F_TRANSLATION on a stage-2-only stream: S2 = 1, CLASS = IN, IPA = the input', () => {
    const tb = new Testbed();
    const s2 = tb.s2Table();
    map(s2, 0x1000n, 0x2000n, 4096n);
    tb.writeSte(6, { ...S2ONLY, ...s2Fields(s2, 2) });
    const t: TxnFields = { sid: 6, iova: 0x3_4567_8abcn, access: 'write' };
    const exp = walkEvent('F_TRANSLATION', t, { s2: true, cls: 'IN', ipa: t.iova });
    expectFault(tb.tr(6, t.iova, { access: 'write' }), exp);
    expectEvents(tb, [exp]);
    expect(decodeEvent(tb.eventSlot(0)).ipa).toBe(0x3_4567_8000n);
  });

  it('nested: a stage-1 table IPA unmapped at stage 2 is S2 F_TRANSLATION, CLASS = TT, IPA = the descriptor IPA', () => {
    const tb = new Testbed();
    const { s1 } = nestedStream(tb, 4, { mapTables: false });
    const t: TxnFields = { sid: 4, iova: VA, access: 'read', priv: true };
    const descIpa = s1.pgd + BigInt(s1.lvlIdx(VA, 0)) * 8n;
    const exp = walkEvent('F_TRANSLATION', t, { s2: true, cls: 'TT', ipa: descIpa });
    expectFault(tb.tr(4, VA, { priv: true }), exp);
    expectEvents(tb, [exp]);
    expect(exp.ttRead).toBe(true);
  });

  it('nested: the stage-1 output IPA unmapped at stage 2 is S2 F_TRANSLATION, CLASS = IN, IPA = the output IPA', () => {
    const tb = new Testbed();
    const { s1 } = nestedStream(tb, 4);
    map(s1, VA + 0x1000n, 0x5555_5000n, 4096n);
    const t: TxnFields = { sid: 4, iova: VA + 0x1234n };
    const exp = walkEvent('F_TRANSLATION', t, { s2: true, cls: 'IN', ipa: 0x5555_5234n });
    expectFault(tb.tr(4, t.iova), exp);
    expectEvents(tb, [exp]);
  });

  /** Nested stream 4 whose stage-1 tables (and CD) are mapped at stage 2 with the given permissions. */
  function nestedWithTablePerms(tb: Testbed, tableProt: number, cdProt: number, ste: Partial<Ste> = {}) {
    const s1 = tb.s1Table();
    const s2 = tb.s2Table();
    map(s1, VA, IPA, 4096n);
    map(s2, IPA, PA, 4096n);
    for (const t of s1.tables()) map(s2, t.addr, t.addr, 4096n, tableProt);
    const cd = tb.cdTable(0);
    map(s2, cd & ~0xfffn, cd & ~0xfffn, 4096n, cdProt);
    tb.writeCd(cd, cdFor(s1, 7));
    tb.writeSte(4, { ...NESTED, S1ContextPtr: cd, ...s2Fields(s2, 9), ...ste });
    return { s1, s2, cd, pgdDesc: s1.pgd + BigInt(s1.lvlIdx(VA, 0)) * 8n };
  }

  it('nested: a stage-1 table page not readable at stage 2 is S2 F_PERMISSION, CLASS = TT (table walks are reads, even for a write)', () => {
    const tb = new Testbed();
    const { pgdDesc } = nestedWithTablePerms(tb, IOMMU_WRITE, RO);
    const t: TxnFields = { sid: 4, iova: VA, access: 'write' };
    const exp = walkEvent('F_PERMISSION', t, { s2: true, cls: 'TT', ipa: pgdDesc });
    expectFault(tb.tr(4, VA, { access: 'write' }), exp);
    expectEvents(tb, [exp]);
  });

  it('nested: the CD page not readable at stage 2 is S2 F_PERMISSION, CLASS = CD', () => {
    const tb = new Testbed();
    const { cd } = nestedWithTablePerms(tb, RO, IOMMU_WRITE);
    const t: TxnFields = { sid: 4, iova: VA };
    const exp = walkEvent('F_PERMISSION', t, { s2: true, cls: 'CD', ipa: cd });
    expectFault(tb.tr(4, VA), exp);
    expectEvents(tb, [exp]);
  });

  it('nested, STE.S2PTW = 1: a stage-1 table in stage-2 Device memory is S2 F_PERMISSION, CLASS = TT; with S2PTW = 0 it translates', () => {
    const tb = new Testbed();
    const { pgdDesc } = nestedWithTablePerms(tb, RO | IOMMU_MMIO, RO, { S2PTW: 1 });
    const t: TxnFields = { sid: 4, iova: VA };
    const exp = walkEvent('F_PERMISSION', t, { s2: true, cls: 'TT', ipa: pgdDesc });
    expectFault(tb.tr(4, VA), exp);
    expectEvents(tb, [exp]);
    const tb2 = new Testbed();
    nestedWithTablePerms(tb2, RO | IOMMU_MMIO, RO, { S2PTW: 0 });
    expectOk(tb2.tr(4, VA), PA);
  });

  it('nested: a stage-2 leaf with AF = 0 for a stage-1 table page is S2 F_ACCESS, CLASS = TT', () => {
    const tb = new Testbed();
    const { s2, pgdDesc } = nestedWithTablePerms(tb, RO, RO);
    const q = leafPtr(tb.mem, s2, pgdDesc);
    tb.mem.write64(q, (tb.mem.peek64(q) as bigint) & ~(1n << 10n));
    const t: TxnFields = { sid: 4, iova: VA, priv: true };
    const exp = walkEvent('F_ACCESS', t, { s2: true, cls: 'TT', ipa: pgdDesc });
    expectFault(tb.tr(4, VA, { priv: true }), exp);
    expectEvents(tb, [exp]);
  });

  it('nested: a stage-1 output IPA beyond the stage-2 input size (S2T0SZ) is S2 F_TRANSLATION, CLASS = IN', () => {
    const tb = new Testbed();
    const s1 = tb.s1Table();
    const s2 = tb.s2Table(4096, 40, 48);
    map(s1, VA, 0x100_0000_0000n, 4096n); // IPA bit 40
    mapTablesIdentity(s2, s1);
    const cd = tb.cdTable(0);
    map(s2, cd & ~0xfffn, cd & ~0xfffn, 4096n, RO);
    tb.writeCd(cd, cdFor(s1, 7));
    tb.writeSte(4, { ...NESTED, S1ContextPtr: cd, ...s2Fields(s2, 9) });
    const t: TxnFields = { sid: 4, iova: VA + 0x10n };
    const exp = walkEvent('F_TRANSLATION', t, { s2: true, cls: 'IN', ipa: 0x100_0000_0010n });
    expectFault(tb.tr(4, t.iova), exp);
    expectEvents(tb, [exp]);
  });

  it('S1 F_ADDR_SIZE: an output address beyond CD.IPS (32 bits)', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, 0x1000n, 0x1_2345_6000n, 4096n);
    map(pgt, 0x2000n, 0xffff_f000n, 4096n);
    s1Stream(tb, 1, pgt, 1, { IPS: 0 });
    expectOk(tb.tr(1, 0x2000n), 0xffff_f000n);
    const t: TxnFields = { sid: 1, iova: 0x1008n };
    const exp = walkEvent('F_ADDR_SIZE', t, { s2: false, cls: 'IN' });
    expectFault(tb.tr(1, 0x1008n), exp);
    expectEvents(tb, [exp]);
  });

  it('S2 F_ADDR_SIZE: an output address beyond STE.S2PS (32 bits)', () => {
    const tb = new Testbed();
    const s2 = tb.s2Table();
    map(s2, 0x1000n, 0x1_0000_0000n, 4096n);
    tb.writeSte(6, { ...S2ONLY, ...s2Fields(s2, 2, { S2PS: 0 }) });
    const t: TxnFields = { sid: 6, iova: 0x1ff0n };
    const exp = walkEvent('F_ADDR_SIZE', t, { s2: true, cls: 'IN', ipa: 0x1ff0n });
    expectFault(tb.tr(6, 0x1ff0n), exp);
    expectEvents(tb, [exp]);
  });

  it('stage 1 bypassed (S2-only stream), input >= 2^OAS: a stage-1 F_ADDR_SIZE (S2 = 0), recorded even with S2R = 0', () => {
    const tb = new Testbed();
    const s2 = tb.s2Table();
    tb.writeSte(6, { ...S2ONLY, ...s2Fields(s2, 2, { S2R: 0 }) });
    const t: TxnFields = { sid: 6, iova: 1n << 48n, access: 'write' };
    const exp = walkEvent('F_ADDR_SIZE', t, { s2: false, cls: 'IN' });
    expectFault(tb.tr(6, t.iova, { access: 'write' }), exp);
    expectEvents(tb, [exp]);
  });

  it('STE bypass, input >= 2^OAS: a stage-1 F_ADDR_SIZE (S2 = 0, CLASS = IN); SMMUEN = 0 (GBPA bypass) just aborts', () => {
    const tb = new Testbed();
    tb.writeSte(8, { V: 1, Config: 0b100 });
    const t: TxnFields = { sid: 8, iova: 0x1_0000_0000_1000n, priv: true };
    const exp = walkEvent('F_ADDR_SIZE', t, { s2: false, cls: 'IN' });
    expectFault(tb.tr(8, t.iova, { priv: true }), exp);
    expect(tb.tr(8, 0xffff_ffff_f000n).kind).toBe('bypass');
    expectEvents(tb, [exp]);
    tb.smmu.writeRegByName('CR0', BigInt(CR0_EVTQEN | CR0_CMDQEN));
    expect(tb.tr(8, t.iova).kind).toBe('abort');
    expectEvents(tb, []);
  });

  it('F_ACCESS at stage 1 (AF = 0) and at stage 2 (AF = 0); AFFD = 1 / S2AFFD = 1 suppress it', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, 0x1000n, 0x2000n, 4096n);
    const p = leafPtr(tb.mem, pgt, 0x1000n);
    tb.mem.write64(p, (tb.mem.peek64(p) as bigint) & ~(1n << 10n));
    s1Stream(tb, 1, pgt, 1);
    s1Stream(tb, 2, pgt, 2, { AFFD: 1 });
    const s2 = tb.s2Table();
    map(s2, 0x1000n, 0x3000n, 4096n);
    const q = leafPtr(tb.mem, s2, 0x1000n);
    tb.mem.write64(q, (tb.mem.peek64(q) as bigint) & ~(1n << 10n));
    tb.writeSte(3, { ...S2ONLY, ...s2Fields(s2, 2) });
    tb.writeSte(4, { ...S2ONLY, ...s2Fields(s2, 3, { S2AFFD: 1 }) });
    const e1 = walkEvent('F_ACCESS', { sid: 1, iova: 0x1004n }, { s2: false, cls: 'IN' });
    const e2 = walkEvent('F_ACCESS', { sid: 3, iova: 0x1004n, priv: true }, { s2: true, cls: 'IN', ipa: 0x1004n });
    expectFault(tb.tr(1, 0x1004n), e1);
    expectOk(tb.tr(2, 0x1004n), 0x2004n);
    expectFault(tb.tr(3, 0x1004n, { priv: true }), e2);
    expectOk(tb.tr(4, 0x1004n), 0x3004n);
    expectEvents(tb, [e1, e2]);
  });

  it('S1 F_PERMISSION: write to read-only, unprivileged to a privileged page, exec of an execute-never page', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, 0x1000n, 0x11000n, 4096n, RO);
    map(pgt, 0x2000n, 0x12000n, 4096n, RW | IOMMU_PRIV);
    map(pgt, 0x3000n, 0x13000n, 4096n, RW | IOMMU_NOEXEC);
    s1Stream(tb, 1, pgt, 1);
    const cases: TxnFields[] = [
      { sid: 1, iova: 0x1008n, access: 'write', priv: true },
      { sid: 1, iova: 0x2008n, access: 'read', priv: false },
      { sid: 1, iova: 0x3008n, access: 'exec', priv: false },
    ];
    const exps = cases.map((t) => walkEvent('F_PERMISSION', t, { s2: false, cls: 'IN' }));
    cases.forEach((t, i) => expectFault(tb.tr(1, t.iova, { access: t.access, priv: t.priv }), exps[i]));
    expectOk(tb.tr(1, 0x1008n), 0x11008n);
    expectOk(tb.tr(1, 0x2008n, { priv: true, access: 'write' }), 0x12008n);
    expectOk(tb.tr(1, 0x3008n, { access: 'write' }), 0x13008n);
    expectEvents(tb, exps);
  });

  it('S1 F_PERMISSION on an IOTLB hit: permissions are rechecked on the cached entry', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, 0x1000n, 0x11000n, 4096n, RO);
    s1Stream(tb, 1, pgt, 1);
    expectOk(tb.tr(1, 0x1008n), 0x11008n, 'miss');
    const t: TxnFields = { sid: 1, iova: 0x1010n, access: 'write' };
    const r = tb.tr(1, 0x1010n, { access: 'write' });
    const exp = walkEvent('F_PERMISSION', t, { s2: false, cls: 'IN' });
    expectFault(r, exp);
    expect(r.accesses).toBe(0);
    expect(tb.smmu.translateN(1, -1, 0, 0x1010, ACC_WRITE, false)).toBe(TN_FAULT);
    expect(tb.smmu.translateN(1, -1, 0, 0x1010, ACC_READ, false)).toBe(TN_HIT);
    expectEvents(tb, [exp, exp]);
  });

  it('S2 F_PERMISSION (S2-only stream), cold and on an IOTLB hit', () => {
    const tb = new Testbed();
    const s2 = tb.s2Table();
    map(s2, 0x1000n, 0x2000n, 4096n, RO);
    tb.writeSte(6, { ...S2ONLY, ...s2Fields(s2, 2) });
    const t: TxnFields = { sid: 6, iova: 0x1008n, access: 'write' };
    const exp = walkEvent('F_PERMISSION', t, { s2: true, cls: 'IN', ipa: 0x1008n });
    expectFault(tb.tr(6, 0x1008n, { access: 'write' }), exp);
    expectOk(tb.tr(6, 0x1008n), 0x2008n, 'miss');
    const r = tb.tr(6, 0x1008n, { access: 'write' });
    expectFault(r, exp);
    expect(r.accesses).toBe(0);
    expectEvents(tb, [exp, exp]);
  });

  it('nested F_PERMISSION on a combined IOTLB entry is attributed to the right stage', () => {
    const tb = new Testbed();
    nestedStream(tb, 4, { s1Prot: RW, s2Prot: RO });
    nestedStream(tb, 5, { s1Prot: RO, s2Prot: RW, cd: { ASID: 8 } });
    expectOk(tb.tr(4, VA), PA, 'miss');
    expectOk(tb.tr(5, VA), PA, 'miss');
    const t4: TxnFields = { sid: 4, iova: VA + 0x18n, access: 'write' };
    const t5: TxnFields = { sid: 5, iova: VA + 0x18n, access: 'write' };
    const e4 = walkEvent('F_PERMISSION', t4, { s2: true, cls: 'IN', ipa: IPA + 0x18n });
    const e5 = walkEvent('F_PERMISSION', t5, { s2: false, cls: 'IN' });
    const r4 = tb.tr(4, t4.iova, { access: 'write' });
    const r5 = tb.tr(5, t5.iova, { access: 'write' });
    expectFault(r4, e4);
    expectFault(r5, e5);
    expect([r4.accesses, r5.accesses]).toEqual([0, 0]);
    expectEvents(tb, [e4, e5]);
    // And cold (fresh SMMU state): the same records.
    const tb2 = new Testbed();
    nestedStream(tb2, 4, { s1Prot: RW, s2Prot: RO });
    nestedStream(tb2, 5, { s1Prot: RO, s2Prot: RO, cd: { ASID: 8 } }); // both deny: stage 1 is reported
    expectFault(tb2.tr(4, t4.iova, { access: 'write' }), e4);
    expectFault(tb2.tr(5, t5.iova, { access: 'write' }), e5);
  });

  it('F_WALK_EABT at stage 1: TTB0 outside RAM; FetchAddr = the descriptor, CLASS = TT, S2 = 0', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    s1Stream(tb, 1, pgt, 1, { TTB0: NO_RAM + 0x10_0000n });
    const t: TxnFields = { sid: 1, iova: 0x80_0000_1000n, access: 'write' };
    const fetch = NO_RAM + 0x10_0000n + BigInt(pgt.lvlIdx(t.iova, 0)) * 8n;
    const exp = walkEvent('F_WALK_EABT', t, { s2: false, cls: 'TT', fetchAddr: fetch });
    expect(exp.fetchAddr).toBe(fetch);
    expectFault(tb.tr(1, t.iova, { access: 'write' }), exp);
    expectEvents(tb, [exp]);
  });

  it('F_WALK_EABT at stage 1 below the start level: a table descriptor pointing outside RAM', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, 0x1000n, 0x2000n, 4096n);
    // Point the level-2 table descriptor at memory that does not exist.
    const l1 = tb.mem.peek64(pgt.pgd) as bigint;
    const l1Table = pgt.iopteToPaddr(l1);
    tb.mem.write64(l1Table, (NO_RAM + 0x20_0000n) | 3n);
    s1Stream(tb, 1, pgt, 1);
    const t: TxnFields = { sid: 1, iova: 0x1000n };
    const exp = walkEvent('F_WALK_EABT', t, { s2: false, cls: 'TT', fetchAddr: NO_RAM + 0x20_0000n });
    expectFault(tb.tr(1, 0x1000n), exp);
    expectEvents(tb, [exp]);
  });

  it('F_WALK_EABT at stage 2 (S2-only stream): S2TTB outside RAM; S2 = 1, CLASS = IN', () => {
    const tb = new Testbed();
    const s2 = tb.s2Table();
    tb.writeSte(6, { ...S2ONLY, ...s2Fields(s2, 2, { S2TTB: NO_RAM }) });
    const t: TxnFields = { sid: 6, iova: 0x1000n };
    const exp = walkEvent('F_WALK_EABT', t, { s2: true, cls: 'IN', fetchAddr: NO_RAM });
    expectFault(tb.tr(6, 0x1000n), exp);
    expectEvents(tb, [exp]);
  });

  it('nested F_WALK_EABT: a stage-1 table IPA mapped to a PA outside RAM (the S1 fetch aborts: S2 = 0, CLASS = TT)', () => {
    const tb = new Testbed();
    const s1 = tb.s1Table();
    const s2 = tb.s2Table();
    map(s1, VA, IPA, 4096n);
    map(s2, IPA, PA, 4096n);
    const cd = tb.cdTable(0);
    map(s2, cd & ~0xfffn, cd & ~0xfffn, 4096n, RO);
    // The pgd's IPA maps to a PA with no RAM behind it.
    map(s2, s1.pgd, NO_RAM + 0x40_0000n, 4096n, RO);
    tb.writeCd(cd, cdFor(s1, 7));
    tb.writeSte(4, { ...NESTED, S1ContextPtr: cd, ...s2Fields(s2, 9) });
    const t: TxnFields = { sid: 4, iova: VA };
    const exp = walkEvent('F_WALK_EABT', t, { s2: false, cls: 'TT', fetchAddr: NO_RAM + 0x40_0000n + BigInt(s1.lvlIdx(VA, 0)) * 8n });
    expectFault(tb.tr(4, VA), exp);
    expectEvents(tb, [exp]);
  });

  it('CD.R = 0: stage-1 translation faults terminate the transaction but are not recorded (F_WALK_EABT still is)', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, 0x1000n, 0x2000n, 4096n, RO);
    s1Stream(tb, 1, pgt, 1, { R: 0 });
    s1Stream(tb, 2, pgt, 2, { R: 0, TTB0: NO_RAM });
    expectFault(tb.tr(1, 0x9000n), walkEvent('F_TRANSLATION', { sid: 1, iova: 0x9000n }, { s2: false, cls: 'IN' }), false);
    expectFault(tb.tr(1, 0x1000n, { access: 'write' }), walkEvent('F_PERMISSION', { sid: 1, iova: 0x1000n, access: 'write' }, { s2: false, cls: 'IN' }), false);
    expectOk(tb.tr(1, 0x1000n), 0x2000n);
    expectFault(tb.tr(1, 0x1000n, { access: 'write' }), walkEvent('F_PERMISSION', { sid: 1, iova: 0x1000n, access: 'write' }, { s2: false, cls: 'IN' }), false);
    const eabt = walkEvent('F_WALK_EABT', { sid: 2, iova: 0x1000n }, { s2: false, cls: 'TT', fetchAddr: NO_RAM });
    expectFault(tb.tr(2, 0x1000n), eabt);
    expectEvents(tb, [eabt]);
  });

  it('STE.S2R = 0: stage-2 translation faults are not recorded; the nested CD fault too; stage-1 faults follow CD.R', () => {
    const tb = new Testbed();
    const s2 = tb.s2Table();
    map(s2, 0x1000n, 0x2000n, 4096n, RO);
    tb.writeSte(6, { ...S2ONLY, ...s2Fields(s2, 2, { S2R: 0 }) });
    expectFault(tb.tr(6, 0x5000n), walkEvent('F_TRANSLATION', { sid: 6, iova: 0x5000n }, { s2: true, cls: 'IN', ipa: 0x5000n }), false);
    expectFault(tb.tr(6, 0x1000n, { access: 'write' }), walkEvent('F_PERMISSION', { sid: 6, iova: 0x1000n, access: 'write' }, { s2: true, cls: 'IN', ipa: 0x1000n }), false);
    const { cd } = nestedStream(tb, 4, { mapCd: false, ste: { S2R: 0 } });
    expectFault(tb.tr(4, VA), walkEvent('F_TRANSLATION', { sid: 4, iova: VA }, { s2: true, cls: 'CD', ipa: cd }), false);
    // Stage-1 faults of a nested stream with S2R = 0 are still recorded (CD.R = 1).
    nestedStream(tb, 5, { ste: { S2R: 0 } });
    const e = walkEvent('F_TRANSLATION', { sid: 5, iova: VA + 0x1000n }, { s2: false, cls: 'IN' });
    expectFault(tb.tr(5, VA + 0x1000n), e);
    expectEvents(tb, [e]);
  });

  it('global (nG = 0) leaves written by hand translate like any other', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, 0x1000n, 0x2000n, 4096n);
    tb.mem.write64(leafPtr(tb.mem, pgt, 0x1000n), encodeS1Leaf(0x7000n, 4096, 3, { af: true, ap: 1, nG: false }));
    s1Stream(tb, 1, pgt, 1);
    const r = tb.tr(1, 0x1008n);
    expectOk(r, 0x7008n);
    if (r.kind === 'ok') expect(r.entry?.nG).toBe(false);
  });
});

// -----------------------------------------------------------------------------

describe('fast path (translateN) agrees with translate()', () => {
  it('translateN serves SubstreamID 0 from the cached CD 0 of an S1CDMax = 0 stream (must be C_BAD_SUBSTREAMID)', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, 0x1000n, 0x2000n, 4096n);
    s1Stream(tb, 1, pgt, 1);
    expectOk(tb.tr(1, 0x1000n), 0x2000n); // CD 0 and the page cached
    expect(tb.smmu.translateN(1, 0, 0, 0x1000, ACC_READ, false)).toBe(TN_FAULT);
  });

  it('translateN serves SubstreamID 0 from the cached CD 0 when S1DSS = 2 (must abort with an event)', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, 0x1000n, 0x2000n, 4096n);
    const cd = tb.cdTable(1);
    tb.writeCd(cd, cdFor(pgt, 1));
    tb.writeSte(1, { ...S1, S1ContextPtr: cd, S1CDMax: 1, S1DSS: 2 });
    expectOk(tb.tr(1, 0x1000n), 0x2000n);
    expect(tb.smmu.translateN(1, 0, 0, 0x1000, ACC_READ, false)).toBe(TN_FAULT);
  });
});

describe('SMMU with no RAM ranges (every PA exists)', () => {
  it('structures anywhere in the 52-bit space are reachable', () => {
    const mem = new PhysicalMemory(null);
    const smmu = new Smmu(mem);
    const base = 0xf_0000_0000_0000n;
    smmu.writeRegByName('STRTAB_BASE', base);
    smmu.writeRegByName('STRTAB_BASE_CFG', 4n);
    mem.write64(base + 3n * 64n, 1n | (4n << 1n));
    smmu.writeRegByName('CR0', BigInt(CR0_SMMUEN));
    expect(smmu.translate({ sid: 3, iova: 0x1234n, access: 'read', priv: false })).toMatchObject({ kind: 'bypass', pa: 0x1234n });
    // An all-zero STE is V = 0; events are lost (EVTQEN = 0).
    expect(smmu.translate({ sid: 4, iova: 0x1234n, access: 'read', priv: false })).toMatchObject({ kind: 'fault', recorded: false });
  });
});
