import { useEffect } from 'react';
import { PANELS, explorerStore } from '../state/explorer';

/** True when the key belongs to the element that has focus (typing, a slider, a select, a tree or grid with its own arrows). */
function ownsKeys(t: EventTarget | null): boolean {
  if (!(t instanceof HTMLElement)) return false;
  if (t.isContentEditable) return true;
  const tag = t.tagName;
  if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT') return true;
  return t.closest('[role="tree"], [role="grid"], [role="tablist"], [role="listbox"], [role="slider"], [data-own-keys]') !== null;
}

/**
 * Global shortcuts: ← / → step (preventDefault, so the page does not
 * scroll), Home / End, G (go to step), 1–6 (panels), P (presentation), ?
 * (help). Letters and digits match on `event.code` (layout-independent
 * position), `?` on `event.key` (it is a character, wherever it lives).
 */
export function useGlobalKeys(): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
      const s = explorerStore.getState();
      if (e.key === 'Escape' && s.helpOpen) {
        s.setHelpOpen(false);
        return;
      }
      if (ownsKeys(e.target)) return;
      if (e.key === '?') {
        e.preventDefault();
        s.setHelpOpen(!s.helpOpen);
        return;
      }
      if (s.helpOpen) return;
      switch (e.code) {
        case 'ArrowLeft':
          e.preventDefault();
          s.prev();
          return;
        case 'ArrowRight':
          e.preventDefault();
          s.next();
          return;
        case 'Home':
          e.preventDefault();
          s.first();
          return;
        case 'End':
          e.preventDefault();
          s.last();
          return;
        case 'KeyG': {
          e.preventDefault();
          const box = document.querySelector<HTMLInputElement>('[data-goto-step]');
          box?.focus();
          box?.select();
          return;
        }
        case 'KeyP':
          if (e.shiftKey) return;
          e.preventDefault();
          s.setPresentation(!s.presentation);
          return;
      }
      const digit = /^Digit([1-9])$/.exec(e.code);
      if (digit && !e.shiftKey) {
        const p = PANELS[Number(digit[1]) - 1];
        if (p) {
          e.preventDefault();
          s.setPanel(p);
        }
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
}
