import type { Lesson } from '../types';

/**
 * SVA needs nesting: under nested trap-and-emulate the host's own driver gives
 * a device a CD table (S1CDMax = 4), with its DMA domain at SSID 0 and a
 * stand-in for a process page table at SSID 1; the same IOVA translates
 * differently per SubstreamID. The CPU then rewrites a descriptor of the
 * "process" table; the device sees it after CMD_TLBI_NH_VA (what Linux's SVA
 * mmu_notifier issues). The last step explains why paravirt cannot do this:
 * the cost report's sva_possible is true for nested and false for paravirt
 * (checked by smmu-lessons-b.test.ts).
 *
 * Host addresses here: CD table 0x4000c000 (CD 1 at 0x4000c040), the
 * "process" table's root 0x40006000 and its level-3 table 0x40012000 (entry
 * for VA 0x100000 at 0x40012800); the hypervisor's stage 2 at 0x7f005000.
 */
export const lesson: Lesson = {
  id: 'sva',
  title: 'SVA needs nesting',
  summary: 'Why sharing a process’s page table with a device needs stage-1 in the guest’s hands.',
  panel: 'streams',
  scenario: {
    v: 1,
    title: 'SVA needs nesting',
    description:
      'Shared Virtual Addressing: a device uses a process’s own page table, so it can follow the process’s pointers. The device tags its DMA with a PASID (the SMMU’s SubstreamID), which selects a Context Descriptor whose TTB0 is the process’s page table. Here the host drives the SMMU under pKVM’s nested design, where that is possible; the last step explains why the paravirtual design cannot do it.',
    machine: {
      ram: [{ base: '0x40000000', size: '0x40000000' }],
      devices: [{ sid: 1, name: 'accel' }],
    },
    mode: 'nested',
    steps: [
      {
        do: 'host',
        op: 'init',
        note: 'The host’s arm-smmu-v3 driver probes and resets the SMMU. Under nested pKVM every register access traps to the hypervisor, which presents an SMMU with stage 1 only and keeps stage 2 for itself.',
      },
      {
        do: 'host',
        op: 'alloc_domain',
        domain: 'dma',
        stage: 's1',
        note: 'A stage-1 domain for the device’s ordinary DMA-API traffic, the kind without a PASID: an io-pgtable in host memory, ASID 1.',
      },
      {
        do: 'host',
        op: 'alloc_domain',
        domain: 'proc',
        stage: 's1',
        ias: 48,
        note: 'A second stage-1 domain stands in for a process’s page table (the emulator has no CPU MMU): the same VMSAv8-64 format the CPU walks, with T0SZ = 64 − VA_BITS = 16. Real SVA allocates no table at all — its CD’s TTB0 is the process’s own pgd.',
      },
      {
        do: 'host',
        op: 'attach',
        domain: 'dma',
        sid: 1,
        pasid_bits: 4,
        note: 'Attach the DMA domain to SID 1, a device with 4 PASID bits. The driver gives SID 1 a table of 2^4 = 16 CDs (STE.S1CDMax = 4) with S1DSS = 0b10, so transactions without a SubstreamID use CD 0; the hypervisor shadows the STE as nested, putting its own stage 2 under the host’s stage 1.',
      },
      {
        do: 'host',
        op: 'attach',
        domain: 'proc',
        sid: 1,
        ssid: 1,
        note: 'Attach the process’s table at SubstreamID (PASID) 1. The driver writes only CD 1 — TTB0 = 0x40006000, ASID 2 — and issues CMD_CFGI_CD for it; the STE does not change.',
      },
      {
        do: 'host',
        op: 'map',
        domain: 'dma',
        iova: '0x100000',
        paddr: '0x50000000',
        size: '0x1000',
        prot: ['read', 'write'],
        note: 'In the DMA domain, IOVA 0x100000 maps PA 0x50000000.',
      },
      {
        do: 'host',
        op: 'map',
        domain: 'proc',
        iova: '0x100000',
        paddr: '0x58000000',
        size: '0x1000',
        prot: ['read', 'write'],
        note: 'In the process’s table the same address, 0x100000, maps PA 0x58000000. With real SVA this would be an ordinary page of the process, put there by the kernel’s memory management, not by iommu_map.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x100010',
        access: 'read',
        note: 'The device reads 0x100010 without a PASID: S1DSS sends it through CD 0, the DMA domain, to PA 0x50000010. Every stage-1 table address is an IPA here, so each of the 4 stage-1 reads and the output need a stage-2 walk of 3 reads: 4 + 5 × 3 = 19 table reads.',
      },
      {
        do: 'dma',
        sid: 1,
        ssid: 1,
        iova: '0x100010',
        access: 'read',
        note: 'Same StreamID, same address, SubstreamID 1: CD 1 selects the process’s table and ASID 2, and the device lands in the process’s page, PA 0x58000010.',
      },
      {
        do: 'write64',
        addr: '0x40012800',
        value: '0x58001e43',
        note: 'The CPU changes the process’s mapping, as the kernel does when it migrates a page: it rewrites the level-3 descriptor at 0x40012800 to point at PA 0x58001000. A plain memory write — nobody tells the SMMU.',
      },
      {
        do: 'dma',
        sid: 1,
        ssid: 1,
        iova: '0x100010',
        access: 'read',
        note: 'The device still reaches PA 0x58000010: the SMMU’s TLB holds the old translation (a hit, no table reads). With SVA, the CPU’s TLB invalidations must reach the SMMU too.',
      },
      {
        do: 'host',
        op: 'cmd',
        u64: ['0x2000000000012', '0x100001'],
        note: 'Linux’s SVA code does that from an mmu_notifier: CMD_TLBI_NH_VA for ASID 2 and VA 0x100000, then CMD_SYNC (an SMMU with broadcast TLB maintenance, BTM, could instead act on the CPU’s own TLBIs when the CD uses the CPU’s ASID). The hypervisor traps the queue write and passes the command through: it only touches the host’s stage 1.',
      },
      {
        do: 'dma',
        sid: 1,
        ssid: 1,
        iova: '0x100010',
        access: 'read',
        note: 'The SMMU walks the process’s table again and follows the new descriptor: PA 0x58001010. The device keeps up with the process’s view of memory, change by change.',
      },
      {
        do: 'check',
        note: 'This works because under nesting the host owns stage 1 — CDs and tables in its own memory, pointing anywhere it likes — while the hypervisor’s stage 2 bounds every address they produce to memory the host owns: the invariants hold. In the paravirtual design the hypervisor owns the stage-1 tables (in its pool, which the host cannot write) and the host can only ask it to map and unmap IOVAs, so a CD can never point at a page table the host’s kernel writes. The cost report says so: sva_possible is true for nested and false for paravirt.',
      },
    ],
  },
  steps: {
    4: { panel: 'streams' },
    5: { panel: 'streams' },
    7: { panel: 'tables' },
    8: {
      panel: 'walk',
      goal: { text: 'Without a SubstreamID the DMA uses CD 0: PA 0x50000010, through a 19-read nested walk.', check: { result: { pa: '0x50000010' }, tag: 'dma', tableReads: 19 } },
    },
    9: {
      panel: 'walk',
      question: {
        prompt: 'Same StreamID and IOVA, now with SubstreamID 1. Where does the read land?',
        choices: ['PA 0x50000010, like before: the StreamID decides', 'PA 0x58000010: CD 1’s table', 'C_BAD_SUBSTREAMID: SubstreamIDs are not enabled', 'F_STREAM_DISABLED: SubstreamID traffic is terminated'],
        answer: 1,
        explain: 'S1CDMax = 4 enables SubstreamIDs 0–15; SubstreamID 1 indexes CD 1, whose TTB0 is the process’s table, where 0x100000 maps 0x58000000.',
      },
      goal: { text: 'SubstreamID 1 selects CD 1 and the process’s table: PA 0x58000010.', check: { result: { pa: '0x58000010' }, notTag: 'fault' } },
    },
    10: { panel: 'tables' },
    11: {
      panel: 'walk',
      question: {
        prompt: 'The CPU rewrote the descriptor, and nothing else happened. What does the same DMA get now?',
        choices: ['PA 0x58001010: the SMMU reads the new descriptor', 'PA 0x58000010: the SMMU’s TLB still holds the old translation', 'F_TRANSLATION: the descriptor changed under the walk', 'A trap to the hypervisor'],
        answer: 1,
        explain: 'The translation was cached in the SMMU’s TLB by the previous DMA. Nothing has invalidated it, so the SMMU uses it without walking the table.',
      },
      goal: { text: 'A TLB hit with the stale translation: no table reads.', check: { result: { pa: '0x58000010' }, tableReads: 0 } },
    },
    12: {
      panel: 'queues',
      goal: { text: 'The host’s TLBI reaches the SMMU through the trapped command queue.', check: { result: { ret: 0 }, tag: 'trap' } },
    },
    13: {
      panel: 'walk',
      goal: { text: 'After the invalidation the device follows the new descriptor.', check: { result: { pa: '0x58001010' }, tableReads: 19 } },
    },
    14: {
      panel: 'costs',
      goal: { text: 'The invariants hold: the host’s stage 1 is bounded by the hypervisor’s stage 2.', check: { result: { ok: true } } },
    },
  },
};
