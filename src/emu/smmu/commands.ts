/**
 * SMMUv3 command queue entries: every command as 16 bytes, i.e. two
 * little-endian 64-bit dwords (dw0 = bytes 0..7, dw1 = bytes 8..15).
 *
 * Field positions follow the Arm SMMUv3 architecture (IHI 0070, chapter 4).
 * The ones Linux uses were checked against the field masks in
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (CMDQ_0_OP/SSV, CMDQ_CFGI_*,
 * CMDQ_TLBI_*, CMDQ_ATC_*, CMDQ_PRI_*, CMDQ_RESUME_*, CMDQ_SYNC_*) and QEMU's
 * hw/arm/smmuv3-internal.h (CMD_SSEC, CMD_RESUME_AC/AB). Fields Linux never
 * builds (PREFETCH_ADDR's operands, CFGI_VMS_PIDM's VMID, SSec) come from the
 * architecture as remembered and are marked "(arch, unconfirmed)" below.
 *
 * The layout is one table (COMMAND_LAYOUT) that both the encoder/decoder and
 * the register-diagram views (COMMAND_FIELDS) use, so they cannot disagree.
 */

import type { FieldSpec } from '../descriptor';
import { genmask, U64_MASK } from '../bits';

// ---------------------------------------------------------------------------
// Opcodes

/** Opcode -> architecture name. Opcodes not listed are CERROR_ILL. */
export const OPCODES = Object.freeze({
  0x01: 'CMD_PREFETCH_CONFIG',
  0x02: 'CMD_PREFETCH_ADDR',
  0x03: 'CMD_CFGI_STE',
  0x04: 'CMD_CFGI_STE_RANGE',
  0x05: 'CMD_CFGI_CD',
  0x06: 'CMD_CFGI_CD_ALL',
  0x07: 'CMD_CFGI_VMS_PIDM',
  0x10: 'CMD_TLBI_NH_ALL',
  0x11: 'CMD_TLBI_NH_ASID',
  0x12: 'CMD_TLBI_NH_VA',
  0x13: 'CMD_TLBI_NH_VAA',
  0x18: 'CMD_TLBI_EL3_ALL',
  0x1a: 'CMD_TLBI_EL3_VA',
  0x20: 'CMD_TLBI_EL2_ALL',
  0x21: 'CMD_TLBI_EL2_ASID',
  0x22: 'CMD_TLBI_EL2_VA',
  0x23: 'CMD_TLBI_EL2_VAA',
  0x28: 'CMD_TLBI_S12_VMALL',
  0x2a: 'CMD_TLBI_S2_IPA',
  0x30: 'CMD_TLBI_NSNH_ALL',
  0x40: 'CMD_ATC_INV',
  0x41: 'CMD_PRI_RESP',
  0x44: 'CMD_RESUME',
  0x45: 'CMD_STALL_TERM',
  0x46: 'CMD_SYNC',
} as const);

export type OpcodeName = (typeof OPCODES)[keyof typeof OPCODES];

/**
 * Every command name, including CMD_CFGI_ALL, which is not an opcode of its
 * own: it is CMD_CFGI_STE_RANGE (0x04) with Range = 31.
 */
export type CommandName = OpcodeName | 'CMD_CFGI_ALL';

/** Name of an opcode, or undefined if the opcode is not allocated. */
export function opcodeName(opcode: number): OpcodeName | undefined {
  return Object.prototype.hasOwnProperty.call(OPCODES, opcode)
    ? (OPCODES as Record<number, OpcodeName>)[opcode]
    : undefined;
}

/** Command name -> opcode (CMD_CFGI_ALL -> 0x04). */
export const OPCODE_OF: Readonly<Record<CommandName, number>> = Object.freeze({
  ...(Object.fromEntries(Object.entries(OPCODES).map(([k, v]) => [v, Number(k)])) as Record<OpcodeName, number>),
  CMD_CFGI_ALL: 0x04,
});

/** The Range value that turns CMD_CFGI_STE_RANGE into CMD_CFGI_ALL. */
export const CFGI_ALL_RANGE = 31;

// ---------------------------------------------------------------------------
// Command error codes (SMMU_CMDQ_CONS.ERR)

export const CERROR = Object.freeze({ NONE: 0, ILL: 1, ABT: 2, ATC_INV_SYNC: 3 } as const);
export type CerrorCode = (typeof CERROR)[keyof typeof CERROR];

export const CERROR_NAMES: Readonly<Record<CerrorCode, string>> = Object.freeze({
  0: 'CERROR_NONE',
  1: 'CERROR_ILL',
  2: 'CERROR_ABT',
  3: 'CERROR_ATC_INV_SYNC',
});

export const CERROR_DOCS: Readonly<Record<CerrorCode, string>> = Object.freeze({
  0: 'No error',
  1: 'Illegal command: unknown opcode, reserved field value, or a command for an unimplemented feature',
  2: 'Abort on the read of the command from memory',
  3: 'A CMD_SYNC found that an ATC invalidation failed or timed out',
});

// ---------------------------------------------------------------------------
// Command types

/** CMD_SYNC completion signal (CS). */
export const SYNC_CS = Object.freeze({ NONE: 0, IRQ: 1, SEV: 2 } as const);
/** CMD_PRI_RESP response codes (Resp). */
export const PRI_RESP = Object.freeze({ DENY: 0, FAIL: 1, SUCCESS: 2 } as const);
/**
 * CMD_RESUME action: dw0[12] is Ac (1 = retry), dw0[13] is AB (with Ac = 0:
 * 1 = abort returned to the client, 0 = terminate silently, RAZ/WI).
 * Linux names the combinations TERM = 0, RETRY = 1, ABORT = 2.
 */
export const RESUME_ACTION = Object.freeze({ TERM: 0, RETRY: 1, ABORT: 2 } as const);

interface SsecField {
  /**
   * SSec dw0[10]: the StreamID is a Secure one. Only legal on the Secure
   * command queue (see commandNeeds). Decode omits it when 0.
   */
  ssec?: boolean;
}

interface Substream {
  /** SubstreamID dw0[31:12] (20 bits). */
  ssid: number;
  /** SSV dw0[11]: the SubstreamID is valid. */
  ssv: boolean;
}

/** Range / hint fields shared by the address-based TLBI commands. */
export interface TlbiRangeFields {
  /** Address: VA[63:12] in dw1[63:12] (TLBI_S2_IPA: IPA[51:12] in dw1[51:12]). Bits [11:0] are zero. */
  addr: bigint;
  /** Leaf dw1[0]: only leaf (last-level) entries need be invalidated. */
  leaf: boolean;
  /** TTL dw1[9:8]: level of the leaf entries, 0 = unknown. */
  ttl: number;
  /** TG dw1[11:10]: range granule, 0 = not a range, 1 = 4KB, 2 = 16KB, 3 = 64KB. */
  tg: number;
  /** NUM dw0[16:12]: range covers (NUM+1) x 2^SCALE granules. */
  num: number;
  /** SCALE dw0[24:20]. */
  scale: number;
}

/** Range fields for an ordinary single-address invalidation (spread and override). */
export const TLBI_NO_RANGE: Readonly<Omit<TlbiRangeFields, 'addr'>> = Object.freeze({
  leaf: false,
  ttl: 0,
  tg: 0,
  num: 0,
  scale: 0,
});

export interface CmdPrefetchConfig extends Substream, SsecField {
  op: 'CMD_PREFETCH_CONFIG';
  sid: number;
}
export interface CmdPrefetchAddr extends Substream, SsecField {
  op: 'CMD_PREFETCH_ADDR';
  sid: number;
  /** Size dw1[4:0]: prefetch 2^Size translation granules' worth (hint). */
  size: number;
  /** Address dw1[63:12]. */
  addr: bigint;
}
export interface CmdCfgiSte extends SsecField {
  op: 'CMD_CFGI_STE';
  sid: number;
  /** Leaf dw1[0]: 1 = only the STE; 0 = also the level-1 descriptor (L1STD) that leads to it. */
  leaf: boolean;
}
export interface CmdCfgiSteRange extends SsecField {
  op: 'CMD_CFGI_STE_RANGE';
  /** StreamID: the range is the 2^(Range+1) StreamIDs aligned around it. */
  sid: number;
  /** Range dw1[4:0]. Range = 31 decodes as CMD_CFGI_ALL. */
  range: number;
}
export interface CmdCfgiAll extends SsecField {
  op: 'CMD_CFGI_ALL';
}
export interface CmdCfgiCd extends SsecField {
  op: 'CMD_CFGI_CD';
  sid: number;
  /** SubstreamID dw0[31:12] (CFGI_CD has no SSV: SSID 0 is the CD for non-substream traffic). */
  ssid: number;
  /** Leaf dw1[0]: 1 = only the CD; 0 = also the L1CD that leads to it. */
  leaf: boolean;
}
export interface CmdCfgiCdAll extends SsecField {
  op: 'CMD_CFGI_CD_ALL';
  sid: number;
}
export interface CmdCfgiVmsPidm {
  op: 'CMD_CFGI_VMS_PIDM';
  /** VMID dw0[47:32] (arch, unconfirmed). */
  vmid: number;
}
export interface CmdTlbiNhAll {
  op: 'CMD_TLBI_NH_ALL';
  vmid: number;
}
export interface CmdTlbiNhAsid {
  op: 'CMD_TLBI_NH_ASID';
  vmid: number;
  asid: number;
}
export interface CmdTlbiNhVa extends TlbiRangeFields {
  op: 'CMD_TLBI_NH_VA';
  vmid: number;
  asid: number;
}
export interface CmdTlbiNhVaa extends TlbiRangeFields {
  op: 'CMD_TLBI_NH_VAA';
  vmid: number;
}
export interface CmdTlbiEl3All {
  op: 'CMD_TLBI_EL3_ALL';
}
export interface CmdTlbiEl3Va extends TlbiRangeFields {
  op: 'CMD_TLBI_EL3_VA';
}
export interface CmdTlbiEl2All {
  op: 'CMD_TLBI_EL2_ALL';
}
export interface CmdTlbiEl2Asid {
  op: 'CMD_TLBI_EL2_ASID';
  asid: number;
}
export interface CmdTlbiEl2Va extends TlbiRangeFields {
  op: 'CMD_TLBI_EL2_VA';
  asid: number;
}
export interface CmdTlbiEl2Vaa extends TlbiRangeFields {
  op: 'CMD_TLBI_EL2_VAA';
}
export interface CmdTlbiS12Vmall {
  op: 'CMD_TLBI_S12_VMALL';
  vmid: number;
}
export interface CmdTlbiS2Ipa extends TlbiRangeFields {
  op: 'CMD_TLBI_S2_IPA';
  vmid: number;
}
export interface CmdTlbiNsnhAll {
  op: 'CMD_TLBI_NSNH_ALL';
}
export interface CmdAtcInv extends Substream {
  op: 'CMD_ATC_INV';
  sid: number;
  /** Global dw0[9]: with SSV = 1, also invalidate global (any-PASID) ATC entries. */
  global: boolean;
  /** Size dw1[5:0]: span is 2^Size x 4KB, naturally aligned (52 = everything). */
  size: number;
  /** Address dw1[63:12]. */
  addr: bigint;
}
export interface CmdPriResp extends Substream {
  op: 'CMD_PRI_RESP';
  sid: number;
  /** Page Request Group index dw1[8:0]. */
  grpid: number;
  /** Resp dw1[13:12]: 0 Deny, 1 Fail, 2 Success (PRI_RESP). */
  resp: number;
}
export interface CmdResume extends SsecField {
  op: 'CMD_RESUME';
  sid: number;
  /** STAG dw1[15:0]: the stall tag from the event record. */
  stag: number;
  /** dw0[13:12] = AB:Ac (RESUME_ACTION). */
  action: number;
}
export interface CmdStallTerm extends SsecField {
  op: 'CMD_STALL_TERM';
  sid: number;
}
export interface CmdSync {
  op: 'CMD_SYNC';
  /** CS dw0[13:12]: completion signal, 0 none, 1 IRQ (MSI write), 2 SEV. 3 is reserved (CERROR_ILL). */
  cs: number;
  /** MSH dw0[23:22]: shareability of the MSI write. */
  msh: number;
  /** MSIAttr dw0[27:24]: memory type of the MSI write. */
  msiattr: number;
  /** MSIData dw0[63:32]: the 32-bit value written. */
  msidata: number;
  /** MSIAddress[51:2] in dw1[51:2]: the address written, 4-byte aligned. */
  msiaddr: bigint;
}

export type Command =
  | CmdPrefetchConfig
  | CmdPrefetchAddr
  | CmdCfgiSte
  | CmdCfgiSteRange
  | CmdCfgiAll
  | CmdCfgiCd
  | CmdCfgiCdAll
  | CmdCfgiVmsPidm
  | CmdTlbiNhAll
  | CmdTlbiNhAsid
  | CmdTlbiNhVa
  | CmdTlbiNhVaa
  | CmdTlbiEl3All
  | CmdTlbiEl3Va
  | CmdTlbiEl2All
  | CmdTlbiEl2Asid
  | CmdTlbiEl2Va
  | CmdTlbiEl2Vaa
  | CmdTlbiS12Vmall
  | CmdTlbiS2Ipa
  | CmdTlbiNsnhAll
  | CmdAtcInv
  | CmdPriResp
  | CmdResume
  | CmdStallTerm
  | CmdSync;

export type CommandOf<N extends CommandName> = Extract<Command, { op: N }>;

/** CMD_CFGI_ALL: CMD_CFGI_STE_RANGE with Range = 31 (StreamID ignored). */
export function cfgiAll(ssec = false): CmdCfgiAll {
  return ssec ? { op: 'CMD_CFGI_ALL', ssec: true } : { op: 'CMD_CFGI_ALL' };
}

// ---------------------------------------------------------------------------
// Layout table

/**
 * How a field maps to the command object:
 * - 'u': unsigned number, shifted down to bit 0;
 * - 'b': boolean (1-bit field);
 * - 'a': bigint address kept in place (the field's bits masked, not shifted);
 * - 'op': the opcode byte (not a property);
 * - 'k': a constant (CMD_CFGI_ALL's Range = 31), not a property.
 */
export type CommandFieldKind = 'u' | 'b' | 'a' | 'op' | 'k';

export interface CommandField extends FieldSpec {
  /** Property name in the Command object ('' for 'op' / 'k'). */
  key: string;
  kind: CommandFieldKind;
  /** Property omitted on decode when 0 (SSec). */
  optional?: boolean;
  /** For 'k': the constant value. */
  value?: number;
}

function f(name: string, key: string, hi: number, lo: number, kind: CommandFieldKind, doc: string, extra: Partial<CommandField> = {}): CommandField {
  return { name, key, hi, lo, kind, doc, ...extra };
}

const DW1 = 64;

const OPC = f('Opcode', '', 7, 0, 'op', 'Command opcode');
const SSEC = f('SSec', 'ssec', 10, 10, 'b', 'StreamID is Secure (legal only on the Secure command queue)', { optional: true });
const SSV = f('SSV', 'ssv', 11, 11, 'b', 'SubstreamID valid');
const SSID = f('SubstreamID', 'ssid', 31, 12, 'u', 'SubstreamID (PASID)');
const SID = f('StreamID', 'sid', 63, 32, 'u', 'StreamID');
const NUM = f('NUM', 'num', 16, 12, 'u', 'Range: number of granules minus one, scaled by 2^SCALE (RIL)');
const SCALE = f('SCALE', 'scale', 24, 20, 'u', 'Range: the range is (NUM+1) x 2^SCALE granules (RIL)');
const VMID = f('VMID', 'vmid', 47, 32, 'u', 'Virtual machine identifier');
const ASID = f('ASID', 'asid', 63, 48, 'u', 'Address space identifier');
const LEAF_TLBI = f('Leaf', 'leaf', DW1 + 0, DW1 + 0, 'b', 'Only leaf entries need be invalidated (walk caches may survive)');
const TTL = f('TTL', 'ttl', DW1 + 9, DW1 + 8, 'u', 'Level of the leaf entries: 0 unknown, 1..3 level');
const TG = f('TG', 'tg', DW1 + 11, DW1 + 10, 'u', 'Range granule: 0 not a range, 1 4KB, 2 16KB, 3 64KB');
const VA = f('Address', 'addr', DW1 + 63, DW1 + 12, 'a', 'VA[63:12]');
const IPA = f('Address', 'addr', DW1 + 51, DW1 + 12, 'a', 'IPA[51:12]');
const TLBI_RANGE = [LEAF_TLBI, TTL, TG];

/** Every command's fields, in bit order (absolute positions: dw1 bit b is 64 + b). */
export const COMMAND_LAYOUT: Readonly<Record<CommandName, readonly CommandField[]>> = Object.freeze({
  CMD_PREFETCH_CONFIG: [OPC, SSEC, SSV, SSID, SID],
  CMD_PREFETCH_ADDR: [
    OPC,
    SSEC,
    SSV,
    SSID,
    SID,
    f('Size', 'size', DW1 + 4, DW1 + 0, 'u', 'Prefetch span: 2^Size granules (hint; arch, unconfirmed)'),
    f('Address', 'addr', DW1 + 63, DW1 + 12, 'a', 'Address[63:12] to prefetch translations for'),
  ],
  CMD_CFGI_STE: [OPC, SSEC, SID, f('Leaf', 'leaf', DW1, DW1, 'b', '1: only the STE; 0: also the L1STD on the path to it')],
  CMD_CFGI_STE_RANGE: [
    OPC,
    SSEC,
    SID,
    f('Range', 'range', DW1 + 4, DW1 + 0, 'u', 'Invalidate the 2^(Range+1) StreamIDs aligned around StreamID; 31 = CMD_CFGI_ALL'),
  ],
  CMD_CFGI_ALL: [
    OPC,
    SSEC,
    f('Range', '', DW1 + 4, DW1 + 0, 'k', 'Range = 31: every StreamID (StreamID field ignored)', { value: CFGI_ALL_RANGE }),
  ],
  CMD_CFGI_CD: [
    OPC,
    SSEC,
    f('SubstreamID', 'ssid', 31, 12, 'u', 'SubstreamID of the CD (0 for non-substream traffic)'),
    SID,
    f('Leaf', 'leaf', DW1, DW1, 'b', '1: only the CD; 0: also the L1CD on the path to it'),
  ],
  CMD_CFGI_CD_ALL: [OPC, SSEC, SID],
  CMD_CFGI_VMS_PIDM: [OPC, f('VMID', 'vmid', 47, 32, 'u', 'VMID whose VMS PARTID map is invalidated (v3.2+; arch, unconfirmed)')],
  CMD_TLBI_NH_ALL: [OPC, VMID],
  CMD_TLBI_NH_ASID: [OPC, VMID, ASID],
  CMD_TLBI_NH_VA: [OPC, NUM, SCALE, VMID, ASID, ...TLBI_RANGE, VA],
  CMD_TLBI_NH_VAA: [OPC, NUM, SCALE, VMID, ...TLBI_RANGE, VA],
  CMD_TLBI_EL3_ALL: [OPC],
  CMD_TLBI_EL3_VA: [OPC, NUM, SCALE, ...TLBI_RANGE, VA],
  CMD_TLBI_EL2_ALL: [OPC],
  CMD_TLBI_EL2_ASID: [OPC, ASID],
  CMD_TLBI_EL2_VA: [OPC, NUM, SCALE, ASID, ...TLBI_RANGE, VA],
  CMD_TLBI_EL2_VAA: [OPC, NUM, SCALE, ...TLBI_RANGE, VA],
  CMD_TLBI_S12_VMALL: [OPC, VMID],
  CMD_TLBI_S2_IPA: [OPC, NUM, SCALE, VMID, ...TLBI_RANGE, IPA],
  CMD_TLBI_NSNH_ALL: [OPC],
  CMD_ATC_INV: [
    OPC,
    f('Global', 'global', 9, 9, 'b', 'With SSV: also invalidate global (PASID-less) ATC entries'),
    SSV,
    SSID,
    SID,
    f('Size', 'size', DW1 + 5, DW1 + 0, 'u', 'Span 2^Size x 4KB, aligned (52: everything)'),
    f('Address', 'addr', DW1 + 63, DW1 + 12, 'a', 'Untranslated address[63:12]'),
  ],
  CMD_PRI_RESP: [
    OPC,
    SSV,
    SSID,
    SID,
    f('PRGI', 'grpid', DW1 + 8, DW1 + 0, 'u', 'Page Request Group index being answered'),
    f('Resp', 'resp', DW1 + 13, DW1 + 12, 'u', 'Response: 0 Deny, 1 Fail (Invalid), 2 Success'),
  ],
  CMD_RESUME: [
    OPC,
    SSEC,
    f('Action', 'action', 13, 12, 'u', 'AB[13]:Ac[12]: 0 terminate (RAZ/WI), 1 retry, 2 abort; AB only matters when Ac = 0'),
    SID,
    f('STAG', 'stag', DW1 + 15, DW1 + 0, 'u', 'Stall tag of the stalled transaction (from the event)'),
  ],
  CMD_STALL_TERM: [OPC, SSEC, SID],
  CMD_SYNC: [
    OPC,
    f('CS', 'cs', 13, 12, 'u', 'Completion signal: 0 none, 1 IRQ (MSI write), 2 SEV; 3 reserved'),
    f('MSH', 'msh', 23, 22, 'u', 'MSI shareability: 0 NSH, 2 OSH, 3 ISH'),
    f('MSIAttr', 'msiattr', 27, 24, 'u', 'MSI memory attributes'),
    f('MSIData', 'msidata', 63, 32, 'u', 'MSI data (32 bits)'),
    f('MSIAddr', 'msiaddr', DW1 + 51, DW1 + 2, 'a', 'MSI address[51:2]'),
  ],
});

/** Field diagrams for views: name, absolute bit range, one-line doc. */
export const COMMAND_FIELDS: Readonly<Record<CommandName, FieldSpec[]>> = Object.freeze(
  Object.fromEntries(
    Object.entries(COMMAND_LAYOUT).map(([name, fields]) => [
      name,
      fields.map(({ name: n, hi, lo, doc }) => ({ name: n, hi, lo, doc })),
    ]),
  ) as Record<CommandName, FieldSpec[]>,
);

// ---------------------------------------------------------------------------
// Encode / decode

const FIELD_BITS = new Map<CommandField, [bigint, bigint]>();

/** A field's mask within its dword and its shift, computed once per field. */
function fieldBits(fl: CommandField): [bigint, bigint] {
  let r = FIELD_BITS.get(fl);
  if (r === undefined) {
    r = [genmask(fl.hi % 64, fl.lo % 64), BigInt(fl.lo % 64)];
    FIELD_BITS.set(fl, r);
  }
  return r;
}

function localMask(fl: CommandField): bigint {
  return fieldBits(fl)[0];
}

/** Encode a command as [dw0, dw1]. Fields wider than their slot are truncated. */
export function encodeCommand(c: Command): [bigint, bigint] {
  const dw: [bigint, bigint] = [0n, 0n];
  const obj = c as unknown as Record<string, unknown>;
  for (const fl of COMMAND_LAYOUT[c.op]) {
    const i = fl.lo >= 64 ? 1 : 0;
    const [m, lo] = fieldBits(fl);
    let v: bigint;
    switch (fl.kind) {
      case 'op':
        v = BigInt(OPCODE_OF[c.op]) << lo;
        break;
      case 'k':
        v = BigInt(fl.value ?? 0) << lo;
        break;
      case 'b':
        v = obj[fl.key] ? 1n << lo : 0n;
        break;
      case 'a':
        v = BigInt(obj[fl.key] as bigint);
        break;
      case 'u':
        v = BigInt(obj[fl.key] as number) << lo;
        break;
    }
    dw[i] |= v & m;
  }
  return dw;
}

export type DecodeResult = { ok: true; cmd: Command } | { ok: false; reason: string };

/**
 * Decode a command. Fails (the SMMU then reports CERROR_ILL) for an
 * unallocated opcode and for reserved field values the architecture makes
 * ILLEGAL regardless of features (CMD_SYNC CS = 0b11). Bits outside a
 * command's fields are RES0 and ignored. Feature-dependent legality is left
 * to the SMMU: see commandNeeds(). Never throws.
 */
export function decodeCommand(dw0: bigint, dw1: bigint): DecodeResult {
  const dw = [dw0 & U64_MASK, dw1 & U64_MASK];
  const opcode = Number(dw[0] & 0xffn);
  let name: CommandName | undefined = opcodeName(opcode);
  if (name === undefined) {
    return { ok: false, reason: `unknown opcode 0x${opcode.toString(16).padStart(2, '0')}` };
  }
  if (name === 'CMD_CFGI_STE_RANGE' && Number(dw[1] & 0x1fn) === CFGI_ALL_RANGE) name = 'CMD_CFGI_ALL';
  const obj: Record<string, unknown> = { op: name };
  for (const fl of COMMAND_LAYOUT[name]) {
    if (fl.kind === 'op' || fl.kind === 'k') continue;
    const w = dw[fl.lo >= 64 ? 1 : 0];
    const [m, sh] = fieldBits(fl);
    const raw = (w & m) >> sh;
    if (fl.kind === 'a') obj[fl.key] = w & m;
    else if (fl.kind === 'b') {
      if (raw !== 0n || !fl.optional) obj[fl.key] = raw !== 0n;
    } else obj[fl.key] = Number(raw);
  }
  const cmd = obj as unknown as Command;
  if (cmd.op === 'CMD_SYNC' && cmd.cs === 3) {
    return { ok: false, reason: 'CMD_SYNC: CS = 0b11 is reserved' };
  }
  return { ok: true, cmd };
}

/** Bits of [dw0, dw1] that a command's fields occupy (everything else is RES0). */
export function commandMask(name: CommandName): [bigint, bigint] {
  const m: [bigint, bigint] = [0n, 0n];
  for (const fl of COMMAND_LAYOUT[name]) m[fl.lo >= 64 ? 1 : 0] |= localMask(fl);
  return m;
}

// ---------------------------------------------------------------------------
// Feature requirements

export interface CommandNeeds {
  /** Needs stage 1 (SMMU_IDR0.S1P); ILLEGAL without it (CFGI_CD*, TLBI_NH_*, TLBI_EL2_*, TLBI_EL3_*). */
  s1?: boolean;
  /** Needs stage 2 (SMMU_IDR0.S2P); ILLEGAL without it (TLBI_S12_VMALL, TLBI_S2_IPA). */
  s2?: boolean;
  /** Needs the EL2 StreamWorld (SMMU_IDR0.HYP); ILLEGAL without it (TLBI_EL2_*). */
  hyp?: boolean;
  /**
   * Uses the range fields (TG != 0). They exist only with SMMU_IDR3.RIL;
   * without RIL they are RES0 and the command is an ordinary single-address
   * invalidation (see rangeOf(c, { ril: false })), not an error.
   */
  ril?: boolean;
  /** Legal only on the Secure command queue (TLBI_EL3_*, or SSec = 1); ILLEGAL on the Non-secure queue. */
  secure?: boolean;
  /** Needs ATS (SMMU_IDR0.ATS): CMD_ATC_INV (arch, unconfirmed that it is ILLEGAL without). */
  ats?: boolean;
  /** Needs PRI (SMMU_IDR0.PRI): CMD_PRI_RESP (arch, unconfirmed that it is ILLEGAL without). */
  pri?: boolean;
  /** Needs the stall model (SMMU_IDR0.STALL_MODEL != 0b01): CMD_RESUME, CMD_STALL_TERM (arch, unconfirmed). */
  stall?: boolean;
}

const RANGE_OPS: ReadonlySet<CommandName> = new Set<CommandName>([
  'CMD_TLBI_NH_VA',
  'CMD_TLBI_NH_VAA',
  'CMD_TLBI_EL3_VA',
  'CMD_TLBI_EL2_VA',
  'CMD_TLBI_EL2_VAA',
  'CMD_TLBI_S2_IPA',
]);

/** Is this one of the address-based TLBI commands with range fields? */
export function isRangeTlbi(c: Command): c is Extract<Command, TlbiRangeFields> {
  return RANGE_OPS.has(c.op);
}

/** What the SMMU must implement for this command to be legal (or, for ril, to be honoured as written). */
export function commandNeeds(c: Command): CommandNeeds {
  const n: CommandNeeds = {};
  if ('ssec' in c && c.ssec) n.secure = true;
  switch (c.op) {
    case 'CMD_CFGI_CD':
    case 'CMD_CFGI_CD_ALL':
    case 'CMD_TLBI_NH_ALL':
    case 'CMD_TLBI_NH_ASID':
    case 'CMD_TLBI_NH_VA':
    case 'CMD_TLBI_NH_VAA':
      n.s1 = true;
      break;
    case 'CMD_TLBI_EL2_ALL':
    case 'CMD_TLBI_EL2_ASID':
    case 'CMD_TLBI_EL2_VA':
    case 'CMD_TLBI_EL2_VAA':
      n.s1 = true;
      n.hyp = true;
      break;
    case 'CMD_TLBI_EL3_ALL':
    case 'CMD_TLBI_EL3_VA':
      n.s1 = true;
      n.secure = true;
      break;
    case 'CMD_TLBI_S12_VMALL':
    case 'CMD_TLBI_S2_IPA':
      n.s2 = true;
      break;
    case 'CMD_ATC_INV':
      n.ats = true;
      break;
    case 'CMD_PRI_RESP':
      n.pri = true;
      break;
    case 'CMD_RESUME':
    case 'CMD_STALL_TERM':
      n.stall = true;
      break;
    default:
      break;
  }
  if (isRangeTlbi(c) && c.tg !== 0) n.ril = true;
  return n;
}

// ---------------------------------------------------------------------------
// Range invalidation

/** Granule size in bytes for a TLBI TG value (1 = 4KB, 2 = 16KB, 3 = 64KB), or null for 0. */
export function tgGranule(tg: number): bigint | null {
  switch (tg) {
    case 1:
      return 4096n;
    case 2:
      return 16384n;
    case 3:
      return 65536n;
    default:
      return null;
  }
}

export interface TlbiRange {
  /** First address invalidated (VA, or IPA for TLBI_S2_IPA). */
  start: bigint;
  /** Bytes covered, or null: every entry (of any size) that contains `start`. */
  size: bigint | null;
  /** Level hint of the leaf entries (0 = none). */
  ttl: number;
  leaf: boolean;
  /** Granule of a range invalidation, null for a single address. */
  granule: bigint | null;
}

/**
 * The addresses an address-based TLBI covers, or null for other commands.
 * With TG = 0, or without range invalidation (`ril: false`, where TG, NUM,
 * SCALE and TTL are RES0), it is the single address `addr`: every entry
 * containing it. Otherwise (NUM+1) x 2^SCALE granules from `addr` rounded
 * down to the granule.
 */
export function rangeOf(c: Command, opts: { ril?: boolean } = {}): TlbiRange | null {
  if (!isRangeTlbi(c)) return null;
  const ril = opts.ril ?? true;
  const granule = ril ? tgGranule(c.tg) : null;
  if (granule === null) {
    return { start: c.addr, size: null, ttl: ril ? c.ttl : 0, leaf: c.leaf, granule: null };
  }
  const size = BigInt(c.num + 1) * (1n << BigInt(c.scale)) * granule;
  return { start: c.addr & ~(granule - 1n), size, ttl: c.ttl, leaf: c.leaf, granule };
}

// ---------------------------------------------------------------------------
// Text

/** One-line description, e.g. "CMD_CFGI_STE sid=0x5 leaf=1". */
export function formatCommand(c: Command): string {
  const parts: string[] = [c.op];
  const obj = c as unknown as Record<string, unknown>;
  for (const fl of COMMAND_LAYOUT[c.op]) {
    if (fl.kind === 'op' || fl.kind === 'k') continue;
    const v = obj[fl.key];
    if (v === undefined) continue;
    if (fl.kind === 'b') {
      if (fl.optional && !v) continue;
      parts.push(`${fl.key}=${v ? 1 : 0}`);
    } else if (typeof v === 'bigint' || typeof v === 'number') {
      parts.push(`${fl.key}=0x${v.toString(16)}`);
    }
  }
  return parts.join(' ');
}
