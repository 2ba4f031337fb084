/**
 * SMMUv3 event queue records: 32 bytes, four little-endian 64-bit dwords.
 *
 * Common layout (Arm IHI 0070 chapter 7; the masks match Linux
 * drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h EVTQ_* and QEMU's
 * hw/arm/smmuv3-internal.h EVT_SET_*):
 *   dw0  type[7:0], SSV[11], SubstreamID[31:12], StreamID[63:32]
 *   dw1  STAG[15:0], Stall[31], PnU[33], InD[34], RnW[35], S2[39],
 *        CLASS[41:40] (0 CD, 1 TT, 2 IN), TT_READ[44] (TTRnW)
 *   dw2  InputAddr[63:0]
 *   dw3  IPA[51:12] (stage-2 translation faults) or FetchAddr[51:3]
 *        (*_FETCH, F_WALK_EABT)
 *
 * Each event type carries only some of these; EVENT_LAYOUT says which, and
 * encodeEvent writes only those (the other bits are zero, as the SMMU writes
 * them). Fields the model does not produce (IMPLEMENTATION DEFINED Reason
 * codes, NSIPA[38], Secure-state NS bits) are not represented.
 */

import type { FieldSpec } from '../descriptor';
import { genmask, U64_MASK } from '../bits';

export const EVENT_CODES = Object.freeze({
  F_UUT: 0x01,
  C_BAD_STREAMID: 0x02,
  F_STE_FETCH: 0x03,
  C_BAD_STE: 0x04,
  F_BAD_ATS_TREQ: 0x05,
  F_STREAM_DISABLED: 0x06,
  F_TRANSL_FORBIDDEN: 0x07,
  C_BAD_SUBSTREAMID: 0x08,
  F_CD_FETCH: 0x09,
  C_BAD_CD: 0x0a,
  F_WALK_EABT: 0x0b,
  F_TRANSLATION: 0x10,
  F_ADDR_SIZE: 0x11,
  F_ACCESS: 0x12,
  F_PERMISSION: 0x13,
  F_TLB_CONFLICT: 0x20,
  F_CFG_CONFLICT: 0x21,
  E_PAGE_REQUEST: 0x24,
  F_VMS_FETCH: 0x25,
} as const);

export type EventName = keyof typeof EVENT_CODES;

/** Code -> name. */
export const EVENT_NAMES: Readonly<Record<number, EventName>> = Object.freeze(
  Object.fromEntries(Object.entries(EVENT_CODES).map(([k, v]) => [v, k as EventName])),
);

export function eventName(code: number): EventName | undefined {
  return Object.prototype.hasOwnProperty.call(EVENT_NAMES, code) ? EVENT_NAMES[code] : undefined;
}

/** CLASS: what the SMMU was accessing when the fault happened. */
export type EventClass = 'CD' | 'TT' | 'IN';
export const EVENT_CLASSES: readonly EventClass[] = ['CD', 'TT', 'IN'];

export interface EventRecord {
  type: EventName;
  /** The type code (EVENT_CODES[type]); encodeEvent uses `type`. */
  code: number;
  sid: number;
  ssv: boolean;
  ssid: number;
  /** STAG: stall tag, to be quoted by CMD_RESUME (stallable faults). */
  stag?: number;
  /** Stall: the transaction is stalled awaiting CMD_RESUME / CMD_STALL_TERM. */
  stall?: boolean;
  /** PnU: privileged (1) or unprivileged (0) transaction. */
  pnu?: boolean;
  /** InD: instruction (1) or data (0) transaction. */
  ind?: boolean;
  /** RnW: read (1) or write (0) transaction. */
  rnw?: boolean;
  /** S2: the fault arose at stage 2. */
  s2?: boolean;
  /** CLASS: CD fetch, translation-table walk, or the input address itself. */
  cls?: EventClass;
  /** TT_READ (TTRnW): with CLASS = TT, the table access was a read (1) or an HTTU write (0). */
  ttRead?: boolean;
  /** InputAddr: the transaction's input address. */
  inputAddr?: bigint;
  /** IPA[51:12] (bits [11:0] zero): the IPA being translated when a stage-2 fault occurred (S2 = 1). */
  ipa?: bigint;
  /** FetchAddr[51:3] (bits [2:0] zero): PA of the configuration/table access that aborted. */
  fetchAddr?: bigint;
}

/** Optional fields an event type may carry (sid/type are always present). */
export type EventFieldKey =
  | 'ssv'
  | 'ssid'
  | 'stag'
  | 'stall'
  | 'pnu'
  | 'ind'
  | 'rnw'
  | 's2'
  | 'cls'
  | 'ttRead'
  | 'inputAddr'
  | 'ipa'
  | 'fetchAddr';

// ---------------------------------------------------------------------------
// Field table (absolute bit positions within the 256-bit record: dwN bit b is 64N + b)

type Kind = 'u' | 'b' | 'a' | 'cls';

interface EvField extends FieldSpec {
  kind: Kind;
}

const ev = (name: string, hi: number, lo: number, kind: Kind, doc: string): EvField => ({ name, hi, lo, kind, doc });

const TYPE_FIELD = ev('Type', 7, 0, 'u', 'Event type code');
const SID_FIELD = ev('StreamID', 63, 32, 'u', 'StreamID of the transaction or configuration');

const FIELD_OF: Readonly<Record<EventFieldKey, EvField>> = {
  ssv: ev('SSV', 11, 11, 'b', 'SubstreamID valid'),
  ssid: ev('SubstreamID', 31, 12, 'u', 'SubstreamID (PASID)'),
  stag: ev('STAG', 64 + 15, 64 + 0, 'u', 'Stall tag, quoted by CMD_RESUME'),
  stall: ev('Stall', 64 + 31, 64 + 31, 'b', 'Transaction is stalled awaiting CMD_RESUME / CMD_STALL_TERM'),
  pnu: ev('PnU', 64 + 33, 64 + 33, 'b', 'Privileged (1) / unprivileged (0)'),
  ind: ev('InD', 64 + 34, 64 + 34, 'b', 'Instruction (1) / data (0)'),
  rnw: ev('RnW', 64 + 35, 64 + 35, 'b', 'Read (1) / write (0)'),
  s2: ev('S2', 64 + 39, 64 + 39, 'b', 'Fault arose at stage 2'),
  cls: ev('CLASS', 64 + 41, 64 + 40, 'cls', 'Access that faulted: 0 CD fetch, 1 translation table walk, 2 input address'),
  ttRead: ev('TT_READ', 64 + 44, 64 + 44, 'b', 'With CLASS = TT: table access was a read (1) or an HTTU update write (0)'),
  inputAddr: ev('InputAddr', 128 + 63, 128 + 0, 'a', 'Input address of the transaction'),
  ipa: ev('IPA', 192 + 51, 192 + 12, 'a', 'IPA[51:12] translated by stage 2 (S2 = 1 faults)'),
  fetchAddr: ev('FetchAddr', 192 + 51, 192 + 3, 'a', 'PA[51:3] of the fetch that aborted'),
};

/** The common record layout, for views (IPA and FetchAddr share dw3). */
export const EVENT_FIELDS: FieldSpec[] = [
  TYPE_FIELD,
  FIELD_OF.ssv,
  FIELD_OF.ssid,
  SID_FIELD,
  FIELD_OF.stag,
  FIELD_OF.stall,
  FIELD_OF.pnu,
  FIELD_OF.ind,
  FIELD_OF.rnw,
  FIELD_OF.s2,
  FIELD_OF.cls,
  FIELD_OF.ttRead,
  FIELD_OF.inputAddr,
  FIELD_OF.ipa,
  FIELD_OF.fetchAddr,
].map(({ name, hi, lo, doc }) => ({ name, hi, lo, doc }));

// ---------------------------------------------------------------------------
// Per-event layouts

export interface EventLayout {
  code: number;
  /** What the event means. */
  doc: string;
  /** Fields this event carries (besides Type and StreamID), in record order. */
  keys: readonly EventFieldKey[];
  /** Field diagram for this event: Type, StreamID and `keys`, with event-specific docs. */
  fields: FieldSpec[];
}

const SS: EventFieldKey[] = ['ssv', 'ssid'];
const TXN: EventFieldKey[] = ['pnu', 'ind', 'rnw'];
const FAULT: EventFieldKey[] = ['ssv', 'ssid', 'stag', 'stall', 'pnu', 'ind', 'rnw', 's2', 'cls', 'ttRead', 'inputAddr', 'ipa'];

function layout(name: EventName, doc: string, keys: EventFieldKey[], docs: Partial<Record<EventFieldKey, string>> = {}): EventLayout {
  const fields: FieldSpec[] = [TYPE_FIELD, ...keys.map((k) => FIELD_OF[k]), SID_FIELD]
    .sort((a, b) => a.lo - b.lo)
    .map((fl) => {
      const key = (Object.keys(FIELD_OF) as EventFieldKey[]).find((k) => FIELD_OF[k] === fl);
      return { name: fl.name, hi: fl.hi, lo: fl.lo, doc: (key && docs[key]) || fl.doc };
    });
  return { code: EVENT_CODES[name], doc, keys, fields };
}

const TRANSLATION_DOCS: Partial<Record<EventFieldKey, string>> = {
  inputAddr: 'Input address (VA; IPA for a stage-2-only stream) of the faulting transaction',
  ipa: 'With S2 = 1: the IPA whose stage-2 translation faulted (for CLASS = CD / TT, the IPA of the CD or table)',
  cls: 'CLASS: 0 the fault was on the CD fetch, 1 on a stage-1 table access (S2 only), 2 on the input address',
};

/** Which fields each event carries, with per-event meanings. */
export const EVENT_LAYOUT: Readonly<Record<EventName, EventLayout>> = Object.freeze({
  F_UUT: layout('F_UUT', 'Unsupported upstream transaction (the transaction type or attributes cannot be handled)', [...SS, ...TXN, 'inputAddr']),
  C_BAD_STREAMID: layout('C_BAD_STREAMID', 'StreamID out of range of the stream table, or its L1STD has Span = 0', SS),
  F_STE_FETCH: layout('F_STE_FETCH', 'External abort fetching the L1STD or the STE', [...SS, 'fetchAddr'], {
    fetchAddr: 'PA of the L1STD or STE whose fetch aborted',
  }),
  C_BAD_STE: layout('C_BAD_STE', 'STE.V = 0, or an STE field is ILLEGAL', SS),
  F_BAD_ATS_TREQ: layout('F_BAD_ATS_TREQ', 'ATS translation request not allowed (ATS disabled, or bypass with EATS rules)', [...SS, ...TXN, 'inputAddr']),
  F_STREAM_DISABLED: layout('F_STREAM_DISABLED', 'Traffic without a SubstreamID when STE.S1DSS = 0b00 (terminate)', []),
  F_TRANSL_FORBIDDEN: layout('F_TRANSL_FORBIDDEN', 'ATS-translated traffic that the STE does not allow (EATS / bypass rules)', ['rnw', 'inputAddr'], {
    inputAddr: 'The (already translated) address of the transaction',
  }),
  C_BAD_SUBSTREAMID: layout('C_BAD_SUBSTREAMID', 'SubstreamID out of range (>= 2^S1CDMax), or its L1CD is invalid; the SubstreamID is always valid in this record (no SSV)', ['ssid']),
  F_CD_FETCH: layout('F_CD_FETCH', 'External abort fetching a CD or L1CD', [...SS, 'fetchAddr'], {
    fetchAddr: 'PA of the CD or L1CD whose fetch aborted',
  }),
  C_BAD_CD: layout('C_BAD_CD', 'CD.V = 0, or a CD field is ILLEGAL', SS),
  F_WALK_EABT: layout('F_WALK_EABT', 'External abort on a translation table descriptor fetch', [...SS, ...TXN, 's2', 'cls', 'inputAddr', 'fetchAddr'], {
    fetchAddr: 'PA of the descriptor whose fetch aborted',
    s2: 'The aborting access was made by the stage-2 walk',
  }),
  F_TRANSLATION: layout('F_TRANSLATION', 'Translation fault: invalid descriptor, or input address out of range (recorded if CD.R / STE.S2R)', FAULT, TRANSLATION_DOCS),
  F_ADDR_SIZE: layout('F_ADDR_SIZE', 'Address size fault: an output or table address too large (recorded if CD.R / STE.S2R)', FAULT, TRANSLATION_DOCS),
  F_ACCESS: layout('F_ACCESS', 'Access flag fault: AF = 0 without HTTU (recorded if CD.R / STE.S2R)', FAULT, TRANSLATION_DOCS),
  F_PERMISSION: layout('F_PERMISSION', 'Permission fault: AP / S2AP / XN denies the access (recorded if CD.R / STE.S2R)', FAULT, TRANSLATION_DOCS),
  F_TLB_CONFLICT: layout('F_TLB_CONFLICT', 'Multiple TLB entries match the transaction', [...SS, ...TXN, 's2', 'inputAddr']),
  F_CFG_CONFLICT: layout('F_CFG_CONFLICT', 'Multiple configuration cache entries match', SS),
  E_PAGE_REQUEST: layout('E_PAGE_REQUEST', 'Speculative page-request hint for a stalled transaction (stall model)', [...SS, ...TXN, 'inputAddr']),
  F_VMS_FETCH: layout('F_VMS_FETCH', 'External abort fetching a VMS (SMMUv3.2+)', [...SS, 'fetchAddr'], {
    fetchAddr: 'PA of the VMS whose fetch aborted',
  }),
});

// ---------------------------------------------------------------------------
// Encode / decode

function has(name: EventName, k: EventFieldKey): boolean {
  return EVENT_LAYOUT[name].keys.includes(k);
}

function put(dw: bigint[], fl: EvField, v: bigint): void {
  const i = Math.floor(fl.lo / 64);
  const lo = fl.lo % 64;
  const m = genmask(fl.hi % 64, lo);
  dw[i] |= (fl.kind === 'a' ? v : v << BigInt(lo)) & m;
}

function get(dw: readonly bigint[], fl: EvField): bigint {
  const i = Math.floor(fl.lo / 64);
  const lo = fl.lo % 64;
  const w = dw[i] & genmask(fl.hi % 64, lo);
  return fl.kind === 'a' ? w : w >> BigInt(lo);
}

/**
 * The record as decode(encode(e)) gives it: only the fields e's type
 * carries; booleans present (false when unset), IPA only when S2,
 * TT_READ only when CLASS = TT, addresses masked to their field.
 */
export function canonicalEvent(e: EventRecord): EventRecord {
  return decodeEvent(encodeEvent(e));
}

/** Encode an event as four dwords; fields its type does not carry are not written. */
export function encodeEvent(e: EventRecord): [bigint, bigint, bigint, bigint] {
  const t = e.type;
  const dw = [0n, 0n, 0n, 0n];
  put(dw, TYPE_FIELD, BigInt(EVENT_CODES[t]));
  put(dw, SID_FIELD, BigInt(e.sid));
  const clsVal = e.cls === undefined ? undefined : EVENT_CLASSES.indexOf(e.cls);
  for (const k of EVENT_LAYOUT[t].keys) {
    const fl = FIELD_OF[k];
    switch (k) {
      case 'cls':
        if (clsVal !== undefined && clsVal >= 0) put(dw, fl, BigInt(clsVal));
        break;
      case 'ttRead':
        if (e.cls === 'TT' && e.ttRead) put(dw, fl, 1n);
        break;
      case 'ipa':
        if (e.s2 && e.ipa !== undefined) put(dw, fl, e.ipa);
        break;
      default: {
        const v = e[k];
        if (v === undefined) break;
        put(dw, fl, typeof v === 'boolean' ? (v ? 1n : 0n) : BigInt(v));
      }
    }
  }
  return dw as [bigint, bigint, bigint, bigint];
}

export type EventDecodeResult = { ok: true; event: EventRecord } | { ok: false; code: number; reason: string };

/** Decode an event record; fails (never throws) for an unknown type code or fewer than 4 dwords. */
export function tryDecodeEvent(raw: readonly bigint[]): EventDecodeResult {
  if (raw.length < 4) return { ok: false, code: -1, reason: `an event record is 4 dwords, got ${raw.length}` };
  const dw = raw.slice(0, 4).map((d) => d & U64_MASK);
  const code = Number(get(dw, TYPE_FIELD));
  const type = eventName(code);
  if (type === undefined) {
    return { ok: false, code, reason: `unknown event type 0x${code.toString(16).padStart(2, '0')}` };
  }
  const e: EventRecord = { type, code, sid: Number(get(dw, SID_FIELD)), ssv: false, ssid: 0 };
  for (const k of EVENT_LAYOUT[type].keys) {
    const fl = FIELD_OF[k];
    const v = get(dw, fl);
    switch (k) {
      case 'ssv':
      case 'stall':
      case 'pnu':
      case 'ind':
      case 'rnw':
      case 's2':
        e[k] = v !== 0n;
        break;
      case 'ssid':
      case 'stag':
        e[k] = Number(v);
        break;
      case 'cls':
        if (v < 3n) e.cls = EVENT_CLASSES[Number(v)];
        break;
      case 'ttRead':
        break; // after cls, below
      case 'ipa':
        break; // after s2, below
      case 'inputAddr':
      case 'fetchAddr':
        e[k] = v;
        break;
    }
  }
  if (has(type, 'ttRead') && e.cls === 'TT') e.ttRead = get(dw, FIELD_OF.ttRead) !== 0n;
  if (has(type, 'ipa') && e.s2) e.ipa = get(dw, FIELD_OF.ipa);
  return { ok: true, event: e };
}

/** Decode an event record; throws RangeError for an unknown type code (use tryDecodeEvent on untrusted memory). */
export function decodeEvent(dw: readonly bigint[]): EventRecord {
  const r = tryDecodeEvent(dw);
  if (!r.ok) throw new RangeError(r.reason);
  return r.event;
}

/** Build a record with `code` filled in from `type`. */
export function makeEvent(type: EventName, fields: Omit<EventRecord, 'type' | 'code' | 'ssv' | 'ssid'> & { ssv?: boolean; ssid?: number }): EventRecord {
  return { ssv: false, ssid: 0, ...fields, type, code: EVENT_CODES[type] };
}

/** One-line description, e.g. "F_TRANSLATION sid=0x42 ssid=0x5 read s2 TT addr=0x1000 ipa=0x8000". */
export function formatEvent(e: EventRecord): string {
  const p: string[] = [e.type, `sid=0x${e.sid.toString(16)}`];
  if (e.ssv) p.push(`ssid=0x${e.ssid.toString(16)}`);
  if (e.rnw !== undefined) p.push(e.rnw ? 'read' : 'write');
  if (e.pnu) p.push('priv');
  if (e.ind) p.push('inst');
  if (e.s2) p.push('s2');
  if (e.cls) p.push(e.cls + (e.ttRead === undefined ? '' : e.ttRead ? '(read)' : '(write)'));
  if (e.stall) p.push(`stall stag=0x${(e.stag ?? 0).toString(16)}`);
  if (e.inputAddr !== undefined) p.push(`addr=0x${e.inputAddr.toString(16)}`);
  if (e.ipa !== undefined) p.push(`ipa=0x${e.ipa.toString(16)}`);
  if (e.fetchAddr !== undefined) p.push(`fetch=0x${e.fetchAddr.toString(16)}`);
  return p.join(' ');
}
