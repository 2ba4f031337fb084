/**
 * One step of the scenario as a form: its type, the fields of that type
 * (chosen from the step catalogue), the narration note, and the list
 * controls (move, duplicate, remove).
 */
import { memo, useId } from 'react';
import { BTN_SMALL, CheckField, FIELDSET, FieldError, INPUT, LEGEND, SelectField, TextArea, TextField } from './fields';
import {
  KIND_BY_ID,
  PROT_NAMES,
  alignHint,
  describeStep,
  fieldId,
  kindId,
  kindsForMode,
  newStep,
  stepPath,
  textOf,
  toggleProt,
  type FieldSpec,
  type Mode,
  type RawStep,
  type StepContext,
} from './model';

export interface StepFormProps {
  index: number;
  count: number;
  step: RawStep;
  mode: Mode;
  /** Domains / ids allocated by earlier steps, declared devices (for the pickers and new-type defaults). */
  ctx: StepContext;
  devices: Array<{ sid: number; name?: string }>;
  expanded: boolean;
  onToggle(index: number): void;
  onChange(index: number, step: RawStep): void;
  onMove(index: number, delta: -1 | 1): void;
  onDuplicate(index: number): void;
  onRemove(index: number): void;
}

const PROT_LABEL: Record<(typeof PROT_NAMES)[number], string> = { read: 'read', write: 'write', cache: 'cache', noexec: 'noexec', mmio: 'mmio', priv: 'priv' };

/** The <select> of step types for a mode: the mode's own first. */
export function StepTypeOptions({ mode }: { mode: Mode }) {
  const { valid, other } = kindsForMode(mode);
  return (
    <>
      <optgroup label={`Steps for mode ${mode}`}>
        {valid.map((k) => (
          <option key={k.id} value={k.id}>
            {k.label}
          </option>
        ))}
      </optgroup>
      <optgroup label="Other modes’ steps (this machine refuses them)">
        {other.map((k) => (
          <option key={k.id} value={k.id}>
            {k.label}
          </option>
        ))}
      </optgroup>
    </>
  );
}

function StepFormImpl(p: StepFormProps) {
  const { index: i, step, mode, ctx } = p;
  const uid = useId();
  const k = kindId(step);
  const kind = k ? KIND_BY_ID.get(k) : undefined;
  const legendId = `${uid}-legend`;
  const bodyId = `${uid}-body`;
  const set = (key: string, v: unknown) => {
    const next: RawStep = { ...step };
    if (v === undefined) delete next[key];
    else next[key] = v;
    p.onChange(i, next);
  };
  const wrongMode = kind && !kind.modes.includes(mode);
  const n = i + 1;

  return (
    <li className="list-none" data-testid="builder-step">
      <fieldset className={FIELDSET} aria-labelledby={legendId}>
        <legend id={legendId} className={LEGEND}>
          Step {n}: <span className="font-mono text-[0.8125rem] font-normal">{describeStep(step)}</span>
        </legend>
        <div className="flex flex-wrap items-end gap-2">
          <div>
            <label htmlFor={fieldId(stepPath(i, 'do'))} className="block text-[0.8125rem] font-medium">
              Type
            </label>
            <select
              id={fieldId(stepPath(i, 'do'))}
              value={k ?? ''}
              onChange={(e) => p.onChange(i, newStep(e.target.value, ctx, step.note))}
              className={INPUT}
            >
              {!k && <option value="">(unknown: {textOf(step.do)})</option>}
              <StepTypeOptions mode={mode} />
            </select>
          </div>
          <div role="group" aria-label={`Arrange step ${n}`} className="ml-auto flex flex-wrap gap-1">
            <button type="button" className={BTN_SMALL} aria-expanded={p.expanded} aria-controls={bodyId} onClick={() => p.onToggle(i)} aria-label={`${p.expanded ? 'Collapse' : 'Expand'} step ${n}`}>
              {p.expanded ? 'Collapse' : 'Edit'}
            </button>
            <button type="button" className={BTN_SMALL} disabled={i === 0} onClick={() => p.onMove(i, -1)} aria-label={`Move step ${n} up`}>
              ↑
            </button>
            <button type="button" className={BTN_SMALL} disabled={i === p.count - 1} onClick={() => p.onMove(i, 1)} aria-label={`Move step ${n} down`}>
              ↓
            </button>
            <button type="button" className={BTN_SMALL} onClick={() => p.onDuplicate(i)} aria-label={`Duplicate step ${n}`}>
              Duplicate
            </button>
            <button type="button" className={BTN_SMALL} onClick={() => p.onRemove(i)} aria-label={`Remove step ${n}`}>
              Remove
            </button>
          </div>
        </div>
        <FieldError path={stepPath(i)} />
        <FieldError path={stepPath(i, 'do')} />
        {wrongMode && (
          <p className="mt-1 text-[0.8125rem] text-amber-800 dark:text-amber-300">
            Mode {mode} does not carry out this step: the machine will refuse it ({k?.startsWith('hvc:') ? 'ENOSYS' : 'ENODEV'}). Keep it to show the refusal.
          </p>
        )}
        <div id={bodyId} hidden={!p.expanded} className="mt-2 space-y-2">
          {kind && kind.fields.length > 0 && (
            <div className="grid grid-cols-1 gap-2 sm:grid-cols-2 xl:grid-cols-3">
              {kind.fields.map((f) => (
                <Field key={f.key} f={f} i={i} step={step} set={set} ctx={ctx} devices={p.devices} uid={uid} />
              ))}
            </div>
          )}
          <TextArea path={stepPath(i, 'note')} label="Note (narration shown with the step)" value={textOf(step.note)} onChange={(v) => set('note', v === '' ? undefined : v)} />
        </div>
      </fieldset>
    </li>
  );
}

function sameCtx(a: StepContext, b: StepContext): boolean {
  return a.buffer === b.buffer && a.domains.join('\u0000') === b.domains.join('\u0000') && a.domainIds.join(',') === b.domainIds.join(',') && a.sids.join(',') === b.sids.join(',');
}

/** Re-render a step only when its own props change (the pickers compared by content). */
export const StepForm = memo(StepFormImpl, (a, b) => {
  for (const k of Object.keys(a) as Array<keyof StepFormProps>) {
    if (k === 'ctx') {
      if (!sameCtx(a.ctx, b.ctx)) return false;
    } else if (a[k] !== b[k]) return false;
  }
  return true;
});

interface FieldProps {
  f: FieldSpec;
  i: number;
  step: RawStep;
  set(key: string, v: unknown): void;
  ctx: StepContext;
  devices: Array<{ sid: number; name?: string }>;
  uid: string;
}

function Field({ f, i, step, set, ctx, devices, uid }: FieldProps) {
  const path = stepPath(i, f.key);
  const v = step[f.key];
  switch (f.kind) {
    case 'hex':
      return <TextField path={path} label={f.label} kind="hex" value={v} onChange={(x) => set(f.key, x)} optional={f.optional} align={f.align} hint={f.hintAlign ? alignHint(v, f.hintAlign) : null} />;
    case 'int':
      return <TextField path={path} label={f.label} kind="int" value={v} onChange={(x) => set(f.key, x)} optional={f.optional} />;
    case 'text':
      return <TextField path={path} label={f.label} kind="text" value={v} onChange={(x) => set(f.key, x)} optional={f.optional} />;
    case 'offset':
      return <TextField path={path} label={f.label} kind="offset" value={v} onChange={(x) => set(f.key, x)} placeholder="GBPA or 0x44" />;
    case 'domain': {
      const list = `${uid}-domains`;
      const unknown = typeof v === 'string' && v !== '' && !ctx.domains.includes(v);
      return (
        <div>
          <TextField path={path} label={f.label} kind="text" value={v} onChange={(x) => set(f.key, x)} list={list} hint={unknown ? `No earlier step allocates “${v}”: the driver will answer ENOENT.` : null} help={ctx.domains.length ? `Allocated earlier: ${ctx.domains.join(', ')}` : 'No domain allocated before this step.'} />
          <datalist id={list}>
            {ctx.domains.map((d) => (
              <option key={d} value={d} />
            ))}
          </datalist>
        </div>
      );
    }
    case 'domainId': {
      const list = `${uid}-domain-ids`;
      return (
        <div>
          <TextField path={path} label={f.label} kind="int" value={v} onChange={(x) => set(f.key, x)} list={list} help={ctx.domainIds.length ? `Allocated earlier: ${ctx.domainIds.join(', ')}` : 'No domain allocated before this step.'} />
          <datalist id={list}>
            {ctx.domainIds.map((d) => (
              <option key={d} value={d} />
            ))}
          </datalist>
        </div>
      );
    }
    case 'sid': {
      const list = `${uid}-sids`;
      const undeclared = typeof v === 'number' && !devices.some((d) => d.sid === v);
      return (
        <div>
          <TextField
            path={path}
            label={f.label}
            kind="int"
            value={v}
            onChange={(x) => set(f.key, x)}
            list={list}
            hint={undeclared ? `SID ${v} is not a declared device.` : null}
            help={devices.length ? `Devices: ${devices.map((d) => `${d.sid}${d.name ? ` (${d.name})` : ''}`).join(', ')}` : 'No devices declared.'}
          />
          <datalist id={list}>
            {devices.map((d) => (
              <option key={d.sid} value={d.sid} label={d.name} />
            ))}
          </datalist>
        </div>
      );
    }
    case 'enum':
      return (
        <SelectField
          path={path}
          label={f.label}
          value={v}
          onChange={(x) => set(f.key, x)}
          emptyLabel={f.optional ? '(default)' : undefined}
          options={(f.options ?? []).map((o) => ({ value: o, label: typeof o === 'number' && o >= 4096 ? `${o / 1024} KiB` : String(o) }))}
        />
      );
    case 'bool': {
      const on = typeof v === 'boolean' ? v : (f.defaultValue ?? false);
      return <CheckField path={path} label={f.label} checked={on} onChange={(x) => set(f.key, x === (f.defaultValue ?? false) ? undefined : x)} className="self-end" />;
    }
    case 'prot':
      return <ProtField path={path} label={f.label} value={v} onChange={(x) => set(f.key, x)} />;
    case 'u64pair': {
      const pair = Array.isArray(v) ? v : ['0x0', '0x0'];
      const setWord = (j: number, x: unknown) => {
        const next = [pair[0], pair[1]];
        next[j] = x;
        set(f.key, next);
      };
      return (
        <fieldset className="col-span-full rounded border border-slate-300 p-2 dark:border-slate-600">
          <legend className="px-1 text-[0.8125rem] font-medium">{f.label}</legend>
          <div className="grid grid-cols-1 gap-2 sm:grid-cols-2">
            <TextField path={`${path}[0]`} label="Word 0 (opcode and fields)" kind="hex" value={pair[0]} onChange={(x) => setWord(0, x)} />
            <TextField path={`${path}[1]`} label="Word 1" kind="hex" value={pair[1]} onChange={(x) => setWord(1, x)} />
          </div>
          <FieldError path={path} />
        </fieldset>
      );
    }
    case 'sg': {
      const list = Array.isArray(v) ? (v as Array<Record<string, unknown>>) : [];
      const setEntry = (j: number, key: string, x: unknown) => set(f.key, list.map((e, k) => (k === j ? { ...e, [key]: x } : e)));
      return (
        <fieldset className="col-span-full rounded border border-slate-300 p-2 dark:border-slate-600">
          <legend className="px-1 text-[0.8125rem] font-medium">{f.label}</legend>
          <ol className="space-y-2">
            {list.map((e, j) => (
              <li key={j} className="grid grid-cols-1 items-end gap-2 sm:grid-cols-[1fr_1fr_8rem_auto]">
                <TextField path={`${path}[${j}].phys`} label={`Entry ${j + 1} physical address`} kind="hex" value={e.phys} onChange={(x) => setEntry(j, 'phys', x)} />
                <TextField path={`${path}[${j}].pgsize`} label={`Entry ${j + 1} page size`} kind="hex" value={e.pgsize} onChange={(x) => setEntry(j, 'pgsize', x)} />
                <TextField path={`${path}[${j}].pgcount`} label={`Entry ${j + 1} page count`} kind="int" value={e.pgcount} onChange={(x) => setEntry(j, 'pgcount', x)} />
                <button type="button" className={BTN_SMALL} onClick={() => set(f.key, list.filter((_, k) => k !== j))} aria-label={`Remove entry ${j + 1}`}>
                  Remove
                </button>
              </li>
            ))}
          </ol>
          <button type="button" className={`${BTN_SMALL} mt-2`} onClick={() => set(f.key, [...list, { phys: '0x0', pgsize: '0x1000', pgcount: 1 }])}>
            Add an entry
          </button>
          <FieldError path={path} />
        </fieldset>
      );
    }
  }
}

function ProtField({ path, label, value, onChange }: { path: string; label: string; value: unknown; onChange(v: unknown): void }) {
  const id = fieldId(path);
  if (typeof value === 'number' || (value !== undefined && !Array.isArray(value))) {
    return (
      <div className="col-span-full flex flex-wrap items-end gap-2">
        <TextField path={path} label={`${label} (raw IOMMU_* bit mask)`} kind="int" value={value} onChange={onChange} />
        <button type="button" className={BTN_SMALL} onClick={() => onChange(['read'])}>
          Use named permissions
        </button>
      </div>
    );
  }
  const names = (value ?? []) as unknown[];
  return (
    <fieldset className="col-span-full rounded border border-slate-300 p-2 dark:border-slate-600">
      <legend className="px-1 text-[0.8125rem] font-medium">{label}</legend>
      <div className="flex flex-wrap gap-x-4 gap-y-1">
        {PROT_NAMES.map((n) => (
          <div key={n} className="flex items-center gap-1">
            <input
              id={`${id}-${n}`}
              type="checkbox"
              checked={names.includes(n)}
              onChange={(e) => onChange(toggleProt(value, n, e.target.checked))}
              className="h-4 w-4 accent-sky-700 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600"
            />
            <label htmlFor={`${id}-${n}`} className="font-mono text-[0.8125rem]">
              {PROT_LABEL[n]}
            </label>
          </div>
        ))}
      </div>
      <FieldError path={path} />
    </fieldset>
  );
}
