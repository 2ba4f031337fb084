/**
 * The command and event queues as their registers and memory show them, and
 * the global error register. Read-only: registers through Smmu.readReg,
 * queue memory through peek64.
 */

import type { PhysicalMemory } from '../../emu/memory';
import { CERROR_NAMES, type CerrorCode } from '../../emu/smmu/commands';
import { CMDQ_CONS_ERR_SHIFT, CR0_CMDQEN, CR0_EVTQEN, GERROR_MASK, PAGE1, Q_OVFLG, queueBase } from '../../emu/smmu/registers';
import type { Smmu } from '../../emu/smmu/smmu';
import type { ErrorView, QueueEntryView, QueuePointer, QueueView } from '../view';
import { hx } from './common';
import { commandLine, commandView, eventLine, eventView } from './structs';

/** Most entries a queue view lists. */
export const QUEUE_ENTRY_CAP = 256;
/** Most slots scanned for non-pending, non-zero entries. */
const SLOT_SCAN = 8192;

/** A CERROR code by name (`CERROR_ILL`), or `CERROR 0x..` for an unallocated one. */
export function cerrorName(code: number): string {
  return Object.prototype.hasOwnProperty.call(CERROR_NAMES, code) ? CERROR_NAMES[code as CerrorCode] : `CERROR 0x${code.toString(16)}`;
}

function pointer(raw: number, log2: number): QueuePointer {
  const n = 2 ** log2;
  return { index: raw & (n - 1), wrap: Math.floor(raw / n) & 1, raw: raw >>> 0 };
}

/**
 * The command queue (`cmdq`) or the event queue (`eventq`): base and size
 * from CMDQ_BASE / EVENTQ_BASE (LOG2SIZE capped by IDR1), PROD / CONS with
 * index and wrap bit, CMDQ_CONS.ERR by name, the event queue overflow flag,
 * and every non-zero slot decoded (pending = between CONS and PROD), in
 * index order, at most 256.
 */
export function queueView(smmu: Smmu, mem: PhysicalMemory, which: 'cmdq' | 'eventq'): QueueView {
  const cmd = which === 'cmdq';
  const baseReg = smmu.readReg(cmd ? 0x90 : 0xa0);
  const qb = queueBase(baseReg);
  const log2 = Math.min(qb.log2size, cmd ? smmu.f.cmdqs : smmu.f.eventqs);
  const n = 2 ** log2;
  const entryBytes = cmd ? 16 : 32;
  const base = BigInt(qb.addr) & ~(BigInt(n * entryBytes) - 1n);
  const prodRaw = Number(smmu.readReg(cmd ? 0x98 : PAGE1 + 0xa8) & 0xffffffffn);
  const consRaw = Number(smmu.readReg(cmd ? 0x9c : PAGE1 + 0xac) & 0xffffffffn);
  const prod = pointer(prodRaw, log2);
  const cons: QueuePointer & { err?: string } = pointer(consRaw, log2);
  if (cmd) {
    const err = (consRaw >>> CMDQ_CONS_ERR_SHIFT) & 0x7f;
    if (err !== 0) cons.err = cerrorName(err);
  }
  const cr0 = Number(smmu.readReg(0x20));
  const enabled = (cr0 & (cmd ? CR0_CMDQEN : CR0_EVTQEN)) !== 0;

  // Pending slots: from CONS up to PROD (index + wrap).
  const mask = 2 * n - 1;
  let pendingCount = ((prodRaw & mask) - (consRaw & mask) + 2 * n) & mask;
  if (pendingCount > n) pendingCount = n; // inconsistent pointers: at most a full queue
  const pending = new Set<number>();
  for (let i = 0; i < pendingCount && pending.size < QUEUE_ENTRY_CAP; i++) pending.add((cons.index + i) % n);

  const words = entryBytes / 8;
  const read = (idx: number): bigint[] | null => {
    const a = base + BigInt(idx * entryBytes);
    const out: bigint[] = [];
    for (let k = 0; k < words; k++) {
      const w = mem.peek64(a + BigInt(k * 8));
      if (w === undefined) return null;
      out.push(w);
    }
    return out;
  };
  const slots = new Map<number, bigint[] | null>();
  for (const idx of pending) slots.set(idx, read(idx));
  for (let idx = 0; idx < Math.min(n, SLOT_SCAN) && slots.size < QUEUE_ENTRY_CAP; idx++) {
    if (slots.has(idx)) continue;
    const w = read(idx);
    if (w && w.some((x) => x !== 0n)) slots.set(idx, w);
  }
  const entries: QueueEntryView[] = [...slots.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([index, w]) => {
      const addr = hx(base + BigInt(index * entryBytes));
      const isPending = pending.has(index);
      if (!w) {
        return { index, addr, raw: [], name: 'no memory', text: `no memory at ${addr}: the SMMU ${cmd ? 'stops with CERROR_ABT' : 'raises EVENTQ_ABT_ERR'}`, fields: [], pending: isPending };
      }
      const line = cmd ? commandLine(w[0], w[1]) : eventLine(w);
      const view = cmd ? commandView(w[0], w[1]) : eventView(w);
      return { index, addr, raw: view.raw, name: line.name, text: line.text, fields: view.fields, pending: isPending };
    });
  const overflow = !cmd && ((prodRaw ^ consRaw) & Q_OVFLG) !== 0;
  return { name: which, enabled, base: hx(base), log2size: log2, prod, cons, entries, overflow };
}

const GERROR_NAMES: ReadonlyArray<[number, string]> = [
  [0, 'CMDQ_ERR'],
  [2, 'EVENTQ_ABT_ERR'],
  [3, 'PRIQ_ABT_ERR'],
  [4, 'MSI_CMDQ_ABT_ERR'],
  [5, 'MSI_EVENTQ_ABT_ERR'],
  [6, 'MSI_PRIQ_ABT_ERR'],
  [7, 'MSI_GERROR_ABT_ERR'],
  [8, 'SFM_ERR'],
];

/** Names of the active GERROR bits in (gerror ^ gerrorn). */
export function gerrorNames(active: number): string[] {
  return GERROR_NAMES.filter(([b]) => ((active >>> b) & 1) === 1).map(([, n]) => n);
}

/**
 * GERROR / GERRORN and the active errors (bits where they differ), and the
 * CERROR the command queue stopped with (CMDQ_CONS.ERR), or else the last
 * one the SMMU raised (Smmu.lastCerror).
 */
export function errorView(smmu: Smmu): ErrorView {
  const gerror = Number(smmu.readReg(0x60) & 0xffffffffn);
  const gerrorn = Number(smmu.readReg(0x64) & 0xffffffffn);
  const view: ErrorView = { gerror, gerrorn, active: gerrorNames((gerror ^ gerrorn) & GERROR_MASK) };
  const err = (Number(smmu.readReg(0x9c) & 0xffffffffn) >>> CMDQ_CONS_ERR_SHIFT) & 0x7f;
  const code = err !== 0 ? err : smmu.lastCerror;
  if (code !== 0) view.cerror = cerrorName(code);
  return view;
}
