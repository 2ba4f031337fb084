import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { deflateSync, strToU8 } from 'fflate';
import { DEFAULT_SCENARIO } from '../scenario/library/default';
import { MAX_HASH, MAX_JSON, SHARE_VERSION, type DecodeResult, decodeShare, encodeShare, fromBase64Url, parseImport, toBase64Url } from './share';

/** Compress text as a link payload does (raw DEFLATE, base64url). */
const pack = (text: string): string => toBase64Url(deflateSync(strToU8(text)));

/** A link hash for any JSON value (the envelope or not). */
const linkOf = (value: unknown): string => 's=' + pack(JSON.stringify(value));

function failure(r: DecodeResult): string {
  expect(r.ok).toBe(false);
  const message = (r as { message: string }).message;
  expect(typeof message).toBe('string');
  expect(message.length).toBeGreaterThan(10);
  return message;
}

function success(r: DecodeResult) {
  expect(r.ok).toBe(true);
  return (r as Extract<DecodeResult, { ok: true }>).state;
}

describe('encodeShare / decodeShare', () => {
  it('round-trips the scenario and the step', () => {
    const hash = encodeShare({ scenario: DEFAULT_SCENARIO, step: 5 });
    expect(hash.startsWith('s=')).toBe(true);
    // URI-safe: nothing a URL would re-encode.
    expect(hash).toMatch(/^[A-Za-z0-9_=-]*$/);
    expect(success(decodeShare(hash))).toEqual({ scenario: DEFAULT_SCENARIO, step: 5 });
    // With the leading '#' as in location.hash.
    expect(success(decodeShare('#' + hash))).toEqual({ scenario: DEFAULT_SCENARIO, step: 5 });
  });

  it('round-trips any JSON scenario and step (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(), (scenario, step) => {
        // JSON normalises -0 to 0; compare through JSON.
        const expected = JSON.parse(JSON.stringify(scenario ?? null)) as unknown;
        const state = success(decodeShare(encodeShare({ scenario, step })));
        expect(state.step).toBe(step);
        expect(state.scenario).toEqual(expected);
      }),
      { numRuns: 100 },
    );
  });

  it('holds the envelope {v, scenario, step}', () => {
    const hash = encodeShare({ scenario: { a: 1 }, step: 2 });
    // An envelope made by hand decodes the same.
    expect(decodeShare(hash)).toEqual(decodeShare(linkOf({ v: SHARE_VERSION, scenario: { a: 1 }, step: 2 })));
    // step is optional (0).
    expect(success(decodeShare(linkOf({ v: 1, scenario: { a: 1 } })))).toEqual({ scenario: { a: 1 }, step: 0 });
  });

  it('is `none` for an empty hash', () => {
    expect(decodeShare('')).toEqual({ ok: 'none' });
    expect(decodeShare('#')).toEqual({ ok: 'none' });
  });

  it('wrong prefix: a clear message', () => {
    const good = encodeShare({ scenario: DEFAULT_SCENARIO, step: 0 });
    for (const h of ['#foo', 'x=' + good.slice(2), good.slice(2), '#S=abc', 'section-2']) {
      expect(failure(decodeShare(h))).toMatch(/not a scenario link/);
    }
  });

  it('garbage payload: a clear message', () => {
    for (const h of ['s=', 's=%%%%', 's=!!!!', 's=@@@@@@', 's=\u0000\u0001', 's=💥💥💥']) {
      expect(failure(decodeShare(h))).toMatch(/broken or truncated/);
    }
  });

  it('truncated payload (a valid one cut in half): a clear message', () => {
    const hash = encodeShare({ scenario: DEFAULT_SCENARIO, step: 3 });
    for (const cut of [Math.floor(hash.length / 2), Math.floor(hash.length / 3), hash.length - 40, 5]) {
      expect(failure(decodeShare(hash.slice(0, cut)))).toMatch(/broken or truncated/);
    }
    // Losing the last few characters either fails clearly or (padding bits only) still gives the same state: never another one.
    for (let cut = hash.length - 6; cut < hash.length; cut++) {
      const r = decodeShare(hash.slice(0, cut));
      if (r.ok === true) expect(r.state).toEqual({ scenario: DEFAULT_SCENARIO, step: 3 });
      else failure(r);
    }
  });

  it('valid compressed text that is not JSON: a clear message', () => {
    expect(failure(decodeShare('s=' + pack('{"v":1, "scenario": oops')))).toMatch(/not valid JSON/);
    expect(failure(decodeShare('s=' + pack('hello world')))).toMatch(/not valid JSON/);
  });

  it('base64url round trip for every length and byte value', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(Array.from(fromBase64Url(toBase64Url(bytes)) ?? [])).toEqual(Array.from(bytes));
      }),
      { numRuns: 300 },
    );
    expect(fromBase64Url('ab$d')).toBeNull();
    expect(fromBase64Url('abcde')).toBeNull();
  });

  it('JSON of the wrong shape: a clear message', () => {
    for (const v of [[1, 2], 'str', 42, null, { scenario: {} }, { v: '1', scenario: {} }, { v: 1, scenario: {}, step: 'two' }]) {
      expect(failure(decodeShare(linkOf(v)))).toMatch(/does not hold a scenario/);
    }
  });

  it('a newer link format: names it', () => {
    const m = failure(decodeShare(linkOf({ v: 2, scenario: {}, step: 0 })));
    expect(m).toMatch(/newer version/);
    expect(m).toContain('v2');
    expect(failure(decodeShare(linkOf({ v: 0, scenario: {} })))).toMatch(/Unknown link format v0/);
    expect(failure(decodeShare(linkOf({ v: 1.5, scenario: {} })))).toMatch(/newer version|Unknown link format/);
  });

  it('a negative or non-integer step becomes 0', () => {
    for (const step of [-1, -100, 1.5, 0.0001, 1e300]) {
      const s = success(decodeShare(linkOf({ v: 1, scenario: { a: 1 }, step })));
      expect(s.step, String(step)).toBe(Number.isInteger(step) && step >= 0 ? step : 0);
    }
    expect(success(decodeShare(encodeShare({ scenario: 1, step: -3 }))).step).toBe(0);
    expect(success(decodeShare(encodeShare({ scenario: 1, step: 2.5 }))).step).toBe(0);
  });

  it('over-size hashes are refused before decompression', () => {
    const h = 's=' + 'A'.repeat(MAX_HASH + 1);
    const m = failure(decodeShare(h));
    expect(m).toMatch(/too long/);
    expect(m).toContain(String(MAX_HASH));
  });

  it('a compression bomb is stopped at MAX_JSON while inflating', () => {
    // 64 MB of spaces deflate to ~62 KB: a link well under MAX_HASH that would expand far past MAX_JSON.
    const bomb = 's=' + toBase64Url(deflateSync(new Uint8Array(64 << 20).fill(32), { level: 9 }));
    expect(bomb.length).toBeLessThan(MAX_HASH);
    const t0 = performance.now();
    expect(failure(decodeShare(bomb))).toMatch(/too large/);
    // Inflation stops after about MAX_JSON bytes, not 64 MB (a generous bound that still fails a full expansion).
    expect(performance.now() - t0).toBeLessThan(5_000);
    // Just under the cap inflates and is judged as JSON.
    expect(failure(decodeShare('s=' + toBase64Url(deflateSync(new Uint8Array(1000).fill(32)))))).toMatch(/not valid JSON/);
  });

  it('never throws, whatever the hash (property)', () => {
    const alphabet = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-$='.split(''));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'grapheme', maxLength: 200 }),
          fc.string({ unit: alphabet, maxLength: 400 }).map((s) => 's=' + s),
          // Any UTF-16 code units, lone surrogates included.
          fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 200 }).map((a) => '#s=' + String.fromCharCode(...a)),
          // A valid payload with random damage.
          fc.tuple(fc.nat(), fc.string({ unit: alphabet, minLength: 1, maxLength: 3 })).map(([i, junk]) => {
            const good = encodeShare({ scenario: { v: 1, steps: [1, 2, 3] }, step: 1 });
            const at = 2 + (i % (good.length - 2));
            return good.slice(0, at) + junk + good.slice(at + 1);
          }),
        ),
        (hash) => {
          const r = decodeShare(hash);
          expect(['none', true, false]).toContain(r.ok);
          if (r.ok === false) expect(r.message.length).toBeGreaterThan(0);
          if (r.ok === true) {
            expect(Number.isInteger(r.state.step) && r.state.step >= 0).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('parseImport', () => {
  it('reads a bare scenario document at step 0', () => {
    const text = JSON.stringify(DEFAULT_SCENARIO, null, 2);
    expect(success(parseImport(text))).toEqual({ scenario: DEFAULT_SCENARIO, step: 0 });
  });

  it('reads a share envelope with its step', () => {
    const text = JSON.stringify({ v: 1, scenario: DEFAULT_SCENARIO, step: 6 });
    expect(success(parseImport(text))).toEqual({ scenario: DEFAULT_SCENARIO, step: 6 });
  });

  it('a scenario that happens to have `scenario` and `machine` fields is a bare document', () => {
    const doc = { v: 1, machine: { ram: [] }, scenario: { x: 1 }, mode: 'bare', steps: [] };
    expect(success(parseImport(JSON.stringify(doc)))).toEqual({ scenario: doc, step: 0 });
  });

  it('a non-JSON file: a clear message', () => {
    expect(failure(parseImport('not json'))).toMatch(/not valid JSON/);
    expect(failure(parseImport(''))).toMatch(/not valid JSON/);
  });

  it('an over-size file is refused', () => {
    expect(failure(parseImport(' '.repeat(MAX_JSON + 1)))).toMatch(/too large/);
  });

  // parseImport checks an envelope as decodeShare does.
  it('clamps a negative or non-integer envelope step to 0, as decodeShare does', () => {
    expect(success(parseImport(JSON.stringify({ v: 1, scenario: { a: 1 }, step: -5 }))).step).toBe(0);
    expect(success(parseImport(JSON.stringify({ v: 1, scenario: { a: 1 }, step: 1.5 }))).step).toBe(0);
  });

  it('refuses an envelope of a newer link format, as decodeShare does', () => {
    expect(failure(parseImport(JSON.stringify({ v: 2, scenario: { a: 1 }, step: 1 })))).toMatch(/newer version/);
  });

  it('never throws (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 100 }), fc.json()), (text) => {
        const r = parseImport(text);
        expect([true, false]).toContain(r.ok);
      }),
      { numRuns: 200 },
    );
  });
});
