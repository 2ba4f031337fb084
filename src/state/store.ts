import { createStore } from 'zustand/vanilla';
import { useStore } from 'zustand';

export type Theme = 'light' | 'dark' | 'system';

export interface AppState {
  theme: Theme;
  setTheme: (theme: Theme) => void;
  cycleTheme: () => void;
}

const THEME_ORDER: readonly Theme[] = ['system', 'light', 'dark'];

/** Framework-agnostic store: usable from plain TS (tests, workers glue) and React. */
export const appStore = createStore<AppState>()((set, get) => ({
  theme: 'system',
  setTheme: (theme) => set({ theme }),
  cycleTheme: () => {
    const i = THEME_ORDER.indexOf(get().theme);
    set({ theme: THEME_ORDER[(i + 1) % THEME_ORDER.length] });
  },
}));

/** React hook wrapper around the vanilla store. */
export function useAppStore<T>(selector: (state: AppState) => T): T {
  return useStore(appStore, selector);
}
