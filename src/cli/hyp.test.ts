import { describe, expect, it } from 'vitest';
import { runCli } from './main';

type Json = Record<string, unknown>;

interface Out {
  results: Json[];
  invariants: Json;
  cost: { counts: Record<string, number>; modelled_us: number; parts: Record<string, number>; pinned_bytes: string; properties: Record<string, boolean> };
}

function run(doc: unknown) {
  return runCli('hyp', typeof doc === 'string' ? doc : JSON.stringify(doc));
}

function ok(doc: unknown): Out {
  const r = run(doc);
  expect(r.output).not.toHaveProperty('error');
  expect(r.exitCode).toBe(0);
  return r.output as Out;
}

function expectInvalid(doc: unknown, path: string): string {
  const r = run(doc);
  expect(r.exitCode).toBe(2);
  expect(r.output).toMatchObject({ error: { kind: 'invalid-input', path } });
  const err = (r.output as { error: Record<string, unknown> }).error;
  expect(Object.keys(err)).toEqual(['kind', 'message', 'path']);
  return err.message as string;
}

/** 1 GiB of RAM at 0x4000_0000; the hyp's pool defaults to its top 16 MiB, from 0x7f00_0000. */
const RAM = [{ base: '0x40000000', size: '0x40000000' }];
const POOL = '0x7f000000';
const NIC = 1;

function doc(mode: string, steps: unknown[], machine: Json = {}): Json {
  return { machine: { ram: RAM, devices: [{ sid: NIC, name: 'nic' }], ...machine }, mode, steps };
}

// Paravirt hypercalls.
const alloc = (domain_id: number, type = 's1'): Json => ({ do: 'hvc', call: 'alloc_domain', domain_id, type });
const attach = (domain_id: number, sid = NIC, more: Json = {}): Json => ({ do: 'hvc', call: 'attach_dev', iommu_id: 0, domain_id, sid, pasid: 0, pasid_bits: 0, ...more });
const map = (iova: string, paddr: string, pgcount = 1, more: Json = {}): Json => ({
  do: 'hvc',
  call: 'map_pages',
  domain_id: 0,
  iova,
  paddr,
  pgsize: '0x1000',
  pgcount,
  prot: ['read', 'write'],
  ...more,
});
const unmap = (iova: string, pgcount = 1, more: Json = {}): Json => ({ do: 'hvc', call: 'unmap_pages', domain_id: 0, iova, pgsize: '0x1000', pgcount, ...more });
const dma = (iova: string, access = 'write', more: Json = {}): Json => ({ do: 'dma', sid: NIC, iova, access, ...more });
const fault = (iova: string, more: Json = {}): Json => ({ fault: { type: 'F_TRANSLATION', code: '0x10', sid: NIC, ssid: 0, input_addr: iova, ...more } });

describe('hyp: paravirt', () => {
  it('alloc / attach / map / dma / unmap / dma', () => {
    const out = ok(
      doc('paravirt', [
        alloc(0),
        attach(0),
        map('0x100000', '0x50000000', 4),
        dma('0x101234'),
        { do: 'hvc', call: 'iova_to_phys', domain_id: 0, iova: '0x102345' },
        unmap('0x100000', 4),
        dma('0x101234'),
        { do: 'hvc', call: 'iova_to_phys', domain_id: 0, iova: '0x102345' },
        { do: 'check' },
      ]),
    );
    expect(out.results).toEqual([
      { ret: 0 },
      { ret: 0 },
      { ret: 0, value: '0x4000' },
      { pa: '0x50001234' },
      { ret: 0, value: '0x50002345' },
      { ret: 0, value: '0x4000' },
      fault('0x101234', { stage: 1, class: 'IN' }),
      { ret: 0, value: '0x0' },
      { ok: true },
    ]);
    expect(out.invariants).toEqual({ ok: true });
    const c = out.cost;
    expect(c.counts.hypercalls).toBe(6);
    expect(c.counts.hypPinnedPages).toBe(4);
    expect(c.counts.hypUnpinnedPages).toBe(4);
    expect(c.counts.hypUnmapCalls).toBe(1);
    expect(c.counts.iotlbMisses).toBe(2);
    expect(c.counts.walkReads).toBeGreaterThan(0);
    expect(c.counts.mmioTraps).toBe(0);
    expect(c.pinned_bytes).toBe('0x0');
    expect(c.modelled_us).toBeCloseTo(
      Object.values(c.parts).reduce((a, b) => a + b, 0),
      9,
    );
    expect(c.properties).toEqual({ host_isolation: true, guest_isolation: true, host_iova_space: true, sva_possible: false, no_pinning_needed: true });
  });

  it('pins mapped pages (pinned_bytes) and takes cost parameters', () => {
    const steps = [alloc(0), attach(0), map('0x100000', '0x50000000', 4)];
    const base = ok(doc('paravirt', steps));
    expect(base.cost.pinned_bytes).toBe('0x4000');
    const cheap = ok({ ...doc('paravirt', steps), costs: { hypercallUs: 0, syncWaitUs: 0 } });
    expect(cheap.cost.counts).toEqual(base.cost.counts);
    expect(cheap.cost.parts.hypercalls).toBe(0);
    expect(cheap.cost.modelled_us).toBeLessThan(base.cost.modelled_us);
  });

  it('map_sg maps every entry in one hypercall; top_up donates pages to the pool', () => {
    const out = ok(
      doc('paravirt', [
        alloc(0),
        {
          do: 'hvc',
          call: 'map_sg',
          domain_id: 0,
          iova: '0x200000',
          sg: [
            { phys: '0x50000000', pgsize: '0x1000', pgcount: 1 },
            { phys: '0x50100000', pgsize: '0x1000', pgcount: 2 },
          ],
          prot: ['read'],
        },
        { do: 'hvc', call: 'iova_to_phys', domain_id: 0, iova: '0x201000' },
        { do: 'hvc', call: 'top_up', pages: 8 },
        { do: 'hvc', call: 'top_up', pages: 0 },
      ]),
    );
    expect(out.results.slice(0, 4)).toEqual([{ ret: 0 }, { ret: 0, value: '0x3000' }, { ret: 0, value: '0x50100000' }, { ret: 0 }]);
    expect(out.results[4]).toMatchObject({ ret: 'EINVAL' });
    expect(out.cost.counts.hypercalls).toBe(5);
  });

  it('rejects every attack of hyp.md, and the invariants hold at the end', () => {
    const guestPage = '0x60000000';
    const out = ok(
      doc('paravirt', [
        alloc(0), // 0
        attach(0), // 1
        map('0x0', POOL), // 2 a hyp page
        { do: 'donate_guest', addr: guestPage, size: '0x1000', vm: 1 }, // 3
        map('0x1000', guestPage), // 4 a guest page
        map('0x2000', '0x50000000'), // 5
        { do: 'donate_guest', addr: '0x50000000', size: '0x1000', vm: 1 }, // 6 a mapped page
        { do: 'write64', addr: '0x50000000', value: '0x1234' }, // 7 still the host's
        dma('0x2008'), // 8 still reachable
        { do: 'hvc', call: 'free_domain', domain_id: 0 }, // 9 attached
        alloc(0), // 10 live
        map('0xfffffffffffff000', '0x50001000', 2), // 11 iova + size wraps
        map('0x3000', '0x50001000', 1e20), // 12 a huge pgcount
        map('0x3000', '0x50001000', 1, { prot: [] }), // 13 neither read nor write
        map('0x3000', '0x50001000', 1, { prot: 0x100 }), // 14 a raw mask with an unknown bit
        map('0x3000', '0x50001000', 1, { domain_id: -1 }), // 15
        map('0x3000', '0x50001000', 1, { domain_id: 2 ** 60 }), // 16
        alloc(4096), // 17
        attach(0, 1 << 16), // 18 sid beyond SIDSIZE
        attach(0, NIC, { iommu_id: 7 }), // 19
        attach(0, 2, { pasid: 4, pasid_bits: 2 }), // 20 pasid beyond pasid_bits
        map('0x3000', '0x50001000', 1, { pgsize: '0x3000' }), // 21 not a page size
        map('0x3001', '0x50001000'), // 22 unaligned
        unmap('0x2000'), // 23
        unmap('0x2000'), // 24 racing unmap: nothing left
        { do: 'donate_guest', addr: '0x50000000', size: '0x1000', vm: 1 }, // 25 unmapped now
        dma('0x2008'), // 26 a donated page
        { do: 'write64', addr: '0x50000000', value: '0x1' }, // 27 the guest's now
        { do: 'write64', addr: POOL, value: '0x1' }, // 28 the hyp's
        { do: 'check' },
      ]),
    );
    const r = out.results;
    expect(r[0]).toEqual({ ret: 0 });
    expect(r[1]).toEqual({ ret: 0 });
    expect(r[2]).toMatchObject({ ret: 'EPERM' });
    expect(r[3]).toEqual({ ret: 0 });
    expect(r[4]).toMatchObject({ ret: 'EPERM' });
    expect(r[5]).toEqual({ ret: 0, value: '0x1000' });
    expect(r[6]).toMatchObject({ ret: 'EBUSY' });
    expect(r[7]).toEqual({ ret: 0 });
    expect(r[8]).toEqual({ pa: '0x50000008' });
    expect(r[9]).toMatchObject({ ret: 'EBUSY' });
    expect(r[10]).toMatchObject({ ret: 'EBUSY' });
    expect(r[11]).toMatchObject({ ret: 'EOVERFLOW' });
    expect(r[12]).toMatchObject({ ret: 'EOVERFLOW' });
    expect(r[13]).toMatchObject({ ret: 'EINVAL' });
    expect(r[14]).toMatchObject({ ret: 'EINVAL' });
    for (const i of [15, 16, 17, 18, 19, 20, 21, 22]) expect(r[i], `step ${i}`).toMatchObject({ ret: 'EINVAL' });
    for (const i of [2, 4, 6, 9, 10, 11, 13]) expect(typeof r[i].reason, `step ${i}`).toBe('string');
    expect(r[23]).toEqual({ ret: 0, value: '0x1000' });
    expect(r[24]).toEqual({ ret: 0, value: '0x0' });
    expect(r[25]).toEqual({ ret: 0 });
    expect(r[26]).toEqual(fault('0x2008', { stage: 1, class: 'IN' }));
    expect(r[27]).toMatchObject({ ret: 'EPERM' });
    expect(r[28]).toMatchObject({ ret: 'EPERM' });
    expect(r[29]).toEqual({ ok: true });
    expect(out.invariants).toEqual({ ok: true });
    expect(out.cost.pinned_bytes).toBe('0x0');
  });

  it('ownership transitions return errno results', () => {
    const out = ok(
      doc('paravirt', [
        { do: 'share_hyp', addr: '0x50000000', size: '0x2000' },
        { do: 'share_hyp', addr: '0x50000000', size: '0x1000' },
        { do: 'unshare_hyp', addr: '0x50000000', size: '0x2000' },
        { do: 'donate_hyp', addr: '0x50000000', size: '0x1000' },
        { do: 'reclaim_hyp', addr: '0x50000000', size: '0x1000' },
        { do: 'share_guest', addr: '0x50000000', size: '0x1000', vm: 3 },
        { do: 'unshare_guest', addr: '0x50000000', size: '0x1000', vm: 2 },
        { do: 'unshare_guest', addr: '0x50000000', size: '0x1000', vm: 3 },
        { do: 'reclaim_guest', addr: '0x50000000', size: '0x1000', vm: 3 },
        { do: 'donate_hyp', addr: '0x50000800', size: '0x1000' },
        { do: 'donate_guest', addr: '0x50000000', size: '0x1000', vm: -1 },
        { do: 'check' },
      ]),
    );
    expect(out.results.map((x) => x.ret ?? x.ok)).toEqual([0, 'EPERM', 0, 0, 0, 0, 'EPERM', 0, 'EPERM', 'EINVAL', 'EINVAL', true]);
  });

  it('the host has no SMMU and no host driver in paravirt', () => {
    const out = ok(doc('paravirt', [{ do: 'mmio_write', offset: '0x44', value: '0x80000000' }, { do: 'mmio_read', offset: 'GBPA' }, { do: 'host', op: 'init' }]));
    expect(out.results[0]).toMatchObject({ ret: 'EPERM' });
    expect(out.results[1]).toMatchObject({ ret: 'EPERM' });
    expect(out.results[2]).toMatchObject({ ret: 'ENODEV' });
  });
});

describe('hyp: identity', () => {
  it('devices see physical addresses; a donated page faults; all host RAM is pinned', () => {
    const out = ok(
      doc('identity', [
        dma('0x50001234'),
        { do: 'donate_guest', addr: '0x50000000', size: '0x1000', vm: 1 },
        dma('0x50001234', 'read'),
        dma('0x50000010', 'read'),
        dma(POOL, 'read'),
        { do: 'hvc', call: 'alloc_domain', domain_id: 0, type: 's1' },
        { do: 'host', op: 'init' },
        { do: 'mmio_read', offset: 0 },
        { do: 'check' },
      ]),
    );
    expect(out.results).toEqual([
      { pa: '0x50001234' },
      { ret: 0 },
      { pa: '0x50001234' },
      fault('0x50000010', { stage: 2, class: 'IN', ipa: '0x50000000' }),
      fault(POOL, { stage: 2, class: 'IN', ipa: POOL }),
      expect.objectContaining({ ret: 'ENOSYS' }),
      expect.objectContaining({ ret: 'ENODEV' }),
      expect.objectContaining({ ret: 'EPERM' }),
      { ok: true },
    ]);
    // 1 GiB minus the hyp's pool (1024 pages) minus the guest's page.
    expect(out.cost.pinned_bytes).toBe('0x' + (0x4000_0000 - 1024 * 4096 - 4096).toString(16));
    expect(out.cost.counts.hypercalls).toBe(0);
    expect(out.cost.properties).toMatchObject({ host_isolation: false, host_iova_space: false, no_pinning_needed: false });
  });

  it('undeclared devices have no identity stage 2: their DMA aborts', () => {
    const out = ok(doc('identity', [{ do: 'dma', sid: 5, iova: '0x50000000', access: 'read' }]));
    expect(out.results).toEqual([{ abort: true }]);
  });
});

describe('hyp: nested', () => {
  const setup = [
    { do: 'host', op: 'init' },
    { do: 'host', op: 'alloc_domain', domain: 'nic', stage: 's1' },
    { do: 'host', op: 'attach', domain: 'nic', sid: NIC },
    { do: 'host', op: 'map', domain: 'nic', iova: '0x100000', paddr: '0x50000000', size: '0x4000', prot: ['read', 'write'] },
  ];

  it('the host driver maps, a device DMAs through the 2-D walk, GBPA and STRTAB_BASE are refused', () => {
    const out = ok(
      doc('nested', [
        ...setup,
        dma('0x101234'),
        { do: 'host', op: 'map', domain: 'nic', iova: '0x200000', paddr: POOL, size: '0x1000', prot: ['read'] },
        dma('0x200000', 'read'),
        { do: 'mmio_write', offset: 'GBPA', value: '0x80000000' },
        { do: 'mmio_read', offset: '0x44' },
        { do: 'mmio_write', offset: 'STRTAB_BASE', value: '0x0' },
        { do: 'mmio_read', offset: 'CR0' },
        { do: 'donate_guest', addr: '0x50001000', size: '0x1000', vm: 1 },
        dma('0x101234'),
        { do: 'host', op: 'unmap', domain: 'nic', iova: '0x100000', size: '0x4000' },
        dma('0x100000'),
        { do: 'host', op: 'alloc_domain', domain: 's2', stage: 's2' },
        { do: 'host', op: 'map', domain: 'nope', iova: '0x0', paddr: '0x50000000', size: '0x1000', prot: ['read'] },
        { do: 'hvc', call: 'top_up', pages: 1 },
        { do: 'check' },
      ]),
    );
    const r = out.results;
    expect(r.slice(0, 5)).toEqual([{ ret: 0 }, { ret: 0 }, { ret: 0 }, { ret: 0, value: '0x4000' }, { pa: '0x50001234' }]);
    // The host may write any PA in its own tables; the hyp's stage 2 stops the DMA.
    expect(r[5]).toEqual({ ret: 0, value: '0x1000' });
    expect(r[6]).toEqual(fault('0x200000', { stage: 2, class: 'IN', ipa: POOL }));
    expect(r[7]).toMatchObject({ ret: 0, ignored: true });
    expect(r[8]).toMatchObject({ ret: 0, value: '0x0', ignored: true });
    expect(r[9]).toMatchObject({ ret: 0, ignored: true });
    expect(r[10]).toMatchObject({ ret: 0, value: expect.stringMatching(/^0x[0-9a-f]+$/) });
    expect(r[10]).not.toHaveProperty('ignored');
    expect(r[11]).toEqual({ ret: 0 });
    expect(r[12]).toEqual(fault('0x101234', { stage: 2, class: 'IN', ipa: '0x50001000' }));
    expect(r[13]).toEqual({ ret: 0, value: '0x4000' });
    expect(r[14]).toEqual(fault('0x100000', { stage: 1, class: 'IN' }));
    expect(r[15]).toMatchObject({ ret: 'EINVAL' }); // the host sees no stage 2
    expect(r[16]).toMatchObject({ ret: 'ENOENT' });
    expect(r[17]).toMatchObject({ ret: 'ENOSYS' });
    expect(r[18]).toEqual({ ok: true });
    expect(out.invariants).toEqual({ ok: true });
    const c = out.cost.counts;
    expect(c.mmioTraps).toBeGreaterThan(0);
    expect(c.commandsEmulated).toBeGreaterThan(0);
    expect(c.hypercalls).toBe(0);
    expect(out.cost.pinned_bytes).toBe('0x0');
    expect(out.cost.properties).toMatchObject({ sva_possible: true, host_isolation: true });
  });

  it('a cold DMA walks both stages: more table reads than a stage-1-only walk', () => {
    const nested = ok(doc('nested', [...setup, dma('0x101234')])).cost.counts.walkReads;
    const flat = ok(doc('paravirt', [alloc(0), attach(0), map('0x100000', '0x50000000', 4)])).cost.counts.walkReads;
    const flatDma = ok(doc('paravirt', [alloc(0), attach(0), map('0x100000', '0x50000000', 4), dma('0x101234')])).cost.counts.walkReads;
    expect(nested).toBeGreaterThan(flatDma - flat + 4);
  });

  it('host driver operations before init fail with ENODEV', () => {
    const out = ok(doc('nested', [{ do: 'host', op: 'alloc_domain', domain: 'a', stage: 's1' }]));
    expect(out.results[0]).toMatchObject({ ret: 'ENODEV' });
  });
});

describe('hyp: invalid input', () => {
  const good = doc('paravirt', [alloc(0)]);

  it('rejects unknown fields, naming them', () => {
    expectInvalid({ ...good, extra: 1 }, 'extra');
    expectInvalid(doc('paravirt', [{ ...alloc(0), flags: 1 }]), 'steps[0].flags');
    expectInvalid(doc('paravirt', [], { colour: 'red' }), 'machine.colour');
    expectInvalid({ ...good, costs: { hypercallUS: 1 } }, 'costs.hypercallUS');
  });

  it('rejects a bad call name or step kind at the discriminator', () => {
    expectInvalid(doc('paravirt', [{ do: 'hvc', call: 'map_page', domain_id: 0 }]), 'steps[0].call');
    expectInvalid(doc('paravirt', [{ do: 'hvc' }]), 'steps[0].call');
    expectInvalid(doc('paravirt', [{ do: 'hack' }]), 'steps[0].do');
    expectInvalid(doc('nested', [{ do: 'host', op: 'reboot' }]), 'steps[0].op');
  });

  it('rejects non-integer numbers, missing fields and bad values', () => {
    expectInvalid(doc('paravirt', [alloc(1.5)]), 'steps[0].domain_id');
    expectInvalid(doc('paravirt', [alloc(0), map('0x0', '0x50000000', 1, { pgcount: '1' })]), 'steps[1].pgcount');
    expectInvalid(doc('paravirt', [{ do: 'donate_guest', addr: '0x50000000', size: '0x1000' }]), 'steps[0].vm');
    expectInvalid(doc('paravirt', [{ do: 'donate_hyp', addr: '0x50000000', size: '0x1000', vm: 1 }]), 'steps[0].vm');
    expectInvalid(doc('paravirt', [map('0x0', '0x50000000', 1, { prot: ['read', 'exec'] })]), 'steps[0].prot[1]');
    expectInvalid(doc('paravirt', [map('0x0', '0x50000000', 1, { prot: 1.5 })]), 'steps[0].prot');
    expectInvalid(doc('paravirt', [map('0x0', '0x1_0000', 1)]), 'steps[0].paddr');
    expectInvalid(doc('paravirt', [{ do: 'write64', addr: '0x50000004', value: '0x1' }]), 'steps[0].addr');
    expectInvalid(doc('paravirt', [{ do: 'mmio_read', offset: 'NOPE' }]), 'steps[0].offset');
    expectInvalid(doc('paravirt', [{ do: 'mmio_read', offset: '0x20000' }]), 'steps[0].offset');
    expectInvalid(doc('paravirt', [dma('0x0', 'fetch')]), 'steps[0].access');
    expectInvalid({ ...good, mode: 'kernel' }, 'mode');
    expectInvalid({ ...good, costs: { hypercallUs: -1 } }, 'costs.hypercallUs');
    expectInvalid({ mode: 'paravirt', steps: [] }, 'machine');
  });

  it('rejects machines that cannot exist', () => {
    expectInvalid(doc('paravirt', [], { ram: [] }), 'machine.ram');
    expectInvalid(doc('paravirt', [], { ram: [{ base: '0x40000800', size: '0x1000' }] }), 'machine.ram[0].base');
    expectInvalid(doc('paravirt', [], { ram: [{ base: '0x40000000', size: '0x0' }] }), 'machine.ram[0].size');
    expectInvalid(
      doc('paravirt', [], {
        ram: [
          { base: '0x40000000', size: '0x40000000' },
          { base: '0x7ffff000', size: '0x2000' },
        ],
      }),
      'machine.ram[1]',
    );
    expectInvalid(doc('paravirt', [], { mmio: [{ base: '0x50000000', size: '0x1000' }] }), 'machine.mmio[0]');
    expectInvalid(doc('paravirt', [], { pool: { base: '0x80000000', pages: 16 } }), 'machine.pool');
    expectInvalid(doc('paravirt', [], { pool: { base: '0x7ffff000', pages: 2 } }), 'machine.pool');
    expectInvalid(doc('paravirt', [], { pool: { base: '0x7f000000', pages: 0 } }), 'machine.pool.pages');
    expectInvalid(doc('paravirt', [], { devices: [{ sid: 1 << 16 }] }), 'machine.devices[0].sid');
    expectInvalid(doc('paravirt', [], { devices: [{ sid: 255 }, { sid: 256 }], features: { sidsize: 8 } }), 'machine.devices[1].sid');
    expectInvalid(doc('paravirt', [], { devices: [{ sid: 3 }, { sid: 3 }] }), 'machine.devices[1].sid');
    expectInvalid(doc('identity', [], { features: { stages: ['s1'] } }), 'machine.features.stages');
    expectInvalid(doc('paravirt', [], { features: { oas: 46 } }), 'machine.features.oas');
    expectInvalid(doc('identity', [], { features: { oas: 32 }, ram: [{ base: '0xc0000000', size: '0x80000000' }] }), 'machine.ram[0]');
  });

  it('accepts the documented defaults: a machine with only RAM, no steps', () => {
    const out = ok({ machine: { ram: RAM }, mode: 'paravirt', steps: [] });
    expect(out).toMatchObject({ results: [], invariants: { ok: true } });
    // MMIO is host-owned and can be mapped with prot mmio (no refcount), but not as RAM (MMIO cannot be refcounted).
    const mmio = ok(
      doc('paravirt', [alloc(0), map('0x0', '0x9000000', 1, { prot: ['read', 'write', 'mmio'] }), map('0x1000', '0x9000000', 1), { do: 'write64', addr: '0x9000000', value: '0x1' }], {
        mmio: [{ base: '0x9000000', size: '0x10000' }],
      }),
    );
    expect(mmio.results.slice(1)).toEqual([{ ret: 0, value: '0x1000' }, expect.objectContaining({ ret: 'EPERM' }), { ret: 0 }]);
    expect(mmio.invariants).toEqual({ ok: true });
  });
});
