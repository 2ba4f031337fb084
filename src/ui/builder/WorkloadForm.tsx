/**
 * The workload helper: appends a ring of buffers — N × (map, DMA, unmap) in
 * the mode's own terms — capped at MAX_WORKLOAD_STEPS generated steps.
 */
import { useId, useState, type FormEvent } from 'react';
import { BTN, FIELDSET, INPUT, LEGEND } from './fields';
import { MAX_WORKLOAD_STEPS, bufferBase, deviceSids, domainIdsBefore, domainsBefore, hex, hexProblem, toBig, workloadSteps, type Draft, type RawStep, type WorkloadOptions } from './model';

interface Form {
  count: string;
  size: string;
  iova: string;
  pa: string;
  sid: string;
  domain: string;
  access: 'read' | 'write';
  unmap: boolean;
  setup: boolean;
}

function parse(f: Form): { opts: WorkloadOptions } | { error: string; field: keyof Form } {
  const count = Number(f.count.trim());
  if (!/^\d+$/.test(f.count.trim()) || count < 1) return { error: 'Enter a whole number of buffers, at least 1.', field: 'count' };
  for (const [k, label] of [
    ['size', 'Buffer size'],
    ['iova', 'IOVA base'],
    ['pa', 'Physical base'],
  ] as const) {
    const p = hexProblem(f[k], { align: 4096 });
    if (p) return { error: `${label}: ${p}`, field: k };
  }
  if (!/^\d+$/.test(f.sid.trim())) return { error: 'Enter the device’s StreamID (a whole number).', field: 'sid' };
  return {
    opts: {
      count,
      bufferSize: toBig(f.size) ?? 0n,
      iovaBase: toBig(f.iova) ?? 0n,
      paBase: toBig(f.pa) ?? 0n,
      sid: Number(f.sid),
      domain: f.domain.trim(),
      access: f.access,
      unmap: f.unmap,
      setup: f.setup,
    },
  };
}

export function WorkloadForm({ draft, onAppend }: { draft: Draft; onAppend(steps: RawStep[]): void }) {
  const id = useId();
  const mode = draft.mode;
  const host = mode === 'bare' || mode === 'nested';
  const [form, setForm] = useState<Form>(() => ({
    count: '8',
    size: '0x1000',
    iova: '0x100000',
    pa: hex(bufferBase(draft.machine)),
    sid: String(deviceSids(draft.machine)[0]?.sid ?? 1),
    domain: host ? (domainsBefore(draft.steps).at(-1) ?? 'ring') : String(domainIdsBefore(draft.steps).at(-1) ?? 1),
    access: 'write',
    unmap: true,
    setup: true,
  }));
  const [message, setMessage] = useState<{ error: boolean; text: string; field?: keyof Form } | null>(null);
  const set = <K extends keyof Form>(k: K, v: Form[K]) => {
    setForm((f) => ({ ...f, [k]: v }));
    setMessage(null);
  };
  // The domain field's meaning follows the mode.
  const [lastMode, setLastMode] = useState(mode);
  if (lastMode !== mode) {
    setLastMode(mode);
    setForm((f) => ({ ...f, domain: host ? (domainsBefore(draft.steps).at(-1) ?? 'ring') : String(domainIdsBefore(draft.steps).at(-1) ?? 1) }));
  }

  const parsed = parse(form);
  const preview = 'opts' in parsed ? workloadSteps(parsed.opts, mode, draft.steps) : parsed;
  const room = 5000 - draft.steps.length;

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    if ('error' in preview) {
      setMessage({ error: true, text: preview.error, field: 'field' in preview ? (preview.field as keyof Form) : undefined });
      return;
    }
    if (preview.steps.length > room) {
      setMessage({ error: true, text: `A scenario holds at most 5000 steps: there is room for ${room} more.` });
      return;
    }
    onAppend(preview.steps);
    setMessage({ error: false, text: `Added ${preview.steps.length} steps.` });
  };

  const fid = (k: keyof Form) => `${id}-${k}`;
  const invalid = (k: keyof Form) => (message?.error && message.field === k ? true : undefined);
  const label = 'block text-[0.8125rem] font-medium';
  const what = mode === 'identity' ? 'a DMA per buffer (identity: IOVA = physical address)' : host ? 'host map, DMA, host unmap per buffer' : 'hvc map_pages, DMA, hvc unmap_pages per buffer';

  return (
    <form onSubmit={onSubmit} noValidate aria-labelledby={`${id}-legend`}>
      <fieldset className={FIELDSET}>
        <legend id={`${id}-legend`} className={LEGEND}>
          Add a workload
        </legend>
        <p className="mb-2 text-[0.75rem] text-slate-700 dark:text-slate-300">
          A ring of buffers: {what}. At most {MAX_WORKLOAD_STEPS} steps at a time.
        </p>
        <div className="grid grid-cols-1 gap-2 sm:grid-cols-2 xl:grid-cols-4">
          <div>
            <label htmlFor={fid('count')} className={label}>
              Buffers
            </label>
            <input id={fid('count')} inputMode="numeric" className={`${INPUT} font-mono`} value={form.count} onChange={(e) => set('count', e.target.value)} aria-invalid={invalid('count')} />
          </div>
          <div>
            <label htmlFor={fid('size')} className={label}>
              Buffer size
            </label>
            <input id={fid('size')} className={`${INPUT} font-mono`} value={form.size} onChange={(e) => set('size', e.target.value)} aria-invalid={invalid('size')} />
          </div>
          {mode !== 'identity' && (
            <div>
              <label htmlFor={fid('iova')} className={label}>
                IOVA base
              </label>
              <input id={fid('iova')} className={`${INPUT} font-mono`} value={form.iova} onChange={(e) => set('iova', e.target.value)} aria-invalid={invalid('iova')} />
            </div>
          )}
          <div>
            <label htmlFor={fid('pa')} className={label}>
              Physical base
            </label>
            <input id={fid('pa')} className={`${INPUT} font-mono`} value={form.pa} onChange={(e) => set('pa', e.target.value)} aria-invalid={invalid('pa')} />
          </div>
          <div>
            <label htmlFor={fid('sid')} className={label}>
              Device SID
            </label>
            <input id={fid('sid')} inputMode="numeric" className={`${INPUT} font-mono`} value={form.sid} onChange={(e) => set('sid', e.target.value)} aria-invalid={invalid('sid')} />
          </div>
          {mode !== 'identity' && (
            <div>
              <label htmlFor={fid('domain')} className={label}>
                {host ? 'Host domain name' : 'Domain id'}
              </label>
              <input id={fid('domain')} className={`${INPUT} font-mono`} value={form.domain} onChange={(e) => set('domain', e.target.value)} />
            </div>
          )}
          <div>
            <label htmlFor={fid('access')} className={label}>
              Device access
            </label>
            <select id={fid('access')} className={INPUT} value={form.access} onChange={(e) => set('access', e.target.value as 'read' | 'write')}>
              <option value="write">write (device writes the buffer)</option>
              <option value="read">read</option>
            </select>
          </div>
          {mode !== 'identity' && (
            <div className="flex flex-col justify-end gap-1 text-[0.875rem]">
              <div className="flex items-center gap-2">
                <input id={fid('unmap')} type="checkbox" className="h-4 w-4 accent-sky-700" checked={form.unmap} onChange={(e) => set('unmap', e.target.checked)} />
                <label htmlFor={fid('unmap')}>Unmap after each DMA</label>
              </div>
              <div className="flex items-center gap-2">
                <input id={fid('setup')} type="checkbox" className="h-4 w-4 accent-sky-700" checked={form.setup} onChange={(e) => set('setup', e.target.checked)} />
                <label htmlFor={fid('setup')}>Add the setup steps it needs</label>
              </div>
            </div>
          )}
        </div>
        <div className="mt-2 flex flex-wrap items-center gap-3">
          <button type="submit" className={BTN}>
            Add {'steps' in preview ? `${preview.steps.length} ` : ''}workload steps
          </button>
          {message ? (
            <p role={message.error ? 'alert' : 'status'} className={`text-[0.8125rem] ${message.error ? 'text-red-700 dark:text-red-300' : 'text-slate-800 dark:text-slate-200'}`}>
              {message.text}
            </p>
          ) : (
            'error' in preview && <p className="text-[0.8125rem] text-amber-800 dark:text-amber-300">{preview.error}</p>
          )}
        </div>
      </fieldset>
    </form>
  );
}
