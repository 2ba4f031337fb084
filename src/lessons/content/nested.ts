import type { Lesson } from '../types';

/**
 * Nested SMMUv3 by trap and emulate (pKVM v4+): the host runs the ordinary
 * arm-smmu-v3 driver; every register access traps, STEs are shadowed with
 * the hypervisor's stage 2, commands are filtered. The host then tries a
 * bypass STE (it becomes stage-2 only), a stage-2 TLBI (dropped), and writes
 * to GBPA and STRTAB_BASE (refused / ignored).
 */
export const lesson: Lesson = {
  id: 'nested',
  title: 'Nested by trap and emulate',
  summary: 'The host driver’s STE and command writes trapped, filtered and shadowed; bypass becomes stage 2.',
  panel: 'hyp',
  scenario: {
    v: 1,
    title: 'Nested by trap and emulate',
    description:
      'In the nested design the host keeps its ordinary SMMU driver. The hypervisor traps every access to the SMMU’s registers, shows the host an SMMU without stage 2, and writes the real STEs itself: each one the host’s stage 1 over the hypervisor’s stage 2, an identity map of the memory the host owns. Whatever the host writes, its devices reach only host memory.',
    machine: {
      ram: [{ base: '0x40000000', size: '0x40000000' }],
      devices: [{ sid: 1, name: 'nic' }],
    },
    mode: 'nested',
    steps: [
      {
        do: 'host',
        op: 'init',
        note: 'The host’s arm-smmu-v3 driver probes and resets the SMMU as on bare metal. Every register access traps to the hypervisor (35 of them here): it keeps the host’s CR0, queue and stream-table registers virtual, while the real SMMU runs on the hypervisor’s own stream table and queues.',
      },
      {
        do: 'mmio_read',
        offset: 'IDR0',
        note: 'The host reads SMMU_IDR0. The hypervisor masks S2P (bit 0), HYP, MSI and VMID16: the host sees a stage-1-only SMMU, so its driver never tries to build a stage 2.',
      },
      {
        do: 'host',
        op: 'alloc_domain',
        domain: 'nic',
        stage: 's1',
        note: 'A stage-1 domain. Its page table, like the host’s stream table, CDs and command queue, lives in host memory, and the host writes it with plain stores.',
      },
      {
        do: 'host',
        op: 'attach',
        domain: 'nic',
        sid: 1,
        note: 'The driver writes STE 1 (Config = S1) in its own stream table and issues CFGI_STE + CMD_SYNC. The CMDQ_PROD write traps; the hypervisor reads the host’s STE and writes the real one: the host’s dwords 0–1 with Config = S1 + S2 (nested), and its own stage 2 (VMID 0, S2TTB) in dwords 2–3.',
      },
      {
        do: 'host',
        op: 'map',
        domain: 'nic',
        iova: '0x100000',
        paddr: '0x50000000',
        size: '0x4000',
        prot: ['read', 'write'],
        note: 'Mapping four pages is four PTE writes into the host’s own table: no trap and no hypercall.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x101234',
        access: 'write',
        note: 'A 2-D walk: each stage-1 table address is an IPA the SMMU first translates through the hypervisor’s stage 2. That stage 2 maps host RAM with 2 MiB blocks (3 levels), so the walk costs 4 S1 reads + 5 × 3 S2 reads = 19 table reads.',
      },
      {
        do: 'host',
        op: 'unmap',
        domain: 'nic',
        iova: '0x100000',
        size: '0x4000',
        note: 'Unmapping needs a TLBI_NH_VA + CMD_SYNC. The CMDQ_PROD write traps; the hypervisor filters the two commands, copies them to the real queue and waits for it to drain before the host continues: invalidation is where this design pays.',
      },
      {
        do: 'write64',
        addr: '0x40008040',
        value: '0x9',
        note: 'Now the host misbehaves. It rewrites dword 0 of its own STE 1 (at 0x40008040) as V = 1, Config = bypass, to give the NIC raw physical access. The store succeeds — it is the host’s memory — but the SMMU never reads this table.',
      },
      {
        do: 'host',
        op: 'cmd',
        u64: ['0x100000003', '0x1'],
        note: 'CMD_CFGI_STE for SID 1 (+ CMD_SYNC) asks the SMMU to reload the STE. The trap makes the hypervisor re-shadow it: a host bypass STE becomes a stage-2-only STE (Config = 0b110) on the hypervisor’s stage 2.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x50001234',
        access: 'write',
        note: 'The NIC now uses physical addresses, as bypass would give it, but through the hypervisor’s identity stage 2 (3 table reads): host memory is reachable.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x7f000000',
        access: 'read',
        note: '0x7f000000 is the hypervisor’s pool. It is not in the stage 2, so the access faults at stage 2: the “bypass” only ever reaches memory the host owns.',
      },
      {
        do: 'host',
        op: 'cmd',
        u64: ['0x2a', '0x50000001'],
        note: 'The host issues CMD_TLBI_S2_IPA. Stage 2 belongs to the hypervisor, so its filter drops the command; only the CMD_SYNC reaches the real queue.',
      },
      {
        do: 'mmio_write',
        offset: 'GBPA',
        value: '0x80000000',
        note: 'A write to SMMU_GBPA, which would decide what happens to traffic while the SMMU is disabled. The hypervisor refuses every host access to GBPA: the write is ignored (and GBPA reads as 0).',
      },
      {
        do: 'mmio_write',
        offset: 'STRTAB_BASE',
        value: '0x50000000',
        note: 'Moving the stream table while the host’s virtual SMMUEN = 1 is ignored, as the architecture makes STRTAB_BASE read-only then. Even while disabled, it would only move the host’s virtual table, which the hypervisor reads and shadows.',
      },
      {
        do: 'check',
        note: 'The invariant check reads the real stream table and tables: no device can reach a page the host does not own, no STE bypasses, and every shadow STE uses the hypervisor’s stage 2.',
      },
    ],
  },
  steps: {
    1: { panel: 'hyp', goal: { text: 'The driver’s register accesses trap.', check: { tag: 'trap', result: { ret: 0 } } } },
    2: {
      goal: { text: 'IDR0 as the host sees it: S2P clear.', check: { tag: 'trap', result: { ret: 0, value: '0xd48501a' } } },
    },
    4: {
      panel: 'streams',
      goal: { text: 'Attaching traps and the STE is shadowed.', check: { tag: 'trap', result: { ret: 0 } } },
    },
    5: {
      question: {
        prompt: 'How many traps does it take the host to map four pages?',
        choices: ['None', 'One: a hypercall', 'Four: one per PTE', 'Two: the PROD write and the CONS read'],
        answer: 0,
        explain: 'The host’s page table is host memory: map is a plain memory write. Only register accesses trap, and a map needs no invalidation.',
      },
      goal: { text: 'Mapping does not trap.', check: { notTag: 'trap', result: { ret: 0, value: '0x4000' } } },
    },
    6: { panel: 'walk', goal: { text: 'A 2-D walk of 19 table reads reaches 0x50001234.', check: { result: { pa: '0x50001234' }, tableReads: 19 } } },
    7: { panel: 'queues', goal: { text: 'The unmap’s invalidation traps.', check: { tag: 'trap', result: { ret: 0, value: '0x4000' } } } },
    8: { panel: 'streams', goal: { text: 'The host may write its own stream table: no trap.', check: { notTag: 'trap', result: { ret: 0 } } } },
    9: {
      panel: 'streams',
      question: {
        prompt: 'The host’s STE 1 now says bypass. What does the hypervisor write into the real STE 1?',
        choices: ['Bypass: it copies the host’s STE', 'Abort: bypass is forbidden', 'Stage 2 only, with the hypervisor’s stage 2', 'Nothing: it ignores CFGI_STE'],
        answer: 2,
        explain: 'Shadowing sets Config |= S2: bypass becomes stage-2 only, S1 becomes nested, abort stays abort. The device sees physical addresses, but only those the host owns.',
      },
      goal: { text: 'The CFGI_STE traps and re-shadows STE 1.', check: { tag: 'trap', result: { ret: 0 } } },
    },
    10: { panel: 'walk', goal: { text: 'The “bypassed” DMA goes through the stage 2.', check: { result: { pa: '0x50001234' }, tableReads: 3 } } },
    11: {
      panel: 'walk',
      question: {
        prompt: 'With its STE shadowed as stage-2 only, can the NIC read the hypervisor’s pool at 0x7f000000?',
        choices: ['Yes: the host asked for bypass', 'No: a stage-2 translation fault', 'No: a stage-1 translation fault', 'Yes, but only reads'],
        answer: 1,
        explain: 'The hypervisor’s stage 2 maps exactly what the host owns. The pool was donated to the hypervisor at boot, so the stage-2 walk finds nothing.',
      },
      goal: { text: 'The hypervisor’s page is out of reach (stage-2 fault).', check: { tag: 'fault', result: { fault: { stage: 2 } } } },
    },
    12: { panel: 'queues', goal: { text: 'The TLBI_S2_IPA traps (and is dropped).', check: { tag: 'trap', result: { ret: 0 } } } },
    13: { panel: 'hyp', goal: { text: 'GBPA is refused.', check: { result: { ignored: true } } } },
    14: { goal: { text: 'STRTAB_BASE cannot move while enabled.', check: { result: { ignored: true } } } },
    15: { goal: { text: 'The invariants hold.', check: { result: { ok: true } } } },
  },
};
