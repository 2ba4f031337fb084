/**
 * The Stream Table Entry (STE, Arm IHI 0070 §5.2) and the Level 1 Stream
 * Table Descriptor (L1STD, §5.1).
 *
 * An STE is 64 bytes: eight little-endian 64-bit dwords, held here as a
 * bigint[8]. Field positions in STE_FIELDS are absolute bit numbers in the
 * 512-bit entry (dword n, bit b -> n*64 + b), exactly as the architecture
 * numbers them, so a view can draw the entry from the same table the
 * emulator decodes with.
 *
 * Address fields (S1ContextPtr, S2TTB) decode to the address they hold (the
 * field bits left in place, low bits zero); every other field decodes to a
 * plain number.
 *
 * validateSte() follows the architecture's SteIllegal() pseudocode (§5.2.2)
 * for a Non-secure STE on the SMMU this emulator models: AArch64 tables only
 * (IDR0.TTF = 0b10), little-endian tables only (IDR0.TTENDIAN = 0b10), the
 * terminate-only fault model (IDR0.STALL_MODEL = 0b01), no HTTU, no ATS, no
 * small translation tables (IDR3.STT = 0), no LPA2 (IDR5.DS = 0), no
 * VMSAv9-128. Stage presence, SSIDSIZE, CD2L, VMID16, OAS and granules come
 * from SmmuFeatures; IDR0.Hyp is the smmuHasHyp argument.
 */

import { field, genmask, hex, setField } from '../bits';
import { type FieldSpec, type Granule, PS_BITS, bitsPerLevel, levelShift, psToBits } from '../descriptor';
import { type S2WalkParams, effectivePaBits, s2ConfigError, s2StartLevel } from '../walk';
import type { SmmuFeatures } from './features';

// ---------------------------------------------------------------------------
// Generic packing of a multi-dword structure from a field table

/** A 64-bit value from whatever a caller handed us (never throws). */
function toU64(x: unknown): bigint {
  if (typeof x === 'bigint') return BigInt.asUintN(64, x);
  if (typeof x === 'number' && Number.isFinite(x)) return BigInt.asUintN(64, BigInt(Math.trunc(x)));
  return 0n;
}

/**
 * Extract every field of `specs` from little-endian dwords. Fields never
 * straddle a dword. Names in `addrFields` keep their bits in place (an
 * address, as a bigint); the rest are shifted down to numbers.
 * Missing dwords read as zero.
 */
export function unpackFields(
  dw: readonly bigint[],
  specs: readonly FieldSpec[],
  addrFields: ReadonlySet<string>,
): Record<string, number | bigint> {
  const out: Record<string, number | bigint> = {};
  for (const s of specs) {
    const n = Math.floor(s.lo / 64);
    const w = toU64(dw[n]);
    const lo = s.lo - n * 64;
    const v = field(w, s.hi - n * 64, lo);
    out[s.name] = addrFields.has(s.name) ? v << BigInt(lo) : Number(v);
  }
  return out;
}

/**
 * Inverse of unpackFields: `dwords` dwords with each given field inserted
 * (values are truncated to the field width; address fields drop the bits
 * below the field). Absent fields are zero.
 */
export function packFields(
  values: Readonly<Record<string, unknown>>,
  specs: readonly FieldSpec[],
  addrFields: ReadonlySet<string>,
  dwords: number,
): bigint[] {
  const dw: bigint[] = new Array<bigint>(dwords).fill(0n);
  for (const s of specs) {
    const v = values[s.name];
    if (v === undefined) continue;
    const n = Math.floor(s.lo / 64);
    const lo = s.lo - n * 64;
    const raw = addrFields.has(s.name) ? toU64(v) >> BigInt(lo) : toU64(v);
    dw[n] = setField(dw[n], s.hi - n * 64, lo, raw);
  }
  return dw;
}

/** Mask of the bits a field table covers, per dword. */
export function fieldMask(specs: readonly FieldSpec[], dwords: number): bigint[] {
  const m: bigint[] = new Array<bigint>(dwords).fill(0n);
  for (const s of specs) {
    const n = Math.floor(s.lo / 64);
    m[n] |= genmask(s.hi - n * 64, s.lo - n * 64);
  }
  return m;
}

// ---------------------------------------------------------------------------
// Shared encodings

/** The largest IPS/PS encoding whose size fits the OAS (OAS 48 -> 5). */
export function oasEncoding(oasBits: number): number {
  let enc = 0;
  PS_BITS.forEach((b, i) => {
    if (b <= oasBits) enc = i;
  });
  return enc;
}

/** STE.S2TG / CD.TG0 encoding: 0 = 4KB, 1 = 64KB, 2 = 16KB, 3 reserved. */
export function tg0Granule(tg: number): Granule | undefined {
  const t = tg & 3;
  return t === 0 ? 4096 : t === 1 ? 65536 : t === 2 ? 16384 : undefined;
}

export function granuleName(g: Granule): string {
  return g === 4096 ? '4KB' : g === 16384 ? '16KB' : '64KB';
}

function bin(v: number, width: number): string {
  return '0b' + v.toString(2).padStart(width, '0');
}

// ---------------------------------------------------------------------------
// STE layout

/** Decoded STE: architecture field names; addresses as bigints. */
export interface Ste {
  V: number;
  Config: number;
  S1Fmt: number;
  /** CD table address (bits [51:6] in place). A PA, or an IPA when Config = nested. */
  S1ContextPtr: bigint;
  S1CDMax: number;
  S1DSS: number;
  S1CIR: number;
  S1COR: number;
  S1CSH: number;
  S1STALLD: number;
  EATS: number;
  STRW: number;
  MemAttr: number;
  MTCFG: number;
  ALLOCCFG: number;
  SHCFG: number;
  NSCFG: number;
  PRIVCFG: number;
  INSTCFG: number;
  S2VMID: number;
  S2T0SZ: number;
  S2SL0: number;
  S2IR0: number;
  S2OR0: number;
  S2SH0: number;
  S2TG: number;
  S2PS: number;
  S2AA64: number;
  S2ENDI: number;
  S2AFFD: number;
  S2PTW: number;
  S2HD: number;
  S2HA: number;
  S2S: number;
  S2R: number;
  /** Stage-2 table base (bits [51:4] in place), a PA. */
  S2TTB: bigint;
}

export const STE_DWORDS = 8;

function f(name: keyof Ste, hi: number, lo: number, doc: string): FieldSpec {
  return { name, hi, lo, doc };
}

/**
 * Every STE field the model decodes, at its absolute bit position (IHI 0070
 * §5.2, SMMUv3.1-v3.3 layout: 52-bit addresses). Fields from later
 * extensions (CONT, MEV, DRE, DCP, S2FWB, S1MPAM, PARTID/PMG, VMSPtr,
 * S2HAFT, S2DS, the Secure S_S2* fields, ...) are not listed: the modelled
 * SMMU does not implement them, so they are RES0.
 */
export const STE_FIELDS: FieldSpec[] = [
  // dword 0
  f('V', 0, 0, 'Valid: 0 makes every other field IGNORED; a transaction using the STE gets C_BAD_STE'),
  f('Config', 3, 1, '0b000 abort (no event), 0b0xx reserved (as abort), 0b100 bypass, 0b101 S1, 0b110 S2, 0b111 S1+S2'),
  f('S1Fmt', 5, 4, 'CD table format: 0 linear, 1 2-level with 4KB leaves (64 CDs), 2 2-level with 64KB leaves (1024 CDs), 3 reserved (as 0)'),
  f('S1ContextPtr', 51, 6, 'Address of the CD or CD table: a PA, or an IPA when stage 2 is enabled'),
  f('S1CDMax', 63, 59, 'log2 of the number of CDs (substreams); 0 = one CD, no SubstreamIDs accepted'),
  // dword 1
  f('S1DSS', 65, 64, 'Traffic without a SubstreamID when S1CDMax > 0: 0 terminate (F_STREAM_DISABLED), 1 bypass stage 1, 2 use CD 0, 3 reserved (as 0)'),
  f('S1CIR', 67, 66, 'Inner cacheability of CD fetches: 0 NC, 1 WB-RA, 2 WT-RA, 3 WB no-RA'),
  f('S1COR', 69, 68, 'Outer cacheability of CD fetches: 0 NC, 1 WB-RA, 2 WT-RA, 3 WB no-RA'),
  f('S1CSH', 71, 70, 'Shareability of CD fetches: 0 non-shareable, 1 reserved (as 0), 2 outer, 3 inner'),
  f('S1STALLD', 91, 91, 'Stage-1 stall disable: 1 forbids CD.S = 1 (ILLEGAL unless the stall model is configurable)'),
  f('EATS', 93, 92, 'PCIe ATS: 0 ATS requests refused, 1 full ATS, 2 split-stage ATS, 3 full ATS with DPT checks (IGNORED without ATS)'),
  f('STRW', 95, 94, 'StreamWorld for stage-1-only streams: 0 NS-EL1, 2 EL2 / EL2-E2H (odd values reserved, ILLEGAL)'),
  f('MemAttr', 99, 96, 'Memory type override, stage-2 MemAttr encoding (used when MTCFG = 1)'),
  f('MTCFG', 100, 100, 'Memory type override enable: 1 replaces the incoming type with MemAttr'),
  f('ALLOCCFG', 104, 101, 'Allocation hint override: 0b0xxx use incoming, 0b1RWT override RA/WA/Transient'),
  f('SHCFG', 109, 108, 'Shareability override: 0 non-shareable, 1 use incoming, 2 outer, 3 inner'),
  f('NSCFG', 111, 110, 'NS attribute override for Secure streams (IGNORED in the Non-secure stream table)'),
  f('PRIVCFG', 113, 112, 'Privilege override: 0 use incoming, 1 reserved (as 0), 2 unprivileged, 3 privileged'),
  f('INSTCFG', 115, 114, 'Instruction/data override for reads: 0 use incoming, 1 reserved (as 0), 2 data, 3 instruction'),
  // dword 2
  f('S2VMID', 143, 128, 'VMID tagging TLB entries of this stream (also for stage-1-only NS-EL1 streams); 8-bit without VMID16'),
  f('S2T0SZ', 165, 160, 'Stage-2 input (IPA) size = 64 - S2T0SZ bits'),
  f('S2SL0', 167, 166, 'Stage-2 starting level: 4KB 0/1/2 = L2/L1/L0; 16KB/64KB 0/1/2 = L3/L2/L1'),
  f('S2IR0', 169, 168, 'Inner cacheability of stage-2 table walks: 0 NC, 1 WB-RA-WA, 2 WT-RA, 3 WB-RA'),
  f('S2OR0', 171, 170, 'Outer cacheability of stage-2 table walks: 0 NC, 1 WB-RA-WA, 2 WT-RA, 3 WB-RA'),
  f('S2SH0', 173, 172, 'Shareability of stage-2 table walks: 0 non-shareable, 1 reserved (as 0), 2 outer, 3 inner'),
  f('S2TG', 175, 174, 'Stage-2 granule: 0 4KB, 1 64KB, 2 16KB, 3 reserved'),
  f('S2PS', 178, 176, 'Stage-2 output size: 0 32, 1 36, 2 40, 3 42, 4 44, 5 48, 6 52 bits; capped to the OAS'),
  f('S2AA64', 179, 179, 'Stage-2 table format: 1 VMSAv8-64, 0 VMSAv8-32 LPAE'),
  f('S2ENDI', 180, 180, 'Stage-2 table endianness: 0 little, 1 big'),
  f('S2AFFD', 181, 181, 'Stage-2 access flag fault disable: 1 treats AF as always 1'),
  f('S2PTW', 182, 182, 'Protected table walk: with S1+S2, stage-1 walks and CD fetches to stage-2 Device memory fault'),
  f('S2HD', 183, 183, 'Stage-2 hardware update of dirty state (HTTU)'),
  f('S2HA', 184, 184, 'Stage-2 hardware update of the access flag (HTTU)'),
  f('S2S', 185, 185, 'Stage-2 faults stall the transaction (stall model)'),
  f('S2R', 186, 186, 'Stage-2 faults are recorded as events'),
  // dword 3
  f('S2TTB', 243, 196, 'Stage-2 translation table base [51:4] (a PA); bits below the table alignment are treated as 0'),
];

const STE_ADDR: ReadonlySet<string> = new Set(['S1ContextPtr', 'S2TTB']);

/** L1STD (IHI 0070 §5.1): one 8-byte pointer to a level-2 array of STEs. */
export const L1STD_FIELDS: FieldSpec[] = [
  { name: 'Span', hi: 4, lo: 0, doc: '0 invalid (C_BAD_STREAMID); 1-11: the level-2 array holds 2^(Span-1) STEs; 12-31 reserved (as 0)' },
  { name: 'L2Ptr', hi: 51, lo: 6, doc: 'Address of the level-2 STE array; bits below its size are treated as 0' },
];

/** Pure field extraction from 8 dwords (missing dwords read as 0). */
export function decodeSte(dw: readonly bigint[]): Ste {
  return unpackFields(dw, STE_FIELDS, STE_ADDR) as unknown as Ste;
}

/** 8 dwords holding the given fields (absent fields 0); decodeSte inverts it. */
export function encodeSte(fields: Partial<Ste>): bigint[] {
  return packFields(fields as Readonly<Record<string, unknown>>, STE_FIELDS, STE_ADDR, STE_DWORDS);
}

export function decodeL1std(dw: bigint): { span: number; l2ptr: bigint } {
  const w = toU64(dw);
  return { span: Number(field(w, 4, 0)), l2ptr: w & genmask(51, 6) };
}

export function encodeL1std(d: { span: number; l2ptr: bigint }): bigint {
  return setField(toU64(d.l2ptr) & genmask(51, 6), 4, 0, toU64(d.span));
}

// ---------------------------------------------------------------------------
// Configuration

export type SteConfigName = 'abort' | 'bypass' | 's1' | 's2' | 'nested';

/** The behaviour a Config value selects (reserved 0b001-0b011 behave as abort). */
export function steConfigName(config: number): SteConfigName {
  const c = config & 7;
  if ((c & 4) === 0) return 'abort';
  return (['bypass', 's1', 's2', 'nested'] as const)[c & 3];
}

export type SteValidation = { ok: true; config: SteConfigName } | { ok: false; reason: string };

function bad(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

/** Is STE.STRW used (SteIllegal's !IgnoreSTESTRW), for a Non-secure STE? */
function strwUsed(config: number, f: SmmuFeatures, smmuHasHyp: boolean): boolean {
  return f.s1 && smmuHasHyp && (config & 7) === 0b101;
}

/** Stage-2 walk parameters from an STE (reserved S2TG reads as 4KB; validateSte rejects it first). */
export function s2ParamsFromSte(ste: Ste, f: SmmuFeatures): S2WalkParams {
  return {
    ttb: toU64(ste.S2TTB) & genmask(51, 4),
    tsz: ste.S2T0SZ & 63,
    sl0: ste.S2SL0 & 3,
    granule: tg0Granule(ste.S2TG) ?? 4096,
    // eff_S2PS = MIN(S2PS, OAS): larger values, reserved 0b111 included, behave as the OAS.
    ps: Math.min(ste.S2PS & 7, oasEncoding(f.oas)),
    oasBits: f.oas,
    affd: (ste.S2AFFD & 1) === 1,
    xnx: f.xnx,
    ptw: (ste.S2PTW & 1) === 1,
  };
}

/** Size in bytes of the stage-2 starting-level table (concatenated tables included), or undefined if the config is illegal. */
function s2StartTableBytes(p: S2WalkParams): bigint | undefined {
  if (s2ConfigError(p)) return undefined;
  const sl = s2StartLevel(p.sl0, p.granule) as number;
  const ia = 64 - p.tsz;
  return 8n << BigInt(ia - levelShift(p.granule, sl));
}

/**
 * Is the STE ILLEGAL (C_BAD_STE)? Follows SteIllegal() (IHI 0070 §5.2.2) for
 * a Non-secure STE on the modelled SMMU. Fields of a stage that Config does
 * not enable are IGNORED, with the architecture's one exception: S2VMID also
 * tags the TLB entries of a stage-1-only NS-EL1 stream, so its 8-bit check
 * applies there too.
 *
 * Where the architecture gives a reserved value a defined behaviour the STE
 * stays legal (describeSte() points them out):
 *  - Config 0b001-0b011 behave as 0b000 (abort, no event);
 *  - S1Fmt 0b11 behaves as 0b00, S1DSS 0b11 as 0b00;
 *  - S2PS above the OAS (0b111 included) behaves as the OAS;
 *  - STRW is IGNORED unless Config = S1-only and IDR0.Hyp = 1 (with stage 2
 *    enabled the StreamWorld is NS-EL1 whatever STRW says);
 *  - S1CDMax is IGNORED when SSIDSIZE = 0.
 * S2TTB bits below the starting-level table's alignment (concatenation
 * included) are treated as zero by the SMMU: a misaligned S2TTB is not
 * ILLEGAL, only suspicious (describeSte() warns).
 */
export function validateSte(ste: Ste, f: SmmuFeatures, smmuHasHyp = true): SteValidation {
  if ((ste.V & 1) === 0) return bad('V = 0: the STE is not valid');
  const cfg = ste.Config & 7;
  if ((cfg & 4) === 0) return { ok: true, config: 'abort' };
  if (cfg === 0b100) return { ok: true, config: 'bypass' };
  const s1 = (cfg & 1) === 1;
  const s2 = (cfg & 2) === 2;
  if (s1 && !f.s1) return bad(`Config ${bin(cfg, 3)} enables stage 1, which this SMMU does not implement (SMMU_IDR0.S1P = 0)`);
  if (s2 && !f.s2) return bad(`Config ${bin(cfg, 3)} enables stage 2, which this SMMU does not implement (SMMU_IDR0.S2P = 0)`);
  // (EATS: IGNORED, the SMMU implements no ATS.)
  const strw = ste.STRW & 3;
  const useStrw = strwUsed(cfg, f, smmuHasHyp);
  if (useStrw && (strw & 1) === 1) {
    return bad(`STRW ${bin(strw, 2)} is reserved for a Non-secure STE (0b00 NS-EL1 and 0b10 EL2 are the legal StreamWorlds)`);
  }
  if (s1) {
    if ((ste.S1STALLD & 1) === 1) {
      return bad('S1STALLD = 1 is ILLEGAL: this SMMU has no configurable stall model (SMMU_IDR0.STALL_MODEL = 0b01, terminate only)');
    }
    const cdmax = ste.S1CDMax & 31;
    if (f.ssidsize !== 0) {
      if (cdmax > f.ssidsize) return bad(`S1CDMax ${cdmax} exceeds SMMU_IDR1.SSIDSIZE (${f.ssidsize})`);
      const fmt = ste.S1Fmt & 3;
      if (cdmax !== 0 && !f.cd2l && (fmt === 1 || fmt === 2)) {
        return bad(`S1Fmt ${fmt} selects a 2-level CD table, but this SMMU has none (SMMU_IDR0.CD2L = 0)`);
      }
    }
    // Nested: S1ContextPtr is an IPA; an out-of-range IPA is left to the
    // stage-2 walk (a CONSTRAINED UNPREDICTABLE choice the architecture allows).
    const ptr = toU64(ste.S1ContextPtr);
    if (!s2 && ptr >= 1n << BigInt(f.oas)) {
      return bad(`S1ContextPtr ${hex(ptr)} is a PA outside the ${f.oas}-bit OAS`);
    }
  }
  if (s2) {
    if ((ste.S2S & 1) === 1) return bad('S2S = 1 is ILLEGAL: this SMMU only terminates faulting transactions (SMMU_IDR0.STALL_MODEL = 0b01)');
    if ((ste.S2AA64 & 1) === 0) return bad('S2AA64 = 0 selects VMSAv8-32 LPAE stage-2 tables, which this SMMU does not support (SMMU_IDR0.TTF = AArch64 only)');
    if ((ste.S2HA & 1) === 1 || (ste.S2HD & 1) === 1) {
      const which = (ste.S2HA & 1) === 1 ? 'S2HA' : 'S2HD';
      return bad(`${which} = 1 asks for hardware access/dirty flag updates, which this SMMU does not implement (SMMU_IDR0.HTTU = 0)`);
    }
    const tg = ste.S2TG & 3;
    const g = tg0Granule(tg);
    if (g === undefined) return bad('S2TG 0b11 is a reserved granule encoding');
    if (!f.granules.includes(g)) return bad(`S2TG ${tg} selects the ${granuleName(g)} granule, which this SMMU does not support (SMMU_IDR5)`);
    const p = s2ParamsFromSte(ste, f);
    const paBits = effectivePaBits(p.ps, f.oas, g);
    if (p.ttb >= 1n << BigInt(paBits)) {
      return bad(`S2TTB ${hex(p.ttb)} is outside the ${paBits}-bit effective S2PS output range`);
    }
    const e = s2ConfigError(p);
    if (e) return bad(e.startsWith('S2') ? e : `S2SL0 ${p.sl0} / S2T0SZ ${p.tsz} / S2TG ${granuleName(g)} are inconsistent: ${e}`);
    if ((ste.S2ENDI & 1) === 1) return bad('S2ENDI = 1 selects big-endian stage-2 tables; this SMMU is little-endian only (SMMU_IDR0.TTENDIAN = 0b10)');
  }
  // S2VMID is IGNORED without stage 2 in the SMMU, or for a StreamWorld other than NS-EL1.
  const vmidIgnored = !f.s2 || (useStrw && strw !== 0);
  if (!vmidIgnored && !f.vmid16 && ((ste.S2VMID >>> 8) & 0xff) !== 0) {
    return bad(`S2VMID ${hex(ste.S2VMID & 0xffff)} needs 16-bit VMIDs, but this SMMU has 8-bit VMIDs (SMMU_IDR0.VMID16 = 0)`);
  }
  return { ok: true, config: steConfigName(cfg) };
}

const S1_FIELD_NAMES = ['S1Fmt', 'S1ContextPtr', 'S1CDMax', 'S1DSS', 'S1CIR', 'S1COR', 'S1CSH', 'S1STALLD'] as const;
const S2_FIELD_NAMES = [
  'S2T0SZ',
  'S2SL0',
  'S2IR0',
  'S2OR0',
  'S2SH0',
  'S2TG',
  'S2PS',
  'S2AA64',
  'S2ENDI',
  'S2AFFD',
  'S2PTW',
  'S2HD',
  'S2HA',
  'S2S',
  'S2R',
  'S2TTB',
] as const;

function nonZero(ste: Ste, names: readonly (keyof Ste)[]): string[] {
  return names.filter((n) => {
    const v = ste[n];
    return typeof v === 'bigint' ? v !== 0n : v !== 0;
  });
}

function list(names: string[]): string {
  return names.length === 1 ? `${names[0]} is` : `${names.join(', ')} are`;
}

/**
 * Short hints for settings that are legal but probably not what was meant
 * (fields a disabled stage ignores, reserved values with a defined
 * behaviour, misaligned tables), CPUlator-style, for the UI. Does not repeat
 * validateSte()'s reason for an ILLEGAL STE.
 */
export function describeSte(ste: Ste, f: SmmuFeatures, smmuHasHyp = true): string[] {
  const out: string[] = [];
  const cfg = ste.Config & 7;
  if ((ste.V & 1) === 0) {
    const set = nonZero(ste, (STE_FIELDS.map((s) => s.name) as (keyof Ste)[]).filter((n) => n !== 'V'));
    if (set.length > 0) out.push(`V = 0: ${list(set)} set but IGNORED until V = 1`);
    return out;
  }
  const name = steConfigName(cfg);
  if (cfg >= 1 && cfg <= 3) out.push(`Config ${bin(cfg, 3)} is reserved and behaves as 0b000: transactions are aborted with no event recorded`);
  if (name === 'abort') return out;
  const s1 = name === 's1' || name === 'nested';
  const s2 = name === 's2' || name === 'nested';
  const cfgText = `Config = ${name} (${bin(cfg, 3)})`;
  if (!s1) {
    const set = nonZero(ste, S1_FIELD_NAMES);
    if (set.length > 0) out.push(`${list(set)} set, but ${cfgText} does not enable stage 1: IGNORED`);
  }
  if (!s2) {
    const set = nonZero(ste, S2_FIELD_NAMES);
    if (set.length > 0) out.push(`${list(set)} set, but ${cfgText} does not enable stage 2: IGNORED`);
  }
  const strw = ste.STRW & 3;
  const vmidIgnored = name === 'bypass' || !f.s2 || (strwUsed(cfg, f, smmuHasHyp) && strw !== 0);
  if (ste.S2VMID !== 0 && vmidIgnored) out.push('S2VMID is set, but no translation of this stream is VMID-tagged: IGNORED');
  if ((ste.EATS & 3) !== 0) out.push('EATS is IGNORED: this SMMU does not implement ATS (SMMU_IDR0.ATS = 0)');
  if (strw !== 0 && !strwUsed(cfg, f, smmuHasHyp)) {
    const why = s2
      ? 'stage 2 is enabled, so the StreamWorld is NS-EL1'
      : name === 'bypass'
        ? 'bypass performs no translation'
        : 'this SMMU has no EL2 support (SMMU_IDR0.Hyp = 0)';
    out.push(`STRW ${bin(strw, 2)} is IGNORED: ${why}`);
  } else if (strw === 2) {
    out.push('STRW = EL2: TLB entries are tagged EL2 (no VMID); only CMD_TLBI_EL2_* invalidate them, and CD.ASID is ignored unless SMMU_CR2.E2H = 1');
  }
  // Attribute overrides: the modelled SMMU advertises SMMU_IDR1.ATTR_PERMS_OVR (PRIVCFG, INSTCFG apply) but not ATTR_TYPES_OVR.
  const typeOvr = nonZero(ste, ['MemAttr', 'MTCFG', 'ALLOCCFG', 'SHCFG']);
  if (typeOvr.length > 0) out.push(`${list(typeOvr)} RES0 on this SMMU (SMMU_IDR1.ATTR_TYPES_OVR = 0): the incoming attributes are used`);
  if (ste.PRIVCFG >= 2) out.push(`PRIVCFG = ${ste.PRIVCFG}: every transaction on this stream is treated as ${ste.PRIVCFG === 2 ? 'unprivileged' : 'privileged'}`);
  if (ste.INSTCFG >= 2) out.push(`INSTCFG = ${ste.INSTCFG}: reads on this stream are treated as ${ste.INSTCFG === 2 ? 'data' : 'instruction fetches'}`);
  if (ste.NSCFG !== 0) out.push('NSCFG is IGNORED in a Non-secure STE');
  if (s1) describeS1(ste, f, s2, out);
  if (s2) describeS2(ste, f, out);
  if (!s2 && (ste.S2PTW & 1) === 1 && s1) out.push('S2PTW is IGNORED unless both stages translate (Config = nested)');
  return out;
}

function describeS1(ste: Ste, f: SmmuFeatures, s2: boolean, out: string[]): void {
  const cdmax = ste.S1CDMax & 31;
  const fmt = ste.S1Fmt & 3;
  const dss = ste.S1DSS & 3;
  if (s2) out.push('Config = nested: S1ContextPtr (and every L1CD.L2Ptr) is an IPA, fetched through stage 2');
  if ((ste.S1CSH & 3) === 1) out.push('S1CSH 0b01 is reserved and behaves as 0b00 (non-shareable)');
  if (cdmax !== 0 && f.ssidsize === 0) {
    out.push('S1CDMax is IGNORED: this SMMU has no substreams (SMMU_IDR1.SSIDSIZE = 0); S1ContextPtr points at one CD');
    return;
  }
  if (cdmax === 0) {
    const set: string[] = [];
    if (fmt !== 0) set.push('S1Fmt');
    if (dss !== 0) set.push('S1DSS');
    if (set.length > 0) out.push(`${list(set)} IGNORED when S1CDMax = 0 (a single CD, no substreams)`);
    return;
  }
  if (fmt === 3) out.push('S1Fmt 0b11 is reserved and behaves as 0b00 (linear CD table)');
  if (dss === 3) out.push('S1DSS 0b11 is reserved and behaves as 0b00 (terminate)');
  if (dss === 0) out.push('S1DSS = 0: transactions without a SubstreamID are terminated (F_STREAM_DISABLED)');
  if (dss === 2) out.push('S1DSS = 2: CD 0 serves traffic without a SubstreamID, so SubstreamID 0 itself is refused (F_STREAM_DISABLED)');
  // Table alignment: a linear table is aligned to its size; a level-1 table to its size or 64 bytes.
  const effFmt = fmt === 3 ? 0 : fmt;
  const split = effFmt === 1 ? 6 : effFmt === 2 ? 10 : 0;
  const bytes = effFmt === 0 ? 64n << BigInt(cdmax) : 8n << BigInt(Math.max(0, cdmax - split));
  const align = bytes < 64n ? 64n : bytes;
  const ptr = toU64(ste.S1ContextPtr);
  if ((ptr & (align - 1n)) !== 0n) {
    out.push(`S1ContextPtr ${hex(ptr)} is not aligned to its ${align}-byte ${effFmt === 0 ? 'CD' : 'L1CD'} table: the low bits are RES0 (CONSTRAINED UNPREDICTABLE)`);
  }
}

function describeS2(ste: Ste, f: SmmuFeatures, out: string[]): void {
  const ps = ste.S2PS & 7;
  const cap = oasEncoding(f.oas);
  if (ps > cap) {
    const bits = psToBits(ps);
    out.push(`S2PS ${bin(ps, 3)} (${bits === undefined ? 'reserved' : `${bits} bits`}) exceeds the ${f.oas}-bit OAS and behaves as ${psToBits(cap)} bits`);
  }
  if ((ste.S2SH0 & 3) === 1) out.push('S2SH0 0b01 is reserved and behaves as 0b00 (non-shareable)');
  if ((ste.S2R & 1) === 0) out.push('S2R = 0: stage-2 translation, access flag, address size and permission faults terminate the transaction without an event');
  const g = tg0Granule(ste.S2TG);
  if (g === undefined || !f.granules.includes(g)) return;
  const p = s2ParamsFromSte(ste, f);
  const bytes = s2StartTableBytes(p);
  if (bytes === undefined) return;
  const paBits = effectivePaBits(p.ps, f.oas, g);
  const align = paBits === 52 && bytes < 64n ? 64n : bytes;
  const ttb = toU64(ste.S2TTB);
  if ((ttb & (align - 1n)) !== 0n) {
    const tables = Number(bytes) / 8 / 2 ** bitsPerLevel(g);
    const what = tables > 1 ? `${tables} concatenated start-level tables (${bytes} bytes)` : `its ${bytes}-byte start-level table`;
    out.push(`S2TTB ${hex(ttb)} is not aligned to ${what}: the SMMU treats the low bits as 0 and walks from ${hex(ttb & ~(align - 1n))}`);
  }
}
