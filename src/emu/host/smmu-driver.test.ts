/**
 * The host SMMUv3 driver model against the real emulated SMMU, through a
 * direct MMIO port: probe, init, domains, attach, map/unmap with TLBI +
 * CMD_SYNC, the safe STE update order, range invalidation and CERROR
 * recovery.
 */

import { describe, expect, it } from 'vitest';
import { IOMMU_READ, IOMMU_WRITE } from '../iopgtable';
import { PhysicalMemory, TableAllocator } from '../memory';
import { type Command, decodeCommand } from '../smmu/commands';
import type { SmmuFeatures } from '../smmu/features';
import { Smmu, type TranslateResult } from '../smmu/smmu';
import { decodeSte, steConfigName } from '../smmu/ste';
import {
  type DriverLogEntry,
  type MmioPort,
  REG,
  SmmuDriver,
  type SmmuDriverOptions,
  directPort,
  entryQwordDiff,
  iommuPgsize,
  steUsedBits,
  tlbiRangeSplit,
} from './smmu-driver';

const RW = IOMMU_READ | IOMMU_WRITE;
const K4 = 0x1000n;
const M2 = 0x20_0000n;

interface Rig {
  mem: PhysicalMemory;
  smmu: Smmu;
  drv: SmmuDriver;
  port: MmioPort & { reads: number; writes: number };
}

function rig(features: Partial<SmmuFeatures> = {}, opts: SmmuDriverOptions = {}): Rig {
  const mem = new PhysicalMemory([{ base: 0n, size: 1n << 32n }]);
  const smmu = new Smmu(mem, features);
  const alloc = new TableAllocator(mem, 0x1000_0000n, 0x2000_0000n);
  const inner = directPort(smmu);
  const port = {
    reads: 0,
    writes: 0,
    read(o: number) {
      this.reads++;
      return inner.read(o);
    },
    write(o: number, v: bigint) {
      this.writes++;
      inner.write(o, v);
    },
  };
  const drv = new SmmuDriver(port, mem, alloc, opts);
  drv.probe();
  drv.init();
  return { mem, smmu, drv, port };
}

function tr(smmu: Smmu, sid: number, iova: bigint, ssid?: number): TranslateResult {
  return smmu.translate({ sid, ssid, iova, access: 'read', priv: false });
}

function okPa(r: TranslateResult): { pa: bigint; tlb: 'hit' | 'miss' } {
  if (r.kind !== 'ok') throw new Error(`expected ok, got ${r.kind}: ${'reason' in r ? r.reason : ''}`);
  return { pa: r.pa, tlb: r.tlb };
}

function faultType(r: TranslateResult): string {
  if (r.kind !== 'fault') throw new Error(`expected a fault, got ${r.kind}`);
  return r.event.type;
}

function cmds(log: DriverLogEntry[]): Command[] {
  return log.flatMap((e) => (e.kind === 'cmd' ? [e.cmd] : []));
}

function noCerror(r: Rig): void {
  expect(r.drv.cerrors).toEqual([]);
  expect(r.smmu.cmdqErrorActive).toBe(false);
  expect(r.smmu.readReg(REG.GERROR)).toBe(r.smmu.readReg(REG.GERRORN));
  expect(r.smmu.lastCerror).toBe(0);
}

describe('probe', () => {
  it('derives the features from IDR0/IDR1/IDR3/IDR5', () => {
    const mem = new PhysicalMemory();
    const smmu = new Smmu(mem, { oas: 44, sidsize: 12, ssidsize: 10, ril: false, asid16: false, vmid16: true, granules: [4096, 65536], msi: false, cd2l: false });
    const drv = new SmmuDriver(directPort(smmu), mem, new TableAllocator(mem, 0x100000n, 0x1000000n));
    const f = drv.probe();
    expect(f).toMatchObject({ s1: true, s2: true, nesting: true, twoLevelStrtab: true, sidBits: 12, ssidBits: 10, cd2l: false, oas: 44, ias: 44, ril: false, asidBits: 8, vmidBits: 16, msi: false, hyp: true, coherent: true, stalls: false });
    expect(f.granules.sort()).toEqual([4096, 65536]);
    expect(f.pgsizeBitmap).toBe((1n << 12n) | (1n << 21n) | (1n << 30n) | (1n << 16n) | (1n << 29n));
    expect(f.cmdqShift).toBe(8);
    expect(f.evtqShift).toBe(8);
  });

  it('uses a linear stream table when SIDSIZE <= SPLIT, and refuses tiny command queues', () => {
    const mem = new PhysicalMemory();
    const smmu = new Smmu(mem, { sidsize: 8 });
    expect(new SmmuDriver(directPort(smmu), mem, new TableAllocator(mem, 0n, 1n << 30n)).probe().twoLevelStrtab).toBe(false);
    const small = new Smmu(mem, { cmdqs: 6 });
    expect(() => new SmmuDriver(directPort(small), mem, new TableAllocator(mem, 0n, 1n << 30n)).probe()).toThrow(/ENXIO/);
  });
});

describe('init', () => {
  it('programs the queues, the stream table, GBPA abort, CR1/CR2, and enables the SMMU', () => {
    const r = rig();
    const { smmu, drv } = r;
    const lay = drv.layout();
    expect(smmu.smmuEnabled).toBe(true);
    expect(Number(smmu.readReg(REG.CR0))).toBe(0b1101); // SMMUEN | EVTQEN | CMDQEN
    expect(smmu.readReg(REG.CMDQ_BASE)).toBe((1n << 62n) | lay.cmdq | 8n);
    expect(smmu.readReg(REG.EVTQ_BASE)).toBe((1n << 62n) | lay.evtq | 8n);
    expect(smmu.readReg(REG.STRTAB_BASE)).toBe((1n << 62n) | lay.strtab);
    // 2-level: FMT = 1, SPLIT = 8, LOG2SIZE = 16 (256 L1 entries).
    expect(Number(smmu.readReg(REG.STRTAB_BASE_CFG))).toBe((1 << 16) | (8 << 6) | 16);
    expect(Number(smmu.readReg(REG.GBPA)) & (1 << 20)).not.toBe(0);
    expect(Number(smmu.readReg(REG.CR2))).toBe(0b110); // PTM | RECINVSID, no E2H
    expect(Number(smmu.readReg(REG.IRQ_CTRL))).toBe(0b101);
    // CFGI_ALL, TLBI_EL2_ALL (HYP), TLBI_NSNH_ALL, each with its own CMD_SYNC: three doorbells.
    expect(cmds(drv.log).map((c) => c.op)).toEqual(['CMD_CFGI_ALL', 'CMD_SYNC', 'CMD_TLBI_EL2_ALL', 'CMD_SYNC', 'CMD_TLBI_NSNH_ALL', 'CMD_SYNC']);
    expect(drv.stats.prodWrites).toBe(3);
    expect(drv.stats.syncs).toBe(3);
    expect(Number(smmu.readReg(REG.CMDQ_CONS))).toBe(6);
    // Every access went through the port, and was counted.
    expect(drv.stats.mmioReads).toBe(r.port.reads);
    expect(drv.stats.mmioWrites).toBe(r.port.writes);
    // A StreamID nobody attached: the L1STD is invalid → C_BAD_STREAMID.
    expect(faultType(tr(smmu, 3, 0x1000n))).toBe('C_BAD_STREAMID');
    noCerror(r);
  });

  it('a linear stream table starts with every STE = abort', () => {
    const r = rig({ sidsize: 6 });
    expect(Number(r.smmu.readReg(REG.STRTAB_BASE_CFG))).toBe(6);
    for (const sid of [0, 17, 63]) {
      const ste = decodeSte(r.drv.readSte(sid));
      expect([ste.V, ste.Config]).toEqual([1, 0]);
      const t = tr(r.smmu, sid, 0x1000n);
      expect(t.kind).toBe('abort');
    }
  });
});

describe('stage-1 domain', () => {
  it('attach SID 3, map 2M + 4K, translate; unmap → TLBI + SYNC → F_TRANSLATION', () => {
    const r = rig();
    const { smmu, drv } = r;
    const d = drv.allocDomain('s1');
    expect(d.asid).toBe(1);
    drv.attach(3, d);
    // The L2 stream table for bus 0 was allocated lazily, L1STD Span = SPLIT + 1.
    expect(drv.layout().l2.map(([i]) => i)).toEqual([0]);
    const ste = decodeSte(drv.readSte(3));
    expect(steConfigName(ste.Config)).toBe('s1');
    expect(ste.S1CDMax).toBe(0);
    expect(ste.S1ContextPtr).toBe(drv.layout().cdTables[0][1]);

    expect(drv.map(d, 0x4000_0000n, 0x8020_0000n, M2, RW)).toEqual({ mapped: M2 });
    expect(drv.map(d, 0x1000n, 0x9000_3000n, K4, RW)).toEqual({ mapped: K4 });
    expect(drv.iovaToPhys(d, 0x4000_0000n)?.level).toBe(2); // a 2M block

    expect(okPa(tr(smmu, 3, 0x4000_1234n))).toEqual({ pa: 0x8020_1234n, tlb: 'miss' });
    expect(okPa(tr(smmu, 3, 0x4000_1234n))).toEqual({ pa: 0x8020_1234n, tlb: 'hit' });
    expect(okPa(tr(smmu, 3, 0x1abcn))).toEqual({ pa: 0x9000_3abcn, tlb: 'miss' });
    expect(okPa(tr(smmu, 3, 0x1008n)).tlb).toBe('hit');

    const mark = drv.seq;
    const prods = drv.stats.prodWrites;
    expect(drv.unmap(d, 0x4000_0000n, M2)).toBe(M2);
    const issued = cmds(drv.logSince(mark));
    // RIL: one range TLBI covering the 2M block (TG = 4K, NUM = 0, SCALE = 9, TTL = 2, leaf), then CMD_SYNC, one doorbell.
    expect(issued.map((c) => c.op)).toEqual(['CMD_TLBI_NH_VA', 'CMD_SYNC']);
    expect(issued[0]).toMatchObject({ asid: 1, vmid: 0, addr: 0x4000_0000n, leaf: true, tg: 1, num: 0, scale: 9, ttl: 2 });
    expect(drv.stats.prodWrites - prods).toBe(1);
    expect(faultType(tr(smmu, 3, 0x4000_1234n))).toBe('F_TRANSLATION');

    expect(drv.unmap(d, 0x1000n, K4)).toBe(K4);
    expect(faultType(tr(smmu, 3, 0x1008n))).toBe('F_TRANSLATION');
    // CD.R = 1: the faults were recorded, and the driver reads them from the event queue.
    const ev = drv.drainEvents();
    expect(ev.map((e) => [e.type, e.sid, e.inputAddr])).toEqual([
      ['F_TRANSLATION', 3, 0x4000_1234n],
      ['F_TRANSLATION', 3, 0x1008n],
    ]);
    noCerror(r);
  });

  it('control: clearing the PTE without the driver TLBI + SYNC leaves the IOTLB entry live', () => {
    const r = rig();
    const d = r.drv.allocDomain('s1');
    r.drv.attach(3, d);
    r.drv.map(d, 0x4000_0000n, 0x8020_0000n, M2, RW);
    okPa(tr(r.smmu, 3, 0x4000_1234n));
    const cmdsBefore = r.drv.stats.commands;
    expect(d.pgtable.unmapPages(0x4000_0000n, M2, 1)).toBe(M2); // tables only, no gather, no TLBI
    expect(r.drv.stats.commands).toBe(cmdsBefore);
    expect(okPa(tr(r.smmu, 3, 0x4000_1234n))).toEqual({ pa: 0x8020_1234n, tlb: 'hit' }); // stale
  });

  it('detach writes the abort STE: transactions abort', () => {
    const r = rig();
    const d = r.drv.allocDomain('s1');
    r.drv.attach(3, d);
    r.drv.map(d, 0x10_0000n, 0x7000_0000n, K4, RW);
    expect(okPa(tr(r.smmu, 3, 0x10_0010n)).pa).toBe(0x7000_0010n);
    const mark = r.drv.seq;
    r.drv.detach(3);
    const ste = decodeSte(r.drv.readSte(3));
    expect([ste.V, ste.Config, ste.S1ContextPtr]).toEqual([1, 0, 0n]);
    const t = tr(r.smmu, 3, 0x10_0010n);
    expect(t.kind).toBe('abort');
    // S1 → abort is hitless: only dword 0's used bits change.
    const entry = r.drv.logSince(mark).find((e) => e.kind === 'entry' && e.what === 'ste');
    expect(entry).toMatchObject({ update: 'hitless', qwordDiff: 1 });
    // CD 0 is cleared afterwards (arm_smmu_clear_cd).
    const cdClear = r.drv.logSince(mark).find((e) => e.kind === 'entry' && e.what === 'cd');
    expect(cdClear).toMatchObject({ sid: 3, ssid: 0 });
    expect(r.drv.domainOf(3)).toBeUndefined();
    expect(d.devices.size).toBe(0);
    r.drv.freeDomain(d);
    expect(cmds(r.drv.log).slice(-2).map((c) => c.op)).toEqual(['CMD_TLBI_NH_ASID', 'CMD_SYNC']);
    noCerror(r);
  });

  it('a 64-page unmap is one range TLBI with RIL, 64 TLBIs + one SYNC without', () => {
    for (const ril of [true, false]) {
      const r = rig({ ril });
      const d = r.drv.allocDomain('s1');
      r.drv.attach(3, d);
      const base = 0x20_0000n;
      const size = 64n * K4;
      expect(r.drv.map(d, base, 0x6000_0000n, size, RW).mapped).toBe(size);
      for (let i = 0n; i < 64n; i += 9n) okPa(tr(r.smmu, 3, base + i * K4));
      expect(okPa(tr(r.smmu, 3, base + 9n * K4)).tlb).toBe('hit');
      const mark = r.drv.seq;
      const prods = r.drv.stats.prodWrites;
      expect(r.drv.unmap(d, base, size)).toBe(size);
      const issued = cmds(r.drv.logSince(mark));
      const tlbis = issued.filter((c) => c.op === 'CMD_TLBI_NH_VA');
      if (ril) {
        expect(tlbis).toHaveLength(1);
        expect(tlbis[0]).toMatchObject({ addr: base, tg: 1, num: 0, scale: 6, ttl: 3, leaf: true, asid: d.asid });
      } else {
        expect(tlbis).toHaveLength(64);
        expect(tlbis.every((c, i) => c.op === 'CMD_TLBI_NH_VA' && c.addr === base + BigInt(i) * K4 && c.tg === 0 && c.leaf)).toBe(true);
      }
      expect(issued.filter((c) => c.op === 'CMD_SYNC')).toHaveLength(1);
      expect(issued[issued.length - 1].op).toBe('CMD_SYNC');
      expect(r.drv.stats.prodWrites - prods).toBe(1); // 64 + SYNC fits one batch
      for (let i = 0n; i < 64n; i += 9n) expect(faultType(tr(r.smmu, 3, base + i * K4))).toBe('F_TRANSLATION');
      noCerror(r);
    }
  });

  it('a partial unmap of a 2M block splits it and invalidates the 4K page', () => {
    const r = rig();
    const d = r.drv.allocDomain('s1');
    r.drv.attach(3, d);
    r.drv.map(d, 0x4000_0000n, 0x8000_0000n, M2, RW);
    expect(okPa(tr(r.smmu, 3, 0x4000_5000n)).pa).toBe(0x8000_5000n);
    expect(r.drv.unmap(d, 0x4000_5000n, K4)).toBe(K4);
    expect(faultType(tr(r.smmu, 3, 0x4000_5008n))).toBe('F_TRANSLATION');
    expect(okPa(tr(r.smmu, 3, 0x4000_6000n)).pa).toBe(0x8000_6000n);
    expect(r.drv.iovaToPhys(d, 0x4000_6000n)?.level).toBe(3);
    noCerror(r);
  });

  it('iommu_map splits a misaligned range into 4K, 2M, 4K pieces', () => {
    const r = rig();
    const d = r.drv.allocDomain('s1');
    const iova = 0x3fe000n; // 8K below a 2M boundary
    const size = M2 + 4n * K4;
    expect(r.drv.map(d, iova, 0x5fe000n, size, RW).mapped).toBe(size);
    const leaves = d.pgtable.leaves().map((l) => [l.iova, l.size]);
    expect(leaves).toEqual([
      [0x3fe000n, K4],
      [0x3ff000n, K4],
      [0x400000n, M2],
      [0x600000n, K4],
      [0x601000n, K4],
    ]);
    expect(r.drv.map(d, iova, 0x123n, K4, RW).error).toBe('EINVAL');
    // An overlapping mapping fails with EEXIST and unrolls what it mapped.
    expect(r.drv.map(d, 0x3fc000n, 0x9000_0000n, 4n * K4, RW)).toEqual({ mapped: 0n, error: 'EEXIST' });
    expect(r.drv.iovaToPhys(d, 0x3fc000n)).toBeNull();
    expect(r.drv.iovaToPhys(d, 0x3fe000n)?.phys).toBe(0x5fe000n);
  });
});

describe('stage-2 domain', () => {
  it('attach, map, translate, unmap → TLBI_S2_IPA + SYNC → F_TRANSLATION; detach → abort', () => {
    const r = rig();
    const { smmu, drv } = r;
    const d = drv.allocDomain('s2');
    expect(d.vmid).toBe(1);
    drv.attach(5, d);
    const ste = decodeSte(drv.readSte(5));
    expect(ste).toMatchObject({ V: 1, Config: 0b110, S2VMID: 1, S2T0SZ: 16, S2SL0: 2, S2TG: 0, S2PS: 5, S2AA64: 1, S2PTW: 1, S2R: 1, S2IR0: 1, S2OR0: 1, S2SH0: 3 });
    expect(ste.S2TTB).toBe(d.pgtable.pgd);
    drv.map(d, 0x4000_0000n, 0x8020_0000n, M2, RW);
    drv.map(d, 0x3000n, 0x9000_3000n, K4, RW);
    expect(okPa(tr(smmu, 5, 0x4000_0042n))).toEqual({ pa: 0x8020_0042n, tlb: 'miss' });
    expect(okPa(tr(smmu, 5, 0x4000_0042n)).tlb).toBe('hit');
    expect(okPa(tr(smmu, 5, 0x3100n)).pa).toBe(0x9000_3100n);
    const mark = drv.seq;
    drv.unmap(d, 0x4000_0000n, M2);
    const issued = cmds(drv.logSince(mark));
    expect(issued.map((c) => c.op)).toEqual(['CMD_TLBI_S2_IPA', 'CMD_SYNC']);
    expect(issued[0]).toMatchObject({ vmid: 1, addr: 0x4000_0000n, tg: 1, scale: 9, num: 0, ttl: 2, leaf: true });
    const f = tr(smmu, 5, 0x4000_0042n);
    expect(faultType(f)).toBe('F_TRANSLATION');
    expect(f.kind === 'fault' && f.event.s2).toBe(true);
    drv.unmap(d, 0x3000n, K4);
    expect(faultType(tr(smmu, 5, 0x3100n))).toBe('F_TRANSLATION');
    drv.detach(5);
    expect(tr(smmu, 5, 0x3100n).kind).toBe('abort');
    drv.freeDomain(d);
    expect(cmds(drv.log).slice(-2).map((c) => c.op)).toEqual(['CMD_TLBI_S12_VMALL', 'CMD_SYNC']);
    noCerror(r);
  });
});

describe('STE update order (arm_smmu_write_entry)', () => {
  it('S1 → S2 is not hitless: V = 0 first, the body, dword 0 last, each with CFGI_STE + SYNC', () => {
    const r = rig();
    const { drv, smmu } = r;
    const s1 = drv.allocDomain('s1');
    const s2 = drv.allocDomain('s2');
    drv.attach(3, s1);
    drv.map(s1, 0x1000n, 0x7000_1000n, K4, RW);
    drv.map(s2, 0x1000n, 0x7100_1000n, K4, RW);
    expect(okPa(tr(smmu, 3, 0x1000n)).pa).toBe(0x7000_1000n);
    const mark = drv.seq;
    drv.attach(3, s2);
    const log = drv.logSince(mark);
    expect(log.find((e) => e.kind === 'entry' && e.what === 'ste')).toMatchObject({ update: 'breaking', sid: 3 });
    const writes = log.filter((e): e is Extract<DriverLogEntry, { kind: 'mem' }> => e.kind === 'mem' && e.what === 'ste' && e.sid === 3);
    expect(writes[0].dword).toBe(0);
    expect(writes[0].value & 1n).toBe(0n); // V = 0
    const last = writes[writes.length - 1];
    expect(last.dword).toBe(0);
    expect(decodeSte([last.value])).toMatchObject({ V: 1, Config: 0b110 });
    expect(writes.slice(1, -1).every((w) => w.dword >= 1 && w.dword <= 7)).toBe(true);
    // Memory and commands interleave: write(s), CFGI_STE, SYNC — three times, then the prefetch.
    const seq = log.flatMap((e) => (e.kind === 'mem' && e.what === 'ste' ? ['W'] : e.kind === 'cmd' ? [e.cmd.op] : []));
    const compact = seq.filter((x, i) => !(x === 'W' && seq[i - 1] === 'W'));
    expect(compact).toEqual(['W', 'CMD_CFGI_STE', 'CMD_SYNC', 'W', 'CMD_CFGI_STE', 'CMD_SYNC', 'W', 'CMD_CFGI_STE', 'CMD_SYNC', 'CMD_PREFETCH_CONFIG', ...compact.slice(10)]);
    expect(okPa(tr(smmu, 3, 0x1000n)).pa).toBe(0x7100_1000n);
    noCerror(r);
  });

  it('abort → S1 is hitless (dword 0 is the only used qword that changes)', () => {
    const r = rig();
    const d = r.drv.allocDomain('s1');
    const mark = r.drv.seq;
    r.drv.attach(3, d);
    const log = r.drv.logSince(mark);
    expect(log.find((e) => e.kind === 'entry' && e.what === 'ste')).toMatchObject({ update: 'hitless', qwordDiff: 1 });
    // The new CD is written body first, then dword 0 (V = 1), each followed by CFGI_CD + SYNC.
    expect(log.find((e) => e.kind === 'entry' && e.what === 'cd')).toMatchObject({ update: 'hitless', qwordDiff: 1 });
    const cdWrites = log.filter((e) => e.kind === 'mem' && e.what === 'cd').map((e) => (e.kind === 'mem' ? e.dword : -1));
    expect(cdWrites[cdWrites.length - 1]).toBe(0);
    expect(cmds(log).filter((c) => c.op === 'CMD_CFGI_CD')).toHaveLength(2);
  });

  it('the used-bit analysis matches Linux for a few transitions', () => {
    const abort = [1n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
    const s1 = [1n | (5n << 1n) | 0x1000n, 0x55n, 0n, 0n, 0n, 0n, 0n, 0n];
    const s2 = [1n | (6n << 1n), 0n, 7n | (16n << 32n), 0x2000n, 0n, 0n, 0n, 0n];
    expect(entryQwordDiff(abort, s1, steUsedBits).diff).toBe(0b1);
    expect(entryQwordDiff(s1, abort, steUsedBits).diff).toBe(0b1);
    expect(entryQwordDiff(s1, s2, steUsedBits).diff).toBe(0b101);
    expect(entryQwordDiff(s2, s2, steUsedBits).diff).toBe(0);
  });
});

describe('PASIDs', () => {
  it('a 2-level CD table: RID on one domain, SSID 1500 on another', () => {
    const r = rig();
    const { drv, smmu } = r;
    const rid = drv.allocDomain('s1');
    const pasid = drv.allocDomain('s1');
    drv.attach(7, rid, { pasidBits: 12 });
    const ste = decodeSte(drv.readSte(7));
    expect([ste.S1Fmt, ste.S1CDMax, ste.S1DSS]).toEqual([2, 12, 2]);
    const mark = drv.seq;
    drv.attach(7, pasid, { ssid: 1500 });
    // A new leaf CD table: L1CD written, then CFGI_CD leaf = 0 + SYNC.
    const log = drv.logSince(mark);
    expect(log.some((e) => e.kind === 'mem' && e.what === 'l1cd')).toBe(true);
    expect(cmds(log)[0]).toMatchObject({ op: 'CMD_CFGI_CD', sid: 7, ssid: 1500, leaf: false });
    drv.map(rid, 0x1000n, 0x7000_0000n, K4, RW);
    drv.map(pasid, 0x1000n, 0x7100_0000n, K4, RW);
    expect(okPa(tr(smmu, 7, 0x1010n)).pa).toBe(0x7000_0010n);
    expect(okPa(tr(smmu, 7, 0x1010n, 1500)).pa).toBe(0x7100_0010n);
    expect(() => drv.attach(7, pasid, { ssid: 5000 })).toThrow(/EINVAL/);
    // Detaching the RID keeps the CD table (S1DSS = terminate) for the PASID.
    drv.detach(7);
    expect(decodeSte(drv.readSte(7))).toMatchObject({ Config: 0b101, S1DSS: 0 });
    expect(faultType(tr(smmu, 7, 0x1010n))).toBe('F_STREAM_DISABLED');
    expect(okPa(tr(smmu, 7, 0x1010n, 1500)).pa).toBe(0x7100_0010n);
    drv.detach(7, { ssid: 1500 });
    expect(tr(smmu, 7, 0x1010n, 1500).kind).toBe('abort');
    noCerror(r);
  });
});

describe('command queue', () => {
  it('an illegal command raises CERROR_ILL; the driver skips it like arm_smmu_cmdq_skip_err', () => {
    const r = rig();
    const { drv, smmu } = r;
    const before = drv.stats.syncs;
    expect(drv.issueCmdlist([{ op: 'CMD_TLBI_EL3_ALL' }, { op: 'CMD_TLBI_NSNH_ALL' }], true)).toBeUndefined();
    expect(drv.cerrors).toHaveLength(1);
    expect(drv.cerrors[0]).toMatchObject({ code: 1, name: 'CERROR_ILL', action: 'skipped' });
    expect(decodeCommand(drv.cerrors[0].dw[0], drv.cerrors[0].dw[1])).toMatchObject({ ok: true, cmd: { op: 'CMD_TLBI_EL3_ALL' } });
    // Acknowledged: GERRORN = GERROR, and the queue drained past the sync.
    expect(smmu.cmdqErrorActive).toBe(false);
    expect(smmu.readReg(REG.CMDQ_CONS)).toBe(smmu.readReg(REG.CMDQ_PROD));
    expect(drv.stats.syncs - before).toBe(1);
    expect(drv.stats.gerrors).toBe(1);
    // The queue still works.
    expect(drv.issueCmd({ op: 'CMD_TLBI_NSNH_ALL' }, true)).toBeUndefined();
    expect(drv.cerrors).toHaveLength(1);
  });

  it('wraps around the queue', () => {
    const r = rig({}, { maxQueueShift: 7 });
    for (let i = 0; i < 100; i++) r.drv.issueCmdlist([{ op: 'CMD_CFGI_STE', sid: i, leaf: true }, { op: 'CMD_TLBI_NSNH_ALL' }], true);
    const cons = Number(r.smmu.readReg(REG.CMDQ_CONS));
    const total = 6 + 300;
    expect(cons).toBe((Math.floor(total / 128) % 2) * 128 + (total % 128));
    noCerror(r);
  });

  it('a batch flushes without a sync at 64 commands', () => {
    const r = rig();
    const mark = r.drv.seq;
    const prods = r.drv.stats.prodWrites;
    const b = r.drv.batch();
    for (let i = 0; i < 70; i++) b.add({ op: 'CMD_CFGI_STE', sid: i, leaf: true });
    b.submit();
    expect(r.drv.stats.prodWrites - prods).toBe(2);
    const ops = cmds(r.drv.logSince(mark)).map((c) => c.op);
    expect(ops.filter((o) => o === 'CMD_SYNC')).toHaveLength(1);
    expect(ops.indexOf('CMD_SYNC')).toBe(70);
    noCerror(r);
  });

  it('MSI polling: the CMD_SYNC writes its MSI over its own slot; CONS is not read', () => {
    const r = rig({}, { syncPoll: 'msi' });
    const d = r.drv.allocDomain('s1');
    r.drv.attach(3, d);
    r.drv.map(d, 0x1000n, 0x7000_0000n, K4, RW);
    okPa(tr(r.smmu, 3, 0x1000n));
    const mark = r.drv.seq;
    r.drv.unmap(d, 0x1000n, K4);
    const log = r.drv.logSince(mark);
    expect(log.some((e) => e.kind === 'mmio' && e.op === 'read' && e.offset === REG.CMDQ_CONS)).toBe(false);
    const sync = cmds(log).find((c) => c.op === 'CMD_SYNC');
    expect(sync).toMatchObject({ cs: 1, msidata: 0 });
    expect(faultType(tr(r.smmu, 3, 0x1000n))).toBe('F_TRANSLATION');
    noCerror(r);
  });
});

describe('helpers', () => {
  const bm = (1n << 12n) | (1n << 21n) | (1n << 30n);
  it('iommu_pgsize', () => {
    expect(iommuPgsize(bm, 0x3fe000n, 0x5fe000n, M2 + 4n * K4)).toEqual({ pgsize: K4, count: 2n });
    expect(iommuPgsize(bm, 0x400000n, 0x600000n, M2 + 2n * K4)).toEqual({ pgsize: M2, count: 1n });
    // iova and paddr differently offset within 2M: only 4K pages.
    expect(iommuPgsize(bm, 0x1000n, 0x2000n, 4n * M2)).toEqual({ pgsize: K4, count: 2048n });
  });

  it('__arm_smmu_tlb_inv_range split', () => {
    expect(tlbiRangeSplit(0n, 64n * K4, K4, true, 12, true)).toEqual([{ addr: 0n, num: 0, scale: 6, tg: 1, ttl: 3 }]);
    // 35 pages = 3 + 32: two commands.
    expect(tlbiRangeSplit(0n, 35n * K4, K4, true, 12, true)).toEqual([
      { addr: 0n, num: 2, scale: 0, tg: 1, ttl: 3 },
      { addr: 3n * K4, num: 0, scale: 5, tg: 1, ttl: 3 },
    ]);
    // Non-leaf single page: NUM = SCALE = TTL = 0 is reserved, so Linux rounds up to 2 pages.
    expect(tlbiRangeSplit(0n, K4, K4, false, 12, true)).toEqual([{ addr: 0n, num: 0, scale: 1, tg: 1, ttl: 0 }]);
    expect(tlbiRangeSplit(0n, 3n * M2, M2, true, 12, false)).toHaveLength(3);
  });
});
