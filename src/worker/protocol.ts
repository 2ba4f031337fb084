/**
 * The typed, versioned message protocol between the page and the emulator's
 * Worker. A discriminated union rather than an RPC proxy (comlink): every
 * message is plain data the other side can check (`v`, `type`), long jobs
 * report progress and can be cancelled mid-run, and a crashed or stuck Worker
 * is detected by the client (an RPC proxy's promise would just never settle).
 * Large payloads (snapshots, page-table trees) travel as UTF-8 JSON in an
 * ArrayBuffer that is transferred, not copied.
 */
import type { CompareResult, CompareWorkload, PtTree, Snapshot, StepInfo, WalkRequestView } from '../scenario/view';

export const PROTOCOL_VERSION = 1;

/** Page → Worker. `id` pairs a request with its answers. */
export type Request =
  | { v: 1; id: number; type: 'load'; doc: unknown; step: number }
  | { v: 1; id: number; type: 'goto'; step: number }
  | { v: 1; id: number; type: 'translate'; after: number; req: WalkRequestView }
  | { v: 1; id: number; type: 'tree'; step: number; tableId: string }
  | { v: 1; id: number; type: 'compare'; workload: CompareWorkload; params: Record<string, number> }
  | { v: 1; id: number; type: 'cancel'; target: number }
  | { v: 1; id: number; type: 'ping' }
  /** Test and demo hook: make the Worker throw (an uncaught error) or hang, to show recovery. */
  | { v: 1; id: number; type: 'fault'; how: 'throw' | 'hang' };

/** The scenario as the Worker accepted it. */
export interface LoadedInfo {
  /** The document (JSON, as loaded after migration), for Share / Export. */
  doc: unknown;
  title: string;
  description: string;
  steps: StepInfo[];
  /** Why the requested document was refused (then `doc` is the default scenario). */
  error: { message: string; path: string } | null;
}

/** Worker → page. */
export type Response =
  | { v: 1; type: 'ready' }
  | { v: 1; id: number; type: 'loaded'; info: LoadedInfo; snapshot: ArrayBuffer }
  | { v: 1; id: number; type: 'snapshot'; snapshot: ArrayBuffer }
  | { v: 1; id: number; type: 'tree'; tree: ArrayBuffer }
  | { v: 1; id: number; type: 'progress'; design: string; done: number; total: number }
  | { v: 1; id: number; type: 'compared'; result: CompareResult }
  | { v: 1; id: number; type: 'cancelled' }
  | { v: 1; id: number; type: 'pong' }
  | { v: 1; id: number; type: 'error'; message: string };

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Pack a JSON value as a transferable buffer. */
export function pack(value: unknown): ArrayBuffer {
  const bytes = enc.encode(JSON.stringify(value));
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

export function unpack<T>(buf: ArrayBuffer): T {
  return JSON.parse(dec.decode(buf)) as T;
}

export type { Snapshot, PtTree };
