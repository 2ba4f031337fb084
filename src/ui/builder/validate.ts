/**
 * Validation of the builder's draft against the scenario schema: every schema
 * issue (so each offending field gets its message), then, once the document
 * parses, parseScenario's check that the machine can exist. This module pulls
 * in zod and the machine model: only the builder's lazy chunk imports it.
 */
import type { z } from 'zod';
import { CliInputError, formatPath } from '../../cli/json';
import { ScenarioSchema, migrate, parseScenario } from '../../scenario/scenario';
import { hexProblem, type Issue } from './model';

export interface Validation {
  ok: boolean;
  issues: Issue[];
}

function describeInput(v: unknown): string {
  if (typeof v === 'string') return `“${v}”`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/** A zod issue as a message a person can act on. */
function issueOut(issue: z.core.$ZodIssue): Issue {
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    return { path: formatPath([...issue.path, key]), message: `Unknown field “${key}”: remove it (the format has no such field here).` };
  }
  const path = formatPath(issue.path);
  const input = (issue as { input?: unknown }).input;
  if (issue.code !== 'custom' && input === undefined) return { path, message: `Required field is missing (${issue.message}).` };
  if (issue.code === 'invalid_type' && issue.expected === 'number') return { path, message: `Enter a whole number (got ${describeInput(input)}).` };
  if (issue.code === 'invalid_union' && path.endsWith('do') === false && /^steps\[\d+\]$/.test(path)) return { path, message: 'This step does not match any step type: check its “do” (and “op” / “call”).' };
  // A malformed 64-bit value: the same message the field shows.
  if (issue.code === 'custom' && typeof input === 'string' && issue.message.startsWith('expected a hex string')) return { path, message: hexProblem(input) ?? issue.message };
  return { path, message: issue.message.charAt(0).toUpperCase() + issue.message.slice(1) };
}

/** Validate a scenario document: all schema issues (one per path), then the machine's checks. */
export function validateDoc(doc: unknown): Validation {
  let migrated: unknown;
  try {
    migrated = migrate(doc);
  } catch (e) {
    return { ok: false, issues: [{ path: e instanceof CliInputError ? e.path : '', message: (e as Error).message }] };
  }
  const r = ScenarioSchema.safeParse(migrated, { reportInput: true });
  if (!r.success) {
    const seen = new Set<string>();
    const issues: Issue[] = [];
    for (const i of r.error.issues) {
      const out = issueOut(i);
      if (seen.has(out.path)) continue;
      seen.add(out.path);
      issues.push(out);
    }
    return { ok: false, issues };
  }
  try {
    parseScenario(migrated);
    return { ok: true, issues: [] };
  } catch (e) {
    if (e instanceof CliInputError) return { ok: false, issues: [{ path: e.path, message: e.message.charAt(0).toUpperCase() + e.message.slice(1) }] };
    return { ok: false, issues: [{ path: '', message: `The scenario cannot be checked: ${(e as Error).message}` }] };
  }
}
