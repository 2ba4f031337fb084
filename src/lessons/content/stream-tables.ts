import type { Lesson } from '../types';

/**
 * Two-level stream tables: with 16 StreamID bits a linear table would need
 * 2^16 × 64 B = 4 MiB. Linux uses a 2-level table (SPLIT = 8): 256 L1
 * descriptors, and a 256-STE level-2 table allocated when a device in its
 * range appears.
 */
export const lesson: Lesson = {
  id: 'stream-tables',
  title: 'Two-level stream tables',
  summary: 'Why large StreamID spaces use L1 descriptors and lazily allocated L2 tables.',
  panel: 'streams',
  scenario: {
    v: 1,
    title: 'Two-level stream tables',
    description:
      'This SMMU has 16 StreamID bits. A linear stream table would need 65,536 STEs × 64 bytes = 4 MiB of contiguous memory, mostly for devices that do not exist. Instead the driver uses a two-level table: the top 8 bits of the StreamID select an L1 descriptor (L1STD), which points to an L2 table of 256 STEs indexed by the low 8 bits.',
    machine: {
      ram: [{ base: '0x40000000', size: '0x40000000' }],
      devices: [
        { sid: 1, name: 'nic' },
        { sid: 4660, name: 'gpu' },
      ],
    },
    mode: 'bare',
    steps: [
      { do: 'host', op: 'init', note: 'The driver sees SMMU_IDR0.ST_LEVEL = 2-level and SIDSIZE = 16: it allocates 256 L1STDs (2 KiB) and sets STRTAB_BASE_CFG.FMT = 2-level, SPLIT = 8. Every L1STD is still invalid (Span = 0): no L2 table exists yet.' },
      { do: 'dma', sid: 4660, iova: '0x1000', access: 'read', note: 'StreamID 4660 = 0x1234: L1 index 0x12, L2 index 0x34. The SMMU reads L1STD 0x12, finds Span = 0, and records C_BAD_STREAMID: there is no STE for this StreamID.' },
      { do: 'host', op: 'alloc_domain', domain: 'nic', stage: 's1', note: 'A stage-1 domain for the NIC.' },
      { do: 'host', op: 'attach', domain: 'nic', sid: 1, note: 'The first device in StreamIDs 0x000–0x0ff: the driver allocates an L2 table of 256 STEs (16 KiB), fills it with abort STEs, and writes L1STD 0 with its address and Span = 9 (2^(9-1) = 256 STEs). Then it writes STE 1.' },
      { do: 'host', op: 'alloc_domain', domain: 'gpu', stage: 's1', note: 'A second stage-1 domain, for the GPU.' },
      { do: 'host', op: 'attach', domain: 'gpu', sid: 4660, note: 'StreamID 0x1234 lives in a different L2 table: the driver allocates it and writes L1STD 0x12. Only two L2 tables exist now — 32 KiB instead of 4 MiB.' },
      { do: 'host', op: 'map', domain: 'gpu', iova: '0x1000', paddr: '0x60000000', size: '0x1000', prot: ['read'], note: 'Map a page for the GPU.' },
      { do: 'dma', sid: 4660, iova: '0x1000', access: 'read', note: 'Now the SMMU reads L1STD 0x12, then STE 0x34 of that L2 table, then the CD, then 4 page-table levels: 7 memory reads in all.' },
      { do: 'dma', sid: 4660, iova: '0x1000', access: 'read', note: 'The same DMA again: the STE, the CD and the translation are all cached (configuration cache and IOTLB), so the SMMU makes no memory reads at all.' },
      { do: 'dma', sid: 8192, iova: '0x1000', access: 'read', note: 'StreamID 0x2000 selects L1STD 0x20, which is still invalid: C_BAD_STREAMID.' },
    ],
  },
  steps: {
    2: {
      panel: 'queues',
      question: {
        prompt: 'No L2 table exists yet for StreamID 0x1234. What does the SMMU do with its DMA?',
        choices: ['Uses STE 0x1234 from a linear table', 'Records C_BAD_STREAMID', 'Aborts silently', 'Bypasses'],
        answer: 1,
        explain: 'An L1STD with Span = 0 covers no STEs: any StreamID it selects is out of range, so C_BAD_STREAMID is recorded.',
      },
      goal: { text: 'An invalid L1STD gives C_BAD_STREAMID.', check: { result: { fault: { type: 'C_BAD_STREAMID' } } } },
    },
    4: { panel: 'streams' },
    6: { panel: 'streams' },
    8: {
      panel: 'walk',
      question: {
        prompt: 'With cold caches, how many memory reads does this DMA cost in total (L1STD, STE, CD and page-table reads)?',
        choices: ['4', '5', '7', '8'],
        answer: 2,
        explain: 'One L1STD read, one STE fetch, one CD fetch and 4 page-table levels: 7.',
      },
      goal: { text: 'The GPU’s DMA translates after 4 table reads.', check: { result: { pa: '0x60000000' }, tableReads: 4 } },
    },
    9: { goal: { text: 'Everything is cached: no reads.', check: { result: { pa: '0x60000000' }, tableReads: 0 } } },
    10: { panel: 'queues', goal: { text: 'An invalid L1STD: C_BAD_STREAMID.', check: { result: { fault: { type: 'C_BAD_STREAMID' } } } } },
  },
};
