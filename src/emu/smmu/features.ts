/**
 * The SMMU's implemented features, and the SMMU_IDR0..5 values that
 * advertise them. A scenario picks features; everything else derives from
 * these (what an STE or CD may legally contain, which commands exist).
 */

import type { Granule } from '../descriptor';
import { bitsToPs } from '../descriptor';

export interface SmmuFeatures {
  /** Output address size in bits (SMMU_IDR5.OAS): 32, 36, 40, 42, 44, 48 or 52. */
  oas: number;
  /** SMMU_IDR1.SIDSIZE: StreamID bits (0..32). */
  sidsize: number;
  /** SMMU_IDR1.SSIDSIZE: SubstreamID bits (0..20). */
  ssidsize: number;
  /** Translation granules (SMMU_IDR5.GRAN4K/16K/64K). */
  granules: Granule[];
  /** Stage 1 (IDR0.S1P) and stage 2 (IDR0.S2P); both means nested is possible. */
  s1: boolean;
  s2: boolean;
  /** 2-level stream tables (IDR0.ST_LEVEL = 1). */
  stLevel2: boolean;
  /** 2-level CD tables (IDR0.CD2L). */
  cd2l: boolean;
  /** EL2 StreamWorld support (IDR0.HYP): STE.STRW = EL2 and the TLBI_EL2_* commands. */
  hyp: boolean;
  /** Range invalidation (IDR3.RIL). */
  ril: boolean;
  /** 16-bit ASIDs / VMIDs (IDR0.ASID16 / VMID16); otherwise 8-bit. */
  asid16: boolean;
  vmid16: boolean;
  /** Stage-2 XN[1:0] encoding (IDR3.XNX). */
  xnx: boolean;
  /** MSIs (IDR0.MSI) and SEV (IDR0.SEV) for CMD_SYNC completion. */
  msi: boolean;
  sev: boolean;
  /** Coherent table and queue accesses (IDR0.COHACC). */
  coherent: boolean;
  /** log2 of the largest command / event queue (IDR1.CMDQS / EVENTQS). */
  cmdqs: number;
  eventqs: number;
}

/** Everything the model implements: what `features` defaults to. */
export const DEFAULT_FEATURES: Readonly<SmmuFeatures> = Object.freeze({
  oas: 48,
  sidsize: 16,
  ssidsize: 20,
  granules: [4096, 16384, 65536] as Granule[],
  s1: true,
  s2: true,
  stLevel2: true,
  cd2l: true,
  hyp: true,
  ril: true,
  asid16: true,
  vmid16: true,
  xnx: false,
  msi: true,
  sev: true,
  coherent: true,
  cmdqs: 19,
  eventqs: 19,
});

export function withDefaults(f: Partial<SmmuFeatures> = {}): SmmuFeatures {
  return { ...DEFAULT_FEATURES, granules: [...DEFAULT_FEATURES.granules], ...f };
}

/** Why a feature set is impossible, or null. */
export function featuresError(f: SmmuFeatures): { field: string; message: string } | null {
  if (bitsToPs(f.oas) === undefined) return { field: 'oas', message: `oas ${f.oas} is not one of 32, 36, 40, 42, 44, 48, 52` };
  if (!Number.isInteger(f.sidsize) || f.sidsize < 0 || f.sidsize > 32) return { field: 'sidsize', message: 'sidsize must be 0..32' };
  if (!Number.isInteger(f.ssidsize) || f.ssidsize < 0 || f.ssidsize > 20) return { field: 'ssidsize', message: 'ssidsize must be 0..20' };
  if (f.granules.length === 0) return { field: 'granules', message: 'at least one granule is required' };
  if (!f.s1 && !f.s2) return { field: 'stages', message: 'at least one translation stage is required' };
  if (f.cmdqs < 0 || f.cmdqs > 19) return { field: 'cmdqs', message: 'cmdqs must be 0..19' };
  if (f.eventqs < 0 || f.eventqs > 19) return { field: 'eventqs', message: 'eventqs must be 0..19' };
  return null;
}

/** SMMU_IDR0..IDR5 for a feature set (32-bit register values). */
export function idRegisters(f: SmmuFeatures): { IDR0: number; IDR1: number; IDR2: number; IDR3: number; IDR4: number; IDR5: number } {
  let idr0 = 0;
  if (f.s2) idr0 |= 1 << 0; // S2P
  if (f.s1) idr0 |= 1 << 1; // S1P
  idr0 |= 2 << 2; // TTF: AArch64 tables only
  if (f.coherent) idr0 |= 1 << 4; // COHACC
  // HTTU = 0: no hardware access/dirty flag updates.
  if (f.hyp) idr0 |= 1 << 9; // HYP
  if (f.asid16) idr0 |= 1 << 12;
  if (f.msi) idr0 |= 1 << 13;
  if (f.sev) idr0 |= 1 << 14;
  if (f.vmid16) idr0 |= 1 << 18;
  if (f.cd2l) idr0 |= 1 << 19;
  idr0 |= 2 << 21; // TTENDIAN: little-endian only
  idr0 |= 1 << 24; // STALL_MODEL: terminate model only (no stalls)
  idr0 |= 1 << 26; // TERM_MODEL: terminated transactions always abort (CD.A must be 1)
  if (f.stLevel2) idr0 |= 1 << 27; // ST_LEVEL: 2-level stream table
  // ATTR_PERMS_OVR (bit 26): STE.PRIVCFG / INSTCFG override the incoming privilege and instruction/data attributes.
  const idr1 = ((f.sidsize & 0x3f) | ((f.ssidsize & 0x1f) << 6) | ((f.eventqs & 0x1f) << 16) | ((f.cmdqs & 0x1f) << 21) | (1 << 26)) >>> 0;
  let idr3 = 1 << 2; // HAD: CD.HAD0/HAD1 disable hierarchical attributes
  if (f.xnx) idr3 |= 1 << 4;
  if (f.ril) idr3 |= 1 << 10;
  let idr5 = bitsToPs(f.oas) ?? 5;
  if (f.granules.includes(4096)) idr5 |= 1 << 4;
  if (f.granules.includes(16384)) idr5 |= 1 << 5;
  if (f.granules.includes(65536)) idr5 |= 1 << 6;
  return { IDR0: idr0 >>> 0, IDR1: idr1 >>> 0, IDR2: 0, IDR3: idr3 >>> 0, IDR4: 0, IDR5: idr5 >>> 0 };
}

/** ASID / VMID widths in bits. */
export function asidBits(f: SmmuFeatures): number {
  return f.asid16 ? 16 : 8;
}

export function vmidBits(f: SmmuFeatures): number {
  return f.vmid16 ? 16 : 8;
}
