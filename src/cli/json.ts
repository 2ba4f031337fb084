/**
 * Shared pieces of the headless contract (see /spec/cli.md, "General rules"):
 * 64-bit values in and out, strict schemas, and the invalid-input error shape.
 */

import { z } from 'zod';
import { hex } from '../emu/bits';

/** The contract's error document (exit status 2 / 3). */
export interface CliErrorDoc {
  error: {
    kind: 'invalid-input' | 'internal';
    message: string;
    path?: string;
  };
}

/**
 * A semantic input error found after the schema accepted the document (for
 * example io-pgtable rejecting the configuration). `path` names the offending
 * field in the same notation as schema errors (`ops[0].pgsize`, "" for the root).
 */
export class CliInputError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'CliInputError';
  }
}

export function invalidInput(message: string, path: string): CliErrorDoc {
  return { error: { kind: 'invalid-input', message, path } };
}

// ---------------------------------------------------------------------------
// 64-bit values

const HEX_RE = /^0x[0-9a-fA-F]+$/;
const U64_LIMIT = 1n << 64n;

/** Parse a contract 64-bit input value; a string is the reason it was rejected. */
export function parseU64(v: unknown): bigint | string {
  if (typeof v === 'string') {
    if (!HEX_RE.test(v)) return `expected a hex string with a 0x prefix, got ${JSON.stringify(v)}`;
    const b = BigInt(v);
    if (b >= U64_LIMIT) return `${v} does not fit in 64 bits`;
    return b;
  }
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) return `expected a non-negative integer, got ${v}`;
    if (!Number.isSafeInteger(v)) {
      return `${v} is beyond 2^53-1 and cannot be exact as a JSON number; write it as a hex string`;
    }
    return BigInt(v);
  }
  if (v === undefined) return 'required field is missing';
  return `expected a hex string ("0x...") or a non-negative integer, got ${describe(v)}`;
}

/**
 * A 64-bit quantity: a `0x` hex string (case-insensitive digits, at most 64
 * bits, leading zeros allowed) or a non-negative safe-integer JSON number.
 */
export const u64 = z.unknown().transform((v, ctx): bigint => {
  const r = parseU64(v);
  if (typeof r === 'string') {
    ctx.addIssue({ code: 'custom', message: r });
    return z.NEVER;
  }
  return r;
});

/** Output form of a 64-bit quantity: lower-case hex, `0x0` for zero. */
export function u64Out(v: bigint): string {
  return hex(v);
}

// ---------------------------------------------------------------------------
// Zod errors -> the contract's error

/** `["ops", 0, "pgsize"]` -> `ops[0].pgsize`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else out += out === '' ? String(k) : `.${String(k)}`;
  }
  return out;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

/** The first issue of a ZodError as the contract's (message, path). */
export function zodToCliError(err: z.ZodError): CliInputError {
  const issue = err.issues[0];
  if (!issue) return new CliInputError('input does not match the schema', '');
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const path = formatPath([...issue.path, key]);
    return new CliInputError(`unknown field ${JSON.stringify(key)}`, path);
  }
  const path = formatPath(issue.path);
  let message = issue.message;
  if (issue.code !== 'custom' && 'input' in issue && issue.input === undefined) {
    message = `required field is missing (${issue.message})`;
  }
  return new CliInputError(message, path);
}

/** Parse `doc` with `schema`, throwing CliInputError on the first offending field. */
export function parseInput<S extends z.ZodType>(schema: S, doc: unknown): z.output<S> {
  const r = schema.safeParse(doc, { reportInput: true });
  if (!r.success) throw zodToCliError(r.error);
  return r.data;
}
