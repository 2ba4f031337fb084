import type { Lesson } from '../types';

/**
 * The IOTLB and invalidation: a PTE changed in memory is not seen while the
 * old translation is cached; TLBI without CMD_SYNC is not known to be
 * complete (the machine uses the "until-sync" model, the latest completion
 * the architecture permits); TLBI_NH_ASID does not remove global (nG = 0)
 * entries, TLBI_NH_VAA does.
 */
export const lesson: Lesson = {
  id: 'tlb-sync',
  title: 'The TLB and why CMD_SYNC matters',
  summary: 'Change a PTE without invalidating and watch the stale translation; fix it with TLBI + SYNC; what TLBI_NH_ASID spares.',
  panel: 'walk',
  scenario: {
    v: 1,
    title: 'The TLB and why CMD_SYNC matters',
    description:
      'The SMMU caches translations in its TLB (IOTLB), tagged with the ASID (and VMID). Changing a page-table entry in memory does not change what is cached: software must invalidate with a TLBI command, and only a later CMD_SYNC guarantees the invalidation has completed. This SMMU completes invalidations only at CMD_SYNC — the latest the architecture allows.',
    machine: {
      ram: [{ base: '0x40000000', size: '0x40000000' }],
      devices: [{ sid: 1, name: 'dev' }],
      sync_model: 'until-sync',
    },
    mode: 'bare',
    steps: [
      { do: 'host', op: 'init', note: 'The host driver initialises the SMMU.' },
      { do: 'host', op: 'alloc_domain', domain: 'dev', stage: 's1', note: 'A stage-1 domain: its ASID is 1.' },
      { do: 'host', op: 'attach', domain: 'dev', sid: 1, note: 'StreamID 1 now translates through the domain’s table.' },
      { do: 'host', op: 'map', domain: 'dev', iova: '0x1000000', paddr: '0x50000000', size: '0x2000', prot: ['read', 'write'], note: 'Two 4 KiB pages: IOVA 0x1000000 → PA 0x50000000 and 0x1001000 → 0x50001000. Their level-3 entries are at 0x4000f000 and 0x4000f008.' },
      { do: 'dma', sid: 1, iova: '0x1000123', access: 'read', note: 'A cold walk (4 table reads) — and the result is now cached in the IOTLB under ASID 1.' },
      { do: 'write64', addr: '0x4000f000', value: '0x50004e43', note: 'Rewrite the first page’s level-3 entry in memory to point at PA 0x50004000 — without telling the SMMU.' },
      { do: 'dma', sid: 1, iova: '0x1000123', access: 'read', note: 'The SMMU uses its cached translation: no table reads, and the stale output address 0x50000123.' },
      { do: 'host', op: 'cmd', u64: ['0x1000000000012', '0x1000001'], sync: false, note: 'CMD_TLBI_NH_VA for ASID 1, VA 0x1000000 (leaf), with no CMD_SYNC after it.' },
      { do: 'dma', sid: 1, iova: '0x1000123', access: 'read', note: 'Until a CMD_SYNC completes, software cannot assume the invalidation has happened: this SMMU still uses the old entry.' },
      { do: 'host', op: 'cmd', u64: ['0x46', '0x0'], sync: false, note: 'CMD_SYNC: when the SMMU consumes it, every command before it has completed — the TLBI included.' },
      { do: 'dma', sid: 1, iova: '0x1000123', access: 'read', note: 'A fresh walk (4 table reads) finds the new entry: PA 0x50004123.' },
      { do: 'write64', addr: '0x4000f008', value: '0x50001643', note: 'Now make the second page global: clear nG (bit 11) in its level-3 entry. It has never been used, so nothing is cached for it yet.' },
      { do: 'dma', sid: 1, iova: '0x1001123', access: 'read', note: 'The walk caches a global entry: one that matches any ASID.' },
      { do: 'write64', addr: '0x4000f008', value: '0x50006643', note: 'Retarget the global page to PA 0x50006000 in memory.' },
      { do: 'host', op: 'cmd', u64: ['0x1000000000011', '0x0'], note: 'CMD_TLBI_NH_ASID for ASID 1, then CMD_SYNC.' },
      { do: 'dma', sid: 1, iova: '0x1001123', access: 'read', note: 'Still the old PA: TLBI_NH_ASID removes only the non-global entries of that ASID. Global entries survive it.' },
      { do: 'host', op: 'cmd', u64: ['0x13', '0x1001001'], note: 'CMD_TLBI_NH_VAA (VA 0x1001000, all ASIDs, global entries included), then CMD_SYNC.' },
      { do: 'dma', sid: 1, iova: '0x1001123', access: 'read', note: 'The walk now finds the new entry: PA 0x50006123.' },
    ],
  },
  steps: {
    5: { goal: { text: 'A cold walk: 4 table reads.', check: { result: { pa: '0x50000123' }, tableReads: 4 } } },
    7: {
      question: {
        prompt: 'The PTE in memory now points at 0x50004000. Which PA does the device read?',
        choices: ['0x50004123', '0x50000123', 'It faults: the PTE changed under the SMMU', 'It aborts'],
        answer: 1,
        explain: 'The translation is cached in the IOTLB. Memory changes are invisible to it until software invalidates it.',
      },
      goal: { text: 'The stale translation is used.', check: { result: { pa: '0x50000123' }, tableReads: 0 } },
    },
    8: { panel: 'queues' },
    9: {
      panel: 'walk',
      question: {
        prompt: 'A TLBI for that VA has been issued, but no CMD_SYNC yet. Which PA can the device get?',
        choices: ['Only the new 0x50004123', 'Possibly still the old 0x50000123', 'A fault', 'An abort'],
        answer: 1,
        explain: 'Without CMD_SYNC, the invalidation is not known to be complete: the SMMU may still use the old entry. This SMMU does.',
      },
      goal: { text: 'Without CMD_SYNC the old entry is still used.', check: { result: { pa: '0x50000123' } } },
    },
    10: { panel: 'queues' },
    11: { panel: 'walk', goal: { text: 'After CMD_SYNC: a fresh walk and the new PA.', check: { result: { pa: '0x50004123' }, tableReads: 4 } } },
    16: {
      question: {
        prompt: 'The global page’s PTE was retargeted, then TLBI_NH_ASID (ASID 1) + SYNC. Which PA now?',
        choices: ['0x50006123: the TLBI removed it', '0x50001123: global entries survive TLBI_NH_ASID', 'A fault', 'It depends on the StreamID'],
        answer: 1,
        explain: 'TLBI_NH_ASID invalidates the entries tagged with that ASID. A global entry (nG = 0) has no ASID and is not removed; TLBI_NH_VAA or TLBI_NH_ALL is needed.',
      },
      goal: { text: 'The global entry survived TLBI_NH_ASID.', check: { result: { pa: '0x50001123' }, tableReads: 0 } },
    },
    18: { goal: { text: 'TLBI_NH_VAA removed the global entry.', check: { result: { pa: '0x50006123' } } } },
  },
};
