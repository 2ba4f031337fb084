/**
 * A traced transaction (Smmu.translate with `trace: true`) as the walk
 * panel draws it: every memory read in order with its decoded fields and a
 * plain-language sentence, the nested 2-D grid position of each table read,
 * and the outcome (with the event record for a fault).
 */

import { genmask } from '../../emu/bits';
import { type Granule, blockSize, descAddress } from '../../emu/descriptor';
import { type Cd, decodeCd, decodeL1cd, tg1Granule } from '../../emu/smmu/cd';
import { encodeEvent, formatEvent } from '../../emu/smmu/events';
import { type SmmuFeatures, withDefaults } from '../../emu/smmu/features';
import type { Smmu, TranslateRequest, TranslateResult } from '../../emu/smmu/smmu';
import { type Ste, decodeL1std, decodeSte, steConfigName, tg0Granule } from '../../emu/smmu/ste';
import { type TraceEntry, effectivePaBits, s1StartLevel } from '../../emu/walk';
import type { TracePurposeView, WalkAccess, WalkOutcome, WalkRequestView, WalkView } from '../view';
import { hx, sizeName, u64 } from './common';
import { cdView, descKindAt, descriptorFields, eventView, l1cdView, l1stdView, steView } from './structs';

const TABLE_PURPOSES: ReadonlySet<TracePurposeView> = new Set<TracePurposeView>(['s1-table', 's2-for-s1-table', 's2-for-output']);

interface Geometry {
  s1: { g: Granule; lpa: boolean; start?: number };
  s2: { g: Granule; lpa: boolean };
}

/** Granules (and the stage-1 start level) of the walk, from the traced STE / CD or the SMMU's cached configuration. */
function geometry(req: TranslateRequest, trace: readonly TraceEntry[], f: SmmuFeatures, smmu?: Smmu): Geometry {
  let ste: Ste | undefined;
  let cd: Cd | undefined;
  const steEntry = trace.find((t) => t.purpose === 'ste' && t.words);
  if (steEntry?.words) ste = decodeSte(steEntry.words);
  const cdEntry = trace.find((t) => t.purpose === 'cd' && t.words);
  if (cdEntry?.words) cd = decodeCd(cdEntry.words);
  try {
    if (smmu && !ste) ste = smmu.cachedStes().find((s) => s.sid === req.sid >>> 0)?.ste;
    if (smmu && !cd) {
      const ssid = req.ssid ?? 0;
      cd = smmu.cachedCds().find((c) => c.sid === req.sid >>> 0 && c.ssid === ssid)?.cd;
    }
  } catch {
    // a view never throws
  }
  const geo: Geometry = { s1: { g: 4096, lpa: false }, s2: { g: 4096, lpa: false } };
  if (ste) {
    const g = tg0Granule(ste.S2TG) ?? 4096;
    geo.s2 = { g, lpa: effectivePaBits(Math.min(ste.S2PS & 7, 6), f.oas, g) === 52 };
  }
  if (cd) {
    const sel = (u64(req.iova) >> 55n) & 1n ? 1 : 0;
    const g = (sel ? tg1Granule(cd.TG1) : tg0Granule(cd.TG0)) ?? 4096;
    const tsz = (sel ? cd.T1SZ : cd.T0SZ) & 63;
    const start = s1StartLevel(64 - tsz, g);
    geo.s1 = { g, lpa: effectivePaBits(cd.IPS & 7, f.oas, g) === 52 };
    if (start >= 0 && start <= 3) geo.s1.start = start;
  }
  return geo;
}

function descText(desc: bigint | undefined, level: number, g: Granule, lpa: boolean, ia: bigint | undefined): string {
  if (desc === undefined) return 'external abort: no memory there (F_WALK_EABT)';
  const kind = descKindAt(desc, level, g, lpa ? 52 : 48);
  switch (kind) {
    case 'invalid':
      return 'invalid descriptor → translation fault';
    case 'reserved':
      return 'reserved descriptor → translation fault';
    case 'table':
      return `table descriptor → next table at ${hx(descAddress(desc, g, BigInt(g), lpa))}`;
    default: {
      const size = kind === 'page' ? BigInt(g) : blockSize(g, level);
      const oa = descAddress(desc, g, size, lpa);
      const out = ia === undefined ? oa : oa | (ia & (size - 1n));
      return `${sizeName(size)} ${kind} descriptor → output ${hx(out)}`;
    }
  }
}

/**
 * The walk view of one traced transaction. `smmu` (optional) supplies the
 * features and, when the trace has no STE/CD fetch (cached configuration),
 * the granules from the SMMU's configuration cache (read, not changed).
 */
export function walkView(req: TranslateRequest, result: TranslateResult, smmu?: Smmu): WalkView {
  const f = smmu?.f ?? withDefaults();
  const trace: readonly TraceEntry[] = result.trace ?? [];
  const geo = geometry(req, trace, f, smmu);
  const request: WalkRequestView = { sid: req.sid >>> 0, iova: hx(u64(req.iova)), access: req.access, priv: req.priv };
  if (req.ssid !== undefined) request.ssid = req.ssid;

  const nested = trace.some((t) => t.purpose === 's1-table') && trace.some((t) => t.purpose === 's2-for-s1-table' || t.purpose === 's2-for-output');
  const firstS1 = trace.find((t) => t.purpose === 's1-table')?.level;
  const s1Start = firstS1 ?? geo.s1.start ?? 0;
  let lastS1: number | undefined;
  // S2 reads before an S1 read locate that S1 level's table: for a walk cut short by a fault, the next level.
  const accesses: WalkAccess[] = trace.map((t, i) => {
    const purpose = t.purpose as TracePurposeView;
    const a: WalkAccess = {
      n: i + 1,
      stage: t.stage,
      level: t.level,
      addr: hx(t.addr),
      desc: t.desc === undefined ? null : hx(t.desc),
      purpose,
      fields: [],
      text: '',
    };
    if (t.ia !== undefined && t.stage !== 0) a.ia = hx(t.ia);
    if (t.kind !== undefined) a.kind = t.kind;
    const ia = t.ia === undefined ? '' : hx(t.ia);
    switch (purpose) {
      case 's1-table': {
        if (t.desc !== undefined) a.fields = descriptorFields(t.desc, 1, t.level, geo.s1.g, geo.s1.lpa);
        a.text = `S1 level ${t.level} of VA ${ia}: ${descText(t.desc, t.level, geo.s1.g, geo.s1.lpa, t.ia)}`;
        if (nested) {
          a.row = t.level;
          a.col = 's1';
        }
        lastS1 = t.level;
        break;
      }
      case 's2-for-s1-table':
      case 's2-for-output':
      case 's2-for-cd': {
        if (t.desc !== undefined) a.fields = descriptorFields(t.desc, 2, t.level, geo.s2.g, geo.s2.lpa);
        let why = '';
        if (purpose === 's2-for-cd') why = ' (for the CD fetch)';
        else if (nested) {
          const row = purpose === 's2-for-output' ? (lastS1 ?? s1Start - 1) + 1 : lastS1 === undefined ? s1Start : lastS1 + 1;
          a.row = row;
          a.col = t.level;
          why = purpose === 's2-for-output' ? ' (for the output address)' : ` (for S1 level ${row} table)`;
        }
        a.text = `S2 level ${t.level} of IPA ${ia}${why}: ${descText(t.desc, t.level, geo.s2.g, geo.s2.lpa, t.ia)}`;
        break;
      }
      case 'ste': {
        const words = t.words;
        if (words) {
          a.fields = steView(req.sid >>> 0, words, f).fields;
          const ste = decodeSte(words);
          a.text = `STE of SID ${req.sid >>> 0} at ${hx(t.addr)}: ${(ste.V & 1) === 0 ? 'V = 0 (invalid)' : `Config = ${steConfigName(ste.Config)}`}`;
        } else a.text = `STE of SID ${req.sid >>> 0} at ${hx(t.addr)}: external abort (F_STE_FETCH)`;
        break;
      }
      case 'l1std': {
        if (t.desc !== undefined) {
          a.fields = l1stdView(t.desc).fields;
          const d = decodeL1std(t.desc);
          a.text = `L1STD at ${hx(t.addr)}: ${d.span === 0 || d.span > 11 ? `invalid (Span ${d.span})` : `Span ${d.span} → ${2 ** (d.span - 1)} STEs at ${hx(d.l2ptr)}`}`;
        } else a.text = `L1STD at ${hx(t.addr)}: external abort (F_STE_FETCH)`;
        break;
      }
      case 'cd': {
        const words = t.words;
        if (words) {
          a.fields = cdView(req.sid >>> 0, req.ssid ?? 0, words, f).fields;
          const cd = decodeCd(words);
          a.text = `CD at ${hx(t.addr)}: ${(cd.V & 1) === 0 ? 'V = 0 (invalid)' : `ASID ${cd.ASID}, TTB0 ${hx(cd.TTB0 & genmask(51, 4))}`}`;
        } else a.text = `CD at ${hx(t.addr)}: external abort (F_CD_FETCH)`;
        break;
      }
      case 'l1cd': {
        if (t.desc !== undefined) {
          a.fields = l1cdView(t.desc).fields;
          const d = decodeL1cd(t.desc);
          a.text = `L1CD at ${hx(t.addr)}: ${d.v ? `level-2 CD table at ${hx(d.l2ptr)}` : 'V = 0 (invalid)'}`;
        } else a.text = `L1CD at ${hx(t.addr)}: external abort (F_CD_FETCH)`;
        break;
      }
    }
    return a;
  });

  const view: WalkView = {
    request,
    accesses,
    outcome: outcomeOf(result),
    tableReads: accesses.filter((a) => TABLE_PURPOSES.has(a.purpose)).length,
  };
  if (nested) {
    const rows = new Set<number>();
    const cols = new Set<number>();
    for (const a of accesses) {
      if (a.row !== undefined) rows.add(a.row);
      if (typeof a.col === 'number') cols.add(a.col);
    }
    view.grid = { rows: [...rows].sort((x, y) => x - y), cols: [...cols].sort((x, y) => x - y) };
  }
  return view;
}

/** The outcome of a translation, for the walk panel. */
export function outcomeOf(r: TranslateResult): WalkOutcome {
  switch (r.kind) {
    case 'ok': {
      const o: WalkOutcome = { kind: 'ok', pa: hx(r.pa), tlb: r.tlb };
      if (r.ipa !== undefined) o.ipa = hx(r.ipa);
      return o;
    }
    case 'bypass':
      return { kind: 'bypass', pa: hx(r.pa) };
    case 'abort':
      return { kind: 'abort', reason: r.reason };
    case 'fault': {
      const record = eventView(encodeEvent(r.event));
      return { kind: 'fault', type: r.event.type, code: hx(r.event.code), text: formatEvent(r.event), record, reason: r.reason };
    }
  }
}
