import { describe, expect, it } from 'vitest';
import { CliInputError } from '../cli/json';
import { encodeCommand } from '../emu/smmu/commands';
import { DEFAULT_SCENARIO } from './library/default';
import { MAX_NOTE, type Step } from './machine';
import { MAX_DESCRIPTION, MAX_STEPS, MAX_TITLE, SCENARIO_VERSION, migrate, parseScenario, record, stepLabel, stepLog, logMark, bootMachine } from './scenario';
import { Session } from './session';

type Json = Record<string, unknown>;

/** A fresh, mutable copy of the default scenario document. */
function defaultDoc(): Json & { steps: Json[]; machine: Json & { ram: Json[]; devices: Json[] } } {
  return JSON.parse(JSON.stringify(DEFAULT_SCENARIO)) as ReturnType<typeof defaultDoc>;
}

/** Parse, expecting a CliInputError; returns it. */
function refuse(doc: unknown): CliInputError {
  let err: unknown = null;
  try {
    parseScenario(doc);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CliInputError);
  return err as CliInputError;
}

const RAM = [{ base: '0x40000000', size: '0x40000000' }];

function bare(steps: unknown[], machine: Json = {}): Json {
  return { v: 1, machine: { ram: RAM, devices: [{ sid: 3, name: 'dev' }], ...machine }, mode: 'bare', steps };
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

describe('parseScenario: accepting', () => {
  it('accepts the default scenario as is', () => {
    const { scenario, raw } = parseScenario(DEFAULT_SCENARIO);
    expect(scenario.v).toBe(1);
    expect(scenario.mode).toBe('nested');
    expect(scenario.steps).toHaveLength(8);
    expect(scenario.title).toBe(DEFAULT_SCENARIO.title);
    // Notes are kept on the parsed steps.
    expect((scenario.steps[0] as { note?: string }).note).toBe(DEFAULT_SCENARIO.steps[0].note);
    // 64-bit fields are parsed to bigints.
    expect((scenario.steps[3] as { iova: unknown }).iova).toBe(0x100000n);
    // raw is the document after migration (unchanged here: it already has v).
    expect(raw).toEqual(DEFAULT_SCENARIO);
  });

  it('reads a `hyp` command input (no v) as version 1', () => {
    const doc = defaultDoc();
    delete doc.v;
    delete doc.title;
    delete doc.description;
    for (const s of doc.steps) delete s.note;
    const migrated = migrate(doc) as Json;
    expect(migrated.v).toBe(SCENARIO_VERSION);
    expect(doc).not.toHaveProperty('v'); // migrate does not mutate its input
    const { scenario, raw } = parseScenario(doc);
    expect(scenario.v).toBe(1);
    expect((raw as Json).v).toBe(1);
    expect(scenario.steps).toHaveLength(8);
  });

  it('migrate leaves non-objects and current documents alone', () => {
    expect(migrate(null)).toBeNull();
    expect(migrate([1])).toEqual([1]);
    expect(migrate('x')).toBe('x');
    const d = { v: 1, a: 2 };
    expect(migrate(d)).toBe(d);
  });

  it('accepts the caps exactly (MAX_STEPS steps, MAX_TITLE title, MAX_NOTE note, MAX_DESCRIPTION description)', () => {
    const doc = defaultDoc();
    doc.title = 't'.repeat(MAX_TITLE);
    doc.description = 'd'.repeat(MAX_DESCRIPTION);
    doc.steps[1].note = 'n'.repeat(MAX_NOTE);
    expect(() => parseScenario(doc)).not.toThrow();
    const many = bare(Array.from({ length: MAX_STEPS }, () => ({ do: 'check' })));
    expect(parseScenario(many).scenario.steps).toHaveLength(MAX_STEPS);
  });

  it('accepts vcmdq in nested mode', () => {
    const doc = defaultDoc();
    doc.machine.vcmdq = true;
    expect(parseScenario(doc).scenario.machine.vcmdq).toBe(true);
  });
});

describe('parseScenario: refusing', () => {
  it('refuses a newer version, naming it, with path "v"', () => {
    for (const v of [2, 17]) {
      const doc = defaultDoc();
      doc.v = v;
      const e = refuse(doc);
      expect(e.path).toBe('v');
      expect(e.message).toContain('newer version');
      expect(e.message).toContain(`v${v}`);
    }
  });

  it('the version check comes before the schema (a newer doc may have fields this one does not know)', () => {
    const doc = defaultDoc();
    doc.v = 2;
    doc.futureField = { anything: true };
    const e = refuse(doc);
    expect(e.path).toBe('v');
    expect(e.message).toContain('newer version');
  });

  it('refuses versions that are not 1 and not newer with path "v"', () => {
    for (const v of [0, -1, 1.5, '1', null]) {
      const doc = defaultDoc();
      doc.v = v;
      expect(refuse(doc).path).toBe('v');
    }
  });

  it('refuses non-object documents', () => {
    expect(refuse([]).path).toBe('');
    expect(refuse(null).path).toBe('');
    expect(refuse('scenario').path).toBe('');
    expect(refuse(42).path).toBe('');
  });

  it('rejects unknown fields at every level with the right path', () => {
    const cases: Array<[string, (d: ReturnType<typeof defaultDoc>) => void]> = [
      ['bogus', (d) => (d.bogus = 1)],
      ['machine.bogus', (d) => (d.machine.bogus = 1)],
      ['machine.ram[0].bogus', (d) => (d.machine.ram[0].bogus = 1)],
      ['machine.devices[0].bogus', (d) => (d.machine.devices[0].bogus = 1)],
      ['machine.features.bogus', (d) => (d.machine.features = { bogus: 1 })],
      ['costs.bogusUs', (d) => (d.costs = { bogusUs: 1 })],
      ['steps[0].bogus', (d) => (d.steps[0].bogus = 1)],
      ['steps[2].bogus', (d) => (d.steps[2].bogus = 1)],
      ['steps[4].bogus', (d) => (d.steps[4].bogus = 1)],
      ['steps[7].bogus', (d) => (d.steps[7].bogus = 1)],
    ];
    for (const [path, mutate] of cases) {
      const doc = defaultDoc();
      mutate(doc);
      const e = refuse(doc);
      expect({ path: e.path, message: e.message }).toEqual({ path, message: 'unknown field "bogus' + (path.endsWith('Us') ? 'Us"' : '"') });
    }
  });

  it('rejects a pool in a bare machine', () => {
    const doc = bare([], { pool: { base: '0x7f000000', pages: 4 } });
    const e = refuse(doc);
    expect(e.path).toBe('machine.pool');
  });

  it('vcmdq is for nested only', () => {
    for (const mode of ['bare', 'paravirt', 'identity']) {
      const doc = defaultDoc();
      doc.mode = mode;
      doc.steps = [];
      doc.machine.vcmdq = true;
      expect(refuse(doc).path).toBe('machine.vcmdq');
    }
  });

  it('caps the number of steps', () => {
    const e = refuse(bare(Array.from({ length: MAX_STEPS + 1 }, () => ({ do: 'check' }))));
    expect(e.path).toBe('steps');
    expect(e.message).toContain(String(MAX_STEPS));
  });

  it('caps title, description and note lengths', () => {
    let doc = defaultDoc();
    doc.title = 't'.repeat(MAX_TITLE + 1);
    expect(refuse(doc).path).toBe('title');
    doc = defaultDoc();
    doc.description = 'd'.repeat(MAX_DESCRIPTION + 1);
    expect(refuse(doc).path).toBe('description');
    doc = defaultDoc();
    doc.steps[5].note = 'n'.repeat(MAX_NOTE + 1);
    expect(refuse(doc).path).toBe('steps[5].note');
  });

  it('names the offending step field for bad step values', () => {
    let doc = defaultDoc();
    doc.steps[3].iova = '100000';
    expect(refuse(doc).path).toBe('steps[3].iova');
    doc = defaultDoc();
    doc.steps[6].vm = 1.5;
    expect(refuse(doc).path).toBe('steps[6].vm');
    doc = defaultDoc();
    doc.steps[1].stage = 's3';
    expect(refuse(doc).path).toBe('steps[1].stage');
    doc = defaultDoc();
    doc.steps[0].op = 'reboot';
    expect(refuse(doc).path).toBe('steps[0].op');
    doc = defaultDoc();
    doc.steps[1].granule = 8192;
    expect(refuse(doc).path).toBe('steps[1].granule');
  });

  it('rejects a machine that cannot exist, with a path', () => {
    const doc = defaultDoc();
    doc.machine.ram = [
      { base: '0x40000000', size: '0x40000000' },
      { base: '0x50000000', size: '0x1000' },
    ];
    expect(refuse(doc).path).toBe('machine.ram[1]');
    const dup = defaultDoc();
    dup.machine.devices = [{ sid: 1 }, { sid: 1 }];
    expect(refuse(dup).path).toBe('machine.devices[1].sid');
  });

  it('rejects the unknown mode', () => {
    const doc = defaultDoc();
    doc.mode = 'kernel';
    expect(refuse(doc).path).toBe('mode');
  });
});

// ---------------------------------------------------------------------------

function tagsOf(doc: unknown) {
  const { scenario } = parseScenario(doc);
  return record(scenario).recording;
}

/** Plain sentence / label checks: no leaked objects, bigints or undefined. */
function expectPlain(s: string): void {
  expect(s.length).toBeGreaterThan(0);
  expect(s).not.toMatch(/undefined|\[object|NaN|\d+n\b|\n/);
}

describe('record: tags, labels, texts', () => {
  it('the default scenario: dma steps tagged dma, nested host MMIO steps trap, no errors', () => {
    const rec = tagsOf(DEFAULT_SCENARIO);
    expect(rec.steps).toHaveLength(8);
    expect(rec.results).toHaveLength(8);
    expect(rec.steps.map((s) => s.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(rec.steps.map((s) => s.do)).toEqual(['host', 'host', 'host', 'host', 'dma', 'donate_guest', 'donate_guest', 'dma']);
    // host init and attach program the (trapped) SMMU registers.
    expect(rec.steps[0].tags).toContain('trap');
    expect(rec.steps[2].tags).toContain('trap');
    // DMA steps.
    expect(rec.steps[4].tags).toEqual(['dma']);
    expect(rec.steps[7].tags).toEqual(['dma']);
    for (const s of rec.steps) {
      expect(s.tags).not.toContain('error');
      expect(s.tags).not.toContain('hypercall');
      expect(s.result).toBe(rec.results[s.index - 1]);
    }
    // Notes are carried to the step info.
    expect(rec.steps.map((s) => s.note)).toEqual(DEFAULT_SCENARIO.steps.map((s) => s.note));
  });

  it('labels and texts are plain sentences', () => {
    const rec = tagsOf(DEFAULT_SCENARIO);
    for (const s of rec.steps) {
      expectPlain(s.label);
      expectPlain(s.text);
      expect(s.text).toMatch(/[.]$/);
      expect(s.text[0]).toMatch(/[A-Za-z]/);
    }
    expect(rec.steps[0].label).toBe('host driver init');
    expect(rec.steps[3].label).toBe('host map "nic" 0x100000→0x50000000 0x4000 R|W');
    expect(rec.steps[3].text).toBe('host map "nic" 0x100000→0x50000000 0x4000 R|W succeeded (value 0x4000).');
    expect(rec.steps[4].label).toBe('dma sid 1 0x101234 write');
    expect(rec.steps[4].text).toBe('The SMMU translated 0x101234 to physical address 0x50001234.');
    expect(rec.steps[5].label).toBe('donate_guest 0x401ff000+0x1000 vm 1');
  });

  it('paravirt: hypercall on hvc steps, error when ret is an errno, fault (and event) when a DMA faults', () => {
    const doc = {
      machine: { ram: RAM, devices: [{ sid: 1 }] },
      mode: 'paravirt',
      steps: [
        { do: 'hvc', call: 'alloc_domain', domain_id: 0, type: 's1' },
        { do: 'hvc', call: 'attach_dev', iommu_id: 0, domain_id: 0, sid: 1, pasid: 0, pasid_bits: 0 },
        { do: 'hvc', call: 'map_pages', domain_id: 0, iova: '0x100000', paddr: '0x50000000', pgsize: '0x1000', pgcount: 4, prot: ['read', 'write'] },
        { do: 'dma', sid: 1, iova: '0x101234', access: 'write' },
        // The hyp's pool page: EPERM.
        { do: 'hvc', call: 'map_pages', domain_id: 0, iova: '0x0', paddr: '0x7f000000', pgsize: '0x1000', pgcount: 1, prot: ['read'] },
        { do: 'dma', sid: 1, iova: '0x900000', access: 'read' },
        { do: 'donate_guest', addr: '0x50000000', size: '0x1000', vm: 1 },
        { do: 'check' },
        { do: 'hvc', call: 'free_domain', domain_id: 99 },
      ],
    };
    const rec = tagsOf(doc);
    const tags = rec.steps.map((s) => s.tags);
    expect(tags[0]).toEqual(['hypercall']);
    expect(tags[1]).toEqual(['hypercall']);
    expect(tags[2]).toEqual(['hypercall']);
    expect(tags[3]).toEqual(['dma']);
    expect(tags[4]).toEqual(['hypercall', 'error']);
    expect(tags[5]).toEqual(expect.arrayContaining(['dma', 'fault', 'event']));
    expect(tags[5]).not.toContain('error');
    expect(tags[6]).toEqual(['error']); // EBUSY: a DMA-mapped page
    expect(tags[7]).toEqual([]); // invariants hold
    expect(tags[8]).toEqual(['hypercall', 'error']);
    expect(rec.steps[4].text).toMatch(/^hvc map_pages dom 0 0x0→0x7f000000 1×0x1000 R was refused: EPERM — .+\.$/);
    expect(rec.steps[5].text).toMatch(/^The SMMU faulted: F_TRANSLATION at stage 1 \(class IN\); the event is recorded in the event queue\.$/);
    expect(rec.steps[7].text).toBe('The invariants hold: no device can reach memory the host does not own.');
    for (const s of rec.steps) {
      expectPlain(s.label);
      expectPlain(s.text);
      expect(s.text).toMatch(/[.]$/);
    }
  });

  it('nested: host MMIO steps trap; a refused register access is reported as ignored', () => {
    const doc = defaultDoc();
    doc.steps = [
      { do: 'mmio_read', offset: 'IDR0' },
      { do: 'mmio_write', offset: 'GBPA', value: '0x0' },
      { do: 'mmio_read', offset: '0x44' },
    ];
    const rec = tagsOf(doc);
    for (const s of rec.steps) expect(s.tags).toContain('trap');
    expect(rec.results[1]).toMatchObject({ ret: 0, ignored: true });
    expect(rec.steps[1].text).toMatch(/^mmio_write 0x44 = 0x0 succeeded, but .+\.$/);
    expect(rec.steps[0].text).toMatch(/^mmio_read 0x0 succeeded \(value 0x[0-9a-f]+\)\.$/);
  });

  it('paravirt: MMIO is EPERM (error, no trap); host ops ENODEV; hvc is ENOSYS in other modes', () => {
    const pv = tagsOf({ machine: { ram: RAM }, mode: 'paravirt', steps: [{ do: 'mmio_read', offset: 'IDR0' }, { do: 'host', op: 'init' }] });
    expect(pv.results[0]).toMatchObject({ ret: 'EPERM' });
    expect(pv.steps[0].tags).toEqual(['error']);
    expect(pv.results[1]).toMatchObject({ ret: 'ENODEV' });
    const nested = defaultDoc();
    nested.steps = [{ do: 'hvc', call: 'top_up', pages: 1 }];
    const n = tagsOf(nested);
    expect(n.results[0]).toMatchObject({ ret: 'ENOSYS' });
    expect(n.steps[0].tags).toEqual(['hypercall', 'error']);
  });

  it('record calls onStep after every step with the 1-based index', () => {
    const { scenario } = parseScenario(DEFAULT_SCENARIO);
    const seen: number[] = [];
    record(scenario, { onStep: (i) => seen.push(i) });
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('stepLog entries carry the step index', () => {
    const { scenario } = parseScenario(DEFAULT_SCENARIO);
    const m = bootMachine(scenario, true);
    let total = 0;
    scenario.steps.forEach((s, i) => {
      const mark = logMark(m);
      const r = m.step(s as Step);
      const log = stepLog(i + 1, s as Step, r, m, mark);
      for (const e of log) {
        expect(e.step).toBe(i + 1);
        expectPlain(e.text);
      }
      total += log.length;
      if (i === 0) expect(log.some((e) => e.kind === 'trap')).toBe(true);
    });
    expect(total).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------

describe('host ops in bare mode: raw commands, granules, ias', () => {
  it('a CMD_TLBI_NH_ASID through the host driver works; an undecodable command is EINVAL', () => {
    const [dw0, dw1] = encodeCommand({ op: 'CMD_TLBI_NH_ASID', vmid: 0, asid: 1 });
    const doc = bare([
      { do: 'host', op: 'cmd', u64: [hex(dw0), hex(dw1)] }, // before init: ENODEV
      { do: 'host', op: 'init' },
      { do: 'host', op: 'cmd', u64: [hex(dw0), hex(dw1)] },
      { do: 'host', op: 'cmd', u64: [hex(dw0), hex(dw1)], sync: false },
      { do: 'host', op: 'cmd', u64: ['0xff', '0x0'] },
      { do: 'host', op: 'cmd', u64: ['0x0', '0x0'] },
    ]);
    const { scenario } = parseScenario(doc);
    const { recording, machine } = record(scenario);
    expect(recording.results[0]).toMatchObject({ ret: 'ENODEV' });
    expect(recording.results[1]).toEqual({ ret: 0 });
    expect(recording.results[2]).toEqual({ ret: 0 });
    expect(recording.results[3]).toEqual({ ret: 0 });
    expect(recording.results[4]).toMatchObject({ ret: 'EINVAL', reason: expect.stringContaining('0xff') });
    expect(recording.results[5]).toMatchObject({ ret: 'EINVAL' });
    expect(recording.steps[4].tags).toContain('error');
    expect(recording.steps[2].tags).not.toContain('error');
    expect(recording.steps[2].label).toBe('host command CMD_TLBI_NH_ASID vmid=0x0 asid=0x1 + CMD_SYNC');
    expect(recording.steps[3].label).toBe('host command CMD_TLBI_NH_ASID vmid=0x0 asid=0x1');
    // The command really reached the SMMU's queue, which is not in error.
    expect(machine.smmu.stats.commands).toBeGreaterThan(0);
    const snap = new Session(doc).snapshot(6);
    expect(snap.errors.active).toEqual([]);
    const names = snap.cmdq.entries.map((e) => e.name);
    expect(names).toContain('CMD_TLBI_NH_ASID');
  });

  it('alloc_domain with granule 16K / 64K and ias 39 (S1 start level 1 with 4K)', () => {
    const doc = bare(
      [
        { do: 'host', op: 'init' },
        { do: 'host', op: 'alloc_domain', domain: 'a', stage: 's1', ias: 39 },
        { do: 'host', op: 'alloc_domain', domain: 'b', stage: 's1', granule: 16384 },
        { do: 'host', op: 'alloc_domain', domain: 'c', stage: 's1', granule: 65536 },
        { do: 'host', op: 'attach', domain: 'a', sid: 3 },
        { do: 'host', op: 'attach', domain: 'b', sid: 4 },
        { do: 'host', op: 'attach', domain: 'c', sid: 5 },
        { do: 'host', op: 'map', domain: 'a', iova: '0x1000', paddr: '0x48000000', size: '0x2000', prot: ['read', 'write'] },
        { do: 'host', op: 'map', domain: 'b', iova: '0x4000', paddr: '0x48000000', size: '0x4000', prot: ['read'] },
        { do: 'host', op: 'map', domain: 'c', iova: '0x10000', paddr: '0x48000000', size: '0x10000', prot: ['read'] },
        { do: 'dma', sid: 3, iova: '0x1008', access: 'read' },
        { do: 'dma', sid: 4, iova: '0x4010', access: 'read' },
        { do: 'dma', sid: 5, iova: '0x10020', access: 'read' },
      ],
      { devices: [{ sid: 3 }, { sid: 4 }, { sid: 5 }] },
    );
    const s = new Session(doc);
    const results = s.recording.results;
    for (let i = 0; i < 10; i++) expect(results[i]).toMatchObject({ ret: 0 });
    expect(results.slice(10)).toEqual([{ pa: '0x48000008' }, { pa: '0x48000010' }, { pa: '0x48000020' }]);
    expect(s.recording.steps[2].label).toBe('host alloc_domain "b" (s1, 16K)');
    expect(s.recording.steps[3].label).toBe('host alloc_domain "c" (s1, 64K)');
    const snap = s.snapshot(s.length);
    const bySid = new Map(snap.streams.map((r) => [r.sid, r]));
    const tableOf = (sid: number) => snap.tables.find((t) => t.label.includes(`SID ${sid} `));
    expect(bySid.get(3)?.config).toBe('s1');
    expect(tableOf(3)).toMatchObject({ stage: 1, granule: 4096, startLevel: 1, ias: 39 });
    expect(tableOf(4)).toMatchObject({ stage: 1, granule: 16384 });
    expect(tableOf(5)).toMatchObject({ stage: 1, granule: 65536 });
    // Without ias, a 4K S1 table spans 48 bits from level 0.
    const plain = new Session(
      bare([
        { do: 'host', op: 'init' },
        { do: 'host', op: 'alloc_domain', domain: 'a', stage: 's1' },
        { do: 'host', op: 'attach', domain: 'a', sid: 3 },
      ]),
    ).snapshot(3);
    expect(plain.tables).toHaveLength(1);
    expect(plain.tables[0]).toMatchObject({ stage: 1, granule: 4096, startLevel: 0 });
  });

  it('ias with stage s2 is EINVAL; ias out of range is EINVAL; a granule the SMMU lacks is EINVAL', () => {
    const doc = bare(
      [
        { do: 'host', op: 'init' },
        { do: 'host', op: 'alloc_domain', domain: 'x', stage: 's2', ias: 39 },
        { do: 'host', op: 'alloc_domain', domain: 'y', stage: 's1', ias: 12 },
        { do: 'host', op: 'alloc_domain', domain: 'z', stage: 's1', granule: 16384 },
        { do: 'host', op: 'alloc_domain', domain: 'ok', stage: 's2' },
        { do: 'host', op: 'alloc_domain', domain: 'ok', stage: 's1' },
        { do: 'host', op: 'attach', domain: 'x', sid: 3 },
      ],
      { features: { granules: [4096] } },
    );
    const rec = tagsOf(doc);
    expect(rec.results[1]).toMatchObject({ ret: 'EINVAL' });
    expect(rec.results[2]).toMatchObject({ ret: 'EINVAL' });
    expect(rec.results[3]).toMatchObject({ ret: 'EINVAL' });
    expect(rec.results[4]).toEqual({ ret: 0 }); // s2 host domains exist in bare mode
    expect(rec.results[5]).toMatchObject({ ret: 'EEXIST' });
    expect(rec.results[6]).toMatchObject({ ret: 'ENOENT' }); // the refused domain was not created
    for (const i of [1, 2, 3, 5, 6]) expect(rec.steps[i].tags).toEqual(['error']);
  });

  it('the nested host sees no stage 2: a host s2 domain is EINVAL', () => {
    const doc = defaultDoc();
    doc.steps = [
      { do: 'host', op: 'init' },
      { do: 'host', op: 'alloc_domain', domain: 'x', stage: 's2' },
    ];
    const rec = tagsOf(doc);
    expect(rec.results[1]).toMatchObject({ ret: 'EINVAL' });
  });

  it('stepLabel of every step kind is a plain label', () => {
    const { scenario } = parseScenario(
      bare([
        { do: 'hvc', call: 'map_sg', domain_id: 0, iova: '0x0', sg: [{ phys: '0x40000000', pgsize: '0x1000', pgcount: 1 }], prot: 3 },
        { do: 'hvc', call: 'iova_to_phys', domain_id: 0, iova: '0x10' },
        { do: 'hvc', call: 'detach_dev', iommu_id: 0, domain_id: 0, sid: 1, pasid: 0 },
        { do: 'hvc', call: 'unmap_pages', domain_id: 0, iova: '0x0', pgsize: '0x1000', pgcount: 1 },
        { do: 'share_hyp', addr: '0x40000000', size: '0x1000' },
        { do: 'write64', addr: '0x40000000', value: '0x1' },
        { do: 'mmio_write', offset: 'CR0', value: '0x0' },
        { do: 'host', op: 'detach', sid: 1, ssid: 2 },
        { do: 'host', op: 'unmap', domain: 'a', iova: '0x0', size: '0x1000' },
        { do: 'dma', sid: 1, ssid: 2, iova: '0x0', access: 'exec' },
        { do: 'check' },
      ]),
    );
    const labels = scenario.steps.map((s) => stepLabel(s as Step));
    for (const l of labels) expectPlain(l);
    expect(labels[0]).toBe('hvc map_sg dom 0 0x0 (1 entries)');
    expect(labels[5]).toBe('write64 [0x40000000] = 0x1');
    expect(labels[7]).toBe('host detach sid 1 ssid 2');
    expect(labels[9]).toBe('dma sid 1 ssid 2 0x0 exec');
    expect(labels[10]).toBe('check invariants');
  });
});
