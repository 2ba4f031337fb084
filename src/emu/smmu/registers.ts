/**
 * SMMUv3 page-0 register map: offsets, widths and field helpers.
 * The register *behaviour* (what a write does) lives in smmu.ts.
 */

export interface RegDef {
  name: string;
  offset: number;
  /** Width in bits. */
  width: 32 | 64;
  doc: string;
}

export const REGISTERS: readonly RegDef[] = [
  { name: 'IDR0', offset: 0x00, width: 32, doc: 'Features: stages, table formats, ASID/VMID size, stream table levels' },
  { name: 'IDR1', offset: 0x04, width: 32, doc: 'SIDSIZE, SSIDSIZE, queue sizes' },
  { name: 'IDR2', offset: 0x08, width: 32, doc: 'VATOS page' },
  { name: 'IDR3', offset: 0x0c, width: 32, doc: 'RIL, XNX, HAD, ...' },
  { name: 'IDR4', offset: 0x10, width: 32, doc: 'Implementation defined' },
  { name: 'IDR5', offset: 0x14, width: 32, doc: 'OAS and translation granules' },
  { name: 'IIDR', offset: 0x18, width: 32, doc: 'Implementation identification' },
  { name: 'AIDR', offset: 0x1c, width: 32, doc: 'Architecture revision (SMMUv3.x)' },
  { name: 'CR0', offset: 0x20, width: 32, doc: 'SMMUEN, PRIQEN, EVTQEN, CMDQEN, ATSCHK, VMW' },
  { name: 'CR0ACK', offset: 0x24, width: 32, doc: 'Acknowledges CR0 updates' },
  { name: 'CR1', offset: 0x28, width: 32, doc: 'Table and queue cacheability/shareability' },
  { name: 'CR2', offset: 0x2c, width: 32, doc: 'E2H, RECINVSID, PTM' },
  { name: 'STATUSR', offset: 0x40, width: 32, doc: 'DORMANT' },
  { name: 'GBPA', offset: 0x44, width: 32, doc: 'Global bypass attributes while SMMUEN = 0 (ABORT, UPDATE, overrides)' },
  { name: 'AGBPA', offset: 0x48, width: 32, doc: 'Implementation defined bypass attributes' },
  { name: 'IRQ_CTRL', offset: 0x50, width: 32, doc: 'GERROR_IRQEN, PRIQ_IRQEN, EVENTQ_IRQEN' },
  { name: 'IRQ_CTRLACK', offset: 0x54, width: 32, doc: 'Acknowledges IRQ_CTRL updates' },
  { name: 'GERROR', offset: 0x60, width: 32, doc: 'Global errors, toggled by the SMMU (CMDQ_ERR, EVENTQ_ABT_ERR, ...)' },
  { name: 'GERRORN', offset: 0x64, width: 32, doc: 'Software acknowledges a global error by toggling the matching bit' },
  { name: 'GERROR_IRQ_CFG0', offset: 0x68, width: 64, doc: 'GERROR MSI address' },
  { name: 'GERROR_IRQ_CFG1', offset: 0x70, width: 32, doc: 'GERROR MSI data' },
  { name: 'GERROR_IRQ_CFG2', offset: 0x74, width: 32, doc: 'GERROR MSI attributes' },
  { name: 'STRTAB_BASE', offset: 0x80, width: 64, doc: 'Stream table base: ADDR[51:6], RA[62]' },
  { name: 'STRTAB_BASE_CFG', offset: 0x88, width: 32, doc: 'LOG2SIZE[5:0], SPLIT[10:6], FMT[17:16] (0 linear, 1 2-level)' },
  { name: 'CMDQ_BASE', offset: 0x90, width: 64, doc: 'Command queue base: ADDR[51:5], LOG2SIZE[4:0], RA[62]' },
  { name: 'CMDQ_PROD', offset: 0x98, width: 32, doc: 'Command queue producer index (written by software)' },
  { name: 'CMDQ_CONS', offset: 0x9c, width: 32, doc: 'Command queue consumer index, ERR[30:24]' },
  { name: 'EVENTQ_BASE', offset: 0xa0, width: 64, doc: 'Event queue base: ADDR[51:5], LOG2SIZE[4:0], WA[62]' },
  { name: 'EVENTQ_PROD', offset: 0x100a8, width: 32, doc: 'Event queue producer index, OVFLG[31]' },
  { name: 'EVENTQ_CONS', offset: 0x100ac, width: 32, doc: 'Event queue consumer index (written by software), OVACKFLG[31]' },
  { name: 'EVENTQ_IRQ_CFG0', offset: 0xb0, width: 64, doc: 'Event queue MSI address' },
  { name: 'EVENTQ_IRQ_CFG1', offset: 0xb8, width: 32, doc: 'Event queue MSI data' },
  { name: 'EVENTQ_IRQ_CFG2', offset: 0xbc, width: 32, doc: 'Event queue MSI attributes' },
];

export const REG_BY_NAME: ReadonlyMap<string, RegDef> = new Map(REGISTERS.map((r) => [r.name, r]));
export const REG_BY_OFFSET: ReadonlyMap<number, RegDef> = new Map(REGISTERS.map((r) => [r.offset, r]));

/** Page 1 (64 KiB above page 0): the event queue PROD/CONS live there, at 0x100A8/0x100AC. */
export const PAGE1 = 0x10000;

// CR0
export const CR0_SMMUEN = 1 << 0;
export const CR0_PRIQEN = 1 << 1;
export const CR0_EVTQEN = 1 << 2;
export const CR0_CMDQEN = 1 << 3;
export const CR0_ATSCHK = 1 << 4;
export const CR0_MASK = 0x1df; // SMMUEN, PRIQEN, EVTQEN, CMDQEN, ATSCHK, VMW[8:6]
// CR2
export const CR2_E2H = 1 << 0;
export const CR2_RECINVSID = 1 << 1;
export const CR2_PTM = 1 << 2;
// GBPA
export const GBPA_ABORT = 1 << 20;
export const GBPA_UPDATE = 1 << 31;
/** QEMU's and this model's reset value: SHCFG = use incoming, no abort. */
export const GBPA_RESET = 0x1000;
// GERROR
export const GERROR_CMDQ_ERR = 1 << 0;
export const GERROR_EVENTQ_ABT_ERR = 1 << 2;
export const GERROR_MSI_CMDQ_ABT = 1 << 4;
export const GERROR_MSI_EVENTQ_ABT = 1 << 5;
export const GERROR_MSI_GERROR_ABT = 1 << 7;
export const GERROR_SFM_ERR = 1 << 8;
export const GERROR_MASK = 0x1fd;
// IRQ_CTRL
export const IRQ_CTRL_MASK = 0x7;
// Queue pointers
export const Q_OVFLG = 1 << 31;
export const CMDQ_CONS_ERR_SHIFT = 24;

/** Queue base register fields: address [51:5], LOG2SIZE [4:0]. */
export function queueBase(v: bigint): { addr: number; log2size: number } {
  return { addr: Number(v & 0x000f_ffff_ffff_ffe0n), log2size: Number(v & 0x1fn) };
}

/** STRTAB_BASE_CFG fields. */
export function strtabCfg(v: number): { log2size: number; split: number; fmt: number } {
  return { log2size: v & 0x3f, split: (v >>> 6) & 0x1f, fmt: (v >>> 16) & 3 };
}
