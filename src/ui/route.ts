/**
 * The page's address: which view the query string asks for. The scenario of
 * a share link stays in the hash (`#s=`, see src/state/share.ts); the query
 * names a lesson, its step, the lesson index, or an embed.
 *
 * - `?lessons`                              the lesson index
 * - `?build` [+ `#s=` hash]                  the scenario builder (starting from the hash's scenario, if any)
 * - `?lesson=<id>&step=<n>`                 a lesson at step n
 * - `?embed&panel=<panel>[&static]` + either `&lesson=<id>&step=<n>` or a `#s=` hash:
 *                                           one panel, read-only (for slides and course pages)
 * - anything else                           the explorer (the hash's scenario, or the default one)
 */
import { PANELS, type PanelId } from '../state/explorer';

export interface EmbedRoute {
  panel: PanelId;
  /** No stepping controls (`&static`). */
  static: boolean;
}

export interface Route {
  view: 'explorer' | 'lessons' | 'build';
  /** `?lesson=<id>` (a lesson id is lower-case letters, digits and dashes). */
  lesson: string | null;
  /** `&step=<n>`, when given and a whole number ≥ 0. */
  step: number | null;
  embed: EmbedRoute | null;
}

/** Longest step number accepted from a URL (the Worker clamps to the scenario's length anyway). */
const MAX_STEP = 1_000_000;
const LESSON_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;

function isPanel(p: string | null): p is PanelId {
  return p !== null && (PANELS as readonly string[]).includes(p);
}

export function parseStep(v: string | null): number | null {
  if (v === null || !/^\d{1,7}$/.test(v.trim())) return null;
  const n = Number(v.trim());
  return n <= MAX_STEP ? n : null;
}

export function parseRoute(search: string): Route {
  const q = new URLSearchParams(search);
  const raw = q.get('lesson');
  // An id of the wrong shape is kept (shortened) so the page can say which lesson it could not find.
  const lesson = raw === null ? null : raw.slice(0, 64);
  const step = parseStep(q.get('step'));
  const embed: EmbedRoute | null = q.has('embed') ? { panel: isPanel(q.get('panel')) ? (q.get('panel') as PanelId) : 'walk', static: q.has('static') } : null;
  if (q.has('build') && lesson === null && embed === null) return { view: 'build', lesson: null, step: null, embed: null };
  if (q.has('lessons') && lesson === null && embed === null) return { view: 'lessons', lesson: null, step: null, embed: null };
  return { view: 'explorer', lesson, step, embed };
}

/** True when the id has the shape of a lesson id (anything else is reported as unknown). */
export function isLessonId(id: string): boolean {
  return LESSON_ID.test(id);
}

/** `?lesson=<id>&step=<n>` (step 0 is left out). */
export function lessonSearch(id: string, step = 0): string {
  const q = new URLSearchParams({ lesson: id });
  if (step > 0) q.set('step', String(step));
  return `?${q.toString()}`;
}

export function embedSearch(panel: PanelId, opts: { lesson?: string; step?: number; static?: boolean } = {}): string {
  const q = new URLSearchParams();
  q.set('embed', '');
  q.set('panel', panel);
  if (opts.lesson) q.set('lesson', opts.lesson);
  if (opts.lesson && opts.step) q.set('step', String(opts.step));
  if (opts.static) q.set('static', '');
  return `?${q.toString().replace(/=(&|$)/g, '$1')}`;
}

export const LESSONS_SEARCH = '?lessons';

/** Keep the step in the address bar (a reload or a copied link keeps it), without adding a history entry. */
export function replaceSearch(search: string, keepHash = true): void {
  const url = `${location.pathname}${search}${keepHash ? location.hash : ''}`;
  if (url !== `${location.pathname}${location.search}${location.hash}`) history.replaceState(history.state, '', url);
}
