import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { appStore, type Theme } from './store';

describe('appStore theme', () => {
  it('cycles system -> light -> dark -> system', () => {
    appStore.getState().setTheme('system');
    const seen: Theme[] = [];
    for (let i = 0; i < 4; i++) {
      seen.push(appStore.getState().theme);
      appStore.getState().cycleTheme();
    }
    expect(seen).toEqual(['system', 'light', 'dark', 'system']);
  });

  it('cycling three times from any theme is the identity (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom<Theme>('light', 'dark', 'system'), (t) => {
        appStore.getState().setTheme(t);
        for (let i = 0; i < 3; i++) appStore.getState().cycleTheme();
        return appStore.getState().theme === t;
      }),
    );
  });
});
