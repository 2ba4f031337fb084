/**
 * Share links: the URL hash holds `{v, scenario, step}` as JSON, compressed
 * with raw DEFLATE (fflate) and written in base64url — never sent to a
 * server. Decoding is bounded before anything is expanded: the link's length
 * is capped, and inflation is streamed and stopped as soon as the output
 * passes the JSON cap (a small "compression bomb" link cannot make the page
 * allocate gigabytes). The envelope is checked with zod/mini (small, for the
 * page's bundle); the scenario inside is then checked in full by the Worker
 * against the scenario schema, and a refused one is reported with the
 * default scenario shown instead.
 */
import { Inflate, deflateSync, strFromU8, strToU8 } from 'fflate';
import * as z from 'zod/mini';

export const SHARE_VERSION = 1;
/** Longest hash payload accepted (characters): far above any real scenario, far below what could hurt. */
export const MAX_HASH = 1_500_000;
/** Longest decompressed JSON accepted (bytes). */
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

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;

/** base64url without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += B64[n >> 18] + B64[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63];
  }
  return out;
}

/** Decode base64url (no padding); null for a character outside the alphabet or an impossible length. */
export function fromBase64Url(s: string): Uint8Array | null {
  if (s.length % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? B64_INDEX[c] : -1;
    if (v < 0) return null;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}

export function encodeShare(state: SharedState): string {
  const json = JSON.stringify({ v: SHARE_VERSION, scenario: state.scenario, step: state.step });
  return KEY + toBase64Url(deflateSync(strToU8(json), { level: 9 }));
}

/** Inflate at most `cap` bytes; null when the data is not valid DEFLATE, 'too-large' past the cap. */
function inflateBounded(data: Uint8Array, cap: number): Uint8Array | null | 'too-large' {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let over = false;
  const inf = new Inflate((chunk) => {
    total += chunk.length;
    if (total > cap) {
      over = true;
      throw new Error('too large');
    }
    chunks.push(chunk);
  });
  try {
    // Feed the input in slices so the output is checked (and stopped) as it grows.
    const SLICE = 4096;
    for (let i = 0; i < data.length; i += SLICE) {
      inf.push(data.subarray(i, Math.min(data.length, i + SLICE)), i + SLICE >= data.length);
      if (over) return 'too-large';
    }
  } catch {
    return over ? 'too-large' : null;
  }
  if (over) return 'too-large';
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Decode a location hash (with or without the leading `#`). `{ok: 'none'}` when it holds no shared state. */
export function decodeShare(hash: string): DecodeResult {
  const h = hash.startsWith('#') ? hash.slice(1) : hash;
  if (h === '') return { ok: 'none' };
  if (!h.startsWith(KEY)) return { ok: false, message: 'The link is not a scenario link (the part after # does not start with "s=").' };
  const payload = h.slice(KEY.length);
  if (payload.length > MAX_HASH) return { ok: false, message: `The link is too long (${payload.length} characters; at most ${MAX_HASH}).` };
  const bytes = fromBase64Url(payload);
  if (!bytes || bytes.length === 0) return { ok: false, message: 'The link is broken or truncated: its scenario is not valid base64url.' };
  const raw = inflateBounded(bytes, MAX_JSON);
  if (raw === 'too-large') return { ok: false, message: `The link's scenario is too large (more than ${MAX_JSON} bytes of JSON).` };
  if (!raw || raw.length === 0) return { ok: false, message: 'The link is broken or truncated: its scenario could not be decompressed.' };
  let doc: unknown;
  try {
    doc = JSON.parse(strFromU8(raw));
  } catch {
    return { ok: false, message: 'The link is broken or truncated: its content is not valid JSON.' };
  }
  return envelope(doc, 'The link');
}

/** Check a `{v, scenario, step}` envelope (a link's, or an imported file's). */
function envelope(doc: unknown, what: string): DecodeResult {
  const env = Envelope.safeParse(doc);
  if (!env.success) return { ok: false, message: `${what} does not hold a scenario (expected {v, scenario, step}).` };
  const { v, scenario, step } = env.data;
  if (v > SHARE_VERSION) return { ok: false, message: `${what} was made by a newer version of the explorer (link format v${v}; this one reads v${SHARE_VERSION}).` };
  if (v !== SHARE_VERSION) return { ok: false, message: `Unknown link format v${v}.` };
  const s = step ?? 0;
  return { ok: true, state: { scenario, step: Number.isInteger(s) && s >= 0 ? s : 0 } };
}

/** Parse an imported file's text: a bare scenario document or a share envelope `{v, scenario, step}`. */
export function parseImport(text: string): DecodeResult {
  if (text.length > MAX_JSON) return { ok: false, message: `The file is too large (${text.length} characters; at most ${MAX_JSON}).` };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { ok: false, message: `The file is not valid JSON: ${(e as Error).message}` };
  }
  // A scenario document has a machine; an envelope has a scenario.
  if (doc !== null && typeof doc === 'object' && !Array.isArray(doc) && 'scenario' in doc && !('machine' in doc)) return envelope(doc, 'The file');
  return { ok: true, state: { scenario: doc, step: 0 } };
}
