import type { CompareWorkload } from '../../scenario/view';
import type { Lesson } from '../types';

const RING = { kind: 'dynamic', buffers: 256, bufferSize: 4096, requests: 2000, accessesPerRequest: 1, accessSize: 1500, pattern: 'sequential', sgPages: 4, seed: 1 } as const;

/** Dynamic 4 KiB ring, every unmap invalidated at once (iommu.strict=1). */
export const STRICT_WORKLOAD: CompareWorkload = { ...RING, batch: 1 };
/** The same ring with a flush queue of 16 unmaps. */
export const BATCHED_WORKLOAD: CompareWorkload = { ...RING, batch: 16 };

/**
 * Invalidation under load, on a nested machine with vCMDQ: TLBI-only command
 * batches bypass the trap, configuration invalidations still trap; a 2 MiB
 * unmap with range invalidation (RIL); the hypervisor's own stage-2
 * invalidation; DVM explained; the flush queue measured in the Costs panel.
 */
export const lesson: Lesson = {
  id: 'invalidation',
  title: 'Invalidation under load',
  summary: 'Batching, range invalidation, DVM and vCMDQ.',
  panel: 'queues',
  scenario: {
    v: 1,
    title: 'Invalidation under load',
    description:
      'Mapping is cheap in every design; what costs is making the SMMU forget a translation before the memory is reused — a TLBI and a CMD_SYNC to wait for it. This nested machine has a vCMDQ: a hardware command queue the host may drive directly for TLB invalidations, so they need no trap. Range invalidation and batching cut the number of commands and syncs; the Costs panel measures batching.',
    machine: {
      ram: [{ base: '0x40000000', size: '0x40000000' }],
      devices: [{ sid: 1, name: 'nic' }],
      vcmdq: true,
    },
    mode: 'nested',
    steps: [
      {
        do: 'host',
        op: 'init',
        note: 'The host driver initialises the SMMU through the hypervisor’s traps, as in the nested lesson. The vCMDQ changes only what a command batch of TLB invalidations costs.',
      },
      { do: 'host', op: 'alloc_domain', domain: 'nic', stage: 's1', note: 'A stage-1 domain in host memory.' },
      {
        do: 'host',
        op: 'attach',
        domain: 'nic',
        sid: 1,
        note: 'Attaching sends CFGI_CD and CFGI_STE. Those still trap even with a vCMDQ: the hypervisor must read the host’s STE and write its shadow before the SMMU may use it.',
      },
      {
        do: 'host',
        op: 'map',
        domain: 'nic',
        iova: '0x100000',
        paddr: '0x50000000',
        size: '0x1000',
        prot: ['read', 'write'],
        note: 'Map one page: a PTE write, no trap, no command.',
      },
      { do: 'dma', sid: 1, iova: '0x100234', access: 'write', note: 'The NIC writes; the translation is now in the IOTLB.' },
      {
        do: 'host',
        op: 'unmap',
        domain: 'nic',
        iova: '0x100000',
        size: '0x1000',
        note: 'The unmap clears the PTE and issues TLBI_NH_VA + CMD_SYNC. The batch holds only stage-1 TLB invalidations for the host’s VMID, so it goes through the vCMDQ to the hardware with no trap (without vCMDQ this unmap costs 2 traps, as in the nested lesson).',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x100234',
        access: 'write',
        note: 'The invalidation really happened: the stale IOTLB entry is gone and the walk faults.',
      },
      {
        do: 'host',
        op: 'map',
        domain: 'nic',
        iova: '0x200000',
        paddr: '0x50001000',
        size: '0x200000',
        prot: ['read', 'write'],
        note: 'Map 2 MiB. The physical address is not 2 MiB-aligned, so no block can be used: 512 4 KiB PTEs in one last-level table.',
      },
      { do: 'dma', sid: 1, iova: '0x3ff000', access: 'write', note: 'The last page of the region: PA 0x50200000.' },
      {
        do: 'host',
        op: 'unmap',
        domain: 'nic',
        iova: '0x200000',
        size: '0x200000',
        note: 'Unmapping the whole table: this SMMU has range invalidation (SMMU_IDR3.RIL), so the driver sends one range TLBI_NH_VA for the freed table’s walk-cache entries and one for the 512 leaves (NUM/SCALE cover 2^9 pages), each with a CMD_SYNC. Without RIL the same unmap takes 513 TLBIs; without the vCMDQ too, 13 traps (measured on variants of this machine).',
      },
      {
        do: 'host',
        op: 'cmd',
        u64: ['0x100000003', '0x1'],
        note: 'A CFGI_STE in the batch: the vCMDQ cannot take it (the STE must be re-shadowed), so this batch traps.',
      },
      {
        do: 'donate_guest',
        addr: '0x50300000',
        size: '0x1000',
        vm: 1,
        note: 'The hypervisor’s own invalidation: donating a page removes it from its stage 2 and issues TLBI_S2_IPA, TLBI_NH_ALL (VMID 0, for combined S1+S2 entries) and CMD_SYNC on the real queue. With DVM (SMMU_IDR0.BTM) the SMMU also obeys the CPUs’ broadcast TLBI instructions for matching ASIDs and VMIDs, so the host’s invalidations could skip the command queue entirely; this model has no DVM and shows only the vCMDQ path.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x3ff000',
        access: 'write',
        note: 'The 2 MiB region is gone: fault. The Costs panel runs a strict dynamic ring (every unmap invalidated before it returns). The kernel driver pays a TLBI + CMD_SYNC per request, nested 2 traps per request on top, and paravirt a hypercall for each map and unmap.',
      },
      {
        do: 'check',
        note: 'Now with a flush queue (iommu.strict=0): unmaps are queued and 16 at a time share one TLBI_NH_ASID + CMD_SYNC. The kernel driver and nested get cheaper — nested makes 16 times fewer traps and overtakes paravirt — while paravirt cannot batch: the hypervisor must complete each invalidation before dropping the page references. (The Costs panel’s nested design has no vCMDQ.)',
      },
    ],
  },
  steps: {
    1: { panel: 'hyp', goal: { text: 'Initialisation traps.', check: { tag: 'trap' } } },
    3: { panel: 'streams', goal: { text: 'CFGI_STE traps even with vCMDQ.', check: { tag: 'trap', result: { ret: 0 } } } },
    4: { goal: { text: 'The map does not trap.', check: { notTag: 'trap', result: { ret: 0 } } } },
    6: {
      panel: 'queues',
      question: {
        prompt: 'This machine has a vCMDQ. How many traps does unmapping one page take?',
        choices: ['None', 'One: the CMDQ_PROD write', 'Two: the PROD write and the CONS poll', 'One hypercall'],
        answer: 0,
        explain: 'The unmap’s batch is TLBI_NH_VA + CMD_SYNC only, which the vCMDQ passes to the hardware without the hypervisor. Without vCMDQ, it would be two traps.',
      },
      goal: { text: 'The unmap’s TLBI goes through the vCMDQ: no trap.', check: { notTag: 'trap', result: { ret: 0, value: '0x1000' } } },
    },
    7: { panel: 'walk', goal: { text: 'The invalidated translation faults.', check: { tag: 'fault' } } },
    8: { goal: { text: '2 MiB mapped without a trap.', check: { notTag: 'trap', result: { ret: 0, value: '0x200000' } } } },
    9: { goal: { text: 'The 2 MiB region is reachable.', check: { result: { pa: '0x50200000' } } } },
    10: {
      panel: 'queues',
      question: {
        prompt: 'With range invalidation, how many TLBI commands does unmapping the 2 MiB region (512 pages) need?',
        choices: ['512, one per page', '2: a range for the freed table and one for the leaves', '1 TLBI_NH_ALL', 'None: freeing the table is enough'],
        answer: 1,
        explain: 'A range TLBI covers NUM × 2^SCALE pages in one command. The driver invalidates the walk cache for the freed last-level table and then the gathered leaves: two commands instead of 513.',
      },
      goal: { text: 'The 2 MiB unmap does not trap.', check: { notTag: 'trap', result: { ret: 0, value: '0x200000' } } },
    },
    11: { goal: { text: 'CFGI_STE traps.', check: { tag: 'trap', result: { ret: 0 } } } },
    12: { panel: 'queues', goal: { text: 'The donation succeeds.', check: { result: { ret: 0 } } } },
    13: {
      panel: 'costs',
      compare: STRICT_WORKLOAD,
      goal: { text: 'The unmapped region faults.', check: { tag: 'fault' } },
    },
    14: {
      panel: 'costs',
      compare: BATCHED_WORKLOAD,
      question: {
        prompt: 'With a flush queue of 16, which design gains nothing?',
        choices: ['The kernel driver', 'Paravirt', 'Nested', 'All gain equally'],
        answer: 1,
        explain: 'Paravirt’s unmap_pages completes its TLBI and CMD_SYNC before dropping the DMA references, so every unmap still pays its own invalidation and hypercall.',
      },
      goal: { text: 'The invariants hold.', check: { result: { ok: true } } },
    },
  },
};
