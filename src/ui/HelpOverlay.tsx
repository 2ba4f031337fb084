import { useEffect, useRef } from 'react';
import { useExplorer } from '../state/explorer';

export const SHORTCUTS: Array<[string, string]> = [
  ['← / →', 'Previous / next step'],
  ['Home / End', 'First / last step'],
  ['G', 'Focus the "go to step" box'],
  ['1 … 6', 'Show a panel (walk, stream table, page tables, queues, hypervisor, costs)'],
  ['P', 'Presentation mode (large fonts) on / off'],
  ['?', 'This help'],
  ['Esc', 'Close this help'],
  ['↑ / ↓ in the stream table', 'Select the previous / next StreamID'],
  ['Arrows in the page-table tree', 'Move, expand (→) and collapse (←) nodes'],
  ['In a lesson', 'A step with a question waits for your answer: → and the other moves stop before it'],
];

/** The `?` overlay listing every shortcut. A modal dialog: focus moves in and is restored on close. */
export function HelpOverlay() {
  const open = useExplorer((s) => s.helpOpen);
  const setOpen = useExplorer((s) => s.setHelpOpen);
  const injectFault = useExplorer((s) => s.injectFault);
  const ref = useRef<HTMLDialogElement>(null);

  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);

  return (
    <dialog
      ref={ref}
      aria-labelledby="help-title"
      onClose={() => setOpen(false)}
      className="m-auto max-w-lg rounded-lg border border-slate-300 bg-white p-6 text-slate-900 shadow-xl backdrop:bg-black/50 dark:border-slate-600 dark:bg-slate-900 dark:text-slate-100"
    >
      <h2 id="help-title" className="mb-3 text-[1.125rem] font-semibold">
        Keyboard shortcuts
      </h2>
      <table className="w-full text-[0.9375rem]">
        <caption className="sr-only">Shortcuts</caption>
        <thead>
          <tr>
            <th scope="col" className="text-left">
              Key
            </th>
            <th scope="col" className="text-left">
              Action
            </th>
          </tr>
        </thead>
        <tbody>
          {SHORTCUTS.map(([k, a]) => (
            <tr key={k}>
              <td className="py-1 pr-4 font-mono whitespace-nowrap">{k}</td>
              <td className="py-1">{a}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="mt-4 text-[0.875rem] text-slate-700 dark:text-slate-300">
        The emulator runs in a Web Worker. To see how the page recovers when it fails, you can{' '}
        <button
          type="button"
          className="underline"
          onClick={() => {
            setOpen(false);
            injectFault('throw');
          }}
        >
          simulate an emulator crash
        </button>
        .
      </p>
      <div className="mt-4 text-right">
        <button
          type="button"
          autoFocus
          onClick={() => setOpen(false)}
          className="rounded border border-slate-400 px-3 py-1 hover:bg-slate-100 focus-visible:outline-2 focus-visible:outline-sky-600 dark:border-slate-500 dark:hover:bg-slate-800"
        >
          Close
        </button>
      </div>
    </dialog>
  );
}
