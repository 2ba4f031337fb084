/**
 * The page-tables, granules and sva lessons: each scenario parses and runs,
 * every goal holds against the recording, every step is narrated, every
 * question is well formed — and the facts the narration states are checked
 * against the emulator (walk reads and levels, descriptor addresses and bits,
 * start levels, fault types, the cost report's properties).
 */
import { describe, expect, it } from 'vitest';
import type { GoalCheck, Lesson } from '../types';
import { parseScenario, record } from '../../scenario/scenario';
import { Session, runScenario } from '../../scenario/session';
import type { Snapshot, StepTag, WalkAccess } from '../../scenario/view';
import { lesson as pageTables } from './page-tables';
import { lesson as granules } from './granules';
import { lesson as sva } from './sva';

const LESSONS: Lesson[] = [pageTables, granules, sva];

/** Partial deep match: every key of `expected` must be present in `actual` and equal, recursively. */
function partialMatch(actual: unknown, expected: unknown, path = 'result'): string | null {
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object') return `${path}: expected an object, got ${JSON.stringify(actual)}`;
    if (Array.isArray(expected) !== Array.isArray(actual)) return `${path}: array/object mismatch`;
    for (const [k, v] of Object.entries(expected)) {
      const r = partialMatch((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
      if (r) return r;
    }
    return null;
  }
  return Object.is(actual, expected) ? null : `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}

/** Why a goal fails at step i (1-based), or null when it holds. */
function goalFailure(check: GoalCheck, result: unknown, tags: StepTag[], snap: Snapshot): string | null {
  if (check.result) {
    const r = partialMatch(result, check.result);
    if (r) return r;
  }
  if (check.tag && !tags.includes(check.tag)) return `tag ${check.tag} missing from [${tags.join(', ')}]`;
  if (check.notTag && tags.includes(check.notTag)) return `tag ${check.notTag} present`;
  if (check.tableReads !== undefined && snap.walk?.tableReads !== check.tableReads) return `tableReads ${String(snap.walk?.tableReads)} != ${check.tableReads}`;
  return null;
}

function s1Reads(snap: Snapshot): WalkAccess[] {
  return (snap.walk?.accesses ?? []).filter((a) => a.purpose === 's1-table');
}

function sessionOf(l: Lesson, extra: Array<Record<string, unknown>> = []): Session {
  return new Session({ ...l.scenario, steps: [...l.scenario.steps, ...extra] });
}

/** Every stage-1 read is at table base + index × 8, the index taken from the VA bits of its level. */
function checkIndexing(snap: Snapshot, granule: number): void {
  const pgShift = Math.log2(granule);
  const bits = pgShift - 3;
  const reads = s1Reads(snap);
  let base: bigint | null = null;
  for (const a of reads) {
    const va = BigInt(a.ia ?? '0x0');
    const shift = BigInt(pgShift + (3 - a.level) * bits);
    const index = (va >> shift) & ((1n << BigInt(bits)) - 1n);
    const addr = BigInt(a.addr);
    if (base !== null) expect(addr).toBe(base + index * 8n);
    // The next table (a table descriptor's output address).
    if (a.desc !== null) base = BigInt(a.desc) & 0xfffffffff000n & ~BigInt(granule - 1);
  }
}

describe('the goal matcher', () => {
  it('matches partially and recursively, and reports the first difference', () => {
    expect(partialMatch({ fault: { type: 'F_PERMISSION', stage: 1, sid: 1 } }, { fault: { type: 'F_PERMISSION' } })).toBeNull();
    expect(partialMatch({ fault: { type: 'F_TRANSLATION' } }, { fault: { type: 'F_PERMISSION' } })).toMatch(/result\.fault\.type/);
    expect(partialMatch({ pa: '0x1' }, { fault: {} })).toMatch(/expected an object/);
    expect(partialMatch({ ret: 0 }, { ret: 0, value: '0x1000' })).toMatch(/result\.value/);
  });
});

describe.each(LESSONS.map((l) => [l.id, l] as const))('lesson %s', (_id, l) => {
  const { scenario } = parseScenario(l.scenario);
  const { recording } = record(scenario);
  const session = new Session(l.scenario);

  it('parses, runs, and has 6–14 narrated steps', () => {
    expect(l.scenario.steps.length).toBeGreaterThanOrEqual(6);
    expect(l.scenario.steps.length).toBeLessThanOrEqual(14);
    expect(recording.steps).toHaveLength(l.scenario.steps.length);
    for (const st of l.scenario.steps) {
      expect(typeof st.note).toBe('string');
      expect((st.note as string).length).toBeGreaterThan(10);
    }
    expect(l.scenario.title).toBe(l.title);
  });

  it('has per-step extras only for existing steps and well-formed questions (1–3 per lesson)', () => {
    let questions = 0;
    for (const [k, s] of Object.entries(l.steps)) {
      const i = Number(k);
      expect(i >= 1 && i <= l.scenario.steps.length).toBe(true);
      if (s.question) {
        questions++;
        expect(s.question.choices.length).toBeGreaterThanOrEqual(3);
        expect(s.question.choices.length).toBeLessThanOrEqual(4);
        expect(Number.isInteger(s.question.answer)).toBe(true);
        expect(s.question.answer).toBeGreaterThanOrEqual(0);
        expect(s.question.answer).toBeLessThan(s.question.choices.length);
        expect(s.question.explain.length).toBeGreaterThan(0);
      }
    }
    expect(questions).toBeGreaterThanOrEqual(1);
    expect(questions).toBeLessThanOrEqual(3);
  });

  it('meets every goal', () => {
    const goals = Object.entries(l.steps).filter(([, s]) => s.goal);
    expect(goals.length).toBeGreaterThan(0);
    for (const [k, s] of goals) {
      const i = Number(k);
      const fail = goalFailure(s.goal!.check, recording.results[i - 1], recording.steps[i - 1].tags, session.snapshot(i));
      expect(fail, `step ${i}: ${s.goal!.text}`).toBeNull();
    }
  });

  it('keeps the invariants', () => {
    expect(session.snapshot(l.scenario.steps.length).invariants.ok).toBe(true);
  });
});

describe('page-tables: the facts the narration states', () => {
  const s = new Session(pageTables.scenario);
  const r = s.recording.results as Array<Record<string, unknown>>;

  it('a 4K/48 stage-1 table starting at level 0, root 0x40005000, CD T0SZ 16 and ASID 1', () => {
    const t = s.snapshot(3).tables;
    expect(t).toHaveLength(1);
    expect(t[0]).toMatchObject({ stage: 1, granule: 4096, startLevel: 0, ias: 48, root: '0x40005000' });
    const cd = s.snapshot(3).streams.find((x) => x.sid === 1)!.cds[0];
    expect(cd).toMatchObject({ asid: 1, ttb0: '0x40005000' });
    expect(cd.cd.fields.find((f) => f.name === 'T0SZ')!.value).toBe('0x10');
  });

  it('the page walk: L0..L3 at entries 1, 2, 3, 4 of the tables the narration names', () => {
    const snap = s.snapshot(5);
    const reads = s1Reads(snap);
    expect(reads.map((a) => a.level)).toEqual([0, 1, 2, 3]);
    expect(reads.map((a) => a.addr)).toEqual(['0x40005008', '0x4000d010', '0x4000e018', '0x4000f020']);
    expect(reads.map((a) => a.kind)).toEqual(['table', 'table', 'table', 'page']);
    expect(reads[0].desc).toBe('0x4000d003');
    expect(reads[3].desc).toBe('0x50000e43');
    checkIndexing(snap, 4096);
    expect(r[4]).toEqual({ pa: '0x50000abc' });
    // VA[47:39], [38:30], [29:21], [20:12] of 0x8080604abc.
    const va = 0x8080604abcn;
    expect([39n, 30n, 21n, 12n].map((sh) => Number((va >> sh) & 0x1ffn))).toEqual([1, 2, 3, 4]);
  });

  it('descriptor bits: table/page 0b11, block 0b01; AF, nG, AP of Linux S1 leaves', () => {
    const page = 0x50000e43n;
    const block = 0x60000e41n;
    const ro = 0x50001ec3n;
    expect(page & 3n).toBe(3n);
    expect(block & 3n).toBe(1n);
    expect(0x4000d003n & 3n).toBe(3n);
    for (const d of [page, block, ro]) {
      expect((d >> 10n) & 1n).toBe(1n); // AF
      expect((d >> 11n) & 1n).toBe(1n); // nG
      expect((d >> 6n) & 1n).toBe(1n); // AP[1]: unprivileged access allowed
    }
    expect((page >> 7n) & 1n).toBe(0n); // AP[2] = 0: writable
    expect((ro >> 7n) & 1n).toBe(1n); // AP[2] = 1: read-only
    expect(ro ^ page).toBe(0x1000n | 0x80n); // only the address and AP[2] differ
    // The descriptors really are in memory where the walks found them.
    expect(s1Reads(s.snapshot(11)).at(-1)!.desc).toBe('0x50001ec3');
  });

  it('the block walk: 3 reads, L2 entry 5 is a block descriptor', () => {
    const snap = s.snapshot(7);
    const reads = s1Reads(snap);
    expect(reads.map((a) => a.level)).toEqual([0, 1, 2]);
    expect(reads[2]).toMatchObject({ addr: '0x4000e028', desc: '0x60000e41', kind: 'block' });
    checkIndexing(snap, 4096);
    expect(r[6]).toEqual({ pa: '0x60012345' });
  });

  it('unmapped IOVAs: F_TRANSLATION stopping at level 3 (4 reads) and level 0 (1 read)', () => {
    const l3 = s1Reads(s.snapshot(8));
    expect(l3).toHaveLength(4);
    expect(l3[3]).toMatchObject({ level: 3, addr: '0x4000f028', desc: '0x0', kind: 'invalid' });
    expect(r[7]).toMatchObject({ fault: { type: 'F_TRANSLATION', stage: 1, class: 'IN' } });
    const l0 = s1Reads(s.snapshot(9));
    expect(l0).toHaveLength(1);
    expect(l0[0]).toMatchObject({ level: 0, addr: '0x40005000', desc: '0x0' });
    expect(r[8]).toMatchObject({ fault: { type: 'F_TRANSLATION' } });
  });

  it('read-only page: a write is F_PERMISSION after a full 4-read walk, a read succeeds', () => {
    expect(r[9]).toEqual({ ret: 0, value: '0x1000' });
    expect(r[10]).toMatchObject({ fault: { type: 'F_PERMISSION', stage: 1 } });
    expect(s.snapshot(11).walk!.tableReads).toBe(4);
    expect(r[11]).toEqual({ pa: '0x50001000' });
  });
});

describe('granules: the facts the narration states', () => {
  const s = new Session(granules.scenario);
  const r = s.recording.results as Array<Record<string, unknown>>;

  it('start levels: 16K/48 → L0, 64K/48 → L1, 4K/39 → L1 (and 4K/48 → L0 in page-tables)', () => {
    const t = s.snapshot(7).tables;
    const find = (granule: number, ias: number) => t.find((x) => x.granule === granule && x.ias === ias);
    expect(find(16384, 48)).toMatchObject({ startLevel: 0, root: '0x40008000' });
    expect(find(65536, 48)).toMatchObject({ startLevel: 1, root: '0x40010000' });
    expect(find(4096, 39)).toMatchObject({ startLevel: 1, root: '0x40020000' });
    expect(new Session(pageTables.scenario).snapshot(3).tables[0]).toMatchObject({ granule: 4096, ias: 48, startLevel: 0 });
    // The rule: levels = ceil((ias − log2(granule)) / log2(granule / 8)), start = 4 − levels.
    const start = (g: number, ias: number) => 4 - Math.ceil((ias - Math.log2(g)) / (Math.log2(g) - 3));
    expect([start(4096, 48), start(16384, 48), start(65536, 48), start(4096, 39)]).toEqual([0, 0, 1, 1]);
  });

  it('CDs: TG0 and T0SZ per domain', () => {
    const streams = s.snapshot(7).streams;
    const field = (sid: number, name: string) => streams.find((x) => x.sid === sid)!.cds[0].cd.fields.find((f) => f.name === name)!.value;
    expect([field(1, 'TG0'), field(1, 'T0SZ')]).toEqual(['0x2', '0x10']);
    expect([field(2, 'TG0'), field(2, 'T0SZ')]).toEqual(['0x1', '0x10']);
    expect([field(3, 'TG0'), field(3, 'T0SZ')]).toEqual(['0x0', '0x19']);
  });

  it('page walks: 16K/48 reads L0–L3, 64K/48 and 4K/39 read L1–L3; the 64K block ends at L2', () => {
    const levels = (i: number) => s1Reads(s.snapshot(i)).map((a) => a.level);
    expect(levels(11)).toEqual([0, 1, 2, 3]);
    expect(levels(12)).toEqual([1, 2, 3]);
    expect(levels(13)).toEqual([1, 2, 3]);
    expect(levels(14)).toEqual([1, 2]);
    checkIndexing(s.snapshot(11), 16384);
    checkIndexing(s.snapshot(12), 65536);
    checkIndexing(s.snapshot(13), 4096);
    checkIndexing(s.snapshot(14), 65536);
    expect(s1Reads(s.snapshot(11)).map((a) => a.kind)).toEqual(['table', 'table', 'table', 'page']);
    expect(s1Reads(s.snapshot(14)).at(-1)!.kind).toBe('block');
    // The L2 index the narration names (2) for each page.
    expect(s1Reads(s.snapshot(11))[2].addr).toBe('0x40030010');
    expect(s1Reads(s.snapshot(12))[1].addr).toBe('0x40040010');
    expect(s1Reads(s.snapshot(13))[1].addr).toBe('0x40060010');
    expect([r[10], r[11], r[12], r[13]]).toEqual([{ pa: '0x52000010' }, { pa: '0x80000010' }, { pa: '0x90200010' }, { pa: '0x60000010' }]);
  });

  it('each map is one block plus one page; block sizes 32M (16K), 512M (64K), 2M and 1G (4K)', () => {
    expect([r[7], r[8], r[9]]).toEqual([
      { ret: 0, value: '0x2004000' },
      { ret: 0, value: '0x20010000' },
      { ret: 0, value: '0x201000' },
    ]);
    const v = sessionOf(granules, [
      { do: 'dma', sid: 1, iova: '0x2000010', access: 'read' },
      { do: 'dma', sid: 3, iova: '0x200010', access: 'read' },
      { do: 'dma', sid: 1, iova: '0x800000000000', access: 'read' },
      { do: 'host', op: 'map', domain: 'g4k39', iova: '0x40000000', paddr: '0x80000000', size: '0x40000000', prot: ['read'] },
      { do: 'dma', sid: 3, iova: '0x40000010', access: 'read' },
    ]);
    const n = granules.scenario.steps.length;
    const block16 = s1Reads(v.snapshot(n + 1));
    expect(block16.map((a) => [a.level, a.kind])).toEqual([[0, 'table'], [1, 'table'], [2, 'block']]);
    expect(block16[2].addr).toBe('0x40030008'); // level-2 entry 1
    const block4 = s1Reads(v.snapshot(n + 2));
    expect(block4.map((a) => [a.level, a.kind])).toEqual([[1, 'table'], [2, 'block']]);
    // The 16K level-0 table has 2 entries: VA[47] = 1 selects entry 1 (root + 8).
    const hi = s1Reads(v.snapshot(n + 3));
    expect(hi).toHaveLength(1);
    expect(hi[0]).toMatchObject({ level: 0, addr: '0x40008008' });
    // A 1 GiB level-1 block in the 4K/39 domain: the walk ends in its root table.
    const gig = s1Reads(v.snapshot(n + 5));
    expect(gig.map((a) => [a.level, a.kind])).toEqual([[1, 'block']]);
    expect(v.recording.results[n + 4]).toEqual({ pa: '0x80000010' });
    // The 4K/48 domain of page-tables: a 2 MiB block at level 2 after 3 reads (checked there too).
  });
});

describe('sva: the facts the narration states', () => {
  const s = new Session(sva.scenario);
  const r = s.recording.results as Array<Record<string, unknown>>;

  it('a CD table of 16 CDs with S1DSS = 0b10; CD 1 holds the process table and ASID 2; the STE is nested', () => {
    const st = s.snapshot(5).streams.find((x) => x.sid === 1)!;
    expect(st.config).toBe('nested');
    const f = (name: string) => st.ste.fields.find((x) => x.name === name)!.value;
    expect(f('S1CDMax')).toBe('0x4');
    expect(f('S1DSS')).toBe('0x2');
    expect(st.cds.map((c) => [c.ssid, c.asid, c.ttb0, c.addr])).toEqual([
      [0, 1, '0x40005000', '0x4000c000'],
      [1, 2, '0x40006000', '0x4000c040'],
    ]);
    expect(st.cds[1].cd.fields.find((x) => x.name === 'T0SZ')!.value).toBe('0x10');
  });

  it('the ssid attach changes only CD 1 (no STE update)', () => {
    const log = s.snapshot(5).log.filter((e) => e.step === 5);
    expect(log.some((e) => e.text.startsWith('driver: CD 1/1 updated'))).toBe(true);
    expect(log.some((e) => /driver: STE 1 updated/.test(e.text))).toBe(false);
  });

  it('no SSID → CD 0, SSID 1 → CD 1: different translations, 19 reads each', () => {
    expect(r[7]).toEqual({ pa: '0x50000010' });
    expect(r[8]).toEqual({ pa: '0x58000010' });
    for (const i of [8, 9, 13]) {
      const w = s.snapshot(i).walk!;
      expect(w.tableReads).toBe(19);
      expect(s1Reads(s.snapshot(i))).toHaveLength(4);
      expect(w.accesses.filter((a) => a.purpose === 's2-for-s1-table' || a.purpose === 's2-for-output')).toHaveLength(15);
    }
    expect(s.snapshot(9).walk!.accesses.find((a) => a.purpose === 'cd')!.addr).toBe('0x4000c040');
  });

  it('the rewritten descriptor is the process table’s level-3 entry; stale until TLBI_NH_VA', () => {
    const l3 = s1Reads(s.snapshot(9)).at(-1)!;
    expect(l3).toMatchObject({ level: 3, addr: '0x40012800', desc: '0x58000e43' });
    expect(r[9]).toEqual({ ret: 0 });
    expect(r[10]).toEqual({ pa: '0x58000010' });
    const w11 = s.snapshot(11).walk!;
    expect(w11.tableReads).toBe(0);
    expect(w11.outcome).toMatchObject({ kind: 'ok', tlb: 'hit' });
    const log = s.snapshot(12).log.filter((e) => e.step === 12);
    expect(log.some((e) => e.kind === 'cmd' && /CMD_TLBI_NH_VA .*asid=0x2 .*addr=0x100000: pass/.test(e.text))).toBe(true);
    expect(r[12]).toEqual({ pa: '0x58001010' });
    expect(s1Reads(s.snapshot(13)).at(-1)!.desc).toBe('0x58001e43');
  });

  it('sva_possible: true for nested (this scenario), false for paravirt; the paravirt host cannot write the hyp’s tables', () => {
    const nested = runScenario(sva.scenario) as { cost: { properties: Record<string, boolean> }; invariants: { ok: boolean } };
    expect(nested.cost.properties.sva_possible).toBe(true);
    expect(nested.invariants.ok).toBe(true);
    expect(r[13]).toEqual({ ok: true });
    const pvDoc = {
      v: 1,
      machine: sva.scenario.machine,
      mode: 'paravirt',
      steps: [
        { do: 'hvc', call: 'alloc_domain', domain_id: 0, type: 's1' },
        { do: 'hvc', call: 'attach_dev', iommu_id: 0, domain_id: 0, sid: 1, pasid: 1, pasid_bits: 4 },
        { do: 'hvc', call: 'map_pages', domain_id: 0, iova: '0x100000', paddr: '0x58000000', pgsize: '0x1000', pgcount: 1, prot: ['read', 'write'] },
        { do: 'dma', sid: 1, ssid: 1, iova: '0x100010', access: 'read' },
      ],
    };
    const pv = runScenario(pvDoc) as { results: unknown[]; cost: { properties: Record<string, boolean> } };
    expect(pv.cost.properties.sva_possible).toBe(false);
    expect(pv.results[3]).toEqual({ pa: '0x58000010' });
    // The paravirt domain's level-3 descriptor lives in the hypervisor's pool; the host's write is refused.
    const l3 = s1Reads(new Session(pvDoc).snapshot(4)).at(-1)!;
    expect(l3.level).toBe(3);
    const attack = runScenario({ ...pvDoc, steps: [...pvDoc.steps, { do: 'write64', addr: l3.addr, value: '0x7f000e43' }] }) as { results: Array<Record<string, unknown>> };
    expect(attack.results[4]).toMatchObject({ ret: 'EPERM' });
  });
});
