/**
 * Nested SMMUv3 (trap and emulate): the host's ordinary arm-smmu-v3 driver
 * against NestedHyp.hostPort(), the real SMMU translating through the host's
 * stage 1 and the hyp's identity stage 2.
 */

import { describe, expect, it } from 'vitest';
import { IOMMU_READ, IOMMU_WRITE } from '../iopgtable';
import { PhysicalMemory, TableAllocator } from '../memory';
import { REG, type SmmuDomain, SmmuDriver } from '../host/smmu-driver';
import type { SmmuFeatures } from '../smmu/features';
import { Smmu, type TranslateResult } from '../smmu/smmu';
import { decodeSte, encodeSte } from '../smmu/ste';
import { IDR0_HIDDEN, NestedHyp, type NestedLogEntry, type NestedOptions } from './nested';
import { PageOwnership } from './ownership';

const RW = IOMMU_READ | IOMMU_WRITE;
const K4 = 0x1000n;
const G1 = 0x4000_0000n;
const POOL = 0x1000_0000n;
const HOST_ALLOC = 0x2000_0000n;
const SID = 3;
const IOVA = 0x8000_0000n;
const PA = 0x4000_0000n;

interface Rig {
  mem: PhysicalMemory;
  smmu: Smmu;
  own: PageOwnership;
  hyp: NestedHyp;
  drv: SmmuDriver;
}

function rig(opts: Partial<NestedOptions> = {}, features: Partial<SmmuFeatures> = {}): Rig {
  const mem = new PhysicalMemory([{ base: 0n, size: 1n << 32n }]);
  const own = PageOwnership.fromMemory(mem);
  const smmu = new Smmu(mem, features);
  const hyp = new NestedHyp(mem, smmu, own, { poolBase: POOL, bootPoolPages: 256, ...opts });
  const drv = new SmmuDriver(hyp.hostPort(), mem, new TableAllocator(mem, HOST_ALLOC, HOST_ALLOC + 0x1000_0000n));
  drv.probe();
  drv.init();
  return { mem, smmu, own, hyp, drv };
}

/** The host attaches SID 3 to an S1 domain and maps IOVA → PA (4 pages). */
function attachS1(r: Rig): SmmuDomain {
  const d = r.drv.allocDomain('s1');
  r.drv.attach(SID, d);
  expect(r.drv.map(d, IOVA, PA, 4n * K4, RW).error).toBeUndefined();
  return d;
}

function dma(r: Rig, sid: number, iova: bigint, trace = false): TranslateResult {
  return r.smmu.translate({ sid, iova, access: 'read', priv: false, trace });
}

function okPa(t: TranslateResult): bigint {
  if (t.kind !== 'ok') throw new Error(`expected ok, got ${t.kind}: ${'reason' in t ? t.reason : ''}`);
  return t.pa;
}

function traps(r: Rig): number {
  return r.hyp.counters.mmioTraps.reads + r.hyp.counters.mmioTraps.writes;
}

/** Host writes an STE into its own stream table (plain memory) and issues CFGI_STE + CMD_SYNC. */
function hostWriteSte(r: Rig, sid: number, dw: bigint[]): void {
  r.drv.addDevice(sid);
  const a = r.drv.steAddr(sid);
  for (let i = 0; i < 8; i++) r.mem.write64(a + BigInt(i * 8), dw[i]);
  expect(r.drv.issueCmd({ op: 'CMD_CFGI_STE', sid, leaf: true }, true)).toBeUndefined();
}

describe('NestedHyp: probe and init through traps', () => {
  it('hides S2P, VMID16, MSI and HYP; the host driver inits and keeps the real SMMU the hyp\'s', () => {
    const r = rig();
    const f = r.drv.features;
    expect(f).not.toBeNull();
    expect(f?.s1).toBe(true);
    expect(f?.s2).toBe(false);
    expect(f?.nesting).toBe(false);
    expect(f?.hyp).toBe(false);
    expect(f?.msi).toBe(false);
    expect(f?.vmidBits).toBe(8);
    expect(r.drv.initialised).toBe(true);
    expect(r.hyp.counters.mmioTraps.reads).toBe(r.drv.stats.mmioReads);
    expect(r.hyp.counters.mmioTraps.writes).toBe(r.drv.stats.mmioWrites);
    expect(Number(r.hyp.hostPort().read(REG.IDR0)) & IDR0_HIDDEN).toBe(0);
    expect(Number(r.hyp.hostPort().read(REG.IDR1))).toBe(Number(r.smmu.readReg(REG.IDR1)));
    // The host's registers are virtual: the real SMMU runs the hyp's stream table and queues.
    const v = r.hyp.virtualRegs();
    expect(v.cr0 & 0xd).toBe(0xd);
    expect(v.strtabBase & 0x000f_ffff_ffff_ffc0n).toBe(r.drv.layout().strtab);
    expect(r.smmu.strtabBase & 0x000f_ffff_ffff_ffc0n).toBe(r.hyp.driver.layout().strtab);
    expect(r.smmu.cmdqBase & 0x000f_ffff_ffff_ffe0n).toBe(r.hyp.driver.layout().cmdq);
    expect(r.smmu.smmuEnabled).toBe(true);
    expect(r.hyp.counters.prodTraps).toBeGreaterThan(0);
    expect(r.drv.stats.timeouts).toBe(0);
    expect(r.hyp.checkInvariants()).toEqual([]);
  });

  it('builds the identity stage 2 from the largest blocks, without the hyp pool', () => {
    const r = rig();
    const at = (a: bigint) => r.hyp.s2.iovaToPhys(a);
    expect(at(0x8000_0000n)?.level).toBe(1); // a 1G block
    expect(at(0x8000_0000n)?.phys).toBe(0x8000_0000n);
    expect(at(POOL)).toBeNull(); // the pool is the hyp's
    expect(at(POOL + r.hyp.poolBytes)?.phys).toBe(POOL + r.hyp.poolBytes);
    expect(at(0x0020_0000n)?.level).toBe(2); // 2M blocks in the first 1G (the pool splits it)
    expect(at(1n << 32n)).toBeNull(); // beyond RAM
  });
});

describe('NestedHyp: host S1 over the hyp S2', () => {
  it('DMA translates through host S1 + hyp S2 (2-D walk), and the shadow STE is nested', () => {
    const r = rig();
    attachS1(r);
    const t = dma(r, SID, IOVA + 0x123n, true);
    expect(okPa(t)).toBe(PA + 0x123n);
    const purposes = new Set((t.trace ?? []).map((e) => e.purpose));
    expect(purposes.has('s2-for-s1-table')).toBe(true);
    expect(purposes.has('s2-for-cd')).toBe(true);
    expect(purposes.has('s2-for-output')).toBe(true);
    const sh = r.hyp.shadowSte(SID);
    expect(sh).not.toBeNull();
    const ste = decodeSte(sh as bigint[]);
    expect(ste.Config).toBe(0b111);
    expect(ste.S2VMID).toBe(0);
    expect(ste.S2TTB).toBe(r.hyp.s2.pgd);
    // S1ContextPtr is the host's CD table address, now an IPA.
    expect(ste.S1ContextPtr).toBe(decodeSte(r.drv.readSte(SID)).S1ContextPtr);
    expect(r.hyp.shadowInfo().find((s) => s.sid === SID)).toMatchObject({ host: 's1', shadow: 'nested' });
  });

  it('a host map is a plain memory write; an unmap is one PROD trap, after which DMA faults', () => {
    const r = rig();
    const d = attachS1(r);
    expect(okPa(dma(r, SID, IOVA))).toBe(PA);
    const t0 = traps(r);
    const p0 = r.hyp.counters.prodTraps;
    expect(r.drv.map(d, IOVA + 0x10_0000n, PA + 0x10_0000n, K4, RW).error).toBeUndefined();
    expect(traps(r)).toBe(t0);
    expect(r.hyp.counters.prodTraps).toBe(p0);
    expect(okPa(dma(r, SID, IOVA + 0x10_0000n))).toBe(PA + 0x10_0000n);

    const reads0 = r.drv.stats.mmioReads;
    const w0 = r.hyp.counters.mmioTraps.writes;
    const rd0 = r.hyp.counters.mmioTraps.reads;
    const s0 = r.hyp.counters.realSyncs;
    expect(r.drv.unmap(d, IOVA, K4)).toBe(K4);
    expect(r.hyp.counters.prodTraps).toBe(p0 + 1);
    expect(r.hyp.counters.mmioTraps.writes).toBe(w0 + 1);
    expect(r.hyp.counters.mmioTraps.reads - rd0).toBe(r.drv.stats.mmioReads - reads0);
    expect(r.drv.stats.mmioReads - reads0).toBeGreaterThanOrEqual(1);
    expect(r.hyp.counters.realSyncs).toBe(s0 + 1);
    const t = dma(r, SID, IOVA);
    expect(t.kind).toBe('fault');
    if (t.kind === 'fault') {
      expect(t.event.type).toBe('F_TRANSLATION');
      expect(t.event.s2).toBe(false);
    }
    expect(okPa(dma(r, SID, IOVA + K4))).toBe(PA + K4);
  });

  it('TLBI_NH_* pass with VMID forced to 0; a host TLBI_S12_VMALL is dropped', () => {
    const r = rig();
    const d = attachS1(r);
    okPa(dma(r, SID, IOVA));
    expect(dma(r, SID, IOVA)).toMatchObject({ kind: 'ok', tlb: 'hit' });
    const dropped = r.hyp.counters.commandsDropped;
    const inval = r.smmu.stats.invalidations;
    expect(r.drv.issueCmd({ op: 'CMD_TLBI_S12_VMALL', vmid: 0 }, true)).toBeUndefined();
    expect(r.hyp.counters.commandsDropped).toBe(dropped + 1);
    expect(r.smmu.stats.invalidations).toBe(inval);
    expect(dma(r, SID, IOVA)).toMatchObject({ kind: 'ok', tlb: 'hit' });
    for (const op of ['CMD_TLBI_NH_ALL', 'CMD_TLBI_EL2_ALL'] as const) r.drv.issueCmd({ op, vmid: 0 } as never, true);
    r.drv.issueCmd({ op: 'CMD_TLBI_S2_IPA', vmid: 0, addr: PA, leaf: false, ttl: 0, tg: 0, num: 0, scale: 0 }, true);
    expect(r.hyp.counters.commandsDropped).toBe(dropped + 4);
    expect(dma(r, SID, IOVA)).toMatchObject({ kind: 'ok', tlb: 'hit' });
    // NH_ASID with a forged VMID: rewritten to VMID 0, so it does hit the host's entries.
    const seq = r.hyp.seq;
    r.drv.issueCmd({ op: 'CMD_TLBI_NH_ASID', vmid: 7, asid: d.asid as number }, true);
    const e = r.hyp.logSince(seq).find((x): x is Extract<NestedLogEntry, { kind: 'cmd' }> => x.kind === 'cmd' && x.text.startsWith('CMD_TLBI_NH_ASID'));
    expect(e?.action).toBe('rewrite');
    expect(e?.out?.[0]).toMatchObject({ op: 'CMD_TLBI_NH_ASID', vmid: 0 });
    expect(dma(r, SID, IOVA)).toMatchObject({ kind: 'ok', tlb: 'miss' });
  });

  it('an illegal host command: CERROR_ILL in the virtual CMDQ_CONS and GERROR, recovered by the host', () => {
    const r = rig();
    const ill0 = r.hyp.counters.hostCerrors;
    expect(r.drv.issueCmd({ op: 'CMD_CFGI_VMS_PIDM', vmid: 0 }, true)).toBeUndefined();
    expect(r.hyp.counters.hostCerrors).toBe(ill0 + 1);
    expect(r.drv.cerrors).toHaveLength(1);
    const ce = r.drv.cerrors[0];
    expect(ce.name).toBe('CERROR_ILL');
    expect((ce.cons >>> 24) & 0x7f).toBe(1);
    expect(ce.action).toBe('skipped');
    expect(r.drv.stats.gerrors).toBe(1);
    const v = r.hyp.virtualRegs();
    expect(v.gerror & 1).toBe(1); // toggled once...
    expect(v.gerror).toBe(v.gerrorn); // ...and acknowledged
    expect((v.cmdqCons >>> 24) & 0x7f).toBe(0);
    expect(v.cmdqCons).toBe(v.cmdqProd);
    expect(r.hyp.counters.realCerrors).toBe(0);
    // The queue works again.
    attachS1(r);
    expect(okPa(dma(r, SID, IOVA))).toBe(PA);
  });
});

describe('NestedHyp: STE shadowing', () => {
  it('a host bypass STE becomes S2-only: DMA reaches host RAM but not a page donated to a guest', () => {
    const r = rig();
    const sid = 5;
    hostWriteSte(r, sid, encodeSte({ V: 1, Config: 0b100 }));
    const sh = decodeSte(r.hyp.shadowSte(sid) as bigint[]);
    expect(sh.Config).toBe(0b110);
    expect(sh.S2TTB).toBe(r.hyp.s2.pgd);
    const page = 0x5000_0000n;
    expect(okPa(dma(r, sid, page + 8n))).toBe(page + 8n);
    expect(okPa(dma(r, sid, page + K4))).toBe(page + K4);
    const u0 = r.hyp.counters.s2Unmaps;
    const t0 = r.hyp.counters.s2Tlbis;
    expect(r.own.hostDonateGuest(page / K4, 1, 1).ok).toBe(true);
    expect(r.hyp.counters.s2Unmaps).toBe(u0 + 1);
    expect(r.hyp.counters.s2Tlbis).toBeGreaterThan(t0);
    expect(r.hyp.s2.iovaToPhys(page)).toBeNull();
    const t = dma(r, sid, page + 8n);
    expect(t.kind).toBe('fault');
    if (t.kind === 'fault') {
      expect(t.event.type).toBe('F_TRANSLATION');
      expect(t.event.s2).toBe(true);
      expect(t.event.ipa).toBe(page);
    }
    expect(okPa(dma(r, sid, page + K4))).toBe(page + K4);
    expect(okPa(dma(r, sid, page - K4))).toBe(page - K4);
    expect(r.hyp.checkInvariants()).toEqual([]);
    // The fault reaches the host's event queue.
    const ev = r.drv.drainEvents();
    expect(ev.some((e) => e.type === 'F_TRANSLATION' && e.s2 === true && e.sid === sid)).toBe(true);
    expect(r.hyp.counters.eventsForwarded).toBeGreaterThanOrEqual(1);
    // The guest gives it back: mapped again, and coalesced into the 1G block.
    expect(r.own.guestReturnHost(page / K4, 1, 1).ok).toBe(true);
    expect(okPa(dma(r, sid, page + 8n))).toBe(page + 8n);
    expect(r.hyp.s2.iovaToPhys(page)?.level).toBe(1);
    expect(r.hyp.checkInvariants()).toEqual([]);
  });

  it('a page of the host\'s own S1 tables donated away: the nested walk faults at stage 2', () => {
    const r = rig();
    const d = attachS1(r);
    okPa(dma(r, SID, IOVA));
    const leafTable = d.pgtable.tables().find((t) => t.level === 3);
    expect(leafTable).toBeDefined();
    expect(r.own.hostDonateGuest((leafTable?.addr ?? 0n) / K4, 1, 2).ok).toBe(true);
    const t = dma(r, SID, IOVA);
    expect(t.kind).toBe('fault');
    if (t.kind === 'fault') {
      expect(t.event.s2).toBe(true);
      expect(t.event.cls).toBe('TT');
    }
  });

  it('a forged nested (or S2) STE is shadowed as abort and the rejection is logged', () => {
    const r = rig();
    const seq = r.hyp.seq;
    const evil = encodeSte({ V: 1, Config: 0b111, S1ContextPtr: 0x3000_0000n, S2VMID: 9, S2T0SZ: 16, S2SL0: 2, S2TG: 0, S2PS: 5, S2AA64: 1, S2TTB: POOL });
    hostWriteSte(r, 6, evil);
    const sh = decodeSte(r.hyp.shadowSte(6) as bigint[]);
    expect(sh.V).toBe(1);
    expect(sh.Config).toBe(0);
    expect(dma(r, 6, 0x5000_0000n).kind).toBe('abort');
    expect(r.hyp.logSince(seq).some((e) => e.kind === 'reject' && e.sid === 6)).toBe(true);
    expect(r.hyp.counters.steRejected).toBe(1);
    hostWriteSte(r, 7, encodeSte({ V: 1, Config: 0b110, S2T0SZ: 16, S2SL0: 2, S2PS: 5, S2AA64: 1, S2TTB: POOL }));
    expect(decodeSte(r.hyp.shadowSte(7) as bigint[]).Config).toBe(0);
    expect(r.hyp.shadowInfo().filter((s) => s.host.startsWith('forged')).map((s) => s.sid)).toEqual([6, 7]);
    expect(r.hyp.checkInvariants()).toEqual([]);
  });

  it('S2 fields the host filled into an S1 STE are overwritten with the hyp\'s', () => {
    const r = rig();
    attachS1(r);
    const host = r.drv.readSte(SID);
    const forged = [...host];
    const s2 = encodeSte({ S2VMID: 0x55, S2T0SZ: 16, S2SL0: 2, S2PS: 5, S2AA64: 1, S2TTB: POOL });
    forged[2] = s2[2];
    forged[3] = s2[3];
    forged[5] = 0xdeadn;
    hostWriteSte(r, SID, forged);
    const sh = r.hyp.shadowSte(SID) as bigint[];
    const mine = encodeSte(r.hyp.s2SteFields);
    expect(sh[2]).toBe(mine[2]);
    expect(sh[3]).toBe(mine[3]);
    expect(sh[5]).toBe(0n);
    expect(okPa(dma(r, SID, IOVA))).toBe(PA);
  });

  it('writes shadows in a safe order: dword 0 first when invalidating, last when validating', () => {
    const r = rig();
    attachS1(r); // SID 3: the hyp's level-2 array for SIDs 0-255 exists
    const sid = 9;
    const steps = (seq: number) =>
      r.hyp.logSince(seq).filter((e): e is Extract<NestedLogEntry, { kind: 'ste' }> => e.kind === 'ste' && e.sid === sid && e.update !== 'none');
    // Valid S2 shadow (from a bypass host STE).
    hostWriteSte(r, sid, encodeSte({ V: 1, Config: 0b100 }));
    // valid -> invalid
    let seq = r.hyp.seq;
    hostWriteSte(r, sid, new Array<bigint>(8).fill(0n));
    let e = steps(seq);
    expect(e).toHaveLength(1);
    expect(e[0].update).toBe('invalidate');
    expect(e[0].steps[0]).toMatchObject({ dword: 0 });
    expect(e[0].steps[1]).toBe('sync');
    expect((r.hyp.shadowSte(sid) as bigint[])[0] & 1n).toBe(0n);
    // invalid -> valid
    seq = r.hyp.seq;
    hostWriteSte(r, sid, encodeSte({ V: 1, Config: 0b100 }));
    e = steps(seq);
    expect(e).toHaveLength(1);
    expect(e[0].update).toBe('validate');
    const writes = e[0].steps.filter((s): s is { dword: number; value: bigint } => s !== 'sync').map((s) => s.dword);
    expect(writes[writes.length - 1]).toBe(0);
    expect(writes.slice(0, -1).every((d) => d >= 1)).toBe(true);
    expect(writes.length).toBeGreaterThan(1);
    expect(e[0].steps[e[0].steps.length - 1]).toBe('sync');
    expect(decodeSte(r.hyp.shadowSte(sid) as bigint[]).Config).toBe(0b110);
  });
});

describe('NestedHyp: trapped registers', () => {
  it('ignores STRTAB_BASE(_CFG) writes while the virtual SMMUEN = 1, and refuses GBPA', () => {
    const r = rig();
    const port = r.hyp.hostPort();
    const before = port.read(REG.STRTAB_BASE);
    const cfg = port.read(REG.STRTAB_BASE_CFG);
    const real = r.smmu.strtabBase;
    const ign = r.hyp.counters.ignoredWrites;
    port.write(REG.STRTAB_BASE, POOL);
    port.write(REG.STRTAB_BASE_CFG, 0n);
    port.write(REG.CMDQ_BASE, POOL);
    expect(port.read(REG.STRTAB_BASE)).toBe(before);
    expect(port.read(REG.STRTAB_BASE_CFG)).toBe(cfg);
    expect(r.smmu.strtabBase).toBe(real);
    expect(r.hyp.counters.ignoredWrites).toBe(ign + 3);
    const ref = r.hyp.counters.refusedAccesses;
    const gbpa = r.smmu.gbpa;
    expect(port.read(REG.GBPA)).toBe(0n);
    port.write(REG.GBPA, (1n << 31n) | (1n << 20n));
    expect(r.smmu.gbpa).toBe(gbpa);
    expect(r.hyp.counters.refusedAccesses).toBe(ref + 2);
    // Still working.
    attachS1(r);
    expect(okPa(dma(r, SID, IOVA))).toBe(PA);
  });

  it('a host command queue outside host memory: CERROR_ABT for the host, the hyp reads nothing', () => {
    const r = rig();
    const port = r.hyp.hostPort();
    const cr0 = port.read(REG.CR0);
    port.write(REG.CR0, cr0 & ~8n); // virtual CMDQEN off
    port.write(REG.CMDQ_BASE, POOL | 8n); // the hyp's pool
    port.write(REG.CMDQ_PROD, 0n);
    port.write(REG.CMDQ_CONS, 0n);
    port.write(REG.CR0, cr0);
    const ce = r.hyp.counters.hostCerrors;
    port.write(REG.CMDQ_PROD, 1n);
    expect(r.hyp.counters.hostCerrors).toBe(ce + 1);
    expect((Number(port.read(REG.CMDQ_CONS)) >>> 24) & 0x7f).toBe(2);
    expect(Number(port.read(REG.GERROR) ^ port.read(REG.GERRORN)) & 1).toBe(1);
  });

  it('virtual SMMUEN = 0 aborts every stream; re-enabling re-shadows', () => {
    const r = rig();
    attachS1(r);
    const port = r.hyp.hostPort();
    const cr0 = port.read(REG.CR0);
    port.write(REG.CR0, cr0 & ~1n);
    expect(port.read(REG.CR0ACK)).toBe(cr0 & ~1n);
    expect(dma(r, SID, IOVA).kind).toBe('abort');
    expect(r.smmu.smmuEnabled).toBe(true);
    port.write(REG.CR0, cr0);
    expect(okPa(dma(r, SID, IOVA))).toBe(PA);
  });
});

describe('NestedHyp: ownership and the pool', () => {
  it('a pool top-up leaves the stage 2; invariants hold', () => {
    const r = rig();
    const start = POOL + r.hyp.poolBytes;
    expect(r.hyp.s2.iovaToPhys(start)?.phys).toBe(start);
    expect(r.hyp.topUp(16).ok).toBe(true);
    expect(r.hyp.s2.iovaToPhys(start)).toBeNull();
    expect(r.hyp.s2.iovaToPhys(start + 16n * K4)?.phys).toBe(start + 16n * K4);
    expect(r.hyp.checkInvariants()).toEqual([]);
  });

  it('donating a whole 1G block and a range straddling blocks keeps the map exact', () => {
    const r = rig();
    expect(r.own.hostDonateGuest((2n * G1) / K4, G1 / K4, 3).ok).toBe(true);
    expect(r.hyp.s2.iovaToPhys(2n * G1 + 0x1234n)).toBeNull();
    const s = G1 - 0x3000n; // straddles the first 1G boundary
    expect(r.own.hostDonateHyp(s / K4, 8).ok).toBe(true);
    expect(r.hyp.s2.iovaToPhys(s)).toBeNull();
    expect(r.hyp.s2.iovaToPhys(s + 7n * K4)).toBeNull();
    expect(r.hyp.s2.iovaToPhys(s + 8n * K4)?.phys).toBe(s + 8n * K4);
    expect(r.hyp.checkInvariants()).toEqual([]);
    expect(r.own.guestReturnHost((2n * G1) / K4, G1 / K4, 3).ok).toBe(true);
    expect(r.hyp.s2.iovaToPhys(2n * G1)?.phys).toBe(2n * G1);
    expect(r.hyp.checkInvariants()).toEqual([]);
  });

  it('an empty pool never leaves a donated page mapped', () => {
    const r = rig();
    // Drain the pool.
    while (r.hyp.pool.allocN(4096) !== null);
    const page = 0x9000_0000n + 5n * K4; // inside a 1G block: a split needs tables
    expect(r.own.hostDonateGuest(page / K4, 1, 4).ok).toBe(true);
    expect(r.hyp.s2.iovaToPhys(page)).toBeNull();
    expect(r.hyp.degradedRanges().length).toBeGreaterThan(0);
    expect(r.hyp.checkInvariants()).toEqual([]);
    expect(r.hyp.topUp(8).ok).toBe(true);
    expect(r.hyp.degradedRanges()).toEqual([]);
    expect(r.hyp.s2.iovaToPhys(page + K4)?.phys).toBe(page + K4);
    expect(r.hyp.s2.iovaToPhys(page)).toBeNull();
    expect(r.hyp.checkInvariants()).toEqual([]);
  });
});

describe('NestedHyp: vCMDQ', () => {
  it('TLBI batches reach the hardware without a trap: an unmap costs 0 PROD traps', () => {
    const r = rig({ vcmdq: true });
    const d = attachS1(r);
    expect(okPa(dma(r, SID, IOVA))).toBe(PA);
    const p0 = r.hyp.counters.prodTraps;
    const t0 = traps(r);
    expect(r.drv.unmap(d, IOVA, K4)).toBe(K4);
    expect(r.hyp.counters.prodTraps).toBe(p0);
    expect(traps(r)).toBe(t0);
    expect(r.hyp.counters.vcmdqBatches).toBeGreaterThanOrEqual(1);
    expect(dma(r, SID, IOVA).kind).toBe('fault');
    // STE changes still trap.
    const p1 = r.hyp.counters.prodTraps;
    r.drv.detach(SID);
    expect(r.hyp.counters.prodTraps).toBeGreaterThan(p1);
    expect(dma(r, SID, IOVA + K4).kind).toBe('abort');
  });
});

describe('NestedHyp: the shadow stream table matches the host modulo the hyp S2', () => {
  it('holds after attach, and a shadow changed behind the hyp is reported', () => {
    const r = rig();
    attachS1(r);
    expect(r.hyp.checkInvariants()).toEqual([]);
    const shadow = r.hyp.shadowSte(SID);
    expect(shadow).not.toBeNull();
    // Corrupt dword 1 of the real (shadow) STE directly in memory.
    const info = r.hyp.shadowInfo().find((s) => s.sid === SID);
    expect(info?.host).toBe('s1');
    const addr = r.hyp.driver.steAddr(SID);
    r.mem.write64(addr + 8n, (shadow as bigint[])[1] ^ 0x30n);
    const v = r.hyp.checkInvariants();
    expect(v.some((m) => m.includes(`shadow STE ${SID}`))).toBe(true);
  });
});
