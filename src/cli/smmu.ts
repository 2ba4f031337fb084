/**
 * `smmu` command: the SMMUv3 device model (src/emu/smmu/smmu.ts) as hardware
 * sees it — memory seeded with raw STEs, CDs and tables, registers written by
 * name, then a list of transactions, memory writes and commands (see
 * /spec/cli.md, `smmu`).
 *
 * Extensions that keep old inputs valid: `sync_model`, the `reg` step, and the
 * `features` fields beyond the contract's (st_level2, cd2l, ril, asid16,
 * vmid16, xnx, hyp, msi, sev, cmdqs, eventqs).
 */

import { z } from 'zod';
import { PhysicalMemory, PA_LIMIT, type RamRange } from '../emu/memory';
import { CERROR_NAMES, type CerrorCode } from '../emu/smmu/commands';
import { type SmmuFeatures, featuresError, withDefaults } from '../emu/smmu/features';
import { CMDQ_CONS_ERR_SHIFT, CR0_CMDQEN, CR0_EVTQEN, REG_BY_NAME } from '../emu/smmu/registers';
import { Smmu, type TranslateResult } from '../emu/smmu/smmu';
import type { EventRecord } from '../emu/smmu/events';
import type { TraceEntry } from '../emu/walk';
import { CliInputError, parseInput, parseU64, u64, u64Out } from './json';

// ---------------------------------------------------------------------------
// Input schema

/** Registers software cannot write: the ID registers, the ACK mirrors, and the status / error registers the SMMU owns. */
function readOnlyRegister(name: string): boolean {
  return /^IDR\d$/.test(name) || name === 'IIDR' || name === 'AIDR' || name.endsWith('ACK') || name === 'GERROR' || name === 'STATUSR';
}

const WRITABLE_REGISTERS = [...REG_BY_NAME.keys()].filter((n) => !readOnlyRegister(n));

/** Why `name` cannot be written, or null when it names a writable register. */
function registerNameError(name: string): string | null {
  if (!REG_BY_NAME.has(name)) {
    return `unknown register ${JSON.stringify(name)}; writable registers: ${WRITABLE_REGISTERS.join(', ')}`;
  }
  if (readOnlyRegister(name)) return `register ${name} is read-only`;
  return null;
}

const aligned8 = u64.refine((v) => (v & 7n) === 0n, 'must be 8-byte aligned');

const FeaturesInput = z.strictObject({
  oas: z.literal([32, 36, 40, 42, 44, 48, 52]).optional(),
  sidsize: z.number().int().min(0).max(32).optional(),
  ssidsize: z.number().int().min(0).max(20).optional(),
  granules: z
    .array(z.literal([4096, 16384, 65536]))
    .min(1, 'at least one granule is required')
    .optional(),
  stages: z
    .array(z.enum(['s1', 's2']))
    .min(1, 'at least one translation stage is required')
    .optional(),
  ttf: z
    .literal('aarch64', {
      error: 'ttf must be "aarch64": the model implements AArch64 translation tables only (SMMU_IDR0.TTF = 0b10)',
    })
    .optional(),
  st_level2: z.boolean().optional(),
  cd2l: z.boolean().optional(),
  ril: z.boolean().optional(),
  asid16: z.boolean().optional(),
  vmid16: z.boolean().optional(),
  xnx: z.boolean().optional(),
  hyp: z.boolean().optional(),
  msi: z.boolean().optional(),
  sev: z.boolean().optional(),
  cmdqs: z.number().int().min(0).max(19).optional(),
  eventqs: z.number().int().min(0).max(19).optional(),
});

const RamInput = z.strictObject({ base: u64, size: u64 });

const MemoryInput = z.strictObject({ addr: aligned8, u64: z.array(u64) });

/** `regs`: name -> value, in document order. */
const RegsInput = z.record(z.string(), z.unknown()).transform((rec, ctx): Array<[string, bigint]> => {
  const out: Array<[string, bigint]> = [];
  for (const [name, v] of Object.entries(rec)) {
    const bad = registerNameError(name);
    if (bad) {
      ctx.addIssue({ code: 'custom', message: bad, path: [name] });
      return z.NEVER;
    }
    const r = parseU64(v);
    if (typeof r === 'string') {
      ctx.addIssue({ code: 'custom', message: r, path: [name] });
      return z.NEVER;
    }
    out.push([name, r]);
  }
  return out;
});

const RegName = z.string().superRefine((name, ctx) => {
  const bad = registerNameError(name);
  if (bad) ctx.addIssue({ code: 'custom', message: bad });
});

/** The fields of a device transaction, shared by the smmu `translate` and hyp `dma` steps. */
export const TRANSACTION = {
  sid: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1),
  ssid: z
    .number()
    .int()
    .min(0)
    .max(2 ** 20 - 1)
    .optional(),
  iova: u64,
  access: z.enum(['read', 'write', 'exec']),
};

const TranslateStep = z.strictObject({
  do: z.literal('translate'),
  ...TRANSACTION,
  priv: z.boolean(),
  trace: z.boolean().optional(),
});

const Write64Step = z.strictObject({ do: z.literal('write64'), addr: aligned8, value: u64 });

const CmdStep = z.strictObject({
  do: z.literal('cmd'),
  u64: z.array(u64).length(2, 'a command is exactly two 64-bit words: [dw0, dw1]'),
});

const RegStep = z.strictObject({ do: z.literal('reg'), name: RegName, value: u64 });

export const SmmuInput = z.strictObject({
  features: FeaturesInput.optional(),
  ram: z.array(RamInput).optional(),
  memory: z.array(MemoryInput).optional(),
  regs: RegsInput.optional(),
  sync_model: z.enum(['immediate', 'until-sync']).optional(),
  steps: z.array(z.discriminatedUnion('do', [TranslateStep, Write64Step, CmdStep, RegStep])),
});

export type SmmuInput = z.output<typeof SmmuInput>;

// ---------------------------------------------------------------------------
// Output

export interface TraceOut {
  stage: 1 | 2;
  level: number;
  addr: string;
  desc: string | null;
  purpose: string;
}

export interface FaultOut {
  type: string;
  code: string;
  sid: number;
  ssid: number;
  input_addr: string;
  ipa?: string;
  stage?: 1 | 2;
  class?: 'CD' | 'TT' | 'IN';
}

export type SmmuResult =
  | { pa: string; tlb: 'hit' | 'miss'; accesses: number; trace?: TraceOut[] }
  | { pa: string; trace?: TraceOut[] }
  | { abort: true; trace?: TraceOut[] }
  | { fault: FaultOut; trace?: TraceOut[] }
  | { cerror: string }
  | { ignored: true }
  | Record<string, never>;

// ---------------------------------------------------------------------------
// Runner

/** Queue size the runner gives the queues it places: 2^8 entries. */
const QUEUE_LOG2SIZE = 8;
const CMDQ_BYTES = BigInt(2 ** QUEUE_LOG2SIZE * 16);
const EVENTQ_BYTES = BigInt(2 ** QUEUE_LOG2SIZE * 32);
/** Without `ram`, queues go below this address (and below 2^OAS). */
const QUEUE_TOP = 0xf_0000_0000n;

interface Span {
  start: bigint;
  end: bigint;
}

/** The `features` input as SmmuFeatures (every omitted field takes the model's default). Shared with the hyp command. */
export function mapFeatures(f: NonNullable<SmmuInput['features']>): SmmuFeatures {
  const p: Partial<SmmuFeatures> = {};
  if (f.oas !== undefined) p.oas = f.oas;
  if (f.sidsize !== undefined) p.sidsize = f.sidsize;
  if (f.ssidsize !== undefined) p.ssidsize = f.ssidsize;
  if (f.granules !== undefined) p.granules = [...new Set(f.granules)];
  if (f.stages !== undefined) {
    p.s1 = f.stages.includes('s1');
    p.s2 = f.stages.includes('s2');
  }
  if (f.st_level2 !== undefined) p.stLevel2 = f.st_level2;
  if (f.cd2l !== undefined) p.cd2l = f.cd2l;
  if (f.ril !== undefined) p.ril = f.ril;
  if (f.asid16 !== undefined) p.asid16 = f.asid16;
  if (f.vmid16 !== undefined) p.vmid16 = f.vmid16;
  if (f.xnx !== undefined) p.xnx = f.xnx;
  if (f.hyp !== undefined) p.hyp = f.hyp;
  if (f.msi !== undefined) p.msi = f.msi;
  if (f.sev !== undefined) p.sev = f.sev;
  if (f.cmdqs !== undefined) p.cmdqs = f.cmdqs;
  if (f.eventqs !== undefined) p.eventqs = f.eventqs;
  return withDefaults(p);
}

/** Input feature names for featuresError()'s fields. */
export const FEATURE_FIELD: Readonly<Record<string, string>> = { stLevel2: 'st_level2' };

function buildRam(ram: SmmuInput['ram']): RamRange[] | null {
  if (!ram) return null;
  ram.forEach((r, i) => {
    if (r.base >= PA_LIMIT) throw new CliInputError(`RAM base ${u64Out(r.base)} is beyond the 52-bit physical address space`, `ram[${i}].base`);
    if (r.size === 0n) throw new CliInputError('RAM size must be non-zero', `ram[${i}].size`);
    if (r.base + r.size > PA_LIMIT) {
      throw new CliInputError(`RAM range ${u64Out(r.base)}+${u64Out(r.size)} ends beyond the 52-bit physical address space`, `ram[${i}].size`);
    }
  });
  return ram.map((r) => ({ base: r.base, size: r.size }));
}

function seedMemory(mem: PhysicalMemory, memory: SmmuInput['memory']): Span[] {
  const spans: Span[] = [];
  (memory ?? []).forEach((m, i) => {
    m.u64.forEach((w, k) => {
      const a = m.addr + BigInt(k) * 8n;
      if (!mem.write64(a, w)) {
        const where = mem.ramRanges ? 'outside every `ram` range' : 'beyond the 52-bit physical address space';
        throw new CliInputError(`word ${k} at ${u64Out(a)} is ${where}`, `memory[${i}].addr`);
      }
    });
    if (m.u64.length > 0) spans.push({ start: m.addr, end: m.addr + BigInt(m.u64.length) * 8n });
  });
  return spans;
}

/**
 * A free, naturally aligned block of `size` bytes: the highest one inside a
 * RAM range (or below `top` when every address exists) that overlaps no span
 * in `taken`; null when none fits.
 */
function placeQueue(ram: readonly RamRange[] | null, top: bigint, size: bigint, taken: readonly Span[]): bigint | null {
  const regions: Span[] = ram
    ? [...ram].map((r) => ({ start: r.base, end: r.base + r.size })).sort((a, b) => (a.end > b.end ? -1 : a.end < b.end ? 1 : 0))
    : [{ start: 0n, end: top }];
  const alignDown = (v: bigint): bigint => v - (v % size);
  for (const reg of regions) {
    if (reg.end - reg.start < size) continue;
    let cand = alignDown(reg.end - size);
    while (cand >= reg.start) {
      const c = cand;
      const clash = taken.filter((t) => t.start < c + size && t.end > c);
      if (clash.length === 0) return cand;
      const lowest = clash.reduce((lo, t) => (t.start < lo ? t.start : lo), clash[0].start);
      if (lowest < size) break;
      cand = alignDown(lowest - size);
    }
  }
  return null;
}

function hexOrNull(v: bigint | undefined): string | null {
  return v === undefined ? null : u64Out(v);
}

/** The contract's trace entries for a translation's trace. */
export function traceOut(trace: readonly TraceEntry[]): TraceOut[] {
  return trace.map((t) => ({
    // Configuration fetches (stage 0 internally: STE, CD, L1STD, L1CD) are reported as stage 1.
    stage: t.stage === 2 ? 2 : 1,
    level: t.level,
    addr: u64Out(t.addr),
    desc: hexOrNull(t.desc),
    purpose: t.purpose,
  }));
}

/** The contract's fault object for an event record raised by a transaction at `iova`. */
export function faultOut(e: EventRecord, iova: bigint): FaultOut {
  const fault: FaultOut = { type: e.type, code: u64Out(BigInt(e.code)), sid: e.sid, ssid: e.ssid, input_addr: u64Out(BigInt.asUintN(64, iova)) };
  if (e.ipa !== undefined) fault.ipa = u64Out(e.ipa);
  if (e.s2 !== undefined) fault.stage = e.s2 ? 2 : 1;
  if (e.cls !== undefined) fault.class = e.cls;
  return fault;
}

function translateOut(r: TranslateResult, iova: bigint): SmmuResult {
  let out: SmmuResult;
  switch (r.kind) {
    case 'ok':
      out = { pa: u64Out(r.pa), tlb: r.tlb, accesses: r.accesses };
      break;
    case 'bypass':
      out = { pa: u64Out(r.pa) };
      break;
    case 'abort':
      out = { abort: true };
      break;
    case 'fault': {
      const fault = faultOut(r.event, iova);
      out = { fault };
      break;
    }
  }
  if (r.trace) out.trace = traceOut(r.trace);
  return out;
}

/** The CMDQ_CONS.ERR name without its CERROR_ prefix (ILL, ABT, ATC_INV_SYNC). */
function cerrorName(smmu: Smmu): string {
  const cons = Number(smmu.readRegByName('CMDQ_CONS') ?? 0n);
  const code = (cons >>> CMDQ_CONS_ERR_SHIFT) & 0x7f;
  const name = (CERROR_NAMES as Record<number, string | undefined>)[code as CerrorCode];
  return name ? name.replace(/^CERROR_/, '') : u64Out(BigInt(code));
}

export function runSmmu(doc: unknown): { results: SmmuResult[] } {
  const input = parseInput(SmmuInput, doc);

  const features = mapFeatures(input.features ?? {});
  const fe = featuresError(features);
  if (fe) throw new CliInputError(fe.message, `features.${FEATURE_FIELD[fe.field] ?? fe.field}`);

  const mem = new PhysicalMemory(buildRam(input.ram));
  const seeded = seedMemory(mem, input.memory);
  const smmu = new Smmu(mem, features);
  if (input.sync_model) smmu.syncModel = input.sync_model;

  // Queues the document does not program: placed by the runner, base registers written first.
  const regs = input.regs ?? [];
  const programs = (name: string): boolean => regs.some(([n]) => n === name);
  const taken = [...seeded];
  const oasTop = 1n << BigInt(features.oas);
  const top = QUEUE_TOP < oasTop ? QUEUE_TOP : oasTop;
  let enable = 0;
  const queues: Array<[string, bigint, number]> = [
    ['CMDQ_BASE', CMDQ_BYTES, CR0_CMDQEN],
    ['EVENTQ_BASE', EVENTQ_BYTES, CR0_EVTQEN],
  ];
  for (const [reg, size, bit] of queues) {
    if (programs(reg)) continue;
    const base = placeQueue(mem.ramRanges, top, size, taken);
    if (base === null) {
      throw new CliInputError(
        `no room for the ${reg === 'CMDQ_BASE' ? 'command' : 'event'} queue (${size} bytes, naturally aligned) in RAM outside the seeded memory; declare more RAM or program ${reg} in regs`,
        'ram',
      );
    }
    taken.push({ start: base, end: base + size });
    smmu.writeRegByName(reg, base | BigInt(QUEUE_LOG2SIZE));
    enable |= bit;
  }
  for (const [name, value] of regs) smmu.writeRegByName(name, value);
  if (enable !== 0) smmu.writeRegByName('CR0', (smmu.readRegByName('CR0') ?? 0n) | BigInt(enable));

  const results: SmmuResult[] = [];
  for (const step of input.steps) {
    switch (step.do) {
      case 'translate': {
        const r = smmu.translate({
          sid: step.sid,
          ssid: step.ssid,
          iova: step.iova,
          access: step.access,
          priv: step.priv,
          trace: step.trace === true,
        });
        results.push(translateOut(r, step.iova));
        break;
      }
      case 'write64':
        // Outside RAM the write hits nothing: still a valid step.
        mem.write64(step.addr, step.value);
        results.push({});
        break;
      case 'cmd':
        smmu.submit(step.u64[0], step.u64[1]);
        results.push(smmu.cmdqErrorActive ? { cerror: cerrorName(smmu) } : {});
        break;
      case 'reg':
        results.push(smmu.writeRegByName(step.name, step.value) ? {} : { ignored: true });
        break;
    }
  }
  return { results };
}
