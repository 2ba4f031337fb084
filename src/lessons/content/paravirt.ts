import type { Lesson } from '../types';

/**
 * Paravirtualised I/O page tables (pKVM RFC v2): the six hypercalls in order
 * with DMAs between them; the hypervisor's own page tables, which the host
 * cannot write; DMA references on host pages (a mapped page cannot be
 * donated, an unmapped one can).
 */
export const lesson: Lesson = {
  id: 'paravirt',
  title: 'Paravirtualised I/O page tables',
  summary: 'The six hypercalls, the hypervisor’s own tables, refcounted host pages.',
  panel: 'hyp',
  scenario: {
    v: 1,
    title: 'Paravirtualised I/O page tables',
    description:
      'Under pKVM the host kernel is not trusted with the SMMU. In the paravirtual design the hypervisor owns the SMMU, its stream table and every I/O page table; the host asks for DMA mappings with hypercalls, and the hypervisor checks each one against who owns each page. A NIC with StreamID 1 goes through the whole life of a domain.',
    machine: {
      ram: [{ base: '0x40000000', size: '0x40000000' }],
      devices: [{ sid: 1, name: 'nic' }],
    },
    mode: 'paravirt',
    steps: [
      {
        do: 'hvc',
        call: 'alloc_domain',
        domain_id: 0,
        type: 's1',
        note: 'Hypercall 1 of 6, alloc_domain: the host asks for domain 0, a stage-1 I/O page table. The hypervisor checks the id is in range and not live, and builds the table from its own pool — pages the host donated at boot (0x7f000000 up) and can no longer touch.',
      },
      {
        do: 'hvc',
        call: 'attach_dev',
        iommu_id: 0,
        domain_id: 0,
        sid: 1,
        pasid: 0,
        pasid_bits: 0,
        note: 'Hypercall 2, attach_dev: StreamID 1 → domain 0. The hypervisor writes the STE and the context descriptor itself, in its own stream table, then issues CFGI + CMD_SYNC; the domain takes a reference for the device.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x101234',
        access: 'write',
        note: 'The NIC writes to IOVA 0x101234 before anything is mapped. The stage-1 walk finds no entry: F_TRANSLATION, recorded in the event queue.',
      },
      {
        do: 'hvc',
        call: 'map_pages',
        domain_id: 0,
        iova: '0x100000',
        paddr: '0x50000000',
        pgsize: '0x1000',
        pgcount: 4,
        prot: ['read', 'write'],
        note: 'Hypercall 3, map_pages: four 4 KiB pages, IOVA 0x100000 → PA 0x50000000, read/write. Before writing any PTE the hypervisor checks that the host exclusively owns every page and takes a DMA reference on each; it returns the bytes mapped, 0x4000.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x101234',
        access: 'write',
        note: 'The same write now translates: a 4-level stage-1 walk through the hypervisor’s tables (4 table reads) ends at PA 0x50001234.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x101234',
        access: 'write',
        note: 'Again: this time the IOTLB holds the translation and no table is read. The DMA path is the bare-metal one; paravirt pays in the map and unmap calls.',
      },
      {
        do: 'write64',
        addr: '0x7f00f808',
        value: '0x0',
        note: 'The host tries to edit the mapping behind the hypervisor’s back: 0x7f00f808 is the last-level PTE for IOVA 0x101000 (the walk above read it). The page belongs to the hypervisor, so the host’s stage 2 does not map it: the store faults and memory is unchanged (EPERM).',
      },
      {
        do: 'donate_guest',
        addr: '0x50000000',
        size: '0x1000',
        vm: 1,
        note: 'The host tries to give 0x50000000 to guest 1 while the NIC can still write it. The page’s DMA refcount is 1, so pKVM refuses the donation: EBUSY.',
      },
      {
        do: 'hvc',
        call: 'unmap_pages',
        domain_id: 0,
        iova: '0x100000',
        pgsize: '0x1000',
        pgcount: 4,
        note: 'Hypercall 4, unmap_pages: the hypervisor clears the four PTEs, issues one range TLBI and one CMD_SYNC, and only once the SYNC has completed drops the four DMA references. It returns 0x4000 bytes unmapped.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x101234',
        access: 'write',
        note: 'The NIC retries: the IOTLB entry was invalidated and the PTE is gone, so the walk faults.',
      },
      {
        do: 'donate_guest',
        addr: '0x50000000',
        size: '0x1000',
        vm: 1,
        note: 'With its refcount back at 0 the page can be donated: guest 1 now owns 0x50000000, and no device can reach it through the host’s domains.',
      },
      {
        do: 'hvc',
        call: 'detach_dev',
        iommu_id: 0,
        domain_id: 0,
        sid: 1,
        pasid: 0,
        note: 'Hypercall 5, detach_dev: the hypervisor sets STE 1 back to abort (with CFGI + CMD_SYNC) and drops the device’s reference on domain 0.',
      },
      {
        do: 'hvc',
        call: 'free_domain',
        domain_id: 0,
        note: 'Hypercall 6, free_domain: the last reference goes (1 → 0) and the table pages return to the hypervisor’s pool.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x101234',
        access: 'write',
        note: 'StreamID 1’s STE is abort: the transaction is terminated without an event.',
      },
    ],
  },
  steps: {
    2: { panel: 'streams' },
    3: {
      panel: 'walk',
      goal: { text: 'The unmapped DMA faults.', check: { tag: 'fault', result: { fault: { type: 'F_TRANSLATION', stage: 1 } } } },
    },
    4: {
      panel: 'hyp',
      question: {
        prompt: 'How many hypercalls does the host make to map these four pages?',
        choices: ['None: the host writes the PTEs itself', 'One: map_pages takes a page count', 'Four: one per page', 'Two: map_pages, then a sync'],
        answer: 1,
        explain: 'map_pages takes pgsize and pgcount, like iommu_ops->map_pages: one call into EL2 maps the whole run of pages (here 0x4000 bytes).',
      },
      goal: { text: 'map_pages maps all 0x4000 bytes.', check: { tag: 'hypercall', result: { ret: 0, value: '0x4000' } } },
    },
    5: {
      panel: 'walk',
      goal: { text: 'The DMA reaches 0x50001234 after a 4-level walk.', check: { result: { pa: '0x50001234' }, tableReads: 4 } },
    },
    6: { goal: { text: 'An IOTLB hit: no table reads.', check: { result: { pa: '0x50001234' }, tableReads: 0 } } },
    7: {
      panel: 'tables',
      goal: { text: 'The host cannot write the hypervisor’s page table.', check: { tag: 'error', result: { ret: 'EPERM' } } },
    },
    8: {
      panel: 'hyp',
      question: {
        prompt: 'The page at 0x50000000 is mapped for the NIC. What happens when the host donates it to a guest?',
        choices: ['It succeeds, and the NIC can still write the guest’s page', 'It succeeds, and the hypervisor unmaps it from the NIC first', 'It fails with EBUSY: the page has a DMA reference', 'It fails with EPERM: the host never owned it'],
        answer: 2,
        explain: 'Every page mapped through map_pages holds a DMA refcount; pKVM refuses to donate or share a page whose refcount is not zero.',
      },
      goal: { text: 'The donation of a DMA-mapped page is refused.', check: { tag: 'error', result: { ret: 'EBUSY' } } },
    },
    9: { panel: 'queues', goal: { text: 'unmap_pages removes all 0x4000 bytes.', check: { tag: 'hypercall', result: { ret: 0, value: '0x4000' } } } },
    10: {
      panel: 'walk',
      question: {
        prompt: 'After unmap_pages returned, will the NIC’s write to 0x101234 still land in 0x50001234?',
        choices: ['Yes, from the IOTLB until it is evicted', 'No: it faults', 'Yes, until the host issues its own TLBI', 'No: it is silently aborted'],
        answer: 1,
        explain: 'The hypervisor completed the TLBI and CMD_SYNC before returning, so there is no stale entry: the walk finds nothing and the SMMU faults.',
      },
      goal: { text: 'The DMA faults once the pages are unmapped.', check: { tag: 'fault' } },
    },
    11: { panel: 'hyp', goal: { text: 'The unmapped page can be donated.', check: { result: { ret: 0 }, notTag: 'error' } } },
    12: { panel: 'streams', goal: { text: 'detach_dev succeeds.', check: { tag: 'hypercall', result: { ret: 0 } } } },
    13: { goal: { text: 'free_domain succeeds once nothing is attached.', check: { tag: 'hypercall', result: { ret: 0 } } } },
    14: { goal: { text: 'A detached device is aborted.', check: { result: { abort: true } } } },
  },
};
