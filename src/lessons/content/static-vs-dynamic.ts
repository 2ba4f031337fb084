import type { CompareWorkload } from '../../scenario/view';
import type { Lesson } from '../types';

/** 256 ring slots of 4 KiB, one 1500-byte device write per request. */
const RING = { buffers: 256, bufferSize: 4096, requests: 2000, accessesPerRequest: 1, accessSize: 1500, pattern: 'sequential', batch: 1, sgPages: 4, seed: 1 } as const;

/** Map every buffer once, then DMA for ever. */
export const STATIC_WORKLOAD: CompareWorkload = { ...RING, kind: 'static' };
/** Map → DMA → unmap per request, like a network RX ring without batching. */
export const DYNAMIC_WORKLOAD: CompareWorkload = { ...RING, kind: 'dynamic' };
/** The same with 2 MiB buffers: each map and unmap covers 512 pages. */
export const DYNAMIC_2M_WORKLOAD: CompareWorkload = { ...RING, kind: 'dynamic', buffers: 8, bufferSize: 0x200000, requests: 200 };

/**
 * Static versus dynamic DMA: one paravirt map / DMA / unmap cycle in the
 * scenario, and the Costs panel's comparison of the four designs on a static
 * workload, a dynamic one and a dynamic one with large buffers. Every claim
 * in the narration is measured by hyp-lessons.test.ts on these presets.
 */
export const lesson: Lesson = {
  id: 'static-vs-dynamic',
  title: 'Static versus dynamic DMA',
  summary: 'The cost of the three designs on both workloads, measured: where each one wins.',
  panel: 'hyp',
  scenario: {
    v: 1,
    title: 'Static versus dynamic DMA',
    description:
      'Where a protection design costs depends on how the driver uses DMA. A static driver maps its buffers once and lets the device use them for ever; a dynamic one (a network RX ring, a block driver) maps a buffer, lets the device fill it, and unmaps it, for every request. One paravirt cycle shows the calls; the Costs panel runs the same workloads on the unprotected kernel driver, paravirt, nested and identity.',
    machine: {
      ram: [{ base: '0x40000000', size: '0x40000000' }],
      devices: [{ sid: 1, name: 'nic' }],
    },
    mode: 'paravirt',
    steps: [
      { do: 'hvc', call: 'alloc_domain', domain_id: 0, type: 's1', note: 'Paravirt setup: domain 0, built by the hypervisor.' },
      { do: 'hvc', call: 'attach_dev', iommu_id: 0, domain_id: 0, sid: 1, pasid: 0, pasid_bits: 0, note: 'The NIC attached to domain 0.' },
      {
        do: 'hvc',
        call: 'map_pages',
        domain_id: 0,
        iova: '0x100000',
        paddr: '0x50000000',
        pgsize: '0x1000',
        pgcount: 1,
        prot: ['read', 'write'],
        note: 'A static driver maps its buffer once: one map_pages hypercall, with the ownership check and DMA reference for the page.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x100234',
        access: 'write',
        note: 'The first DMA misses the IOTLB and walks the hypervisor’s stage-1 table: 4 table reads.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x100234',
        access: 'write',
        note: 'Every later DMA to the buffer hits the IOTLB. The Costs panel runs a static workload (256 buffers mapped once, 2000 requests): paravirt makes 256 hypercalls in all and none per request, so it costs only a little more per request than the kernel driver; nested is the slowest, because each IOTLB miss is a 2-D walk (about 3.5 times the kernel’s table reads); identity is the cheapest, with no map at all.',
      },
      {
        do: 'hvc',
        call: 'unmap_pages',
        domain_id: 0,
        iova: '0x100000',
        pgsize: '0x1000',
        pgcount: 1,
        note: 'A dynamic driver unmaps the buffer as soon as the device is done: one more hypercall, with a TLBI and a CMD_SYNC the hypervisor waits for before it drops the page’s reference.',
      },
      {
        do: 'hvc',
        call: 'map_pages',
        domain_id: 0,
        iova: '0x100000',
        paddr: '0x50000000',
        pgsize: '0x1000',
        pgcount: 1,
        prot: ['read', 'write'],
        note: '…and maps it again for the next request.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x100234',
        access: 'write',
        note: 'The unmap’s TLBI removed the cached translation, so this DMA walks the table again: in a dynamic workload nearly every request starts with an IOTLB miss.',
      },
      {
        do: 'hvc',
        call: 'unmap_pages',
        domain_id: 0,
        iova: '0x100000',
        pgsize: '0x1000',
        pgcount: 1,
        note: 'On the dynamic workload every design pays per request. Paravirt: 2 hypercalls (map and unmap) and a TLBI + CMD_SYNC. Nested: the map is free, but the unmap’s invalidation costs 2 traps (the CMDQ_PROD write and the CONS poll) plus the 2-D walk of the next DMA. Identity pays nothing per request and stays cheapest; in the model the order is identity < kernel < paravirt < nested.',
      },
      {
        do: 'check',
        note: 'With 2 MiB buffers the order changes: paravirt checks ownership and takes a reference on every 4 KiB page of each buffer, 512 of them per map and again per unmap, and becomes by far the slowest (several times nested). Identity still pays nothing — because every host page, about 2 GiB on the comparison machine, is pinned for DMA from boot.',
      },
    ],
  },
  steps: {
    3: {
      panel: 'hyp',
      goal: { text: 'One hypercall maps the buffer.', check: { tag: 'hypercall', result: { ret: 0, value: '0x1000' } } },
    },
    4: { panel: 'walk', goal: { text: 'The first DMA walks 4 levels.', check: { result: { pa: '0x50000234' }, tableReads: 4 } } },
    5: {
      panel: 'costs',
      compare: STATIC_WORKLOAD,
      question: {
        prompt: 'On the static workload (map once, DMA for ever), which design costs the most per request?',
        choices: ['Paravirt: a hypercall per DMA', 'Nested: 2-D table walks on IOTLB misses', 'Identity: it maps everything', 'The kernel driver'],
        answer: 1,
        explain: 'No design makes a call per DMA once the buffers are mapped. What remains is the walk on each IOTLB miss, and nested walks both stages.',
      },
      goal: { text: 'The second DMA hits the IOTLB.', check: { result: { pa: '0x50000234' }, tableReads: 0 } },
    },
    6: { panel: 'queues', goal: { text: 'unmap_pages: one hypercall.', check: { tag: 'hypercall', result: { ret: 0, value: '0x1000' } } } },
    7: {
      question: {
        prompt: 'On the dynamic workload (map → DMA → unmap per 4 KiB buffer), how many hypercalls does paravirt make per request?',
        choices: ['0', '1', '2', '4'],
        answer: 2,
        explain: 'One map_pages and one unmap_pages per buffer: the Costs panel counts exactly 2 × the requests.',
      },
      goal: { text: 'The buffer is mapped again.', check: { tag: 'hypercall', result: { ret: 0 } } },
    },
    8: { panel: 'walk', goal: { text: 'After the unmap, the DMA misses the IOTLB.', check: { result: { pa: '0x50000234' }, tableReads: 4 } } },
    9: {
      panel: 'costs',
      compare: DYNAMIC_WORKLOAD,
      question: {
        prompt: 'On the dynamic workload, which design is cheapest per request?',
        choices: ['The unprotected kernel driver', 'Paravirt', 'Nested', 'Identity'],
        answer: 3,
        explain: 'Identity has no map or unmap to do and its stage 2 is block-mapped, so the IOTLB almost never misses. It wins by pinning everything and giving up host isolation and the IOVA space.',
      },
      goal: { text: 'The unmap succeeds.', check: { tag: 'hypercall', result: { ret: 0, value: '0x1000' } } },
    },
    10: { panel: 'costs', compare: DYNAMIC_2M_WORKLOAD, goal: { text: 'The invariants hold.', check: { result: { ok: true } } } },
  },
};
