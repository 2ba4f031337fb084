/**
 * Test support for the fuzz (property) tests: how many sequences to run and
 * with which seed. By default the numbers are small and the seed fixed, so a
 * CI run is deterministic and quick; `npm run fuzz` sets FUZZ_SCALE to run
 * many more sequences, and FUZZ_SEED picks another seed (a number, or
 * `random`). No vitest import: plain functions of process.env.
 */

/** The default seed when FUZZ_SEED is not set. */
export const DEFAULT_FUZZ_SEED = 0x5eed_f022;

function env(name: string): string | undefined {
  return typeof process === 'undefined' ? undefined : process.env[name];
}

/** FUZZ_SCALE as a positive number (default 1). Throws on a value that is not a positive finite number. */
export function fuzzScale(): number {
  const raw = env('FUZZ_SCALE');
  const s = Number(raw ?? 1);
  if (!Number.isFinite(s) || s <= 0) throw new Error(`FUZZ_SCALE must be a positive number, got ${JSON.stringify(raw)}`);
  return s;
}

/** Runs for a property: base × FUZZ_SCALE (at least 1). */
export function fuzzRuns(base: number): number {
  return Math.max(1, Math.round(base * fuzzScale()));
}

/** A test timeout that grows with FUZZ_SCALE (base milliseconds × FUZZ_SCALE). */
export function fuzzTimeout(baseMs: number): number {
  return Math.ceil(baseMs * Math.max(1, fuzzScale()));
}

let randomSeed: number | undefined;

/**
 * The fast-check seed: FUZZ_SEED (an integer, or `random` for one seed per
 * process), else DEFAULT_FUZZ_SEED; `salt` gives each property its own
 * stream from the same FUZZ_SEED. A 32-bit signed integer, as fast-check wants.
 */
export function fuzzSeed(salt = 0): number {
  const raw = env('FUZZ_SEED');
  let base: number;
  if (raw === undefined || raw === '') base = DEFAULT_FUZZ_SEED;
  else if (raw === 'random') {
    randomSeed ??= (Date.now() ^ Math.floor(Math.random() * 0x7fff_ffff)) | 0;
    base = randomSeed;
  } else {
    base = Number(raw);
    if (!Number.isInteger(base)) throw new Error(`FUZZ_SEED must be an integer or "random", got ${JSON.stringify(raw)}`);
  }
  return (base + salt) | 0;
}
