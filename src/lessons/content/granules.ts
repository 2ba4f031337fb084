import type { Lesson } from '../types';

/**
 * Granules and start levels: three stage-1 domains, 16K/48, 64K/48 and
 * 4K/39 (the 4K/48 case, start level 0 and 4 reads, is the page-tables
 * lesson's), each with one block and one page mapped; a DMA to each page
 * (4, 3 and 3 table reads) and to the 64K block (2 reads).
 *
 * The rule: the page offset takes log2(granule) bits, each level resolves
 * log2(granule / 8) more, counted up from level 3; the walk starts at the
 * level where the ias bits (T0SZ = 64 − ias) run out, and that level resolves
 * only the bits left over.
 */
export const lesson: Lesson = {
  id: 'granules',
  title: 'Granules and start levels',
  summary: '4K, 16K and 64K granules, and why the start level depends on T0SZ.',
  panel: 'streams',
  scenario: {
    v: 1,
    title: 'Granules and start levels',
    description:
      'The granule is the size of a page and of a translation table. It fixes how many address bits each level resolves, and with the input size (T0SZ) it fixes how many levels a walk needs and where it starts. Three stage-1 domains side by side — 16 KiB and 64 KiB with 48-bit IOVAs, and 4 KiB with 39-bit IOVAs — compared with the 4 KiB / 48-bit domain of “Reading a page table” (start level 0, 4 reads).',
    machine: {
      ram: [{ base: '0x40000000', size: '0x80000000' }],
      devices: [
        { sid: 1, name: 'dev16k' },
        { sid: 2, name: 'dev64k' },
        { sid: 3, name: 'dev4k39' },
      ],
    },
    mode: 'bare',
    steps: [
      {
        do: 'host',
        op: 'init',
        note: 'The host driver probes and resets the SMMU. This one implements all three granules (SMMU_IDR5.GRAN4K, GRAN16K, GRAN64K); each stage-1 CD picks one in its TG0 field.',
      },
      {
        do: 'host',
        op: 'alloc_domain',
        domain: 'g16k',
        stage: 's1',
        granule: 16384,
        note: 'A 16 KiB-granule domain with 48-bit IOVAs (T0SZ = 16). A 16 KiB table holds 2048 descriptors, so each level resolves log2(16384 / 8) = 11 bits above a 14-bit page offset: 48 − 14 = 34 = 11 + 11 + 11 + 1. Four levels, starting at level 0 — whose table has just 2 entries, chosen by VA[47].',
      },
      {
        do: 'host',
        op: 'alloc_domain',
        domain: 'g64k',
        stage: 's1',
        granule: 65536,
        note: 'A 64 KiB-granule domain, also 48-bit: 8192 descriptors per table, 13 bits per level above a 16-bit page offset. 48 − 16 = 32 = 13 + 13 + 6, so three levels are enough: the walk starts at level 1, whose table has 2^6 = 64 entries (VA[47:42]).',
      },
      {
        do: 'host',
        op: 'alloc_domain',
        domain: 'g4k39',
        stage: 's1',
        granule: 4096,
        ias: 39,
        note: 'Back to 4 KiB (9 bits per level), but with 39-bit IOVAs, as for a kernel built with VA_BITS = 39: T0SZ = 64 − 39 = 25. 39 − 12 = 27 = 9 + 9 + 9 bits: three full levels, starting at level 1 — one level fewer than 4K/48, where level 0 is needed for VA[47:39].',
      },
      {
        do: 'host',
        op: 'attach',
        domain: 'g16k',
        sid: 1,
        note: 'SID 1’s CD records the granule in TG0 (0b10 = 16 KiB), the input size in T0SZ (16) and the root table in TTB0. There is no start-level field in a stage-1 CD: the SMMU derives the start level from TG0 and T0SZ.',
      },
      {
        do: 'host',
        op: 'attach',
        domain: 'g64k',
        sid: 2,
        note: 'SID 2: TG0 = 0b01 (64 KiB), T0SZ = 16. The rule for every start level: the page offset takes log2(granule) bits and each level, from level 3 up, resolves log2(granule / 8) more; the walk starts at the level where the input address runs out, and that level resolves only the bits left over — hence tables of 2 (16K/48) or 64 (64K/48) entries.',
      },
      {
        do: 'host',
        op: 'attach',
        domain: 'g4k39',
        sid: 3,
        note: 'SID 3: TG0 = 0b00 (4 KiB), T0SZ = 25. The tables panel now lists the three roots and their start levels: level 0 for 16K/48, level 1 for 64K/48 and for 4K/39.',
      },
      {
        do: 'host',
        op: 'map',
        domain: 'g16k',
        iova: '0x2000000',
        paddr: '0x50000000',
        size: '0x2004000',
        prot: ['read', 'write'],
        note: 'Map 32 MiB + 16 KiB at IOVA 0x200_0000. With 16 KiB a level-2 entry covers 2^(14 + 11) = 32 MiB, so the map becomes one 32 MiB block (level-2 entry 1) and one 16 KiB page at IOVA 0x400_0000. Linux’s 16K page sizes are just 16 KiB and 32 MiB: a 64 GiB level-1 block needs 52-bit (LPA2) tables.',
      },
      {
        do: 'host',
        op: 'map',
        domain: 'g64k',
        iova: '0x20000000',
        paddr: '0x60000000',
        size: '0x20010000',
        prot: ['read', 'write'],
        note: 'Map 512 MiB + 64 KiB at IOVA 0x2000_0000. A 64 KiB level-2 entry covers 2^(16 + 13) = 512 MiB: one 512 MiB block (level-2 entry 1) and one 64 KiB page at IOVA 0x4000_0000. Linux’s 64K sizes are 64 KiB and 512 MiB (plus 4 TiB level-1 blocks only with a 52-bit output).',
      },
      {
        do: 'host',
        op: 'map',
        domain: 'g4k39',
        iova: '0x200000',
        paddr: '0x90000000',
        size: '0x201000',
        prot: ['read', 'write'],
        note: 'Map 2 MiB + 4 KiB at IOVA 0x20_0000: one 2 MiB block (level-2 entry 1) and one 4 KiB page at IOVA 0x40_0000. With 4 KiB the sizes are 4 KiB, 2 MiB and 1 GiB (a level-1 block).',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x4000010',
        access: 'read',
        note: 'The 16K walk: VA[47] = 0 picks entry 0 of the 2-entry level-0 table; VA[46:36] = 0, VA[35:25] = 2 and VA[24:14] = 0 index levels 1, 2 and 3. 4 table reads, PA 0x52000010.',
      },
      {
        do: 'dma',
        sid: 2,
        iova: '0x40000010',
        access: 'read',
        note: 'The 64K walk starts at level 1: VA[47:42] = 0, then VA[41:29] = 2 at level 2 and VA[28:16] = 0 at level 3, with VA[15:0] = 0x10 as the offset. 3 table reads, PA 0x80000010.',
      },
      {
        do: 'dma',
        sid: 3,
        iova: '0x400010',
        access: 'read',
        note: 'The 4K/39 walk also takes 3 reads, for another reason: VA[38:30] = 0 at level 1, VA[29:21] = 2, VA[20:12] = 0. A smaller input address saves a level; a bigger granule saves levels by making every table bigger.',
      },
      {
        do: 'dma',
        sid: 2,
        iova: '0x20000010',
        access: 'read',
        note: 'Inside the 512 MiB block the 64K walk ends at level 2: 2 reads, PA 0x60000010. Page and block sizes per granule: 4 KiB → 4 KiB, 2 MiB, 1 GiB; 16 KiB → 16 KiB, 32 MiB; 64 KiB → 64 KiB, 512 MiB.',
      },
    ],
  },
  steps: {
    7: { panel: 'tables' },
    8: { panel: 'tables' },
    10: { panel: 'tables' },
    11: {
      panel: 'walk',
      question: {
        prompt: '16 KiB granule, 48-bit IOVA, a 16 KiB page: how many table reads will the walk make?',
        choices: ['2', '3', '4', '5'],
        answer: 2,
        explain: '48 − 14 = 34 bits at 11 bits per level needs 4 levels (11 + 11 + 11 + 1): the walk starts at level 0, even though that table has only 2 entries. 4 reads.',
      },
      goal: { text: 'The 16K/48 page walk makes 4 table reads, from level 0.', check: { result: { pa: '0x52000010' }, tableReads: 4 } },
    },
    12: {
      panel: 'walk',
      question: {
        prompt: '64 KiB granule, 48-bit IOVA: at which level does the walk start?',
        choices: ['Level 0', 'Level 1', 'Level 2', 'Level 3'],
        answer: 1,
        explain: '48 − 16 = 32 bits at 13 bits per level: level 3 and level 2 resolve 26, leaving 6 for level 1 (a 64-entry table). No level 0: 3 reads for a page.',
      },
      goal: { text: 'The 64K/48 page walk makes 3 table reads, from level 1.', check: { result: { pa: '0x80000010' }, tableReads: 3 } },
    },
    13: {
      panel: 'walk',
      question: {
        prompt: 'Same 4 KiB granule as in “Reading a page table”, but a 39-bit IOVA (T0SZ = 25). How many table reads for a 4 KiB page?',
        choices: ['2', '3', '4', '5'],
        answer: 1,
        explain: '39 − 12 = 27 bits = three 9-bit levels: the walk starts at level 1 and makes 3 reads, one fewer than with 48 bits.',
      },
      goal: { text: 'The 4K/39 page walk makes 3 table reads, from level 1.', check: { result: { pa: '0x90200010' }, tableReads: 3 } },
    },
    14: {
      panel: 'walk',
      goal: { text: 'A 512 MiB block: the 64K walk ends at level 2 after 2 reads.', check: { result: { pa: '0x60000010' }, tableReads: 2 } },
    },
  },
};
