import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { encodeS1Leaf, encodeS1Table, encodeS2Leaf, encodeS2Table } from '../emu/descriptor';
import { type Cd, encodeCd } from '../emu/smmu/cd';
import { TLBI_NO_RANGE, encodeCommand } from '../emu/smmu/commands';
import { type Ste, encodeSte } from '../emu/smmu/ste';
import { runCli } from './main';

// ---------------------------------------------------------------------------
// Document builders: every structure is raw 64-bit words, encoded here.

const h = (v: bigint | number): string => '0x' + BigInt(v).toString(16);

type Json = Record<string, unknown>;
type Seed = { addr: string; u64: string[] };

function run(doc: unknown) {
  return runCli('smmu', typeof doc === 'string' ? doc : JSON.stringify(doc));
}

function results(doc: unknown): Json[] {
  const r = run(doc);
  expect(r.output).not.toHaveProperty('error');
  expect(r.exitCode).toBe(0);
  return (r.output as { results: Json[] }).results;
}

function expectInvalid(doc: unknown, path: string) {
  const r = run(doc);
  expect(r.exitCode).toBe(2);
  expect(r.output).toMatchObject({ error: { kind: 'invalid-input', path } });
  const err = (r.output as { error: Record<string, unknown> }).error;
  expect(Object.keys(err)).toEqual(['kind', 'message', 'path']);
  return err.message as string;
}

/** Sparse memory image: address -> 64-bit word. */
class Image {
  readonly words = new Map<bigint, bigint>();

  put(addr: bigint, words: readonly bigint[]): void {
    words.forEach((w, i) => this.words.set(addr + BigInt(i) * 8n, w));
  }

  seeds(): Seed[] {
    return [...this.words].sort(([a], [b]) => (a < b ? -1 : 1)).map(([addr, w]) => ({ addr: h(addr), u64: [h(w)] }));
  }
}

/**
 * 4KB-granule, 4-level (level 0 start, 48-bit input) tables. Tables live at
 * addresses of the translation's own input space (`tableIa`); `toPa` says
 * where such an address is in physical memory (identity unless nested).
 */
class Tables4k {
  private next: bigint;
  constructor(
    private readonly img: Image,
    private readonly stage: 1 | 2,
    readonly root: bigint,
    private readonly toPa: (a: bigint) => bigint = (a) => a,
  ) {
    this.next = root + 0x1000n;
  }

  /** Every table address allocated so far (root first). */
  readonly tables: bigint[] = [];

  map(ia: bigint, leaf: bigint): void {
    if (this.tables.length === 0) this.tables.push(this.root);
    let t = this.root;
    for (let lvl = 0; lvl < 3; lvl++) {
      const slot = this.toPa(t) + ((ia >> BigInt(39 - 9 * lvl)) & 0x1ffn) * 8n;
      let d = this.img.words.get(slot);
      if (d === undefined) {
        const n = this.next;
        this.next += 0x1000n;
        this.tables.push(n);
        d = this.stage === 1 ? encodeS1Table(n, 4096) : encodeS2Table(n, 4096);
        this.img.words.set(slot, d);
      }
      t = d & 0x0000_ffff_ffff_f000n;
    }
    this.img.words.set(this.toPa(t) + ((ia >> 12n) & 0x1ffn) * 8n, leaf);
  }
}

const STRTAB = 0x1000_0000n;
const CD_ADDR = 0x1100_0000n;
const S1_ROOT = 0x2000_0000n;
const S2_ROOT = 0x3000_0000n;

/** S1 page: AF, EL0 read/write. */
const s1Page = (pa: bigint, nG = true): bigint => encodeS1Leaf(pa, 4096, 3, { af: true, ap: 1, attrIndx: 0, sh: 3, nG });
/** S2 page: AF, read/write. */
const s2Page = (pa: bigint): bigint => encodeS2Leaf(pa, 4096, 3, { af: true, s2ap: 3, memAttr: 0xf, sh: 3 });

const S1_CD: Partial<Cd> = { V: 1, A: 1, R: 1, AA64: 1, T0SZ: 16, TG0: 0, IPS: 5, EPD1: 1, ASID: 5, TTB0: S1_ROOT };
const S2_FIELDS: Partial<Ste> = { S2VMID: 3, S2T0SZ: 16, S2SL0: 2, S2TG: 0, S2PS: 5, S2AA64: 1, S2R: 1, S2TTB: S2_ROOT };

/** Registers for a linear stream table of 16 STEs at STRTAB, SMMU enabled. */
const ENABLED_REGS = { STRTAB_BASE: h(STRTAB), STRTAB_BASE_CFG: '0x4', CR0: '0x1' };

function steAt(img: Image, sid: number, ste: Partial<Ste>): void {
  img.put(STRTAB + BigInt(sid) * 64n, encodeSte(ste));
}

/** A stage-1-only stream (sid 1, ASID 5) mapping iova 0x1000 -> 0x8000_0000 and 0x2000 -> 0x8000_1000 (global). */
function s1Doc(steps: unknown[]): Json {
  const img = new Image();
  steAt(img, 1, { V: 1, Config: 0b101, S1ContextPtr: CD_ADDR });
  img.put(CD_ADDR, encodeCd(S1_CD));
  const t = new Tables4k(img, 1, S1_ROOT);
  t.map(0x1000n, s1Page(0x8000_0000n));
  t.map(0x2000n, s1Page(0x8000_1000n, false)); // a global page
  return { regs: ENABLED_REGS, memory: img.seeds(), steps };
}

const tr = (iova: string, more: Json = {}): Json => ({ do: 'translate', sid: 1, iova, access: 'read', priv: false, ...more });

// ---------------------------------------------------------------------------

describe('smmu: translations', () => {
  it('stage 1, 4K, 4 levels: a cold miss reads STE + CD + 4 tables, then the IOTLB hits', () => {
    const out = results(s1Doc([tr('0x1234'), tr('0x1ff8'), tr('0x2010', { access: 'write', priv: true })]));
    expect(out).toEqual([
      { pa: '0x80000234', tlb: 'miss', accesses: 6 },
      { pa: '0x80000ff8', tlb: 'hit', accesses: 0 },
      // Configuration cached, new page: only the 4 table reads.
      { pa: '0x80001010', tlb: 'miss', accesses: 4 },
    ]);
    expect(Object.keys(out[0])).toEqual(['pa', 'tlb', 'accesses']);
  });

  it('stage 1 trace: configuration fetches are stage 1 level 0; accesses = trace length', () => {
    const [r] = results(s1Doc([tr('0x1234', { trace: true })]));
    const trace = r.trace as Json[];
    expect(Object.keys(r)).toEqual(['pa', 'tlb', 'accesses', 'trace']);
    expect(trace).toHaveLength(r.accesses as number);
    expect(trace.map((t) => [t.stage, t.level, t.purpose])).toEqual([
      [1, 0, 'ste'],
      [1, 0, 'cd'],
      [1, 0, 's1-table'],
      [1, 1, 's1-table'],
      [1, 2, 's1-table'],
      [1, 3, 's1-table'],
    ]);
    expect(trace[0]).toEqual({ stage: 1, level: 0, addr: h(STRTAB + 64n), desc: h(encodeSte({ V: 1, Config: 0b101, S1ContextPtr: CD_ADDR })[0]), purpose: 'ste' });
    expect(trace[1].addr).toBe(h(CD_ADDR));
    expect(trace[2].addr).toBe(h(S1_ROOT));
    expect(trace[5].desc).toBe(h(s1Page(0x8000_0000n)));
  });

  it('stage 2 only: the input address is the IPA, table reads are s2-for-output', () => {
    const img = new Image();
    steAt(img, 2, { V: 1, Config: 0b110, ...S2_FIELDS });
    const t = new Tables4k(img, 2, S2_ROOT);
    t.map(0x4000_0000n, s2Page(0x9000_0000n));
    const out = results({
      regs: ENABLED_REGS,
      memory: img.seeds(),
      steps: [
        { do: 'translate', sid: 2, iova: '0x40000abc', access: 'write', priv: false, trace: true },
        { do: 'translate', sid: 2, iova: '0x40000008', access: 'read', priv: true },
      ],
    });
    expect(out[0]).toMatchObject({ pa: '0x90000abc', tlb: 'miss', accesses: 5 });
    expect((out[0].trace as Json[]).map((e) => [e.stage, e.level, e.purpose])).toEqual([
      [1, 0, 'ste'],
      [2, 0, 's2-for-output'],
      [2, 1, 's2-for-output'],
      [2, 2, 's2-for-output'],
      [2, 3, 's2-for-output'],
    ]);
    expect(out[1]).toEqual({ pa: '0x90000008', tlb: 'hit', accesses: 0 });
  });

  it('nested 4+4, cold: 24 table reads plus STE, CD and the CD\'s own stage-2 walk (30)', () => {
    const img = new Image();
    // Stage 2: IPA x -> PA x + 0x1_0000_0000 for every page the guest uses.
    const OFF = 0x1_0000_0000n;
    const s2 = new Tables4k(img, 2, S2_ROOT);
    const cdIpa = 0x5000_0000n;
    const s1RootIpa = 0x6000_0000n;
    const s1 = new Tables4k(img, 1, s1RootIpa, (ipa) => ipa + OFF);
    s1.map(0x7000n, encodeS1Leaf(0x7700_0000n, 4096, 3, { af: true, ap: 1 }));
    for (const ipa of [cdIpa, ...s1.tables, 0x7700_0000n]) s2.map(ipa, s2Page(ipa + OFF));
    steAt(img, 3, { V: 1, Config: 0b111, S1ContextPtr: cdIpa, ...S2_FIELDS });
    img.put(cdIpa + OFF, encodeCd({ ...S1_CD, TTB0: s1RootIpa }));
    const out = results({
      regs: ENABLED_REGS,
      memory: img.seeds(),
      steps: [
        { do: 'translate', sid: 3, iova: '0x7123', access: 'read', priv: false, trace: true },
        { do: 'translate', sid: 3, iova: '0x7124', access: 'read', priv: false },
      ],
    });
    const r = out[0];
    expect(r.pa).toBe(h(0x7700_0123n + OFF));
    expect(r.tlb).toBe('miss');
    const trace = r.trace as Json[];
    expect(r.accesses).toBe(30);
    expect(trace).toHaveLength(30);
    const purposes = trace.map((e) => e.purpose);
    expect(purposes.slice(0, 6)).toEqual(['ste', 's2-for-cd', 's2-for-cd', 's2-for-cd', 's2-for-cd', 'cd']);
    const walk = trace.slice(6);
    expect(walk).toHaveLength(24);
    const s1Step = ['s2-for-s1-table', 's2-for-s1-table', 's2-for-s1-table', 's2-for-s1-table', 's1-table'];
    expect(walk.map((e) => e.purpose)).toEqual([...s1Step, ...s1Step, ...s1Step, ...s1Step, 's2-for-output', 's2-for-output', 's2-for-output', 's2-for-output']);
    expect(walk.map((e) => e.stage)).toEqual([2, 2, 2, 2, 1, 2, 2, 2, 2, 1, 2, 2, 2, 2, 1, 2, 2, 2, 2, 1, 2, 2, 2, 2]);
    expect(walk.filter((e) => e.purpose === 's1-table').map((e) => e.level)).toEqual([0, 1, 2, 3]);
    // The stage-1 table reads are at the tables' PAs.
    expect(walk[4].addr).toBe(h(s1RootIpa + OFF));
    expect(out[1]).toEqual({ pa: h(0x7700_0124n + OFF), tlb: 'hit', accesses: 0 });
  });
});

describe('smmu: bypass and abort', () => {
  it('SMMUEN = 0: GBPA.ABORT aborts, the reset GBPA bypasses', () => {
    const step = { do: 'translate', sid: 7, iova: '0x12345678', access: 'read', priv: false };
    expect(results({ regs: { GBPA: '0x80100000' }, steps: [step] })).toEqual([{ abort: true }]);
    expect(results({ steps: [step] })).toEqual([{ pa: '0x12345678' }]);
    // A GBPA write without UPDATE is ignored: still bypass.
    expect(results({ regs: { GBPA: '0x100000' }, steps: [step] })).toEqual([{ pa: '0x12345678' }]);
  });

  it('STE Config = abort gives {abort}, Config = bypass gives the input address', () => {
    const img = new Image();
    steAt(img, 4, { V: 1, Config: 0b000 });
    steAt(img, 5, { V: 1, Config: 0b100 });
    const out = results({
      regs: ENABLED_REGS,
      memory: img.seeds(),
      steps: [
        { do: 'translate', sid: 4, iova: '0x1000', access: 'read', priv: false },
        { do: 'translate', sid: 5, iova: '0xdead0000', access: 'write', priv: true, trace: true },
      ],
    });
    expect(out).toEqual([{ abort: true }, { pa: '0xdead0000', trace: [{ stage: 1, level: 0, addr: h(STRTAB + 5n * 64n), desc: '0x9', purpose: 'ste' }] }]);
  });
});

describe('smmu: faults', () => {
  it('an unmapped iova is F_TRANSLATION, stage 1, class IN', () => {
    const [r] = results(s1Doc([tr('0x5000', { ssid: undefined })]));
    expect(r).toEqual({ fault: { type: 'F_TRANSLATION', code: '0x10', sid: 1, ssid: 0, input_addr: '0x5000', stage: 1, class: 'IN' } });
    expect(Object.keys(r.fault as Json)).toEqual(['type', 'code', 'sid', 'ssid', 'input_addr', 'stage', 'class']);
  });

  it('an invalid STE is C_BAD_STE with no stage, class or ipa', () => {
    const [r] = results({ regs: ENABLED_REGS, steps: [{ do: 'translate', sid: 9, iova: '0x1000', access: 'read', priv: false }] });
    expect(r).toEqual({ fault: { type: 'C_BAD_STE', code: '0x4', sid: 9, ssid: 0, input_addr: '0x1000' } });
  });

  it('a stage-2 fault carries the IPA', () => {
    const img = new Image();
    steAt(img, 2, { V: 1, Config: 0b110, ...S2_FIELDS });
    new Tables4k(img, 2, S2_ROOT).map(0x4000_0000n, s2Page(0x9000_0000n));
    const [r] = results({
      regs: ENABLED_REGS,
      memory: img.seeds(),
      steps: [{ do: 'translate', sid: 2, iova: '0x40201234', access: 'read', priv: false }],
    });
    expect(r).toEqual({
      fault: { type: 'F_TRANSLATION', code: '0x10', sid: 2, ssid: 0, input_addr: '0x40201234', ipa: '0x40201000', stage: 2, class: 'IN' },
    });
    expect(Object.keys(r.fault as Json)).toEqual(['type', 'code', 'sid', 'ssid', 'input_addr', 'ipa', 'stage', 'class']);
  });

  it('a read outside `ram` is an external abort (F_STE_FETCH)', () => {
    const [r] = results({
      ram: [{ base: '0x80000000', size: '0x10000000' }],
      regs: ENABLED_REGS,
      steps: [{ do: 'translate', sid: 1, ssid: 0, iova: '0x1000', access: 'read', priv: false, trace: true }],
    });
    expect(r).toEqual({
      fault: { type: 'F_STE_FETCH', code: '0x3', sid: 1, ssid: 0, input_addr: '0x1000' },
      trace: [{ stage: 1, level: 0, addr: h(STRTAB + 64n), desc: null, purpose: 'ste' }],
    });
  });
});

describe('smmu: memory writes and commands', () => {
  const tlbiVa = (addr: bigint) => encodeCommand({ op: 'CMD_TLBI_NH_VA', vmid: 0, asid: 5, ...TLBI_NO_RANGE, addr }).map(h);

  it('write64 leaves a stale IOTLB entry until TLBI_NH_VA / TLBI_NH_ASID', () => {
    const doc = s1Doc([]);
    // The level-3 entry for iova 0x1000 (the 4th table allocated, index 1).
    const l3Slot = S1_ROOT + 3n * 0x1000n + 8n;
    const moved = h(s1Page(0xa000_0000n));
    doc.steps = [
      tr('0x1010'),
      { do: 'write64', addr: h(l3Slot), value: moved },
      tr('0x1010'),
      { do: 'cmd', u64: tlbiVa(0x1000n) },
      tr('0x1010'),
      { do: 'write64', addr: h(l3Slot), value: h(s1Page(0xb000_0000n)) },
      tr('0x1010'),
      { do: 'cmd', u64: encodeCommand({ op: 'CMD_TLBI_NH_ASID', vmid: 0, asid: 5 }).map(h) },
      tr('0x1010'),
      { do: 'write64', addr: '0xfff0000000000', value: '0x1' },
    ];
    expect(results(doc)).toEqual([
      { pa: '0x80000010', tlb: 'miss', accesses: 6 },
      {},
      { pa: '0x80000010', tlb: 'hit', accesses: 0 },
      {},
      { pa: '0xa0000010', tlb: 'miss', accesses: 4 },
      {},
      { pa: '0xa0000010', tlb: 'hit', accesses: 0 },
      {},
      { pa: '0xb0000010', tlb: 'miss', accesses: 4 },
      {},
    ]);
  });

  it('TLBI_NH_ASID spares global entries; TLBI_NH_VA does not', () => {
    const doc = s1Doc([]);
    const l3Slot = S1_ROOT + 3n * 0x1000n + 16n;
    doc.steps = [
      tr('0x2000'),
      { do: 'write64', addr: h(l3Slot), value: h(s1Page(0xa000_0000n, false)) },
      { do: 'cmd', u64: encodeCommand({ op: 'CMD_TLBI_NH_ASID', vmid: 0, asid: 5 }).map(h) },
      tr('0x2000'),
      { do: 'cmd', u64: tlbiVa(0x2000n) },
      tr('0x2000'),
    ];
    expect(results(doc)).toEqual([
      { pa: '0x80001000', tlb: 'miss', accesses: 6 },
      {},
      {},
      { pa: '0x80001000', tlb: 'hit', accesses: 0 },
      {},
      { pa: '0xa0000000', tlb: 'miss', accesses: 4 },
    ]);
  });

  it('sync_model until-sync holds an invalidation until CMD_SYNC', () => {
    const doc = s1Doc([]);
    const l3Slot = S1_ROOT + 3n * 0x1000n + 8n;
    doc.sync_model = 'until-sync';
    doc.steps = [
      tr('0x1010'),
      { do: 'write64', addr: h(l3Slot), value: h(s1Page(0xa000_0000n)) },
      { do: 'cmd', u64: tlbiVa(0x1000n) },
      tr('0x1010'),
      { do: 'cmd', u64: encodeCommand({ op: 'CMD_SYNC', cs: 0, msh: 0, msiattr: 0, msidata: 0, msiaddr: 0n }).map(h) },
      tr('0x1010'),
    ];
    expect(results(doc)).toEqual([
      { pa: '0x80000010', tlb: 'miss', accesses: 6 },
      {},
      {},
      { pa: '0x80000010', tlb: 'hit', accesses: 0 },
      {},
      { pa: '0xa0000010', tlb: 'miss', accesses: 4 },
    ]);
  });

  it('an illegal command stops the queue (ILL) until GERRORN acknowledges it and the slot is fixed', () => {
    // The document places the command queue itself so that it can repair the bad slot, as a driver does.
    const CMDQ = 0x4000_0000n;
    const sync = encodeCommand({ op: 'CMD_SYNC', cs: 0, msh: 0, msiattr: 0, msidata: 0, msiaddr: 0n });
    const out = results({
      regs: { CMDQ_BASE: h(CMDQ | 4n), CR0: '0x8' },
      steps: [
        { do: 'cmd', u64: ['0x3f', '0x0'] },
        { do: 'cmd', u64: sync.map(h) },
        { do: 'reg', name: 'GERROR_IRQ_CFG1', value: '0x0' },
        // Acknowledging without fixing the slot: the SMMU re-reads the illegal command.
        { do: 'reg', name: 'GERRORN', value: '0x1' },
        { do: 'cmd', u64: sync.map(h) },
        // Fix slot 0 (a CMD_SYNC over the bad command), acknowledge again.
        { do: 'write64', addr: h(CMDQ), value: h(sync[0]) },
        { do: 'write64', addr: h(CMDQ + 8n), value: h(sync[1]) },
        { do: 'reg', name: 'GERRORN', value: '0x0' },
        { do: 'cmd', u64: sync.map(h) },
        // Writes the architecture forbids are reported as ignored.
        { do: 'reg', name: 'CMDQ_BASE', value: '0x0' },
        { do: 'reg', name: 'GBPA', value: '0x0' },
      ],
    });
    expect(out).toEqual([{ cerror: 'ILL' }, { cerror: 'ILL' }, {}, {}, { cerror: 'ILL' }, {}, {}, {}, {}, { ignored: true }, { ignored: true }]);
  });

  it('with runner-placed queues: unknown opcode -> ILL, sticky until acknowledged', () => {
    const out = results({
      steps: [
        { do: 'cmd', u64: ['0xff', '0x0'] },
        { do: 'cmd', u64: encodeCommand({ op: 'CMD_TLBI_NSNH_ALL' }).map(h) },
        { do: 'reg', name: 'GERRORN', value: '0x1' },
        { do: 'cmd', u64: encodeCommand({ op: 'CMD_TLBI_NSNH_ALL' }).map(h) },
      ],
    });
    // The acknowledged queue restarts at the illegal command, which is illegal again.
    expect(out).toEqual([{ cerror: 'ILL' }, { cerror: 'ILL' }, {}, { cerror: 'ILL' }]);
  });

  it('a command queue outside RAM aborts the command fetch (ABT)', () => {
    const out = results({
      ram: [{ base: '0x0', size: '0x100000' }],
      regs: { CMDQ_BASE: '0x40000004', CR0: '0x8' },
      steps: [{ do: 'cmd', u64: encodeCommand({ op: 'CMD_TLBI_NSNH_ALL' }).map(h) }],
    });
    expect(out).toEqual([{ cerror: 'ABT' }]);
  });

  it('runner-placed queues avoid seeded memory and stay inside RAM; faults are recorded', () => {
    // RAM is one 64K window; the top 8K is seeded, so the queues go below it.
    const img = new Image();
    img.put(0x1f000n, [1n]);
    img.put(0x1e008n, [2n]);
    const doc = {
      ram: [{ base: '0x10000', size: '0x10000' }],
      memory: img.seeds(),
      regs: { STRTAB_BASE: '0x10000', STRTAB_BASE_CFG: '0x2', CR0: '0x1' },
      steps: [{ do: 'translate', sid: 1, iova: '0x0', access: 'read', priv: false }],
    };
    expect(results(doc)).toEqual([{ fault: { type: 'C_BAD_STE', code: '0x4', sid: 1, ssid: 0, input_addr: '0x0' } }]);
    // No room for an 8K event queue beside the seeded words: invalid input naming `ram`.
    expectInvalid({ ...doc, ram: [{ base: '0x1e000', size: '0x2000' }] }, 'ram');
  });
});

describe('smmu: features', () => {
  it('features select the SMMU: a stage-2 STE on a stage-1-only SMMU is C_BAD_STE', () => {
    const img = new Image();
    steAt(img, 2, { V: 1, Config: 0b110, ...S2_FIELDS });
    const doc = { regs: ENABLED_REGS, memory: img.seeds(), steps: [{ do: 'translate', sid: 2, iova: '0x0', access: 'read', priv: false }] };
    expect(results({ ...doc, features: { stages: ['s1'], ttf: 'aarch64' } })[0]).toMatchObject({ fault: { type: 'C_BAD_STE' } });
    expect(results({ ...doc, features: { oas: 48, sidsize: 8, granules: [4096], st_level2: false, cmdqs: 4, eventqs: 2 } })[0]).toMatchObject({
      fault: { type: 'F_TRANSLATION', stage: 2 },
    });
    // A 48-bit IPA (S2T0SZ = 16) is wider than a 40-bit OAS allows: ILLEGAL.
    expect(results({ ...doc, features: { oas: 40 } })[0]).toMatchObject({ fault: { type: 'C_BAD_STE' } });
  });

  it('rejects impossible features', () => {
    expect(expectInvalid({ features: { ttf: 'aarch32' }, steps: [] }, 'features.ttf')).toMatch(/AArch64/);
    expectInvalid({ features: { oas: 46 }, steps: [] }, 'features.oas');
    expectInvalid({ features: { granules: [] }, steps: [] }, 'features.granules');
    expectInvalid({ features: { stages: [] }, steps: [] }, 'features.stages');
    expectInvalid({ features: { sidsize: 33 }, steps: [] }, 'features.sidsize');
    expectInvalid({ features: { eventqs: 20 }, steps: [] }, 'features.eventqs');
    expectInvalid({ features: { vmid: true }, steps: [] }, 'features.vmid');
  });
});

describe('smmu: invalid input', () => {
  it('rejects unknown fields, registers and bad steps with the offending path', () => {
    expectInvalid({ steps: [], extra: 1 }, 'extra');
    expectInvalid({}, 'steps');
    expect(expectInvalid({ regs: { FOO: '0x1' }, steps: [] }, 'regs.FOO')).toMatch(/unknown register/);
    expect(expectInvalid({ regs: { CR0: '0x1', IDR0: '0x0' }, steps: [] }, 'regs.IDR0')).toMatch(/read-only/);
    expectInvalid({ regs: { CR0ACK: '0x1' }, steps: [] }, 'regs.CR0ACK');
    expectInvalid({ regs: { CR0: 'one' }, steps: [] }, 'regs.CR0');
    expectInvalid({ steps: [{ do: 'translate', sid: 1, iova: '0x0', access: 'fetch', priv: false }] }, 'steps[0].access');
    expectInvalid({ steps: [{ do: 'translate', sid: 1, iova: '0x0', access: 'read' }] }, 'steps[0].priv');
    expectInvalid({ steps: [{ do: 'translate', sid: 2 ** 32, iova: '0x0', access: 'read', priv: false }] }, 'steps[0].sid');
    expectInvalid({ steps: [{ do: 'translate', sid: 0, ssid: 2 ** 20, iova: '0x0', access: 'read', priv: false }] }, 'steps[0].ssid');
    expectInvalid({ steps: [{ do: 'cmd', u64: ['0x1', '0x2', '0x3'] }] }, 'steps[0].u64');
    expectInvalid({ steps: [{ do: 'cmd', u64: ['0x1'] }] }, 'steps[0].u64');
    expectInvalid({ steps: [{ do: 'jump' }] }, 'steps[0].do');
    expectInvalid({ steps: [{ do: 'write64', addr: '0x4', value: '0x0' }] }, 'steps[0].addr');
    expectInvalid({ steps: [{ do: 'reg', name: 'IDR1', value: '0x0' }] }, 'steps[0].name');
    expectInvalid({ sync_model: 'lazy', steps: [] }, 'sync_model');
    expectInvalid('{"steps": [', '');
  });

  it('rejects memory that is misaligned or outside RAM', () => {
    expect(expectInvalid({ memory: [{ addr: '0x1004', u64: ['0x1'] }], steps: [] }, 'memory[0].addr')).toMatch(/aligned/);
    expectInvalid(
      { ram: [{ base: '0x1000', size: '0x1000' }], memory: [{ addr: '0x1000', u64: ['0x0'] }, { addr: '0x1ff8', u64: ['0x1', '0x2'] }], steps: [] },
      'memory[1].addr',
    );
    expectInvalid({ ram: [{ base: '0x1000', size: '0x0' }], steps: [] }, 'ram[0].size');
    expectInvalid({ ram: [{ base: '0x1000', size: '0x10000000000000' }], steps: [] }, 'ram[0].size');
  });
});

describe('smmu: README', () => {
  it('the README example prints what the README says', () => {
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    const section = readme.slice(readme.indexOf('### `smmu`'));
    const blocks = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]);
    const r = runCli('smmu', blocks[0]);
    expect(r.exitCode).toBe(0);
    expect(JSON.stringify(r.output)).toBe(blocks[1].trim());
  });
});
