import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FieldSpec, Granule } from '../descriptor';
import { ArmLpaeIoPgtable } from '../iopgtable';
import { PhysicalMemory, TableAllocator } from '../memory';
import { s2ParamsFor } from '../walk-params';
import { type SmmuFeatures, withDefaults } from './features';
import {
  L1STD_FIELDS,
  STE_FIELDS,
  type Ste,
  decodeL1std,
  decodeSte,
  describeSte,
  encodeL1std,
  encodeSte,
  fieldMask,
  oasEncoding,
  s2ParamsFromSte,
  steConfigName,
  validateSte,
} from './ste';

const U64 = (1n << 64n) - 1n;
const F = withDefaults();

function ste(p: Partial<Ste>): Ste {
  return decodeSte(encodeSte(p));
}

/** The STE of the brief, by hand: Config = S2, VMID 5, 40-bit IPA, 4KB, SL0 = 1, 48-bit PS. */
const S2_BASE: Partial<Ste> = {
  V: 1,
  Config: 0b110,
  S2VMID: 5,
  S2T0SZ: 24,
  S2SL0: 1,
  S2TG: 0,
  S2PS: 5,
  S2AA64: 1,
  S2R: 1,
  S2TTB: 0x8000_0000n,
};

/** A stage-1 STE as Linux's arm_smmu_make_cdtable_ste writes it (one CD, no stalls, no ATS). */
const S1_BASE: Partial<Ste> = {
  V: 1,
  Config: 0b101,
  S1ContextPtr: 0x8000_0000n,
  S1Fmt: 0,
  S1CDMax: 0,
  S1CIR: 1, // WBRA
  S1COR: 1,
  S1CSH: 3, // inner shareable
};

const NESTED_BASE: Partial<Ste> = { ...S2_BASE, ...S1_BASE, Config: 0b111, S1ContextPtr: 0x4000_0000n };

function addrFieldNames(): Set<string> {
  return new Set(['S1ContextPtr', 'S2TTB']);
}

/** fast-check record of random in-range values for every field of a layout. */
function fieldsArb(specs: readonly FieldSpec[], addr: ReadonlySet<string>): fc.Arbitrary<Record<string, number | bigint>> {
  const model: Record<string, fc.Arbitrary<number | bigint>> = {};
  for (const s of specs) {
    const w = BigInt(s.hi - s.lo + 1);
    const raw = fc.bigInt({ min: 0n, max: (1n << w) - 1n });
    model[s.name] = addr.has(s.name) ? raw.map((v) => v << BigInt(s.lo % 64)) : raw.map(Number);
  }
  return fc.record(model);
}

const featuresArb: fc.Arbitrary<SmmuFeatures> = fc
  .record({
    oas: fc.constantFrom(32, 36, 40, 42, 44, 48, 52),
    ssidsize: fc.integer({ min: 0, max: 20 }),
    granules: fc.subarray([4096, 16384, 65536] as Granule[], { minLength: 1 }),
    s1: fc.boolean(),
    s2: fc.boolean(),
    cd2l: fc.boolean(),
    asid16: fc.boolean(),
    vmid16: fc.boolean(),
    xnx: fc.boolean(),
  })
  .map((p) => withDefaults(p));

describe('STE layout', () => {
  it('lists the architected fields, each inside one dword, without overlaps', () => {
    expect(STE_FIELDS.map((s) => s.name)).toEqual([
      'V', 'Config', 'S1Fmt', 'S1ContextPtr', 'S1CDMax', 'S1DSS', 'S1CIR', 'S1COR', 'S1CSH', 'S1STALLD', 'EATS', 'STRW',
      'MemAttr', 'MTCFG', 'ALLOCCFG', 'SHCFG', 'NSCFG', 'PRIVCFG', 'INSTCFG', 'S2VMID', 'S2T0SZ', 'S2SL0', 'S2IR0', 'S2OR0',
      'S2SH0', 'S2TG', 'S2PS', 'S2AA64', 'S2ENDI', 'S2AFFD', 'S2PTW', 'S2HD', 'S2HA', 'S2S', 'S2R', 'S2TTB',
    ]);
    const used = new Set<number>();
    for (const s of [...STE_FIELDS]) {
      expect(s.hi).toBeGreaterThanOrEqual(s.lo);
      expect(s.hi).toBeLessThan(512);
      expect(Math.floor(s.hi / 64)).toBe(Math.floor(s.lo / 64));
      expect(s.doc.length).toBeGreaterThan(10);
      for (let b = s.lo; b <= s.hi; b++) {
        expect(used.has(b), `${s.name} bit ${b}`).toBe(false);
        used.add(b);
      }
    }
    // The decoded interface has exactly these keys.
    expect(Object.keys(decodeSte([])).sort()).toEqual(STE_FIELDS.map((s) => s.name).sort());
    expect(L1STD_FIELDS.map((s) => [s.name, s.hi, s.lo])).toEqual([
      ['Span', 4, 0],
      ['L2Ptr', 51, 6],
    ]);
  });

  it('places the brief\'s stage-2 STE exactly where the architecture puts it', () => {
    const dw = encodeSte(S2_BASE);
    // dw0: V[0] = 1, Config[3:1] = 0b110 -> 0b1101
    expect(dw[0]).toBe(0xdn);
    expect(dw[1]).toBe(0n);
    // dw2: S2VMID[15:0] = 5; S2T0SZ[37:32] = 24 (0x18); S2SL0[39:38] = 1 -> 0x40 in bits 39:32;
    // S2PS[50:48] = 5; S2AA64[51] -> 0x8 in bits 51:48 (0xd in all); S2R[58] -> 0x400 in bits 63:48.
    expect(dw[2]).toBe(0x040d_0058_0000_0005n);
    // dw3: S2TTB[51:4] holds the address in place.
    expect(dw[3]).toBe(0x8000_0000n);
    expect(dw.slice(4)).toEqual([0n, 0n, 0n, 0n]);
    expect(decodeSte(dw)).toMatchObject(S2_BASE);
  });

  it('places the Linux stage-1 STE fields by hand', () => {
    const dw = encodeSte(S1_BASE);
    // V | Config 0b101 << 1 = 0xb; S1ContextPtr in place.
    expect(dw[0]).toBe(0x8000_000bn);
    // S1CIR[65:64+2] = 1 -> 0x4, S1COR = 1 -> 0x10, S1CSH = 3 -> 0xc0.
    expect(dw[1]).toBe(0xd4n);
  });

  it.each([
    ['S1CDMax', 31, 0, 0xf800_0000_0000_0000n],
    ['S1Fmt', 2, 0, 0x20n],
    ['S1DSS', 2, 1, 0x2n],
    ['S1STALLD', 1, 1, 1n << 27n],
    ['EATS', 1, 1, 1n << 28n],
    ['STRW', 2, 1, 0x8000_0000n],
    ['MemAttr', 0xf, 1, 0xf_0000_0000n],
    ['MTCFG', 1, 1, 1n << 36n],
    ['ALLOCCFG', 0xf, 1, 0xfn << 37n],
    ['SHCFG', 1, 1, 1n << 44n],
    ['NSCFG', 3, 1, 3n << 46n],
    ['PRIVCFG', 2, 1, 2n << 48n],
    ['INSTCFG', 3, 1, 3n << 50n],
    ['S2VMID', 0xffff, 2, 0xffffn],
    ['S2IR0', 1, 2, 1n << 40n],
    ['S2OR0', 1, 2, 1n << 42n],
    ['S2SH0', 3, 2, 3n << 44n],
    ['S2TG', 2, 2, 2n << 46n],
    ['S2ENDI', 1, 2, 1n << 52n],
    ['S2AFFD', 1, 2, 1n << 53n],
    ['S2PTW', 1, 2, 1n << 54n],
    ['S2HD', 1, 2, 1n << 55n],
    ['S2HA', 1, 2, 1n << 56n],
    ['S2S', 1, 2, 1n << 57n],
  ] as const)('%s = %d lands in dword %d as %s', (name, value, n, expected) => {
    const dw = encodeSte({ [name]: value } as Partial<Ste>);
    expect(dw[n]).toBe(expected);
    expect(dw.filter((_, i) => i !== n).every((w) => w === 0n)).toBe(true);
  });

  it('takes the highest address bits at [51:*] and drops the rest', () => {
    expect(encodeSte({ S2TTB: 0xf_ffff_ffff_ffffn })[3]).toBe(0xf_ffff_ffff_fff0n);
    expect(encodeSte({ S1ContextPtr: 0xf_ffff_ffff_ffffn })[0]).toBe(0xf_ffff_ffff_ffc0n);
  });

  it('round-trips random field values (decode . encode = id)', () => {
    fc.assert(
      fc.property(fieldsArb(STE_FIELDS, addrFieldNames()), (v) => {
        expect(decodeSte(encodeSte(v as unknown as Partial<Ste>))).toEqual(v);
      }),
    );
  });

  it('round-trips random dwords on the architected bits (encode . decode = mask)', () => {
    const mask = fieldMask(STE_FIELDS, 8);
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: U64 }), { minLength: 8, maxLength: 8 }), (dw) => {
        expect(encodeSte(decodeSte(dw))).toEqual(dw.map((w, i) => w & mask[i]));
      }),
    );
  });

  it('encodes and decodes L1STD', () => {
    expect(encodeL1std({ span: 9, l2ptr: 0x1234_5000n })).toBe(0x1234_5009n);
    expect(decodeL1std(0xfff0_0000_1234_5009n)).toEqual({ span: 9, l2ptr: 0x1234_5000n });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 31 }), fc.bigInt({ min: 0n, max: (1n << 46n) - 1n }), (span, p) => {
        const l2ptr = p << 6n;
        expect(decodeL1std(encodeL1std({ span, l2ptr }))).toEqual({ span, l2ptr });
      }),
    );
  });
});

describe('validateSte: legal configurations', () => {
  it('accepts the brief\'s stage-2 STE, a Linux stage-1 STE and a nested STE', () => {
    expect(validateSte(ste(S2_BASE), F)).toEqual({ ok: true, config: 's2' });
    expect(validateSte(ste(S1_BASE), F)).toEqual({ ok: true, config: 's1' });
    expect(validateSte(ste(NESTED_BASE), F)).toEqual({ ok: true, config: 'nested' });
    expect(validateSte(ste({ V: 1, Config: 0b100 }), F)).toEqual({ ok: true, config: 'bypass' });
    expect(validateSte(ste({ V: 1, Config: 0b000 }), F)).toEqual({ ok: true, config: 'abort' });
  });

  it('accepts Linux substream STEs (64KB-leaf 2-level CD table, S1DSS = SSID0 / bypass)', () => {
    const s = ste({ ...S1_BASE, S1Fmt: 2, S1CDMax: 20, S1DSS: 2 });
    expect(validateSte(s, F)).toEqual({ ok: true, config: 's1' });
    expect(validateSte(ste({ ...S1_BASE, S1Fmt: 0, S1CDMax: 4, S1DSS: 1 }), F).ok).toBe(true);
  });

  it('accepts what io-pgtable-arm builds for stage 2, and reads back its walk parameters', () => {
    const cases: Array<[Granule, number]> = [
      [4096, 48],
      [4096, 40],
      [4096, 32],
      [16384, 48],
      [16384, 40],
      [65536, 48],
      [65536, 42],
    ];
    for (const [granule, ias] of cases) {
      const mem = new PhysicalMemory();
      const alloc = new TableAllocator(mem, 0x4000_0000n, 0x4100_0000n);
      const pgt = ArmLpaeIoPgtable.alloc({ fmt: 'arm-lpae-s2', granule, ias, oas: 48 }, alloc);
      const v = pgt.s2!;
      // arm_smmu_make_s2_domain_ste: VTCR fields, S2AA64, S2R, S2TTB = vttbr.
      const s = ste({
        V: 1,
        Config: 0b110,
        S2VMID: 1,
        S2T0SZ: v.tsz,
        S2SL0: v.sl,
        S2IR0: v.irgn,
        S2OR0: v.orgn,
        S2SH0: v.sh,
        S2TG: v.tg,
        S2PS: v.ps,
        S2AA64: 1,
        S2R: 1,
        S2TTB: v.vttbr,
      });
      expect(validateSte(s, F), `${granule} ${ias}`).toEqual({ ok: true, config: 's2' });
      expect(s2ParamsFromSte(s, F)).toEqual(s2ParamsFor(pgt, 48));
      expect(describeSte(s, F)).toEqual([]);
    }
  });

  it('computes stage-2 walk parameters from the STE', () => {
    expect(s2ParamsFromSte(ste(S2_BASE), F)).toEqual({
      ttb: 0x8000_0000n,
      tsz: 24,
      sl0: 1,
      granule: 4096,
      ps: 5,
      oasBits: 48,
      affd: false,
      xnx: false,
      ptw: false,
    });
    const p = s2ParamsFromSte(ste({ ...S2_BASE, S2TG: 1, S2PS: 6, S2AFFD: 1, S2PTW: 1 }), withDefaults({ oas: 44, xnx: true }));
    expect(p).toMatchObject({ granule: 65536, ps: 4, oasBits: 44, affd: true, ptw: true, xnx: true });
    expect(s2ParamsFromSte(ste({ ...S2_BASE, S2TG: 2 }), F).granule).toBe(16384);
    expect(oasEncoding(48)).toBe(5);
    expect(oasEncoding(52)).toBe(6);
    expect(oasEncoding(32)).toBe(0);
  });

  it('ignores every field of a stage the Config does not enable', () => {
    const junkS1: Partial<Ste> = { S1Fmt: 3, S1ContextPtr: 0xf_ffff_ffff_ffc0n, S1CDMax: 31, S1DSS: 3, S1STALLD: 1 };
    const junkS2: Partial<Ste> = { S2T0SZ: 63, S2SL0: 3, S2TG: 3, S2PS: 7, S2AA64: 0, S2ENDI: 1, S2HA: 1, S2HD: 1, S2S: 1, S2TTB: 0xf_ffff_ffff_fff0n };
    const narrow = withDefaults({ oas: 40, ssidsize: 4, cd2l: false, granules: [4096] });
    expect(validateSte(ste({ V: 1, Config: 0b100, ...junkS1, ...junkS2 }), narrow)).toEqual({ ok: true, config: 'bypass' });
    expect(validateSte(ste({ V: 1, Config: 0b000, ...junkS1, ...junkS2, STRW: 3 }), narrow)).toEqual({ ok: true, config: 'abort' });
    expect(validateSte(ste({ ...S1_BASE, ...junkS2 }), narrow)).toEqual({ ok: true, config: 's1' });
    expect(validateSte(ste({ ...junkS1, ...S2_BASE, S2TTB: 0x8000_0000n, S2T0SZ: 25, S2SL0: 1 }), narrow)).toEqual({ ok: true, config: 's2' });
  });

  it('does not range-check S1ContextPtr when nested (it is an IPA)', () => {
    expect(validateSte(ste({ ...NESTED_BASE, S1ContextPtr: 1n << 50n }), F).ok).toBe(true);
  });
});

describe('validateSte: architecture-defined behaviour of reserved values (legal, with a hint)', () => {
  it.each([1, 2, 3])('Config %d (reserved 0b0xx) behaves as abort, not C_BAD_STE', (c) => {
    const s = ste({ ...S2_BASE, Config: c });
    expect(validateSte(s, F)).toEqual({ ok: true, config: 'abort' });
    expect(steConfigName(c)).toBe('abort');
    expect(describeSte(s, F).join('\n')).toMatch(/Config 0b0(01|10|11) is reserved and behaves as 0b000/);
  });

  it('S1Fmt 0b11 behaves as linear and S1DSS 0b11 as terminate', () => {
    const s = ste({ ...S1_BASE, S1CDMax: 4, S1Fmt: 3, S1DSS: 3 });
    expect(validateSte(s, F)).toEqual({ ok: true, config: 's1' });
    const hints = describeSte(s, F).join('\n');
    expect(hints).toMatch(/S1Fmt 0b11 is reserved/);
    expect(hints).toMatch(/S1DSS 0b11 is reserved/);
  });

  it('S2PS above the OAS, 0b111 included, behaves as the OAS', () => {
    const s = ste({ ...S2_BASE, S2PS: 7 });
    expect(validateSte(s, F)).toEqual({ ok: true, config: 's2' });
    expect(s2ParamsFromSte(s, F).ps).toBe(5);
    expect(describeSte(s, F).join('\n')).toMatch(/S2PS 0b111 \(reserved\) exceeds the 48-bit OAS and behaves as 48 bits/);
    expect(s2ParamsFromSte(ste({ ...S2_BASE, S2PS: 6 }), withDefaults({ oas: 40 })).ps).toBe(2);
  });

  it('STRW is only used for stage-1-only streams on an SMMU with EL2 support', () => {
    expect(validateSte(ste({ ...S1_BASE, STRW: 2 }), F)).toEqual({ ok: true, config: 's1' });
    const nested = ste({ ...NESTED_BASE, STRW: 2 });
    expect(validateSte(nested, F).ok).toBe(true);
    expect(describeSte(nested, F).join('\n')).toMatch(/STRW 0b10 is IGNORED: stage 2 is enabled/);
    expect(validateSte(ste({ ...NESTED_BASE, STRW: 3 }), F).ok).toBe(true);
    const noHyp = ste({ ...S1_BASE, STRW: 3 });
    expect(validateSte(noHyp, F, false).ok).toBe(true);
    expect(describeSte(noHyp, F, false).join('\n')).toMatch(/STRW 0b11 is IGNORED: this SMMU has no EL2 support/);
  });

  it('S1CDMax is IGNORED without substream support', () => {
    const f = withDefaults({ ssidsize: 0, cd2l: false });
    const s = ste({ ...S1_BASE, S1CDMax: 8, S1Fmt: 2 });
    expect(validateSte(s, f).ok).toBe(true);
    expect(describeSte(s, f).join('\n')).toMatch(/S1CDMax is IGNORED/);
  });

  it('a misaligned S2TTB is not illegal: the low bits are treated as 0 (concatenated tables included)', () => {
    // 40-bit IPA starting at level 1 with 4KB: two concatenated level-1 tables, 8 KB.
    const s = ste({ ...S2_BASE, S2TTB: 0x8000_1000n });
    expect(validateSte(s, F).ok).toBe(true);
    expect(describeSte(s, F).join('\n')).toMatch(/S2TTB 0x80001000 is not aligned to 2 concatenated start-level tables \(8192 bytes\).*0x80000000/);
  });
});

interface IllegalCase {
  name: string;
  base: Partial<Ste>;
  patch: Partial<Ste>;
  f?: Partial<SmmuFeatures>;
  hyp?: boolean;
  field: RegExp;
}

const ILLEGAL: IllegalCase[] = [
  { name: 'V = 0', base: S2_BASE, patch: { V: 0 }, field: /\bV = 0/ },
  { name: 'stage 1 without S1P', base: S1_BASE, patch: {}, f: { s1: false }, field: /Config 0b101.*S1P = 0/ },
  { name: 'nested without S1P', base: NESTED_BASE, patch: {}, f: { s1: false }, field: /Config 0b111/ },
  { name: 'stage 2 without S2P', base: S2_BASE, patch: {}, f: { s2: false }, field: /Config 0b110.*S2P = 0/ },
  { name: 'STRW 0b01 (EL3) on a Non-secure stage-1 STE', base: S1_BASE, patch: { STRW: 1 }, field: /STRW 0b01/ },
  { name: 'STRW 0b11 reserved', base: S1_BASE, patch: { STRW: 3 }, field: /STRW 0b11/ },
  { name: 'S1STALLD = 1 with a terminate-only stall model', base: S1_BASE, patch: { S1STALLD: 1 }, field: /S1STALLD/ },
  { name: 'S1CDMax > SSIDSIZE', base: S1_BASE, patch: { S1CDMax: 21 }, field: /S1CDMax 21 exceeds.*SSIDSIZE \(20\)/ },
  { name: 'S1CDMax > a small SSIDSIZE', base: S1_BASE, patch: { S1CDMax: 5 }, f: { ssidsize: 4 }, field: /S1CDMax 5/ },
  { name: 'S1Fmt 2 without CD2L', base: S1_BASE, patch: { S1CDMax: 12, S1Fmt: 2 }, f: { cd2l: false }, field: /S1Fmt 2.*CD2L = 0/ },
  { name: 'S1Fmt 1 without CD2L', base: S1_BASE, patch: { S1CDMax: 7, S1Fmt: 1 }, f: { cd2l: false }, field: /S1Fmt 1/ },
  { name: 'S1ContextPtr beyond the OAS', base: S1_BASE, patch: { S1ContextPtr: 1n << 48n }, field: /S1ContextPtr 0x1000000000000.*48-bit OAS/ },
  { name: 'S1ContextPtr beyond a 40-bit OAS', base: S1_BASE, patch: { S1ContextPtr: 1n << 40n }, f: { oas: 40 }, field: /S1ContextPtr/ },
  { name: 'S2S = 1', base: S2_BASE, patch: { S2S: 1 }, field: /S2S = 1/ },
  { name: 'S2AA64 = 0', base: S2_BASE, patch: { S2AA64: 0 }, field: /S2AA64 = 0/ },
  { name: 'S2HA = 1', base: S2_BASE, patch: { S2HA: 1 }, field: /S2HA = 1.*HTTU/ },
  { name: 'S2HD = 1', base: S2_BASE, patch: { S2HD: 1 }, field: /S2HD = 1/ },
  { name: 'S2TG reserved', base: S2_BASE, patch: { S2TG: 3 }, field: /S2TG 0b11 is a reserved/ },
  { name: 'S2TG 16KB not implemented', base: S2_BASE, patch: { S2TG: 2, S2SL0: 1, S2T0SZ: 24 }, f: { granules: [4096, 65536] }, field: /S2TG 2.*16KB/ },
  { name: 'S2TTB beyond the OAS', base: S2_BASE, patch: { S2TTB: 1n << 48n }, field: /S2TTB 0x1000000000000 is outside the 48-bit/ },
  { name: 'S2TTB beyond a smaller effective S2PS', base: S2_BASE, patch: { S2PS: 2, S2TTB: 1n << 40n }, field: /S2TTB.*40-bit effective S2PS/ },
  {
    name: 'S2TTB beyond 48 bits with a 4KB granule and a 52-bit OAS',
    base: S2_BASE,
    patch: { S2PS: 6, S2TTB: 1n << 50n },
    f: { oas: 52 },
    field: /S2TTB.*48-bit effective S2PS/,
  },
  { name: 'S2T0SZ above 39', base: S2_BASE, patch: { S2T0SZ: 40 }, field: /S2T0SZ 40 is above 39/ },
  { name: 'S2T0SZ wider than the OAS', base: S2_BASE, patch: { S2T0SZ: 20, S2SL0: 2 }, f: { oas: 40 }, field: /S2T0SZ 20 gives a 44-bit IPA/ },
  { name: 'S2SL0 3 with 4KB', base: S2_BASE, patch: { S2SL0: 3 }, field: /S2SL0 3 is reserved/ },
  { name: 'more than 16 concatenated tables', base: S2_BASE, patch: { S2SL0: 0, S2T0SZ: 29 }, field: /S2SL0 0 \/ S2T0SZ 29.*32 concatenated tables/ },
  { name: 'IPA too small for the start level', base: S2_BASE, patch: { S2SL0: 2, S2T0SZ: 25 }, field: /S2SL0 2 \/ S2T0SZ 25.*too small to start at level 0/ },
  { name: 'start level 0 with a 40-bit PA (S2InvalidSL)', base: S2_BASE, patch: { S2SL0: 2, S2T0SZ: 24, S2PS: 2, S2TTB: 0x1000n }, f: { oas: 40 }, field: /S2SL0 2.*at least 44 bits/ },
  { name: 'S2ENDI = 1', base: S2_BASE, patch: { S2ENDI: 1 }, field: /S2ENDI = 1/ },
  { name: '16-bit S2VMID without VMID16 (stage 2)', base: S2_BASE, patch: { S2VMID: 0x105 }, f: { vmid16: false }, field: /S2VMID 0x105.*VMID16 = 0/ },
  { name: '16-bit S2VMID without VMID16 (stage-1-only NS-EL1 stream)', base: S1_BASE, patch: { S2VMID: 0x100 }, f: { vmid16: false }, field: /S2VMID/ },
];

describe('validateSte: every C_BAD_STE rule', () => {
  it.each(ILLEGAL)('$name', (c) => {
    const r = validateSte(ste({ ...c.base, ...c.patch }), withDefaults(c.f ?? {}), c.hyp ?? true);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(c.field);
  });

  it('S2VMID[15:8] is IGNORED where no VMID tagging happens', () => {
    const f8 = withDefaults({ vmid16: false });
    expect(validateSte(ste({ ...S1_BASE, S2VMID: 0x100, STRW: 2 }), f8).ok).toBe(true); // EL2 StreamWorld
    expect(validateSte(ste({ ...S1_BASE, S2VMID: 0x100 }), withDefaults({ vmid16: false, s2: false })).ok).toBe(true); // no S2P
    expect(validateSte(ste({ V: 1, Config: 0b100, S2VMID: 0x100 }), f8).ok).toBe(true); // bypass
  });
});

describe('describeSte hints', () => {
  it('has nothing to say about the clean Linux STEs', () => {
    expect(describeSte(ste(S1_BASE), F)).toEqual([]);
    expect(describeSte(ste(S2_BASE), F)).toEqual([]);
  });

  it('points out fields of stages the Config does not enable', () => {
    const bypass = describeSte(ste({ V: 1, Config: 0b100, S1ContextPtr: 0x1000n, S2TTB: 0x2000n, S2VMID: 3 }), F).join('\n');
    expect(bypass).toMatch(/S1ContextPtr is set, but Config = bypass \(0b100\) does not enable stage 1: IGNORED/);
    expect(bypass).toMatch(/S2TTB is set, but Config = bypass .* does not enable stage 2/);
    expect(bypass).toMatch(/S2VMID is set.*IGNORED/);
    const s1 = describeSte(ste({ ...S1_BASE, S2T0SZ: 24, S2TTB: 0x2000n }), F).join('\n');
    expect(s1).toMatch(/S2T0SZ, S2TTB are set, but Config = s1 \(0b101\) does not enable stage 2/);
    const s2 = describeSte(ste({ ...S2_BASE, S1ContextPtr: 0x1000n }), F).join('\n');
    expect(s2).toMatch(/S1ContextPtr is set, but Config = s2/);
  });

  it('explains V = 0, substreams, S2R, attribute overrides and ATS', () => {
    expect(describeSte(ste({ ...S2_BASE, V: 0 }), F).join('\n')).toMatch(/V = 0: .* IGNORED until V = 1/);
    expect(describeSte(ste({ V: 0 }), F)).toEqual([]);
    expect(describeSte(ste({ ...S1_BASE, S1DSS: 2 }), F).join('\n')).toMatch(/S1DSS is IGNORED when S1CDMax = 0/);
    expect(describeSte(ste({ ...S1_BASE, S1CDMax: 4 }), F).join('\n')).toMatch(/S1DSS = 0: .*F_STREAM_DISABLED/);
    expect(describeSte(ste({ ...S1_BASE, S1CDMax: 4, S1ContextPtr: 0x8000_0040n }), F).join('\n')).toMatch(/not aligned to its 1024-byte CD table/);
    expect(describeSte(ste({ ...S2_BASE, S2R: 0 }), F).join('\n')).toMatch(/S2R = 0/);
    expect(describeSte(ste({ V: 1, Config: 0b100, SHCFG: 1 }), F).join('\n')).toMatch(/SHCFG is RES0/);
    expect(describeSte(ste({ ...S1_BASE, EATS: 1 }), F).join('\n')).toMatch(/EATS is IGNORED/);
    expect(describeSte(ste(NESTED_BASE), F).join('\n')).toMatch(/S1ContextPtr .* is an IPA/);
  });
});

describe('never throws on arbitrary input', () => {
  const rawArb = fc.array(fc.bigInt({ min: 0n, max: U64 }), { minLength: 0, maxLength: 9 });
  // Structured entries reach the deeper rules more often than raw noise.
  const structuredArb = fieldsArb(STE_FIELDS, addrFieldNames()).map((v) =>
    encodeSte({ ...(v as unknown as Partial<Ste>), V: 1, Config: 4 + ((v.Config as number) & 3), S2AA64: 1 }),
  );

  it('decode, validate, params and describe return a result or a reason', () => {
    fc.assert(
      fc.property(fc.oneof(rawArb, structuredArb), featuresArb, fc.boolean(), (dw, f, hyp) => {
        const s = decodeSte(dw);
        const r = validateSte(s, f, hyp);
        if (r.ok) expect(['abort', 'bypass', 's1', 's2', 'nested']).toContain(r.config);
        else expect(r.reason.length).toBeGreaterThan(0);
        const p = s2ParamsFromSte(s, f);
        expect(p.ps).toBeLessThanOrEqual(oasEncoding(f.oas));
        expect(Array.isArray(describeSte(s, f, hyp))).toBe(true);
        decodeL1std(dw[0] ?? 0n);
      }),
      { numRuns: 500 },
    );
  });
});
