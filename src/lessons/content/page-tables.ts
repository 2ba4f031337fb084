import type { Lesson } from '../types';

/**
 * Reading a page table: a stage-1 domain with the 4 KiB granule and a 48-bit
 * input (T0SZ = 16, start level 0). One 4 KiB page and one 2 MiB block,
 * placed so that the walk indexes are 1, 2, 3, 4 (page) and 1, 2, 5 (block);
 * a DMA to each (4 and 3 table reads), two translation faults that stop at
 * level 3 and level 0, and a permission fault on a read-only page.
 *
 * Addresses the host driver uses here (checked by smmu-lessons-b.test.ts):
 * root (L0) table 0x40005000, L1 0x4000d000, L2 0x4000e000, L3 0x4000f000.
 */
export const lesson: Lesson = {
  id: 'page-tables',
  title: 'Reading a page table',
  summary: 'A stage-1 4K walk level by level; blocks versus pages.',
  panel: 'streams',
  scenario: {
    v: 1,
    title: 'Reading a page table',
    description:
      'A stage-1 translation table in the VMSAv8-64 format, as Linux’s io-pgtable-arm writes it: 4 KiB granule, 48-bit IOVAs, four levels. Follow one walk level by level: which bits of the IOVA index each table, what a table, block and page descriptor look like, and where a walk stops when a descriptor is invalid or forbids the access.',
    machine: {
      ram: [{ base: '0x40000000', size: '0x40000000' }],
      devices: [{ sid: 1, name: 'dev' }],
    },
    mode: 'bare',
    steps: [
      {
        do: 'host',
        op: 'init',
        note: 'The host’s arm-smmu-v3 driver probes and resets the SMMU: a 2-level stream table, the command and event queues, then SMMUEN = 1.',
      },
      {
        do: 'host',
        op: 'alloc_domain',
        domain: 'dev',
        stage: 's1',
        note: 'A stage-1 domain with the 4 KiB granule and a 48-bit input address: T0SZ = 64 − 48 = 16. Each 4 KiB table holds 512 eight-byte descriptors, so each level resolves 9 bits, and 48 − 12 = 36 bits need 4 levels: the walk starts at level 0. io-pgtable allocates the empty level-0 table now (at 0x40005000).',
      },
      {
        do: 'host',
        op: 'attach',
        domain: 'dev',
        sid: 1,
        note: 'Attaching writes a CD for SID 1 whose TTB0 is the level-0 table (0x40005000), with T0SZ 16, TG0 = 4 KiB and ASID 1, and points STE 1 (Config = stage-1 translate) at it.',
      },
      {
        do: 'host',
        op: 'map',
        domain: 'dev',
        iova: '0x8080604000',
        paddr: '0x50000000',
        size: '0x1000',
        prot: ['read', 'write'],
        note: 'Map one 4 KiB page, IOVA 0x80_8060_4000 → PA 0x5000_0000, read/write. io-pgtable allocates a level-1, a level-2 and a level-3 table (0x4000d000, 0x4000e000, 0x4000f000) and links them with table descriptors: bits[1:0] = 0b11 at levels 0–2 plus the next table’s address (0x4000d003 → 0x4000d000). In the level-3 table it writes the page descriptor 0x50000e43; at level 3, bits[1:0] = 0b11 means page.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x8080604abc',
        access: 'write',
        note: 'The device writes to IOVA 0x80_8060_4abc. Each level takes 9 bits of it as an index: VA[47:39] = 1, VA[38:30] = 2, VA[29:21] = 3, VA[20:12] = 4, so the SMMU reads the descriptors at 0x40005000 + 1×8, 0x4000d000 + 2×8, 0x4000e000 + 3×8 and 0x4000f000 + 4×8. The last one is a page descriptor for PA 0x50000000, and VA[11:0] = 0xabc is the offset: PA 0x50000abc after 4 table reads.',
      },
      {
        do: 'host',
        op: 'map',
        domain: 'dev',
        iova: '0x8080a00000',
        paddr: '0x60000000',
        size: '0x200000',
        prot: ['read', 'write'],
        note: 'Map 2 MiB at IOVA 0x80_80a0_0000 → PA 0x6000_0000. Both addresses are 2 MiB aligned and the size is exactly 2 MiB, so io-pgtable writes one block descriptor, 0x60000e41 (bits[1:0] = 0b01), into entry 5 of the existing level-2 table instead of a level-3 table of 512 pages.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x8080a12345',
        access: 'read',
        note: 'The walk reads the same level-0 and level-1 entries, then entry 5 of the level-2 table (0x4000e028): a block descriptor (bits[1:0] = 0b01). The walk ends there, after 3 table reads, and VA[20:0] = 0x12345 is the offset into the block: PA 0x60012345.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x8080605000',
        access: 'read',
        note: 'IOVA 0x80_8060_5000 is the page after the one we mapped: the walk follows the same table descriptors down to the level-3 table, but entry 5 there is 0 (bit[0] = 0, invalid). The SMMU records F_TRANSLATION (stage 1, class IN) after 4 table reads; the walk panel shows it stopped at level 3.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x1000',
        access: 'read',
        note: 'IOVA 0x1000 has VA[47:39] = 0: entry 0 of the level-0 table is invalid, so the walk stops after a single read with the same F_TRANSLATION. The event record does not say at which level the walk stopped; only the walk itself shows it.',
      },
      {
        do: 'host',
        op: 'map',
        domain: 'dev',
        iova: '0x8080606000',
        paddr: '0x50001000',
        size: '0x1000',
        prot: ['read'],
        note: 'Map one more page, IOVA 0x80_8060_6000 → PA 0x5000_1000, read-only. Every stage-1 leaf io-pgtable writes has AF = 1 (bit 10: no Access flag fault on first use), nG = 1 (bit 11: TLB entries are tagged with the domain’s ASID) and, without IOMMU_PRIV, AP[1] = 1 (bit 6: unprivileged access allowed). This one, 0x50001ec3, also has AP[2] = 1 (bit 7): read-only.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x8080606000',
        access: 'write',
        note: 'The device writes to the read-only page. The walk succeeds — 4 reads, a valid page descriptor — but AP[2] = 1 forbids writes, so the SMMU records F_PERMISSION instead of F_TRANSLATION.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x8080606000',
        access: 'read',
        note: 'A read of the same page is allowed: PA 0x50001000. Permissions are checked against the leaf descriptor the walk found (or the TLB entry made from it), access by access.',
      },
    ],
  },
  steps: {
    3: { panel: 'streams' },
    4: { panel: 'tables' },
    5: {
      panel: 'walk',
      goal: { text: 'The page walk reads one descriptor at each of levels 0, 1, 2 and 3: 4 table reads.', check: { result: { pa: '0x50000abc' }, tag: 'dma', notTag: 'fault', tableReads: 4 } },
    },
    6: {
      panel: 'tables',
      question: {
        prompt: 'You map 2 MiB at a 2 MiB-aligned IOVA to a 2 MiB-aligned PA. What does io-pgtable write?',
        choices: [
          'A new level-3 table with 512 page descriptors, and a table descriptor pointing to it',
          'One block descriptor in the level-2 table',
          'One block descriptor in the level-1 table',
          'Nothing until the device first touches the range',
        ],
        answer: 1,
        explain: 'With the 4 KiB granule a level-2 entry covers 2 MiB. When the IOVA, the PA and the size are all 2 MiB multiples, io-pgtable uses a level-2 block descriptor: one entry instead of a whole level-3 table. Level-1 blocks are 1 GiB.',
      },
    },
    7: {
      panel: 'walk',
      question: {
        prompt: 'How many table reads will the SMMU make to translate IOVA 0x80_80a1_2345, inside the 2 MiB block?',
        choices: ['2', '3', '4', '5'],
        answer: 1,
        explain: 'Levels 0 and 1 hold table descriptors as before; the level-2 entry is a block descriptor, which ends the walk. 3 reads, one fewer than for a 4 KiB page.',
      },
      goal: { text: 'The block walk stops at level 2: 3 table reads.', check: { result: { pa: '0x60012345' }, tableReads: 3 } },
    },
    8: {
      panel: 'walk',
      question: {
        prompt: 'Nothing is mapped at IOVA 0x80_8060_5000, the page after the first one. Where does the walk stop?',
        choices: ['At level 0, after 1 read', 'At level 2, after 3 reads', 'At level 3, after 4 reads', 'It does not stop: the SMMU uses the neighbouring page'],
        answer: 2,
        explain: 'The IOVA differs from the mapped page only in VA[20:12] (5 instead of 4), so levels 0–2 hold the same table descriptors. Entry 5 of the level-3 table is invalid: F_TRANSLATION after 4 reads.',
      },
      goal: { text: 'A translation fault at level 3, after 4 table reads.', check: { result: { fault: { type: 'F_TRANSLATION', stage: 1 } }, tag: 'fault', tableReads: 4 } },
    },
    9: {
      panel: 'walk',
      goal: { text: 'A translation fault at level 0, after a single read.', check: { result: { fault: { type: 'F_TRANSLATION' } }, tag: 'event', tableReads: 1 } },
    },
    11: {
      panel: 'walk',
      goal: { text: 'The write to the read-only page is a permission fault, not a translation fault.', check: { result: { fault: { type: 'F_PERMISSION', stage: 1 } }, tag: 'fault' } },
    },
    12: {
      panel: 'walk',
      goal: { text: 'A read of the read-only page succeeds.', check: { result: { pa: '0x50001000' }, notTag: 'fault' } },
    },
  },
};
