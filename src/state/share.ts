/**
 * Share links: the URL hash holds `{v, scenario, step}` as JSON compressed
 * with lz-string (URI-safe alphabet), never sent to a server. Decoding checks
 * sizes before and after decompression and the envelope's shape (zod/mini, to
 * keep the page's bundle small); the scenario inside is then checked in full
 * by the Worker against the scenario schema, and a refused one is reported
 * with the default scenario shown instead.
 */
import { compressToEncodedURIComponent, decompressFromEncodedURIComponent } from 'lz-string';
import * as z from 'zod/mini';

export const SHARE_VERSION = 1;
/** Longest hash accepted (characters): far above any real scenario, far below what could hurt. */
export const MAX_HASH = 1_500_000;
/** Longest decompressed JSON accepted (characters). */
export const MAX_JSON = 8_000_000;
/** The hash key: `#s=<payload>`. */
const KEY = 's=';

const Envelope = z.object({
  v: z.number(),
  scenario: z.unknown(),
  step: z.optional(z.number()),
});

export interface SharedState {
  scenario: unknown;
  step: number;
}

export type DecodeResult = { ok: true; state: SharedState } | { ok: false; message: string } | { ok: 'none' };

export function encodeShare(state: SharedState): string {
  return KEY + compressToEncodedURIComponent(JSON.stringify({ v: SHARE_VERSION, scenario: state.scenario, step: state.step }));
}

/** Decode a location hash (with or without the leading `#`). `{ok: 'none'}` when it holds no shared state. */
export function decodeShare(hash: string): DecodeResult {
  const h = hash.startsWith('#') ? hash.slice(1) : hash;
  if (h === '') return { ok: 'none' };
  if (!h.startsWith(KEY)) return { ok: false, message: 'The link is not a scenario link (the part after # does not start with "s=").' };
  const payload = h.slice(KEY.length);
  if (payload.length > MAX_HASH) return { ok: false, message: `The link is too long (${payload.length} characters; at most ${MAX_HASH}).` };
  let text: string | null;
  try {
    text = decompressFromEncodedURIComponent(payload);
  } catch {
    text = null;
  }
  if (!text) return { ok: false, message: 'The link is broken or truncated: its scenario could not be decompressed.' };
  if (text.length > MAX_JSON) return { ok: false, message: `The link's scenario is too large (${text.length} characters of JSON; at most ${MAX_JSON}).` };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ok: false, message: 'The link is broken or truncated: its content is not valid JSON.' };
  }
  const env = Envelope.safeParse(doc);
  if (!env.success) return { ok: false, message: 'The link does not hold a scenario (expected {v, scenario, step}).' };
  const { v, scenario, step } = env.data;
  if (v > SHARE_VERSION) return { ok: false, message: `The link was made by a newer version of the explorer (link format v${v}; this one reads v${SHARE_VERSION}).` };
  if (v !== SHARE_VERSION) return { ok: false, message: `Unknown link format v${v}.` };
  const s = step ?? 0;
  return { ok: true, state: { scenario, step: Number.isInteger(s) && s >= 0 ? s : 0 } };
}

/** Parse an imported file's text: a bare scenario document or a share envelope. */
export function parseImport(text: string): DecodeResult {
  if (text.length > MAX_JSON) return { ok: false, message: `The file is too large (${text.length} characters; at most ${MAX_JSON}).` };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { ok: false, message: `The file is not valid JSON: ${(e as Error).message}` };
  }
  const env = Envelope.safeParse(doc);
  if (env.success && typeof env.data.scenario === 'object' && env.data.scenario !== null && !('machine' in (doc as object))) {
    return { ok: true, state: { scenario: env.data.scenario, step: env.data.step ?? 0 } };
  }
  return { ok: true, state: { scenario: doc, step: 0 } };
}
