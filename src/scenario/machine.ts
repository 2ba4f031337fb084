/**
 * The machine a scenario runs on, shared by the `hyp` and `scenario` commands
 * and the app's Worker: the pKVM hypervisor models (src/emu/hyp/) on one machine —
 * RAM, MMIO, one SMMUv3, devices — in one of the designs (`paravirt`,
 * `nested`, `identity`), then the steps an untrusted host takes: hypercalls,
 * ownership transitions, memory and SMMU register writes, the host's own
 * SMMU driver (nested), and device DMA. It prints one result per step, the
 * invariant check at the end and the cost report (see /spec/hyp.md, "Headless
 * command hyp", and /spec/cli.md for the general rules).
 *
 * The host is malicious by assumption: hypercall arguments are any JSON
 * integers (negative, huge) and any 64-bit values, so that the hypervisor's
 * own checks are what rejects them. Only a document that cannot be run
 * (malformed, or a machine that cannot exist) is invalid input.
 */

import { z } from 'zod';
import { IOMMU_CACHE, IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from '../emu/iopgtable';
import { PA_LIMIT, PhysicalMemory, type RamRange, TableAllocator } from '../emu/memory';
import { SmmuDomain, SmmuDriver, SmmuDriverError, directPort, type MmioPort } from '../emu/host/smmu-driver';
import { type SmmuFeatures, featuresError } from '../emu/smmu/features';
import { REG_BY_NAME } from '../emu/smmu/registers';
import { decodeCommand } from '../emu/smmu/commands';
import { Smmu, type TranslateRequest, type TranslateResult } from '../emu/smmu/smmu';
import { type CostCounts, type CostParams, DEFAULT_COSTS, modelledTime, zeroCounts } from '../emu/hyp/cost';
import { PROPERTIES, pteCount } from '../emu/hyp/designs';
import { IdentityHyp } from '../emu/hyp/identity';
import { type CheckOptions, checkInvariants } from '../emu/hyp/invariants';
import { NestedHyp } from '../emu/hyp/nested';
import { type OwnershipOp, type OwnershipResult, PageOwnership } from '../emu/hyp/ownership';
import { type HvcResult, ParavirtHyp } from '../emu/hyp/paravirt';
import { CliInputError, parseInput, parseU64, u64, u64Out } from '../cli/json';
import { FEATURE_FIELD, type FaultOut, SmmuInput, TRANSACTION, type TraceOut, faultOut, mapFeatures, traceOut } from '../cli/smmu';

// ---------------------------------------------------------------------------
// Input schema

const PAGE = 4096n;
const MIB = 1n << 20n;
/** Default pool placement: the top 16 MiB of the highest RAM range. */
const DEFAULT_POOL_SPAN = 16n * MIB;
/** The host driver's table memory (nested): the bottom 64 MiB of the lowest RAM range. */
const HOST_TABLES_SPAN = 64n * MIB;
/** The least host table memory the nested host driver is given. */
const HOST_TABLES_MIN = 1n * MIB;
/** Size of the SMMU's register space (page 0 and page 1, 64 KiB each). */
const MMIO_SPAN = 0x20000;

/** The smmu command's `features` object, reused as is. */
const FeaturesInput = SmmuInput.shape.features.unwrap();

const aligned8 = u64.refine((v) => (v & 7n) === 0n, 'must be 8-byte aligned');
const aligned4k = u64.refine((v) => (v & (PAGE - 1n)) === 0n, 'must be 4 KiB aligned (a multiple of 0x1000)');

const RangeInput = z.strictObject({ base: aligned4k, size: aligned4k });

/**
 * Any JSON integer, negative or beyond 2^53 included: hypercall arguments a
 * malicious host may pass. The hypervisor range-checks them, not the schema.
 */
const anyInt = z.number().refine(Number.isInteger, 'must be an integer');

const PROT_BITS = { read: IOMMU_READ, write: IOMMU_WRITE, cache: IOMMU_CACHE, noexec: IOMMU_NOEXEC, mmio: IOMMU_MMIO, priv: IOMMU_PRIV } as const;
const PROT_NAMES = Object.keys(PROT_BITS) as Array<keyof typeof PROT_BITS>;

/**
 * `prot`: a list of names (read, write, cache, noexec, mmio, priv), or, as an
 * extension, the raw IOMMU_* bit mask as an integer (so a host can pass bits
 * the hypervisor must refuse).
 */
const ProtInput = z.unknown().transform((v, ctx): number => {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) {
      ctx.addIssue({ code: 'custom', message: `a raw prot mask must be an integer, got ${v}` });
      return z.NEVER;
    }
    // Bits above 31 cannot be passed as an int prot; keep the low 32 bits as the C ABI would.
    return Number(BigInt.asIntN(32, BigInt(v)));
  }
  if (!Array.isArray(v)) {
    ctx.addIssue({ code: 'custom', message: `required field is missing or not a list of ${PROT_NAMES.join(', ')}` });
    return z.NEVER;
  }
  let prot = 0;
  for (let i = 0; i < v.length; i++) {
    const name: unknown = v[i];
    if (typeof name !== 'string' || !Object.hasOwn(PROT_BITS, name)) {
      ctx.addIssue({ code: 'custom', message: `unknown prot ${JSON.stringify(name)}; valid: ${PROT_NAMES.join(', ')}`, path: [i] });
      return z.NEVER;
    }
    prot |= PROT_BITS[name as keyof typeof PROT_BITS];
  }
  return prot;
});

const CostsInput = z.strictObject(
  Object.fromEntries(Object.keys(DEFAULT_COSTS).map((k) => [k, z.number().min(0).optional()])) as Record<
    keyof CostParams,
    z.ZodOptional<z.ZodNumber>
  >,
);

const MachineInput = z.strictObject({
  ram: z.array(RangeInput).min(1, 'at least one RAM range is required').max(256),
  mmio: z.array(RangeInput).max(256).optional(),
  features: FeaturesInput.optional(),
  devices: z.array(z.strictObject({ sid: z.number().int().min(0), name: z.string().max(64).optional() })).max(4096).optional(),
  pool: z.strictObject({ base: aligned4k, pages: z.number().int().min(1) }).optional(),
  /** nested only (extension): the SMMU has a vCMDQ / DVM path — host TLBI-only batches reach the hardware without a trap. */
  vcmdq: z.boolean().optional(),
  /** Extension (as the smmu command's): "until-sync" holds invalidations until a CMD_SYNC, for teaching; default "immediate". */
  sync_model: z.enum(['immediate', 'until-sync']).optional(),
});

const hvc = z.literal('hvc');
const HVC_CALLS = {
  alloc_domain: { domain_id: anyInt, type: z.enum(['s1', 's2']) },
  free_domain: { domain_id: anyInt },
  attach_dev: { iommu_id: anyInt, domain_id: anyInt, sid: anyInt, pasid: anyInt, pasid_bits: anyInt },
  detach_dev: { iommu_id: anyInt, domain_id: anyInt, sid: anyInt, pasid: anyInt },
  map_pages: { domain_id: anyInt, iova: u64, paddr: u64, pgsize: u64, pgcount: anyInt, prot: ProtInput },
  unmap_pages: { domain_id: anyInt, iova: u64, pgsize: u64, pgcount: anyInt },
  iova_to_phys: { domain_id: anyInt, iova: u64 },
  map_sg: { domain_id: anyInt, iova: u64, sg: z.array(z.strictObject({ phys: u64, pgsize: u64, pgcount: anyInt })), prot: ProtInput },
  top_up: { pages: anyInt },
} as const;

/** Ownership transitions by step name. */
const HOST_OWNERSHIP_OPS = { share_hyp: 'host_share_hyp', unshare_hyp: 'host_unshare_hyp', donate_hyp: 'host_donate_hyp', reclaim_hyp: 'hyp_donate_host' } as const;
const GUEST_OWNERSHIP_OPS = {
  donate_guest: 'host_donate_guest',
  reclaim_guest: 'guest_return_host',
  share_guest: 'host_share_guest',
  unshare_guest: 'host_unshare_guest',
} as const;

/** An SMMU register offset (0..0x1ffff, hex or decimal) or, as an extension, a register name ("GBPA"). */
const MmioOffset = z.unknown().transform((v, ctx): number => {
  if (typeof v === 'string' && !v.startsWith('0x')) {
    const def = REG_BY_NAME.get(v);
    if (!def) {
      ctx.addIssue({ code: 'custom', message: `unknown register ${JSON.stringify(v)}: give a register name or an offset such as "0x44"` });
      return z.NEVER;
    }
    return def.offset;
  }
  const r = parseU64(v);
  if (typeof r === 'string') {
    ctx.addIssue({ code: 'custom', message: r });
    return z.NEVER;
  }
  if (r >= BigInt(MMIO_SPAN)) {
    ctx.addIssue({ code: 'custom', message: `offset ${u64Out(r)} is beyond the SMMU's register space (0x0..0x1ffff)` });
    return z.NEVER;
  }
  return Number(r);
});

const host = z.literal('host');

/** Longest narration a scenario step may carry (characters). */
export const MAX_NOTE = 4000;

/**
 * The step union. The `hyp` command takes the contract's steps exactly; a
 * scenario (`ext`) also accepts, on every step, a `note` (narration shown
 * with the step), `trace` on `dma`, a `granule` on the host's
 * `alloc_domain`, and stage `s2` host domains (mode `bare` only).
 */
function stepUnion<E extends z.core.$ZodLooseShape>(ext: E) {
  const obj = <S extends z.core.$ZodLooseShape>(shape: S) => z.strictObject({ ...shape, ...ext });
  const hvcSteps = Object.entries(HVC_CALLS).map(([call, shape]) => obj({ do: hvc, call: z.literal(call as keyof typeof HVC_CALLS), ...shape }));
  return z.discriminatedUnion('do', [
    z.discriminatedUnion('call', hvcSteps as unknown as [ReturnType<typeof obj>, ...Array<ReturnType<typeof obj>>]),
    obj({ do: z.enum(['share_hyp', 'unshare_hyp', 'donate_hyp', 'reclaim_hyp']), addr: u64, size: u64 }),
    obj({ do: z.enum(['donate_guest', 'reclaim_guest', 'share_guest', 'unshare_guest']), addr: u64, size: u64, vm: anyInt }),
    obj({ do: z.literal('write64'), addr: aligned8, value: u64 }),
    obj({ do: z.literal('mmio_write'), offset: MmioOffset, value: u64 }),
    obj({ do: z.literal('mmio_read'), offset: MmioOffset }),
    z.discriminatedUnion('op', [
      obj({ do: host, op: z.literal('init') }),
      obj({
        do: host,
        op: z.literal('alloc_domain'),
        domain: z.string().max(64),
        stage: z.enum(['s1', 's2']),
        granule: z.union([z.literal(4096), z.literal(16384), z.literal(65536)]).optional(),
        ias: z.number().int().optional(),
      }),
      obj({ do: host, op: z.literal('cmd'), u64: z.tuple([u64, u64]), sync: z.boolean().optional() }),
      obj({ do: host, op: z.literal('attach'), domain: z.string().max(64), sid: anyInt, ssid: anyInt.optional(), pasid_bits: z.number().int().min(0).max(20).optional() }),
      obj({ do: host, op: z.literal('detach'), sid: anyInt, ssid: anyInt.optional() }),
      obj({ do: host, op: z.literal('map'), domain: z.string().max(64), iova: u64, paddr: u64, size: u64, prot: ProtInput }),
      obj({ do: host, op: z.literal('unmap'), domain: z.string().max(64), iova: u64, size: u64 }),
    ]),
    obj({ do: z.literal('dma'), ...TRANSACTION, priv: z.boolean().optional(), trace: z.boolean().optional() }),
    obj({ do: z.literal('check') }),
  ]);
}

/** The scenario's extra step fields. */
const SCENARIO_EXT = { note: z.string().max(MAX_NOTE).optional() };

export const HypStep = stepUnion({});
export const ScenarioStep = stepUnion(SCENARIO_EXT);

export const HypInput = z.strictObject({
  machine: MachineInput,
  mode: z.enum(['paravirt', 'nested', 'identity']),
  costs: CostsInput.optional(),
  steps: z.array(HypStep),
});

export type HypInput = z.output<typeof HypInput>;
export type MachineInput = z.output<typeof MachineInput>;
export type CostsInput = z.output<typeof CostsInput>;
export { MachineInput as MachineSchema, CostsInput as CostsSchema };

/** A step as the machine runs it (the scenario's fields included; the hyp command's schema simply never sets them). */
export type Step = {
  [K in keyof StepShapes]: StepShapes[K];
}[keyof StepShapes];
interface StepShapes {
  hvc: HvcStepT;
  own: { do: 'share_hyp' | 'unshare_hyp' | 'donate_hyp' | 'reclaim_hyp'; addr: bigint; size: bigint };
  guest: { do: 'donate_guest' | 'reclaim_guest' | 'share_guest' | 'unshare_guest'; addr: bigint; size: bigint; vm: number };
  write64: { do: 'write64'; addr: bigint; value: bigint };
  mmioW: { do: 'mmio_write'; offset: number; value: bigint };
  mmioR: { do: 'mmio_read'; offset: number };
  host: HostStepT;
  dma: { do: 'dma'; sid: number; ssid?: number; iova: bigint; access: 'read' | 'write' | 'exec'; priv?: boolean; trace?: boolean };
  check: { do: 'check' };
}
type HvcStepT =
  | { do: 'hvc'; call: 'alloc_domain'; domain_id: number; type: 's1' | 's2' }
  | { do: 'hvc'; call: 'free_domain'; domain_id: number }
  | { do: 'hvc'; call: 'attach_dev'; iommu_id: number; domain_id: number; sid: number; pasid: number; pasid_bits: number }
  | { do: 'hvc'; call: 'detach_dev'; iommu_id: number; domain_id: number; sid: number; pasid: number }
  | { do: 'hvc'; call: 'map_pages'; domain_id: number; iova: bigint; paddr: bigint; pgsize: bigint; pgcount: number; prot: number }
  | { do: 'hvc'; call: 'unmap_pages'; domain_id: number; iova: bigint; pgsize: bigint; pgcount: number }
  | { do: 'hvc'; call: 'iova_to_phys'; domain_id: number; iova: bigint }
  | { do: 'hvc'; call: 'map_sg'; domain_id: number; iova: bigint; sg: Array<{ phys: bigint; pgsize: bigint; pgcount: number }>; prot: number }
  | { do: 'hvc'; call: 'top_up'; pages: number };
type HostStepT =
  | { do: 'host'; op: 'init' }
  | { do: 'host'; op: 'alloc_domain'; domain: string; stage: 's1' | 's2'; granule?: 4096 | 16384 | 65536; ias?: number }
  | { do: 'host'; op: 'cmd'; u64: [bigint, bigint]; sync?: boolean }
  | { do: 'host'; op: 'attach'; domain: string; sid: number; ssid?: number; pasid_bits?: number }
  | { do: 'host'; op: 'detach'; sid: number; ssid?: number }
  | { do: 'host'; op: 'map'; domain: string; iova: bigint; paddr: bigint; size: bigint; prot: number }
  | { do: 'host'; op: 'unmap'; domain: string; iova: bigint; size: bigint };

/** `bare`: no hypervisor — the host's arm-smmu-v3 driver owns the SMMU (the unprotected baseline, Linux's own driver). */
export type Mode = 'bare' | 'paravirt' | 'nested' | 'identity';

// ---------------------------------------------------------------------------
// Output

/** A step's return: 0 or an errno name, with what the call produced. */
export interface RetOut {
  ret: 0 | string;
  value?: string;
  mem_request?: number;
  /** mmio_write / mmio_read in nested mode: the hypervisor refused or ignored the access. */
  ignored?: true;
  reason?: string;
}

export type DmaOut = { pa: string } | { abort: true } | { fault: FaultOut };

export interface InvariantsOut {
  ok: boolean;
  violations?: Array<{ kind: string; message: string }>;
}

export type HypResult = RetOut | DmaOut | InvariantsOut;

export interface HypOutput {
  results: HypResult[];
  invariants: InvariantsOut;
  cost: CostOut;
}

export interface CostOut {
    counts: CostCounts;
    modelled_us: number;
    parts: Record<string, number>;
    pinned_bytes: string;
    properties: {
      host_isolation: boolean;
      guest_isolation: boolean;
      host_iova_space: boolean;
      sva_possible: boolean;
    no_pinning_needed: boolean;
  };
}

// ---------------------------------------------------------------------------
// The machine


interface Span {
  start: bigint;
  end: bigint;
}

function spanText(s: Span): string {
  return `${u64Out(s.start)}-${u64Out(s.end)}`;
}

/** Check a list of ranges: non-empty, inside the 52-bit space, pairwise disjoint and disjoint from `others`. */
function checkRanges(list: ReadonlyArray<{ base: bigint; size: bigint }>, what: string, path: string, others: ReadonlyArray<{ span: Span; name: string }>): Span[] {
  const spans: Span[] = [];
  list.forEach((r, i) => {
    if (r.size === 0n) throw new CliInputError(`${what} size must be non-zero`, `${path}[${i}].size`);
    if (r.base >= PA_LIMIT) throw new CliInputError(`${what} base ${u64Out(r.base)} is beyond the 52-bit physical address space`, `${path}[${i}].base`);
    const s = { start: r.base, end: r.base + r.size };
    if (s.end > PA_LIMIT) throw new CliInputError(`${what} range ${spanText(s)} ends beyond the 52-bit physical address space`, `${path}[${i}].size`);
    spans.forEach((o, j) => {
      if (s.start < o.end && o.start < s.end) throw new CliInputError(`${what} range ${spanText(s)} overlaps ${path}[${j}] (${spanText(o)})`, `${path}[${i}]`);
    });
    for (const o of others) {
      if (s.start < o.span.end && o.span.start < s.end) throw new CliInputError(`${what} range ${spanText(s)} overlaps ${o.name} (${spanText(o.span)})`, `${path}[${i}]`);
    }
    spans.push(s);
  });
  return spans;
}

/** Boot pool pages per mode when `machine.pool.pages` is omitted. */
const DEFAULT_POOL_PAGES: Readonly<Record<Mode, number>> = { bare: 0, paravirt: 64, nested: 1024, identity: 1024 };

export interface MachineLayout {
  features: SmmuFeatures;
  ram: RamRange[];
  mmio: RamRange[];
  sids: number[];
  pool: { base: bigint; pages: number };
  /** The nested host driver's table memory. */
  hostTables: Span;
  vcmdq: boolean;
  syncModel?: 'immediate' | 'until-sync';
}

export function layoutMachine(m: MachineInput, mode: Mode): MachineLayout {
  const features = mapFeatures(m.features ?? {});
  const fe = featuresError(features);
  if (fe) throw new CliInputError(fe.message, `machine.features.${FEATURE_FIELD[fe.field] ?? fe.field}`);
  if ((mode === 'identity' || mode === 'nested') && !features.s2) {
    throw new CliInputError(`mode ${mode} needs an SMMU with stage 2 (the hypervisor's own stage-2 table)`, 'machine.features.stages');
  }
  if (mode === 'nested' && !features.s1) {
    throw new CliInputError('mode nested needs an SMMU with stage 1 (the host driver translates at stage 1)', 'machine.features.stages');
  }
  if (mode === 'nested' && !features.granules.includes(4096)) {
    throw new CliInputError("mode nested needs the 4K granule (the hypervisor's identity stage 2 uses it)", 'machine.features.granules');
  }
  const oasTop = 1n << BigInt(features.oas);

  const ramSpans = checkRanges(m.ram, 'RAM', 'machine.ram', []);
  checkRanges(m.mmio ?? [], 'MMIO', 'machine.mmio', ramSpans.map((s, i) => ({ span: s, name: `machine.ram[${i}]` })));
  if (mode === 'identity') {
    // The identity stage 2 maps every host page at its own address: all of it must be below 2^OAS.
    const all = [...m.ram.map((r, i) => ({ r, p: `machine.ram[${i}]` })), ...(m.mmio ?? []).map((r, i) => ({ r, p: `machine.mmio[${i}]` }))];
    for (const { r, p } of all) {
      if (r.base + r.size > oasTop) {
        throw new CliInputError(`range ${spanText({ start: r.base, end: r.base + r.size })} is beyond the SMMU's ${features.oas}-bit output address size: the identity stage 2 cannot map it`, p);
      }
    }
  }

  // The hyp's pool: inside one RAM range, reachable by the SMMU.
  const highest = ramSpans.reduce((a, b) => (b.end > a.end ? b : a));
  const pool = {
    base: m.pool?.base ?? (highest.end - highest.start > DEFAULT_POOL_SPAN ? highest.end - DEFAULT_POOL_SPAN : highest.start),
    pages: m.pool?.pages ?? DEFAULT_POOL_PAGES[mode],
  };
  const poolSpan = { start: pool.base, end: pool.base + BigInt(pool.pages) * PAGE };
  const poolPath = m.pool ? 'machine.pool' : 'machine.ram';
  if (m.vcmdq && mode !== 'nested') throw new CliInputError('vcmdq applies to mode nested only', 'machine.vcmdq');
  if (mode === 'bare' && m.pool) throw new CliInputError('mode bare has no hypervisor and so no pool', 'machine.pool');
  if (mode !== 'bare' && !ramSpans.some((s) => s.start <= poolSpan.start && poolSpan.end <= s.end)) {
    throw new CliInputError(`the hypervisor's pool ${spanText(poolSpan)} (${pool.pages} pages) is not inside one RAM range`, poolPath);
  }
  if (mode !== 'bare' && poolSpan.end > oasTop) {
    throw new CliInputError(`the hypervisor's pool ${spanText(poolSpan)} is beyond the SMMU's ${features.oas}-bit output address size`, poolPath);
  }

  // The nested host driver's tables: the bottom of the lowest RAM range, below the pool.
  const lowest = ramSpans.reduce((a, b) => (b.start < a.start ? b : a));
  let hostEnd = lowest.start + HOST_TABLES_SPAN < lowest.end ? lowest.start + HOST_TABLES_SPAN : lowest.end;
  if (mode !== 'bare' && poolSpan.start >= lowest.start && poolSpan.start < hostEnd) hostEnd = poolSpan.start;
  if (hostEnd > oasTop) hostEnd = oasTop;
  const hostTables = { start: lowest.start, end: hostEnd };
  if ((mode === 'nested' || mode === 'bare') && hostEnd - lowest.start < HOST_TABLES_MIN) {
    throw new CliInputError(
      `the host driver needs at least 1 MiB at the bottom of the lowest RAM range (${spanText(lowest)}) for its tables, below the hypervisor's pool and the SMMU's output address size`,
      poolPath,
    );
  }

  const sids: number[] = [];
  (m.devices ?? []).forEach((d, i) => {
    if (d.sid >= 2 ** features.sidsize) throw new CliInputError(`StreamID ${d.sid} does not fit the SMMU's ${features.sidsize} SID bits`, `machine.devices[${i}].sid`);
    if (sids.includes(d.sid)) throw new CliInputError(`StreamID ${d.sid} is declared twice`, `machine.devices[${i}].sid`);
    sids.push(d.sid);
  });

  return {
    features,
    ram: m.ram.map((r) => ({ base: r.base, size: r.size })),
    mmio: (m.mmio ?? []).map((r) => ({ base: r.base, size: r.size })),
    sids,
    pool,
    hostTables,
    vcmdq: m.vcmdq ?? false,
    syncModel: m.sync_model,
  };
}

// ---------------------------------------------------------------------------
// The designs behind one interface

/** What the machine needs from the mode's hypervisor. */
export interface Hyp {
  /** The paravirt hypervisor, when the mode has hypercalls. */
  paravirt?: ParavirtHyp;
  /** The trap-and-emulate hypervisor (nested). */
  nested?: NestedHyp;
  identity?: IdentityHyp;
  /** The host's view of the SMMU registers (nested: trapped by the hyp; bare: the SMMU itself). */
  hostPort?: MmioPort;
  /** The design's own promises that do not hold (nested: its stage 2 and shadow STEs). */
  designViolations?(): string[];
  /** Counts the hypervisor keeps (MMIO traps, commands emulated). */
  counts(c: CostCounts): void;
  pinnedBytes(): bigint;
  checkOptions(): CheckOptions;
}

function bootError(mode: Mode, e: unknown): never {
  if (e instanceof SmmuDriverError || (e instanceof Error && e.message.startsWith(`${mode}:`))) {
    throw new CliInputError(`the ${mode} hypervisor cannot boot on this machine: ${e.message}`, 'machine');
  }
  throw e;
}

function bootHyp(mode: Mode, mem: PhysicalMemory, smmu: Smmu, own: PageOwnership, layout: MachineLayout, logMmio: boolean): Hyp {
  try {
    switch (mode) {
      case 'bare':
        return { hostPort: directPort(smmu), counts: () => undefined, pinnedBytes: () => 0n, checkOptions: () => ({}) };
      case 'paravirt': {
        const hyp = new ParavirtHyp(mem, smmu, own, { poolBase: layout.pool.base, bootPoolPages: layout.pool.pages });
        hyp.logging = false;
        return {
          paravirt: hyp,
          counts: () => undefined,
          pinnedBytes: () => BigInt(own.stats().dmaPinnedPages) * PAGE,
          checkOptions: () => ({ refcountedTables: hyp.liveDomains().map((d) => d.domain.pgtable), pools: [hyp.pool] }),
        };
      }
      case 'identity': {
        const hyp = new IdentityHyp(mem, smmu, own, { poolBase: layout.pool.base, poolPages: layout.pool.pages, sids: layout.sids });
        return {
          identity: hyp,
          counts: () => undefined,
          pinnedBytes: () => hyp.pinnedBytes,
          checkOptions: () => ({ pools: [hyp.pool] }),
        };
      }
      case 'nested': {
        const hyp = new NestedHyp(mem, smmu, own, { poolBase: layout.pool.base, bootPoolPages: layout.pool.pages, logMmio, vcmdq: layout.vcmdq });
        return {
          nested: hyp,
          hostPort: hyp.hostPort(),
          counts: (c) => {
            c.mmioTraps = hyp.counters.mmioTraps.reads + hyp.counters.mmioTraps.writes;
            c.commandsEmulated = hyp.counters.commandsEmulated;
          },
          pinnedBytes: () => 0n,
          checkOptions: () => ({ pools: [hyp.pool] }),
          designViolations: () => hyp.checkInvariants(),
        };
      }
    }
  } catch (e) {
    return bootError(mode, e);
  }
}

// ---------------------------------------------------------------------------
// Running steps

function retOut(r: HvcResult): RetOut {
  const out: RetOut = { ret: r.ret };
  if (r.value !== undefined) out.value = u64Out(r.value);
  if (r.memRequest !== undefined) out.mem_request = r.memRequest;
  if (r.reason !== undefined) out.reason = r.reason;
  return out;
}

function ownershipOut(r: OwnershipResult): RetOut {
  return r.ok ? { ret: 0 } : { ret: r.error, reason: r.reason };
}

export function dmaOut(r: TranslateResult, iova: bigint): DmaOut {
  switch (r.kind) {
    case 'ok':
    case 'bypass':
      return { pa: u64Out(r.pa) };
    case 'abort':
      return { abort: true };
    case 'fault':
      return { fault: faultOut(r.event, iova) };
  }
}

const NO_HVC: RetOut = { ret: 'ENOSYS', reason: 'this design has no IOMMU hypercalls: the host cannot ask the hypervisor to map anything' };

export interface MachineOptions {
  /** Log every trapped MMIO access (nested) and every driver MMIO access (views; default false). */
  logMmio?: boolean;
}

/** One machine, booted in a mode, that runs steps. Its parts are public for the views. */
export class Machine {
  readonly c: CostCounts = zeroCounts();
  readonly mem: PhysicalMemory;
  readonly smmu: Smmu;
  readonly own: PageOwnership;
  readonly hyp: Hyp;
  private topUps = 0;
  hostDriver: SmmuDriver | undefined;
  readonly hostDomains = new Map<string, SmmuDomain>();
  /** The last `dma` step's request and result (with its trace). */
  lastDma: { req: TranslateRequest; result: TranslateResult } | null = null;

  constructor(
    readonly mode: Mode,
    readonly layout: MachineLayout,
    private readonly opts: MachineOptions = {},
  ) {
    this.mem = new PhysicalMemory(layout.ram);
    this.smmu = new Smmu(this.mem, layout.features);
    if (layout.syncModel) this.smmu.syncModel = layout.syncModel;
    this.own = new PageOwnership({ ram: layout.ram, mmio: layout.mmio });
    this.hyp = bootHyp(mode, this.mem, this.smmu, this.own, layout, opts.logMmio ?? false);
  }

  step(s: Step): HypResult {
    this.lastDma = null;
    switch (s.do) {
      case 'hvc':
        return this.hvc(s);
      case 'share_hyp':
      case 'unshare_hyp':
      case 'donate_hyp':
      case 'reclaim_hyp':
        return this.ownership(HOST_OWNERSHIP_OPS[s.do], s.addr, s.size);
      case 'donate_guest':
      case 'reclaim_guest':
      case 'share_guest':
      case 'unshare_guest':
        return this.ownership(GUEST_OWNERSHIP_OPS[s.do], s.addr, s.size, s.vm);
      case 'write64': {
        const pfn = s.addr / PAGE;
        if (!this.own.hostCanAccess(pfn)) {
          return { ret: 'EPERM', reason: `the host cannot access page ${u64Out(pfn * PAGE)} (owner: ${JSON.stringify(this.own.owner(pfn))}): its stage 2 faults, memory is unchanged` };
        }
        // A host page outside RAM (MMIO) takes the write without storing it.
        this.mem.write64(s.addr, s.value);
        return { ret: 0 };
      }
      case 'mmio_write':
      case 'mmio_read':
        return this.mmio(s);
      case 'host':
        return this.hostOp(s);
      case 'dma': {
        const req: TranslateRequest = { sid: s.sid, ssid: s.ssid, iova: s.iova, access: s.access, priv: s.priv ?? true, trace: true };
        const r = this.smmu.translate(req);
        this.lastDma = { req, result: r };
        const out: DmaOut = dmaOut(r, s.iova);
        if (s.trace) (out as DmaOut & { trace?: TraceOut[] }).trace = traceOut(r.trace ?? []);
        return out;
      }
      case 'check':
        return this.check();
    }
  }

  check(): InvariantsOut {
    const r = checkInvariants(this.smmu, this.own, this.hyp.checkOptions());
    const violations: Array<{ kind: string; message: string }> = r.violations.map((v) => ({ kind: v.kind, message: v.message }));
    for (const message of this.hyp.designViolations?.() ?? []) violations.push({ kind: this.mode, message });
    return violations.length === 0 ? { ok: true } : { ok: false, violations };
  }

  private ownership(op: OwnershipOp, addr: bigint, size: bigint, vm?: number): RetOut {
    return ownershipOut(this.own.applyBytes(op, addr, size, vm));
  }

  private hvc(s: Extract<Step, { do: 'hvc' }>): RetOut {
    const hyp = this.hyp.paravirt;
    if (!hyp) return NO_HVC;
    switch (s.call) {
      case 'alloc_domain':
        return retOut(hyp.alloc_domain(s.domain_id, s.type));
      case 'free_domain':
        return retOut(hyp.free_domain(s.domain_id));
      case 'attach_dev':
        return retOut(hyp.attach_dev(s.iommu_id, s.domain_id, s.sid, s.pasid, s.pasid_bits));
      case 'detach_dev':
        return retOut(hyp.detach_dev(s.iommu_id, s.domain_id, s.sid, s.pasid));
      case 'map_pages': {
        const r = hyp.map_pages(s.domain_id, s.iova, s.paddr, s.pgsize, s.pgcount, s.prot);
        this.c.dmaCalls++;
        const mapped = r.value ?? 0n;
        if (mapped > 0n) {
          this.c.ptes += Number(mapped / s.pgsize);
          this.c.hypPinnedPages += Number(mapped / PAGE);
        }
        return retOut(r);
      }
      case 'unmap_pages': {
        const r = hyp.unmap_pages(s.domain_id, s.iova, s.pgsize, s.pgcount);
        this.c.dmaCalls++;
        this.c.hypUnmapCalls++;
        const unmapped = r.value ?? 0n;
        if (unmapped > 0n) {
          this.c.ptes += Number((unmapped + s.pgsize - 1n) / s.pgsize);
          this.c.hypUnpinnedPages += Number((unmapped + PAGE - 1n) / PAGE);
        }
        return retOut(r);
      }
      case 'iova_to_phys':
        return retOut(hyp.iova_to_phys(s.domain_id, s.iova));
      case 'map_sg': {
        const r = hyp.map_sg(s.domain_id, s.iova, s.sg, s.prot);
        this.c.dmaCalls++;
        // The entries are mapped in order: attribute the bytes mapped to them.
        let left = r.value ?? 0n;
        for (const e of s.sg) {
          if (left <= 0n || e.pgsize <= 0n) break;
          const want = e.pgsize * BigInt(e.pgcount);
          if (want <= 0n) break;
          const n = want < left ? want : left;
          this.c.ptes += Number(n / e.pgsize);
          left -= n;
        }
        this.c.hypPinnedPages += Number((r.value ?? 0n) / PAGE);
        return retOut(r);
      }
      case 'top_up':
        this.topUps++;
        return retOut(hyp.topUp(s.pages));
    }
  }

  private mmio(s: Extract<Step, { do: 'mmio_write' | 'mmio_read' }>): RetOut {
    const port = this.hyp.hostPort;
    if (!port) return { ret: 'EPERM', reason: `in mode ${this.mode} the hypervisor owns the SMMU: its registers are not mapped in the host's stage 2` };
    const seq = this.hyp.nested?.seq ?? 0;
    let out: RetOut;
    if (s.do === 'mmio_write') {
      port.write(s.offset, s.value);
      out = { ret: 0 };
    } else {
      out = { ret: 0, value: u64Out(port.read(s.offset)) };
    }
    // What the hypervisor refused or ignored, from its log.
    for (const e of this.hyp.nested?.logSince(seq) ?? []) {
      if (e.kind === 'refused') {
        out.ignored = true;
        out.reason = `${e.reg} is not accessible to the host: the hypervisor refuses the ${e.op}${e.op === 'read' ? ' (reads as 0)' : ' (ignored)'}`;
      } else if (e.kind === 'ignored') {
        out.ignored = true;
        out.reason = `the hypervisor ignores the write: ${e.reason}`;
      }
    }
    return out;
  }

  private hostOp(s: Extract<Step, { do: 'host' }>): RetOut {
    const port = this.hyp.hostPort;
    if (!port) return { ret: 'ENODEV', reason: `in mode ${this.mode} the host has no SMMU to drive` };
    try {
      return this.hostOpOn(port, s);
    } catch (e) {
      if (e instanceof SmmuDriverError) return { ret: e.errno, reason: e.message.replace(/^E[A-Z]+: /, '') };
      throw e;
    }
  }

  private hostDomain(name: string): SmmuDomain | RetOut {
    const d = this.hostDomains.get(name);
    return d ?? { ret: 'ENOENT', reason: `the host has no domain named ${JSON.stringify(name)}` };
  }

  private hostOpOn(port: MmioPort, s: Extract<Step, { do: 'host' }>): RetOut {
    if (s.op === 'init') {
      if (this.hostDriver?.initialised) return { ret: 'EBUSY', reason: 'the host driver is already initialised' };
      const t = this.layout.hostTables;
      const driver = new SmmuDriver(port, this.mem, new TableAllocator(this.mem, t.start, t.end), { logMmio: this.opts.logMmio ?? false });
      this.hostDriver = driver;
      driver.probe();
      driver.init();
      return { ret: 0 };
    }
    const driver = this.hostDriver;
    if (!driver) return { ret: 'ENODEV', reason: 'the host driver has not been initialised (host op init)' };
    switch (s.op) {
      case 'alloc_domain': {
        if (this.hostDomains.has(s.domain)) return { ret: 'EEXIST', reason: `the host already has a domain named ${JSON.stringify(s.domain)}` };
        this.hostDomains.set(s.domain, driver.allocDomain(s.stage, { granule: s.granule, ias: s.ias }));
        return { ret: 0 };
      }
      case 'attach': {
        const d = this.hostDomain(s.domain);
        if (!(d instanceof SmmuDomain)) return d;
        const ssid = s.ssid ?? 0;
        const pasidBits = s.pasid_bits ?? (ssid > 0 ? Math.ceil(Math.log2(ssid + 1)) : 0);
        driver.attach(s.sid, d, { ssid, pasidBits });
        return { ret: 0 };
      }
      case 'detach':
        driver.detach(s.sid, { ssid: s.ssid ?? 0 });
        return { ret: 0 };
      case 'cmd': {
        // One raw command through the driver's queue (with a CMD_SYNC after it unless sync is false).
        const d = decodeCommand(s.u64[0], s.u64[1]);
        if (!d.ok) return { ret: 'EINVAL', reason: `not a command the driver can issue: ${d.reason}` };
        const err = driver.issueCmdlist([d.cmd], s.sync ?? true);
        return err ? { ret: err, reason: 'the command queue reported an error (see the queues panel)' } : { ret: 0 };
      }
      case 'map': {
        const d = this.hostDomain(s.domain);
        if (!(d instanceof SmmuDomain)) return d;
        const r = driver.map(d, s.iova, s.paddr, s.size, s.prot);
        this.c.dmaCalls++;
        if (r.error) return { ret: r.error, value: u64Out(r.mapped), reason: `iommu_map: ${r.error}` };
        this.c.ptes += pteCount(d.pgsizeBitmap, s.iova, s.paddr, r.mapped);
        return { ret: 0, value: u64Out(r.mapped) };
      }
      case 'unmap': {
        const d = this.hostDomain(s.domain);
        if (!(d instanceof SmmuDomain)) return d;
        const n = driver.unmap(d, s.iova, s.size);
        this.c.dmaCalls++;
        this.c.ptes += pteCount(d.pgsizeBitmap, s.iova, s.iova, n);
        return { ret: 0, value: u64Out(n) };
      }
    }
  }

  counts(): CostCounts {
    const c = { ...this.c };
    const st = this.smmu.stats;
    c.commands = st.commands;
    c.syncs = st.syncs;
    c.walkReads = st.walkReads;
    c.iotlbHits = st.tlbHits;
    c.iotlbMisses = st.tlbMisses;
    if (this.hyp.paravirt) c.hypercalls = this.hyp.paravirt.counters.hypercalls + this.topUps;
    this.hyp.counts(c);
    return c;
  }

  /** The cost report (counts since boot, modelled time with `costs` over the defaults, pinned bytes, the design's properties). */
  cost(costs: Partial<CostParams> = {}): CostOut {
    const counts = this.counts();
    const params: CostParams = { ...DEFAULT_COSTS };
    for (const [k, v] of Object.entries(costs) as Array<[keyof CostParams, number | undefined]>) {
      if (v !== undefined) params[k] = v;
    }
    const time = modelledTime(counts, params);
    const p = PROPERTIES[this.mode === 'bare' ? 'kernel' : this.mode];
    return {
      counts,
      modelled_us: time.totalUs,
      parts: time.parts,
      pinned_bytes: u64Out(this.hyp.pinnedBytes()),
      properties: {
        host_isolation: p.hostIsolation,
        guest_isolation: p.guestIsolation,
        host_iova_space: p.hostIovaSpace,
        sva_possible: p.svaPossible,
        no_pinning_needed: p.noPinningNeeded,
      },
    };
  }
}

/** The `hyp` command. */
export function runHyp(doc: unknown): HypOutput {
  const input = parseInput(HypInput, doc);
  const layout = layoutMachine(input.machine, input.mode);
  const m = new Machine(input.mode, layout);
  const results = input.steps.map((s) => m.step(s as Step));
  const invariants = m.check();
  return { results, invariants, cost: m.cost(input.costs ?? {}) };
}
