import type { Lesson } from '../types';

/**
 * What an SMMU does: a device's DMA before the SMMU is enabled (GBPA
 * bypass), under an abort STE, a bypass STE (and the configuration cache
 * that keeps the old STE until CMD_CFGI_STE), and a stage-1 STE; StreamIDs
 * and a linear stream table (SIDSIZE 6: 64 STEs of 64 bytes).
 */
export const lesson: Lesson = {
  id: 'smmu-basics',
  title: 'What an SMMU does',
  summary: 'A device’s DMA under abort, bypass and stage-1 STEs; StreamIDs and a linear stream table.',
  panel: 'streams',
  scenario: {
    v: 1,
    title: 'What an SMMU does',
    description:
      'Every DMA carries a StreamID that says which device made it. The SMMU uses it to index the stream table; the Stream Table Entry (STE) it finds says what to do: abort, let the access through unchanged (bypass), or translate it. This SMMU has 6 StreamID bits, so its stream table is one linear array of 64 STEs.',
    machine: {
      ram: [{ base: '0x40000000', size: '0x40000000' }],
      devices: [
        { sid: 1, name: 'dev' },
        { sid: 2, name: 'other' },
      ],
      features: { sidsize: 6 },
    },
    mode: 'bare',
    steps: [
      { do: 'dma', sid: 1, iova: '0x40001000', access: 'read', note: 'The SMMU is still disabled (SMMU_CR0.SMMUEN = 0). SMMU_GBPA decides what happens to DMA then; at reset GBPA.ABORT is 0, so the read goes through untranslated: the device reads physical address 0x40001000.' },
      { do: 'host', op: 'init', note: 'The host’s arm-smmu-v3 driver probes the SMMU: it sets GBPA.ABORT (disable_bypass), allocates a linear stream table of 2^6 STEs, fills every STE with V = 1, Config = abort, programs STRTAB_BASE / STRTAB_BASE_CFG and the queues, and sets SMMUEN.' },
      { do: 'dma', sid: 1, iova: '0x40001000', access: 'read', note: 'The SMMU reads STE 1 at STRTAB_BASE + 1 × 64: V = 1, Config = abort. The transaction is terminated without an event — the device just gets an abort.' },
      { do: 'write64', addr: '0x40004040', value: '0x9', note: 'Write STE 1’s first doubleword to 0x9: V = 1, Config = 0b100 (bypass). This is a plain memory write: nobody tells the SMMU.' },
      { do: 'dma', sid: 1, iova: '0x40001000', access: 'read', note: 'Still aborted: the SMMU cached STE 1 (the configuration cache) when it used it two steps ago, and software has not invalidated that cached copy.' },
      { do: 'host', op: 'cmd', u64: ['0x100000003', '0x1'], note: 'CMD_CFGI_STE (SID 1, Leaf) followed by CMD_SYNC through the command queue: the SMMU drops its cached STE 1, and the sync makes sure it has done so.' },
      { do: 'dma', sid: 1, iova: '0x40001000', access: 'read', note: 'Now the SMMU fetches the new STE: bypass. The output address equals the input address.' },
      { do: 'host', op: 'alloc_domain', domain: 'dev', stage: 's1', note: 'The driver allocates a stage-1 domain: an io-pgtable (4 KiB granule, 48-bit input) and an ASID.' },
      { do: 'host', op: 'attach', domain: 'dev', sid: 1, note: 'Attaching writes a Context Descriptor (CD) holding the table base TTB0, TCR fields and the ASID, then rewrites STE 1 as Config = S1 translate with S1ContextPtr pointing at the CD — with the CFGI and SYNC commands that make the SMMU see it.' },
      { do: 'host', op: 'map', domain: 'dev', iova: '0x1000000', paddr: '0x50000000', size: '0x1000', prot: ['read', 'write'], note: 'Map one 4 KiB page: IOVA 0x1000000 → PA 0x50000000, read/write.' },
      { do: 'dma', sid: 1, iova: '0x1000123', access: 'read', note: 'The SMMU reads STE 1, then the CD, then walks the page table: 4 table reads (levels 0 to 3) for a 4 KiB page. The device reads PA 0x50000123.' },
      { do: 'dma', sid: 1, iova: '0x2000000', access: 'read', note: 'Nothing is mapped at 0x2000000: the walk finds an invalid descriptor and the SMMU records F_TRANSLATION in the event queue (the Queues panel shows the record).' },
      { do: 'dma', sid: 2, iova: '0x1000123', access: 'read', note: 'StreamID 2 has no domain: its STE is still the abort STE the driver wrote at init.' },
      { do: 'dma', sid: 100, iova: '0x1000123', access: 'read', note: 'StreamID 100 is beyond the 64-entry stream table: the SMMU cannot even find an STE and records C_BAD_STREAMID.' },
    ],
  },
  steps: {
    1: {
      panel: 'walk',
      question: {
        prompt: 'The SMMU is not enabled yet (SMMUEN = 0, GBPA.ABORT = 0). What happens to the device’s read of 0x40001000?',
        choices: ['It goes through unchanged to PA 0x40001000', 'It is aborted', 'It faults and an event is recorded', 'It is translated by a default page table'],
        answer: 0,
        explain: 'With SMMUEN = 0 the SMMU applies SMMU_GBPA to every transaction; with ABORT = 0 it bypasses.',
      },
      goal: { text: 'The read bypasses the disabled SMMU.', check: { result: { pa: '0x40001000' } } },
    },
    2: { panel: 'streams' },
    3: {
      question: {
        prompt: 'The driver has enabled the SMMU, and nothing is attached to StreamID 1. What does the device’s read get?',
        choices: ['PA 0x40001000 (bypass)', 'An abort, with no event recorded', 'C_BAD_STE in the event queue', 'F_TRANSLATION in the event queue'],
        answer: 1,
        explain: 'Linux fills unused STEs with V = 1, Config = abort: the transaction is terminated silently.',
      },
      goal: { text: 'The abort STE terminates the read.', check: { result: { abort: true } } },
    },
    5: {
      question: {
        prompt: 'STE 1 in memory now says bypass. Will the read go through?',
        choices: ['Yes: the SMMU reads the STE on every transaction', 'No: the SMMU still uses the abort STE it cached', 'No: a bypass STE needs SMMUEN = 0', 'It faults with C_BAD_STE'],
        answer: 1,
        explain: 'The SMMU may cache configuration structures; software must invalidate them (CMD_CFGI_STE) after changing them.',
      },
      goal: { text: 'The stale cached STE still aborts.', check: { result: { abort: true } } },
    },
    6: { panel: 'queues' },
    7: { panel: 'walk', goal: { text: 'After CFGI_STE + SYNC the bypass STE is used.', check: { result: { pa: '0x40001000' } } } },
    9: { panel: 'streams' },
    11: { panel: 'walk', goal: { text: 'A stage-1 translation: 4 table reads.', check: { result: { pa: '0x50000123' }, tableReads: 4 } } },
    12: { panel: 'queues', goal: { text: 'An unmapped IOVA faults with F_TRANSLATION.', check: { tag: 'fault', result: { fault: { type: 'F_TRANSLATION' } } } } },
    13: { panel: 'streams', goal: { text: 'An unattached StreamID is aborted.', check: { result: { abort: true } } } },
    14: {
      panel: 'queues',
      question: {
        prompt: 'The stream table has 64 entries. What happens to a DMA with StreamID 100?',
        choices: ['It uses STE 100 mod 64 = 36', 'It is aborted silently', 'C_BAD_STREAMID is recorded', 'It bypasses'],
        answer: 2,
        explain: 'A StreamID beyond the stream table (STRTAB_BASE_CFG.LOG2SIZE) is out of range: the SMMU records C_BAD_STREAMID.',
      },
      goal: { text: 'An out-of-range StreamID gives C_BAD_STREAMID.', check: { result: { fault: { type: 'C_BAD_STREAMID' } } } },
    },
  },
};
