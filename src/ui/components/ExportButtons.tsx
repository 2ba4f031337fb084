import { useState, type RefObject } from 'react';
import { exportAny } from '../export';

export interface ExportButtonsProps {
  /** The diagram to export: an <svg> (exported as is) or an HTML element (wrapped in <foreignObject>). */
  target: RefObject<Element | null>;
  /** File name stem and accessible name part, e.g. `stream-table`. */
  name: string;
  /** Human label for the accessible names (defaults to `name` with dashes as spaces). */
  label?: string;
  className?: string;
}

const BTN =
  'rounded border border-slate-300 bg-white px-2 py-0.5 text-xs text-slate-800 hover:bg-slate-100 ' +
  'focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600 disabled:opacity-60 ' +
  'motion-safe:transition-colors motion-reduce:transition-none ' +
  'dark:border-slate-600 dark:bg-slate-900 dark:text-slate-100 dark:hover:bg-slate-800';

/** "Export SVG" / "Export PNG" buttons for a panel's main diagram. */
export function ExportButtons({ target, name, label, className = '' }: ExportButtonsProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const human = label ?? name.replace(/[-_]+/g, ' ');

  async function run(format: 'svg' | 'png') {
    const el = target.current;
    if (!el) {
      setError('Nothing to export yet.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await exportAny(el, name, format);
    } catch (e) {
      setError(`Export failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className={`flex flex-wrap items-center gap-2 ${className}`}>
      <button type="button" className={BTN} disabled={busy} aria-label={`Export SVG of ${human}`} onClick={() => void run('svg')}>
        Export SVG
      </button>
      <button type="button" className={BTN} disabled={busy} aria-label={`Export PNG of ${human}`} onClick={() => void run('png')}>
        Export PNG
      </button>
      {error && (
        <span role="alert" className="text-xs text-red-700 dark:text-red-300">
          {error}
        </span>
      )}
    </div>
  );
}
