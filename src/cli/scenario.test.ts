import { describe, expect, it } from 'vitest';
import { runCli } from './main';
import { DEFAULT_SCENARIO } from '../scenario/library/default';

type Json = Record<string, unknown>;

interface ScenarioOut {
  v: number;
  title: string;
  results: Json[];
  tags: string[][];
  invariants: { ok: boolean; violations?: unknown[] };
  cost: { counts: Record<string, number>; modelled_us: number; parts: Record<string, number>; pinned_bytes: string; properties: Record<string, boolean> };
  state: {
    mode: string;
    smmuen: boolean;
    strtab: Json;
    streams: Array<{ sid: number; valid: boolean; config: string; vmid?: number; asid?: number; s1_context_ptr?: string; s2ttb?: string }>;
    tables: Array<{ id: string; stage: number; granule: number; start_level: number; root: string }>;
    cmdq: { prod: number; cons: number };
    eventq: { prod: number; cons: number; events: string[] };
    gerror: string;
    gerrorn: string;
    ownership: Json[];
    warnings: Json[];
  };
}

const HEX = /^0x(0|[1-9a-f][0-9a-f]*)$/;

/** Every string value that starts with 0x but is not lower-case hex without leading zeros, with its path. */
function badHex(v: unknown, path = ''): string[] {
  if (typeof v === 'string') return /^0[xX]/.test(v) && !HEX.test(v) ? [`${path}: ${v}`] : [];
  if (Array.isArray(v)) return v.flatMap((x, i) => badHex(x, `${path}[${i}]`));
  if (v !== null && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => badHex(x, `${path}.${k}`));
  return [];
}

function run(doc: unknown) {
  return runCli('scenario', typeof doc === 'string' ? doc : JSON.stringify(doc));
}

function ok(doc: unknown): ScenarioOut {
  const r = run(doc);
  expect(r.output).not.toHaveProperty('error');
  expect(r.exitCode).toBe(0);
  // Plain JSON through and through, every 64-bit value in the contract's hex form.
  expect(JSON.parse(JSON.stringify(r.output))).toEqual(r.output);
  expect(badHex(r.output)).toEqual([]);
  return r.output as ScenarioOut;
}

/** Exit 2 with exactly the contract's error document; returns the message. */
function invalid(doc: unknown, path: string): string {
  const r = run(doc);
  expect(r.exitCode).toBe(2);
  expect(r.output).toEqual({ error: { kind: 'invalid-input', message: expect.any(String), path } });
  const message = (r.output as { error: { message: string } }).error.message;
  expect(message.length).toBeGreaterThan(0);
  expect(message).not.toMatch(/\n\s+at /); // never a stack trace
  return message;
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
const RAM = [{ base: '0x40000000', size: '0x40000000' }];

describe('scenario command: the default scenario', () => {
  const out = ok(DEFAULT_SCENARIO);

  it('prints the version, title, one result and one tag list per step', () => {
    expect(out.v).toBe(1);
    expect(out.title).toBe(DEFAULT_SCENARIO.title);
    expect(out.results).toHaveLength(8);
    expect(out.tags).toHaveLength(8);
    expect(out.results.slice(0, 4)).toEqual([{ ret: 0 }, { ret: 0 }, { ret: 0 }, { ret: 0, value: '0x4000' }]);
    expect(out.results[4]).toEqual({ pa: '0x50001234' });
    expect(out.results[5]).toEqual({ ret: 0 });
    expect(out.results[6]).toEqual({ ret: 0 });
    expect(out.results[7]).toEqual({ pa: '0x50001234' });
    expect(out.tags[4]).toEqual(['dma']);
    expect(out.tags[7]).toEqual(['dma']);
    expect(out.tags[0]).toContain('trap');
  });

  it('invariants hold and the cost report is complete', () => {
    expect(out.invariants).toEqual({ ok: true });
    expect(out.cost.counts.mmioTraps).toBeGreaterThan(0);
    expect(out.cost.counts.commandsEmulated).toBeGreaterThan(0);
    expect(out.cost.counts.hypercalls).toBe(0);
    expect(out.cost.counts.walkReads).toBeGreaterThanOrEqual(24);
    expect(out.cost.pinned_bytes).toBe('0x0');
    expect(out.cost.modelled_us).toBeCloseTo(
      Object.values(out.cost.parts).reduce((a, b) => a + b, 0),
      9,
    );
    expect(out.cost.properties).toEqual({ host_isolation: true, guest_isolation: true, host_iova_space: true, sva_possible: true, no_pinning_needed: true });
  });

  it('the state: SID 1 nested, its tables, queue pointers, hex values', () => {
    const s = out.state;
    expect(s.mode).toBe('nested');
    expect(s.smmuen).toBe(true);
    const nic = s.streams.find((r) => r.sid === 1);
    expect(nic).toMatchObject({ sid: 1, valid: true, config: 'nested' });
    expect(nic?.s2ttb).toMatch(HEX);
    expect(nic?.s1_context_ptr).toMatch(HEX);
    expect(s.tables.map((t) => t.stage).sort()).toEqual([1, 2]);
    for (const t of s.tables) {
      expect(t).toEqual({ id: expect.any(String), stage: expect.any(Number), granule: 4096, start_level: 0, root: expect.stringMatching(HEX) });
    }
    // The S2 table is the one the STE points at.
    expect(s.tables.find((t) => t.stage === 2)?.root).toBe(nic?.s2ttb);
    expect(Number.isInteger(s.cmdq.prod) && Number.isInteger(s.cmdq.cons)).toBe(true);
    expect(s.cmdq.prod).toBe(s.cmdq.cons); // every command consumed
    expect(s.cmdq.prod).toBeGreaterThan(0);
    expect(s.eventq).toEqual({ prod: 0, cons: 0, events: [] }); // no faults
    expect(s.gerror).toMatch(HEX);
    expect(s.gerror).toBe(s.gerrorn);
    expect(s.strtab.base).toMatch(HEX);
    // The guest's pages show in the ownership map.
    expect(s.ownership.some((o) => o.owner === 'guest')).toBe(true);
    for (const o of s.ownership) {
      expect(o.base).toMatch(HEX);
      expect(o.size).toMatch(HEX);
    }
  });
});

describe('scenario command: invalid input', () => {
  it('invalid JSON: exit 2, path ""', () => {
    expect(invalid('{"v": 1,', '')).toMatch(/not valid JSON/);
    invalid('', '');
  });

  it('not an object: path ""', () => {
    invalid([], '');
    invalid('"scenario"', '');
    invalid('null', '');
  });

  it('a newer version: exit 2, path "v", names it', () => {
    const doc = { ...clone(DEFAULT_SCENARIO), v: 3 };
    expect(invalid(doc, 'v')).toMatch(/newer version.*v3/);
  });

  it('unknown fields at every level name the field', () => {
    const top = { ...clone(DEFAULT_SCENARIO), colour: 'red' };
    expect(invalid(top, 'colour')).toBe('unknown field "colour"');
    const d = clone(DEFAULT_SCENARIO) as unknown as { machine: Json; steps: Json[] };
    d.steps[2].bogus = true;
    invalid(d, 'steps[2].bogus');
    const m = clone(DEFAULT_SCENARIO) as unknown as { machine: { ram: Json[] } };
    m.machine.ram[0].extra = 1;
    invalid(m, 'machine.ram[0].extra');
  });

  it('schema errors name the first offending field', () => {
    const d = clone(DEFAULT_SCENARIO) as unknown as { steps: Json[]; mode: string };
    d.steps[6].vm = 1.5;
    expect(invalid(d, 'steps[6].vm')).toBe('must be an integer');
    const e = clone(DEFAULT_SCENARIO) as unknown as { steps: Json[] };
    e.steps[3].iova = '0xZZ';
    invalid(e, 'steps[3].iova');
    const f = clone(DEFAULT_SCENARIO) as unknown as Json;
    delete f.steps;
    expect(invalid(f, 'steps')).toMatch(/required/);
    const g = clone(DEFAULT_SCENARIO) as unknown as Json;
    g.mode = 'kvm';
    invalid(g, 'mode');
    const h = clone(DEFAULT_SCENARIO) as unknown as { steps: Json[] };
    h.steps[0].note = 'n'.repeat(4001);
    invalid(h, 'steps[0].note');
  });

  it('a machine that cannot exist: exit 2 with its path', () => {
    invalid({ v: 1, machine: { ram: RAM, pool: { base: '0x7f000000', pages: 4 } }, mode: 'bare', steps: [] }, 'machine.pool');
    invalid({ v: 1, machine: { ram: RAM, vcmdq: true }, mode: 'paravirt', steps: [] }, 'machine.vcmdq');
    invalid({ v: 1, machine: { ram: [{ base: '0x40000000', size: '0x0' }] }, mode: 'bare', steps: [] }, 'machine.ram[0].size');
    invalid({ v: 1, machine: { ram: RAM, features: { stages: ['s1'] } }, mode: 'nested', steps: [] }, 'machine.features.stages');
  });
});

describe('scenario command: other modes', () => {
  /** The README's hyp example (paravirt), without v. */
  const HYP_DOC = {
    machine: { ram: RAM, devices: [{ sid: 1, name: 'nic' }] },
    mode: 'paravirt',
    steps: [
      { do: 'hvc', call: 'alloc_domain', domain_id: 0, type: 's1' },
      { do: 'hvc', call: 'attach_dev', iommu_id: 0, domain_id: 0, sid: 1, pasid: 0, pasid_bits: 0 },
      { do: 'hvc', call: 'map_pages', domain_id: 0, iova: '0x100000', paddr: '0x50000000', pgsize: '0x1000', pgcount: 4, prot: ['read', 'write'] },
      { do: 'dma', sid: 1, iova: '0x101234', access: 'write' },
      { do: 'hvc', call: 'map_pages', domain_id: 0, iova: '0x0', paddr: '0x7f000000', pgsize: '0x1000', pgcount: 1, prot: ['read'] },
      { do: 'donate_guest', addr: '0x50000000', size: '0x1000', vm: 1 },
      { do: 'hvc', call: 'unmap_pages', domain_id: 0, iova: '0x100000', pgsize: '0x1000', pgcount: 4 },
      { do: 'dma', sid: 1, iova: '0x101234', access: 'write' },
    ],
  };

  it('a hyp command input (no v) runs as a scenario with the hyp command’s results', () => {
    const hyp = runCli('hyp', JSON.stringify(HYP_DOC));
    expect(hyp.exitCode).toBe(0);
    const hypOut = hyp.output as { results: Json[]; invariants: Json; cost: Json };
    const out = ok(HYP_DOC);
    expect(out.v).toBe(1);
    expect(out.title).toBe('');
    expect(out.results).toEqual(hypOut.results);
    expect(out.invariants).toEqual(hypOut.invariants);
    expect(out.cost).toEqual(hypOut.cost);
    expect(out.results[4]).toMatchObject({ ret: 'EPERM' });
    expect(out.results[5]).toMatchObject({ ret: 'EBUSY' });
    expect(out.results[7]).toEqual({ fault: { type: 'F_TRANSLATION', code: '0x10', sid: 1, ssid: 0, input_addr: '0x101234', stage: 1, class: 'IN' } });
    expect(out.tags[0]).toEqual(['hypercall']);
    expect(out.tags[4]).toEqual(['hypercall', 'error']);
    expect(out.tags[7]).toEqual(expect.arrayContaining(['dma', 'fault', 'event']));
    expect(out.state.mode).toBe('paravirt');
    expect(out.state.eventq.events).toEqual(['F_TRANSLATION']);
    expect(out.state.eventq.prod).toBe(1);
    expect(out.state.streams.find((r) => r.sid === 1)).toMatchObject({ valid: true, config: 's1' });
  });

  it('the default scenario without v and notes gives the same results as the hyp command', () => {
    const d = clone(DEFAULT_SCENARIO) as unknown as Json & { steps: Json[] };
    delete d.v;
    delete d.title;
    delete d.description;
    for (const s of d.steps) delete s.note;
    const hyp = runCli('hyp', JSON.stringify(d));
    expect(hyp.exitCode).toBe(0);
    expect(ok(d).results).toEqual((hyp.output as { results: Json[] }).results);
  });

  it('an identity scenario runs', () => {
    const out = ok({
      v: 1,
      title: 'identity',
      machine: { ram: RAM, devices: [{ sid: 1, name: 'nic' }] },
      mode: 'identity',
      steps: [
        { do: 'dma', sid: 1, iova: '0x50001234', access: 'write' },
        { do: 'donate_guest', addr: '0x50000000', size: '0x1000', vm: 1, note: 'give a page away' },
        { do: 'dma', sid: 1, iova: '0x50000010', access: 'read' },
        { do: 'dma', sid: 5, iova: '0x50000010', access: 'read' },
        { do: 'check' },
      ],
    });
    expect(out.title).toBe('identity');
    expect(out.results).toEqual([
      { pa: '0x50001234' },
      { ret: 0 },
      { fault: { type: 'F_TRANSLATION', code: '0x10', sid: 1, ssid: 0, input_addr: '0x50000010', ipa: '0x50000000', stage: 2, class: 'IN' } },
      { abort: true },
      { ok: true },
    ]);
    expect(out.tags[2]).toEqual(expect.arrayContaining(['dma', 'fault']));
    expect(out.tags[3]).toEqual(['dma']);
    expect(out.state.mode).toBe('identity');
    expect(out.state.streams.find((r) => r.sid === 1)).toMatchObject({ config: 's2' });
    expect(out.state.tables.some((t) => t.stage === 2)).toBe(true);
    expect(out.cost.properties.no_pinning_needed).toBe(false);
  });

  it('a bare scenario with an S1 domain: {pa} for mapped IOVAs, F_TRANSLATION for unmapped ones', () => {
    const out = ok({
      v: 1,
      machine: { ram: RAM, devices: [{ sid: 3, name: 'disk' }] },
      mode: 'bare',
      steps: [
        { do: 'host', op: 'init' },
        { do: 'host', op: 'alloc_domain', domain: 'disk', stage: 's1' },
        { do: 'host', op: 'attach', domain: 'disk', sid: 3 },
        { do: 'host', op: 'map', domain: 'disk', iova: '0x200000', paddr: '0x60000000', size: '0x3000', prot: ['read', 'write'] },
        { do: 'dma', sid: 3, iova: '0x200010', access: 'read' },
        { do: 'dma', sid: 3, iova: '0x202ff8', access: 'write' },
        { do: 'dma', sid: 3, iova: '0x203000', access: 'read' },
        { do: 'dma', sid: 3, iova: '0x1000', access: 'read' },
        { do: 'host', op: 'unmap', domain: 'disk', iova: '0x200000', size: '0x1000' },
        { do: 'dma', sid: 3, iova: '0x200010', access: 'read' },
      ],
    });
    const fault = (iova: string) => ({ fault: { type: 'F_TRANSLATION', code: '0x10', sid: 3, ssid: 0, input_addr: iova, stage: 1, class: 'IN' } });
    expect(out.results).toEqual([
      { ret: 0 },
      { ret: 0 },
      { ret: 0 },
      { ret: 0, value: '0x3000' },
      { pa: '0x60000010' },
      { pa: '0x60002ff8' },
      fault('0x203000'),
      fault('0x1000'),
      { ret: 0, value: '0x1000' },
      fault('0x200010'),
    ]);
    expect(out.tags[0]).toEqual([]); // no hypervisor: nothing traps
    expect(out.tags[6]).toEqual(expect.arrayContaining(['dma', 'fault', 'event']));
    expect(out.state.mode).toBe('bare');
    expect(out.state.streams.find((r) => r.sid === 3)).toMatchObject({ valid: true, config: 's1' });
    expect(out.state.tables).toHaveLength(1);
    expect(out.state.tables[0]).toMatchObject({ stage: 1, granule: 4096, start_level: 0 });
    expect(out.state.eventq.events).toEqual(['F_TRANSLATION', 'F_TRANSLATION', 'F_TRANSLATION']);
    expect(out.cost.counts.mmioTraps).toBe(0);
    expect(out.cost.properties.host_isolation).toBe(false);
    expect(out.invariants).toEqual({ ok: true });
  });
});
