import { describe, expect, it } from 'vitest';
import { DEFAULT_SCENARIO } from '../../scenario/library/default';
import { decodeShare, encodeShare } from '../../state/share';
import {
  KIND_BY_ID,
  MAX_WORKLOAD_STEPS,
  STEP_KINDS,
  STORAGE_KEY,
  blankDraft,
  bufferBase,
  deserialise,
  docOf,
  domainIdsBefore,
  domainsBefore,
  fieldId,
  fieldPaths,
  hexProblem,
  hexValue,
  initState,
  intProblem,
  intValue,
  kindId,
  kindsForMode,
  loadStored,
  newStep,
  owningField,
  pathLabel,
  reduce,
  routeIssues,
  saveStored,
  serialise,
  stepContext,
  toDraft,
  toggleProt,
  withMode,
  workloadSteps,
  type Draft,
  type WorkloadOptions,
} from './model';
import { validateDoc } from './validate';

/** The e2e's scenario, built the way the forms build it. */
function bareDraft(): Draft {
  let st = initState(blankDraft('bare'));
  const add = (kind: string) => {
    st = reduce(st, { type: 'addStep', step: newStep(kind, stepContext(st.draft)) });
  };
  add('host:init');
  add('host:alloc_domain');
  add('host:attach');
  add('host:map');
  add('dma');
  return st.draft;
}

describe('values', () => {
  it('stores hex text as typed, decimal as a number', () => {
    expect(hexValue(' 0x1000 ')).toBe('0x1000');
    expect(hexValue('4096')).toBe(4096);
    expect(hexValue('0xzz')).toBe('0xzz');
    expect(intValue('12')).toBe(12);
    expect(intValue('-3')).toBe(-3);
    expect(intValue('1a')).toBe('1a');
  });
  it('explains bad hex and alignment', () => {
    expect(hexProblem('0x1000')).toBeNull();
    expect(hexProblem('0x10g0')).toMatch(/not a hex number/);
    expect(hexProblem('')).toMatch(/Required/);
    expect(hexProblem('', { optional: true })).toBeNull();
    expect(hexProblem('0x' + 'f'.repeat(17))).toMatch(/64 bits/);
    expect(hexProblem('0x1008', { align: 8 })).toBeNull();
    expect(hexProblem('0x1003', { align: 8 })).toMatch(/8-byte aligned/);
    expect(intProblem('x')).toMatch(/whole number/);
    expect(intProblem(3, { max: 2 })).toMatch(/at most 2/);
  });
  it('toggles prot names in canonical order', () => {
    expect(toggleProt(['write'], 'read', true)).toEqual(['read', 'write']);
    expect(toggleProt(['read', 'write'], 'read', false)).toEqual(['write']);
    expect(toggleProt(5, 'cache', true)).toEqual(['cache']);
  });
});

describe('catalogue', () => {
  it('every kind makes a step that its kindId recognises and the schema accepts', () => {
    const d = blankDraft('paravirt');
    for (const k of STEP_KINDS) {
      const s = newStep(k.id, stepContext(d));
      expect(kindId(s)).toBe(k.id);
      const v = validateDoc(docOf({ ...d, steps: [s] }));
      expect(v.issues, k.id).toEqual([]);
    }
  });
  it('offers the mode’s own steps first', () => {
    const bare = kindsForMode('bare');
    expect(bare.valid.map((k) => k.id)).toContain('host:map');
    expect(bare.valid.map((k) => k.id)).not.toContain('hvc:map_pages');
    expect(bare.other.map((k) => k.id)).toContain('hvc:map_pages');
    expect(kindsForMode('paravirt').valid.map((k) => k.id)).toContain('hvc:map_pages');
    expect(kindsForMode('identity').valid.map((k) => k.id)).toContain('dma');
  });
  it('pickers see what earlier steps allocated', () => {
    const d = bareDraft();
    expect(domainsBefore(d.steps)).toEqual(['dom0']);
    expect(domainsBefore(d.steps, 1)).toEqual([]);
    expect(d.steps[2]).toMatchObject({ op: 'attach', domain: 'dom0', sid: 1 });
    expect(domainIdsBefore([{ do: 'hvc', call: 'alloc_domain', domain_id: 3, type: 's1' }])).toEqual([3]);
    expect(bufferBase(d.machine)).toBe(0x50000000n);
    expect(bufferBase({ ram: [{ base: '0x80000000', size: '0x100000' }] })).toBe(0x80080000n);
  });
  it('keeps a replaced step’s note', () => {
    expect(newStep('check', stepContext(blankDraft()), 'why')).toEqual({ do: 'check', note: 'why' });
  });
});

describe('reducer', () => {
  it('adds, duplicates, moves and removes steps with stable ids', () => {
    let st = initState(blankDraft());
    st = reduce(st, { type: 'addStep', step: { do: 'check' } });
    st = reduce(st, { type: 'addStep', step: { do: 'host', op: 'init' } });
    const [a, b] = st.ids;
    st = reduce(st, { type: 'moveStep', index: 1, delta: -1 });
    expect(st.draft.steps.map((s) => s.do)).toEqual(['host', 'check']);
    expect(st.ids).toEqual([b, a]);
    expect(reduce(st, { type: 'moveStep', index: 0, delta: -1 })).toBe(st);
    st = reduce(st, { type: 'duplicateStep', index: 0 });
    expect(st.draft.steps).toHaveLength(3);
    expect(new Set(st.ids).size).toBe(3);
    expect(st.draft.steps[1]).toEqual(st.draft.steps[0]);
    expect(st.draft.steps[1]).not.toBe(st.draft.steps[0]);
    st = reduce(st, { type: 'removeStep', index: 0 });
    expect(st.ids).toHaveLength(2);
    expect(st.ids[1]).toBe(a);
  });
  it('replaces the draft and undoes the replacement', () => {
    let st = initState(bareDraft());
    const before = st.draft;
    st = reduce(st, { type: 'replace', draft: blankDraft('nested') });
    expect(st.draft.mode).toBe('nested');
    expect(st.ids).toHaveLength(0);
    st = reduce(st, { type: 'undoReplace' });
    expect(st.draft).toBe(before);
    expect(st.ids).toHaveLength(5);
  });
  it('drops machine fields the new mode refuses', () => {
    const d = { ...blankDraft('nested'), machine: { ...blankDraft().machine, vcmdq: true, pool: { base: '0x7f000000', pages: 64 } } };
    expect(withMode(d, 'paravirt').machine).not.toHaveProperty('vcmdq');
    expect(withMode(d, 'paravirt').machine).toHaveProperty('pool');
    expect(withMode(d, 'bare').machine).not.toHaveProperty('pool');
  });
});

describe('validation and error routing', () => {
  it('a form-built bare scenario is valid and round-trips through a share link', () => {
    const doc = docOf(bareDraft());
    expect(validateDoc(doc)).toEqual({ ok: true, issues: [] });
    const r = decodeShare('#' + encodeShare({ scenario: doc, step: 0 }));
    expect(r.ok).toBe(true);
    if (r.ok === true) expect(r.state.scenario).toEqual(doc);
  });
  it('the default scenario and a blank draft of each mode are valid', () => {
    const r = toDraft(DEFAULT_SCENARIO);
    expect('draft' in r).toBe(true);
    if ('draft' in r) expect(validateDoc(docOf(r.draft)).ok).toBe(true);
    for (const m of ['bare', 'paravirt', 'nested', 'identity'] as const) expect(validateDoc(docOf(blankDraft(m))).issues, m).toEqual([]);
  });
  it('names the offending field of a bad hex IOVA, and routes it to that input', () => {
    const d = bareDraft();
    d.steps[3] = { ...d.steps[3], iova: '0x10g000' };
    d.steps[4] = { ...d.steps[4], sid: intValue('one') };
    const v = validateDoc(docOf(d));
    expect(v.ok).toBe(false);
    expect(v.issues.map((i) => i.path)).toEqual(['steps[3].iova', 'steps[4].sid']);
    expect(v.issues[0].message).toBe(hexProblem('0x10g000'));
    expect(v.issues[1].message).toMatch(/whole number/);
    const { byField, summary } = routeIssues(v.issues, fieldPaths(d));
    expect([...byField.keys()]).toEqual(['steps[3].iova', 'steps[4].sid']);
    expect(summary).toEqual([]);
    expect(pathLabel('steps[3].iova', d)).toBe('Step 4 › IOVA');
  });
  it('routes unknown fields to their step, machine-wide errors to the summary', () => {
    const d = bareDraft();
    d.steps[0] = { ...d.steps[0], bogus: 1 };
    const v = validateDoc(docOf(d));
    expect(v.issues[0].path).toBe('steps[0].bogus');
    const fields = fieldPaths(d);
    expect(owningField('steps[0].bogus', fields)).toBe('steps[0]');
    expect(owningField('steps[3].prot[0]', fields)).toBe('steps[3].prot');
    const r = routeIssues([{ path: 'machine', message: 'cannot boot' }, { path: 'costs.x', message: 'no' }, { path: '', message: 'root' }], fields);
    expect(r.summary).toHaveLength(3);
    expect(r.byField.size).toBe(0);
  });
  it('reports machine errors from parseScenario at their field', () => {
    const d = blankDraft('bare');
    d.machine.devices = [{ sid: 1 }, { sid: 1 }];
    const v = validateDoc(docOf(d));
    expect(v.issues).toEqual([{ path: 'machine.devices[1].sid', message: 'StreamID 1 is declared twice' }]);
    d.machine.devices = [];
    d.machine.ram = [{ base: '0x40000100', size: '0x1000' }];
    const w = validateDoc(docOf(d));
    expect(w.issues[0].path).toBe('machine.ram[0].base');
    expect(w.issues[0].message).toMatch(/4 KiB aligned/);
  });
  it('an invalid step type is reported on the step', () => {
    const d = blankDraft();
    d.steps = [{ do: 'teleport' }];
    const v = validateDoc(docOf(d));
    expect(v.ok).toBe(false);
    expect(owningField(v.issues[0].path, fieldPaths(d))).toMatch(/^steps\[0\]/);
  });
  it('field ids are distinct per path', () => {
    expect(fieldId('steps[3].iova')).toBe('bf-steps-3-iova');
    expect(fieldId('steps[3].u64[1]')).not.toBe(fieldId('steps[3].u64[0]'));
  });
});

describe('drafts and persistence', () => {
  it('refuses documents with nothing to edit', () => {
    expect(toDraft(null)).toHaveProperty('error');
    expect(toDraft({ machine: {} })).toHaveProperty('error');
    expect(toDraft({ machine: {}, steps: [1] })).toHaveProperty('error');
  });
  it('keeps what the schema will complain about (so the user sees it)', () => {
    const r = toDraft({ machine: { ram: [] }, mode: 'warp', steps: [], extra: 1 });
    expect('draft' in r && r.draft.extra).toBe(1);
    expect('draft' in r && r.draft.mode).toBe('bare');
  });
  it('round-trips through storage and survives corrupt or failing storage', () => {
    const d = bareDraft();
    expect(deserialise(serialise(d))).toEqual(d);
    expect(deserialise('{oops')).toBeNull();
    expect(deserialise(JSON.stringify({ v: 2, draft: d }))).toBeNull();
    const mem = new Map<string, string>();
    const storage = { getItem: (k: string) => mem.get(k) ?? null, setItem: (k: string, v: string) => void mem.set(k, v) };
    expect(saveStored(storage, d)).toBe(true);
    expect(mem.has(STORAGE_KEY)).toBe(true);
    expect(loadStored(storage)).toEqual(d);
    const broken = {
      getItem: (): string | null => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('quota');
      },
    };
    expect(loadStored(broken)).toBeNull();
    expect(saveStored(broken, d)).toBe(false);
    expect(loadStored(null)).toBeNull();
  });
});

describe('workload', () => {
  const base: WorkloadOptions = { count: 4, bufferSize: 0x2000n, iovaBase: 0x100000n, paBase: 0x50000000n, sid: 1, domain: 'ring', access: 'write', unmap: true, setup: true };
  it('bare: setup then map, dma, unmap per buffer; a valid scenario', () => {
    const r = workloadSteps(base, 'bare');
    if ('error' in r) throw new Error(r.error);
    expect(r.steps.slice(0, 3).map((s) => s.op)).toEqual(['init', 'alloc_domain', 'attach']);
    expect(r.steps).toHaveLength(3 + 12);
    expect(r.steps[4]).toMatchObject({ do: 'dma', iova: '0x100000' });
    expect(r.steps[6]).toMatchObject({ op: 'map', iova: '0x102000', paddr: '0x50002000', size: '0x2000' });
    expect(validateDoc(docOf({ ...blankDraft('bare'), steps: r.steps })).issues).toEqual([]);
  });
  it('skips setup the steps already do', () => {
    const before = bareDraft().steps;
    const r = workloadSteps({ ...base, domain: 'dom0' }, 'nested', before);
    if ('error' in r) throw new Error(r.error);
    expect(r.steps[0]).toMatchObject({ op: 'map', domain: 'dom0' });
  });
  it('paravirt uses map_pages / unmap_pages, identity only DMAs', () => {
    const pv = workloadSteps({ ...base, domain: '2' }, 'paravirt');
    if ('error' in pv) throw new Error(pv.error);
    expect(pv.steps.slice(0, 2).map((s) => s.call)).toEqual(['alloc_domain', 'attach_dev']);
    expect(pv.steps[2]).toMatchObject({ call: 'map_pages', domain_id: 2, pgcount: 2 });
    expect(pv.steps[4]).toMatchObject({ call: 'unmap_pages' });
    expect(validateDoc(docOf({ ...blankDraft('paravirt'), steps: pv.steps })).issues).toEqual([]);
    const id = workloadSteps(base, 'identity');
    if ('error' in id) throw new Error(id.error);
    expect(id.steps).toHaveLength(4);
    expect(id.steps.every((s) => s.do === 'dma')).toBe(true);
    expect(id.steps[1]).toMatchObject({ iova: '0x50002000' });
  });
  it('is capped and checks its inputs', () => {
    expect(workloadSteps({ ...base, count: 200 }, 'bare')).toHaveProperty('error', expect.stringMatching(/at most 500/));
    const max = workloadSteps({ ...base, count: Math.floor((MAX_WORKLOAD_STEPS - 3) / 3) }, 'bare');
    expect('steps' in max && max.steps.length).toBeLessThanOrEqual(MAX_WORKLOAD_STEPS);
    expect(workloadSteps({ ...base, bufferSize: 0x800n }, 'bare')).toHaveProperty('error');
    expect(workloadSteps({ ...base, domain: 'x' }, 'paravirt')).toHaveProperty('error');
    expect(workloadSteps({ ...base, count: 0 }, 'bare')).toHaveProperty('error');
  });
});

it('every catalogue field key is unique within its kind', () => {
  for (const k of KIND_BY_ID.values()) expect(new Set(k.fields.map((f) => f.key)).size, k.id).toBe(k.fields.length);
});
