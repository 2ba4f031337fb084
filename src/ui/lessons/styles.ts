/** Class names shared by the lesson views and the embed (the same look as the app's header buttons). */
export const btn =
  'rounded-md border border-slate-400 px-3 py-1.5 text-[0.875rem] hover:bg-slate-100 disabled:cursor-not-allowed disabled:opacity-60 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600 dark:border-slate-500 dark:hover:bg-slate-800';

export const primaryBtn =
  'rounded-md border border-sky-800 bg-sky-800 px-3 py-1.5 text-[0.875rem] font-semibold text-white hover:bg-sky-900 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600 dark:border-sky-300 dark:bg-sky-300 dark:text-slate-950 dark:hover:bg-sky-200';

export const link =
  'text-sky-800 underline underline-offset-2 hover:text-sky-950 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600 dark:text-sky-300 dark:hover:text-sky-100';
