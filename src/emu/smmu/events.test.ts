import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { genmask } from '../bits';
import {
  EVENT_CLASSES,
  EVENT_CODES,
  EVENT_FIELDS,
  EVENT_LAYOUT,
  EVENT_NAMES,
  canonicalEvent,
  decodeEvent,
  encodeEvent,
  eventName,
  formatEvent,
  makeEvent,
  tryDecodeEvent,
  type EventFieldKey,
  type EventName,
  type EventRecord,
} from './events';

const U64 = (1n << 64n) - 1n;
const u64 = fc.bigInt({ min: 0n, max: U64 });
const NAMES = Object.keys(EVENT_CODES) as EventName[];

/** A random event of type t, filled with every field (including ones t does not carry). */
function anyEventOf(t: EventName): fc.Arbitrary<EventRecord> {
  return fc
    .record({
      sid: fc.nat({ max: 0xffff_ffff }),
      ssv: fc.boolean(),
      ssid: fc.nat({ max: 0xfffff }),
      stag: fc.nat({ max: 0xffff }),
      stall: fc.boolean(),
      pnu: fc.boolean(),
      ind: fc.boolean(),
      rnw: fc.boolean(),
      s2: fc.boolean(),
      cls: fc.constantFrom(...EVENT_CLASSES),
      ttRead: fc.boolean(),
      inputAddr: u64,
      ipa: u64,
      fetchAddr: u64,
    })
    .map((r) => ({ ...r, type: t, code: EVENT_CODES[t] }));
}

/** What decode should return for e: only the fields its type carries. */
function expected(e: EventRecord): EventRecord {
  const keys = EVENT_LAYOUT[e.type].keys;
  const out: EventRecord = { type: e.type, code: EVENT_CODES[e.type], sid: e.sid, ssv: false, ssid: 0 };
  const o = out as unknown as Record<string, unknown>;
  const src = e as unknown as Record<string, unknown>;
  for (const k of keys) {
    if (k === 'ipa' || k === 'ttRead') continue;
    if (k === 'inputAddr') out.inputAddr = e.inputAddr! & U64;
    else if (k === 'fetchAddr') out.fetchAddr = e.fetchAddr! & genmask(51, 3);
    else o[k] = src[k];
  }
  if (keys.includes('ttRead') && e.cls === 'TT') out.ttRead = e.ttRead;
  if (keys.includes('ipa') && e.s2) out.ipa = e.ipa! & genmask(51, 12);
  return out;
}

describe('event codes', () => {
  it('has the architecture codes', () => {
    expect(EVENT_CODES).toEqual({
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
    });
    for (const n of NAMES) {
      expect(EVENT_NAMES[EVENT_CODES[n]]).toBe(n);
      expect(eventName(EVENT_CODES[n])).toBe(n);
      expect(EVENT_LAYOUT[n].code).toBe(EVENT_CODES[n]);
    }
    expect(eventName(0)).toBeUndefined();
    expect(eventName(0x0c)).toBeUndefined();
  });
});

describe('hand-computed records', () => {
  it('F_TRANSLATION, stage 2, CLASS = TT (a stage-1 table read faulted at stage 2)', () => {
    const e = makeEvent('F_TRANSLATION', {
      sid: 0x42,
      ssv: true,
      ssid: 5,
      stag: 0,
      stall: false,
      pnu: false,
      ind: false,
      rnw: true,
      s2: true,
      cls: 'TT',
      ttRead: true,
      inputAddr: 0xffff_8000_1234_5678n,
      ipa: 0x8_1234_5000n,
    });
    const dw = encodeEvent(e);
    // dw0: type 0x10 | SSV 1<<11 (0x800) | SSID 5<<12 (0x5000) | SID 0x42<<32
    // dw1: RnW 1<<35 | S2 1<<39 | CLASS 1<<40 | TT_READ 1<<44
    expect(dw).toEqual([0x0000004200005810n, 0x0000118800000000n, 0xffff800012345678n, 0x0000000812345000n]);
    expect(decodeEvent(dw)).toEqual(e);
  });

  it('F_PERMISSION, stage 1, CLASS = IN, stalled: no IPA is written', () => {
    const e = makeEvent('F_PERMISSION', {
      sid: 1,
      stag: 0x1234,
      stall: true,
      pnu: true,
      ind: false,
      rnw: false,
      s2: false,
      cls: 'IN',
      ttRead: true,
      inputAddr: 0x1000n,
      ipa: 0xdead_b000n,
    });
    const dw = encodeEvent(e);
    // dw1: STAG 0x1234 | Stall 1<<31 | PnU 1<<33 | CLASS 2<<40
    expect(dw).toEqual([0x0000000100000013n, 0x0000020280001234n, 0x1000n, 0n]);
    const d = decodeEvent(dw);
    expect(d.ipa).toBeUndefined();
    expect(d.ttRead).toBeUndefined();
    expect(d).toEqual({ ...e, ipa: undefined, ttRead: undefined });
  });

  it('F_STE_FETCH carries FetchAddr[51:3] in dw3', () => {
    const e = makeEvent('F_STE_FETCH', { sid: 7, fetchAddr: 0xf000_0000_4000_123fn });
    const dw = encodeEvent(e);
    expect(dw).toEqual([0x0000000700000003n, 0n, 0n, 0x4000_1238n]);
    expect(decodeEvent(dw)).toEqual({ type: 'F_STE_FETCH', code: 3, sid: 7, ssv: false, ssid: 0, fetchAddr: 0x4000_1238n });
  });

  it('C_BAD_STREAMID carries only SID / SSV / SSID', () => {
    const e: EventRecord = {
      ...makeEvent('C_BAD_STREAMID', { sid: 0x10000, ssv: true, ssid: 3 }),
      inputAddr: 0x1234n,
      rnw: true,
      stall: true,
      fetchAddr: 0x8000n,
    };
    const dw = encodeEvent(e);
    expect(dw).toEqual([0x0001000000003802n, 0n, 0n, 0n]);
    expect(decodeEvent(dw)).toEqual({ type: 'C_BAD_STREAMID', code: 2, sid: 0x10000, ssv: true, ssid: 3 });
  });

  it('F_WALK_EABT: RnW/InD/PnU, S2, CLASS, InputAddr, FetchAddr', () => {
    const e = makeEvent('F_WALK_EABT', {
      sid: 2,
      pnu: false,
      ind: true,
      rnw: true,
      s2: true,
      cls: 'TT',
      inputAddr: 0x4000_0000n,
      fetchAddr: 0x9_0000_0ff8n,
    });
    // dw1: InD 1<<34 | RnW 1<<35 | S2 1<<39 | CLASS 1<<40
    expect(encodeEvent(e)).toEqual([0x000000020000000bn, 0x0000018c00000000n, 0x4000_0000n, 0x9_0000_0ff8n]);
    expect(decodeEvent(encodeEvent(e))).toEqual({ ...e, ssv: false, ssid: 0 });
  });

  it('F_STREAM_DISABLED carries only the StreamID', () => {
    expect(encodeEvent(makeEvent('F_STREAM_DISABLED', { sid: 9, ssv: true, ssid: 1 }))).toEqual([0x0000000900000006n, 0n, 0n, 0n]);
  });
});

describe('decoding untrusted records', () => {
  it('unknown codes and short records fail with a reason', () => {
    expect(tryDecodeEvent([0n, 0n, 0n, 0n])).toEqual({ ok: false, code: 0, reason: 'unknown event type 0x00' });
    expect(tryDecodeEvent([0xffn, 0n, 0n, 0n])).toMatchObject({ ok: false, code: 0xff });
    expect(tryDecodeEvent([0x10n])).toMatchObject({ ok: false });
    expect(() => decodeEvent([0x99n, 0n, 0n, 0n])).toThrow(RangeError);
  });

  it('CLASS = 3 (reserved) decodes without a class', () => {
    const d = decodeEvent([0x10n, 3n << 40n, 0n, 0n]);
    expect(d.cls).toBeUndefined();
  });

  it('random 256-bit records never throw; known types re-encode to a fixed point', () => {
    fc.assert(
      fc.property(fc.tuple(u64, u64, u64, u64), fc.boolean(), fc.constantFrom(...NAMES), (raw, forceKnown, t) => {
        const dw = forceKnown ? [(raw[0] & ~0xffn) | BigInt(EVENT_CODES[t]), raw[1], raw[2], raw[3]] : raw;
        const r = tryDecodeEvent(dw);
        if (!r.ok) {
          expect(forceKnown).toBe(false);
          return;
        }
        const again = encodeEvent(r.event);
        // CLASS = 0b11 is reserved: it decodes as no class and re-encodes as 0 (CD).
        const reservedClass = EVENT_LAYOUT[r.event.type].keys.includes('cls') && r.event.cls === undefined;
        if (!reservedClass) expect(decodeEvent(again)).toEqual(r.event);
        expect(encodeEvent(decodeEvent(again))).toEqual(again);
        expect(() => formatEvent(r.event)).not.toThrow();
      }),
      { numRuns: 2000 },
    );
  });
});

describe('round trips', () => {
  for (const t of NAMES) {
    it(`${t}: decode(encode(e)) keeps exactly the fields ${t} carries`, () => {
      fc.assert(
        fc.property(anyEventOf(t), (e) => {
          const dw = encodeEvent(e);
          expect(dw).toHaveLength(4);
          for (const d of dw) expect(d >= 0n && d <= U64).toBe(true);
          expect(Number(dw[0] & 0xffn)).toBe(EVENT_CODES[t]);
          const d = decodeEvent(dw);
          expect(d).toEqual(expected(e));
          expect(canonicalEvent(e)).toEqual(d);
          // Idempotent on the canonical form.
          expect(encodeEvent(d)).toEqual(dw);
        }),
        { numRuns: 100 },
      );
    });
  }
});

describe('layout tables', () => {
  it('EVENT_FIELDS: the common layout at the architecture positions', () => {
    const pos = Object.fromEntries(EVENT_FIELDS.map((f) => [f.name, [f.hi, f.lo]]));
    expect(pos).toEqual({
      Type: [7, 0],
      SSV: [11, 11],
      SubstreamID: [31, 12],
      StreamID: [63, 32],
      STAG: [79, 64],
      Stall: [95, 95],
      PnU: [97, 97],
      InD: [98, 98],
      RnW: [99, 99],
      S2: [103, 103],
      CLASS: [105, 104],
      TT_READ: [108, 108],
      InputAddr: [191, 128],
      IPA: [243, 204],
      FetchAddr: [243, 195],
    });
  });

  it('each event: Type and StreamID, its keys, no overlaps, docs, and the encoder writes only there', () => {
    const nameOfKey: Record<EventFieldKey, string> = {
      ssv: 'SSV',
      ssid: 'SubstreamID',
      stag: 'STAG',
      stall: 'Stall',
      pnu: 'PnU',
      ind: 'InD',
      rnw: 'RnW',
      s2: 'S2',
      cls: 'CLASS',
      ttRead: 'TT_READ',
      inputAddr: 'InputAddr',
      ipa: 'IPA',
      fetchAddr: 'FetchAddr',
    };
    for (const t of NAMES) {
      const l = EVENT_LAYOUT[t];
      expect(l.doc.length).toBeGreaterThan(0);
      const names = l.fields.map((f) => f.name);
      expect(names).toContain('Type');
      expect(names).toContain('StreamID');
      expect(new Set(names)).toEqual(new Set(['Type', 'StreamID', ...l.keys.map((k) => nameOfKey[k])]));
      expect(l.keys.includes('ipa') && l.keys.includes('fetchAddr')).toBe(false);
      const masks = [0n, 0n, 0n, 0n];
      let used = 0n;
      for (const f of l.fields) {
        expect(f.doc.length).toBeGreaterThan(0);
        const m = genmask(f.hi, f.lo);
        expect(used & m, `${t}.${f.name}`).toBe(0n);
        used |= m;
        const i = Math.floor(f.lo / 64);
        masks[i] |= genmask(f.hi - 64 * i, f.lo - 64 * i);
      }
      // An everything-set event writes nothing outside its fields.
      const all = makeEvent(t, {
        sid: 0xffff_ffff,
        ssv: true,
        ssid: 0xfffff,
        stag: 0xffff,
        stall: true,
        pnu: true,
        ind: true,
        rnw: true,
        s2: true,
        cls: 'TT',
        ttRead: true,
        inputAddr: U64,
        ipa: U64,
        fetchAddr: U64,
      });
      const dw = encodeEvent(all);
      for (let i = 0; i < 4; i++) expect(dw[i] & ~masks[i]).toBe(0n);
    }
  });

  it('per-event contents match the architecture', () => {
    expect(EVENT_LAYOUT.C_BAD_STREAMID.keys).toEqual(['ssv', 'ssid']);
    expect(EVENT_LAYOUT.C_BAD_STE.keys).toEqual(['ssv', 'ssid']);
    expect(EVENT_LAYOUT.F_STE_FETCH.keys).toContain('fetchAddr');
    expect(EVENT_LAYOUT.F_CD_FETCH.keys).toContain('fetchAddr');
    expect(EVENT_LAYOUT.F_VMS_FETCH.keys).toContain('fetchAddr');
    expect([...EVENT_LAYOUT.F_WALK_EABT.keys].sort()).toEqual(
      ['ssv', 'ssid', 'pnu', 'ind', 'rnw', 's2', 'cls', 'inputAddr', 'fetchAddr'].sort(),
    );
    for (const t of ['F_TRANSLATION', 'F_ADDR_SIZE', 'F_ACCESS', 'F_PERMISSION'] as const) {
      expect([...EVENT_LAYOUT[t].keys].sort()).toEqual(
        ['ssv', 'ssid', 'stag', 'stall', 'pnu', 'ind', 'rnw', 's2', 'cls', 'ttRead', 'inputAddr', 'ipa'].sort(),
      );
    }
  });
});

describe('formatEvent', () => {
  it('summarises a record', () => {
    const e = makeEvent('F_TRANSLATION', { sid: 0x42, ssv: true, ssid: 5, rnw: true, s2: true, cls: 'TT', ttRead: true, inputAddr: 0x1000n, ipa: 0x8000n });
    expect(formatEvent(e)).toBe('F_TRANSLATION sid=0x42 ssid=0x5 read s2 TT(read) addr=0x1000 ipa=0x8000');
  });
});
