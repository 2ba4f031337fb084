/**
 * The Context Descriptor (CD, Arm IHI 0070 §5.4) and the Level 1 Context
 * Descriptor (L1CD, §5.3).
 *
 * A CD is 64 bytes (eight little-endian dwords, bigint[8]) holding the
 * stage-1 translation regime of one address space: two translation tables
 * (TTB0 for the low half of the VA space, TTB1 for the high half), their
 * sizes and granules, the output size, the ASID and the attribute registers.
 * Field positions in CD_FIELDS are absolute bit numbers in the 512-bit entry.
 *
 * validateCd() follows the architecture's CdIllegal() (§5.4.2) for a CD
 * reached from a Non-secure STE with StreamWorld NS-EL1 on the modelled SMMU:
 * AArch64 tables only, little-endian only, no HTTU, terminate-only fault
 * model (STALL_MODEL = 0b01) with aborts only (TERM_MODEL = 1), no small
 * translation tables, no LPA2, no VMSAv9-128.
 */

import { field, genmask, hex, setField } from '../bits';
import { type FieldSpec, type Granule, levelShift, psToBits } from '../descriptor';
import { type S1TableParams, type S1WalkParams, effectivePaBits, s1StartLevel, s1TableConfigError } from '../walk';
import type { SmmuFeatures } from './features';
import { granuleName, oasEncoding, packFields, tg0Granule, unpackFields } from './ste';

/** Decoded CD: architecture field names; table bases as bigints. */
export interface Cd {
  T0SZ: number;
  TG0: number;
  IR0: number;
  OR0: number;
  SH0: number;
  EPD0: number;
  ENDI: number;
  T1SZ: number;
  TG1: number;
  IR1: number;
  OR1: number;
  SH1: number;
  EPD1: number;
  V: number;
  IPS: number;
  AFFD: number;
  WXN: number;
  UWXN: number;
  TBI0: number;
  TBI1: number;
  PAN: number;
  AA64: number;
  HD: number;
  HA: number;
  S: number;
  R: number;
  A: number;
  ASET: number;
  ASID: number;
  NSCFG0: number;
  HAD0: number;
  /** TTB0 (bits [51:4] in place): a PA, or an IPA when the STE is nested. */
  TTB0: bigint;
  NSCFG1: number;
  HAD1: number;
  TTB1: bigint;
  /** MAIR bits [31:0] (attributes 0-3). */
  MAIR0: number;
  /** MAIR bits [63:32] (attributes 4-7). */
  MAIR1: number;
  AMAIR0: number;
  AMAIR1: number;
}

export const CD_DWORDS = 8;

function f(name: keyof Cd, hi: number, lo: number, doc: string): FieldSpec {
  return { name, hi, lo, doc };
}

/**
 * Every CD field the model decodes, at its absolute bit position (IHI 0070
 * §5.4, SMMUv3.1-v3.3 layout). Later extensions (E0PDx, HAFT, DS, PIE,
 * EPAN, HWUxx, PARTID/PMG, permission indirection, ...) are not listed: the
 * modelled SMMU does not implement them, so they are RES0.
 */
export const CD_FIELDS: FieldSpec[] = [
  // dword 0
  f('T0SZ', 5, 0, 'TTB0 region size: 2^(64 - T0SZ) bytes of VA'),
  f('TG0', 7, 6, 'TTB0 granule: 0 4KB, 1 64KB, 2 16KB, 3 reserved'),
  f('IR0', 9, 8, 'Inner cacheability of TTB0 walks: 0 NC, 1 WB-RA-WA, 2 WT-RA, 3 WB-RA'),
  f('OR0', 11, 10, 'Outer cacheability of TTB0 walks: 0 NC, 1 WB-RA-WA, 2 WT-RA, 3 WB-RA'),
  f('SH0', 13, 12, 'Shareability of TTB0 walks: 0 non-shareable, 1 reserved (as 0), 2 outer, 3 inner'),
  f('EPD0', 14, 14, 'TTB0 walks disabled: a TLB miss in the low half is a translation fault'),
  f('ENDI', 15, 15, 'Translation table endianness: 0 little, 1 big'),
  f('T1SZ', 21, 16, 'TTB1 region size: 2^(64 - T1SZ) bytes of VA'),
  f('TG1', 23, 22, 'TTB1 granule: 0 reserved, 1 16KB, 2 4KB, 3 64KB'),
  f('IR1', 25, 24, 'Inner cacheability of TTB1 walks'),
  f('OR1', 27, 26, 'Outer cacheability of TTB1 walks'),
  f('SH1', 29, 28, 'Shareability of TTB1 walks'),
  f('EPD1', 30, 30, 'TTB1 walks disabled: a TLB miss in the high half is a translation fault'),
  f('V', 31, 31, 'Valid: 0 makes the rest IGNORED; a transaction using the CD gets C_BAD_CD'),
  f('IPS', 34, 32, 'Stage-1 output (IPA) size: 0 32, 1 36, 2 40, 3 42, 4 44, 5 48, 6 52 bits; capped to the OAS'),
  f('AFFD', 35, 35, 'Access flag fault disable: 1 treats AF as always 1'),
  f('WXN', 36, 36, 'Write implies execute-never for instruction fetches'),
  f('UWXN', 37, 37, 'Unprivileged-write implies privileged execute-never (IGNORED for VMSAv8-64)'),
  f('TBI0', 38, 38, 'Top byte ignore for TTB0 addresses'),
  f('TBI1', 39, 39, 'Top byte ignore for TTB1 addresses'),
  f('PAN', 40, 40, 'Privileged access never: privileged data accesses to EL0-accessible pages fault'),
  f('AA64', 41, 41, 'Table format: 1 VMSAv8-64, 0 VMSAv8-32 LPAE'),
  f('HD', 42, 42, 'Hardware update of dirty state (HTTU)'),
  f('HA', 43, 43, 'Hardware update of the access flag (HTTU)'),
  f('S', 44, 44, 'Stage-1 faults stall the transaction (stall model)'),
  f('R', 45, 45, 'Stage-1 faults are recorded as events'),
  f('A', 46, 46, 'Terminated transactions get an abort (1) rather than RAZ/WI (0)'),
  f('ASET', 47, 47, 'ASID set: 1 = not shared with PE ASIDs (no broadcast TLBI by ASID)'),
  f('ASID', 63, 48, 'Address space ID tagging non-global TLB entries; 8-bit without ASID16'),
  // dword 1
  f('NSCFG0', 64, 64, 'NS attribute of the TTB0 starting-level fetch (Secure streams only)'),
  f('HAD0', 65, 65, 'Hierarchical attribute disable for TTB0: APTable/PXNTable/UXNTable IGNORED'),
  f('TTB0', 115, 68, 'TTB0 translation table base [51:4]; bits below the table alignment are treated as 0'),
  // dword 2
  f('NSCFG1', 128, 128, 'NS attribute of the TTB1 starting-level fetch (Secure streams only)'),
  f('HAD1', 129, 129, 'Hierarchical attribute disable for TTB1'),
  f('TTB1', 179, 132, 'TTB1 translation table base [51:4]'),
  // dwords 3, 4
  f('MAIR0', 223, 192, 'MAIR[31:0]: memory attributes 0-3, indexed by the descriptor AttrIndx'),
  f('MAIR1', 255, 224, 'MAIR[63:32]: memory attributes 4-7'),
  f('AMAIR0', 287, 256, 'Auxiliary MAIR[31:0] (IMPLEMENTATION DEFINED)'),
  f('AMAIR1', 319, 288, 'Auxiliary MAIR[63:32] (IMPLEMENTATION DEFINED)'),
];

const CD_ADDR: ReadonlySet<string> = new Set(['TTB0', 'TTB1']);

/** L1CD (IHI 0070 §5.3): one 8-byte pointer to a level-2 table of CDs. */
export const L1CD_FIELDS: FieldSpec[] = [
  { name: 'V', hi: 0, lo: 0, doc: 'Valid: 0 gives C_BAD_SUBSTREAMID for every SubstreamID it covers' },
  { name: 'L2Ptr', hi: 51, lo: 12, doc: 'Address of the level-2 CD table (4KB aligned)' },
];

export function decodeCd(dw: readonly bigint[]): Cd {
  return unpackFields(dw, CD_FIELDS, CD_ADDR) as unknown as Cd;
}

export function encodeCd(fields: Partial<Cd>): bigint[] {
  return packFields(fields as Readonly<Record<string, unknown>>, CD_FIELDS, CD_ADDR, CD_DWORDS);
}

function u64(x: bigint): bigint {
  return typeof x === 'bigint' ? BigInt.asUintN(64, x) : 0n;
}

export function decodeL1cd(dw: bigint): { v: number; l2ptr: bigint } {
  const w = u64(dw);
  return { v: Number(field(w, 0, 0)), l2ptr: w & genmask(51, 12) };
}

export function encodeL1cd(d: { v: number; l2ptr: bigint }): bigint {
  return setField(u64(d.l2ptr) & genmask(51, 12), 0, 0, d.v & 1);
}

// ---------------------------------------------------------------------------
// Configuration

/** CD.TG1 encoding: 0 reserved, 1 = 16KB, 2 = 4KB, 3 = 64KB. */
export function tg1Granule(tg: number): Granule | undefined {
  const t = tg & 3;
  return t === 1 ? 16384 : t === 2 ? 4096 : t === 3 ? 65536 : undefined;
}

/** CD.TG0 encoding (same as STE.S2TG): 0 = 4KB, 1 = 64KB, 2 = 16KB, 3 reserved. */
export { tg0Granule };

interface Half {
  x: 0 | 1;
  tsz: number;
  tg: number;
  granule: Granule | undefined;
  epd: boolean;
  ttb: bigint;
}

function halves(cd: Cd): [Half, Half] {
  return [
    { x: 0, tsz: cd.T0SZ & 63, tg: cd.TG0 & 3, granule: tg0Granule(cd.TG0), epd: (cd.EPD0 & 1) === 1, ttb: u64(cd.TTB0) & genmask(51, 4) },
    { x: 1, tsz: cd.T1SZ & 63, tg: cd.TG1 & 3, granule: tg1Granule(cd.TG1), epd: (cd.EPD1 & 1) === 1, ttb: u64(cd.TTB1) & genmask(51, 4) },
  ];
}

/** Stage-1 walk parameters from a CD (a reserved TGx reads as 4KB; validateCd rejects it first). */
export function s1ParamsFromCd(cd: Cd, f: SmmuFeatures): S1WalkParams {
  const [h0, h1] = halves(cd);
  const tt = (h: Half, had: number, tbi: number): S1TableParams => ({
    ttb: h.ttb,
    tsz: h.tsz,
    granule: h.granule ?? 4096,
    epd: h.epd,
    had: (had & 1) === 1,
    tbi: (tbi & 1) === 1,
  });
  return {
    tt: [tt(h0, cd.HAD0, cd.TBI0), tt(h1, cd.HAD1, cd.TBI1)],
    // eff_IPS = MIN(IPS, OAS); 0b111 (reserved) and anything above the OAS behave as the OAS.
    ips: Math.min(cd.IPS & 7, oasEncoding(f.oas)),
    oasBits: f.oas,
    affd: (cd.AFFD & 1) === 1,
    wxn: (cd.WXN & 1) === 1,
    pan: (cd.PAN & 1) === 1,
  };
}

export type CdValidation = { ok: true } | { ok: false; reason: string };

function bad(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

/**
 * Is the CD ILLEGAL (C_BAD_CD)? CdIllegal() order: V, A (TERM_MODEL = 1),
 * S (STALL_MODEL = 0b01), ENDI (IGNORED when both halves are disabled),
 * AA64, HA/HD, ASID width, then for each half with EPDx = 0: TxSZ range
 * (s1TableConfigError), granule (TGx reserved or not in SMMU_IDR5), and TTBx
 * within the effective IPS (capped to the OAS, and to 48 bits unless the
 * half uses 64KB). Halves with EPDx = 1 are not checked.
 *
 * `nested`: the STE translates both stages, so TTBx are IPAs. The range rule
 * is the same (the effective IPS bounds the stage-1 output address space, IAS
 * = OAS on an AArch64-only SMMU); only the wording of the reason changes.
 */
export function validateCd(cd: Cd, f: SmmuFeatures, nested: boolean): CdValidation {
  if ((cd.V & 1) === 0) return bad('V = 0: the CD is not valid');
  if ((cd.A & 1) === 0) return bad('A = 0 (RAZ/WI termination) is ILLEGAL: this SMMU terminates transactions with an abort only (SMMU_IDR0.TERM_MODEL = 1)');
  if ((cd.S & 1) === 1) return bad('S = 1 is ILLEGAL: this SMMU only terminates faulting transactions (SMMU_IDR0.STALL_MODEL = 0b01)');
  const hs = halves(cd);
  if ((cd.ENDI & 1) === 1 && !(hs[0].epd && hs[1].epd)) {
    return bad('ENDI = 1 selects big-endian tables; this SMMU is little-endian only (SMMU_IDR0.TTENDIAN = 0b10)');
  }
  if ((cd.AA64 & 1) === 0) return bad('AA64 = 0 selects VMSAv8-32 LPAE tables, which this SMMU does not support (SMMU_IDR0.TTF = AArch64 only)');
  if ((cd.HA & 1) === 1 || (cd.HD & 1) === 1) {
    const which = (cd.HA & 1) === 1 ? 'HA' : 'HD';
    return bad(`${which} = 1 asks for hardware access/dirty flag updates, which this SMMU does not implement (SMMU_IDR0.HTTU = 0)`);
  }
  if (!f.asid16 && ((cd.ASID >>> 8) & 0xff) !== 0) {
    return bad(`ASID ${hex(cd.ASID & 0xffff)} needs 16-bit ASIDs, but this SMMU has 8-bit ASIDs (SMMU_IDR0.ASID16 = 0)`);
  }
  for (const h of hs) {
    if (h.epd) continue;
    const e = s1TableConfigError({ ttb: h.ttb, tsz: h.tsz, granule: h.granule ?? 4096, epd: false, had: false, tbi: false }, f.oas);
    if (e) return bad(e.replace('TxSZ', `T${h.x}SZ`));
  }
  for (const h of hs) {
    if (h.epd) continue;
    if (h.granule === undefined) return bad(`TG${h.x} ${h.tg} is a reserved granule encoding`);
    if (!f.granules.includes(h.granule)) {
      return bad(`TG${h.x} ${h.tg} selects the ${granuleName(h.granule)} granule, which this SMMU does not support (SMMU_IDR5)`);
    }
    const bits = effectivePaBits(cd.IPS & 7, f.oas, h.granule);
    if (h.ttb >= 1n << BigInt(bits)) {
      return bad(`TTB${h.x} ${hex(h.ttb)} (${nested ? 'an IPA' : 'a PA'}) is outside the ${bits}-bit effective IPS range`);
    }
  }
  return { ok: true };
}

/** Short hints for legal-but-suspicious CD settings (for the UI). */
export function describeCd(cd: Cd, f: SmmuFeatures, nested = false): string[] {
  const out: string[] = [];
  if ((cd.V & 1) === 0) return out;
  const hs = halves(cd);
  if (hs[0].epd && hs[1].epd) out.push('EPD0 = EPD1 = 1: both halves are disabled, every translation faults');
  if ((cd.R & 1) === 0) out.push('R = 0: stage-1 translation, access flag, address size and permission faults are not recorded');
  const ips = cd.IPS & 7;
  const cap = oasEncoding(f.oas);
  if (ips > cap) {
    const bits = psToBits(ips);
    out.push(`IPS ${ips} (${bits === undefined ? 'reserved' : `${bits} bits`}) exceeds the ${f.oas}-bit OAS and behaves as ${psToBits(cap)} bits`);
  }
  if ((cd.UWXN & 1) === 1) out.push('UWXN is IGNORED with AA64 = 1 (VMSAv8-64 treats EL0-writable pages as privileged execute-never)');
  if (nested) out.push('Nested: TTB0/TTB1 and every table address are IPAs, translated through stage 2');
  for (const h of hs) {
    if (h.epd) {
      if (h.ttb !== 0n) out.push(`TTB${h.x} is set but IGNORED: EPD${h.x} = 1`);
      continue;
    }
    if (h.x === 0 ? (cd.SH0 & 3) === 1 : (cd.SH1 & 3) === 1) out.push(`SH${h.x} 0b01 is reserved and behaves as 0b00 (non-shareable)`);
    if (h.granule === undefined || s1TableConfigError({ ttb: h.ttb, tsz: h.tsz, granule: h.granule, epd: false, had: false, tbi: false }, f.oas)) continue;
    const ia = 64 - h.tsz;
    let align = 8n << BigInt(ia - levelShift(h.granule, s1StartLevel(ia, h.granule)));
    if (effectivePaBits(ips, f.oas, h.granule) === 52 && align < 64n) align = 64n;
    if ((h.ttb & (align - 1n)) !== 0n) {
      out.push(`TTB${h.x} ${hex(h.ttb)} is not aligned to its ${align}-byte start-level table: the SMMU treats the low bits as 0`);
    }
  }
  return out;
}
