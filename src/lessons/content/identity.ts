import type { Lesson } from '../types';

/**
 * The pinned identity stage 2 (pKVM v3, the review's proposal): one stage-2
 * table mapping every host page at its own address, devices attached at
 * boot. DMA needs no map call; devices are not isolated from the host or from
 * each other; donating a page removes it from the stage 2; there is no host
 * IOVA space (IOVA = PA) and everything the host owns is pinned.
 */
export const lesson: Lesson = {
  id: 'identity',
  title: 'Pinned identity stage 2',
  summary: 'What an identity S2 protects and what it gives up.',
  panel: 'walk',
  scenario: {
    v: 1,
    title: 'Pinned identity stage 2',
    description:
      'The simplest protection: at boot the hypervisor builds one stage-2 table that maps every page the host owns at its own address, and points every device’s STE at it. There is nothing to map or unmap; the stage 2 only changes when a page leaves the host. Two devices, a NIC (StreamID 1) and a disk (StreamID 2), show what that protects and what it does not.',
    machine: {
      ram: [{ base: '0x40000000', size: '0x40000000' }],
      devices: [
        { sid: 1, name: 'nic' },
        { sid: 2, name: 'disk' },
      ],
    },
    mode: 'identity',
    steps: [
      {
        do: 'dma',
        sid: 1,
        iova: '0x50001234',
        access: 'write',
        note: 'The NIC writes 0x50001234 without any map call: the address it uses is the physical address, and the identity stage 2 maps it with a 2 MiB block (3 table reads).',
      },
      {
        do: 'dma',
        sid: 2,
        iova: '0x50001234',
        access: 'write',
        note: 'The disk writes the very same page: both devices share one stage 2, so a host device can reach another device’s buffers.',
      },
      {
        do: 'dma',
        sid: 2,
        iova: '0x40080000',
        access: 'write',
        note: 'And any other host page, such as the kernel’s own memory at 0x40080000. The identity stage 2 protects the hypervisor and guests from host devices, not the host from its own devices.',
      },
      {
        do: 'dma',
        sid: 3,
        iova: '0x50001234',
        access: 'write',
        note: 'StreamID 3 was not attached at boot: its STE aborts the transaction.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x7f000000',
        access: 'read',
        note: '0x7f000000 is the hypervisor’s pool (donated at boot). It is not in the identity stage 2: stage-2 translation fault.',
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
        note: 'There is no map hypercall: this design has no host IOVA space to map into (ENOSYS).',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x100000',
        access: 'write',
        note: 'So a driver that hands its device an IOVA such as 0x100000 gets physical address 0x100000, which is not RAM here: a stage-2 fault. Devices must be given physical addresses, and a device limited to 32-bit addresses cannot reach memory above 4 GiB.',
      },
      {
        do: 'donate_guest',
        addr: '0x50001000',
        size: '0x1000',
        vm: 1,
        note: 'The host donates the page at 0x50001000 to guest 1. The hypervisor unmaps it from the identity stage 2 — splitting the 2 MiB block around it into 4 KiB pages — then issues TLBI + CMD_SYNC: the only time this design touches the SMMU after boot.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x50001234',
        access: 'write',
        note: 'The NIC’s write to the guest’s page now faults at stage 2.',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x50002234',
        access: 'write',
        note: 'Its neighbour is still the host’s and still reachable — but the block is now a table of pages, so the walk takes 4 reads instead of 3.',
      },
      {
        do: 'reclaim_guest',
        addr: '0x50001000',
        size: '0x1000',
        vm: 1,
        note: 'The guest returns the page; the hypervisor maps it back into the identity stage 2 (in this model as a single 4 KiB page).',
      },
      {
        do: 'dma',
        sid: 1,
        iova: '0x50001234',
        access: 'write',
        note: 'Reachable again, with no map call.',
      },
      {
        do: 'check',
        note: 'The invariants hold: no device reaches a page the host does not own. The price is in the cost report: every host page (1 GiB less the hypervisor’s 4 MiB pool) is pinned for DMA, there is no host IOVA space and no SVA, and a guest given this design would need all its memory pinned at boot.',
      },
    ],
  },
  steps: {
    1: {
      panel: 'walk',
      question: {
        prompt: 'Nobody has mapped anything. What happens to the NIC’s write to 0x50001234?',
        choices: ['It faults: nothing is mapped', 'It reaches PA 0x50001234', 'The hypervisor maps the page on demand and retries', 'It is aborted'],
        answer: 1,
        explain: 'The identity stage 2 already maps every host page at its own address: DMA to host memory needs no map call.',
      },
      goal: { text: 'DMA works without a map call (3 reads through 2 MiB blocks).', check: { result: { pa: '0x50001234' }, tableReads: 3 } },
    },
    2: { panel: 'streams', goal: { text: 'The disk reaches the NIC’s page.', check: { result: { pa: '0x50001234' } } } },
    3: {
      question: {
        prompt: 'Can the disk write the host kernel’s memory at 0x40080000?',
        choices: ['Yes: every host page is in the identity stage 2', 'No: the hypervisor protects the host kernel', 'Only if the host maps it first', 'No: the disk is limited to its own buffers'],
        answer: 0,
        explain: 'There is one stage 2 for all host devices and it maps all host memory. The host is not protected from its own devices.',
      },
      goal: { text: 'The disk writes host kernel memory.', check: { result: { pa: '0x40080000' } } },
    },
    4: { goal: { text: 'An unattached StreamID aborts.', check: { result: { abort: true } } } },
    5: { panel: 'walk', goal: { text: 'The hypervisor’s pool is unreachable.', check: { tag: 'fault', result: { fault: { stage: 2 } } } } },
    6: { goal: { text: 'No map hypercall exists here.', check: { tag: 'error', result: { ret: 'ENOSYS' } } } },
    7: { goal: { text: 'IOVA = PA: 0x100000 is not RAM.', check: { tag: 'fault', result: { fault: { stage: 2, input_addr: '0x100000' } } } } },
    8: { panel: 'hyp', goal: { text: 'The donation succeeds.', check: { result: { ret: 0 } } } },
    9: {
      panel: 'walk',
      question: {
        prompt: 'The page now belongs to guest 1. Will the NIC’s write to 0x50001234 reach it?',
        choices: ['Yes: devices were attached at boot', 'Yes, until the host unmaps it', 'No: it faults at stage 2', 'No: it faults at stage 1'],
        answer: 2,
        explain: 'The donation removed the page from the identity stage 2 and invalidated the SMMU’s TLB before it completed.',
      },
      goal: { text: 'DMA to the guest’s page faults.', check: { tag: 'fault', result: { fault: { stage: 2 } } } },
    },
    10: { panel: 'walk', goal: { text: 'The neighbouring page, one level deeper.', check: { result: { pa: '0x50002234' }, tableReads: 4 } } },
    11: { goal: { text: 'The page comes back to the host.', check: { result: { ret: 0 } } } },
    12: { goal: { text: 'Reachable again.', check: { result: { pa: '0x50001234' } } } },
    13: { panel: 'costs', goal: { text: 'The invariants hold.', check: { result: { ok: true } } } },
  },
};
