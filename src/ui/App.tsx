import { useEffect } from 'react';
import { useAppStore, type Theme } from '../state/store';

const THEME_LABEL: Record<Theme, string> = {
  system: 'Theme: system',
  light: 'Theme: light',
  dark: 'Theme: dark',
};

export function App() {
  const theme = useAppStore((s) => s.theme);
  const cycleTheme = useAppStore((s) => s.cycleTheme);

  useEffect(() => {
    const root = document.documentElement;
    if (theme === 'system') root.removeAttribute('data-theme');
    else root.setAttribute('data-theme', theme);
  }, [theme]);

  return (
    <div className="flex min-h-screen flex-col">
      <header className="border-b border-slate-200 bg-slate-50 dark:border-slate-800 dark:bg-slate-900">
        <div className="mx-auto flex max-w-6xl items-center justify-between gap-4 px-4 py-3">
          <h1 className="text-lg font-semibold tracking-tight">SMMUv3 / pKVM explorer</h1>
          <button
            type="button"
            onClick={cycleTheme}
            aria-label={`${THEME_LABEL[theme]} (click to change)`}
            className="rounded-md border border-slate-300 px-3 py-1.5 text-sm hover:bg-slate-100 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-500 dark:border-slate-700 dark:hover:bg-slate-800"
          >
            {THEME_LABEL[theme]}
          </button>
        </div>
      </header>
      <main id="main" className="mx-auto w-full max-w-6xl flex-1 px-4 py-8">
        <section aria-labelledby="intro-heading" className="max-w-prose space-y-3">
          <h2 id="intro-heading" className="text-base font-medium">
            Welcome
          </h2>
          <p className="text-slate-600 dark:text-slate-300">
            An interactive model of Arm SMMUv3 translation (stream tables, context
            descriptors, stage-1/stage-2 page tables) under pKVM. The exploration
            panels are coming soon.
          </p>
        </section>
      </main>
      <footer className="border-t border-slate-200 px-4 py-3 text-center text-xs text-slate-500 dark:border-slate-800 dark:text-slate-400">
        smmu-explorer
      </footer>
    </div>
  );
}
