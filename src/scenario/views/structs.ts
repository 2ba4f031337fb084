/**
 * Register diagrams of the SMMU's in-memory structures: STE, CD, L1STD,
 * L1CD, translation table descriptors, command queue entries and event
 * records. Each view carries decoded summary lines (`notes`) and
 * CPUlator-style one-line warnings for legal-but-suspicious programming
 * (fields a disabled stage ignores, RES0 bits set, reserved encodings,
 * ILLEGAL reasons).
 *
 * Pure functions of their arguments; they never throw on bad data.
 */

import { bit, field, genmask } from '../../emu/bits';
import {
  type FieldSpec,
  type Granule,
  blockSize,
  descAddress,
  fieldsFor,
  granuleShift,
  levelShift,
} from '../../emu/descriptor';
import { CD_FIELDS, L1CD_FIELDS, decodeCd, describeCd, tg1Granule, validateCd } from '../../emu/smmu/cd';
import { COMMAND_FIELDS, CERROR_NAMES, commandMask, decodeCommand, formatCommand, opcodeName } from '../../emu/smmu/commands';
import { EVENT_CLASSES, EVENT_FIELDS, EVENT_LAYOUT, eventName, formatEvent, tryDecodeEvent } from '../../emu/smmu/events';
import type { SmmuFeatures } from '../../emu/smmu/features';
import { AP_S1, S2AP, descKindAt, descMeaning } from './descfields';
import {
  L1STD_FIELDS,
  STE_FIELDS,
  decodeSte,
  describeSte,
  granuleName,
  s2ParamsFromSte,
  steConfigName,
  tg0Granule,
  validateSte,
} from '../../emu/smmu/ste';
import { effectivePaBits, s1StartLevel, s2Concatenated, s2ConfigError, s2StartLevel } from '../../emu/walk';
import type { RegisterView } from '../view';
import {
  type MeaningFn,
  bin,
  cacheability,
  flag,
  hx,
  mairHalf,
  psMeaning,
  registerView,
  res0Warnings,
  s2MemAttrName,
  shareability,
  sizeName,
  u64,
} from './common';

const CONFIG_MEANING = [
  'abort: every transaction is terminated, no event',
  'reserved: behaves as abort (no event)',
  'reserved: behaves as abort (no event)',
  'reserved: behaves as abort (no event)',
  'bypass: S1 bypass, S2 bypass (PA = input address)',
  'S1 translate, S2 bypass',
  'S1 bypass, S2 translate',
  'nested: S1 translate, then S2 translate',
];

function tgName(g: Granule | undefined): string {
  return g === undefined ? 'reserved' : `${granuleName(g)} granule`;
}

/** Field meanings of an STE. */
export const steMeaning: MeaningFn = (name, v, all) => {
  const n = Number(v & 0xffffffffn);
  switch (name) {
    case 'V':
      return flag(v, 'valid', 'invalid: every other field IGNORED; traffic gets C_BAD_STE');
    case 'Config':
      return `${bin(n, 3)}: ${CONFIG_MEANING[n & 7]}`;
    case 'S1Fmt':
      return ['linear CD table', '2-level CD table, 4KB leaves (64 CDs each)', '2-level CD table, 64KB leaves (1024 CDs each)', 'reserved (behaves as linear)'][n & 3];
    case 'S1ContextPtr':
      return `CD table at ${hx(v << 6n)}`;
    case 'S1CDMax':
      return n === 0 ? 'one CD, no SubstreamIDs' : `2^${n} = ${2 ** n} CDs (SubstreamIDs 0..${2 ** n - 1})`;
    case 'S1DSS':
      return ['no SubstreamID: terminate (F_STREAM_DISABLED)', 'no SubstreamID: bypass stage 1', 'no SubstreamID: use CD 0 (SSID 0 refused)', 'reserved (behaves as terminate)'][n & 3];
    case 'S1CIR':
    case 'S1COR':
    case 'S2IR0':
    case 'S2OR0':
      return cacheability(v);
    case 'S1CSH':
    case 'S2SH0':
    case 'SHCFG':
      return name === 'SHCFG' ? ['non-shareable', 'use incoming', 'outer shareable', 'inner shareable'][n & 3] : shareability(v);
    case 'STRW':
      return ['NS-EL1', 'reserved', 'EL2 (or EL2-E2H with CR2.E2H)', 'reserved'][n & 3];
    case 'PRIVCFG':
      return ['use incoming', 'reserved (as use incoming)', 'force unprivileged', 'force privileged'][n & 3];
    case 'INSTCFG':
      return ['use incoming', 'reserved (as use incoming)', 'force data', 'force instruction'][n & 3];
    case 'EATS':
      return n === 0 ? 'ATS refused' : 'ATS (IGNORED: no ATS on this SMMU)';
    case 'S2VMID':
      return `VMID ${n}`;
    case 'S2T0SZ':
      return n > 39 || n < 12 ? `${64 - n}-bit IPA (out of range)` : `${64 - n}-bit IPA space`;
    case 'S2SL0': {
      const g = tg0Granule(Number(all.get('S2TG') ?? 0n));
      if (g === undefined) return undefined;
      const sl = s2StartLevel(n, g);
      return sl === undefined ? 'reserved for this granule' : `walk starts at level ${sl}`;
    }
    case 'S2TG':
      return tgName(tg0Granule(n));
    case 'S2PS':
      return psMeaning(v);
    case 'S2AA64':
      return flag(v, 'VMSAv8-64 tables', 'VMSAv8-32 LPAE tables (not supported)');
    case 'S2ENDI':
      return flag(v, 'big-endian tables (not supported)', 'little-endian tables');
    case 'S2AFFD':
      return flag(v, 'access flag faults disabled', 'AF = 0 faults');
    case 'S2PTW':
      return flag(v, 'S1 walks to S2 Device memory fault', 'no protected table walk');
    case 'S2R':
      return flag(v, 'S2 faults recorded as events', 'S2 faults not recorded');
    case 'S2S':
      return flag(v, 'S2 faults stall (not supported)', 'S2 faults terminate');
    case 'S2HA':
    case 'S2HD':
      return flag(v, 'HTTU requested (not supported)', 'no hardware update');
    case 'S2TTB':
      return `S2 table at ${hx(v << 4n)}`;
    case 'S1STALLD':
      return flag(v, 'stalls disabled (ILLEGAL here)', 'stalls allowed');
    case 'MTCFG':
      return flag(v, 'memory type overridden with MemAttr', 'incoming memory type');
    case 'MemAttr':
      return s2MemAttrName(n);
    default:
      return undefined;
  }
};

const S1_NAMES = ['S1Fmt', 'S1ContextPtr', 'S1CDMax', 'S1DSS', 'S1CIR', 'S1COR', 'S1CSH', 'S1STALLD'];
const S2_NAMES = ['S2VMID', 'S2T0SZ', 'S2SL0', 'S2IR0', 'S2OR0', 'S2SH0', 'S2TG', 'S2PS', 'S2AA64', 'S2ENDI', 'S2AFFD', 'S2PTW', 'S2HD', 'S2HA', 'S2S', 'S2R', 'S2TTB'];

/**
 * STE `sid` as a register diagram. Notes: the decoded configuration (stages,
 * CD table, stage-2 geometry). Warnings: the ILLEGAL reason (C_BAD_STE),
 * describeSte()'s hints, fields set under an abort Config, RES0 bits.
 */
export function steView(sid: number, dwords: readonly bigint[], f: SmmuFeatures, opts: { title?: string; smmuHasHyp?: boolean } = {}): RegisterView {
  const dw = Array.from({ length: 8 }, (_, i) => u64(dwords[i]));
  const ste = decodeSte(dw);
  const notes: string[] = [];
  const warnings: string[] = [];
  const hasHyp = opts.smmuHasHyp ?? f.hyp;
  const v = validateSte(ste, f, hasHyp);
  const cfg = ste.Config & 7;
  if ((ste.V & 1) === 1) {
    const name = steConfigName(cfg);
    notes.push(`Config ${bin(cfg, 3)}: ${CONFIG_MEANING[cfg]}`);
    if (!v.ok) warnings.push(`ILLEGAL (C_BAD_STE): ${v.reason}`);
    if (name === 's1' || name === 'nested') {
      const cdmax = f.ssidsize === 0 ? 0 : ste.S1CDMax;
      const fmt = cdmax === 0 || ste.S1Fmt === 3 ? 'linear' : ste.S1Fmt === 1 ? '2-level (4KB leaves)' : ste.S1Fmt === 2 ? '2-level (64KB leaves)' : 'linear';
      notes.push(`CD table at ${name === 'nested' ? 'IPA' : 'PA'} ${hx(ste.S1ContextPtr)}: ${fmt}, ${2 ** cdmax} CD${cdmax === 0 ? '' : 's'}`);
    }
    if (name === 's2' || name === 'nested') {
      const g = tg0Granule(ste.S2TG);
      if (g !== undefined) {
        const p = s2ParamsFromSte(ste, f);
        const err = s2ConfigError(p);
        if (!err) {
          const sl = s2StartLevel(p.sl0, g) as number;
          const c = s2Concatenated(p);
          notes.push(
            `S2: ${granuleName(g)} granule, ${64 - p.tsz}-bit IPA, start level ${sl}${c > 1 ? ` (${c} concatenated tables)` : ''}, ` +
              `${effectivePaBits(p.ps, f.oas, g)}-bit PA, S2TTB ${hx(p.ttb)}, VMID ${ste.S2VMID}`,
          );
        }
      }
    }
    if (name === 'abort') {
      const set = [...S1_NAMES, ...S2_NAMES].filter((n) => {
        const x = (ste as unknown as Record<string, number | bigint>)[n];
        return typeof x === 'bigint' ? x !== 0n : x !== 0;
      });
      // A plain abort STE is what Linux writes for every unused StreamID: a note, not a warning.
      if (set.length > 0) warnings.push(`V = 1 with Config = abort, yet ${set.join(', ')} set: IGNORED (transactions are terminated without an event)`);
    }
  } else {
    notes.push('V = 0: not valid; a transaction gets C_BAD_STE');
  }
  try {
    // The nested reminder is information, not a warning.
    for (const line of describeSte(ste, f, hasHyp)) (line.startsWith('Config = nested:') ? notes : warnings).push(line);
  } catch {
    // describeSte is total on decoded STEs; never let a view throw.
  }
  warnings.push(...res0Warnings(dw, STE_FIELDS, 'STE'));
  return registerView(opts.title ?? `STE ${sid}`, dw, STE_FIELDS, notes, warnings, steMeaning);
}

/** Field meanings of a CD. */
export const cdMeaning: MeaningFn = (name, v, all) => {
  const n = Number(v & 0xffffffffn);
  switch (name) {
    case 'T0SZ':
    case 'T1SZ':
      return `${64 - n}-bit VA region`;
    case 'TG0':
      return tgName(tg0Granule(n));
    case 'TG1':
      return tgName(tg1Granule(n));
    case 'IR0':
    case 'OR0':
    case 'IR1':
    case 'OR1':
      return cacheability(v);
    case 'SH0':
    case 'SH1':
      return shareability(v);
    case 'EPD0':
      return flag(v, 'TTB0 walks disabled (low-half misses fault)', 'TTB0 walks enabled');
    case 'EPD1':
      return flag(v, 'TTB1 walks disabled (high-half misses fault)', 'TTB1 walks enabled');
    case 'ENDI':
      return flag(v, 'big-endian tables (not supported)', 'little-endian tables');
    case 'V':
      return flag(v, 'valid', 'invalid: traffic gets C_BAD_CD');
    case 'IPS':
      return psMeaning(v);
    case 'AFFD':
      return flag(v, 'access flag faults disabled', 'AF = 0 faults');
    case 'WXN':
      return flag(v, 'writable implies execute-never', 'no WXN');
    case 'TBI0':
    case 'TBI1':
      return flag(v, 'top byte ignored', 'top byte checked');
    case 'PAN':
      return flag(v, 'privileged access to EL0 pages faults', 'no PAN');
    case 'AA64':
      return flag(v, 'VMSAv8-64 tables', 'VMSAv8-32 LPAE (not supported)');
    case 'HA':
    case 'HD':
      return flag(v, 'HTTU requested (not supported)', 'no hardware update');
    case 'S':
      return flag(v, 'faults stall (not supported)', 'faults terminate');
    case 'R':
      return flag(v, 'S1 faults recorded as events', 'S1 faults not recorded');
    case 'A':
      return flag(v, 'terminated transactions abort', 'RAZ/WI termination (ILLEGAL here)');
    case 'ASET':
      return flag(v, 'ASID not shared with the PEs', 'ASID shared with the PEs');
    case 'ASID':
      return `ASID ${n}`;
    case 'TTB0':
    case 'TTB1': {
      const epd = all.get(name === 'TTB0' ? 'EPD0' : 'EPD1') ?? 0n;
      return `table at ${hx(v << 4n)}${epd !== 0n ? ' (IGNORED: EPD = 1)' : ''}`;
    }
    case 'MAIR0':
      return mairHalf(v, 0);
    case 'MAIR1':
      return mairHalf(v, 4);
    case 'HAD0':
    case 'HAD1':
      return flag(v, 'hierarchical attributes disabled', 'APTable/XNTable honoured');
    default:
      return undefined;
  }
};

function halfNote(x: 0 | 1, tsz: number, g: Granule | undefined, epd: boolean, ttb: bigint): string {
  if (epd) return `TTB${x} disabled (EPD${x} = 1)`;
  if (g === undefined) return `TTB${x}: reserved granule`;
  const ia = 64 - tsz;
  const sl = s1StartLevel(ia, g);
  const ok = sl >= 0 && sl <= 3;
  return `TTB${x} ${hx(ttb)}: ${granuleName(g)} granule, ${ia}-bit VA${ok ? `, start level ${sl}` : ''}`;
}

/**
 * CD `ssid` of stream `sid` as a register diagram. `nested`: the STE is
 * nested, so TTB0/TTB1 are IPAs.
 */
export function cdView(sid: number, ssid: number, dwords: readonly bigint[], f: SmmuFeatures, nested = false, opts: { title?: string } = {}): RegisterView {
  const dw = Array.from({ length: 8 }, (_, i) => u64(dwords[i]));
  const cd = decodeCd(dw);
  const notes: string[] = [];
  const warnings: string[] = [];
  if ((cd.V & 1) === 1) {
    notes.push(`ASID ${cd.ASID}, ${psMeaning(BigInt(cd.IPS & 7))}`);
    notes.push(halfNote(0, cd.T0SZ, tg0Granule(cd.TG0), (cd.EPD0 & 1) === 1, cd.TTB0));
    notes.push(halfNote(1, cd.T1SZ, tg1Granule(cd.TG1), (cd.EPD1 & 1) === 1, cd.TTB1));
    const v = validateCd(cd, f, nested);
    if (!v.ok) warnings.push(`ILLEGAL (C_BAD_CD): ${v.reason}`);
    if ((cd.EPD0 & 1) === 0 && cd.TTB0 === 0n) warnings.push('EPD0 = 0 but TTB0 = 0: low-half walks read a table at address 0');
    if ((cd.EPD1 & 1) === 0 && cd.TTB1 === 0n) warnings.push('EPD1 = 0 but TTB1 = 0: high-half walks read a table at address 0');
    try {
      for (const line of describeCd(cd, f, nested)) (line.startsWith('Nested:') ? notes : warnings).push(line);
    } catch {
      // never throw from a view
    }
  } else {
    notes.push('V = 0: not valid; a transaction using it gets C_BAD_CD');
    if (dw.some((w, i) => (i === 0 ? w & ~(1n << 31n) : w) !== 0n)) warnings.push('V = 0, but other fields are set: IGNORED until V = 1');
  }
  warnings.push(...res0Warnings(dw, CD_FIELDS, 'CD'));
  return registerView(opts.title ?? `CD ${ssid} of SID ${sid}`, dw, CD_FIELDS, notes, warnings, cdMeaning);
}

/**
 * An L1STD (2-level stream table descriptor). `split`: STRTAB_BASE_CFG.SPLIT
 * (for the span check); `index`: its L1 index (for the title).
 */
export function l1stdView(dw: bigint, split?: number, index?: number): RegisterView {
  const w = u64(dw);
  const span = Number(w & 0x1fn);
  const l2 = w & genmask(51, 6);
  const notes: string[] = [];
  const warnings: string[] = [];
  if (span === 0) notes.push('Span = 0: invalid; its StreamIDs get C_BAD_STREAMID');
  else if (span > 11) warnings.push(`Span ${span} is reserved and behaves as 0 (invalid)`);
  else {
    notes.push(`${2 ** (span - 1)} STEs at ${hx(l2)}`);
    if (split !== undefined && span > split + 1) warnings.push(`Span ${span} > SPLIT + 1 = ${split + 1}: treated as invalid`);
    const bytes = BigInt(2 ** (span - 1) * 64);
    if ((l2 & (bytes - 1n)) !== 0n) warnings.push(`L2Ptr ${hx(l2)} is not aligned to its ${bytes}-byte array: the low bits are treated as 0`);
  }
  warnings.push(...res0Warnings([w], L1STD_FIELDS, 'L1STD'));
  const meaning: MeaningFn = (name, v) => {
    if (name === 'Span') {
      const s = Number(v);
      return s === 0 ? 'invalid' : s > 11 ? 'reserved (as invalid)' : `${2 ** (s - 1)} STEs`;
    }
    if (name === 'L2Ptr') return `STE array at ${hx(v << 6n)}`;
    return undefined;
  };
  return registerView(index === undefined ? 'L1STD' : `L1STD ${index}`, [w], L1STD_FIELDS, notes, warnings, meaning);
}

/** An L1CD (2-level CD table descriptor). */
export function l1cdView(dw: bigint, index?: number, opts: { sid?: number } = {}): RegisterView {
  const w = u64(dw);
  const notes: string[] = [];
  const warnings: string[] = [];
  if ((w & 1n) === 0n) notes.push('V = 0: its SubstreamIDs get C_BAD_SUBSTREAMID');
  else notes.push(`level-2 CD table at ${hx(w & genmask(51, 12))}`);
  warnings.push(...res0Warnings([w], L1CD_FIELDS, 'L1CD'));
  const meaning: MeaningFn = (name, v) => {
    if (name === 'V') return flag(v, 'valid', 'invalid');
    if (name === 'L2Ptr') return `CD table at ${hx(v << 12n)}`;
    return undefined;
  };
  const title = `L1CD${index === undefined ? '' : ` ${index}`}${opts.sid === undefined ? '' : ` of SID ${opts.sid}`}`;
  return registerView(title, [w], L1CD_FIELDS, notes, warnings, meaning);
}

// ---------------------------------------------------------------------------
// Translation table descriptors

export { descKindAt, descriptorFields } from './descfields';

/**
 * A translation table descriptor at `level` as a register diagram, titled
 * e.g. `L3 page descriptor (stage 1)`. `lpa`: the 52-bit 64KB layout
 * (OA[51:48] in bits [15:12]).
 */
export function descriptorView(desc: bigint, stage: 1 | 2, level: number, granule: Granule, lpa = false): RegisterView {
  const d = u64(desc);
  const lvl = Math.max(0, Math.min(3, Math.trunc(level)));
  const kind = descKindAt(d, lvl, granule, lpa ? 52 : 48);
  const specs: FieldSpec[] = fieldsFor(stage, kind === 'reserved' ? 'invalid' : kind);
  const notes: string[] = [];
  const warnings: string[] = [];
  const gs = granuleShift(granule);
  if (kind === 'table') {
    notes.push(`next-level (L${lvl + 1}) table at ${hx(descAddress(d, granule, BigInt(granule), lpa))}`);
  } else if (kind === 'block' || kind === 'page') {
    const size = kind === 'page' ? BigInt(granule) : blockSize(granule, lvl);
    const oa = descAddress(d, granule, size, lpa);
    if (stage === 1) {
      const ap = Number(field(d, 7, 6));
      notes.push(`${sizeName(size)} ${kind} → ${hx(oa)}, ${AP_S1[ap]}, AttrIndx ${field(d, 4, 2)}${bit(d, 54) ? ', UXN' : ''}${bit(d, 53) ? ', PXN' : ''}`);
    } else {
      notes.push(`${sizeName(size)} ${kind} → ${hx(oa)}, S2AP ${S2AP[Number(field(d, 7, 6))]}, ${s2MemAttrName(Number(field(d, 5, 2)))}${bit(d, 54) ? ', XN' : ''}`);
    }
    if (!bit(d, 10)) warnings.push('AF = 0: the first access through this entry takes an access flag fault (no HTTU)');
    // OA bits below the block size (and below the granule) are RES0.
    const low = d & genmask(Math.min(47, Number(levelShift(granule, lvl)) - 1), 12);
    const lowAllowed = granule === 65536 && lpa ? genmask(15, 12) : 0n;
    if ((low & ~lowAllowed) !== 0n) warnings.push(`output address bits below the ${sizeName(size)} ${kind} size are set: RES0`);
    if (!(granule === 65536 && lpa) && field(d, 49, 48) !== 0n) warnings.push('bits [49:48] are set: RES0 without 52-bit addresses');
  } else if (kind === 'reserved') {
    warnings.push(
      lvl === 3
        ? 'Valid = 1, Type = 0 at level 3 is reserved: a translation fault'
        : `a block at level ${lvl} is not allowed with the ${sizeName(BigInt(granule))} granule: a translation fault`,
    );
  } else if (d !== 0n) {
    notes.push('invalid (Valid = 0): the other bits are IGNORED (software may keep data there)');
  }
  if (kind === 'table') {
    const low = d & genmask(gs - 1, 12) & ~(granule === 65536 && lpa ? genmask(15, 12) : 0n);
    if (low !== 0n) warnings.push(`next-table address bits below the ${sizeName(BigInt(granule))} granule are set: RES0`);
    if (!(granule === 65536 && lpa) && field(d, 51, 48) !== 0n) warnings.push('bits [51:48] are set: RES0 without 52-bit addresses');
  }
  const title = `L${lvl} ${kind} descriptor (stage ${stage})`;
  const view = registerView(title, [d], specs, notes, warnings, descMeaning(lvl, granule, kind, lpa, d));
  return view;
}

// ---------------------------------------------------------------------------
// Command queue entries and event records

/** Meanings of command fields. */
const commandMeaning = (op: string): MeaningFn => (name, v) => {
  switch (name) {
    case 'Opcode':
      return op;
    case 'CS':
      return ['no completion signal', 'IRQ (MSI write)', 'SEV', 'reserved (CERROR_ILL)'][Number(v & 3n)];
    case 'TG':
      return ['not a range', '4KB range granule', '16KB range granule', '64KB range granule'][Number(v & 3n)];
    case 'TTL':
      return v === 0n ? 'leaf level unknown' : `leaf at level ${v}`;
    case 'Leaf':
      return flag(v, 'leaf entries only', 'leaf and walk-cache entries');
    case 'SSV':
      return flag(v, 'SubstreamID valid', 'no SubstreamID');
    case 'Range':
      return v === 31n ? 'every StreamID (CFGI_ALL)' : `${2 ** (Number(v) + 1)} StreamIDs`;
    case 'Address':
      return hx(v << 12n);
    case 'MSIAddr':
      return hx(v << 2n);
    default:
      return undefined;
  }
};

/** A command queue entry as a register diagram (title = the command name). */
export function commandView(dw0: bigint, dw1: bigint): RegisterView {
  const w = [u64(dw0), u64(dw1)];
  const d = decodeCommand(w[0], w[1]);
  if (!d.ok) {
    const opcode = Number(w[0] & 0xffn);
    const name = opcodeName(opcode);
    return registerView(
      name ?? `unknown opcode 0x${opcode.toString(16).padStart(2, '0')}`,
      w,
      name ? COMMAND_FIELDS[name] : [{ name: 'Opcode', hi: 7, lo: 0, doc: 'Command opcode' }],
      [],
      [`ILLEGAL (${CERROR_NAMES[1]}): ${d.reason}`],
      commandMeaning(name ?? 'unallocated opcode'),
    );
  }
  const op = d.cmd.op;
  const notes = [formatCommand(d.cmd)];
  const warnings: string[] = [];
  const m = commandMask(op);
  for (let i = 0; i < 2; i++) {
    const extra = w[i] & ~m[i];
    if (extra !== 0n) warnings.push(`RES0 bits set in dword ${i} (${hx(extra)}): ignored by this SMMU`);
  }
  return registerView(op, w, COMMAND_FIELDS[op], notes, warnings, commandMeaning(op));
}

const eventMeaning: MeaningFn = (name, v) => {
  switch (name) {
    case 'Type':
      return eventName(Number(v)) ?? 'unknown event type';
    case 'CLASS':
      return v < 3n ? `${EVENT_CLASSES[Number(v)]}: ${['CD fetch', 'translation table walk', 'input address'][Number(v)]}` : 'reserved';
    case 'RnW':
      return flag(v, 'read', 'write');
    case 'PnU':
      return flag(v, 'privileged', 'unprivileged');
    case 'InD':
      return flag(v, 'instruction', 'data');
    case 'S2':
      return flag(v, 'stage 2', 'stage 1');
    case 'SSV':
      return flag(v, 'SubstreamID valid', 'no SubstreamID');
    case 'IPA':
      return hx(v << 12n);
    case 'FetchAddr':
      return hx(v << 3n);
    case 'InputAddr':
      return hx(v);
    default:
      return undefined;
  }
};

/** An event queue record (4 dwords) as a register diagram (title = the event name). */
export function eventView(dwords: readonly bigint[]): RegisterView {
  const w = Array.from({ length: 4 }, (_, i) => u64(dwords[i]));
  const r = tryDecodeEvent(w);
  if (!r.ok) {
    return registerView(`unknown event 0x${(r.code & 0xff).toString(16).padStart(2, '0')}`, w, EVENT_FIELDS.slice(0, 1), [], [r.reason], eventMeaning);
  }
  const layout = EVENT_LAYOUT[r.event.type];
  return registerView(r.event.type, w, layout.fields, [formatEvent(r.event), layout.doc], [], eventMeaning);
}

/** One-line text of a queue entry and its name, for the queue panels. */
export function commandLine(dw0: bigint, dw1: bigint): { name: string; text: string } {
  const d = decodeCommand(u64(dw0), u64(dw1));
  if (d.ok) return { name: d.cmd.op, text: formatCommand(d.cmd) };
  const opcode = Number(u64(dw0) & 0xffn);
  return { name: opcodeName(opcode) ?? `opcode 0x${opcode.toString(16).padStart(2, '0')}`, text: `ILLEGAL: ${d.reason}` };
}

export function eventLine(dwords: readonly bigint[]): { name: string; text: string } {
  const w = Array.from({ length: 4 }, (_, i) => u64(dwords[i]));
  const r = tryDecodeEvent(w);
  if (r.ok) return { name: r.event.type, text: formatEvent(r.event) };
  return { name: `type 0x${(r.code & 0xff).toString(16).padStart(2, '0')}`, text: r.reason };
}

