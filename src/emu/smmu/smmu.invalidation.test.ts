/**
 * Configuration caches and the IOTLB: what stays cached after memory
 * changes, and exactly what each CFGI_* / TLBI_* command removes. Whether an
 * entry is cached is observed from the outside: a hit makes no memory
 * accesses and returns the old translation; a miss walks.
 */

import { describe, expect, it } from 'vitest';
import { encodeS1Leaf } from '../descriptor';
import type { ArmLpaeIoPgtable } from '../iopgtable';
import type { Cd } from './cd';
import { type Command, TLBI_NO_RANGE } from './commands';
import type { TranslateResult } from './smmu';
import type { Ste } from './ste';
import { Testbed, cdFor, leafPtr, map, mapTablesIdentity, s2Fields } from './testbed';

const X = 0x10_000n;
const Y = 0x11_000n;
const G = 0x20_000n; // a global (nG = 0) page
const NVA = 0x50_000n; // nested VA
const NIPA = 0x60_000n; // its IPA

function ok(r: TranslateResult): { pa: bigint; tlb: 'hit' | 'miss'; accesses: number } {
  if (r.kind !== 'ok') throw new Error(`expected ok, got ${r.kind}: ${'reason' in r ? r.reason : ''}`);
  return { pa: r.pa, tlb: r.tlb, accesses: r.accesses };
}

/** Hand-write a global (nG = 0) 4KB page where io-pgtable put an nG one. */
function makeGlobal(tb: Testbed, pgt: ArmLpaeIoPgtable, iova: bigint, pa: bigint): void {
  tb.mem.write64(leafPtr(tb.mem, pgt, iova), encodeS1Leaf(pa, 4096, 3, { af: true, ap: 1, sh: 3, nG: false }));
}

function s1Stream(tb: Testbed, sid: number, pgt: ArmLpaeIoPgtable, asid: number, vmid: number, ste: Partial<Ste> = {}, cd: Partial<Cd> = {}): bigint {
  const cdAddr = tb.cdTable(0);
  tb.writeCd(cdAddr, cdFor(pgt, asid, cd));
  tb.writeSte(sid, { V: 1, Config: 0b101, S1ContextPtr: cdAddr, S2VMID: vmid, ...ste });
  return cdAddr;
}

/**
 * Streams of every kind, all translating (and so cached):
 *  sid 1  S1, VMID 5, ASID 1: X, Y (nG), G (global), R0..R4 (nG), a 2MB block B
 *  sid 2  S1, VMID 5, ASID 2: X, Y
 *  sid 3  S1, VMID 6, ASID 1: X
 *  sid 4  S2-only, VMID 5: IPA X, Y, R0..R4
 *  sid 5  S2-only, VMID 6: IPA X
 *  sid 6  nested, VMID 5, ASID 3: NVA
 *  sid 7  S1, StreamWorld EL2: X
 */
const R = (i: number): bigint => 0x30_000n + BigInt(i) * 0x1000n;
const B = 0x4000_0000n;

function world() {
  const tb = new Testbed();
  const p1 = tb.s1Table();
  map(p1, X, 0x100_000n, 4096n);
  map(p1, Y, 0x101_000n, 4096n);
  map(p1, G, 0x102_000n, 4096n);
  for (let i = 0; i < 5; i++) map(p1, R(i), 0x110_000n + BigInt(i) * 0x1000n, 4096n);
  map(p1, B, 0x8000_0000n, 0x20_0000n);
  makeGlobal(tb, p1, G, 0x200_000n);
  s1Stream(tb, 1, p1, 1, 5);
  const p2 = tb.s1Table();
  map(p2, X, 0x300_000n, 4096n);
  map(p2, Y, 0x301_000n, 4096n);
  s1Stream(tb, 2, p2, 2, 5);
  const p3 = tb.s1Table();
  map(p3, X, 0x400_000n, 4096n);
  s1Stream(tb, 3, p3, 1, 6);
  const s2a = tb.s2Table();
  map(s2a, X, 0x500_000n, 4096n);
  map(s2a, Y, 0x501_000n, 4096n);
  for (let i = 0; i < 5; i++) map(s2a, R(i), 0x510_000n + BigInt(i) * 0x1000n, 4096n);
  tb.writeSte(4, { V: 1, Config: 0b110, ...s2Fields(s2a, 5) });
  const s2b = tb.s2Table();
  map(s2b, X, 0x600_000n, 4096n);
  tb.writeSte(5, { V: 1, Config: 0b110, ...s2Fields(s2b, 6) });
  // Nested, VMID 5 (its own stage-2 tables).
  const n1 = tb.s1Table();
  const n2 = tb.s2Table();
  map(n1, NVA, NIPA, 4096n);
  map(n2, NIPA, 0x700_000n, 4096n);
  mapTablesIdentity(n2, n1);
  const ncd = tb.cdTable(0);
  map(n2, ncd & ~0xfffn, ncd & ~0xfffn, 4096n);
  tb.writeCd(ncd, cdFor(n1, 3));
  tb.writeSte(6, { V: 1, Config: 0b111, S1ContextPtr: ncd, ...s2Fields(n2, 5) });
  const p7 = tb.s1Table();
  map(p7, X, 0x800_000n, 4096n);
  s1Stream(tb, 7, p7, 9, 0, { STRW: 2 });

  const probes: Record<string, [number, bigint, bigint]> = {
    A1X: [1, X, 0x100_000n],
    A1Y: [1, Y, 0x101_000n],
    A1G: [1, G, 0x200_000n],
    A2X: [2, X, 0x300_000n],
    A2Y: [2, Y, 0x301_000n],
    V6X: [3, X, 0x400_000n],
    S2X: [4, X, 0x500_000n],
    S2Y: [4, Y, 0x501_000n],
    V6S2X: [5, X, 0x600_000n],
    NX: [6, NVA, 0x700_000n],
    EL2X: [7, X, 0x800_000n],
  };
  for (const [sid, iova, pa] of Object.values(probes)) expect(ok(tb.tr(sid, iova)).pa).toBe(pa);
  for (let i = 0; i < 5; i++) {
    ok(tb.tr(1, R(i)));
    ok(tb.tr(4, R(i)));
  }
  ok(tb.tr(1, B));
  /** Which probes hit the IOTLB now (each probe re-fills what it misses). */
  const state = (names: string[] = Object.keys(probes)): Record<string, 'hit' | 'miss'> => {
    const out: Record<string, 'hit' | 'miss'> = {};
    for (const n of names) {
      const [sid, iova, pa] = probes[n];
      const r = ok(tb.tr(sid, iova));
      expect(r.pa, n).toBe(pa);
      expect(r.accesses, n).toBe(r.tlb === 'hit' ? 0 : sid === 6 ? 24 : 4);
      out[n] = r.tlb;
    }
    return out;
  };
  const all = (v: 'hit' | 'miss', except: Record<string, 'hit' | 'miss'> = {}): Record<string, 'hit' | 'miss'> => {
    const out: Record<string, 'hit' | 'miss'> = {};
    for (const n of Object.keys(probes)) out[n] = except[n] ?? v;
    return out;
  };
  return { tb, state, all, p1 };
}

const va = (op: 'CMD_TLBI_NH_VA', vmid: number, asid: number, addr: bigint, more: Partial<typeof TLBI_NO_RANGE> = {}): Command => ({
  op,
  vmid,
  asid,
  addr,
  ...TLBI_NO_RANGE,
  ...more,
});
const vaa = (vmid: number, addr: bigint, more: Partial<typeof TLBI_NO_RANGE> = {}): Command => ({ op: 'CMD_TLBI_NH_VAA', vmid, addr, ...TLBI_NO_RANGE, ...more });
const ipa = (vmid: number, addr: bigint, more: Partial<typeof TLBI_NO_RANGE> = {}): Command => ({ op: 'CMD_TLBI_S2_IPA', vmid, addr, ...TLBI_NO_RANGE, ...more });

// -----------------------------------------------------------------------------

describe('memory changes need the right invalidation', () => {
  it('a leaf changed with write64 keeps translating the old way until TLBI_NH_VA (of the right ASID) + CMD_SYNC', () => {
    const { tb, p1 } = world();
    tb.mem.write64(leafPtr(tb.mem, p1, X), encodeS1Leaf(0xabc_d000n, 4096, 3, { af: true, ap: 1, nG: true }));
    expect(ok(tb.tr(1, X + 8n))).toEqual({ pa: 0x100_008n, tlb: 'hit', accesses: 0 });
    tb.cmdSync(va('CMD_TLBI_NH_VA', 5, 2, X)); // another ASID
    tb.cmdSync(va('CMD_TLBI_NH_VA', 6, 1, X)); // another VMID
    tb.cmdSync(va('CMD_TLBI_NH_VA', 5, 1, Y)); // another page
    expect(ok(tb.tr(1, X + 8n)).pa).toBe(0x100_008n);
    tb.cmdSync(va('CMD_TLBI_NH_VA', 5, 1, X));
    expect(ok(tb.tr(1, X + 8n))).toEqual({ pa: 0xabc_d008n, tlb: 'miss', accesses: 4 });
  });

  it("syncModel 'until-sync': the TLBI alone does not take effect; the following CMD_SYNC does", () => {
    const { tb, p1 } = world();
    tb.smmu.syncModel = 'until-sync';
    tb.mem.write64(leafPtr(tb.mem, p1, X), encodeS1Leaf(0xabc_d000n, 4096, 3, { af: true, ap: 1, nG: true }));
    expect(tb.cmd(va('CMD_TLBI_NH_VA', 5, 1, X))).toBe(0);
    expect(tb.reg('CMDQ_CONS')).toBe(tb.reg('CMDQ_PROD')); // consumed...
    expect(tb.smmu.pendingInvalidations).toHaveLength(1);
    expect(ok(tb.tr(1, X))).toEqual({ pa: 0x100_000n, tlb: 'hit', accesses: 0 }); // ...but not complete
    expect(tb.sync()).toBe(0);
    expect(tb.smmu.pendingInvalidations).toHaveLength(0);
    expect(ok(tb.tr(1, X))).toEqual({ pa: 0xabc_d000n, tlb: 'miss', accesses: 4 });
  });

  it("syncModel 'until-sync' also holds configuration invalidations until CMD_SYNC", () => {
    const { tb } = world();
    tb.smmu.syncModel = 'until-sync';
    tb.writeSte(1, { V: 1, Config: 0b100 });
    tb.cmd({ op: 'CMD_CFGI_STE', sid: 1, leaf: true });
    expect(ok(tb.tr(1, X)).pa).toBe(0x100_000n);
    tb.sync();
    expect(tb.tr(1, X)).toMatchObject({ kind: 'bypass', pa: X });
  });

  it("syncModel 'immediate': the TLBI takes effect when consumed", () => {
    const { tb, p1 } = world();
    tb.mem.write64(leafPtr(tb.mem, p1, X), encodeS1Leaf(0xabc_d000n, 4096, 3, { af: true, ap: 1, nG: true }));
    tb.cmd(va('CMD_TLBI_NH_VA', 5, 1, X));
    expect(ok(tb.tr(1, X)).pa).toBe(0xabc_d000n);
  });

  it('an STE changed in memory keeps the old configuration until CMD_CFGI_STE', () => {
    const { tb } = world();
    tb.writeSte(1, { V: 1, Config: 0b100 });
    tb.writeSte(4, { V: 1, Config: 0 });
    expect(ok(tb.tr(1, X)).pa).toBe(0x100_000n);
    expect(ok(tb.tr(4, X)).pa).toBe(0x500_000n);
    tb.cmdSync({ op: 'CMD_CFGI_STE', sid: 1, leaf: true });
    expect(tb.tr(1, X)).toMatchObject({ kind: 'bypass', pa: X, accesses: 1 });
    expect(ok(tb.tr(4, X)).pa).toBe(0x500_000n);
    tb.cmdSync({ op: 'CMD_CFGI_STE', sid: 4, leaf: true });
    expect(tb.tr(4, X).kind).toBe('abort');
  });

  it('CMD_CFGI_STE also drops the CDs reached through that STE', () => {
    const { tb } = world();
    // Replace sid 2's CD in memory: ASID 22, tables mapping X elsewhere.
    const pNew = tb.s1Table();
    map(pNew, X, 0x9990_0000n, 4096n);
    map(pNew, Y + 0x10_0000n, 0x9991_0000n, 4096n);
    const ste = tb.readWords(tb.steAddr(2), 8);
    const cdAddr = ste[0] & 0x000f_ffff_ffff_ffc0n;
    tb.writeCd(cdAddr, cdFor(pNew, 22));
    // The cached CD still serves a new page (walks the old tables: unmapped there).
    expect(tb.tr(2, Y + 0x10_0000n).kind).toBe('fault');
    tb.drain();
    tb.cmdSync({ op: 'CMD_CFGI_STE', sid: 2, leaf: true });
    // STE + CD + 4 table reads: the CD was refetched.
    expect(ok(tb.tr(2, Y + 0x10_0000n))).toEqual({ pa: 0x9991_0000n, tlb: 'miss', accesses: 6 });
    expect(ok(tb.tr(2, X))).toEqual({ pa: 0x9990_0000n, tlb: 'miss', accesses: 4 }); // ASID 22: no old entry matches
  });

  it('CMD_CFGI_CD drops one CD; another SSID of the stream stays cached', () => {
    const tb = new Testbed();
    const cdt = tb.cdTable(2);
    const pA = tb.s1Table();
    const pB = tb.s1Table();
    map(pA, X, 0xa000_0000n, 4096n);
    map(pB, X, 0xb000_0000n, 4096n);
    tb.writeCd(cdt + 64n, cdFor(pA, 1));
    tb.writeCd(cdt + 128n, cdFor(pA, 2));
    tb.writeSte(1, { V: 1, Config: 0b101, S1ContextPtr: cdt, S1CDMax: 2 });
    expect(ok(tb.tr(1, X, { ssid: 1 })).accesses).toBe(6);
    expect(ok(tb.tr(1, X, { ssid: 2 })).accesses).toBe(5);
    tb.writeCd(cdt + 64n, cdFor(pB, 11));
    tb.writeCd(cdt + 128n, cdFor(pB, 12));
    tb.cmdSync({ op: 'CMD_CFGI_CD', sid: 1, ssid: 1, leaf: true });
    expect(ok(tb.tr(1, X, { ssid: 1 }))).toEqual({ pa: 0xb000_0000n, tlb: 'miss', accesses: 5 }); // CD + walk
    expect(ok(tb.tr(1, X, { ssid: 2 }))).toEqual({ pa: 0xa000_0000n, tlb: 'hit', accesses: 0 });
      });

  it('CMD_CFGI_CD_ALL drops every CD of the stream (and only of that stream)', () => {
    const tb = new Testbed();
    const cdt = tb.cdTable(2);
    const cdt2 = tb.cdTable(0);
    const pA = tb.s1Table();
    const pB = tb.s1Table();
    map(pA, X, 0xa000_0000n, 4096n);
    map(pB, X, 0xb000_0000n, 4096n);
    tb.writeCd(cdt + 64n, cdFor(pA, 1));
    tb.writeCd(cdt + 128n, cdFor(pA, 2));
    tb.writeCd(cdt2, cdFor(pA, 3));
    tb.writeSte(1, { V: 1, Config: 0b101, S1ContextPtr: cdt, S1CDMax: 2 });
    tb.writeSte(2, { V: 1, Config: 0b101, S1ContextPtr: cdt2 });
    ok(tb.tr(1, X, { ssid: 1 }));
    ok(tb.tr(1, X, { ssid: 2 }));
    ok(tb.tr(2, X));
    tb.writeCd(cdt + 64n, cdFor(pB, 11));
    tb.writeCd(cdt + 128n, cdFor(pB, 12));
    tb.writeCd(cdt2, cdFor(pB, 13));
    tb.cmdSync({ op: 'CMD_CFGI_CD_ALL', sid: 1 });
    expect(ok(tb.tr(1, X, { ssid: 1 }))).toEqual({ pa: 0xb000_0000n, tlb: 'miss', accesses: 5 });
    expect(ok(tb.tr(1, X, { ssid: 2 }))).toEqual({ pa: 0xb000_0000n, tlb: 'miss', accesses: 5 });
    expect(ok(tb.tr(2, X))).toEqual({ pa: 0xa000_0000n, tlb: 'hit', accesses: 0 });
  });

  it('CMD_CFGI_CD with Leaf = 0 also drops the L1CD on the path (2-level CD table); CFGI_CD_ALL too', () => {
    const tb = new Testbed();
    const l1 = tb.cdL1Table(8, 6);
    const leafA = tb.cdLeaf(l1, 1, 6);
    const pA = tb.s1Table();
    const pB = tb.s1Table();
    map(pA, X, 0xa000_0000n, 4096n);
    map(pB, X, 0xb000_0000n, 4096n);
    tb.writeCd(leafA + 5n * 64n, cdFor(pA, 1));
    tb.writeSte(1, { V: 1, Config: 0b101, S1ContextPtr: l1, S1CDMax: 8, S1Fmt: 1 });
    expect(ok(tb.tr(1, X, { ssid: 69 }))).toEqual({ pa: 0xa000_0000n, tlb: 'miss', accesses: 7 });
    // Software moves SSIDs 64..127 to a new leaf (new CD, new ASID) and invalidates the CD and its L1CD.
    const leafB = tb.cdLeaf(l1, 1, 6);
    tb.writeCd(leafB + 5n * 64n, cdFor(pB, 2));
    tb.cmdSync({ op: 'CMD_CFGI_CD', sid: 1, ssid: 69, leaf: false });
    expect(ok(tb.tr(1, X, { ssid: 69 }))).toEqual({ pa: 0xb000_0000n, tlb: 'miss', accesses: 6 }); // L1CD + CD + walk
    // And back, with CFGI_CD_ALL.
    tb.writeWords(l1 + 8n, [(leafA & ~0xfffn) | 1n]);
    tb.writeCd(leafA + 5n * 64n, cdFor(pA, 3));
    tb.cmdSync({ op: 'CMD_CFGI_CD_ALL', sid: 1 });
    expect(ok(tb.tr(1, X, { ssid: 69 }))).toEqual({ pa: 0xa000_0000n, tlb: 'miss', accesses: 6 });
  });

  /** Bypass STEs for SIDs 16..47, all cached, then rewritten as abort in memory. */
  function bypassRange() {
    const tb = new Testbed();
    for (let sid = 16; sid < 48; sid++) tb.writeSte(sid, { V: 1, Config: 0b100 });
    for (let sid = 16; sid < 48; sid++) expect(tb.tr(sid, 0x1000n).accesses).toBe(1);
    for (let sid = 16; sid < 48; sid++) tb.writeSte(sid, { V: 1, Config: 0 });
    const kinds = () => {
      const out: string[] = [];
      for (let sid = 16; sid < 48; sid++) out.push(tb.tr(sid, 0x1000n).kind === 'abort' ? 'A' : 'b');
      return out.join('');
    };
    return { tb, kinds };
  }

  it('CMD_CFGI_STE_RANGE invalidates the 2^(Range + 1) StreamIDs aligned around StreamID', () => {
    const { tb, kinds } = bypassRange();
    tb.cmdSync({ op: 'CMD_CFGI_STE_RANGE', sid: 21, range: 1 }); // SIDs 20..23
    expect(kinds()).toBe('bbbbAAAAbbbbbbbbbbbbbbbbbbbbbbbb');
    tb.cmdSync({ op: 'CMD_CFGI_STE_RANGE', sid: 40, range: 2 }); // SIDs 40..47
    expect(kinds()).toBe('bbbbAAAAbbbbbbbbbbbbbbbbAAAAAAAA');
    tb.cmdSync({ op: 'CMD_CFGI_STE_RANGE', sid: 0, range: 4 }); // SIDs 0..31
    expect(kinds()).toBe('AAAAAAAAAAAAAAAAbbbbbbbbAAAAAAAA');
    tb.cmdSync({ op: 'CMD_CFGI_STE_RANGE', sid: 33, range: 0 }); // SIDs 32, 33
    expect(kinds()).toBe('AAAAAAAAAAAAAAAAAAbbbbbbAAAAAAAA');
  });

  it('CMD_CFGI_ALL invalidates every STE and CD', () => {
    const { tb, kinds } = bypassRange();
    tb.cmdSync({ op: 'CMD_CFGI_ALL' });
    expect(kinds()).toBe('A'.repeat(32));
  });

  it('CMD_CFGI_STE with Leaf = 0 also drops the L1STD (2-level stream table)', () => {
    const tb = new Testbed({ strtab: { fmt: '2level', log2size: 12, split: 6 } });
    tb.writeSte(65, { V: 1, Config: 0b100 });
    expect(tb.tr(65, 0x1000n).accesses).toBe(2);
    tb.setL1std(1, 0, 0n);
    tb.cmdSync({ op: 'CMD_CFGI_STE', sid: 65, leaf: false });
    expect(tb.tr(65, 0x1000n)).toMatchObject({ kind: 'fault', event: { type: 'C_BAD_STREAMID', sid: 65 } });
  });
});

// -----------------------------------------------------------------------------

describe('what each TLBI removes', () => {
  it('TLBI_NH_ASID removes the non-global entries of that ASID and VMID only (global entries and other ASIDs stay)', () => {
    const { tb, state, all } = world();
    tb.cmdSync({ op: 'CMD_TLBI_NH_ASID', vmid: 5, asid: 1 });
    expect(state()).toEqual(all('hit', { A1X: 'miss', A1Y: 'miss' }));
  });

  it('TLBI_NH_VA removes the matching-ASID and global entries at that VA only', () => {
    const { tb, state, all } = world();
    tb.cmdSync(va('CMD_TLBI_NH_VA', 5, 1, X));
    expect(state()).toEqual(all('hit', { A1X: 'miss' }));
    tb.cmdSync(va('CMD_TLBI_NH_VA', 5, 2, G)); // a global entry matches any ASID
    expect(state()).toEqual(all('hit', { A1G: 'miss' }));
    tb.cmdSync(va('CMD_TLBI_NH_VA', 5, 3, NVA)); // the combined nested entry
    expect(state()).toEqual(all('hit', { NX: 'miss' }));
  });

  it('TLBI_NH_VA of an address inside a 2MB block removes the block entry', () => {
    const { tb } = world();
    expect(ok(tb.tr(1, B + 0x12_3000n)).tlb).toBe('hit');
    tb.cmdSync(va('CMD_TLBI_NH_VA', 5, 1, B + 0x1f_f000n));
    expect(ok(tb.tr(1, B + 0x12_3000n))).toMatchObject({ tlb: 'miss', pa: 0x8012_3000n, accesses: 3 });
  });

  it('TLBI_NH_VAA removes that VA for every ASID of the VMID', () => {
    const { tb, state, all } = world();
    tb.cmdSync(vaa(5, X));
    expect(state()).toEqual(all('hit', { A1X: 'miss', A2X: 'miss' }));
  });

  it('TLBI_NH_ALL(VMID) removes every stage-1 and combined entry of that VMID, not other VMIDs, not S2-only entries, not EL2', () => {
    const { tb, state, all } = world();
    tb.cmdSync({ op: 'CMD_TLBI_NH_ALL', vmid: 5 });
    expect(state()).toEqual(all('hit', { A1X: 'miss', A1Y: 'miss', A1G: 'miss', A2X: 'miss', A2Y: 'miss', NX: 'miss' }));
  });

  it('TLBI_S12_VMALL(VMID) removes everything tagged with that VMID', () => {
    const { tb, state, all } = world();
    tb.cmdSync({ op: 'CMD_TLBI_S12_VMALL', vmid: 5 });
    expect(state()).toEqual(all('miss', { V6X: 'hit', V6S2X: 'hit', EL2X: 'hit' }));
  });

  it('TLBI_S2_IPA removes the stage-2-only entry for that IPA and VMID and leaves the others', () => {
    const { tb, state, all } = world();
    tb.cmdSync(ipa(5, X));
    const s = state();
    delete s.NX; // combined entries may or may not go: software follows with NH_ALL / S12_VMALL
    const exp = all('hit', { S2X: 'miss' });
    delete exp.NX;
    expect(s).toEqual(exp);
  });

  it('TLBI_NSNH_ALL removes every NS-EL1 entry (all VMIDs, all kinds) but not the EL2 world', () => {
    const { tb, state, all } = world();
    tb.cmdSync({ op: 'CMD_TLBI_NSNH_ALL' });
    expect(state()).toEqual(all('miss', { EL2X: 'hit' }));
  });

  it('EL2 StreamWorld (STRW = 2): TLBI_EL2_ALL removes its entries; NH_ALL(VMID 0), NH_ASID and NSNH_ALL do not', () => {
    const { tb, state, all } = world();
    tb.cmdSync({ op: 'CMD_TLBI_NH_ALL', vmid: 0 });
    tb.cmdSync({ op: 'CMD_TLBI_NH_ASID', vmid: 0, asid: 9 });
    expect(state(['EL2X'])).toEqual({ EL2X: 'hit' });
    tb.cmdSync({ op: 'CMD_TLBI_EL2_ALL' });
    expect(state()).toEqual(all('hit', { EL2X: 'miss' }));
  });

  it('EL2 StreamWorld: TLBI_EL2_VA / EL2_VAA remove that VA', () => {
    const { tb, state } = world();
    tb.cmdSync({ op: 'CMD_TLBI_EL2_VA', asid: 0, addr: Y, ...TLBI_NO_RANGE });
    expect(state(['EL2X'])).toEqual({ EL2X: 'hit' });
    tb.cmdSync({ op: 'CMD_TLBI_EL2_VA', asid: 0, addr: X, ...TLBI_NO_RANGE });
    expect(state(['EL2X', 'A1X'])).toEqual({ EL2X: 'miss', A1X: 'hit' });
    tb.cmdSync({ op: 'CMD_TLBI_EL2_VAA', addr: X, ...TLBI_NO_RANGE });
    expect(state(['EL2X', 'A1X'])).toEqual({ EL2X: 'miss', A1X: 'hit' });
  });

  it('EL2-E2H StreamWorld (STRW = 2, CR2.E2H = 1): entries carry the CD ASID; TLBI_EL2_ASID removes that ASID\'s non-global entries, NH_ASID does not', () => {
    const tb = new Testbed({ e2h: true });
    const p = tb.s1Table();
    map(p, X, 0x100_000n, 4096n);
    map(p, G, 0x102_000n, 4096n);
    makeGlobal(tb, p, G, 0x200_000n);
    s1Stream(tb, 7, p, 9, 0, { STRW: 2 });
    const st = (): string[] => [X, G].map((a) => ok(tb.tr(7, a)).tlb);
    expect(st()).toEqual(['miss', 'miss']);
    tb.cmdSync({ op: 'CMD_TLBI_NH_ASID', vmid: 0, asid: 9 });
    tb.cmdSync({ op: 'CMD_TLBI_NH_ALL', vmid: 0 });
    tb.cmdSync({ op: 'CMD_TLBI_EL2_ASID', asid: 8 });
    expect(st()).toEqual(['hit', 'hit']);
    tb.cmdSync({ op: 'CMD_TLBI_EL2_ASID', asid: 9 });
    expect(st()).toEqual(['miss', 'hit']);
    tb.cmdSync({ op: 'CMD_TLBI_EL2_VA', asid: 8, addr: G, ...TLBI_NO_RANGE }); // a global entry matches any ASID
    expect(st()).toEqual(['hit', 'miss']);
    tb.cmdSync({ op: 'CMD_TLBI_EL2_ALL' });
    expect(st()).toEqual(['miss', 'miss']);
  });

  it('8-bit ASIDs / VMIDs (ASID16 = VMID16 = 0): the upper command bits are ignored', () => {
    const tb = new Testbed({ features: { asid16: false, vmid16: false } });
    const p = tb.s1Table();
    map(p, X, 0x100_000n, 4096n);
    s1Stream(tb, 1, p, 0x21, 0x05);
    expect(ok(tb.tr(1, X)).tlb).toBe('miss');
    tb.cmdSync({ op: 'CMD_TLBI_NH_ASID', vmid: 0x105, asid: 0x321 });
    expect(ok(tb.tr(1, X)).tlb).toBe('miss');
  });

  it('TTB1 (VA[55] = 1) entries: TLBI_NH_VA with the TTB1 address removes them, the same low bits in TTB0 do not', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, 0x8000_0000_1000n, 0xc000_0000n, 4096n); // TTB1 VA 0xffff_8000_0000_1000 indexes like this
    map(pgt, 0x1000n, 0xd000_0000n, 4096n);
    const s1 = pgt.s1;
    const cd = tb.cdTable(0);
    tb.writeCd(cd, cdFor(pgt, 1, { EPD1: 0, T1SZ: 16, TG1: 2, TTB1: s1?.ttbr ?? 0n }));
    tb.writeSte(1, { V: 1, Config: 0b101, S1ContextPtr: cd });
    const hiVa = 0xffff_8000_0000_1000n;
    expect(ok(tb.tr(1, hiVa + 4n)).pa).toBe(0xc000_0004n);
    expect(ok(tb.tr(1, 0x1004n)).pa).toBe(0xd000_0004n);
    tb.cmdSync(va('CMD_TLBI_NH_VA', 0, 1, 0x0000_8000_0000_1000n));
    expect(ok(tb.tr(1, hiVa)).tlb).toBe('hit');
    tb.cmdSync(va('CMD_TLBI_NH_VA', 0, 1, hiVa));
    expect(ok(tb.tr(1, hiVa)).tlb).toBe('miss');
    expect(ok(tb.tr(1, 0x1000n)).tlb).toBe('hit');
  });
});

// -----------------------------------------------------------------------------

describe('range invalidation (TG / NUM / SCALE)', () => {
  /** Which of R0..R4 (sid 1, stage 1; or sid 4, stage 2) still hit. */
  function rs(tb: Testbed, sid: number): string {
    let s = '';
    for (let i = 0; i < 5; i++) s += ok(tb.tr(sid, R(i))).tlb === 'hit' ? 'h' : 'm';
    return s;
  }

  it('NH_VA, TG = 4KB, NUM = 2, SCALE = 0: exactly the three pages from Address', () => {
    const { tb } = world();
    tb.cmdSync(va('CMD_TLBI_NH_VA', 5, 1, R(1), { tg: 1, num: 2, scale: 0, ttl: 3, leaf: true }));
    expect(rs(tb, 1)).toBe('hmmmh');
    expect(rs(tb, 4)).toBe('hhhhh');
  });

  it('NH_VA, TG = 4KB, NUM = 0, SCALE = 1: two pages', () => {
    const { tb } = world();
    tb.cmdSync(va('CMD_TLBI_NH_VA', 5, 1, R(2), { tg: 1, num: 0, scale: 1, ttl: 3 }));
    expect(rs(tb, 1)).toBe('hhmmh');
  });

  it('NH_VA, TG = 4KB, NUM = 1, SCALE = 1: four pages (NUM + 1) x 2^SCALE; other ASIDs untouched', () => {
    const { tb, state } = world();
    tb.cmdSync(va('CMD_TLBI_NH_VA', 5, 1, R(0), { tg: 1, num: 1, scale: 1, ttl: 0 }));
    expect(rs(tb, 1)).toBe('mmmmh');
    expect(state(['A2X', 'A2Y'])).toEqual({ A2X: 'hit', A2Y: 'hit' });
  });

  it('NH_VAA range; and a range that covers part of a 2MB block removes the block', () => {
    const { tb } = world();
    tb.cmdSync(vaa(5, R(3), { tg: 1, num: 1, scale: 0, ttl: 3 }));
    expect(rs(tb, 1)).toBe('hhhmm');
    tb.cmdSync(vaa(5, B + 0x10_0000n, { tg: 1, num: 0, scale: 0, ttl: 3 }));
    expect(ok(tb.tr(1, B)).tlb).toBe('miss');
  });

  it('S2_IPA range: exactly the IPAs in range, of that VMID', () => {
    const { tb } = world();
    tb.cmdSync(ipa(5, R(1), { tg: 1, num: 1, scale: 0, ttl: 3 }));
    expect(rs(tb, 4)).toBe('hmmhh');
    expect(rs(tb, 1)).toBe('hhhhh');
    tb.cmdSync(ipa(6, R(0), { tg: 1, num: 4, scale: 0, ttl: 3 }));
    expect(rs(tb, 4)).toBe('hhhhh');
  });
});

describe('range invalidation with 16KB and 64KB granules', () => {
  for (const { g, tg } of [
    { g: 16384, tg: 2 },
    { g: 65536, tg: 3 },
  ] as const) {
    it(`TG = ${tg} (${g / 1024}KB): NUM = 1 removes exactly two ${g / 1024}KB pages; a 4KB-granule range inside a page removes that page`, () => {
      const tb = new Testbed();
      const pgt = tb.s1Table(g);
      const G = BigInt(g);
      for (let i = 0; i < 5; i++) map(pgt, 0x100_0000n + BigInt(i) * G, 0x8000_0000n + BigInt(i) * G, G);
      s1Stream(tb, 1, pgt, 1, 5);
      const st = () => [0, 1, 2, 3, 4].map((i) => (ok(tb.tr(1, 0x100_0000n + BigInt(i) * G)).tlb === 'hit' ? 'h' : 'm')).join('');
      expect(st()).toBe('mmmmm');
      tb.cmdSync(va('CMD_TLBI_NH_VA', 5, 1, 0x100_0000n + G, { tg, num: 1, scale: 0, ttl: 3, leaf: true }));
      expect(st()).toBe('hmmhh');
      tb.cmdSync(va('CMD_TLBI_NH_VA', 5, 1, 0x100_0000n + 4n * G + 0x3000n, { tg: 1, num: 0, scale: 0, ttl: 3 }));
      expect(st()).toBe('hhhhm');
    });
  }
});

describe('stage-1 entries are shared only where the architecture says', () => {
  it('two streams with the same ASID and VMID share entries; a different VMID does not', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, X, 0x1234_5000n, 4096n);
    s1Stream(tb, 1, pgt, 4, 5);
    s1Stream(tb, 2, pgt, 4, 5);
    s1Stream(tb, 3, pgt, 4, 6);
    expect(ok(tb.tr(1, X)).tlb).toBe('miss');
    expect(ok(tb.tr(2, X))).toMatchObject({ tlb: 'hit', accesses: 2 }); // STE + CD only
    expect(ok(tb.tr(3, X))).toMatchObject({ tlb: 'miss', accesses: 6 });
  });

  it('TLB entries survive configuration invalidation (CFGI_ALL is not a TLBI)', () => {
    const tb = new Testbed();
    const pgt = tb.s1Table();
    map(pgt, X, 0x1234_5000n, 4096n);
    s1Stream(tb, 1, pgt, 4, 5);
    ok(tb.tr(1, X));
    tb.mem.write64(leafPtr(tb.mem, pgt, X), 0n);
    tb.cmdSync({ op: 'CMD_CFGI_ALL' });
    expect(ok(tb.tr(1, X))).toMatchObject({ tlb: 'hit', pa: 0x1234_5000n, accesses: 2 });
    tb.cmdSync({ op: 'CMD_TLBI_NH_ALL', vmid: 5 });
    expect(tb.tr(1, X).kind).toBe('fault');
  });
});
