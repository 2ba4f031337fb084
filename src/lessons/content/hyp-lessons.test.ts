/**
 * The hypervisor lessons: each scenario parses and runs, every goal holds
 * against the recording, every step is narrated, questions are well formed,
 * and the claims the narration and the questions make are checked against
 * the model (the recording, the machine's counts, and the cost comparison).
 */
import { describe, expect, it } from 'vitest';
import type { CostCounts } from '../../emu/hyp/cost';
import type { Machine } from '../../scenario/machine';
import { runCompareToEnd } from '../../scenario/compare';
import { type Recording, parseScenario, record } from '../../scenario/scenario';
import { Session } from '../../scenario/session';
import type { CompareDesignResult, CompareResult, CompareWorkload } from '../../scenario/view';
import { PANELS } from '../../state/explorer';
import { LESSONS } from '../index';
import type { GoalCheck, Lesson } from '../types';
import { lesson as identity } from './identity';
import { BATCHED_WORKLOAD, STRICT_WORKLOAD, lesson as invalidation } from './invalidation';
import { lesson as maliciousHost } from './malicious-host';
import { lesson as nested } from './nested';
import { lesson as paravirt } from './paravirt';
import { DYNAMIC_2M_WORKLOAD, DYNAMIC_WORKLOAD, STATIC_WORKLOAD, lesson as staticVsDynamic } from './static-vs-dynamic';

const ALL: Lesson[] = [paravirt, nested, identity, staticVsDynamic, invalidation, maliciousHost];

/** Partial deep match: every key of `want` is in `got` with an equal value (recursively for objects). */
function partialMatch(got: unknown, want: unknown, path = 'result'): string | null {
  if (want !== null && typeof want === 'object' && !Array.isArray(want)) {
    if (got === null || typeof got !== 'object' || Array.isArray(got)) return `${path}: expected an object, got ${JSON.stringify(got)}`;
    for (const [k, v] of Object.entries(want)) {
      if (!(k in (got as Record<string, unknown>))) return `${path}.${k}: missing`;
      const r = partialMatch((got as Record<string, unknown>)[k], v, `${path}.${k}`);
      if (r) return r;
    }
    return null;
  }
  return JSON.stringify(got) === JSON.stringify(want) ? null : `${path}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`;
}

interface Run {
  recording: Recording;
  machine: Machine;
  session: Session;
  /** Counts after step i (index 0 = after boot). */
  counts: CostCounts[];
}

const runs = new Map<string, Run>();

function runDoc(doc: unknown): Run {
  const { scenario } = parseScenario(doc);
  const counts: CostCounts[] = [];
  const { recording, machine } = record(scenario, {
    onStep: (_i, m) => {
      counts.push(m.counts());
    },
  });
  // counts[0] must be the boot counts: rebuild them from a zero-step run.
  const boot = record({ ...scenario, steps: [] }).machine.counts();
  return { recording, machine, session: new Session(doc), counts: [boot, ...counts] };
}

function run(l: Lesson): Run {
  let r = runs.get(l.id);
  if (!r) {
    r = runDoc(l.scenario);
    runs.set(l.id, r);
  }
  return r;
}

/** What a count did during step i (1-based). */
function delta(r: Run, i: number, k: keyof CostCounts): number {
  return r.counts[i][k] - r.counts[i - 1][k];
}

function checkGoal(r: Run, i: number, c: GoalCheck): string[] {
  const errs: string[] = [];
  const info = r.recording.steps[i - 1];
  if (c.result) {
    const e = partialMatch(info.result, c.result);
    if (e) errs.push(e);
  }
  if (c.tag && !info.tags.includes(c.tag)) errs.push(`tag ${c.tag} missing (tags ${JSON.stringify(info.tags)})`);
  if (c.notTag && info.tags.includes(c.notTag)) errs.push(`tag ${c.notTag} present`);
  if (c.tableReads !== undefined) {
    const reads = r.session.snapshot(i).walk?.tableReads;
    if (reads !== c.tableReads) errs.push(`tableReads ${String(reads)}, expected ${c.tableReads}`);
  }
  return errs;
}

function result(r: Run, i: number): Record<string, unknown> {
  return r.recording.results[i - 1] as Record<string, unknown>;
}

function design(c: CompareResult, name: string): CompareDesignResult {
  const d = c.designs.find((x) => x.design === name);
  if (!d) throw new Error(`no design ${name}`);
  return d;
}

const compares = new Map<CompareWorkload, CompareResult>();
function compare(w: CompareWorkload): CompareResult {
  let c = compares.get(w);
  if (!c) {
    c = runCompareToEnd(w);
    compares.set(w, c);
  }
  return c;
}

describe.each(ALL.map((l) => [l.id, l] as const))('lesson %s', (_id, l) => {
  it('is listed in the lesson index with the same title and summary', () => {
    const meta = LESSONS.find((m) => m.id === l.id);
    expect(meta).toBeDefined();
    expect(meta?.title).toBe(l.title);
    expect(meta?.summary).toBe(l.summary);
  });

  it('parses, runs, and has 6–16 narrated steps', () => {
    const r = run(l);
    const n = l.scenario.steps.length;
    expect(n).toBeGreaterThanOrEqual(6);
    expect(n).toBeLessThanOrEqual(16);
    expect(r.recording.steps).toHaveLength(n);
    l.scenario.steps.forEach((s, i) => {
      expect(typeof s.note, `step ${i + 1} note`).toBe('string');
      expect((s.note as string).length, `step ${i + 1} note`).toBeGreaterThan(10);
    });
    expect(l.scenario.title.length).toBeGreaterThan(0);
    expect(l.scenario.description.length).toBeGreaterThan(0);
  });

  it('has well-formed per-step extras, 1–3 questions and valid panels', () => {
    const n = l.scenario.steps.length;
    expect(PANELS).toContain(l.panel);
    let questions = 0;
    for (const [k, s] of Object.entries(l.steps)) {
      const i = Number(k);
      expect(Number.isInteger(i) && i >= 1 && i <= n, `step key ${k}`).toBe(true);
      if (s.panel) expect(PANELS).toContain(s.panel);
      if (s.question) {
        questions++;
        const q = s.question;
        expect(q.choices.length).toBeGreaterThanOrEqual(3);
        expect(q.choices.length).toBeLessThanOrEqual(4);
        expect(Number.isInteger(q.answer) && q.answer >= 0 && q.answer < q.choices.length, `answer of step ${i}`).toBe(true);
        expect(q.explain.length).toBeGreaterThan(0);
      }
      if (s.compare) expect(s.panel).toBe('costs');
    }
    expect(questions).toBeGreaterThanOrEqual(1);
    expect(questions).toBeLessThanOrEqual(3);
  });

  it('meets every goal', () => {
    const r = run(l);
    const errs: string[] = [];
    for (const [k, s] of Object.entries(l.steps)) {
      if (!s.goal) continue;
      for (const e of checkGoal(r, Number(k), s.goal.check)) errs.push(`step ${k} (${s.goal.text}): ${e}`);
    }
    expect(errs).toEqual([]);
  });

  it('ends with the invariants holding', () => {
    expect(run(l).machine.check()).toEqual({ ok: true });
  });
});

describe('paravirt: the answers', () => {
  const r = () => run(paravirt);
  it('runs the six hypercalls in order', () => {
    const calls = paravirt.scenario.steps.filter((s) => s.do === 'hvc').map((s) => s.call);
    expect([...new Set(calls)]).toEqual(['alloc_domain', 'attach_dev', 'map_pages', 'unmap_pages', 'detach_dev', 'free_domain']);
  });
  it('the unmapped DMA faults, mapping takes one hypercall (Q4)', () => {
    expect(r().recording.steps[2].tags).toContain('fault');
    expect(delta(r(), 4, 'hypercalls')).toBe(1);
  });
  it('the host write targets the PTE the walk read, and fails', () => {
    const walk = r().session.snapshot(5).walk;
    expect(walk?.accesses.some((a) => a.addr === '0x7f00f808' && a.level === 3)).toBe(true);
    expect(result(r(), 7).ret).toBe('EPERM');
  });
  it('donating a mapped page is EBUSY (Q8); unmap is one TLBI + one SYNC; the DMA then faults (Q10)', () => {
    expect(result(r(), 8).ret).toBe('EBUSY');
    expect(delta(r(), 9, 'syncs')).toBe(1);
    expect(delta(r(), 9, 'commands') - delta(r(), 9, 'syncs')).toBe(1);
    expect(r().recording.steps[9].tags).toContain('fault');
  });
});

describe('nested: the answers', () => {
  const r = () => run(nested);
  it('init takes 35 traps; IDR0.S2P is hidden', () => {
    expect(delta(r(), 1, 'mmioTraps')).toBe(35);
    expect(BigInt(result(r(), 2).value as string) & 1n).toBe(0n);
  });
  it('the attach shadows S1 as nested; the map takes no trap (Q5)', () => {
    const snap = r().session.snapshot(4);
    expect(snap.shadow.find((p) => p.sid === 1)).toMatchObject({ hostKind: 's1', shadowKind: 'nested' });
    expect(snap.streams.find((s) => s.sid === 1)?.config).toBe('nested');
    expect(delta(r(), 5, 'mmioTraps')).toBe(0);
  });
  it('the host’s bypass STE becomes stage 2 only (Q9); the hyp pool faults at stage 2 (Q11)', () => {
    expect(delta(r(), 8, 'mmioTraps')).toBe(0);
    const snap = r().session.snapshot(9);
    expect(snap.shadow.find((p) => p.sid === 1)).toMatchObject({ hostKind: 'bypass', shadowKind: 's2' });
    expect(snap.streams.find((s) => s.sid === 1)?.config).toBe('s2');
    expect(result(r(), 11)).toMatchObject({ fault: { stage: 2 } });
  });
  it('drops the host’s TLBI_S2_IPA', () => {
    const log = r().session.snapshot(12).log.filter((e) => e.step === 12);
    expect(log.some((e) => e.kind === 'cmd' && e.text.includes('CMD_TLBI_S2_IPA') && e.text.endsWith(': drop'))).toBe(true);
    // Only the CMD_SYNC reached the real queue.
    expect(delta(r(), 12, 'commands')).toBe(1);
    expect(delta(r(), 12, 'syncs')).toBe(1);
  });
});

describe('identity: the answers', () => {
  const r = () => run(identity);
  it('no hypercalls, no traps; the disk reaches the NIC’s page and kernel memory (Q3)', () => {
    const last = r().counts[r().counts.length - 1];
    expect(last.hypercalls).toBe(0);
    expect(last.mmioTraps).toBe(0);
    expect(result(r(), 2)).toEqual({ pa: '0x50001234' });
    expect(result(r(), 3)).toEqual({ pa: '0x40080000' });
  });
  it('donation costs one TLBI + CMD_SYNC and the page faults (Q9)', () => {
    expect(delta(r(), 8, 'syncs')).toBe(1);
    expect(delta(r(), 8, 'commands')).toBe(2);
    expect(r().recording.steps[8].tags).toContain('fault');
  });
  it('pins every host page but the pool; gives up host isolation, the IOVA space and SVA', () => {
    const c = r().machine.cost();
    expect(c.pinned_bytes).toBe('0x3fc00000');
    expect(c.properties).toMatchObject({ host_isolation: false, guest_isolation: true, host_iova_space: false, sva_possible: false, no_pinning_needed: false });
  });
});

describe('malicious-host: the answers', () => {
  const r = () => run(maliciousHost);
  it('every attack is rejected with the errno the narration names', () => {
    expect(result(r(), 4)).toMatchObject({ ret: 'EPERM' });
    expect(result(r(), 4).reason).toMatch(/owned by hyp/);
    expect(result(r(), 6).reason).toMatch(/owned by guest 1/);
    expect(result(r(), 7).reason).toMatch(/DMA refcount/);
    expect(result(r(), 8).reason).toMatch(/attached/);
    expect(result(r(), 9).reason).toMatch(/live/);
  });
  it('the double unmap moves no refcount (Q13) and the old IOVA faults (Q15)', () => {
    expect(delta(r(), 13, 'hypUnpinnedPages')).toBe(0);
    const own = r().session.snapshot(13).ownership.find((o) => BigInt(o.base) <= 0x50000000n && 0x50000000n < BigInt(o.base) + BigInt(o.size));
    expect(own?.dmaRefcount).toBe(0);
    expect(result(r(), 15)).toMatchObject({ fault: { stage: 1 } });
  });
});

describe('static-vs-dynamic: the measured claims', () => {
  const order = (c: CompareResult) => [...c.designs].sort((a, b) => a.perRequestUs - b.perRequestUs).map((d) => d.design);

  it('the lesson’s presets are the ones measured here', () => {
    expect(staticVsDynamic.steps[5].compare).toBe(STATIC_WORKLOAD);
    expect(staticVsDynamic.steps[9].compare).toBe(DYNAMIC_WORKLOAD);
    expect(staticVsDynamic.steps[10].compare).toBe(DYNAMIC_2M_WORKLOAD);
  });

  it('static: identity < kernel < paravirt < nested (Q5); paravirt makes one hypercall per buffer; nested ~3.5× the walk reads', { timeout: 30_000 }, () => {
    const c = compare(STATIC_WORKLOAD);
    expect(order(c)).toEqual(['identity', 'kernel', 'paravirt', 'nested']);
    expect(design(c, 'paravirt').counts.hypercalls).toBe(STATIC_WORKLOAD.buffers);
    const ratio = design(c, 'nested').counts.walkReads / design(c, 'kernel').counts.walkReads;
    expect(ratio).toBeGreaterThan(3.2);
    expect(ratio).toBeLessThan(3.8);
    // "only a little more than the kernel driver"
    expect(design(c, 'paravirt').perRequestUs / design(c, 'kernel').perRequestUs).toBeLessThan(1.25);
    for (const d of c.designs) expect(d.faults).toBe(0);
  });

  it('dynamic: identity < kernel < paravirt < nested (Q9); 2 hypercalls (Q7) / 2 traps per request; identity pays nothing', { timeout: 30_000 }, () => {
    const c = compare(DYNAMIC_WORKLOAD);
    expect(order(c)).toEqual(['identity', 'kernel', 'paravirt', 'nested']);
    const n = DYNAMIC_WORKLOAD.requests;
    expect(design(c, 'paravirt').counts.hypercalls).toBe(2 * n);
    expect(design(c, 'paravirt').counts.syncs).toBe(n);
    expect(design(c, 'nested').counts.mmioTraps).toBe(2 * n);
    expect(design(c, 'identity').counts.hypercalls ?? 0).toBe(0);
    expect(design(c, 'identity').counts.mmioTraps ?? 0).toBe(0);
    expect(design(c, 'identity').counts.commands ?? 0).toBe(0);
    expect(design(c, 'identity').counts.iotlbMisses).toBeLessThanOrEqual(1);
    expect(BigInt(design(c, 'identity').pinnedBytes)).toBeGreaterThan(0n);
    expect(design(c, 'paravirt').pinnedBytes).toBe('0x0');
    expect(design(c, 'nested').pinnedBytes).toBe('0x0');
  });

  it('the nested map is free: its traps are all on the unmap side', () => {
    const w: CompareWorkload = { ...STATIC_WORKLOAD, requests: 10 };
    // Static: 256 maps, no unmap until the end — no traps at all.
    expect(design(runCompareToEnd(w, {}, { designs: ['nested'] }), 'nested').counts.mmioTraps ?? 0).toBe(0);
  });

  it('2 MiB buffers: paravirt is by far the slowest (several × nested), pinning 512 pages per map; identity pins ~2 GiB', { timeout: 30_000 }, () => {
    const c = compare(DYNAMIC_2M_WORKLOAD);
    expect(order(c)[3]).toBe('paravirt');
    expect(design(c, 'paravirt').perRequestUs / design(c, 'nested').perRequestUs).toBeGreaterThan(3);
    expect(design(c, 'paravirt').counts.hypPinnedPages).toBe(512 * DYNAMIC_2M_WORKLOAD.requests);
    const pinned = BigInt(design(c, 'identity').pinnedBytes);
    expect(pinned).toBeGreaterThan(0x7000_0000n);
    expect(pinned).toBeLessThanOrEqual(0x8000_0000n);
  });
});

describe('invalidation: the answers and measured claims', () => {
  const r = () => run(invalidation);
  it('with vCMDQ the unmaps do not trap (Q6) but CFGI_STE does', () => {
    expect(delta(r(), 6, 'mmioTraps')).toBe(0);
    expect(delta(r(), 10, 'mmioTraps')).toBe(0);
    expect(delta(r(), 3, 'mmioTraps')).toBeGreaterThan(0);
    expect(delta(r(), 11, 'mmioTraps')).toBeGreaterThan(0);
  });
  it('the 2 MiB unmap is two range TLBIs, each with a CMD_SYNC (Q10)', () => {
    expect(delta(r(), 10, 'commands') - delta(r(), 10, 'syncs')).toBe(2);
    expect(delta(r(), 10, 'syncs')).toBe(2);
    const q = r().session.snapshot(10).cmdq.entries.filter((e) => e.name === 'CMD_TLBI_NH_VA');
    expect(q.length).toBeGreaterThanOrEqual(2);
  });
  it('the donation issues TLBI_S2_IPA, TLBI_NH_ALL and CMD_SYNC', () => {
    const names = r().session.snapshot(12).cmdq.entries.slice(-3).map((e) => e.name);
    expect(names).toEqual(['CMD_TLBI_S2_IPA', 'CMD_TLBI_NH_ALL', 'CMD_SYNC']);
  });

  /** The lesson's machine with other features. */
  function variant(machine: Record<string, unknown>): Run {
    const doc = { ...invalidation.scenario, machine: { ...(invalidation.scenario.machine as Record<string, unknown>), ...machine } };
    return runDoc(doc);
  }
  it('without vCMDQ the one-page unmap costs 2 traps', () => {
    expect(delta(variant({ vcmdq: false }), 6, 'mmioTraps')).toBe(2);
  });
  it('without RIL the 2 MiB unmap takes 513 TLBIs; without vCMDQ too, 13 traps', () => {
    const noRil = variant({ features: { ril: false } });
    expect(delta(noRil, 10, 'commands') - delta(noRil, 10, 'syncs')).toBe(513);
    expect(delta(noRil, 10, 'mmioTraps')).toBe(0);
    const neither = variant({ features: { ril: false }, vcmdq: false });
    expect(delta(neither, 10, 'mmioTraps')).toBe(13);
  });

  it('the lesson’s presets are the ones measured here', () => {
    expect(invalidation.steps[13].compare).toBe(STRICT_WORKLOAD);
    expect(invalidation.steps[14].compare).toBe(BATCHED_WORKLOAD);
  });

  it('a flush queue of 16 helps the kernel and nested (16× fewer traps, overtaking paravirt), not paravirt (Q14)', { timeout: 30_000 }, () => {
    const strict = compare(STRICT_WORKLOAD);
    const batched = compare(BATCHED_WORKLOAD);
    const n = STRICT_WORKLOAD.requests;
    // Strict: per request the kernel pays a TLBI + SYNC, nested 2 traps more, paravirt a hypercall per map and unmap.
    expect(design(strict, 'kernel').counts.syncs).toBe(n);
    expect(design(strict, 'nested').counts.mmioTraps).toBe(2 * n);
    expect(design(strict, 'paravirt').counts.hypercalls).toBe(2 * n);
    expect(design(strict, 'nested').perRequestUs).toBeGreaterThan(design(strict, 'paravirt').perRequestUs);
    // Batched: one context TLBI + SYNC per 16 unmaps.
    expect(design(batched, 'kernel').counts.syncs).toBe(Math.ceil(n / 16));
    expect(design(batched, 'kernel').counts.commands).toBe(Math.ceil(n / 16));
    expect(design(batched, 'nested').counts.mmioTraps).toBe(design(strict, 'nested').counts.mmioTraps / 16);
    expect(design(batched, 'kernel').perRequestUs).toBeLessThan(design(strict, 'kernel').perRequestUs);
    expect(design(batched, 'nested').perRequestUs).toBeLessThan(design(strict, 'nested').perRequestUs);
    expect(design(batched, 'nested').perRequestUs).toBeLessThan(design(batched, 'paravirt').perRequestUs);
    expect(design(batched, 'paravirt').perRequestUs).toBeCloseTo(design(strict, 'paravirt').perRequestUs, 9);
    expect(design(batched, 'paravirt').counts).toEqual(design(strict, 'paravirt').counts);
  });
});
