/**
 * Goal checks: what a lesson says must hold at a step, evaluated against the
 * recording (the step's CLI-format result and tags) and the walk.
 */
import type { StepInfo } from '../scenario/view';
import type { GoalCheck } from './types';

/** Every key of `want` is in `got` with an equal value (recursively for objects). */
export function partialMatch(got: unknown, want: unknown): boolean {
  if (want === null || typeof want !== 'object') return Object.is(got, want);
  if (got === null || typeof got !== 'object') return false;
  if (Array.isArray(want)) return Array.isArray(got) && want.length === got.length && want.every((w, i) => partialMatch(got[i], w));
  return Object.entries(want as Record<string, unknown>).every(([k, w]) => partialMatch((got as Record<string, unknown>)[k], w));
}

/** Why the goal does not hold ('' when it does). `tableReads` is the step's walk's count (undefined: no walk). */
export function goalFailure(check: GoalCheck, info: StepInfo | undefined, tableReads: number | undefined): string {
  if (!info) return 'the step has not run';
  if (check.result && !partialMatch(info.result, check.result)) return `the result is ${JSON.stringify(info.result)}`;
  if (check.tag && !info.tags.includes(check.tag)) return `the step is not tagged ${check.tag}`;
  if (check.notTag && info.tags.includes(check.notTag)) return `the step is tagged ${check.notTag}`;
  if (check.tableReads !== undefined && tableReads !== check.tableReads) return `the walk made ${tableReads ?? 'no'} table reads, not ${check.tableReads}`;
  return '';
}
