import type { Lesson } from '../types';

/**
 * Two stages, on a nested-mode machine (the hypervisor owns stage 2): a
 * host bypass STE shadowed as stage 2 only (a 1-D S2 walk), then a nested
 * S1 + S2 walk over the hypervisor's 1 GiB S2 blocks (14 reads), then the
 * same walk once donations split the S2 down to 4 KiB pages (24 reads).
 */
export const lesson: Lesson = {
  id: 'two-stages',
  title: 'Two stages',
  summary: 'Stage 2 alone, then nested S1 + S2: the 24-read 2-D walk, and how S2 blocks cut it.',
  panel: 'walk',
  scenario: {
    v: 1,
    title: 'Two stages',
    description:
      'Stage 1 translates a device address (IOVA) to an intermediate physical address (IPA); stage 2 translates IPAs to physical addresses. Here a hypervisor owns stage 2 — an identity map of the host’s RAM — and the host driver programs stage 1. With both stages, every stage-1 table address is itself an IPA that needs a stage-2 walk.',
    machine: {
      ram: [{ base: '0x40000000', size: '0x80000000' }],
      devices: [
        { sid: 1, name: 'nic' },
        { sid: 2, name: 'legacy' },
      ],
    },
    mode: 'nested',
    steps: [
      { do: 'host', op: 'init', note: 'The host driver initialises what it believes is its SMMU. The hypervisor traps every register access and keeps the real SMMU to itself.' },
      { do: 'host', op: 'alloc_domain', domain: 'nic', stage: 's1', note: 'A stage-1 domain for the NIC.' },
      { do: 'host', op: 'attach', domain: 'nic', sid: 1, note: 'Attaching SID 1 makes the host driver allocate the L2 stream table for StreamIDs 0–255; every other STE in it (SID 2 included) is an abort STE.' },
      { do: 'write64', addr: '0x40008080', value: '0x9', note: 'The host rewrites its STE for SID 2 as bypass (V = 1, Config = 0b100) — for example for a legacy device it trusts.' },
      { do: 'host', op: 'cmd', u64: ['0x200000003', '0x1'], note: 'CMD_CFGI_STE for SID 2 + CMD_SYNC. The hypervisor traps the CMDQ_PROD write, reads the host’s new STE and shadows it: a host bypass becomes Config = S2 translate with the hypervisor’s stage 2.' },
      { do: 'dma', sid: 2, iova: '0x50000000', access: 'read', note: 'Stage 2 alone: the input address is the IPA. The hypervisor maps host RAM with 1 GiB blocks, so the walk reads a level-0 table descriptor and a level-1 block descriptor: 2 table reads. IPA = PA here, because the S2 is an identity map.' },
      { do: 'host', op: 'map', domain: 'nic', iova: '0x100000', paddr: '0x50000000', size: '0x4000', prot: ['read', 'write'], note: 'The host maps four pages for the NIC in its stage-1 table.' },
      { do: 'dma', sid: 1, iova: '0x101234', access: 'write', note: 'Nested: 4 stage-1 levels, and before each stage-1 table read, a stage-2 walk of that table’s IPA; then one more stage-2 walk for the output IPA. With 2-level S2 walks: 4 + 5 × 2 = 14 table reads.' },
      { do: 'donate_guest', addr: '0x401ff000', size: '0x1000', vm: 1, note: 'The host donates a page next to its page tables to a guest. The hypervisor must remove it from the host’s stage 2: it splits the 1 GiB block around it into 2 MiB blocks and then 4 KiB pages, and invalidates.' },
      { do: 'donate_guest', addr: '0x501e0000', size: '0x1000', vm: 1, note: 'Another donation, next to the NIC’s buffer: that block is split too.' },
      { do: 'dma', sid: 1, iova: '0x101234', access: 'write', note: 'Each stage-2 walk now goes down 4 levels. The 2-D walk: (4 S1 levels + 1 output) × (4 S2 levels + 1) − 1 = 24 table reads — the worst case for 4 KiB pages.' },
    ],
  },
  steps: {
    5: { panel: 'hyp' },
    6: {
      panel: 'walk',
      question: {
        prompt: 'The host asked for bypass. What does the SMMU do with SID 2’s DMA to 0x50000000?',
        choices: ['Bypasses: PA 0x50000000 with no table reads', 'Walks only the hypervisor’s stage 2', 'Aborts: bypass is forbidden', 'Walks the host’s stage-1 table'],
        answer: 1,
        explain: 'Under pKVM the host must never bypass the hypervisor’s stage 2: the shadow STE is S2-only, so the device still reaches only host memory.',
      },
      goal: { text: 'A stage-2-only walk: 2 table reads over a 1 GiB block.', check: { result: { pa: '0x50000000' }, tableReads: 2 } },
    },
    8: {
      question: {
        prompt: 'Stage 1 has 4 levels; each stage-2 walk takes 2 reads (1 GiB blocks). How many table reads does the nested walk make?',
        choices: ['6', '8', '14', '24'],
        answer: 2,
        explain: '4 stage-1 reads, plus a 2-read stage-2 walk for each of the 4 stage-1 tables and for the output IPA: 4 + 5 × 2 = 14.',
      },
      goal: { text: 'Nested over 1 GiB S2 blocks: 14 table reads.', check: { result: { pa: '0x50001234' }, tableReads: 14 } },
    },
    9: { panel: 'hyp' },
    11: {
      panel: 'walk',
      question: {
        prompt: 'The stage 2 is now mapped with 4 KiB pages around the tables and the buffer. How many table reads now?',
        choices: ['14', '16', '20', '24'],
        answer: 3,
        explain: '(4 + 1) × (4 + 1) − 1 = 24: each of the 5 stage-2 walks takes 4 reads, plus the 4 stage-1 reads.',
      },
      goal: { text: 'The full 2-D walk: 24 table reads.', check: { result: { pa: '0x50001234' }, tableReads: 24 } },
    },
  },
};
