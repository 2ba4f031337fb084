/** Helpers shared by the e2e specs. */
import { expect, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

/** Collect console errors and uncaught exceptions of a page. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}

/** The explorer has its scenario (a non-empty timeline) and is not waiting for the Worker. */
export async function ready(page: Page): Promise<void> {
  await expect(page.getByTestId('step-counter')).toHaveText(/Step \d+ \/ [1-9]\d*/);
  await expect(page.locator('main')).toHaveAttribute('aria-busy', 'false');
}

export async function stepIs(page: Page, i: number, n: number): Promise<void> {
  await expect(page.getByTestId('step-counter')).toHaveText(`Step ${i} / ${n}`);
}

/** No axe violations (WCAG 2 A/AA) on the page as it is now. */
export async function axeClean(page: Page, where: string): Promise<void> {
  const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(r.violations.map((v) => `${where}: ${v.id} (${v.nodes.length}) ${v.nodes[0]?.target}`)).toEqual([]);
}
