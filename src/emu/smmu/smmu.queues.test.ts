/**
 * The command and event queues as a driver sees them: queue memory, the
 * PROD/CONS registers (wrap bits, CONS.ERR, OVFLG), GERROR/GERRORN, the
 * CMD_SYNC MSI, and the register write rules.
 */

import { describe, expect, it } from 'vitest';
import { CERROR, type Command, TLBI_NO_RANGE, encodeCommand } from './commands';
import { decodeEvent } from './events';
import { CR0_CMDQEN, CR0_EVTQEN, CR0_SMMUEN, GERROR_CMDQ_ERR, GERROR_EVENTQ_ABT_ERR, GERROR_MSI_CMDQ_ABT } from './registers';
import { CMDQ_ADDR, EVTQ_ADDR, NO_RAM, STRTAB_ADDR, Testbed, cdFor, cfgEvent, map, rawEvent } from './testbed';

const MSI_AREA = 0x0050_0000n;
const ALL_ON = CR0_SMMUEN | CR0_EVTQEN | CR0_CMDQEN;

const syncMsi = (addr: bigint, data: number): Extract<Command, { op: 'CMD_SYNC' }> => ({ op: 'CMD_SYNC', cs: 1, msh: 3, msiattr: 1, msidata: data, msiaddr: addr });

/** Queue register value (index + wrap bit) after k entries of a 2^log2 queue. */
const qpos = (k: number, log2: number): number => (Math.floor(k / 2 ** log2) % 2) * 2 ** log2 + (k % 2 ** log2);

const gerrorActive = (tb: Testbed): number => tb.reg('GERROR') ^ tb.reg('GERRORN');

describe('command queue', () => {
  it('wraps around: 20 commands through an 8-entry queue, each executed once, in order', () => {
    const tb = new Testbed({ cmdqLog2: 3 });
    for (let k = 0; k < 20; k++) {
      expect(tb.cmd(syncMsi(MSI_AREA + BigInt(k) * 8n, 0x1000 + k))).toBe(CERROR.NONE);
      expect(tb.reg('CMDQ_PROD')).toBe(qpos(k + 1, 3));
      expect(tb.reg('CMDQ_CONS')).toBe(qpos(k + 1, 3));
    }
    for (let k = 0; k < 20; k++) expect(tb.mem.peek64(MSI_AREA + BigInt(k) * 8n)).toBe(BigInt(0x1000 + k));
    // The last command sits in slot 19 mod 8 = 3 of queue memory.
    const [dw0, dw1] = encodeCommand(syncMsi(MSI_AREA + 19n * 8n, 0x1013));
    expect(tb.readWords(CMDQ_ADDR + 3n * 16n, 2)).toEqual([dw0, dw1]);
    expect(tb.smmu.stats.commands).toBe(20);
    expect(tb.smmu.stats.msiWrites).toBe(20);
  });

  it('CMDQ_BASE.LOG2SIZE is capped by IDR1.CMDQS: a LOG2SIZE-3 queue on a CMDQS = 2 SMMU holds 4 entries', () => {
    const tb = new Testbed({ cmdqLog2: 3, features: { cmdqs: 2 } });
    for (let k = 0; k < 9; k++) expect(tb.cmd(syncMsi(MSI_AREA + BigInt(k) * 8n, 0x100 + k))).toBe(CERROR.NONE);
    expect(tb.reg('CMDQ_PROD')).toBe(qpos(9, 2));
    expect(tb.reg('CMDQ_CONS')).toBe(qpos(9, 2));
    const [dw0] = encodeCommand(syncMsi(MSI_AREA + 8n * 8n, 0x108));
    expect(tb.readWords(CMDQ_ADDR, 1)).toEqual([dw0]); // command 8 went to slot 0
    expect(tb.mem.peek64(MSI_AREA + 8n * 8n)).toBe(0x108n);
  });

  it('commands written while CMDQEN = 0 run when CMDQEN is set', () => {
    const tb = new Testbed({ cr0: CR0_SMMUEN | CR0_EVTQEN });
    for (let k = 0; k < 3; k++) tb.cmd(syncMsi(MSI_AREA + BigInt(k) * 8n, 7 + k));
    expect(tb.reg('CMDQ_PROD')).toBe(3);
    expect(tb.reg('CMDQ_CONS')).toBe(0);
    expect(tb.mem.peek64(MSI_AREA)).toBe(0n);
    tb.smmu.writeRegByName('CR0', BigInt(ALL_ON));
    expect(tb.reg('CMDQ_CONS')).toBe(3);
    expect([0n, 8n, 16n].map((o) => tb.mem.peek64(MSI_AREA + o))).toEqual([7n, 8n, 9n]);
  });

  /** A stage-1 stream whose IOTLB entry for 0x1000 is cached: an observable NH_ALL target. */
  function withCachedEntry(tb: Testbed): () => 'hit' | 'miss' {
    const pgt = tb.s1Table();
    map(pgt, 0x1000n, 0x2000n, 4096n);
    const cd = tb.cdTable(0);
    tb.writeCd(cd, cdFor(pgt, 1));
    tb.writeSte(1, { V: 1, Config: 0b101, S1ContextPtr: cd });
    const probe = (): 'hit' | 'miss' => {
      const r = tb.tr(1, 0x1000n);
      if (r.kind !== 'ok') throw new Error(r.kind);
      return r.tlb;
    };
    probe();
    return probe;
  }

  it('CERROR_ILL (unknown opcode): CONS.ERR = 1, CONS at the faulting command, GERROR.CMDQ_ERR toggled; nothing runs until GERRORN acknowledges', () => {
    const tb = new Testbed({ cmdqLog2: 3 });
    const probe = withCachedEntry(tb);
    for (let k = 0; k < 6; k++) tb.sync(); // move the queue near its end: the bad command lands in slot 6
    expect(tb.smmu.submit(0x7fn, 0n)).toBe(CERROR.ILL);
    expect(tb.reg('CMDQ_CONS')).toBe((1 << 24) | 6);
    expect(gerrorActive(tb) & GERROR_CMDQ_ERR).toBe(GERROR_CMDQ_ERR);
    // Later commands (across the wrap) are queued but not executed.
    tb.cmd({ op: 'CMD_TLBI_NH_ALL', vmid: 0 });
    tb.cmd(syncMsi(MSI_AREA, 0x55));
    expect(tb.reg('CMDQ_PROD')).toBe(qpos(9, 3));
    expect(tb.reg('CMDQ_CONS')).toBe((1 << 24) | 6);
    expect(probe()).toBe('hit');
    expect(tb.mem.peek64(MSI_AREA)).toBe(0n);
    // Acknowledging without fixing the command: the SMMU retries it and stops again.
    tb.smmu.writeRegByName('GERRORN', BigInt(tb.reg('GERROR')));
    expect(gerrorActive(tb) & GERROR_CMDQ_ERR).toBe(GERROR_CMDQ_ERR);
    expect(tb.reg('CMDQ_CONS') & 0xff).toBe(6);
    expect(tb.mem.peek64(MSI_AREA)).toBe(0n);
    // The driver replaces it with a CMD_SYNC (as Linux does) and acknowledges.
    const [s0, s1] = encodeCommand({ op: 'CMD_SYNC', cs: 0, msh: 0, msiattr: 0, msidata: 0, msiaddr: 0n });
    tb.writeWords(CMDQ_ADDR + 6n * 16n, [s0, s1]);
    tb.smmu.writeRegByName('GERRORN', BigInt(tb.reg('GERROR')));
    expect(gerrorActive(tb)).toBe(0);
    expect(tb.reg('CMDQ_CONS') & 0xff).toBe(qpos(9, 3));
    expect(tb.mem.peek64(MSI_AREA)).toBe(0x55n);
    expect(probe()).toBe('miss');
  });

  it('CERROR_ILL: CMD_SYNC with CS = 0b11 (reserved)', () => {
    const tb = new Testbed();
    const [dw0, dw1] = encodeCommand({ op: 'CMD_SYNC', cs: 0, msh: 0, msiattr: 0, msidata: 0, msiaddr: 0n });
    expect(tb.smmu.submit(dw0 | (3n << 12n), dw1)).toBe(CERROR.ILL);
    expect(tb.reg('CMDQ_CONS')).toBe((1 << 24) | 0);
  });

  it('CERROR_ILL for commands of an unimplemented feature (TLBI_S2_IPA / S12_VMALL without stage 2, EL2 without HYP, ATC_INV without ATS, EL3 on the NS queue)', () => {
    const cases: Array<[Partial<import('./features').SmmuFeatures>, Command]> = [
      [{ s2: false }, { op: 'CMD_TLBI_S2_IPA', vmid: 1, addr: 0x1000n, ...TLBI_NO_RANGE }],
      [{ s2: false }, { op: 'CMD_TLBI_S12_VMALL', vmid: 1 }],
      [{ hyp: false }, { op: 'CMD_TLBI_EL2_ALL' }],
      [{ s1: false }, { op: 'CMD_CFGI_CD', sid: 1, ssid: 0, leaf: true }],
      [{}, { op: 'CMD_ATC_INV', sid: 1, ssid: 0, ssv: false, global: false, size: 0, addr: 0n }],
      [{}, { op: 'CMD_TLBI_EL3_ALL' }],
      [{}, { op: 'CMD_CFGI_STE', sid: 1, leaf: true, ssec: true }],
    ];
    for (const [features, c] of cases) {
      const tb = new Testbed({ features });
      tb.sync();
      expect(tb.cmd(c), c.op).toBe(CERROR.ILL);
      expect(tb.reg('CMDQ_CONS'), c.op).toBe((1 << 24) | 1);
      expect(gerrorActive(tb) & GERROR_CMDQ_ERR, c.op).toBe(GERROR_CMDQ_ERR);
    }
    // With stage 2 the same TLBI_S2_IPA is fine.
    const tb = new Testbed();
    expect(tb.cmd(cases[0][1])).toBe(CERROR.NONE);
  });

  it('CERROR_ABT when the command queue is outside RAM', () => {
    const tb = new Testbed({ cr0: CR0_SMMUEN | CR0_EVTQEN });
    expect(tb.smmu.writeRegByName('CMDQ_BASE', NO_RAM | 3n)).toBe(true);
    tb.smmu.writeRegByName('CR0', BigInt(ALL_ON));
    expect(tb.sync()).toBe(CERROR.ABT);
    expect(tb.reg('CMDQ_CONS')).toBe((2 << 24) | 0);
    expect(gerrorActive(tb) & GERROR_CMDQ_ERR).toBe(GERROR_CMDQ_ERR);
  });

  it('CMD_SYNC with CS = IRQ and an MSI address writes the 32-bit MSIData there (the other half of the word untouched)', () => {
    const tb = new Testbed();
    tb.mem.write64(MSI_AREA, 0xaaaa_bbbb_cccc_ddddn);
    tb.mem.write64(MSI_AREA + 8n, 0x1111_2222_3333_4444n);
    expect(tb.cmd(syncMsi(MSI_AREA + 4n, 0xdead_beef))).toBe(CERROR.NONE);
    expect(tb.mem.peek64(MSI_AREA)).toBe(0xdead_beef_cccc_ddddn);
    expect(tb.cmd(syncMsi(MSI_AREA + 8n, 0x0bad_f00d))).toBe(CERROR.NONE);
    expect(tb.mem.peek64(MSI_AREA + 8n)).toBe(0x1111_2222_0bad_f00dn);
    expect(tb.smmu.stats.msiWrites).toBe(2);
    // CS = 0: no write.
    expect(tb.cmd({ ...syncMsi(MSI_AREA, 1), cs: 0 })).toBe(CERROR.NONE);
    expect(tb.mem.peek64(MSI_AREA)).toBe(0xdead_beef_cccc_ddddn);
  });

  it('CMD_SYNC whose MSI write aborts raises GERROR.MSI_CMDQ_ABT (the command itself completes)', () => {
    const tb = new Testbed();
    expect(tb.cmd(syncMsi(NO_RAM + 0x40n, 1))).toBe(CERROR.NONE);
    expect(gerrorActive(tb) & GERROR_MSI_CMDQ_ABT).toBe(GERROR_MSI_CMDQ_ABT);
    expect(tb.reg('CMDQ_CONS')).toBe(1);
  });
});

// -----------------------------------------------------------------------------

describe('event queue', () => {
  /** A C_BAD_STE (all-zero STE) for `sid`. */
  const bad = (tb: Testbed, sid: number) => tb.tr(sid, 0x1000n);

  it('wraps around: 8 events, consumed, then 5 more land in slots 0..4 with the wrap bit set', () => {
    const tb = new Testbed({ evtqLog2: 3 });
    for (let i = 0; i < 8; i++) expect(bad(tb, 100 + i)).toMatchObject({ kind: 'fault', recorded: true });
    expect(tb.reg('EVENTQ_PROD')).toBe(8);
    expect(tb.drain().map((e) => e.sid)).toEqual([100, 101, 102, 103, 104, 105, 106, 107]);
    expect(tb.reg('EVENTQ_CONS')).toBe(8);
    for (let i = 0; i < 5; i++) bad(tb, 200 + i);
    expect(tb.reg('EVENTQ_PROD')).toBe(8 | 5);
    for (let i = 0; i < 5; i++) expect(tb.eventSlot(i)).toEqual(rawEvent(cfgEvent('C_BAD_STE', 200 + i)));
    expect(decodeEvent(tb.eventSlot(5)).sid).toBe(105); // not yet overwritten
    expect(tb.drain().map((e) => e.sid)).toEqual([200, 201, 202, 203, 204]);
  });

  it('overflow: a full queue loses events, OVFLG toggles once per overflow, entries are not overwritten', () => {
    const tb = new Testbed({ evtqLog2: 3 });
    const recorded: boolean[] = [];
    for (let i = 0; i < 10; i++) {
      const r = bad(tb, 100 + i);
      recorded.push(r.kind === 'fault' && r.recorded);
    }
    expect(recorded).toEqual([true, true, true, true, true, true, true, true, false, false]);
    expect(tb.reg('EVENTQ_PROD') >>> 0).toBe((0x8000_0000 | 8) >>> 0); // full (wrap differs from CONS), OVFLG = 1
    expect(tb.smmu.stats.eventsLost).toBe(2);
    expect(tb.smmu.stats.eventsRecorded).toBe(8);
    for (let i = 0; i < 8; i++) expect(decodeEvent(tb.eventSlot(i)).sid).toBe(100 + i);
    // Software consumes everything and acknowledges the overflow (OVACKFLG = OVFLG).
    expect(tb.drain().map((e) => e.sid)).toEqual([100, 101, 102, 103, 104, 105, 106, 107]);
    expect(tb.reg('EVENTQ_CONS') >>> 0).toBe((0x8000_0000 | 8) >>> 0);
    bad(tb, 300);
    expect(tb.reg('EVENTQ_PROD') >>> 0).toBe((0x8000_0000 | 9) >>> 0); // OVFLG unchanged
    expect(decodeEvent(tb.eventSlot(0)).sid).toBe(300);
    for (let i = 1; i < 9; i++) bad(tb, 300 + i); // 8 unconsumed + 1 lost: overflow again
    expect(tb.reg('EVENTQ_PROD') >>> 0).toBe(0); // index 0, wrap 0, OVFLG toggled back to 0
    bad(tb, 400);
    expect(tb.reg('EVENTQ_PROD') >>> 0).toBe(0); // no second toggle before the acknowledgement
    expect(tb.smmu.stats.eventsLost).toBe(4);
    expect(tb.drain().map((e) => e.sid)).toEqual([300, 301, 302, 303, 304, 305, 306, 307]);
  });

  it('EVTQEN = 0: events are discarded (nothing written, PROD unchanged, stats.eventsLost)', () => {
    const tb = new Testbed({ cr0: CR0_SMMUEN | CR0_CMDQEN });
    expect(bad(tb, 5)).toMatchObject({ kind: 'fault', recorded: false, event: { type: 'C_BAD_STE', sid: 5 } });
    expect(tb.reg('EVENTQ_PROD')).toBe(0);
    expect(tb.eventSlot(0)).toEqual([0n, 0n, 0n, 0n]);
    expect(tb.smmu.stats.eventsLost).toBe(1);
    expect(tb.smmu.eventLog).toHaveLength(0);
  });

  it('an event queue outside RAM raises GERROR.EVENTQ_ABT_ERR; the event is lost', () => {
    const tb = new Testbed({ cr0: CR0_SMMUEN | CR0_CMDQEN });
    tb.smmu.writeRegByName('EVENTQ_BASE', NO_RAM | 3n);
    tb.smmu.writeRegByName('CR0', BigInt(ALL_ON));
    expect(bad(tb, 5)).toMatchObject({ kind: 'fault', recorded: false });
    expect(gerrorActive(tb) & GERROR_EVENTQ_ABT_ERR).toBe(GERROR_EVENTQ_ABT_ERR);
    expect(tb.reg('EVENTQ_PROD')).toBe(0);
  });

  it('after EVENTQ_ABT_ERR is acknowledged (and the queue moved to RAM), events are recorded again', () => {
    const tb = new Testbed({ cr0: CR0_SMMUEN | CR0_CMDQEN });
    tb.smmu.writeRegByName('EVENTQ_BASE', NO_RAM | 3n);
    tb.smmu.writeRegByName('CR0', BigInt(ALL_ON));
    bad(tb, 5);
    bad(tb, 6); // lost while the error is active
    expect(tb.smmu.stats.eventsLost).toBe(2);
    tb.smmu.writeRegByName('CR0', BigInt(CR0_SMMUEN | CR0_CMDQEN));
    tb.smmu.writeRegByName('EVENTQ_BASE', EVTQ_ADDR | 3n);
    tb.smmu.writeRegByName('CR0', BigInt(ALL_ON));
    bad(tb, 7);
    expect(tb.reg('EVENTQ_PROD')).toBe(0); // still active: not acknowledged
    tb.smmu.writeRegByName('GERRORN', BigInt(tb.reg('GERROR')));
    expect(bad(tb, 8)).toMatchObject({ recorded: true });
    expect(tb.drainRaw()).toEqual([rawEvent(cfgEvent('C_BAD_STE', 8))]);
  });
});

// -----------------------------------------------------------------------------

describe('register write rules', () => {
  it('STRTAB_BASE and STRTAB_BASE_CFG are ignored while SMMUEN = 1', () => {
    const tb = new Testbed();
    expect(tb.smmu.writeRegByName('STRTAB_BASE', 0x4000_0000n)).toBe(false);
    expect(tb.smmu.writeRegByName('STRTAB_BASE_CFG', 5n)).toBe(false);
    expect(tb.smmu.readRegByName('STRTAB_BASE')).toBe(STRTAB_ADDR);
    expect(tb.reg('STRTAB_BASE_CFG')).toBe(8);
    tb.writeSte(3, { V: 1, Config: 0b100 });
    expect(tb.tr(3, 0x1000n).kind).toBe('bypass'); // still the old table
    tb.smmu.writeRegByName('CR0', BigInt(CR0_EVTQEN | CR0_CMDQEN));
    expect(tb.smmu.writeRegByName('STRTAB_BASE', 0x4000_0000n)).toBe(true);
    expect(tb.smmu.readRegByName('STRTAB_BASE')).toBe(0x4000_0000n);
  });

  it('CMDQ_BASE is ignored while CMDQEN = 1; EVENTQ_BASE while EVTQEN = 1', () => {
    const tb = new Testbed();
    expect(tb.smmu.writeRegByName('CMDQ_BASE', 0x4000_0000n | 4n)).toBe(false);
    expect(tb.smmu.readRegByName('CMDQ_BASE')).toBe(CMDQ_ADDR | 3n);
    expect(tb.smmu.writeRegByName('EVENTQ_BASE', 0x4000_0000n | 4n)).toBe(false);
    expect(tb.smmu.readRegByName('EVENTQ_BASE')).toBe(EVTQ_ADDR | 3n);
    expect(tb.sync()).toBe(CERROR.NONE); // the queue still works from the old base
    tb.smmu.writeRegByName('CR0', BigInt(CR0_SMMUEN));
    expect(tb.smmu.writeRegByName('CMDQ_BASE', 0x4000_0000n | 4n)).toBe(true);
    expect(tb.smmu.writeRegByName('EVENTQ_BASE', 0x4000_0000n | 4n)).toBe(true);
  });

  it('EVENTQ_PROD / EVENTQ_CONS live in page 1 (0x100A8 / 0x100AC); page-0 0xA8 / 0xAC are not them', () => {
    const tb = new Testbed();
    tb.tr(9, 0x1000n);
    tb.tr(10, 0x1000n);
    expect(tb.smmu.readReg(0x100a8)).toBe(2n);
    expect(tb.smmu.readRegByName('EVENTQ_PROD')).toBe(2n);
    expect(tb.smmu.readReg(0xa8)).toBe(0n);
    expect(tb.smmu.writeReg(0x100ac, 1n)).toBe(true);
    expect(tb.smmu.readReg(0x100ac)).toBe(1n);
    expect(tb.smmu.readRegByName('EVENTQ_CONS')).toBe(1n);
    tb.smmu.writeReg(0xac, 2n);
    expect(tb.smmu.readReg(0x100ac)).toBe(1n);
  });

  it('CR0ACK follows CR0; ID registers and GERROR are read-only', () => {
    const tb = new Testbed();
    expect(tb.reg('CR0ACK')).toBe(ALL_ON);
    const idr0 = tb.reg('IDR0');
    expect(tb.smmu.writeRegByName('IDR0', 0n)).toBe(false);
    expect(tb.reg('IDR0')).toBe(idr0);
    expect(tb.smmu.writeRegByName('GERROR', 1n)).toBe(false);
    expect(tb.reg('GERROR')).toBe(0);
  });
});
