import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FieldSpec, Granule } from '../descriptor';
import { ArmLpaeIoPgtable, LINUX_MAIR } from '../iopgtable';
import { PhysicalMemory, TableAllocator } from '../memory';
import { s1ParamsFor } from '../walk-params';
import {
  CD_FIELDS,
  type Cd,
  L1CD_FIELDS,
  decodeCd,
  decodeL1cd,
  describeCd,
  encodeCd,
  encodeL1cd,
  s1ParamsFromCd,
  tg0Granule,
  tg1Granule,
  validateCd,
} from './cd';
import { type SmmuFeatures, withDefaults } from './features';
import { fieldMask, oasEncoding } from './ste';

const U64 = (1n << 64n) - 1n;
const F = withDefaults();

function cd(p: Partial<Cd>): Cd {
  return decodeCd(encodeCd(p));
}

/** A CD as Linux's arm_smmu_make_s1_cd writes it: 48-bit VA, 4KB, TTB1 disabled, ASID 1. */
const LINUX_CD: Partial<Cd> = {
  T0SZ: 16,
  TG0: 0,
  IR0: 1, // WBWA
  OR0: 1,
  SH0: 3, // inner shareable
  EPD1: 1,
  V: 1,
  IPS: 5, // 48 bits
  AA64: 1,
  R: 1,
  A: 1,
  ASET: 1,
  ASID: 1,
  TTB0: 0x8_1234_5000n,
  MAIR0: Number(LINUX_MAIR & 0xffff_ffffn),
  MAIR1: Number(LINUX_MAIR >> 32n),
};

function fieldsArb(specs: readonly FieldSpec[], addr: ReadonlySet<string>): fc.Arbitrary<Record<string, number | bigint>> {
  const model: Record<string, fc.Arbitrary<number | bigint>> = {};
  for (const s of specs) {
    const w = BigInt(s.hi - s.lo + 1);
    const raw = fc.bigInt({ min: 0n, max: (1n << w) - 1n });
    model[s.name] = addr.has(s.name) ? raw.map((v) => v << BigInt(s.lo % 64)) : raw.map(Number);
  }
  return fc.record(model);
}

const CD_ADDR = new Set(['TTB0', 'TTB1']);

const featuresArb: fc.Arbitrary<SmmuFeatures> = fc
  .record({
    oas: fc.constantFrom(32, 36, 40, 42, 44, 48, 52),
    granules: fc.subarray([4096, 16384, 65536] as Granule[], { minLength: 1 }),
    asid16: fc.boolean(),
  })
  .map((p) => withDefaults(p));

describe('CD layout', () => {
  it('lists the architected fields, each inside one dword, without overlaps', () => {
    expect(CD_FIELDS.map((s) => s.name)).toEqual([
      'T0SZ', 'TG0', 'IR0', 'OR0', 'SH0', 'EPD0', 'ENDI', 'T1SZ', 'TG1', 'IR1', 'OR1', 'SH1', 'EPD1', 'V', 'IPS', 'AFFD',
      'WXN', 'UWXN', 'TBI0', 'TBI1', 'PAN', 'AA64', 'HD', 'HA', 'S', 'R', 'A', 'ASET', 'ASID', 'NSCFG0', 'HAD0', 'TTB0',
      'NSCFG1', 'HAD1', 'TTB1', 'MAIR0', 'MAIR1', 'AMAIR0', 'AMAIR1',
    ]);
    const used = new Set<number>();
    for (const s of CD_FIELDS) {
      expect(Math.floor(s.hi / 64)).toBe(Math.floor(s.lo / 64));
      expect(s.doc.length).toBeGreaterThan(10);
      for (let b = s.lo; b <= s.hi; b++) {
        expect(used.has(b), `${s.name} bit ${b}`).toBe(false);
        used.add(b);
      }
    }
    expect(Object.keys(decodeCd([])).sort()).toEqual(CD_FIELDS.map((s) => s.name).sort());
    expect(L1CD_FIELDS.map((s) => [s.name, s.hi, s.lo])).toEqual([
      ['V', 0, 0],
      ['L2Ptr', 51, 12],
    ]);
  });

  it('places a Linux CD exactly where the architecture puts it', () => {
    const dw = encodeCd(LINUX_CD);
    // dw0[31:0]: T0SZ 0x10 | IR0 1<<8 | OR0 1<<10 | SH0 3<<12 | EPD1 1<<30 | V 1<<31 = 0xc0003510
    // dw0[63:32]: IPS 5 | AA64 1<<9 | R 1<<13 | A 1<<14 | ASET 1<<15 | ASID 1<<16 = 0x0001e205
    expect(dw[0]).toBe(0x0001_e205_c000_3510n);
    expect(dw[1]).toBe(0x8_1234_5000n); // TTB0[51:4] in place
    expect(dw[2]).toBe(0n);
    expect(dw[3]).toBe(LINUX_MAIR); // MAIR0 low, MAIR1 high: the 64-bit MAIR
    expect(dw.slice(4)).toEqual([0n, 0n, 0n, 0n]);
    expect(decodeCd(dw)).toMatchObject(LINUX_CD);
  });

  it.each([
    ['TG0', 2, 0, 0x80n],
    ['EPD0', 1, 0, 0x4000n],
    ['ENDI', 1, 0, 0x8000n],
    ['T1SZ', 25, 0, 25n << 16n],
    ['TG1', 2, 0, 2n << 22n],
    ['IR1', 3, 0, 3n << 24n],
    ['OR1', 3, 0, 3n << 26n],
    ['SH1', 3, 0, 3n << 28n],
    ['AFFD', 1, 0, 1n << 35n],
    ['WXN', 1, 0, 1n << 36n],
    ['UWXN', 1, 0, 1n << 37n],
    ['TBI0', 1, 0, 1n << 38n],
    ['TBI1', 1, 0, 1n << 39n],
    ['PAN', 1, 0, 1n << 40n],
    ['HD', 1, 0, 1n << 42n],
    ['HA', 1, 0, 1n << 43n],
    ['S', 1, 0, 1n << 44n],
    ['ASID', 0xffff, 0, 0xffffn << 48n],
    ['NSCFG0', 1, 1, 1n],
    ['HAD0', 1, 1, 2n],
    ['NSCFG1', 1, 2, 1n],
    ['HAD1', 1, 2, 2n],
    ['MAIR1', 0x1234_5678, 3, 0x1234_5678_0000_0000n],
    ['AMAIR0', 0xffff_ffff, 4, 0xffff_ffffn],
    ['AMAIR1', 0x8000_0001, 4, 0x8000_0001_0000_0000n],
  ] as const)('%s = %d lands in dword %d as %s', (name, value, n, expected) => {
    const dw = encodeCd({ [name]: value } as Partial<Cd>);
    expect(dw[n]).toBe(expected);
    expect(dw.filter((_, i) => i !== n).every((w) => w === 0n)).toBe(true);
  });

  it('keeps TTB1 in dword 2 bits [51:4]', () => {
    expect(encodeCd({ TTB1: 0xf_ffff_ffff_ffffn })[2]).toBe(0xf_ffff_ffff_fff0n);
  });

  it('round-trips random field values and random dwords', () => {
    fc.assert(
      fc.property(fieldsArb(CD_FIELDS, CD_ADDR), (v) => {
        expect(decodeCd(encodeCd(v as unknown as Partial<Cd>))).toEqual(v);
      }),
    );
    const mask = fieldMask(CD_FIELDS, 8);
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: U64 }), { minLength: 8, maxLength: 8 }), (dw) => {
        expect(encodeCd(decodeCd(dw))).toEqual(dw.map((w, i) => w & mask[i]));
      }),
    );
  });

  it('encodes and decodes L1CD', () => {
    expect(encodeL1cd({ v: 1, l2ptr: 0x1234_5000n })).toBe(0x1234_5001n);
    expect(decodeL1cd(0xfff0_0000_1234_5ffen)).toEqual({ v: 0, l2ptr: 0x1234_5000n });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 }), fc.bigInt({ min: 0n, max: (1n << 40n) - 1n }), (v, p) => {
        const l2ptr = p << 12n;
        expect(decodeL1cd(encodeL1cd({ v, l2ptr }))).toEqual({ v, l2ptr });
      }),
    );
  });

  it('decodes TG0 and TG1 with their different encodings', () => {
    expect([0, 1, 2, 3].map(tg0Granule)).toEqual([4096, 65536, 16384, undefined]);
    expect([0, 1, 2, 3].map(tg1Granule)).toEqual([undefined, 16384, 4096, 65536]);
  });
});

describe('validateCd and s1ParamsFromCd', () => {
  it('accepts the Linux CD and derives its walk parameters', () => {
    const c = cd(LINUX_CD);
    expect(validateCd(c, F, false)).toEqual({ ok: true });
    expect(validateCd(c, F, true)).toEqual({ ok: true });
    expect(s1ParamsFromCd(c, F)).toEqual({
      tt: [
        { ttb: 0x8_1234_5000n, tsz: 16, granule: 4096, epd: false, had: false, tbi: false },
        { ttb: 0n, tsz: 0, granule: 4096, epd: true, had: false, tbi: false },
      ],
      ips: 5,
      oasBits: 48,
      affd: false,
      wxn: false,
      pan: false,
    });
  });

  it('accepts what io-pgtable-arm builds for stage 1, with the same walk parameters', () => {
    const cases: Array<[Granule, number]> = [
      [4096, 48],
      [4096, 39],
      [4096, 32],
      [16384, 47],
      [16384, 36],
      [65536, 48],
      [65536, 42],
    ];
    for (const [granule, ias] of cases) {
      const mem = new PhysicalMemory();
      const alloc = new TableAllocator(mem, 0x4000_0000n, 0x4100_0000n);
      const pgt = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s1', granule, ias, oas: 48 }, alloc);
      const t = pgt.s1!;
      const c = cd({
        ...LINUX_CD,
        T0SZ: t.tsz,
        TG0: t.tg,
        IR0: t.irgn,
        OR0: t.orgn,
        SH0: t.sh,
        IPS: t.ips,
        TTB0: t.ttbr,
        MAIR0: Number(t.mair & 0xffff_ffffn),
        MAIR1: Number(t.mair >> 32n),
      });
      expect(validateCd(c, F, false), `${granule} ${ias}`).toEqual({ ok: true });
      const want = s1ParamsFor(pgt, 48);
      const got = s1ParamsFromCd(c, F);
      expect(got.tt[0]).toEqual(want.tt[0]);
      expect(got.tt[1].epd).toBe(true);
      expect({ ...got, tt: null }).toEqual({ ...want, tt: null });
      expect(describeCd(c, F)).toEqual([]);
    }
  });

  it('maps every CD field the walker uses', () => {
    const c = cd({ ...LINUX_CD, EPD1: 0, T1SZ: 25, TG1: 3, TTB1: 0x9000_0000n, HAD0: 1, HAD1: 1, TBI0: 1, TBI1: 1, AFFD: 1, WXN: 1, PAN: 1, IPS: 7 });
    const p = s1ParamsFromCd(c, withDefaults({ oas: 44 }));
    expect(p.tt[1]).toEqual({ ttb: 0x9000_0000n, tsz: 25, granule: 65536, epd: false, had: true, tbi: true });
    expect(p.tt[0]).toMatchObject({ had: true, tbi: true });
    expect(p).toMatchObject({ ips: oasEncoding(44), oasBits: 44, affd: true, wxn: true, pan: true });
    expect(s1ParamsFromCd(cd({ ...LINUX_CD, IPS: 6 }), F).ips).toBe(5);
    expect(s1ParamsFromCd(cd({ ...LINUX_CD, IPS: 2 }), F).ips).toBe(2);
  });

  it('does not check a half whose walks are disabled (EPDx = 1)', () => {
    expect(validateCd(cd({ ...LINUX_CD, T1SZ: 63, TG1: 0, TTB1: 0xf_ffff_ffff_fff0n }), F, false).ok).toBe(true);
    const hiOnly = cd({ ...LINUX_CD, EPD0: 1, T0SZ: 0, TG0: 3, TTB0: 0xf_ffff_ffff_fff0n, EPD1: 0, T1SZ: 16, TG1: 2, TTB1: 0x1000n });
    expect(validateCd(hiOnly, F, false).ok).toBe(true);
    // ENDI is IGNORED when both halves are disabled.
    expect(validateCd(cd({ ...LINUX_CD, EPD0: 1, ENDI: 1 }), F, false).ok).toBe(true);
  });

  it('follows the walker for 52-bit VAs with the 64KB granule', () => {
    const f52 = withDefaults({ oas: 52 });
    expect(validateCd(cd({ ...LINUX_CD, TG0: 1, T0SZ: 12, IPS: 6 }), f52, false).ok).toBe(true);
    expect(validateCd(cd({ ...LINUX_CD, TG0: 1, T0SZ: 12 }), F, false).ok).toBe(false);
    // 52-bit table base: legal only with the 64KB granule.
    expect(validateCd(cd({ ...LINUX_CD, TG0: 1, IPS: 6, TTB0: 1n << 50n }), f52, false).ok).toBe(true);
    expect(validateCd(cd({ ...LINUX_CD, TG0: 0, IPS: 6, TTB0: 1n << 50n }), f52, false).ok).toBe(false);
  });
});

interface IllegalCase {
  name: string;
  patch: Partial<Cd>;
  f?: Partial<SmmuFeatures>;
  nested?: boolean;
  field: RegExp;
}

const ILLEGAL: IllegalCase[] = [
  { name: 'V = 0', patch: { V: 0 }, field: /^V = 0/ },
  { name: 'A = 0 with TERM_MODEL = 1', patch: { A: 0 }, field: /^A = 0.*TERM_MODEL = 1/ },
  { name: 'S = 1 with a terminate-only stall model', patch: { S: 1 }, field: /^S = 1.*STALL_MODEL/ },
  { name: 'ENDI = 1', patch: { ENDI: 1 }, field: /^ENDI = 1/ },
  { name: 'AA64 = 0', patch: { AA64: 0 }, field: /^AA64 = 0/ },
  { name: 'HA = 1 without HTTU', patch: { HA: 1 }, field: /^HA = 1.*HTTU/ },
  { name: 'HD = 1 without HTTU', patch: { HD: 1 }, field: /^HD = 1/ },
  { name: '16-bit ASID without ASID16', patch: { ASID: 0x100 }, f: { asid16: false }, field: /^ASID 0x100.*ASID16 = 0/ },
  { name: 'T0SZ below 16', patch: { T0SZ: 15 }, field: /T0SZ 15 is outside 16\.\.39/ },
  { name: 'T0SZ above 39', patch: { T0SZ: 40 }, field: /T0SZ 40 is outside/ },
  { name: 'T0SZ 12 without 52-bit support', patch: { T0SZ: 12, TG0: 1 }, field: /T0SZ 12/ },
  { name: 'T1SZ out of range (TTB1 enabled)', patch: { EPD1: 0, T1SZ: 45, TG1: 2 }, field: /T1SZ 45/ },
  { name: 'TG0 reserved', patch: { TG0: 3 }, field: /^TG0 3 is a reserved/ },
  { name: 'TG1 reserved (TTB1 enabled)', patch: { EPD1: 0, T1SZ: 16, TG1: 0 }, field: /^TG1 0 is a reserved/ },
  { name: 'TG0 granule not implemented', patch: { TG0: 2 }, f: { granules: [4096, 65536] }, field: /^TG0 2 .*16KB/ },
  { name: 'TG1 granule not implemented', patch: { EPD1: 0, T1SZ: 16, TG1: 3 }, f: { granules: [4096] }, field: /^TG1 3 .*64KB/ },
  { name: 'TTB0 beyond the OAS', patch: { TTB0: 1n << 48n }, field: /^TTB0 0x1000000000000 \(a PA\).*48-bit effective IPS/ },
  { name: 'TTB0 beyond a smaller IPS', patch: { IPS: 2, TTB0: 1n << 40n }, field: /^TTB0 .*40-bit/ },
  { name: 'TTB0 beyond the OAS with IPS = 7', patch: { IPS: 7, TTB0: 1n << 44n }, f: { oas: 44 }, field: /^TTB0 .*44-bit/ },
  { name: 'TTB0 beyond 48 bits with 4KB and a 52-bit OAS', patch: { IPS: 6, TTB0: 1n << 49n }, f: { oas: 52 }, field: /^TTB0 .*48-bit/ },
  { name: 'TTB0 IPA beyond the IPS (nested)', patch: { TTB0: 1n << 48n }, nested: true, field: /^TTB0 .*\(an IPA\)/ },
  { name: 'TTB1 beyond the IPS', patch: { EPD1: 0, T1SZ: 16, TG1: 2, TTB1: 1n << 48n }, field: /^TTB1 / },
];

describe('validateCd: every C_BAD_CD rule', () => {
  it.each(ILLEGAL)('$name', (c) => {
    const r = validateCd(cd({ ...LINUX_CD, ...c.patch }), withDefaults(c.f ?? {}), c.nested ?? false);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(c.field);
  });
});

describe('describeCd hints', () => {
  it('explains R = 0, disabled halves, capped IPS, misaligned TTBs and nesting', () => {
    const h = (p: Partial<Cd>, f = F, nested = false) => describeCd(cd({ ...LINUX_CD, ...p }), f, nested).join('\n');
    expect(h({ R: 0 })).toMatch(/R = 0/);
    expect(h({ EPD0: 1 })).toMatch(/EPD0 = EPD1 = 1/);
    expect(h({ IPS: 6 })).toMatch(/IPS 6 \(52 bits\) exceeds the 48-bit OAS and behaves as 48 bits/);
    // 39-bit VA with 4KB starts at level 1: a 4 KB table.
    expect(h({ T0SZ: 25, TTB0: 0x8000_0800n })).toMatch(/TTB0 0x80000800 is not aligned to its 4096-byte start-level table/);
    expect(h({}, F, true)).toMatch(/TTB0\/TTB1 .* are IPAs/);
    expect(h({ TTB1: 0x1000n })).toMatch(/TTB1 is set but IGNORED: EPD1 = 1/);
    expect(h({ UWXN: 1 })).toMatch(/UWXN is IGNORED/);
    expect(describeCd(cd({ V: 0, T0SZ: 3 }), F)).toEqual([]);
  });
});

describe('never throws on arbitrary input', () => {
  it('decode, validate, params and describe return a result or a reason', () => {
    const rawArb = fc.array(fc.bigInt({ min: 0n, max: U64 }), { minLength: 0, maxLength: 9 });
    const structuredArb = fieldsArb(CD_FIELDS, CD_ADDR).map((v) =>
      encodeCd({ ...(v as unknown as Partial<Cd>), V: 1, A: 1, S: 0, AA64: 1, ENDI: 0, HA: 0, HD: 0 }),
    );
    fc.assert(
      fc.property(fc.oneof(rawArb, structuredArb), featuresArb, fc.boolean(), (dw, f, nested) => {
        const c = decodeCd(dw);
        const r = validateCd(c, f, nested);
        if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
        const p = s1ParamsFromCd(c, f);
        expect(p.ips).toBeLessThanOrEqual(oasEncoding(f.oas));
        expect(Array.isArray(describeCd(c, f, nested))).toBe(true);
        decodeL1cd(dw[0] ?? 0n);
      }),
      { numRuns: 500 },
    );
  });
});
