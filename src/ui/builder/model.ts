/**
 * The scenario builder's model: pure helpers, no React and no zod.
 *
 * The builder edits a *draft*: the scenario document itself (JSON values, hex
 * quantities as the strings the user typed), so that what is validated,
 * shown, exported and shared is exactly what the forms hold. Steps carry a
 * parallel list of stable ids for React keys.
 */
import type { Mode } from '../../scenario/machine';

export type { Mode };
export const MODES: readonly Mode[] = ['bare', 'paravirt', 'nested', 'identity'];
export const MODE_LABEL: Readonly<Record<Mode, string>> = {
  bare: 'Bare — the host’s own driver owns the SMMU (no hypervisor)',
  paravirt: 'Paravirt — the host asks the hypervisor to map, by hypercall',
  nested: 'Nested — the hypervisor traps and emulates the host’s SMMU driver',
  identity: 'Identity — a pinned identity stage 2 for every device',
};

export type RawStep = Record<string, unknown>;
export interface RawRange {
  base: unknown;
  size: unknown;
}
export interface RawDevice {
  sid: unknown;
  name?: string;
}
export interface RawMachine {
  ram: RawRange[];
  mmio?: RawRange[];
  devices?: RawDevice[];
  features?: Record<string, unknown>;
  pool?: { base: unknown; pages: unknown };
  vcmdq?: boolean;
  [k: string]: unknown;
}
/** The scenario document being built (version 1). */
export interface Draft {
  v: 1;
  title?: string;
  description?: string;
  machine: RawMachine;
  mode: Mode;
  costs?: unknown;
  steps: RawStep[];
  [k: string]: unknown;
}

export interface Issue {
  /** `steps[3].iova`, `machine.ram[0].base`, "" for the document. */
  path: string;
  message: string;
}

// ---------------------------------------------------------------------------
// Values: hex and integer inputs

const HEX_RE = /^0x[0-9a-fA-F]+$/;
const DEC_RE = /^\d+$/;
const INT_RE = /^-?\d+$/;

/** What a hex input's text is stored as: a decimal number when it is one (the schema takes both), else the text. */
export function hexValue(text: string): string | number {
  const t = text.trim();
  if (DEC_RE.test(t) && Number.isSafeInteger(Number(t))) return Number(t);
  return t;
}

/** What an integer input's text is stored as: the number when it is one, else the text (the schema then refuses it). */
export function intValue(text: string): number | string {
  const t = text.trim();
  if (INT_RE.test(t) && Number.isSafeInteger(Number(t))) return Number(t);
  return t;
}

/** An input's text for a stored value. */
export function textOf(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

/** A stored 64-bit value as a bigint, or null when it is not one. */
export function toBig(v: unknown): bigint | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : null;
  if (typeof v === 'string' && HEX_RE.test(v.trim())) {
    const b = BigInt(v.trim());
    return b < 1n << 64n ? b : null;
  }
  return null;
}

export function hex(v: bigint): string {
  return '0x' + v.toString(16);
}

/** The problem with a hex input's value, or null (with `align`, a required alignment in bytes). */
export function hexProblem(v: unknown, opts: { optional?: boolean; align?: number } = {}): string | null {
  if (v === undefined || v === '') return opts.optional ? null : 'Required: enter a hex value such as 0x1000.';
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) return `${v} is not a non-negative whole number.`;
  } else if (typeof v !== 'string') {
    return 'Enter a hex value such as 0x1000.';
  } else if (!HEX_RE.test(v.trim())) {
    return `“${v}” is not a hex number: write 0x followed by the digits 0–9 and a–f, e.g. 0x100000.`;
  }
  const b = toBig(v);
  if (b === null) return `${String(v)} does not fit in 64 bits.`;
  if (opts.align && b % BigInt(opts.align) !== 0n) return `Must be ${alignName(opts.align)} aligned (a multiple of ${hex(BigInt(opts.align))}).`;
  return null;
}

/** The problem with an integer input's value, or null. */
export function intProblem(v: unknown, opts: { optional?: boolean; min?: number; max?: number } = {}): string | null {
  if (v === undefined || v === '') return opts.optional ? null : 'Required: enter a whole number.';
  if (typeof v !== 'number' || !Number.isInteger(v)) return `“${textOf(v)}” is not a whole number.`;
  if (opts.min !== undefined && v < opts.min) return `Must be at least ${opts.min}.`;
  if (opts.max !== undefined && v > opts.max) return `Must be at most ${opts.max}.`;
  return null;
}

function alignName(a: number): string {
  if (a >= 1024 && a % 1024 === 0) return `${a / 1024} KiB`;
  return `${a}-byte`;
}

/** A non-blocking warning: the value parses but is not page aligned (the host may mean it: the driver or hypervisor will refuse it). */
export function alignHint(v: unknown, align: number): string | null {
  const b = toBig(v);
  if (b === null || b % BigInt(align) === 0n) return null;
  return `Not ${alignName(align)} aligned: the ${align === 4096 ? 'kernel or hypervisor' : 'model'} will likely refuse it (that may be what you want to show).`;
}

// ---------------------------------------------------------------------------
// Paths and field ids

export function stepPath(i: number, key?: string): string {
  return key === undefined ? `steps[${i}]` : `steps[${i}].${key}`;
}

/** A DOM id for the input of a path. */
export function fieldId(path: string): string {
  return 'bf-' + (path.replace(/[^a-zA-Z0-9]+/g, '-').replace(/^-|-$/g, '') || 'doc');
}

// ---------------------------------------------------------------------------
// The step catalogue

export type FieldKind = 'hex' | 'int' | 'text' | 'domain' | 'domainId' | 'sid' | 'prot' | 'enum' | 'bool' | 'offset' | 'sg' | 'u64pair';

export interface FieldSpec {
  key: string;
  label: string;
  kind: FieldKind;
  optional?: boolean;
  /** enum choices (stored values). */
  options?: ReadonlyArray<string | number>;
  /** hex: alignment the schema requires. */
  align?: number;
  /** hex: alignment worth a warning. */
  hintAlign?: number;
  /** bool: the value when the key is absent. */
  defaultValue?: boolean;
  help?: string;
}

export type StepGroup = 'host' | 'hvc' | 'ownership' | 'memory' | 'device' | 'check';

export interface StepKind {
  id: string;
  label: string;
  group: StepGroup;
  /** Modes where the machine carries the step out (elsewhere it is refused: ENODEV / ENOSYS / EPERM). */
  modes: readonly Mode[];
  fields: readonly FieldSpec[];
  template(ctx: StepContext): RawStep;
}

/** What a new step's defaults are drawn from. */
export interface StepContext {
  domains: string[];
  domainIds: number[];
  sids: number[];
  /** A host buffer address (inside RAM, away from the nested host tables and the pool). */
  buffer: bigint;
}

const ALL: readonly Mode[] = MODES;
const HOST_MODES: readonly Mode[] = ['bare', 'nested'];
const PV: readonly Mode[] = ['paravirt'];

const F = {
  domain: { key: 'domain', label: 'Domain', kind: 'domain' } as FieldSpec,
  domainId: { key: 'domain_id', label: 'Domain id', kind: 'domainId' } as FieldSpec,
  sid: { key: 'sid', label: 'StreamID (SID)', kind: 'sid' } as FieldSpec,
  iova: { key: 'iova', label: 'IOVA', kind: 'hex', hintAlign: 4096 } as FieldSpec,
  paddr: { key: 'paddr', label: 'Physical address', kind: 'hex', hintAlign: 4096 } as FieldSpec,
  size: { key: 'size', label: 'Size (bytes)', kind: 'hex', hintAlign: 4096 } as FieldSpec,
  pgsize: { key: 'pgsize', label: 'Page size', kind: 'hex', hintAlign: 4096 } as FieldSpec,
  pgcount: { key: 'pgcount', label: 'Page count', kind: 'int' } as FieldSpec,
  prot: { key: 'prot', label: 'Protection', kind: 'prot' } as FieldSpec,
  addr: { key: 'addr', label: 'Address', kind: 'hex', hintAlign: 4096 } as FieldSpec,
  iommuId: { key: 'iommu_id', label: 'IOMMU id', kind: 'int' } as FieldSpec,
  pasid: { key: 'pasid', label: 'PASID', kind: 'int' } as FieldSpec,
};

const first = <T>(xs: T[], d: T): T => (xs.length > 0 ? xs[xs.length - 1] : d);

export const STEP_KINDS: readonly StepKind[] = [
  // The host's driver (bare, nested)
  { id: 'host:init', label: 'host init (probe and reset the SMMU)', group: 'host', modes: HOST_MODES, fields: [], template: () => ({ do: 'host', op: 'init' }) },
  {
    id: 'host:alloc_domain',
    label: 'host alloc_domain',
    group: 'host',
    modes: HOST_MODES,
    fields: [
      { key: 'domain', label: 'Domain name', kind: 'text' },
      { key: 'stage', label: 'Stage', kind: 'enum', options: ['s1', 's2'] },
      { key: 'granule', label: 'Granule', kind: 'enum', options: [4096, 16384, 65536], optional: true },
      { key: 'ias', label: 'Input address size (bits)', kind: 'int', optional: true },
    ],
    template: (c) => ({ do: 'host', op: 'alloc_domain', domain: freshName(c.domains), stage: 's1' }),
  },
  {
    id: 'host:attach',
    label: 'host attach',
    group: 'host',
    modes: HOST_MODES,
    fields: [F.domain, F.sid, { key: 'ssid', label: 'SubstreamID (SSID)', kind: 'int', optional: true }, { key: 'pasid_bits', label: 'PASID bits', kind: 'int', optional: true }],
    template: (c) => ({ do: 'host', op: 'attach', domain: first(c.domains, 'dom0'), sid: c.sids[0] ?? 0 }),
  },
  {
    id: 'host:map',
    label: 'host map',
    group: 'host',
    modes: HOST_MODES,
    fields: [F.domain, F.iova, F.paddr, F.size, F.prot],
    template: (c) => ({ do: 'host', op: 'map', domain: first(c.domains, 'dom0'), iova: '0x100000', paddr: hex(c.buffer), size: '0x1000', prot: ['read', 'write'] }),
  },
  {
    id: 'host:unmap',
    label: 'host unmap',
    group: 'host',
    modes: HOST_MODES,
    fields: [F.domain, F.iova, F.size],
    template: (c) => ({ do: 'host', op: 'unmap', domain: first(c.domains, 'dom0'), iova: '0x100000', size: '0x1000' }),
  },
  {
    id: 'host:detach',
    label: 'host detach',
    group: 'host',
    modes: HOST_MODES,
    fields: [F.sid, { key: 'ssid', label: 'SubstreamID (SSID)', kind: 'int', optional: true }],
    template: (c) => ({ do: 'host', op: 'detach', sid: c.sids[0] ?? 0 }),
  },
  {
    id: 'host:cmd',
    label: 'host command (raw 16 bytes)',
    group: 'host',
    modes: HOST_MODES,
    fields: [
      { key: 'u64', label: 'Command words', kind: 'u64pair' },
      { key: 'sync', label: 'Follow with CMD_SYNC', kind: 'bool', defaultValue: true },
    ],
    template: () => ({ do: 'host', op: 'cmd', u64: ['0x11', '0x0'] }),
  },
  // Paravirt hypercalls
  {
    id: 'hvc:alloc_domain',
    label: 'hvc alloc_domain',
    group: 'hvc',
    modes: PV,
    fields: [{ key: 'domain_id', label: 'Domain id', kind: 'int' }, { key: 'type', label: 'Type', kind: 'enum', options: ['s1', 's2'] }],
    template: (c) => ({ do: 'hvc', call: 'alloc_domain', domain_id: c.domainIds.length ? Math.max(...c.domainIds) + 1 : 1, type: 's1' }),
  },
  {
    id: 'hvc:attach_dev',
    label: 'hvc attach_dev',
    group: 'hvc',
    modes: PV,
    fields: [F.iommuId, F.domainId, F.sid, F.pasid, { key: 'pasid_bits', label: 'PASID bits', kind: 'int' }],
    template: (c) => ({ do: 'hvc', call: 'attach_dev', iommu_id: 0, domain_id: first(c.domainIds, 1), sid: c.sids[0] ?? 0, pasid: 0, pasid_bits: 0 }),
  },
  {
    id: 'hvc:map_pages',
    label: 'hvc map_pages',
    group: 'hvc',
    modes: PV,
    fields: [F.domainId, F.iova, F.paddr, F.pgsize, F.pgcount, F.prot],
    template: (c) => ({ do: 'hvc', call: 'map_pages', domain_id: first(c.domainIds, 1), iova: '0x100000', paddr: hex(c.buffer), pgsize: '0x1000', pgcount: 1, prot: ['read', 'write'] }),
  },
  {
    id: 'hvc:unmap_pages',
    label: 'hvc unmap_pages',
    group: 'hvc',
    modes: PV,
    fields: [F.domainId, F.iova, F.pgsize, F.pgcount],
    template: (c) => ({ do: 'hvc', call: 'unmap_pages', domain_id: first(c.domainIds, 1), iova: '0x100000', pgsize: '0x1000', pgcount: 1 }),
  },
  {
    id: 'hvc:iova_to_phys',
    label: 'hvc iova_to_phys',
    group: 'hvc',
    modes: PV,
    fields: [F.domainId, F.iova],
    template: (c) => ({ do: 'hvc', call: 'iova_to_phys', domain_id: first(c.domainIds, 1), iova: '0x100000' }),
  },
  {
    id: 'hvc:map_sg',
    label: 'hvc map_sg',
    group: 'hvc',
    modes: PV,
    fields: [F.domainId, F.iova, { key: 'sg', label: 'Scatter-gather entries', kind: 'sg' }, F.prot],
    template: (c) => ({ do: 'hvc', call: 'map_sg', domain_id: first(c.domainIds, 1), iova: '0x100000', sg: [{ phys: hex(c.buffer), pgsize: '0x1000', pgcount: 1 }], prot: ['read', 'write'] }),
  },
  {
    id: 'hvc:detach_dev',
    label: 'hvc detach_dev',
    group: 'hvc',
    modes: PV,
    fields: [F.iommuId, F.domainId, F.sid, F.pasid],
    template: (c) => ({ do: 'hvc', call: 'detach_dev', iommu_id: 0, domain_id: first(c.domainIds, 1), sid: c.sids[0] ?? 0, pasid: 0 }),
  },
  {
    id: 'hvc:free_domain',
    label: 'hvc free_domain',
    group: 'hvc',
    modes: PV,
    fields: [F.domainId],
    template: (c) => ({ do: 'hvc', call: 'free_domain', domain_id: first(c.domainIds, 1) }),
  },
  { id: 'hvc:top_up', label: 'hvc top_up (donate pool pages)', group: 'hvc', modes: PV, fields: [{ key: 'pages', label: 'Pages', kind: 'int' }], template: () => ({ do: 'hvc', call: 'top_up', pages: 16 }) },
  // Device DMA
  {
    id: 'dma',
    label: 'dma (a device transaction)',
    group: 'device',
    modes: ALL,
    fields: [
      F.sid,
      { key: 'ssid', label: 'SubstreamID (SSID)', kind: 'int', optional: true },
      { key: 'iova', label: 'IOVA', kind: 'hex' },
      { key: 'access', label: 'Access', kind: 'enum', options: ['read', 'write', 'exec'] },
      { key: 'priv', label: 'Privileged', kind: 'bool', defaultValue: true },
      { key: 'trace', label: 'Include the walk trace in the result', kind: 'bool', defaultValue: false },
    ],
    template: (c) => ({ do: 'dma', sid: c.sids[0] ?? 0, iova: '0x100000', access: 'read' }),
  },
  // Ownership transitions
  ...(['share_hyp', 'unshare_hyp', 'donate_hyp', 'reclaim_hyp'] as const).map(
    (d): StepKind => ({ id: d, label: d, group: 'ownership', modes: ALL, fields: [F.addr, F.size], template: (c) => ({ do: d, addr: hex(c.buffer), size: '0x1000' }) }),
  ),
  ...(['donate_guest', 'reclaim_guest', 'share_guest', 'unshare_guest'] as const).map(
    (d): StepKind => ({
      id: d,
      label: d,
      group: 'ownership',
      modes: ALL,
      fields: [F.addr, F.size, { key: 'vm', label: 'VM handle', kind: 'int' }],
      template: (c) => ({ do: d, addr: hex(c.buffer), size: '0x1000', vm: 1 }),
    }),
  ),
  // Memory and registers
  {
    id: 'write64',
    label: 'write64 (host CPU write)',
    group: 'memory',
    modes: ALL,
    fields: [{ key: 'addr', label: 'Address', kind: 'hex', align: 8 }, { key: 'value', label: 'Value', kind: 'hex' }],
    template: (c) => ({ do: 'write64', addr: hex(c.buffer), value: '0x0' }),
  },
  {
    id: 'mmio_write',
    label: 'mmio_write (SMMU register)',
    group: 'memory',
    modes: ALL,
    fields: [{ key: 'offset', label: 'Register (name or offset)', kind: 'offset' }, { key: 'value', label: 'Value', kind: 'hex' }],
    template: () => ({ do: 'mmio_write', offset: 'GBPA', value: '0x0' }),
  },
  { id: 'mmio_read', label: 'mmio_read (SMMU register)', group: 'memory', modes: ALL, fields: [{ key: 'offset', label: 'Register (name or offset)', kind: 'offset' }], template: () => ({ do: 'mmio_read', offset: 'CR0' }) },
  { id: 'check', label: 'check (the invariants now)', group: 'check', modes: ALL, fields: [], template: () => ({ do: 'check' }) },
];

export const KIND_BY_ID: ReadonlyMap<string, StepKind> = new Map(STEP_KINDS.map((k) => [k.id, k]));

/** The catalogue id of a step (`host:map`, `hvc:map_pages`, `dma`, …), or null for an unknown one. */
export function kindId(s: RawStep): string | null {
  const d = s.do;
  if (d === 'host') return typeof s.op === 'string' && KIND_BY_ID.has(`host:${s.op}`) ? `host:${s.op}` : null;
  if (d === 'hvc') return typeof s.call === 'string' && KIND_BY_ID.has(`hvc:${s.call}`) ? `hvc:${s.call}` : null;
  return typeof d === 'string' && KIND_BY_ID.has(d) ? d : null;
}

/** The step kinds for a mode: those the mode carries out first, then the rest (which the machine refuses). */
export function kindsForMode(mode: Mode): { valid: StepKind[]; other: StepKind[] } {
  const valid: StepKind[] = [];
  const other: StepKind[] = [];
  for (const k of STEP_KINDS) (k.modes.includes(mode) ? valid : other).push(k);
  return { valid, other };
}

function freshName(taken: string[]): string {
  if (!taken.includes('dom0')) return taken.length === 0 ? 'dom0' : `dom${taken.length}`;
  let i = taken.length;
  while (taken.includes(`dom${i}`)) i++;
  return `dom${i}`;
}

// ---------------------------------------------------------------------------
// Pickers: what the steps before an index set up

/** Host domain names allocated by the steps before `index` (all steps when omitted). */
export function domainsBefore(steps: readonly RawStep[], index = steps.length): string[] {
  const out: string[] = [];
  for (const s of steps.slice(0, index)) if (s.do === 'host' && s.op === 'alloc_domain' && typeof s.domain === 'string' && s.domain && !out.includes(s.domain)) out.push(s.domain);
  return out;
}

/** Paravirt domain ids allocated by the steps before `index`. */
export function domainIdsBefore(steps: readonly RawStep[], index = steps.length): number[] {
  const out: number[] = [];
  for (const s of steps.slice(0, index)) if (s.do === 'hvc' && s.call === 'alloc_domain' && typeof s.domain_id === 'number' && !out.includes(s.domain_id)) out.push(s.domain_id);
  return out;
}

/** The declared devices' SIDs (numbers only). */
export function deviceSids(m: RawMachine): Array<{ sid: number; name?: string }> {
  return (m.devices ?? []).filter((d): d is { sid: number; name?: string } => typeof d.sid === 'number');
}

/** A buffer address for new steps: 256 MiB into the lowest RAM range (or its middle when smaller). */
export function bufferBase(m: RawMachine): bigint {
  const ranges = (m.ram ?? []).map((r) => ({ base: toBig(r.base), size: toBig(r.size) })).filter((r): r is { base: bigint; size: bigint } => r.base !== null && r.size !== null && r.size > 0n);
  if (ranges.length === 0) return 0x50000000n;
  const low = ranges.reduce((a, b) => (b.base < a.base ? b : a));
  const off = low.size > 0x20000000n ? 0x10000000n : (low.size / 2n) & ~0xfffn;
  return low.base + off;
}

export function stepContext(d: Draft, index = d.steps.length): StepContext {
  return { domains: domainsBefore(d.steps, index), domainIds: domainIdsBefore(d.steps, index), sids: deviceSids(d.machine).map((x) => x.sid), buffer: bufferBase(d.machine) };
}

/** A new step of a kind, keeping the note of the step it replaces. */
export function newStep(kind: string, ctx: StepContext, note?: unknown): RawStep {
  const k = KIND_BY_ID.get(kind);
  if (!k) throw new Error(`unknown step kind ${kind}`);
  const s = k.template(ctx);
  if (typeof note === 'string' && note !== '') s.note = note;
  return s;
}

/** A one-line description of a step (its form's legend). */
export function describeStep(s: RawStep): string {
  const t = textOf;
  const k = kindId(s);
  switch (k) {
    case null:
      return `unknown step ${JSON.stringify(s.do ?? '?')}`;
    case 'host:init':
      return 'host driver init';
    case 'host:alloc_domain':
      return `host alloc_domain “${t(s.domain)}” (${t(s.stage)})`;
    case 'host:attach':
      return `host attach SID ${t(s.sid)} → “${t(s.domain)}”`;
    case 'host:detach':
      return `host detach SID ${t(s.sid)}`;
    case 'host:map':
      return `host map “${t(s.domain)}” ${t(s.iova)} → ${t(s.paddr)} (${t(s.size)})`;
    case 'host:unmap':
      return `host unmap “${t(s.domain)}” ${t(s.iova)} (${t(s.size)})`;
    case 'host:cmd':
      return `host command ${Array.isArray(s.u64) ? s.u64.map(t).join(', ') : ''}`;
    case 'dma':
      return `dma SID ${t(s.sid)} ${t(s.iova)} ${t(s.access)}`;
    case 'check':
      return 'check the invariants';
    default:
      if (k.startsWith('hvc:')) {
        const dom = s.domain_id !== undefined ? ` dom ${t(s.domain_id)}` : '';
        const iova = s.iova !== undefined ? ` ${t(s.iova)}` : '';
        return `hvc ${t(s.call)}${dom}${iova}`;
      }
      if (s.addr !== undefined) return `${k} ${t(s.addr)}${s.size !== undefined ? ` + ${t(s.size)}` : ''}${s.value !== undefined ? ` = ${t(s.value)}` : ''}`;
      if (s.offset !== undefined) return `${k} ${t(s.offset)}${s.value !== undefined ? ` = ${t(s.value)}` : ''}`;
      return k;
  }
}

// ---------------------------------------------------------------------------
// Field paths: which error paths the form can show next to an input

/** Every path the builder renders an input (or a group) for. */
export function fieldPaths(d: Draft): Set<string> {
  const p = new Set<string>(['title', 'description', 'mode', 'machine.ram', 'machine.devices', 'machine.mmio', 'machine.features', 'machine.pool', 'machine.vcmdq']);
  for (const f of ['oas', 'sidsize', 'granules', 'stages', 'st_level2']) p.add(`machine.features.${f}`);
  (d.machine.ram ?? []).forEach((_, i) => ['', '.base', '.size'].forEach((s) => p.add(`machine.ram[${i}]${s}`)));
  (d.machine.mmio ?? []).forEach((_, i) => ['', '.base', '.size'].forEach((s) => p.add(`machine.mmio[${i}]${s}`)));
  (d.machine.devices ?? []).forEach((_, i) => ['', '.sid', '.name'].forEach((s) => p.add(`machine.devices[${i}]${s}`)));
  if (d.machine.pool) ['machine.pool.base', 'machine.pool.pages'].forEach((x) => p.add(x));
  d.steps.forEach((s, i) => {
    p.add(stepPath(i));
    p.add(stepPath(i, 'do'));
    p.add(stepPath(i, 'note'));
    const k = kindId(s);
    const kind = k ? KIND_BY_ID.get(k) : undefined;
    for (const f of kind?.fields ?? []) {
      p.add(stepPath(i, f.key));
      if (f.kind === 'u64pair') [0, 1].forEach((j) => p.add(`${stepPath(i, f.key)}[${j}]`));
      if (f.kind === 'sg' && Array.isArray(s.sg)) s.sg.forEach((_, j) => ['phys', 'pgsize', 'pgcount'].forEach((x) => p.add(`${stepPath(i, 'sg')}[${j}].${x}`)));
    }
  });
  return p;
}

/** The rendered path an error path belongs to: itself, or the closest enclosing rendered path; null when none. */
export function owningField(path: string, fields: ReadonlySet<string>): string | null {
  let p = path;
  while (p !== '') {
    if (fields.has(p)) return p;
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    if (cut <= 0) break;
    p = p.slice(0, cut);
  }
  return null;
}

/** Split issues into those shown next to a field (by field path) and the rest (the summary). */
export function routeIssues(issues: readonly Issue[], fields: ReadonlySet<string>): { byField: Map<string, Issue[]>; summary: Issue[] } {
  const byField = new Map<string, Issue[]>();
  const summary: Issue[] = [];
  for (const is of issues) {
    const f = owningField(is.path, fields);
    // A machine-wide or document-wide complaint stays in the summary.
    if (f === null || f === 'machine') summary.push(is);
    else byField.set(f, [...(byField.get(f) ?? []), is]);
  }
  return { byField, summary };
}

/** "Step 4 › IOVA" for a path (for the summary and jump links). */
export function pathLabel(path: string, d: Draft): string {
  const m = /^steps\[(\d+)\](?:\.(\w+))?(.*)$/.exec(path);
  if (m) {
    const i = Number(m[1]);
    const s = d.steps[i];
    const k = s ? kindId(s) : null;
    const f = m[2] ? KIND_BY_ID.get(k ?? '')?.fields.find((x) => x.key === m[2]) : undefined;
    const field = m[2] ? (f?.label ?? (m[2] === 'note' ? 'Note' : m[2] === 'do' ? 'Type' : m[2])) : '';
    return `Step ${i + 1}${field ? ` › ${field}${m[3] ?? ''}` : ''}`;
  }
  if (path === '') return 'Scenario';
  return path
    .replace(/^machine\./, 'Machine › ')
    .replace(/ram\[(\d+)\]/, (_, n: string) => `RAM range ${Number(n) + 1}`)
    .replace(/mmio\[(\d+)\]/, (_, n: string) => `MMIO range ${Number(n) + 1}`)
    .replace(/devices\[(\d+)\]/, (_, n: string) => `device ${Number(n) + 1}`);
}

// ---------------------------------------------------------------------------
// Drafts: blank machines, loading documents

export interface BlankOptions {
  mode: Mode;
}

export function blankDraft(mode: Mode = 'bare'): Draft {
  const machine: RawMachine = { ram: [{ base: '0x40000000', size: '0x40000000' }], devices: [{ sid: 1, name: 'nic' }] };
  return { v: 1, title: 'My scenario', description: '', machine, mode, steps: [] };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A document (a lesson's scenario, the explorer's, a pasted one) as a draft; null with a reason when it has no machine or steps to edit. */
export function toDraft(doc: unknown): { draft: Draft } | { error: string } {
  if (!isObj(doc)) return { error: 'A scenario is a JSON object {v, title, machine, mode, steps}.' };
  const copy = JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
  if (!isObj(copy.machine)) return { error: 'The document has no "machine" object.' };
  if (!Array.isArray(copy.steps)) return { error: 'The document has no "steps" list.' };
  if (!copy.steps.every(isObj)) return { error: 'Every step must be a JSON object.' };
  const m = copy.machine as RawMachine;
  if (!Array.isArray(m.ram)) m.ram = [];
  const mode = MODES.includes(copy.mode as Mode) ? (copy.mode as Mode) : 'bare';
  return { draft: { ...copy, v: 1, mode, machine: m, steps: copy.steps as RawStep[] } as Draft };
}

/** The document to validate, share and export: the draft without empty title or description. */
export function docOf(d: Draft): Record<string, unknown> {
  const out: Record<string, unknown> = { ...d };
  if (!d.title) delete out.title;
  if (!d.description) delete out.description;
  return out;
}

/** The draft's machine adjusted for a new mode (drops fields the mode refuses). */
export function withMode(d: Draft, mode: Mode): Draft {
  const machine = { ...d.machine };
  if (mode !== 'nested') delete machine.vcmdq;
  if (mode === 'bare') delete machine.pool;
  return { ...d, mode, machine };
}

// ---------------------------------------------------------------------------
// Builder state and its reducer

export interface BuilderState {
  draft: Draft;
  /** A stable id per step (React keys), parallel to draft.steps. */
  ids: string[];
  seq: number;
  /** The draft before the last "start from" / import, for Undo. */
  previous: Draft | null;
}

export type BuilderAction =
  | { type: 'replace'; draft: Draft }
  | { type: 'undoReplace' }
  | { type: 'setMeta'; title?: string; description?: string }
  | { type: 'setMode'; mode: Mode }
  | { type: 'setMachine'; machine: RawMachine }
  | { type: 'addStep'; step: RawStep }
  | { type: 'appendSteps'; steps: RawStep[] }
  | { type: 'updateStep'; index: number; step: RawStep }
  | { type: 'removeStep'; index: number }
  | { type: 'moveStep'; index: number; delta: -1 | 1 }
  | { type: 'duplicateStep'; index: number };

export function initState(draft: Draft): BuilderState {
  return { draft, ids: draft.steps.map((_, i) => `s${i}`), seq: draft.steps.length, previous: null };
}

function freshIds(st: BuilderState, n: number): { ids: string[]; seq: number } {
  const ids: string[] = [];
  let seq = st.seq;
  for (let i = 0; i < n; i++) ids.push(`s${seq++}`);
  return { ids, seq };
}

export function reduce(st: BuilderState, a: BuilderAction): BuilderState {
  const d = st.draft;
  switch (a.type) {
    case 'replace': {
      const { ids, seq } = freshIds(st, a.draft.steps.length);
      return { draft: a.draft, ids, seq, previous: d };
    }
    case 'undoReplace': {
      if (!st.previous) return st;
      const { ids, seq } = freshIds(st, st.previous.steps.length);
      return { draft: st.previous, ids, seq, previous: null };
    }
    case 'setMeta': {
      const next = { ...d };
      if (a.title !== undefined) next.title = a.title;
      if (a.description !== undefined) next.description = a.description;
      return { ...st, draft: next };
    }
    case 'setMode':
      return { ...st, draft: withMode(d, a.mode) };
    case 'setMachine':
      return { ...st, draft: { ...d, machine: a.machine } };
    case 'addStep':
    case 'appendSteps': {
      const add = a.type === 'addStep' ? [a.step] : a.steps;
      const { ids, seq } = freshIds(st, add.length);
      return { ...st, draft: { ...d, steps: [...d.steps, ...add] }, ids: [...st.ids, ...ids], seq };
    }
    case 'updateStep': {
      if (a.index < 0 || a.index >= d.steps.length) return st;
      const steps = d.steps.slice();
      steps[a.index] = a.step;
      return { ...st, draft: { ...d, steps } };
    }
    case 'removeStep': {
      if (a.index < 0 || a.index >= d.steps.length) return st;
      return { ...st, draft: { ...d, steps: d.steps.filter((_, i) => i !== a.index) }, ids: st.ids.filter((_, i) => i !== a.index) };
    }
    case 'moveStep': {
      const j = a.index + a.delta;
      if (a.index < 0 || a.index >= d.steps.length || j < 0 || j >= d.steps.length) return st;
      const steps = d.steps.slice();
      const ids = st.ids.slice();
      [steps[a.index], steps[j]] = [steps[j], steps[a.index]];
      [ids[a.index], ids[j]] = [ids[j], ids[a.index]];
      return { ...st, draft: { ...d, steps }, ids };
    }
    case 'duplicateStep': {
      if (a.index < 0 || a.index >= d.steps.length) return st;
      const { ids: [id], seq } = freshIds(st, 1);
      const steps = d.steps.slice();
      steps.splice(a.index + 1, 0, JSON.parse(JSON.stringify(d.steps[a.index])) as RawStep);
      const ids = st.ids.slice();
      ids.splice(a.index + 1, 0, id);
      return { ...st, draft: { ...d, steps }, ids, seq };
    }
  }
}

// ---------------------------------------------------------------------------
// Persistence (localStorage, versioned and guarded)

export const STORAGE_KEY = 'smmu-explorer:builder:v1';

interface Stored {
  v: 1;
  draft: unknown;
}

export function serialise(d: Draft): string {
  return JSON.stringify({ v: 1, draft: d } satisfies Stored);
}

/** The draft a stored text holds, or null (missing, corrupt, another version). */
export function deserialise(text: string | null): Draft | null {
  if (!text) return null;
  try {
    const o = JSON.parse(text) as unknown;
    if (!isObj(o) || o.v !== 1) return null;
    const r = toDraft(o.draft);
    return 'draft' in r ? r.draft : null;
  } catch {
    return null;
  }
}

export function loadStored(storage: Pick<Storage, 'getItem'> | null | undefined): Draft | null {
  try {
    return deserialise(storage?.getItem(STORAGE_KEY) ?? null);
  } catch {
    return null;
  }
}

export function saveStored(storage: Pick<Storage, 'setItem'> | null | undefined, d: Draft): boolean {
  try {
    storage?.setItem(STORAGE_KEY, serialise(d));
    return !!storage;
  } catch {
    return false; // quota, private mode: keep working without persistence
  }
}

// ---------------------------------------------------------------------------
// Workload helper: a ring of buffers, N × (map, dma, unmap)

export const MAX_WORKLOAD_STEPS = 500;

export interface WorkloadOptions {
  /** Buffers (map + DMA + unmap each). */
  count: number;
  /** Bytes per buffer (a multiple of 4 KiB). */
  bufferSize: bigint;
  iovaBase: bigint;
  paBase: bigint;
  sid: number;
  /** bare/nested: host domain name; paravirt: domain id. */
  domain: string;
  access: 'read' | 'write';
  unmap: boolean;
  /** Prepend what the ring needs (init, alloc, attach) when the steps so far do not set it up. */
  setup: boolean;
}

/** The steps of a workload for a mode, or an error (the cap, bad sizes). */
export function workloadSteps(o: WorkloadOptions, mode: Mode, before: readonly RawStep[] = []): { steps: RawStep[] } | { error: string } {
  if (!Number.isInteger(o.count) || o.count < 1) return { error: 'The number of buffers must be a whole number ≥ 1.' };
  if (o.bufferSize <= 0n || o.bufferSize % 4096n !== 0n) return { error: 'The buffer size must be a non-zero multiple of 0x1000 (4 KiB).' };
  if (o.iovaBase % 4096n !== 0n || o.paBase % 4096n !== 0n) return { error: 'The IOVA and physical bases must be 4 KiB aligned.' };
  const steps: RawStep[] = [];
  const host = mode === 'bare' || mode === 'nested';
  const domId = Number(o.domain);
  if (mode === 'paravirt' && !(Number.isInteger(domId) && o.domain.trim() !== '')) return { error: 'In paravirt mode the domain is a numeric domain id.' };
  if (host && o.domain.trim() === '') return { error: 'Name the host domain to map into.' };
  if (o.setup) {
    if (host) {
      if (!before.some((s) => s.do === 'host' && s.op === 'init')) steps.push({ do: 'host', op: 'init' });
      if (!domainsBefore(before).includes(o.domain)) steps.push({ do: 'host', op: 'alloc_domain', domain: o.domain, stage: 's1' });
      if (!before.some((s) => s.do === 'host' && s.op === 'attach' && s.sid === o.sid)) steps.push({ do: 'host', op: 'attach', domain: o.domain, sid: o.sid });
    } else if (mode === 'paravirt') {
      if (!domainIdsBefore(before).includes(domId)) steps.push({ do: 'hvc', call: 'alloc_domain', domain_id: domId, type: 's1' });
      if (!before.some((s) => s.do === 'hvc' && s.call === 'attach_dev' && s.sid === o.sid)) steps.push({ do: 'hvc', call: 'attach_dev', iommu_id: 0, domain_id: domId, sid: o.sid, pasid: 0, pasid_bits: 0 });
    }
  }
  const per = mode === 'identity' ? 1 : o.unmap ? 3 : 2;
  const total = steps.length + per * o.count;
  if (total > MAX_WORKLOAD_STEPS) return { error: `That is ${total} steps; a workload adds at most ${MAX_WORKLOAD_STEPS} (at most ${Math.floor((MAX_WORKLOAD_STEPS - steps.length) / per)} buffers here).` };
  const pages = Number(o.bufferSize / 4096n);
  const prot = o.access === 'write' ? ['read', 'write'] : ['read'];
  for (let i = 0; i < o.count; i++) {
    const off = BigInt(i) * o.bufferSize;
    const iova = hex(o.iovaBase + off);
    const pa = hex(o.paBase + off);
    const size = hex(o.bufferSize);
    const note = i === 0 ? `Buffer ${i + 1} of ${o.count}.` : undefined;
    if (mode === 'identity') {
      steps.push({ do: 'dma', sid: o.sid, iova: pa, access: o.access, ...(note ? { note } : {}) });
      continue;
    }
    if (host) steps.push({ do: 'host', op: 'map', domain: o.domain, iova, paddr: pa, size, prot, ...(note ? { note } : {}) });
    else steps.push({ do: 'hvc', call: 'map_pages', domain_id: domId, iova, paddr: pa, pgsize: '0x1000', pgcount: pages, prot, ...(note ? { note } : {}) });
    steps.push({ do: 'dma', sid: o.sid, iova, access: o.access });
    if (o.unmap) {
      if (host) steps.push({ do: 'host', op: 'unmap', domain: o.domain, iova, size });
      else steps.push({ do: 'hvc', call: 'unmap_pages', domain_id: domId, iova, pgsize: '0x1000', pgcount: pages });
    }
  }
  return { steps };
}

// ---------------------------------------------------------------------------
// Prot

export const PROT_NAMES = ['read', 'write', 'cache', 'noexec', 'mmio', 'priv'] as const;
export type ProtName = (typeof PROT_NAMES)[number];

export function toggleProt(prot: unknown, name: ProtName, on: boolean): ProtName[] {
  const cur = Array.isArray(prot) ? (prot.filter((p) => (PROT_NAMES as readonly unknown[]).includes(p)) as ProtName[]) : [];
  const set = new Set(cur);
  if (on) set.add(name);
  else set.delete(name);
  return PROT_NAMES.filter((p) => set.has(p));
}
