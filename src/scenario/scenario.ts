/**
 * The scenario: the versioned JSON document a share link, an exported file
 * and the `scenario` command hold — a machine, a mode, the steps — and the
 * recording of its run that the app steps through.
 *
 * Version 1: `{"v": 1, "title"?, "description"?, "machine", "mode", "costs"?,
 * "steps"}`; `machine`, `costs` and the steps are the `hyp` command's (see
 * README), with mode `bare` (the host's driver owns the SMMU) added and a
 * `note` (narration) allowed on every step. Documents without `v` are read as
 * version 1 when they otherwise match (a `hyp` command input is a valid
 * scenario); newer versions are refused with a message naming the version.
 */
import { z } from 'zod';
import { u64Out, CliInputError, parseInput } from '../cli/json';
import { type CostsInput, CostsSchema, type HypResult, Machine, MachineSchema, type Step, ScenarioStep, layoutMachine, type Mode } from './machine';
import type { LogEntry, StepInfo, StepTag } from './view';
import { decodeCommand, formatCommand } from '../emu/smmu/commands';
import { formatEvent } from '../emu/smmu/events';

export const SCENARIO_VERSION = 1;
/** Caps on what a (possibly hostile) document may ask for. */
export const MAX_STEPS = 5000;
export const MAX_TITLE = 200;
export const MAX_DESCRIPTION = 8000;

export const ScenarioSchema = z.strictObject({
  v: z.literal(SCENARIO_VERSION),
  title: z.string().max(MAX_TITLE).optional(),
  description: z.string().max(MAX_DESCRIPTION).optional(),
  machine: MachineSchema,
  mode: z.enum(['bare', 'paravirt', 'nested', 'identity']),
  costs: CostsSchema.optional(),
  steps: z.array(ScenarioStep).max(MAX_STEPS, `a scenario has at most ${MAX_STEPS} steps`),
});

export type Scenario = z.output<typeof ScenarioSchema>;

/** Bring an older document to the current version (the compatibility promise of old links). */
export function migrate(doc: unknown): unknown {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return doc;
  const o = doc as Record<string, unknown>;
  if (!('v' in o)) return { v: SCENARIO_VERSION, ...o };
  if (typeof o.v === 'number' && Number.isInteger(o.v) && o.v > SCENARIO_VERSION) {
    throw new CliInputError(`this scenario was made by a newer version of the explorer (format v${o.v}; this one reads v${SCENARIO_VERSION})`, 'v');
  }
  return doc;
}

/** Parse and check a scenario document: the schema, then that the machine can exist. Throws CliInputError with a path. */
export function parseScenario(doc: unknown): { scenario: Scenario; raw: unknown } {
  const migrated = migrate(doc);
  const scenario = parseInput(ScenarioSchema, migrated);
  layoutMachine(scenario.machine, scenario.mode); // throws for machines that cannot exist
  return { scenario, raw: migrated };
}

export function bootMachine(s: Scenario, logMmio = false): Machine {
  return new Machine(s.mode as Mode, layoutMachine(s.machine, s.mode), { logMmio });
}

// ---------------------------------------------------------------------------
// Step descriptions, tags and log entries

function hx(v: bigint | number): string {
  return u64Out(BigInt(v));
}

const PROT_NAMES: Array<[number, string]> = [
  [1, 'R'],
  [2, 'W'],
  [4, 'C'],
  [8, 'NX'],
  [16, 'MMIO'],
  [32, 'PRIV'],
];
function protText(p: number): string {
  return PROT_NAMES.filter(([b]) => p & b).map(([, n]) => n).join('|') || '0';
}

/** A short label for a step (timeline, log). */
export function stepLabel(s: Step): string {
  switch (s.do) {
    case 'hvc':
      switch (s.call) {
        case 'map_pages':
          return `hvc map_pages dom ${s.domain_id} ${hx(s.iova)}→${hx(s.paddr)} ${s.pgcount}×${hx(s.pgsize)} ${protText(s.prot)}`;
        case 'unmap_pages':
          return `hvc unmap_pages dom ${s.domain_id} ${hx(s.iova)} ${s.pgcount}×${hx(s.pgsize)}`;
        case 'alloc_domain':
          return `hvc alloc_domain ${s.domain_id} (${s.type})`;
        case 'free_domain':
          return `hvc free_domain ${s.domain_id}`;
        case 'attach_dev':
          return `hvc attach_dev sid ${s.sid} pasid ${s.pasid} → dom ${s.domain_id}`;
        case 'detach_dev':
          return `hvc detach_dev sid ${s.sid} pasid ${s.pasid} from dom ${s.domain_id}`;
        case 'iova_to_phys':
          return `hvc iova_to_phys dom ${s.domain_id} ${hx(s.iova)}`;
        case 'map_sg':
          return `hvc map_sg dom ${s.domain_id} ${hx(s.iova)} (${s.sg.length} entries)`;
        case 'top_up':
          return `hvc top_up ${s.pages} pages`;
      }
      break;
    case 'share_hyp':
    case 'unshare_hyp':
    case 'donate_hyp':
    case 'reclaim_hyp':
      return `${s.do} ${hx(s.addr)}+${hx(s.size)}`;
    case 'donate_guest':
    case 'reclaim_guest':
    case 'share_guest':
    case 'unshare_guest':
      return `${s.do} ${hx(s.addr)}+${hx(s.size)} vm ${s.vm}`;
    case 'write64':
      return `write64 [${hx(s.addr)}] = ${hx(s.value)}`;
    case 'mmio_write':
      return `mmio_write ${hx(s.offset)} = ${hx(s.value)}`;
    case 'mmio_read':
      return `mmio_read ${hx(s.offset)}`;
    case 'host':
      switch (s.op) {
        case 'init':
          return 'host driver init';
        case 'alloc_domain':
          return `host alloc_domain "${s.domain}" (${s.stage}${s.granule ? `, ${s.granule / 1024}K` : ''})`;
        case 'attach':
          return `host attach sid ${s.sid}${s.ssid ? ` ssid ${s.ssid}` : ''} → "${s.domain}"`;
        case 'detach':
          return `host detach sid ${s.sid}${s.ssid ? ` ssid ${s.ssid}` : ''}`;
        case 'map':
          return `host map "${s.domain}" ${hx(s.iova)}→${hx(s.paddr)} ${hx(s.size)} ${protText(s.prot)}`;
        case 'unmap':
          return `host unmap "${s.domain}" ${hx(s.iova)} ${hx(s.size)}`;
        case 'cmd': {
          const d = decodeCommand(s.u64[0], s.u64[1]);
          return `host command ${d.ok ? formatCommand(d.cmd) : hx(s.u64[0])}${s.sync === false ? '' : ' + CMD_SYNC'}`;
        }
      }
      break;
    case 'dma':
      return `dma sid ${s.sid}${s.ssid !== undefined ? ` ssid ${s.ssid}` : ''} ${hx(s.iova)} ${s.access}`;
    case 'check':
      return 'check invariants';
  }
  return (s as { do: string }).do;
}

/** A plain-language sentence for what a step did. */
export function stepText(s: Step, r: HypResult): string {
  const res = r as Record<string, unknown>;
  if ('pa' in res) return `The SMMU translated ${hx((s as { iova: bigint }).iova)} to physical address ${String(res.pa)}.`;
  if ('abort' in res) return 'The SMMU terminated the transaction without recording an event (abort).';
  if ('fault' in res) {
    const f = res.fault as { type: string; stage?: number; class?: string };
    return `The SMMU faulted: ${f.type}${f.stage ? ` at stage ${f.stage}` : ''}${f.class ? ` (class ${f.class})` : ''}; the event is recorded in the event queue.`;
  }
  if ('ok' in res) return res.ok ? 'The invariants hold: no device can reach memory the host does not own.' : 'An invariant is violated: see the hypervisor panel.';
  const ret = res.ret;
  const reason = typeof res.reason === 'string' ? ` — ${res.reason}` : '';
  if (ret === 0) {
    const value = typeof res.value === 'string' ? ` (value ${res.value})` : '';
    return `${stepLabel(s)} succeeded${value}${res.ignored ? `, but ${String(res.reason)}` : ''}.`;
  }
  return `${stepLabel(s)} was refused: ${String(ret)}${reason}.`;
}

/** The tags the timeline's "run to next …" uses. */
export function stepTags(s: Step, r: HypResult, m: Machine, before: { traps: number; events: number; cerrors: number }): StepTag[] {
  const tags: StepTag[] = [];
  const res = r as Record<string, unknown>;
  if (s.do === 'hvc') tags.push('hypercall');
  if (s.do === 'dma') tags.push('dma');
  if ('fault' in res) tags.push('fault');
  if (typeof res.ret === 'string' || (res.ok === false)) tags.push('error');
  const c = m.counts();
  if (c.mmioTraps > before.traps) tags.push('trap');
  if (m.smmu.stats.eventsRecorded > before.events) tags.push('event');
  if (cerrorCount(m) > before.cerrors) tags.push('cerror');
  return tags;
}

function cerrorCount(m: Machine): number {
  return (m.hostDriver?.stats.cerrors ?? 0) + (m.hyp.nested?.counters.hostCerrors ?? 0);
}

export function tagBaseline(m: Machine): { traps: number; events: number; cerrors: number } {
  return { traps: m.counts().mmioTraps, events: m.smmu.stats.eventsRecorded, cerrors: cerrorCount(m) };
}

/** Where each log source stood before a step. */
export interface LogMark {
  nested: number;
  driver: number;
  events: number;
}

export function logMark(m: Machine): LogMark {
  return { nested: m.hyp.nested?.seq ?? 0, driver: m.hostDriver?.seq ?? 0, events: m.smmu.eventLog.length };
}

/** The log entries a step produced (hypercall, traps, commands, shadow updates, driver actions, events). */
export function stepLog(index: number, s: Step, r: HypResult, m: Machine, mark: LogMark): LogEntry[] {
  const out: LogEntry[] = [];
  const res = r as Record<string, unknown>;
  if (s.do === 'hvc') out.push({ step: index, kind: 'hypercall', text: `${stepLabel(s)} = ${String(res.ret)}`, detail: typeof res.reason === 'string' ? res.reason : undefined });
  for (const e of m.hyp.nested?.logSince(mark.nested) ?? []) {
    switch (e.kind) {
      case 'mmio':
        out.push({ step: index, kind: 'trap', text: `trap: host ${e.op} ${e.reg} ${e.op === 'write' ? `= ${hx(e.value)}` : `→ ${hx(e.value)}`}` });
        break;
      case 'refused':
        out.push({ step: index, kind: 'trap', text: `trap: host ${e.op} of ${e.reg} refused` });
        break;
      case 'ignored':
        out.push({ step: index, kind: 'trap', text: `trap: write to ${e.reg} ignored`, detail: e.reason });
        break;
      case 'cmd':
        out.push({ step: index, kind: 'cmd', text: `host command ${e.text}: ${e.action}`, detail: [e.reason, ...(e.out ?? []).map(formatCommand)].filter(Boolean).join('; ') || undefined });
        break;
      case 'ste':
        out.push({ step: index, kind: 'ste', text: `STE ${e.sid}: host ${e.host} → shadow ${e.shadow} (${e.update})`, detail: e.reason });
        break;
      case 'reject':
        out.push({ step: index, kind: 'reject', text: `STE ${e.sid} rejected`, detail: e.reason });
        break;
      case 'cerror':
        out.push({ step: index, kind: 'cerror', text: `CERROR ${e.name} emulated for the host at index ${e.index}`, detail: e.text });
        break;
      case 's2':
        out.push({ step: index, kind: 's2', text: `hyp S2 ${e.op} ${hx(e.base)}+${hx(e.size)} (${e.tlbis.length} TLBI)`, detail: e.cause });
        break;
      case 'event':
        out.push({ step: index, kind: 'event', text: `event ${formatEvent(e.event)} ${e.forwarded ? 'forwarded to the host' : 'kept by the hyp'}`, detail: e.reason });
        break;
      case 'vcmdq':
        out.push({ step: index, kind: 'cmd', text: `vCMDQ: ${e.commands} commands without a trap` });
        break;
      case 'note':
        out.push({ step: index, kind: 'note', text: e.text });
        break;
    }
  }
  for (const e of m.hostDriver?.logSince(mark.driver) ?? []) {
    switch (e.kind) {
      case 'cmd':
        out.push({ step: index, kind: 'driver', text: `driver: ${formatCommand(e.cmd)} at CMDQ index ${e.prod}` });
        break;
      case 'entry':
        if (e.update !== 'none') out.push({ step: index, kind: 'driver', text: `driver: ${e.what.toUpperCase()} ${e.sid}${e.ssid !== undefined ? `/${e.ssid}` : ''} updated (${e.update}, ${e.qwordDiff} qwords differ)` });
        break;
      case 'cerror':
        out.push({ step: index, kind: 'cerror', text: `driver saw CERROR ${e.name}`, detail: e.text });
        break;
      case 'bulk':
        out.push({ step: index, kind: 'driver', text: `driver: ${e.text}` });
        break;
      case 'note':
        out.push({ step: index, kind: 'note', text: e.text });
        break;
      default:
        break;
    }
  }
  for (const e of m.smmu.eventLog.slice(mark.events)) out.push({ step: index, kind: 'event', text: `event recorded: ${formatEvent(e)}` });
  return out;
}

// ---------------------------------------------------------------------------
// Recording

/** Everything a run of the scenario records, step by step (what the timeline shows). */
export interface Recording {
  scenario: Scenario;
  steps: StepInfo[];
  results: HypResult[];
}

/**
 * Run a scenario to its end, recording each step's label, text, tags and
 * result. `machine`: run on this one (booted from `s`) rather than a new
 * machine; `onLog`: receive each step's log entries; `onStep`: called after each step.
 */
export function record(s: Scenario, opts: { machine?: Machine; onLog?: (entries: LogEntry[]) => void; onStep?: (i: number, m: Machine) => void } = {}): { recording: Recording; machine: Machine } {
  const m = opts.machine ?? bootMachine(s);
  const steps: StepInfo[] = [];
  const results: HypResult[] = [];
  s.steps.forEach((st, i) => {
    const step = st as Step & { note?: string };
    const before = tagBaseline(m);
    const mark = opts.onLog ? logMark(m) : null;
    const r = m.step(step);
    results.push(r);
    const info: StepInfo = { index: i + 1, do: step.do, label: stepLabel(step), tags: stepTags(step, r, m, before), result: r, text: stepText(step, r) };
    if (step.note) info.note = step.note;
    steps.push(info);
    if (mark) opts.onLog?.(stepLog(i + 1, step, r, m, mark));
    opts.onStep?.(i + 1, m);
  });
  return { recording: { scenario: s, steps, results }, machine: m };
}

/** The costs object as CostParams overrides. */
export function costOverrides(c: CostsInput | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(c ?? {})) if (typeof v === 'number') out[k] = v;
  return out;
}
