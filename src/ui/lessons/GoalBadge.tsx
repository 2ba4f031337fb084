import type { GoalState } from '../../state/lesson';

const STATE: Record<GoalState, { mark: string; text: string; cls: string }> = {
  met: { mark: '✓', text: 'met', cls: 'border-green-700 text-green-800 dark:border-green-400 dark:text-green-300' },
  unmet: { mark: '✗', text: 'not met', cls: 'border-red-700 text-red-800 dark:border-red-400 dark:text-red-300' },
  pending: { mark: '…', text: 'checking', cls: 'border-slate-400 text-slate-700 dark:border-slate-500 dark:text-slate-300' },
};

/** The goal of a lesson step, checked against the recording: ✓ met / ✗ not met. */
export function GoalBadge({ text, state }: { text: string; state: GoalState }) {
  const s = STATE[state];
  return (
    <p data-testid="lesson-goal" data-state={state} className="mt-2 flex flex-wrap items-baseline gap-2 text-[0.9375rem]">
      <span className="font-semibold">Goal:</span>
      <span>{text}</span>
      <span className={`rounded border px-1.5 text-[0.875rem] font-semibold ${s.cls}`}>
        <span aria-hidden="true">{s.mark} </span>
        {s.text}
      </span>
    </p>
  );
}
