import { useEffect } from 'react';
import { useAppStore } from '../state/store';
import { useExplorer } from '../state/explorer';

/** Theme and presentation mode live on <html> (one root size token scales the page); every page (explorer, builder) applies them. */
export function useRootAttributes(): void {
  const theme = useAppStore((s) => s.theme);
  const presentation = useExplorer((s) => s.presentation);
  useEffect(() => {
    const root = document.documentElement;
    if (theme === 'system') root.removeAttribute('data-theme');
    else root.setAttribute('data-theme', theme);
  }, [theme]);

  useEffect(() => {
    document.documentElement.toggleAttribute('data-presentation', presentation);
  }, [presentation]);
}
