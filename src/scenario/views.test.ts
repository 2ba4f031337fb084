/**
 * View builders: real emulator states (testbed SMMUs, the four designs) in,
 * view-model JSON out, with the values checked; building views never changes
 * emulator state; random memory never makes a view throw.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Granule, encodeS1Leaf, encodeS1Table, encodeS2Leaf, encodeS2Table } from '../emu/descriptor';
import { MACHINE, makeDesign } from '../emu/hyp/designs';
import type { NestedHyp } from '../emu/hyp/nested';
import { PageOwnership } from '../emu/hyp/ownership';
import { PhysicalMemory } from '../emu/memory';
import { encodeCommand } from '../emu/smmu/commands';
import { type EventRecord, encodeEvent } from '../emu/smmu/events';
import { withDefaults } from '../emu/smmu/features';
import { CR0_EVTQEN, CR0_SMMUEN } from '../emu/smmu/registers';
import { Smmu, type TranslateRequest } from '../emu/smmu/smmu';
import { STE_FIELDS, type Ste, encodeSte } from '../emu/smmu/ste';
import { encodeCd } from '../emu/smmu/cd';
import { CMDQ_ADDR, EVTQ_ADDR, RO, RW, STRTAB_ADDR, Testbed, cdFor, map, mapTablesIdentity, s2Fields } from '../emu/smmu/testbed';
import type { PtNode, PtTableRef, RegisterView, StreamRow } from './view';
import {
  cdView,
  commandView,
  descriptorView,
  errorView,
  eventView,
  hx,
  l1cdView,
  l1stdView,
  ownershipView,
  ptTree,
  queueView,
  registerView,
  shadowPairs,
  steDiff,
  steView,
  streamRows,
  strtabView,
  tableRefsFromStreams,
  walkView,
} from './views';

const F = withDefaults();
const S1: Partial<Ste> = { V: 1, Config: 0b101 };
const S2ONLY: Partial<Ste> = { V: 1, Config: 0b110 };
const NESTED: Partial<Ste> = { V: 1, Config: 0b111 };
const HEX = /^0x(0|[1-9a-f][0-9a-f]*)$/;

function fieldOf(v: RegisterView, name: string) {
  const f = v.fields.find((x) => x.name === name);
  if (!f) throw new Error(`no field ${name} in ${v.title}`);
  return f;
}

function rowOf(rows: StreamRow[], sid: number): StreamRow {
  const r = rows.find((x) => x.sid === sid);
  if (!r) throw new Error(`no row for SID ${sid}`);
  return r;
}

/** Every `Hex`-looking string in a view is canonical lower-case 0x hex. */
function expectCanonicalHex(x: unknown): void {
  const bad: string[] = [];
  const visit = (v: unknown, key: string): void => {
    if (typeof v === 'string') {
      if (v.startsWith('0x') && ['value', 'addr', 'desc', 'oa', 'iaBase', 'iaSize', 'root', 'base', 'size', 'pa', 'ipa', 'iova', 'ttb0', 's2ttb', 's1ContextPtr', 'ia', 'code'].includes(key) && !HEX.test(v)) bad.push(`${key}=${v}`);
    } else if (Array.isArray(v)) v.forEach((e) => visit(e, key === 'raw' ? 'value' : key));
    else if (v && typeof v === 'object') for (const [k, e] of Object.entries(v)) visit(e, k);
  };
  visit(x, '');
  expect(bad).toEqual([]);
}

// -----------------------------------------------------------------------------

describe('registerView', () => {
  it('positions are absolute over the structure; values are shifted-down canonical hex; width is 64 x dwords', () => {
    const raw = [0xffn, 0xabcn << 4n, 0n];
    const v = registerView('T', raw, [
      { name: 'Lo', hi: 7, lo: 0, doc: 'low byte' },
      { name: 'Mid', hi: 79, lo: 68, doc: 'in dword 1' },
      { name: 'Zero', hi: 191, lo: 128, doc: 'dword 2' },
    ], ['n'], ['w'], (name, val) => (name === 'Mid' ? `mid ${val}` : undefined));
    expect(v.width).toBe(192);
    expect(v.raw).toEqual(['0xff', '0xabc0', '0x0']);
    expect(v.fields.map((f) => [f.name, f.hi, f.lo, f.value])).toEqual([
      ['Lo', 7, 0, '0xff'],
      ['Mid', 79, 68, '0xabc'],
      ['Zero', 191, 128, '0x0'],
    ]);
    expect(fieldOf(v, 'Mid').meaning).toBe('mid 2748');
    expect(fieldOf(v, 'Lo').meaning).toBeUndefined();
    expect(fieldOf(v, 'Lo').doc).toBe('low byte');
    expect(v.notes).toEqual(['n']);
    expect(v.warnings).toEqual(['w']);
  });

  it('STE_FIELDS positions are used as they are (dword 3 bit 4 = bit 196)', () => {
    const dw = encodeSte({ V: 1, Config: 0b110, S2TTB: 0x1234_5000n });
    const v = registerView('x', dw, STE_FIELDS);
    expect(fieldOf(v, 'S2TTB')).toMatchObject({ hi: 243, lo: 196, value: hx(0x1234_5000n >> 4n) });
  });
});

describe('structure views', () => {
  it('STE: S1 config meaning, CD pointer, stage-2 fields under S1 flagged, RES0 bits flagged', () => {
    const dw = encodeSte({ ...S1, S1ContextPtr: 0x1_0000n, S2TTB: 0x2000n });
    dw[5] = 0x10n;
    const v = steView(7, dw, F);
    expect(v.title).toBe('STE 7');
    expect(v.width).toBe(512);
    expect(fieldOf(v, 'Config')).toMatchObject({ value: '0x5', meaning: '0b101: S1 translate, S2 bypass' });
    expect(fieldOf(v, 'S1ContextPtr').meaning).toBe('CD table at 0x10000');
    expect(v.notes).toContain('CD table at PA 0x10000: linear, 1 CD');
    expect(v.warnings.some((w) => w.includes('S2TTB') && w.includes('does not enable stage 2'))).toBe(true);
    expect(v.warnings).toContain('STE: RES0 bits set in dword 5 (0x10); software must write them as 0');
  });

  it('STE: an ILLEGAL reason, S2 meanings, and fields set under Config = abort', () => {
    const ill = steView(1, encodeSte({ ...S1, S1STALLD: 1 }), F);
    expect(ill.warnings[0]).toMatch(/^ILLEGAL \(C_BAD_STE\): S1STALLD = 1/);
    const s2 = steView(2, encodeSte({ ...S2ONLY, S2T0SZ: 24, S2SL0: 1, S2TG: 0, S2PS: 5, S2AA64: 1, S2R: 1, S2VMID: 9, S2TTB: 0x8000_0000n }), F);
    expect(fieldOf(s2, 'S2SL0').meaning).toBe('walk starts at level 1');
    expect(fieldOf(s2, 'S2TG').meaning).toBe('4KB granule');
    expect(fieldOf(s2, 'S2T0SZ').meaning).toBe('40-bit IPA space');
    expect(s2.notes).toContain('S2: 4KB granule, 40-bit IPA, start level 1 (2 concatenated tables), 48-bit PA, S2TTB 0x80000000, VMID 9');
    expect(s2.warnings).toEqual([]);
    const abort = steView(3, encodeSte({ V: 1, Config: 0, S2TTB: 0x4000n }), F);
    expect(abort.warnings.some((w) => w.startsWith('V = 1 with Config = abort') && w.includes('S2TTB'))).toBe(true);
    const clean = steView(4, encodeSte({ V: 1, Config: 0 }), F);
    expect(clean.warnings).toEqual([]);
    expect(clean.notes[0]).toContain('abort');
  });

  it('CD: ASID, TTB0, granule meanings, MAIR decode; EPD0 = 0 with TTB0 = 0 and ILLEGAL reasons warned', () => {
    const v = cdView(1, 0, encodeCd({ V: 1, A: 1, R: 1, AA64: 1, T0SZ: 16, TG0: 0, TG1: 2, EPD1: 1, IPS: 5, ASID: 42, TTB0: 0x4000_1000n, MAIR0: 0x0004_44ff }), F);
    expect(v.title).toBe('CD 0 of SID 1');
    expect(fieldOf(v, 'ASID')).toMatchObject({ value: '0x2a', meaning: 'ASID 42' });
    expect(fieldOf(v, 'TTB0').meaning).toBe('table at 0x40001000');
    expect(fieldOf(v, 'TG1').meaning).toBe('4KB granule');
    expect(fieldOf(v, 'MAIR0').meaning).toBe('Attr0 Normal WB RW-alloc; Attr1 Normal NC; Attr2 Device-nGnRE; Attr3 Device-nGnRnE');
    expect(v.notes).toContain('TTB0 0x40001000: 4KB granule, 48-bit VA, start level 0');
    expect(v.warnings).toEqual([]);
    const zero = cdView(1, 0, encodeCd({ V: 1, A: 1, R: 1, AA64: 1, T0SZ: 16, EPD1: 1, IPS: 5, TTB0: 0n }), F);
    expect(zero.warnings).toContain('EPD0 = 0 but TTB0 = 0: low-half walks read a table at address 0');
    const ill = cdView(1, 2, encodeCd({ V: 1, A: 0, AA64: 1 }), F);
    expect(ill.warnings[0]).toMatch(/^ILLEGAL \(C_BAD_CD\): A = 0/);
  });

  it('L1STD and L1CD', () => {
    const v = l1stdView((0x4000_8000n) | 9n, 8, 3);
    expect(v.title).toBe('L1STD 3');
    expect(fieldOf(v, 'Span')).toMatchObject({ value: '0x9', meaning: '256 STEs' });
    expect(fieldOf(v, 'L2Ptr').meaning).toBe('STE array at 0x40008000');
    expect(l1stdView(0x4000_8000n | 10n, 8).warnings).toContain('Span 10 > SPLIT + 1 = 9: treated as invalid');
    const c = l1cdView(0x5000_0000n | 1n, 2, { sid: 4 });
    expect(c.title).toBe('L1CD 2 of SID 4');
    expect(fieldOf(c, 'L2Ptr').meaning).toBe('CD table at 0x50000000');
    expect(l1cdView(0x5000_0002n).warnings).toEqual(['L1CD: RES0 bits set in dword 0 (0x2); software must write them as 0']);
  });

  it('descriptors: titles, OA / next-table meanings, attributes, AF = 0 and reserved encodings warned', () => {
    const page = encodeS1Leaf(0x9000_1000n, 4096, 3, { attrIndx: 1, ap: 1, sh: 3, af: true, nG: true });
    const v = descriptorView(page, 1, 3, 4096);
    expect(v.title).toBe('L3 page descriptor (stage 1)');
    expect(fieldOf(v, 'OA').meaning).toBe('output 0x90001000 (4KB page)');
    expect(fieldOf(v, 'AttrIndx').meaning).toBe('MAIR attribute 1');
    expect(fieldOf(v, 'SH').meaning).toBe('inner shareable');
    expect(fieldOf(v, 'AP[1]').meaning).toBe('EL0 access allowed');
    expect(v.warnings).toEqual([]);
    const blk = encodeS2Leaf(0x4020_0000n, 4096, 2, { memAttr: 0xf, s2ap: 3, af: false });
    const b = descriptorView(blk, 2, 2, 4096);
    expect(b.title).toBe('L2 block descriptor (stage 2)');
    expect(fieldOf(b, 'MemAttr').meaning).toBe('Normal WB');
    expect(fieldOf(b, 'S2AP').meaning).toBe('read/write');
    expect(b.notes[0]).toBe('2MB block → 0x40200000, S2AP read/write, Normal WB');
    expect(b.warnings[0]).toMatch(/^AF = 0/);
    const t = descriptorView(encodeS1Table(0x4000_d000n, 4096), 1, 0, 4096);
    expect(t.title).toBe('L0 table descriptor (stage 1)');
    expect(fieldOf(t, 'NLTA').meaning).toBe('next-level table at 0x4000d000');
    expect(descriptorView(1n, 1, 3, 4096).warnings[0]).toMatch(/reserved/);
    expect(descriptorView(encodeS1Leaf(0n, 4096, 1, { af: true }) & ~2n, 1, 0, 4096).title).toBe('L0 reserved descriptor (stage 1)');
    expect(descriptorView(encodeS2Leaf(0x4020_1000n, 4096, 2, { af: true }), 2, 2, 4096).warnings).toContain(
      'output address bits below the 2MB block size are set: RES0',
    );
    // 64KB granule, a 512MB block at level 2.
    const b64 = descriptorView(encodeS2Leaf(0x2000_0000n, 65536, 2, { af: true, s2ap: 1 }), 2, 2, 65536);
    expect(fieldOf(b64, 'OA').meaning).toBe('output 0x20000000 (512MB block)');
    expect(descriptorView(0n, 1, 2, 4096).title).toBe('L2 invalid descriptor (stage 1)');
  });

  it('commands: CMD_SYNC decoded, unknown opcodes and RES0 bits warned', () => {
    const [d0, d1] = encodeCommand({ op: 'CMD_SYNC', cs: 1, msh: 3, msiattr: 0xf, msidata: 0x1234, msiaddr: 0x4000_0000n });
    const v = commandView(d0, d1);
    expect(v.title).toBe('CMD_SYNC');
    expect(v.width).toBe(128);
    expect(fieldOf(v, 'Opcode').meaning).toBe('CMD_SYNC');
    expect(fieldOf(v, 'CS').meaning).toBe('IRQ (MSI write)');
    expect(fieldOf(v, 'MSIAddr').meaning).toBe('0x40000000');
    expect(v.notes[0]).toBe('CMD_SYNC cs=0x1 msh=0x3 msiattr=0xf msidata=0x1234 msiaddr=0x40000000');
    expect(v.warnings).toEqual([]);
    expect(commandView(0xffn, 0n).warnings).toEqual(['ILLEGAL (CERROR_ILL): unknown opcode 0xff']);
    const [t0, t1] = encodeCommand({ op: 'CMD_TLBI_NH_ASID', vmid: 0, asid: 5 });
    expect(commandView(t0 | (1n << 20n), t1).warnings).toEqual(['RES0 bits set in dword 0 (0x100000): ignored by this SMMU']);
  });

  it('events: a decoded record with its layout fields; unknown types warned', () => {
    const e: EventRecord = { type: 'F_TRANSLATION', code: 0x10, sid: 4, ssv: false, ssid: 0, rnw: true, s2: true, cls: 'TT', ttRead: true, inputAddr: 0x1234_5000n, ipa: 0x4000_0000n };
    const v = eventView(encodeEvent(e));
    expect(v.title).toBe('F_TRANSLATION');
    expect(v.width).toBe(256);
    expect(fieldOf(v, 'Type').meaning).toBe('F_TRANSLATION');
    expect(fieldOf(v, 'CLASS').meaning).toBe('TT: translation table walk');
    expect(fieldOf(v, 'IPA').meaning).toBe('0x40000000');
    expect(v.notes[0]).toBe('F_TRANSLATION sid=0x4 read s2 TT(read) addr=0x12345000 ipa=0x40000000');
    expect(eventView([0x77n, 0n, 0n, 0n]).warnings).toEqual(['unknown event type 0x77']);
  });
});

// -----------------------------------------------------------------------------

const VA = 0x12_3456_7000n;
const IPA = 0x4000_0000n;
const PA = 0x9000_0000n;

/** A nested stream as smmu.test.ts builds it: S1 tables and CD identity-mapped at S2 (4KB pages), IPA -> PA. */
function nestedStream(tb: Testbed, sid: number, o: { mapCd?: boolean; cdPa?: bigint } = {}) {
  const s1 = tb.s1Table();
  const s2 = tb.s2Table();
  map(s1, VA, IPA, 4096n, RW);
  map(s2, IPA, PA, 4096n, RW);
  mapTablesIdentity(s2, s1);
  const cd = tb.cdTable(0);
  const cdPa = o.cdPa ?? cd;
  if (o.mapCd !== false) map(s2, cd & ~0xfffn, cdPa & ~0xfffn, 4096n, RO);
  tb.writeCd(cdPa + (cd & 0xfffn) - (cdPa & 0xfffn), cdFor(s1, 7));
  tb.writeSte(sid, { ...NESTED, S1ContextPtr: cd, ...s2Fields(s2, 9) });
  return { s1, s2, cd };
}

describe('streamRows / strtabView', () => {
  it('linear table: S1, S2, bypass, invalid and ILLEGAL STEs, with devices, extra SIDs and the cap', () => {
    const tb = new Testbed();
    const s1 = tb.s1Table();
    map(s1, 0x1000n, 0x8000_0000n, 4096n);
    const cd = tb.cdTable(0);
    tb.writeCd(cd, cdFor(s1, 5));
    tb.writeSte(3, { ...S1, S1ContextPtr: cd });
    const s2 = tb.s2Table(4096, 40);
    tb.writeSte(4, { ...S2ONLY, ...s2Fields(s2, 6) });
    tb.writeSte(5, { V: 1, Config: 0b100 });
    tb.writeSte(6, { V: 0, S2TTB: 0x1000n });
    tb.writeSte(7, { ...S1, S1ContextPtr: cd, S1STALLD: 1 });
    const rows = streamRows(tb.smmu, tb.mem, { devices: new Map([[3, 'nic']]), sids: [9] });
    expect(rows.map((r) => [r.sid, r.config])).toEqual([
      [3, 's1'],
      [4, 's2'],
      [5, 'bypass'],
      [6, 'invalid'],
      [7, 'illegal'],
      [9, 'invalid'],
    ]);
    const r3 = rowOf(rows, 3);
    expect(r3).toMatchObject({ addr: hx(STRTAB_ADDR + 3n * 64n), valid: true, asid: 5, s1ContextPtr: hx(cd), device: 'nic', vmid: 0 });
    expect(r3.s2ttb).toBeUndefined();
    expect(r3.l1std).toBeUndefined();
    expect(r3.cds).toHaveLength(1);
    expect(r3.cds[0]).toMatchObject({ ssid: 0, addr: hx(cd), valid: true, asid: 5, ttb0: hx(s1.s1?.ttbr ?? -1n) });
    expect(r3.cds[0].cd.title).toBe('CD 0 of SID 3');
    expect(r3.ste.title).toBe('STE 3');
    const r4 = rowOf(rows, 4);
    expect(r4).toMatchObject({ vmid: 6, s2ttb: hx(s2.s2?.vttbr ?? -1n), cds: [] });
    expect(r4.asid).toBeUndefined();
    expect(rowOf(rows, 6).valid).toBe(false);
    expect(rowOf(rows, 7).illegal).toMatch(/S1STALLD/);
    expect(rowOf(rows, 9).ste.raw).toEqual(Array(8).fill('0x0'));
    expect(streamRows(tb.smmu, tb.mem, { max: 2 }).map((r) => r.sid)).toEqual([3, 4]);
    expect(strtabView(tb.smmu)).toEqual({ fmt: 'linear', base: hx(STRTAB_ADDR), log2size: 8, split: 0, smmuen: true, gbpaAbort: false });
    expectCanonicalHex(rows);
  });

  it('2-level stream table: each row carries its L1STD; SIDs in two level-2 arrays', () => {
    const tb = new Testbed({ strtab: { fmt: '2level', log2size: 16, split: 8 } });
    tb.writeSte(2, { V: 1, Config: 0b100 });
    tb.writeSte(300, { V: 1, Config: 0b100 });
    const rows = streamRows(tb.smmu, tb.mem);
    expect(rows.map((r) => r.sid)).toEqual([2, 300]);
    expect(rows[0].l1std?.title).toBe('L1STD 0');
    expect(rows[1].l1std?.title).toBe('L1STD 1');
    expect(fieldOf(rows[1].l1std as RegisterView, 'Span').value).toBe('0x9');
    expect(rows[1].addr).toBe(hx(tb.steAddr(300)));
    expect(strtabView(tb.smmu)).toMatchObject({ fmt: '2-level', log2size: 16, split: 8 });
    // An SID whose L1STD is invalid is unreachable.
    const r = streamRows(tb.smmu, tb.mem, { sids: [1000] });
    expect(rowOf(r, 1000)).toMatchObject({ config: 'invalid', valid: false });
    expect(rowOf(r, 1000).ste.warnings[0]).toMatch(/^unreachable: the L1STD for StreamID 1000 is invalid/);
  });

  it('2-level CD table (S1Fmt = 1): CD rows for the SSIDs written, each with its L1CD', () => {
    const tb = new Testbed();
    const s1 = tb.s1Table();
    const l1 = tb.cdL1Table(8, 6);
    const leaf0 = tb.cdLeaf(l1, 0, 6);
    const leaf1 = tb.cdLeaf(l1, 1, 6);
    tb.writeCd(leaf0, cdFor(s1, 11));
    tb.writeCd(leaf1 + 6n * 64n, cdFor(s1, 12));
    tb.writeSte(1, { ...S1, S1ContextPtr: l1, S1CDMax: 8, S1Fmt: 1, S1DSS: 2 });
    const row = rowOf(streamRows(tb.smmu, tb.mem), 1);
    expect(row.cds.map((c) => [c.ssid, c.asid, c.addr])).toEqual([
      [0, 11, hx(leaf0)],
      [70, 12, hx(leaf1 + 6n * 64n)],
    ]);
    expect(row.asid).toBe(11);
    expect(row.cds[1].l1cd?.title).toBe('L1CD 1 of SID 1');
    expect(fieldOf(row.cds[1].l1cd as RegisterView, 'L2Ptr').meaning).toBe(`CD table at ${hx(leaf1)}`);
  });

  it('nested: the CD pointer (an IPA) is translated through stage 2; an untranslatable one omits the CDs with a warning', () => {
    const tb = new Testbed();
    const elsewhere = 0x0500_0000n;
    const { cd } = nestedStream(tb, 4, { cdPa: elsewhere });
    const row = rowOf(streamRows(tb.smmu, tb.mem), 4);
    expect(row.config).toBe('nested');
    expect(row.s1ContextPtr).toBe(hx(cd));
    expect(row.cds[0].addr).toBe(hx(elsewhere + (cd & 0xfffn)));
    expect(row.asid).toBe(7);
    expect(row.vmid).toBe(9);
    expect(row.cds[0].cd.notes).toContain('Nested: TTB0/TTB1 and every table address are IPAs, translated through stage 2');
    expect(row.ste.notes).toContain('Config = nested: S1ContextPtr (and every L1CD.L2Ptr) is an IPA, fetched through stage 2');
    expect(row.ste.warnings).toEqual([]);
    const tb2 = new Testbed();
    nestedStream(tb2, 4, { mapCd: false });
    const r2 = rowOf(streamRows(tb2.smmu, tb2.mem), 4);
    expect(r2.cds).toEqual([]);
    expect(r2.asid).toBeUndefined();
    expect(r2.ste.warnings.some((w) => /does not translate at stage 2.*CDs not shown/.test(w))).toBe(true);
  });

  it('the designs: kernel S1 STE points at the domain; nested shadow is nested with the hyp S2; identity is S2-only', () => {
    const k = makeDesign('kernel');
    const kr = rowOf(streamRows(k.smmu, k.smmu.mem), MACHINE.sid);
    expect(kr).toMatchObject({ config: 's1', asid: 1 });
    expect(kr.l1std?.title).toBe('L1STD 0');
    const n = makeDesign('nested');
    const nr = rowOf(streamRows(n.smmu, n.smmu.mem), MACHINE.sid);
    expect(nr).toMatchObject({ config: 'nested', vmid: 0, asid: 1, s2ttb: hx((n as unknown as { hyp: NestedHyp }).hyp.s2.pgd) });
    const id = makeDesign('identity');
    expect(rowOf(streamRows(id.smmu, id.smmu.mem), MACHINE.sid)).toMatchObject({ config: 's2', cds: [] });
  });
});

describe('tableRefsFromStreams', () => {
  it('S2TTB with its VTCR geometry, TTB0 (and TTB1 unless EPD1), deduplicated, extras first, stable ids', () => {
    const tb = new Testbed();
    const s1 = tb.s1Table();
    const cdA = tb.cdTable(0);
    tb.writeCd(cdA, cdFor(s1, 1));
    tb.writeSte(1, { ...S1, S1ContextPtr: cdA });
    tb.writeSte(2, { ...S1, S1ContextPtr: cdA });
    const s1b = tb.s1Table(4096, 39);
    const cdB = tb.cdTable(0);
    tb.writeCd(cdB, cdFor(s1, 2, { EPD1: 0, T1SZ: 25, TG1: 2, TTB1: s1b.s1?.ttbr }));
    tb.writeSte(3, { ...S1, S1ContextPtr: cdB });
    const s2 = tb.s2Table(4096, 40, 40);
    tb.writeSte(4, { ...S2ONLY, ...s2Fields(s2, 3) });
    const extra: PtTableRef = { id: 'hyp', label: 'hyp S2', stage: 2, granule: 4096, startLevel: 0, root: '0x7000000', ias: 48, concat: 1, owner: 'hyp' };
    const refs = tableRefsFromStreams(streamRows(tb.smmu, tb.mem), tb.smmu, [extra]);
    const root1 = hx(s1.pgd);
    expect(refs.map((r) => r.id)).toEqual(['hyp', `s1:${root1}`, `s1:${hx(s1b.pgd)}`, `s2:${hx(s2.pgd)}`]);
    expect(refs[1]).toEqual({ id: `s1:${root1}`, label: 'S1 TTB0 of SID 1 SSID 0 (ASID 1)', stage: 1, granule: 4096, startLevel: 0, root: root1, ias: 48, concat: 1, owner: 'host' });
    expect(refs[2]).toMatchObject({ label: 'S1 TTB1 of SID 3 SSID 0 (ASID 2)', startLevel: 1, ias: 39 });
    expect(refs[3]).toMatchObject({ label: 'S2 of SID 4 (VMID 3)', stage: 2, startLevel: 1, ias: 40, concat: 2 });
    expect(tableRefsFromStreams(streamRows(tb.smmu, tb.mem), F).map((r) => r.id)).toEqual(refs.slice(1).map((r) => r.id));
  });
});

// -----------------------------------------------------------------------------

describe('queueView / errorView', () => {
  it('command queue: consumed CMD_CFGI_STE and CMD_SYNC decoded in index order, PROD = CONS', () => {
    const tb = new Testbed({ cmdqLog2: 4 });
    tb.cmdSync({ op: 'CMD_CFGI_STE', sid: 5, leaf: true });
    const q = queueView(tb.smmu, tb.mem, 'cmdq');
    expect(q).toMatchObject({ name: 'cmdq', enabled: true, base: hx(CMDQ_ADDR), log2size: 4, overflow: false });
    expect(q.prod).toEqual({ index: 2, wrap: 0, raw: 2 });
    expect(q.cons).toEqual({ index: 2, wrap: 0, raw: 2 });
    expect(q.entries.map((e) => [e.index, e.name, e.pending])).toEqual([
      [0, 'CMD_CFGI_STE', false],
      [1, 'CMD_SYNC', false],
    ]);
    expect(q.entries[0]).toMatchObject({ addr: hx(CMDQ_ADDR), text: 'CMD_CFGI_STE sid=0x5 leaf=1' });
    expect(q.entries[1].addr).toBe(hx(CMDQ_ADDR + 16n));
    expect(q.entries[1].fields.find((f) => f.name === 'CS')?.meaning).toBe('no completion signal');
    expect(errorView(tb.smmu)).toEqual({ gerror: 0, gerrorn: 0, active: [] });
  });

  it('command queue: commands not consumed (CMDQEN = 0) are pending; the wrap bit shows after a wrap', () => {
    const tb = new Testbed({ cmdqLog2: 1, cr0: CR0_SMMUEN | CR0_EVTQEN });
    tb.cmd({ op: 'CMD_TLBI_NH_ASID', vmid: 0, asid: 3 });
    tb.cmd({ op: 'CMD_TLBI_NSNH_ALL' });
    const q = queueView(tb.smmu, tb.mem, 'cmdq');
    expect(q.enabled).toBe(false);
    expect(q.prod).toEqual({ index: 0, wrap: 1, raw: 2 });
    expect(q.entries.map((e) => [e.name, e.pending])).toEqual([
      ['CMD_TLBI_NH_ASID', true],
      ['CMD_TLBI_NSNH_ALL', true],
    ]);
  });

  it('CERROR: CMDQ_CONS.ERR by name, GERROR.CMDQ_ERR active, the stuck command pending', () => {
    const tb = new Testbed();
    expect(tb.smmu.submit(0x7fn, 0n)).toBe(1);
    const q = queueView(tb.smmu, tb.mem, 'cmdq');
    expect(q.cons.err).toBe('CERROR_ILL');
    expect(q.entries).toHaveLength(1);
    expect(q.entries[0]).toMatchObject({ index: 0, pending: true, name: 'opcode 0x7f', text: 'ILLEGAL: unknown opcode 0x7f' });
    expect(errorView(tb.smmu)).toEqual({ gerror: 1, gerrorn: 0, active: ['CMDQ_ERR'], cerror: 'CERROR_ILL' });
  });

  it('event queue: records pending until software consumes them; overflow flagged', () => {
    const tb = new Testbed({ evtqLog2: 1 });
    tb.writeSte(1, { V: 1, Config: 0b110, S2R: 1, S2AA64: 1, S2T0SZ: 24, S2SL0: 1, S2PS: 5, S2TTB: 0x0400_0000n });
    tb.tr(1, 0x1000n);
    let q = queueView(tb.smmu, tb.mem, 'eventq');
    expect(q).toMatchObject({ name: 'eventq', enabled: true, base: hx(EVTQ_ADDR), log2size: 1, overflow: false });
    expect(q.entries.map((e) => [e.index, e.name, e.pending])).toEqual([[0, 'F_TRANSLATION', true]]);
    expect(q.entries[0].text).toMatch(/^F_TRANSLATION sid=0x1 read s2 IN addr=0x1000/);
    tb.drain();
    q = queueView(tb.smmu, tb.mem, 'eventq');
    expect(q.entries.map((e) => e.pending)).toEqual([false]);
    for (let i = 0; i < 4; i++) tb.tr(1, 0x2000n + BigInt(i) * 0x1000n);
    q = queueView(tb.smmu, tb.mem, 'eventq');
    expect(q.overflow).toBe(true);
    expect(q.entries.every((e) => e.name === 'F_TRANSLATION')).toBe(true);
  });
});

// -----------------------------------------------------------------------------

function traced(tb: Testbed, req: Omit<TranslateRequest, 'trace'>) {
  const full: TranslateRequest = { ...req, trace: true };
  return { req: full, res: tb.smmu.translate(full) };
}

describe('walkView', () => {
  it('a nested 4KB 4+4 walk: 24 table reads on a 5 x 4 grid plus 4 S1 cells', () => {
    const tb = new Testbed();
    nestedStream(tb, 4);
    const { req, res } = traced(tb, { sid: 4, iova: VA + 0x44n, access: 'read', priv: false });
    const w = walkView(req, res, tb.smmu);
    expect(w.request).toEqual({ sid: 4, iova: hx(VA + 0x44n), access: 'read', priv: false });
    expect(w.outcome).toEqual({ kind: 'ok', pa: hx(PA + 0x44n), ipa: hx(IPA + 0x44n), tlb: 'miss' });
    expect(w.tableReads).toBe(24);
    expect(w.accesses).toHaveLength(30);
    expect(w.accesses.map((a) => a.n)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(w.grid).toEqual({ rows: [0, 1, 2, 3, 4], cols: [0, 1, 2, 3] });
    const cells = w.accesses.filter((a) => a.row !== undefined).map((a) => `${a.row}/${a.col}`);
    expect(cells).toHaveLength(24);
    expect(new Set(cells).size).toBe(24);
    for (let r = 0; r <= 4; r++) for (let c = 0; c <= 3; c++) expect(cells).toContain(`${r}/${c}`);
    for (let r = 0; r <= 3; r++) expect(cells).toContain(`${r}/s1`);
    expect(cells).not.toContain('4/s1');
    // Configuration fetches have no grid position and carry the structure's fields.
    const ste = w.accesses[0];
    expect(ste).toMatchObject({ purpose: 'ste', stage: 0 });
    expect(ste.row).toBeUndefined();
    expect(ste.col).toBeUndefined();
    expect(ste.text).toMatch(/^STE of SID 4 at 0x[0-9a-f]+: Config = nested$/);
    expect(ste.fields.find((f) => f.name === 'Config')?.value).toBe('0x7');
    const cd = w.accesses.find((a) => a.purpose === 'cd');
    expect(cd?.fields.find((f) => f.name === 'ASID')?.value).toBe('0x7');
    expect(w.accesses.filter((a) => a.purpose === 's2-for-cd').every((a) => a.row === undefined && a.text.includes('(for the CD fetch)'))).toBe(true);
    // Plain-language sentences.
    const first = w.accesses.find((a) => a.purpose === 's2-for-s1-table') as (typeof w.accesses)[number];
    expect(first.text).toMatch(/^S2 level 0 of IPA 0x[0-9a-f]+ \(for S1 level 0 table\): table descriptor → next table at 0x[0-9a-f]+$/);
    expect(first.fields.find((f) => f.name === 'NLTA')).toBeDefined();
    const leaf = w.accesses.filter((a) => a.purpose === 's1-table').at(-1);
    expect(leaf?.text).toBe(`S1 level 3 of VA ${hx(VA + 0x44n)}: 4KB page descriptor → output ${hx(IPA + 0x44n)}`);
    expect(leaf?.kind).toBe('page');
    const out = w.accesses.at(-1);
    expect(out?.text).toBe(`S2 level 3 of IPA ${hx(IPA + 0x44n)} (for the output address): 4KB page descriptor → output ${hx(PA + 0x44n)}`);
    expect(out).toMatchObject({ row: 4, col: 3, stage: 2, level: 3, ia: hx(IPA + 0x44n) });
    expectCanonicalHex(w);
  });

  it('a cached configuration and an S1 fault at level 2: rows 0..2, fault outcome with the event record', () => {
    const tb = new Testbed();
    nestedStream(tb, 4);
    tb.tr(4, VA);
    const { req, res } = traced(tb, { sid: 4, iova: VA + 0x10_0000n, access: 'write', priv: false });
    const w = walkView(req, res, tb.smmu);
    expect(w.accesses.some((a) => a.purpose === 'ste' || a.purpose === 'cd')).toBe(false);
    expect(w.tableReads).toBe(3 + 3 * 4);
    expect(w.grid).toEqual({ rows: [0, 1, 2], cols: [0, 1, 2, 3] });
    expect(w.outcome).toMatchObject({ kind: 'fault', type: 'F_TRANSLATION', code: '0x10' });
    if (w.outcome.kind === 'fault') {
      expect(w.outcome.record.title).toBe('F_TRANSLATION');
      expect(w.outcome.text).toMatch(/^F_TRANSLATION sid=0x4 write/);
      expect(w.outcome.reason).toMatch(/stage-1 level 2 descriptor is invalid/);
    }
    expect(w.accesses.at(-1)?.text).toMatch(/invalid descriptor → translation fault$/);
  });

  it('stage 1 only: STE + CD + 4 table reads, no grid; bypass and abort outcomes', () => {
    const tb = new Testbed();
    const s1 = tb.s1Table(16384);
    map(s1, 0x4000n, 0x8000_4000n, 16384n);
    const cd = tb.cdTable(0);
    tb.writeCd(cd, cdFor(s1, 3));
    tb.writeSte(1, { ...S1, S1ContextPtr: cd });
    const { req, res } = traced(tb, { sid: 1, iova: 0x4010n, access: 'read', priv: true });
    const w = walkView(req, res);
    expect(w.tableReads).toBe(4);
    expect(w.grid).toBeUndefined();
    expect(w.accesses.every((a) => a.row === undefined)).toBe(true);
    expect(w.accesses.at(-1)?.text).toBe('S1 level 3 of VA 0x4010: 16KB page descriptor → output 0x80004010');
    tb.writeSte(2, { V: 1, Config: 0b100 });
    tb.writeSte(3, { V: 1, Config: 0 });
    const b = traced(tb, { sid: 2, iova: 0x1234n, access: 'read', priv: true });
    expect(walkView(b.req, b.res).outcome).toEqual({ kind: 'bypass', pa: '0x1234' });
    const a = traced(tb, { sid: 3, iova: 0x1234n, access: 'read', priv: true });
    expect(walkView(a.req, a.res).outcome).toEqual({ kind: 'abort', reason: 'STE.Config = abort' });
  });

  it('the nested design: S2 1GB blocks give 2 S2 columns', () => {
    const d = makeDesign('nested');
    d.map(MACHINE.bufferBase, 0x1000n, 0x10000n);
    const req: TranslateRequest = { sid: MACHINE.sid, iova: 0x10008n, access: 'read', priv: true, trace: true };
    const w = walkView(req, d.smmu.translate(req), d.smmu);
    expect(w.grid).toEqual({ rows: [0, 1, 2, 3, 4], cols: [0, 1] });
    expect(w.tableReads).toBe(4 + 5 * 2);
    expect(w.outcome).toMatchObject({ kind: 'ok', pa: hx(MACHINE.bufferBase + 8n) });
  });
});

// -----------------------------------------------------------------------------

function allNodes(n: PtNode): PtNode[] {
  return [n, ...(n.children ?? []).flatMap(allNodes)];
}

describe('ptTree', () => {
  it('a kernel domain with N mapped 4KB pages has N leaves with the right OAs and IOVAs', () => {
    const d = makeDesign('kernel');
    const N = 37;
    d.map(MACHINE.bufferBase, BigInt(N) * 4096n, 0x20_0000n);
    const refs = tableRefsFromStreams(streamRows(d.smmu, d.smmu.mem), d.smmu);
    expect(refs).toHaveLength(1);
    const t = ptTree(d.smmu.mem, refs[0]);
    expect(t.leaves).toBe(N);
    expect(t.root.leafCount).toBe(N);
    expect(t.truncated).toBe(false);
    expect(t.tables).toBe(4);
    const leaves = allNodes(t.root).filter((n) => n.kind === 'page');
    expect(leaves).toHaveLength(N);
    const p5 = leaves.find((n) => n.iaBase === hx(0x20_0000n + 5n * 4096n));
    expect(p5).toMatchObject({ level: 3, oa: hx(MACHINE.bufferBase + 5n * 4096n), iaSize: '0x1000', leafCount: 1 });
    expect(p5?.fields?.find((f) => f.name === 'AF')?.value).toBe('0x1');
    expect(t.root).toMatchObject({ id: 'root', kind: 'root', index: -1, level: 0, addr: refs[0].root, iaSize: hx(1n << 48n) });
    const l0 = t.root.children?.[0] as PtNode;
    expect(l0).toMatchObject({ id: '0', kind: 'table', level: 0, index: 0, leafCount: N });
    expect(l0.children?.[0].id).toBe('0.0');
    expectCanonicalHex(t);
  });

  it('concatenated stage-2 start tables: a mapping in the second table', () => {
    const tb = new Testbed();
    const s2 = tb.s2Table(4096, 40, 40);
    expect(s2.concatenated).toBe(2);
    map(s2, 0x1000n, 0x5000_0000n, 4096n);
    map(s2, (1n << 39n) + 0x20_0000n, 0x6000_0000n, 0x20_0000n);
    tb.writeSte(1, { ...S2ONLY, ...s2Fields(s2, 1) });
    const [ref] = tableRefsFromStreams(streamRows(tb.smmu, tb.mem), tb.smmu);
    expect(ref).toMatchObject({ startLevel: 1, concat: 2, ias: 40 });
    const t = ptTree(tb.mem, ref);
    expect(t.leaves).toBe(2);
    const blk = allNodes(t.root).find((n) => n.kind === 'block');
    expect(blk).toMatchObject({ level: 2, oa: '0x60000000', iaBase: hx((1n << 39n) + 0x20_0000n), iaSize: '0x200000' });
    expect(t.root.children?.map((c) => c.index)).toEqual([0, 512]);
  });

  for (const [g, start] of [
    [16384, 0],
    [65536, 1],
  ] as Array<[Granule, number]>) {
    it(`${g / 1024}KB granule: leaves and OAs`, () => {
      const tb = new Testbed();
      const s1 = tb.s1Table(g);
      map(s1, BigInt(g) * 3n, 0x7000_0000n, BigInt(g), RW, 4);
      const ref: PtTableRef = { id: 'x', label: 'x', stage: 1, granule: g, startLevel: s1.startLevel, root: hx(s1.pgd), ias: 48, concat: 1, owner: 'host' };
      expect(s1.startLevel).toBe(start);
      const t = ptTree(tb.mem, ref);
      expect(t.leaves).toBe(4);
      const pages = allNodes(t.root).filter((n) => n.kind === 'page');
      expect(pages.map((p) => p.oa)).toEqual([0, 1, 2, 3].map((i) => hx(0x7000_0000n + BigInt(i * g))));
      expect(pages[0].iaBase).toBe(hx(BigInt(g) * 3n));
      expect(pages[0].iaSize).toBe(hx(BigInt(g)));
    });
  }

  it('malicious tables (pointing at themselves) are cut at the cap', () => {
    const mem = new PhysicalMemory([{ base: 0n, size: 1n << 24n }]);
    const root = 0x10_0000n;
    for (let i = 0; i < 512; i++) mem.write64(root + BigInt(i) * 8n, encodeS1Table(root, 4096));
    const ref: PtTableRef = { id: 'x', label: 'x', stage: 1, granule: 4096, startLevel: 0, root: hx(root), ias: 48, concat: 1, owner: 'host' };
    const t = ptTree(mem, ref, 5000);
    expect(t.truncated).toBe(true);
    expect(allNodes(t.root).length).toBeLessThanOrEqual(5000);
    // Depth is bounded by the levels: at level 3 a table descriptor is a page.
    expect(Math.max(...allNodes(t.root).map((n) => n.level))).toBe(3);
    // An ancestor loop with a small fan-out completes.
    const r2 = 0x20_0000n;
    mem.write64(r2, encodeS1Table(r2, 4096));
    const t2 = ptTree(mem, { ...ref, root: hx(r2) });
    expect(t2).toMatchObject({ truncated: false, leaves: 1, tables: 4 });
    expect(t2.root.leafCount).toBe(1);
  });

  it('S2 leaves carry stage-2 fields; reserved descriptors are invalid nodes with no leaves; no memory reads as nothing', () => {
    const mem = new PhysicalMemory([{ base: 0n, size: 1n << 24n }]);
    const root = 0x10_0000n;
    mem.write64(root, encodeS2Table(0x11_0000n, 4096));
    mem.write64(0x11_0000n, encodeS2Leaf(0x4000_0000n, 4096, 1, { af: true, s2ap: 3, memAttr: 0xf }));
    mem.write64(0x11_0008n, encodeS2Table(0x4000_0000_0000n, 4096));
    mem.write64(root + 8n, 1n);
    const t = ptTree(mem, { id: 'x', label: 'x', stage: 2, granule: 4096, startLevel: 0, root: hx(root), ias: 48, concat: 1, owner: 'hyp' });
    expect(t.leaves).toBe(1);
    const blk = allNodes(t.root).find((n) => n.kind === 'block');
    expect(blk?.fields?.find((f) => f.name === 'S2AP')?.meaning).toBe('read/write');
    expect(allNodes(t.root).find((n) => n.id === '1')).toMatchObject({ kind: 'invalid', leafCount: 0 });
    expect(allNodes(t.root).find((n) => n.id === '0.1')).toMatchObject({ kind: 'table', leafCount: 0, children: [] });
  });
});

// -----------------------------------------------------------------------------

describe('ownershipView / shadowPairs', () => {
  it('runs with owner, state, shares, DMA refcounts', () => {
    const own = new PageOwnership({ ram: [{ base: 0x4000_0000n, size: 0x10_0000n }] });
    expect(own.hostShareHyp(0x40001, 1).ok).toBe(true);
    expect(own.hostDonateGuest(0x40010, 2, 3).ok).toBe(true);
    expect(own.dmaGet(0x40020, 1).ok).toBe(true);
    const runs = ownershipView(own);
    expect(runs[0]).toEqual({ base: '0x40000000', size: '0x1000', owner: 'host', state: 'host: PKVM_PAGE_OWNED, hyp: PKVM_NOPAGE', mmio: false, dmaRefcount: 0, hypPins: 0 });
    expect(runs[1]).toMatchObject({ base: '0x40001000', size: '0x1000', owner: 'host', sharedWith: 'hyp', state: 'host: PKVM_PAGE_SHARED_OWNED, hyp: PKVM_PAGE_SHARED_BORROWED' });
    const g = runs.find((r) => r.owner === 'guest');
    expect(g).toMatchObject({ base: '0x40010000', size: '0x2000', guest: 3, state: 'host: PKVM_NOPAGE, hyp: PKVM_NOPAGE, guest 3: PKVM_PAGE_OWNED' });
    expect(runs.find((r) => r.dmaRefcount === 1)).toMatchObject({ base: '0x40020000', size: '0x1000' });
    const total = runs.reduce((s, r) => s + BigInt(r.size), 0n);
    expect(total).toBe(0x10_0000n);
  });

  it('the paravirt design: the hyp pool and the pinned buffer', () => {
    const d = makeDesign('paravirt');
    d.map(MACHINE.bufferBase, 0x3000n, 0x10000n);
    const runs = ownershipView(d.own);
    expect(runs.find((r) => r.base === hx(MACHINE.bufferBase))).toMatchObject({ size: '0x3000', owner: 'host', dmaRefcount: 1 });
    expect(runs.find((r) => r.base === hx(MACHINE.hypPool))).toMatchObject({ owner: 'hyp' });
  });

  it('nested: host STE (S1) vs shadow (nested with the hyp S2), differing fields named', () => {
    const d = makeDesign('nested');
    const hyp = (d as unknown as { hyp: NestedHyp }).hyp;
    const pairs = shadowPairs(hyp);
    const p = pairs.find((x) => x.sid === MACHINE.sid);
    expect(p).toBeDefined();
    if (!p) return;
    expect(p.hostKind).toBe('s1');
    expect(p.shadowKind).toBe('nested');
    expect(p.host?.title).toBe(`Host STE ${MACHINE.sid}`);
    expect(p.shadow?.title).toBe(`Shadow STE ${MACHINE.sid}`);
    expect(fieldOf(p.host as RegisterView, 'Config').value).toBe('0x5');
    expect(fieldOf(p.shadow as RegisterView, 'Config').value).toBe('0x7');
    expect(p.differs).toContain('Config');
    expect(p.differs).toContain('S2TTB');
    expect(p.differs).not.toContain('S1ContextPtr');
    expect(fieldOf(p.shadow as RegisterView, 'S2TTB').meaning).toBe(`S2 table at ${hx(hyp.s2.pgd)}`);
    // A custom reader wins.
    const custom = shadowPairs(hyp, () => encodeSte({ V: 1, Config: 0 }));
    expect(fieldOf(custom.find((x) => x.sid === MACHINE.sid)?.host as RegisterView, 'Config').value).toBe('0x0');
    expect(steDiff(null, encodeSte({ V: 1 }))).toEqual(['V']);
  });
});

// -----------------------------------------------------------------------------

describe('views change nothing', () => {
  it('building every view leaves stats, caches, the IOTLB, queues, memory and hyp counters untouched', () => {
    const d = makeDesign('nested');
    const hyp = (d as unknown as { hyp: NestedHyp }).hyp;
    d.map(MACHINE.bufferBase, 0x4000n, 0x10000n);
    const smmu = d.smmu;
    const mem = smmu.mem;
    const req: TranslateRequest = { sid: MACHINE.sid, iova: 0x10008n, access: 'write', priv: true, trace: true };
    const ok = smmu.translate(req);
    const badReq: TranslateRequest = { ...req, iova: 0x9000_0000n };
    const bad = smmu.translate(badReq);
    expect(bad.kind).toBe('fault');
    const snap = () =>
      JSON.stringify(
        {
          stats: smmu.stats,
          tlb: smmu.iotlb.size,
          stes: smmu.cachedStes().length,
          cds: smmu.cachedCds().length,
          events: smmu.eventLog.length,
          regs: [0x20, 0x60, 0x64, 0x80, 0x88, 0x90, 0x98, 0x9c, 0xa0, 0x100a8, 0x100ac].map((o) => smmu.readReg(o)),
          lastCerror: smmu.lastCerror,
          frames: mem.residentFrames,
          counters: hyp.counters,
          log: hyp.log.length,
          vregs: hyp.virtualRegs(),
          own: d.own.snapshot(),
        },
        (_k, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v),
      );
    const before = snap();
    const rows = streamRows(smmu, mem, { sids: [0, 1, 2, 999] });
    const refs = tableRefsFromStreams(rows, smmu);
    const views = {
      rows,
      st: strtabView(smmu),
      cq: queueView(smmu, mem, 'cmdq'),
      eq: queueView(smmu, mem, 'eventq'),
      err: errorView(smmu),
      w1: walkView(req, ok, smmu),
      w2: walkView(badReq, bad, smmu),
      trees: refs.map((r) => ptTree(mem, r)),
      own: ownershipView(d.own),
      shadow: shadowPairs(hyp),
    };
    expect(snap()).toBe(before);
    expect(views.eq.entries.length).toBeGreaterThan(0);
    expect(views.trees.length).toBe(2);
    expect(views.w2.outcome.kind).toBe('fault');
    expect(() => JSON.stringify(views)).not.toThrow();
    expectCanonicalHex(views);
  });
});

// -----------------------------------------------------------------------------

describe('bad data never throws', () => {
  const REGION = 0x10_0000n;
  const SPAN = 0x4_0000n;
  const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
  /** A word that is random, or a pointer into the region with random low bits (V, Config, Span, table bits…). */
  const word = fc.oneof(
    u64,
    fc.tuple(fc.bigInt({ min: 0n, max: SPAN - 1n }), fc.bigInt({ min: 0n, max: 0xfffn }), fc.bigInt({ min: 0n, max: 0xffffn })).map(
      ([off, low, high]) => ((REGION + off) & ~0xfffn) | low | (high << 48n),
    ),
    fc.bigInt({ min: 0n, max: 0xffn }),
  );

  /** Hot addresses: 4KB-aligned points of the region (plus a few 64-byte slots) that pointers and structures share. */
  const hot = fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 3 })).map(([k, s]) => REGION + BigInt(k) * 0x1000n + BigInt(s) * 64n);
  const small = (max: number) => fc.integer({ min: 0, max });
  /** Plausible STEs (every Config; stage-2 geometry mostly legal) pointing at hot addresses. */
  const s2Geom = fc.oneof(
    fc.constantFrom(
      { S2T0SZ: 16, S2SL0: 2, S2TG: 0, S2PS: 5, S2AA64: 1 },
      { S2T0SZ: 24, S2SL0: 1, S2TG: 0, S2PS: 2, S2AA64: 1 },
      { S2T0SZ: 25, S2SL0: 1, S2TG: 0, S2PS: 5, S2AA64: 1 },
      { S2T0SZ: 28, S2SL0: 1, S2TG: 2, S2PS: 5, S2AA64: 1 },
      { S2T0SZ: 22, S2SL0: 2, S2TG: 1, S2PS: 5, S2AA64: 1 },
    ),
    fc.record({ S2T0SZ: small(45), S2SL0: small(3), S2TG: small(3), S2PS: small(7), S2AA64: small(1) }),
  );
  const steGen = fc
    .record({
      V: fc.constantFrom(0, 1, 1, 1),
      Config: fc.constantFrom(0, 3, 4, 5, 5, 6, 6, 7, 7),
      S1Fmt: small(3),
      S1CDMax: fc.constantFrom(0, 0, 1, 3, 7, 8, 12),
      S1DSS: small(3),
      S1ContextPtr: hot,
      geom: s2Geom,
      S2R: small(1),
      S2VMID: small(300),
      S2TTB: hot,
      STRW: fc.constantFrom(0, 0, 0, 1, 2),
    })
    .map(({ geom, ...f }) => encodeSte({ ...f, ...geom }));
  /** Plausible CDs pointing at hot addresses. */
  const cdGen = fc
    .record({
      V: fc.constantFrom(0, 1, 1, 1),
      A: fc.constantFrom(0, 1, 1, 1),
      R: small(1),
      AA64: fc.constantFrom(0, 1, 1, 1),
      T0SZ: fc.constantFrom(16, 16, 25, 39, 12, 48),
      TG0: fc.constantFrom(0, 0, 1, 2, 3),
      T1SZ: fc.constantFrom(16, 25, 39),
      TG1: small(3),
      EPD0: fc.constantFrom(0, 0, 1),
      EPD1: fc.constantFrom(0, 1, 1),
      IPS: fc.constantFrom(5, 5, 2, 7),
      ASID: small(0x1ff),
      TTB0: hot,
      TTB1: hot,
    })
    .map((f) => encodeCd(f));
  const l1Gen = fc.tuple(small(12), hot, fc.boolean()).map(([span, ptr, cd]) => (cd ? (ptr & ~0xfffn) | BigInt(span & 1) : ptr | BigInt(span)));
  const tableGen = fc.tuple(hot, small(3), fc.boolean()).map(([ptr, lo, blk]) => (ptr & ~0xfffn) | BigInt(lo) | (blk ? 0x400n : 0n));
  const structs = fc.array(
    fc.tuple(
      fc.oneof(fc.integer({ min: 0, max: 63 }).map((i) => REGION + BigInt(i) * 64n), hot),
      fc.oneof(steGen, cdGen, l1Gen.map((w) => [w]), fc.array(tableGen, { minLength: 1, maxLength: 8 })),
    ),
    { minLength: 10, maxLength: 60 },
  );

  it('random stream tables, CDs, page tables and queues: every view builds, JSON-clean, canonical hex', () => {
    fc.assert(
      fc.property(
        fc.record({
          twoLevel: fc.boolean(),
          split: fc.constantFrom(6, 8, 10, 7),
          log2: fc.integer({ min: 0, max: 12 }),
          prod: fc.integer({ min: 0, max: 0xffffffff }),
          cons: fc.integer({ min: 0, max: 0xffffffff }),
          writes: fc.array(fc.tuple(fc.bigInt({ min: 0n, max: SPAN / 8n - 1n }), word), { minLength: 20, maxLength: 400 }),
          seqs: fc.array(word, { minLength: 8, maxLength: 64 }),
          structs,
          l1s: fc.array(fc.tuple(small(7), hot, small(11)), { maxLength: 6 }),
        }),
        (p) => {
          const mem = new PhysicalMemory([{ base: 0n, size: 1n << 24n }]);
          const smmu = new Smmu(mem, { sidsize: 12 });
          smmu.writeRegByName('STRTAB_BASE', REGION);
          smmu.writeRegByName('STRTAB_BASE_CFG', BigInt(p.log2 | (p.split << 6) | (p.twoLevel ? 1 << 16 : 0)));
          smmu.writeRegByName('CMDQ_BASE', REGION + 0x2_0000n + 4n);
          smmu.writeRegByName('EVENTQ_BASE', REGION + 0x3_0000n + 4n);
          smmu.writeRegByName('CMDQ_CONS', BigInt(p.cons));
          smmu.writeRegByName('EVENTQ_PROD', BigInt(p.prod));
          smmu.writeRegByName('EVENTQ_CONS', BigInt(p.cons));
          // Dense random structures at the start of the table, queues and scattered words everywhere in the region.
          p.seqs.forEach((w, i) => {
            mem.write64(REGION + BigInt(i) * 8n, w);
            mem.write64(REGION + 0x2_0000n + BigInt(i) * 8n, w);
            mem.write64(REGION + 0x3_0000n + BigInt(i) * 8n, w);
          });
          for (const [i, w] of p.writes) mem.write64(REGION + i * 8n, w);
          for (const [at, ws] of p.structs) ws.forEach((w, k) => mem.write64(at + BigInt(k) * 8n, w));
  for (const [i, ptr, span] of p.l1s) mem.write64(REGION + BigInt(i) * 8n, (ptr & ~0xfffn) | BigInt(span));
          for (const [i, ptr, span] of p.l1s) mem.write64(REGION + BigInt(i) * 8n, (ptr & ~0xfffn) | BigInt(span));
          smmu.writeRegByName('CMDQ_PROD', BigInt(p.prod));
          smmu.writeRegByName('CR0', BigInt(CR0_SMMUEN));
          const stats = JSON.stringify(smmu.stats);
          const rows = streamRows(smmu, mem, { sids: [0, 1, 2, 4095, 70000], max: 64 });
          const refs = tableRefsFromStreams(rows, smmu, [
            { id: 'r', label: 'r', stage: 2, granule: 4096, startLevel: 0, root: hx(REGION), ias: 48, concat: 1, owner: 'hyp' },
            { id: 'r16', label: 'r', stage: 1, granule: 16384, startLevel: 1, root: hx(REGION + 0x1000n), ias: 47, concat: 1, owner: 'hyp' },
            { id: 'r64', label: 'r', stage: 2, granule: 65536, startLevel: 1, root: hx(REGION), ias: 52, concat: 16, owner: 'hyp' },
          ]);
          const views = {
            rows,
            st: strtabView(smmu),
            cq: queueView(smmu, mem, 'cmdq'),
            eq: queueView(smmu, mem, 'eventq'),
            err: errorView(smmu),
            trees: refs.map((r) => ptTree(mem, r, 2000)),
            structs: p.seqs.map((w, i) => [
              descriptorView(w, (i & 1) === 0 ? 1 : 2, i & 3, ([4096, 16384, 65536] as const)[i % 3], i % 5 === 0),
              commandView(w, p.seqs[(i + 1) % p.seqs.length]),
              eventView(p.seqs.slice(i, i + 4)),
              steView(i, p.seqs.slice(i, i + 8), F),
              cdView(i, 0, p.seqs.slice(i, i + 8), F, (i & 1) === 1),
              l1stdView(w, p.split),
              l1cdView(w),
            ]),
          };
          expect(JSON.stringify(smmu.stats)).toBe(stats);
          for (const t of views.trees) expect(allNodes(t.root).length).toBeLessThanOrEqual(2000);
          // Transactions over the random configuration, traced, and their walk views.
          const walks = [0, 1, 2, 3].map((sid) => {
            const req: TranslateRequest = { sid, iova: p.seqs[sid] & 0xffff_ffff_ffffn, access: 'read', priv: true, trace: true };
            return walkView(req, smmu.translate(req), smmu);
          });
          const json = JSON.stringify({ views, walks });
          expect(json.length).toBeGreaterThan(0);
          expectCanonicalHex({ views, walks });
        },
      ),
      { numRuns: 60 },
    );
  }, 60_000);
});
