/**
 * The scenario the app opens with (and falls back to after a broken link):
 * a NIC's DMA under nested trap-and-emulate. The host's own arm-smmu-v3
 * driver programs an SMMU it believes it owns; the hypervisor traps and
 * shadows it. The first DMA walks S1 over the hyp's S2 block mappings; after
 * two donations to a guest split those blocks down to 4 KiB pages, the same
 * DMA costs the full 24 reads of a 4 + 4 level nested walk.
 */
export const DEFAULT_SCENARIO = {
  v: 1,
  title: 'Nested translation: a NIC under trap-and-emulate',
  description:
    'The host drives the SMMU with its own driver; the hypervisor traps every register write, filters the commands and shadows each STE with its own stage 2. Watch the walk grow from block-mapped S2 lookups to the full 24-read 2-D walk once the S2 is split into pages.',
  machine: { ram: [{ base: '0x40000000', size: '0x80000000' }], devices: [{ sid: 1, name: 'nic' }] },
  mode: 'nested',
  steps: [
    { do: 'host', op: 'init', note: 'The host driver probes and resets the SMMU. Every register access traps to the hypervisor, which hands out an emulated SMMU without stage 2.' },
    { do: 'host', op: 'alloc_domain', domain: 'nic', stage: 's1', note: 'A stage-1 domain: an io-pgtable in host memory.' },
    { do: 'host', op: 'attach', domain: 'nic', sid: 1, note: "Attaching writes the host's STE for StreamID 1 (S1 only). The hypervisor shadows it as a nested STE: the host's S1 over the hypervisor's S2." },
    { do: 'host', op: 'map', domain: 'nic', iova: '0x100000', paddr: '0x50000000', size: '0x4000', prot: ['read', 'write'], note: 'Map four pages for the NIC.' },
    { do: 'dma', sid: 1, iova: '0x101234', access: 'write', note: "The NIC writes. Each S1 table address is an IPA, so the SMMU walks the hypervisor's S2 for it first — but the S2 maps RAM with 1 GiB blocks, so each of those walks takes only 2 reads: 4 S1 reads + 5 × 2 S2 reads = 14 table reads." },
    { do: 'donate_guest', addr: '0x401ff000', size: '0x1000', vm: 1, note: "The host donates a page next to its page tables to a guest. The hypervisor must unmap it from the host's S2, splitting the block around it into 4 KiB pages." },
    { do: 'donate_guest', addr: '0x501e0000', size: '0x1000', vm: 1, note: "Another donation, next to the NIC's buffer: that block is split too." },
    { do: 'dma', sid: 1, iova: '0x101234', access: 'write', note: 'The same DMA now walks 4 S2 levels for each of the 4 S1 tables and for the output: (4 + 1) × (4 + 1) − 1 = 24 table reads.' },
  ],
} as const;
