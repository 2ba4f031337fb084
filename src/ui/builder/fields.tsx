/**
 * The builder's inputs: every input has a label, an id derived from the
 * document path it edits (so a validation error at that path lands on it),
 * aria-invalid and a described-by message when the value is wrong.
 */
import { createContext, useContext, useState, type ReactNode } from 'react';
import { fieldId, hexProblem, hexValue, intProblem, intValue, textOf, type Issue } from './model';

/** Validation issues by the field path they belong to. */
export const IssuesContext = createContext<ReadonlyMap<string, Issue[]>>(new Map());

export function useIssues(path: string): string | null {
  const m = useContext(IssuesContext);
  const list = m.get(path);
  return list && list.length > 0 ? list.map((i) => i.message).join(' ') : null;
}

export const INPUT =
  'w-full min-w-0 rounded border border-slate-500 bg-white px-2 py-1 text-[0.875rem] text-slate-900 aria-[invalid=true]:border-red-700 aria-[invalid=true]:ring-1 aria-[invalid=true]:ring-red-700 focus-visible:outline-2 focus-visible:outline-offset-1 focus-visible:outline-sky-600 dark:border-slate-400 dark:bg-slate-950 dark:text-slate-100 dark:aria-[invalid=true]:border-red-300 dark:aria-[invalid=true]:ring-red-300';
export const BTN =
  'rounded-md border border-slate-500 bg-white px-3 py-1.5 text-[0.875rem] text-slate-900 hover:bg-slate-100 disabled:cursor-not-allowed disabled:opacity-50 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600 dark:border-slate-400 dark:bg-slate-900 dark:text-slate-100 dark:hover:bg-slate-800';
export const BTN_SMALL =
  'rounded border border-slate-500 bg-white px-2 py-0.5 text-[0.8125rem] text-slate-900 hover:bg-slate-100 disabled:cursor-not-allowed disabled:opacity-50 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600 dark:border-slate-400 dark:bg-slate-900 dark:text-slate-100 dark:hover:bg-slate-800';
export const BTN_PRIMARY =
  'rounded-md border border-sky-800 bg-sky-800 px-3 py-1.5 text-[0.875rem] font-semibold text-white hover:bg-sky-900 disabled:cursor-not-allowed disabled:opacity-50 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600 dark:border-sky-300 dark:bg-sky-300 dark:text-slate-950 dark:hover:bg-sky-200';
export const LEGEND = 'px-1 text-[0.9375rem] font-semibold';
export const FIELDSET = 'rounded-md border border-slate-400 p-3 dark:border-slate-600';
const ERR = 'mt-0.5 text-[0.8125rem] text-red-700 dark:text-red-300';
const HINT = 'mt-0.5 text-[0.8125rem] text-amber-800 dark:text-amber-300';
const HELP = 'mt-0.5 text-[0.75rem] text-slate-700 dark:text-slate-300';

/** An error message for a path (schema issues routed to it), shown as text. */
export function FieldError({ path, local }: { path: string; local?: string | null }) {
  const schema = useIssues(path);
  const msg = local ?? schema;
  if (!msg) return null;
  return (
    <p id={`${fieldId(path)}-err`} className={ERR} data-testid="field-error">
      {msg}
    </p>
  );
}

type Kind = 'hex' | 'int' | 'text' | 'offset';

function convert(kind: Kind, text: string, optional: boolean): unknown {
  if (optional && text.trim() === '') return undefined;
  switch (kind) {
    case 'hex':
      return hexValue(text);
    case 'int':
      return intValue(text);
    case 'offset': {
      const t = text.trim();
      return /^\d+$/.test(t) && Number.isSafeInteger(Number(t)) ? Number(t) : t;
    }
    case 'text':
      return text;
  }
}

export interface TextFieldProps {
  path: string;
  label: ReactNode;
  kind: Kind;
  value: unknown;
  onChange(v: unknown): void;
  optional?: boolean;
  /** hex: the alignment the format requires. */
  align?: number;
  /** A non-blocking warning. */
  hint?: string | null;
  help?: string;
  /** A <datalist> id with suggestions. */
  list?: string;
  placeholder?: string;
  className?: string;
  /** Extra validity (e.g. ranges); shown before the schema's message. */
  check?: (v: unknown) => string | null;
}

/** A text input for a hex, integer, register-offset or free-text value. */
export function TextField({ path, label, kind, value, onChange, optional = false, align, hint, help, list, placeholder, className = '', check }: TextFieldProps) {
  const id = fieldId(path);
  const shown = textOf(value);
  const [local, setLocal] = useState(shown);
  // The document changed from elsewhere (undo, load, reorder): show its value.
  if (local !== shown && !same(convert(kind, local, optional), value)) setLocal(shown);
  const localProblem =
    (kind === 'hex' ? hexProblem(value, { optional, align }) : kind === 'int' ? intProblem(value, { optional }) : null) ?? check?.(value) ?? null;
  const schema = useIssues(path);
  const err = localProblem ?? schema;
  const describedBy = [err ? `${id}-err` : null, !err && hint ? `${id}-hint` : null, help ? `${id}-help` : null].filter(Boolean).join(' ') || undefined;
  return (
    <div className={className}>
      <label htmlFor={id} className="block text-[0.8125rem] font-medium">
        {label}
        {optional && <span className="font-normal text-slate-700 dark:text-slate-300"> (optional)</span>}
      </label>
      <input
        id={id}
        type="text"
        value={local}
        onChange={(e) => {
          setLocal(e.target.value);
          onChange(convert(kind, e.target.value, optional));
        }}
        aria-invalid={err ? true : undefined}
        aria-describedby={describedBy}
        list={list}
        placeholder={placeholder ?? (kind === 'hex' ? '0x…' : undefined)}
        inputMode={kind === 'int' ? 'numeric' : undefined}
        spellCheck={false}
        autoComplete="off"
        className={`${INPUT} ${kind === 'text' ? '' : 'font-mono'}`}
      />
      {err && (
        <p id={`${id}-err`} className={ERR} data-testid="field-error">
          {err}
        </p>
      )}
      {!err && hint && (
        <p id={`${id}-hint`} className={HINT}>
          {hint}
        </p>
      )}
      {help && (
        <p id={`${id}-help`} className={HELP}>
          {help}
        </p>
      )}
    </div>
  );
}

function same(a: unknown, b: unknown): boolean {
  return Object.is(a, b) || (a === undefined && b === '') || (a === '' && b === undefined);
}

export interface SelectFieldProps {
  path: string;
  label: ReactNode;
  value: unknown;
  options: ReadonlyArray<{ value: string | number; label: string }>;
  onChange(v: unknown): void;
  /** An empty choice meaning "omit the field" with this label. */
  emptyLabel?: string;
  className?: string;
}

export function SelectField({ path, label, value, options, onChange, emptyLabel, className = '' }: SelectFieldProps) {
  const id = fieldId(path);
  const err = useIssues(path);
  const known = options.some((o) => o.value === value);
  const all = !known && value !== undefined && value !== '' ? [...options, { value: value as string | number, label: `${textOf(value)} (not a valid choice)` }] : options;
  return (
    <div className={className}>
      <label htmlFor={id} className="block text-[0.8125rem] font-medium">
        {label}
      </label>
      <select
        id={id}
        value={value === undefined ? '' : String(value)}
        onChange={(e) => {
          const o = all.find((x) => String(x.value) === e.target.value);
          onChange(o ? o.value : undefined);
        }}
        aria-invalid={err ? true : undefined}
        aria-describedby={err ? `${id}-err` : undefined}
        className={INPUT}
      >
        {emptyLabel !== undefined && <option value="">{emptyLabel}</option>}
        {all.map((o) => (
          <option key={String(o.value)} value={String(o.value)}>
            {o.label}
          </option>
        ))}
      </select>
      {err && (
        <p id={`${id}-err`} className={ERR} data-testid="field-error">
          {err}
        </p>
      )}
    </div>
  );
}

export function CheckField({ path, label, checked, onChange, className = '' }: { path: string; label: ReactNode; checked: boolean; onChange(v: boolean): void; className?: string }) {
  const id = fieldId(path);
  const err = useIssues(path);
  return (
    <div className={className}>
      <div className="flex items-center gap-2">
        <input
          id={id}
          type="checkbox"
          checked={checked}
          onChange={(e) => onChange(e.target.checked)}
          aria-invalid={err ? true : undefined}
          aria-describedby={err ? `${id}-err` : undefined}
          className="h-4 w-4 accent-sky-700 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600"
        />
        <label htmlFor={id} className="text-[0.875rem]">
          {label}
        </label>
      </div>
      {err && (
        <p id={`${id}-err`} className={ERR} data-testid="field-error">
          {err}
        </p>
      )}
    </div>
  );
}

export function TextArea({ path, label, value, onChange, rows = 2, help }: { path: string; label: ReactNode; value: string; onChange(v: string): void; rows?: number; help?: string }) {
  const id = fieldId(path);
  const err = useIssues(path);
  return (
    <div>
      <label htmlFor={id} className="block text-[0.8125rem] font-medium">
        {label}
      </label>
      <textarea
        id={id}
        rows={rows}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={err ? true : undefined}
        aria-describedby={[err ? `${id}-err` : null, help ? `${id}-help` : null].filter(Boolean).join(' ') || undefined}
        className={INPUT}
      />
      {err && (
        <p id={`${id}-err`} className={ERR} data-testid="field-error">
          {err}
        </p>
      )}
      {help && (
        <p id={`${id}-help`} className={HELP}>
          {help}
        </p>
      )}
    </div>
  );
}
