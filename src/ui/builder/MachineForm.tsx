/**
 * The machine: mode, RAM and MMIO ranges, devices, the SMMU's optional
 * features, the hypervisor's pool and (nested) vCMDQ.
 */
import { BTN_SMALL, CheckField, FIELDSET, FieldError, LEGEND, SelectField, TextField } from './fields';
import { MODES, MODE_LABEL, fieldId, toBig, type Mode, type RawMachine, type RawRange } from './model';

export interface MachineFormProps {
  mode: Mode;
  machine: RawMachine;
  onMode(mode: Mode): void;
  onChange(machine: RawMachine): void;
}

const GRANULES = [4096, 16384, 65536] as const;
const STAGES = ['s1', 's2'] as const;
const OAS = [32, 36, 40, 42, 44, 48, 52] as const;

function nextRange(list: RawRange[]): RawRange {
  let top = 0n;
  for (const r of list) {
    const b = toBig(r.base);
    const s = toBig(r.size);
    if (b !== null && s !== null && b + s > top) top = b + s;
  }
  const base = top === 0n ? 0x40000000n : (top + 0x3fffffffn) & ~0x3fffffffn;
  return { base: '0x' + base.toString(16), size: '0x10000000' };
}

function RangeList({ what, path, list, onChange, min }: { what: 'RAM' | 'MMIO'; path: string; list: RawRange[]; onChange(l: RawRange[] | undefined): void; min: number }) {
  return (
    <fieldset className={FIELDSET}>
      <legend className={LEGEND}>{what} ranges</legend>
      <p className="mb-2 text-[0.75rem] text-slate-700 dark:text-slate-300">
        {what === 'RAM' ? 'The host owns all of it at boot.' : 'Host-owned device memory (mappable with prot mmio).'} Base and size 4 KiB aligned; ranges must not overlap.
      </p>
      <ol className="space-y-2">
        {list.map((r, i) => (
          <li key={i} className="grid grid-cols-1 items-start gap-2 sm:grid-cols-[1fr_1fr_auto]">
            <TextField path={`${path}[${i}].base`} label={`${what} ${i + 1} base`} kind="hex" align={4096} value={r.base} onChange={(v) => onChange(list.map((x, j) => (j === i ? { ...x, base: v } : x)))} />
            <TextField path={`${path}[${i}].size`} label={`${what} ${i + 1} size`} kind="hex" align={4096} value={r.size} onChange={(v) => onChange(list.map((x, j) => (j === i ? { ...x, size: v } : x)))} />
            <button
              type="button"
              className={`${BTN_SMALL} sm:mt-5`}
              disabled={list.length <= min}
              onClick={() => {
                const next = list.filter((_, j) => j !== i);
                onChange(next.length === 0 && min === 0 ? undefined : next);
              }}
              aria-label={`Remove ${what} range ${i + 1}`}
            >
              Remove
            </button>
            <div className="sm:col-span-3">
              <FieldError path={`${path}[${i}]`} />
            </div>
          </li>
        ))}
      </ol>
      <FieldError path={path} />
      <button type="button" className={`${BTN_SMALL} mt-2`} onClick={() => onChange([...list, nextRange(list)])}>
        Add a{what === 'RAM' ? '' : 'n'} {what} range
      </button>
    </fieldset>
  );
}

export function MachineForm({ mode, machine, onMode, onChange }: MachineFormProps) {
  const set = (key: string, v: unknown) => {
    const next: RawMachine = { ...machine };
    if (v === undefined) delete next[key];
    else next[key] = v;
    onChange(next);
  };
  const features = machine.features ?? {};
  const setFeature = (key: string, v: unknown) => {
    const next = { ...features };
    if (v === undefined) delete next[key];
    else next[key] = v;
    set('features', Object.keys(next).length === 0 ? undefined : next);
  };
  const devices = machine.devices ?? [];
  const granules = Array.isArray(features.granules) ? (features.granules as unknown[]) : [...GRANULES];
  const stages = Array.isArray(features.stages) ? (features.stages as unknown[]) : [...STAGES];
  const toggleList = (key: 'granules' | 'stages', all: readonly (string | number)[], cur: unknown[], item: string | number, on: boolean) => {
    const next = all.filter((x) => (x === item ? on : cur.includes(x)));
    setFeature(key, next.length === all.length ? undefined : next);
  };
  const nextSid = devices.reduce((m, d) => (typeof d.sid === 'number' && d.sid >= m ? d.sid + 1 : m), 1);

  return (
    <section aria-labelledby="builder-machine" className="space-y-3">
      <h2 id="builder-machine" className="text-[1.0625rem] font-semibold">
        Machine
      </h2>
      <fieldset className={FIELDSET}>
        <legend className={LEGEND}>Mode</legend>
        <div className="space-y-1">
          {MODES.map((m) => (
            <div key={m} className="flex items-start gap-2">
              <input id={`${fieldId('mode')}-${m}`} type="radio" name="builder-mode" value={m} checked={mode === m} onChange={() => onMode(m)} className="mt-1 h-4 w-4 accent-sky-700" />
              <label htmlFor={`${fieldId('mode')}-${m}`} className="text-[0.875rem]">
                {MODE_LABEL[m]}
              </label>
            </div>
          ))}
        </div>
        <FieldError path="mode" />
      </fieldset>

      <RangeList what="RAM" path="machine.ram" list={machine.ram ?? []} onChange={(l) => set('ram', l ?? [])} min={1} />

      <fieldset className={FIELDSET}>
        <legend className={LEGEND}>Devices</legend>
        <p className="mb-2 text-[0.75rem] text-slate-700 dark:text-slate-300">Each device issues DMA with its StreamID.{mode === 'identity' ? ' In identity mode these SIDs are attached to the identity stage 2 at boot.' : ''}</p>
        <ol className="space-y-2">
          {devices.map((d, i) => (
            <li key={i} className="grid grid-cols-1 items-start gap-2 sm:grid-cols-[8rem_1fr_auto]">
              <TextField path={`machine.devices[${i}].sid`} label={`Device ${i + 1} SID`} kind="int" value={d.sid} onChange={(v) => set('devices', devices.map((x, j) => (j === i ? { ...x, sid: v } : x)))} />
              <TextField
                path={`machine.devices[${i}].name`}
                label={`Device ${i + 1} name`}
                kind="text"
                optional
                value={d.name}
                onChange={(v) =>
                  set(
                    'devices',
                    devices.map((x, j) => {
                      if (j !== i) return x;
                      const y = { ...x };
                      if (v === undefined) delete y.name;
                      else y.name = v as string;
                      return y;
                    }),
                  )
                }
              />
              <button type="button" className={`${BTN_SMALL} sm:mt-5`} onClick={() => set('devices', devices.length === 1 ? undefined : devices.filter((_, j) => j !== i))} aria-label={`Remove device ${i + 1}`}>
                Remove
              </button>
              <div className="sm:col-span-3">
                <FieldError path={`machine.devices[${i}]`} />
              </div>
            </li>
          ))}
        </ol>
        <FieldError path="machine.devices" />
        <button type="button" className={`${BTN_SMALL} mt-2`} onClick={() => set('devices', [...devices, { sid: nextSid, name: `dev${nextSid}` }])}>
          Add a device
        </button>
      </fieldset>

      <details className="rounded-md border border-slate-400 p-3 dark:border-slate-600" open={machine.features !== undefined || machine.mmio !== undefined || machine.pool !== undefined || machine.vcmdq !== undefined}>
        <summary className="cursor-pointer text-[0.9375rem] font-semibold focus-visible:outline-2 focus-visible:outline-sky-600">More: SMMU features, MMIO, pool{mode === 'nested' ? ', vCMDQ' : ''}</summary>
        <div className="mt-3 space-y-3">
          <fieldset className={FIELDSET}>
            <legend className={LEGEND}>SMMU features</legend>
            <p className="mb-2 text-[0.75rem] text-slate-700 dark:text-slate-300">Left alone, the SMMU implements everything the model does.</p>
            <div className="grid grid-cols-1 gap-3 sm:grid-cols-2">
              <fieldset>
                <legend className="text-[0.8125rem] font-medium">Granules</legend>
                <div className="flex flex-wrap gap-3">
                  {GRANULES.map((g) => (
                    <CheckField key={g} path={`machine.features.granules.${g}`} label={`${g / 1024} KiB`} checked={granules.includes(g)} onChange={(on) => toggleList('granules', GRANULES, granules, g, on)} />
                  ))}
                </div>
                <FieldError path="machine.features.granules" />
              </fieldset>
              <fieldset>
                <legend className="text-[0.8125rem] font-medium">Translation stages</legend>
                <div className="flex flex-wrap gap-3">
                  {STAGES.map((s) => (
                    <CheckField key={s} path={`machine.features.stages.${s}`} label={s === 's1' ? 'Stage 1' : 'Stage 2'} checked={stages.includes(s)} onChange={(on) => toggleList('stages', STAGES, stages, s, on)} />
                  ))}
                </div>
                <FieldError path="machine.features.stages" />
              </fieldset>
              <SelectField
                path="machine.features.oas"
                label="Output address size (OAS)"
                value={features.oas}
                emptyLabel="48 bits (default)"
                options={OAS.map((o) => ({ value: o, label: `${o} bits` }))}
                onChange={(v) => setFeature('oas', v)}
              />
              <TextField path="machine.features.sidsize" label="StreamID bits (sidsize, 0–32)" kind="int" optional value={features.sidsize} onChange={(v) => setFeature('sidsize', v)} check={(v) => (typeof v === 'number' && (v < 0 || v > 32) ? 'Must be from 0 to 32.' : null)} />
              <SelectField
                path="machine.features.st_level2"
                label="Two-level stream table (st_level2)"
                value={features.st_level2 === undefined ? undefined : String(features.st_level2)}
                emptyLabel="supported (default)"
                options={[
                  { value: 'true', label: 'supported' },
                  { value: 'false', label: 'not supported (linear only)' },
                ]}
                onChange={(v) => setFeature('st_level2', v === undefined ? undefined : v === 'true')}
              />
            </div>
            <FieldError path="machine.features" />
          </fieldset>

          {machine.mmio !== undefined ? (
            <RangeList what="MMIO" path="machine.mmio" list={machine.mmio} onChange={(l) => set('mmio', l)} min={0} />
          ) : (
            <button type="button" className={BTN_SMALL} onClick={() => set('mmio', [{ base: '0x10000000', size: '0x100000' }])}>
              Add MMIO ranges
            </button>
          )}

          {mode !== 'bare' && (
            <fieldset className={FIELDSET}>
              <legend className={LEGEND}>The hypervisor’s page pool</legend>
              <CheckField path="machine.pool" label="Place the pool myself (default: the top 16 MiB of the highest RAM range)" checked={machine.pool !== undefined} onChange={(on) => set('pool', on ? { base: '0x7f000000', pages: 64 } : undefined)} />
              {machine.pool && (
                <div className="mt-2 grid grid-cols-1 gap-2 sm:grid-cols-2">
                  <TextField path="machine.pool.base" label="Pool base" kind="hex" align={4096} value={machine.pool.base} onChange={(v) => set('pool', { ...machine.pool, base: v })} />
                  <TextField path="machine.pool.pages" label="Pool pages" kind="int" value={machine.pool.pages} onChange={(v) => set('pool', { ...machine.pool, pages: v })} check={(v) => (typeof v === 'number' && v < 1 ? 'At least 1 page.' : null)} />
                </div>
              )}
            </fieldset>
          )}

          {mode === 'nested' && (
            <CheckField path="machine.vcmdq" label="The SMMU has a vCMDQ (host TLBI-only batches reach the hardware without a trap)" checked={machine.vcmdq === true} onChange={(on) => set('vcmdq', on ? true : undefined)} />
          )}
        </div>
      </details>
    </section>
  );
}
