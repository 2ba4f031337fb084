import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { genmask } from '../bits';
import {
  CERROR,
  CERROR_NAMES,
  COMMAND_FIELDS,
  COMMAND_LAYOUT,
  OPCODES,
  OPCODE_OF,
  TLBI_NO_RANGE,
  cfgiAll,
  commandMask,
  commandNeeds,
  decodeCommand,
  encodeCommand,
  formatCommand,
  opcodeName,
  rangeOf,
  type Command,
  type CommandName,
} from './commands';

const U64 = (1n << 64n) - 1n;

// ---------------------------------------------------------------------------
// Arbitraries: one per command, producing the canonical form decode returns.

const u = (bits: number) => fc.integer({ min: 0, max: 2 ** bits - 1 });
const sid = fc.nat({ max: 0xffff_ffff });
const ssid = u(20);
const bool = fc.boolean();
/** Optional SSec: absent (the canonical form of 0) or true. */
const ssec = fc.option(fc.constant(true as const), { nil: undefined });
const withSsec = <T extends object>(o: T, s: true | undefined): T => (s ? { ...o, ssec: true } : o);
const addrIn = (hi: number, lo: number) => fc.bigInt({ min: 0n, max: U64 }).map((a) => a & genmask(hi, lo));
const va = addrIn(63, 12);
const ipa = addrIn(51, 12);
const range = (addr: fc.Arbitrary<bigint>) =>
  fc.record({ addr, leaf: bool, ttl: u(2), tg: u(2), num: u(5), scale: u(5) });

const ARBS: Record<CommandName, fc.Arbitrary<Command>> = {
  CMD_PREFETCH_CONFIG: fc
    .tuple(fc.record({ sid, ssid, ssv: bool }), ssec)
    .map(([o, s]) => withSsec({ op: 'CMD_PREFETCH_CONFIG' as const, ...o }, s)),
  CMD_PREFETCH_ADDR: fc
    .tuple(fc.record({ sid, ssid, ssv: bool, size: u(5), addr: va }), ssec)
    .map(([o, s]) => withSsec({ op: 'CMD_PREFETCH_ADDR' as const, ...o }, s)),
  CMD_CFGI_STE: fc.tuple(fc.record({ sid, leaf: bool }), ssec).map(([o, s]) => withSsec({ op: 'CMD_CFGI_STE' as const, ...o }, s)),
  CMD_CFGI_STE_RANGE: fc
    .tuple(fc.record({ sid, range: fc.integer({ min: 0, max: 30 }) }), ssec)
    .map(([o, s]) => withSsec({ op: 'CMD_CFGI_STE_RANGE' as const, ...o }, s)),
  CMD_CFGI_ALL: ssec.map((s) => cfgiAll(s === true)),
  CMD_CFGI_CD: fc.tuple(fc.record({ sid, ssid, leaf: bool }), ssec).map(([o, s]) => withSsec({ op: 'CMD_CFGI_CD' as const, ...o }, s)),
  CMD_CFGI_CD_ALL: fc.tuple(fc.record({ sid }), ssec).map(([o, s]) => withSsec({ op: 'CMD_CFGI_CD_ALL' as const, ...o }, s)),
  CMD_CFGI_VMS_PIDM: fc.record({ vmid: u(16) }).map((o) => ({ op: 'CMD_CFGI_VMS_PIDM' as const, ...o })),
  CMD_TLBI_NH_ALL: fc.record({ vmid: u(16) }).map((o) => ({ op: 'CMD_TLBI_NH_ALL' as const, ...o })),
  CMD_TLBI_NH_ASID: fc.record({ vmid: u(16), asid: u(16) }).map((o) => ({ op: 'CMD_TLBI_NH_ASID' as const, ...o })),
  CMD_TLBI_NH_VA: fc
    .tuple(fc.record({ vmid: u(16), asid: u(16) }), range(va))
    .map(([o, r]) => ({ op: 'CMD_TLBI_NH_VA' as const, ...o, ...r })),
  CMD_TLBI_NH_VAA: fc.tuple(fc.record({ vmid: u(16) }), range(va)).map(([o, r]) => ({ op: 'CMD_TLBI_NH_VAA' as const, ...o, ...r })),
  CMD_TLBI_EL3_ALL: fc.constant({ op: 'CMD_TLBI_EL3_ALL' as const }),
  CMD_TLBI_EL3_VA: range(va).map((r) => ({ op: 'CMD_TLBI_EL3_VA' as const, ...r })),
  CMD_TLBI_EL2_ALL: fc.constant({ op: 'CMD_TLBI_EL2_ALL' as const }),
  CMD_TLBI_EL2_ASID: fc.record({ asid: u(16) }).map((o) => ({ op: 'CMD_TLBI_EL2_ASID' as const, ...o })),
  CMD_TLBI_EL2_VA: fc.tuple(fc.record({ asid: u(16) }), range(va)).map(([o, r]) => ({ op: 'CMD_TLBI_EL2_VA' as const, ...o, ...r })),
  CMD_TLBI_EL2_VAA: range(va).map((r) => ({ op: 'CMD_TLBI_EL2_VAA' as const, ...r })),
  CMD_TLBI_S12_VMALL: fc.record({ vmid: u(16) }).map((o) => ({ op: 'CMD_TLBI_S12_VMALL' as const, ...o })),
  CMD_TLBI_S2_IPA: fc.tuple(fc.record({ vmid: u(16) }), range(ipa)).map(([o, r]) => ({ op: 'CMD_TLBI_S2_IPA' as const, ...o, ...r })),
  CMD_TLBI_NSNH_ALL: fc.constant({ op: 'CMD_TLBI_NSNH_ALL' as const }),
  CMD_ATC_INV: fc
    .record({ sid, ssid, ssv: bool, global: bool, size: u(6), addr: va })
    .map((o) => ({ op: 'CMD_ATC_INV' as const, ...o })),
  CMD_PRI_RESP: fc
    .record({ sid, ssid, ssv: bool, grpid: u(9), resp: u(2) })
    .map((o) => ({ op: 'CMD_PRI_RESP' as const, ...o })),
  CMD_RESUME: fc
    .tuple(fc.record({ sid, stag: u(16), action: u(2) }), ssec)
    .map(([o, s]) => withSsec({ op: 'CMD_RESUME' as const, ...o }, s)),
  CMD_STALL_TERM: fc.tuple(fc.record({ sid }), ssec).map(([o, s]) => withSsec({ op: 'CMD_STALL_TERM' as const, ...o }, s)),
  CMD_SYNC: fc
    .record({ cs: fc.integer({ min: 0, max: 2 }), msh: u(2), msiattr: u(4), msidata: fc.nat({ max: 0xffff_ffff }), msiaddr: addrIn(51, 2) })
    .map((o) => ({ op: 'CMD_SYNC' as const, ...o })),
};

const anyCommand = fc.oneof(...Object.values(ARBS));
const u64 = fc.bigInt({ min: 0n, max: U64 });

function decodeOk(dw0: bigint, dw1: bigint): Command {
  const r = decodeCommand(dw0, dw1);
  if (!r.ok) throw new Error(`decode failed: ${r.reason}`);
  return r.cmd;
}

// ---------------------------------------------------------------------------

describe('opcode table', () => {
  it('has the architecture opcodes', () => {
    expect(OPCODES).toEqual({
      0x01: 'CMD_PREFETCH_CONFIG',
      0x02: 'CMD_PREFETCH_ADDR',
      0x03: 'CMD_CFGI_STE',
      0x04: 'CMD_CFGI_STE_RANGE',
      0x05: 'CMD_CFGI_CD',
      0x06: 'CMD_CFGI_CD_ALL',
      0x07: 'CMD_CFGI_VMS_PIDM',
      0x10: 'CMD_TLBI_NH_ALL',
      0x11: 'CMD_TLBI_NH_ASID',
      0x12: 'CMD_TLBI_NH_VA',
      0x13: 'CMD_TLBI_NH_VAA',
      0x18: 'CMD_TLBI_EL3_ALL',
      0x1a: 'CMD_TLBI_EL3_VA',
      0x20: 'CMD_TLBI_EL2_ALL',
      0x21: 'CMD_TLBI_EL2_ASID',
      0x22: 'CMD_TLBI_EL2_VA',
      0x23: 'CMD_TLBI_EL2_VAA',
      0x28: 'CMD_TLBI_S12_VMALL',
      0x2a: 'CMD_TLBI_S2_IPA',
      0x30: 'CMD_TLBI_NSNH_ALL',
      0x40: 'CMD_ATC_INV',
      0x41: 'CMD_PRI_RESP',
      0x44: 'CMD_RESUME',
      0x45: 'CMD_STALL_TERM',
      0x46: 'CMD_SYNC',
    });
    expect(OPCODE_OF.CMD_CFGI_ALL).toBe(0x04);
    expect(OPCODE_OF.CMD_SYNC).toBe(0x46);
    expect(opcodeName(0x2a)).toBe('CMD_TLBI_S2_IPA');
    expect(opcodeName(0x99)).toBeUndefined();
  });

  it('CERROR codes', () => {
    expect(CERROR).toEqual({ NONE: 0, ILL: 1, ABT: 2, ATC_INV_SYNC: 3 });
    expect(CERROR_NAMES[CERROR.ILL]).toBe('CERROR_ILL');
    expect(CERROR_NAMES[CERROR.ATC_INV_SYNC]).toBe('CERROR_ATC_INV_SYNC');
  });

  it('every allocated opcode decodes and every other one fails', () => {
    for (let op = 0; op < 256; op++) {
      const r = decodeCommand(BigInt(op), 0n);
      expect(r.ok, `opcode 0x${op.toString(16)}`).toBe(opcodeName(op) !== undefined);
      if (r.ok) expect(OPCODE_OF[r.cmd.op]).toBe(op);
    }
  });
});

describe('hand-computed encodings', () => {
  it('CMD_CFGI_STE sid=5 leaf=1', () => {
    const c: Command = { op: 'CMD_CFGI_STE', sid: 5, leaf: true };
    expect(encodeCommand(c)).toEqual([0x0000000500000003n, 0x1n]);
    expect(decodeOk(0x0000000500000003n, 0x1n)).toEqual(c);
  });

  it('CMD_CFGI_CD sid=0x10 ssid=0x23 leaf=0 and SSec', () => {
    const c: Command = { op: 'CMD_CFGI_CD', sid: 0x10, ssid: 0x23, leaf: false, ssec: true };
    // opcode 0x05 | SSec (1<<10 = 0x400) | SSID 0x23<<12 = 0x23000 | SID 0x10<<32
    expect(encodeCommand(c)).toEqual([0x0000001000023405n, 0n]);
    expect(decodeOk(0x0000001000023405n, 0n)).toEqual(c);
  });

  it('CMD_SYNC cs=IRQ with MSI fields', () => {
    const c: Command = { op: 'CMD_SYNC', cs: 1, msh: 3, msiattr: 0xf, msidata: 0xdeadbeef, msiaddr: 0x8_0000_1234n };
    // dw0: 0x46 | CS 1<<12 (0x1000) | MSH 3<<22 (0xc00000) | MSIAttr 0xf<<24 (0xf000000) | 0xdeadbeef<<32
    expect(encodeCommand(c)).toEqual([0xdeadbeef0fc01046n, 0x0000000800001234n]);
    expect(decodeOk(0xdeadbeef0fc01046n, 0x0000000800001234n)).toEqual(c);
  });

  it('CMD_SYNC cs=SEV (no MSI), and the MSI address loses bits [1:0] and [63:52]', () => {
    expect(encodeCommand({ op: 'CMD_SYNC', cs: 2, msh: 0, msiattr: 0, msidata: 0, msiaddr: 0n })).toEqual([0x2046n, 0n]);
    const [, dw1] = encodeCommand({ op: 'CMD_SYNC', cs: 0, msh: 0, msiattr: 0, msidata: 0, msiaddr: 0xfff0_0000_1234_567fn });
    expect(dw1).toBe(0x0000_0000_1234_567cn);
    expect(dw1).toBe(0xfff0_0000_1234_567fn & 0x000f_ffff_ffff_fffcn);
  });

  it('CMD_TLBI_NH_VA asid=7 vmid=3 addr=0x12345000 leaf=1', () => {
    const c: Command = { op: 'CMD_TLBI_NH_VA', asid: 7, vmid: 3, addr: 0x12345000n, ...TLBI_NO_RANGE, leaf: true };
    expect(encodeCommand(c)).toEqual([(7n << 48n) | (3n << 32n) | 0x12n, 0x12345000n | 1n]);
    expect(decodeOk((7n << 48n) | (3n << 32n) | 0x12n, 0x12345001n)).toEqual(c);
  });

  it('CMD_TLBI_NH_VA range: tg=4K num=3 scale=2 ttl=3', () => {
    const c: Command = { op: 'CMD_TLBI_NH_VA', asid: 1, vmid: 0, addr: 0x40000n, leaf: true, ttl: 3, tg: 1, num: 3, scale: 2 };
    // dw0: 0x12 | NUM 3<<12 (0x3000) | SCALE 2<<20 (0x200000) | ASID 1<<48
    // dw1: 0x40000 | TG 1<<10 (0x400) | TTL 3<<8 (0x300) | Leaf 1
    expect(encodeCommand(c)).toEqual([0x0001000000203012n, 0x40701n]);
    expect(rangeOf(c)).toEqual({ start: 0x40000n, size: 4n * 4n * 4096n, ttl: 3, leaf: true, granule: 4096n });
  });

  it('CMD_TLBI_S2_IPA keeps only IPA[51:12]', () => {
    const c: Command = { op: 'CMD_TLBI_S2_IPA', vmid: 9, addr: 0xfff8_1234_5678_9abcn, ...TLBI_NO_RANGE };
    const [dw0, dw1] = encodeCommand(c);
    expect(dw0).toBe((9n << 32n) | 0x2an);
    expect(dw1).toBe(0x0008_1234_5678_9000n);
    expect(decodeOk(dw0, dw1 | 0xfff0_0000_0000_0000n)).toEqual({ ...c, addr: 0x0008_1234_5678_9000n });
  });

  it('CMD_TLBI_S12_VMALL / NSNH_ALL / EL2_ALL', () => {
    expect(encodeCommand({ op: 'CMD_TLBI_S12_VMALL', vmid: 0xabcd })).toEqual([0x0000abcd00000028n, 0n]);
    expect(encodeCommand({ op: 'CMD_TLBI_NSNH_ALL' })).toEqual([0x30n, 0n]);
    expect(encodeCommand({ op: 'CMD_TLBI_EL2_ALL' })).toEqual([0x20n, 0n]);
    expect(encodeCommand({ op: 'CMD_TLBI_EL2_ASID', asid: 0x55 })).toEqual([0x0055000000000021n, 0n]);
  });

  it('CMD_ATC_INV, CMD_PRI_RESP, CMD_RESUME, CMD_STALL_TERM', () => {
    expect(
      encodeCommand({ op: 'CMD_ATC_INV', sid: 2, ssid: 1, ssv: true, global: true, size: 52, addr: 0x1000n }),
    ).toEqual([0x0000000200001a40n, 0x1034n]);
    expect(encodeCommand({ op: 'CMD_PRI_RESP', sid: 3, ssid: 4, ssv: true, grpid: 0x1ff, resp: 2 })).toEqual([
      0x0000000300004841n,
      0x21ffn,
    ]);
    expect(encodeCommand({ op: 'CMD_RESUME', sid: 6, stag: 0xbeef, action: 1 })).toEqual([0x0000000600001044n, 0xbeefn]);
    expect(encodeCommand({ op: 'CMD_RESUME', sid: 6, stag: 0, action: 2 })).toEqual([0x0000000600002044n, 0n]);
    expect(encodeCommand({ op: 'CMD_STALL_TERM', sid: 0xffffffff })).toEqual([0xffffffff00000045n, 0n]);
  });

  it('CMD_PREFETCH_CONFIG / ADDR', () => {
    expect(encodeCommand({ op: 'CMD_PREFETCH_CONFIG', sid: 1, ssid: 2, ssv: true })).toEqual([0x0000000100002801n, 0n]);
    expect(encodeCommand({ op: 'CMD_PREFETCH_ADDR', sid: 1, ssid: 0, ssv: false, size: 3, addr: 0x7000n })).toEqual([
      0x0000000100000002n,
      0x7003n,
    ]);
  });
});

describe('CMD_CFGI_ALL', () => {
  it('is CFGI_STE_RANGE with Range = 31', () => {
    expect(encodeCommand(cfgiAll())).toEqual([0x04n, 0x1fn]);
    expect(decodeOk(0x04n, 0x1fn)).toEqual({ op: 'CMD_CFGI_ALL' });
    expect(encodeCommand(cfgiAll(true))).toEqual([0x404n, 0x1fn]);
    expect(decodeOk(0x404n, 0x1fn)).toEqual({ op: 'CMD_CFGI_ALL', ssec: true });
  });

  it('a STE_RANGE written with Range = 31 decodes as CFGI_ALL (StreamID ignored)', () => {
    const dw = encodeCommand({ op: 'CMD_CFGI_STE_RANGE', sid: 0x1234, range: 31 });
    expect(decodeOk(...dw)).toEqual({ op: 'CMD_CFGI_ALL' });
    expect(decodeOk(...encodeCommand({ op: 'CMD_CFGI_STE_RANGE', sid: 0x1234, range: 30 }))).toEqual({
      op: 'CMD_CFGI_STE_RANGE',
      sid: 0x1234,
      range: 30,
    });
  });
});

describe('illegal commands', () => {
  it('unknown opcodes fail with a reason', () => {
    for (const op of [0x00n, 0x99n, 0x08n, 0x47n, 0xffn]) {
      const r = decodeCommand(op | (5n << 32n), 0n);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(/unknown opcode 0x[0-9a-f]{2}/);
    }
    const r = decodeCommand(0x99n, 0n);
    expect(r).toEqual({ ok: false, reason: 'unknown opcode 0x99' });
  });

  it('CMD_SYNC with CS = 0b11 fails', () => {
    const r = decodeCommand(0x46n | (3n << 12n), 0n);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/CS/);
  });

  it('RES0 bits are ignored', () => {
    // CFGI_STE with SSV, SSID and dw1 high bits set: still the same command.
    expect(decodeOk(0x0000000500fff803n, 0xffff_0000_0000_0000n)).toEqual({ op: 'CMD_CFGI_STE', sid: 5, leaf: false });
  });
});

describe('properties', () => {
  for (const [name, arb] of Object.entries(ARBS)) {
    it(`${name}: decode(encode(c)) = c`, () => {
      fc.assert(
        fc.property(arb, (c) => {
          const [dw0, dw1] = encodeCommand(c);
          expect(dw0 >= 0n && dw0 <= U64 && dw1 >= 0n && dw1 <= U64).toBe(true);
          expect(Number(dw0 & 0xffn)).toBe(OPCODE_OF[c.op]);
          const r = decodeCommand(dw0, dw1);
          expect(r).toEqual({ ok: true, cmd: c });
        }),
        { numRuns: 200 },
      );
    });
  }

  it('encoding sets no bit outside the command fields', () => {
    fc.assert(
      fc.property(anyCommand, (c) => {
        const [m0, m1] = commandMask(c.op);
        const [dw0, dw1] = encodeCommand(c);
        expect(dw0 & ~m0).toBe(0n);
        expect(dw1 & ~m1).toBe(0n);
      }),
    );
  });

  it('random 128-bit inputs never throw, and decode is a fixed point of encode', () => {
    fc.assert(
      fc.property(u64, u64, (dw0, dw1) => {
        const r = decodeCommand(dw0, dw1);
        if (!r.ok) {
          expect(r.reason.length).toBeGreaterThan(0);
          return;
        }
        const [e0, e1] = encodeCommand(r.cmd);
        const [m0, m1] = commandMask(r.cmd.op);
        expect(e0).toBe(dw0 & m0);
        expect(e1).toBe(dw1 & m1);
        expect(decodeCommand(e0, e1)).toEqual(r);
        expect(() => formatCommand(r.cmd)).not.toThrow();
        expect(() => commandNeeds(r.cmd)).not.toThrow();
        expect(() => rangeOf(r.cmd)).not.toThrow();
      }),
      { numRuns: 2000 },
    );
  });

  it('random inputs with an allocated opcode', () => {
    const ops = Object.keys(OPCODES).map(Number);
    fc.assert(
      fc.property(fc.constantFrom(...ops), u64, u64, (op, hi, dw1) => {
        const dw0 = (hi & ~0xffn) | BigInt(op);
        const r = decodeCommand(dw0, dw1);
        const syncCs3 = op === 0x46 && ((dw0 >> 12n) & 3n) === 3n;
        expect(r.ok).toBe(!syncCs3);
      }),
      { numRuns: 2000 },
    );
  });

  it('decode never throws on odd bigints (negative, > 64 bits)', () => {
    fc.assert(
      fc.property(fc.bigInt(), fc.bigInt(), (a, b) => {
        expect(() => decodeCommand(a, b)).not.toThrow();
      }),
    );
  });
});

describe('COMMAND_FIELDS', () => {
  const names = [...Object.values(OPCODES), 'CMD_CFGI_ALL'] as CommandName[];

  it('covers every command, with an Opcode field, no overlaps, within 128 bits, one dword per field', () => {
    expect(Object.keys(COMMAND_FIELDS).sort()).toEqual([...names].sort());
    for (const n of names) {
      const fs = COMMAND_FIELDS[n];
      expect(fs[0]).toMatchObject({ name: 'Opcode', hi: 7, lo: 0 });
      let used = 0n;
      for (const fl of fs) {
        expect(fl.hi).toBeGreaterThanOrEqual(fl.lo);
        expect(fl.hi).toBeLessThan(128);
        expect(Math.floor(fl.hi / 64)).toBe(Math.floor(fl.lo / 64));
        expect(fl.doc.length).toBeGreaterThan(0);
        const m = genmask(fl.hi, fl.lo);
        expect(used & m, `${n}.${fl.name} overlaps`).toBe(0n);
        used |= m;
      }
    }
  });

  it('agrees with the encoder: an all-ones decode re-encodes to exactly the field bits', () => {
    for (const n of names) {
      const op = BigInt(OPCODE_OF[n]);
      let dw0 = (U64 & ~0xffn) | op;
      if (n === 'CMD_SYNC') dw0 &= ~(1n << 13n); // CS = 3 is illegal
      let dw1 = U64;
      if (n === 'CMD_CFGI_STE_RANGE') dw1 &= ~1n; // Range 30, not CFGI_ALL
      const c = decodeOk(dw0, dw1);
      expect(c.op).toBe(n);
      let m0 = 0n;
      let m1 = 0n;
      for (const fl of COMMAND_FIELDS[n]) {
        if (fl.lo >= 64) m1 |= genmask(fl.hi - 64, fl.lo - 64);
        else m0 |= genmask(fl.hi, fl.lo);
      }
      expect(encodeCommand(c)).toEqual([dw0 & m0, dw1 & m1]);
    }
  });

  it('documents the architecture positions', () => {
    const pos = (n: CommandName, f: string) => {
      const fl = COMMAND_FIELDS[n].find((x) => x.name === f);
      return fl && [fl.hi, fl.lo];
    };
    expect(pos('CMD_TLBI_NH_VA', 'ASID')).toEqual([63, 48]);
    expect(pos('CMD_TLBI_NH_VA', 'VMID')).toEqual([47, 32]);
    expect(pos('CMD_TLBI_NH_VA', 'TG')).toEqual([75, 74]);
    expect(pos('CMD_TLBI_NH_VA', 'Address')).toEqual([127, 76]);
    expect(pos('CMD_TLBI_S2_IPA', 'Address')).toEqual([115, 76]);
    expect(pos('CMD_SYNC', 'MSIAddr')).toEqual([115, 66]);
    expect(pos('CMD_ATC_INV', 'Global')).toEqual([9, 9]);
    expect(pos('CMD_CFGI_ALL', 'Range')).toEqual([68, 64]);
    expect(COMMAND_LAYOUT.CMD_CFGI_ALL.find((f) => f.name === 'Range')?.value).toBe(31);
  });
});

describe('commandNeeds', () => {
  const va = { addr: 0x1000n, ...TLBI_NO_RANGE };
  it('stage, hyp, secure, ril', () => {
    expect(commandNeeds({ op: 'CMD_TLBI_S2_IPA', vmid: 1, ...va })).toEqual({ s2: true });
    expect(commandNeeds({ op: 'CMD_TLBI_S12_VMALL', vmid: 1 })).toEqual({ s2: true });
    expect(commandNeeds({ op: 'CMD_TLBI_NH_ASID', vmid: 1, asid: 2 })).toEqual({ s1: true });
    expect(commandNeeds({ op: 'CMD_CFGI_CD', sid: 1, ssid: 0, leaf: true })).toEqual({ s1: true });
    expect(commandNeeds({ op: 'CMD_TLBI_EL2_VA', asid: 2, ...va })).toEqual({ s1: true, hyp: true });
    expect(commandNeeds({ op: 'CMD_TLBI_EL3_ALL' })).toEqual({ s1: true, secure: true });
    expect(commandNeeds({ op: 'CMD_CFGI_STE', sid: 1, leaf: true, ssec: true })).toEqual({ secure: true });
    expect(commandNeeds({ op: 'CMD_CFGI_STE', sid: 1, leaf: true })).toEqual({});
    expect(commandNeeds({ op: 'CMD_TLBI_NH_VA', vmid: 0, asid: 1, ...va, tg: 2 })).toEqual({ s1: true, ril: true });
    expect(commandNeeds({ op: 'CMD_SYNC', cs: 0, msh: 0, msiattr: 0, msidata: 0, msiaddr: 0n })).toEqual({});
    expect(commandNeeds({ op: 'CMD_TLBI_NSNH_ALL' })).toEqual({});
    expect(commandNeeds({ op: 'CMD_ATC_INV', sid: 1, ssid: 0, ssv: false, global: false, size: 0, addr: 0n })).toEqual({ ats: true });
  });
});

describe('rangeOf', () => {
  const nh = (r: Partial<Extract<Command, { op: 'CMD_TLBI_NH_VA' }>>): Command => ({
    op: 'CMD_TLBI_NH_VA',
    vmid: 0,
    asid: 1,
    addr: 0x12345000n,
    ...TLBI_NO_RANGE,
    ...r,
  });

  it('single address when TG = 0', () => {
    expect(rangeOf(nh({ ttl: 3, leaf: true }))).toEqual({ start: 0x12345000n, size: null, ttl: 3, leaf: true, granule: null });
  });

  it('single address without RIL, whatever TG/NUM/SCALE/TTL say', () => {
    expect(rangeOf(nh({ tg: 3, num: 7, scale: 4, ttl: 2 }), { ril: false })).toEqual({
      start: 0x12345000n,
      size: null,
      ttl: 0,
      leaf: false,
      granule: null,
    });
  });

  it('(NUM+1) x 2^SCALE granules, start rounded down to the granule', () => {
    expect(rangeOf(nh({ tg: 2, num: 0, scale: 0 }))).toMatchObject({ start: 0x12344000n, size: 16384n, granule: 16384n });
    expect(rangeOf(nh({ tg: 3, num: 31, scale: 31 }))).toMatchObject({ start: 0x12340000n, size: 32n * (1n << 31n) * 65536n });
    expect(rangeOf(nh({ tg: 1, num: 1, scale: 3 }))).toMatchObject({ start: 0x12345000n, size: 2n * 8n * 4096n });
  });

  it('S2_IPA ranges are over IPAs; non-address commands have no range', () => {
    expect(rangeOf({ op: 'CMD_TLBI_S2_IPA', vmid: 1, addr: 0x8000_0000n, ...TLBI_NO_RANGE, tg: 1, num: 1 })).toMatchObject({
      start: 0x8000_0000n,
      size: 8192n,
    });
    expect(rangeOf({ op: 'CMD_TLBI_NH_ALL', vmid: 1 })).toBeNull();
    expect(rangeOf(cfgiAll())).toBeNull();
  });

  it('property: the range is granule-aligned and never empty', () => {
    fc.assert(
      fc.property(ARBS.CMD_TLBI_NH_VA, (c) => {
        const r = rangeOf(c);
        expect(r).not.toBeNull();
        if (!r || r.size === null || r.granule === null) return;
        expect(r.start % r.granule).toBe(0n);
        expect(r.size % r.granule).toBe(0n);
        expect(r.size).toBeGreaterThan(0n);
      }),
    );
  });
});

describe('formatCommand', () => {
  it('names the fields', () => {
    expect(formatCommand({ op: 'CMD_CFGI_STE', sid: 5, leaf: true })).toBe('CMD_CFGI_STE sid=0x5 leaf=1');
    expect(formatCommand(cfgiAll())).toBe('CMD_CFGI_ALL');
  });
});
