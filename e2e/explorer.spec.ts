import { expect, test, type Page } from '@playwright/test';
import { deflateSync, strToU8 } from 'fflate';
import { toBase64Url } from '../src/state/share';
import { axeClean, ready, stepIs as stepOf, watchErrors } from './helpers';

/** A link payload as the app writes one (raw DEFLATE, base64url). */
const compressToEncodedURIComponent = (text: string): string => toBase64Url(deflateSync(strToU8(text)));

/** The default scenario has 8 steps. */
const stepIs = (page: Page, i: number, n = 8): Promise<void> => stepOf(page, i, n);

test('loads the default scenario with no console errors', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1 })).toContainText('SMMUv3 / pKVM explorer');
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Nested translation');
  await ready(page);
  await stepIs(page, 0);
  expect(errors).toEqual([]);
});

test('a nested translation shows its 24 table reads in the walk view', async ({ page }) => {
  await page.goto('/');
  await ready(page);
  // After the two donations split the hyp's S2 blocks (step 7), translate the NIC's IOVA.
  await page.getByLabel('Go to step').fill('7');
  await page.getByRole('button', { name: 'Go', exact: true }).click();
  await stepIs(page, 7);
  await page.getByRole('tab', { name: /Translation walk/ }).click();
  await page.getByLabel('StreamID (SID)').fill('1');
  await page.getByLabel('IOVA (hex)').fill('0x101234');
  await page.getByLabel('Access', { exact: true }).selectOption('write');
  await page.getByRole('button', { name: 'Translate' }).click();
  // The translation is a new step (8 of 9) and its walk is drawn.
  await stepIs(page, 8, 9);
  await expect(page.getByText('24 table reads').first()).toBeVisible();
  await expect(page.getByTestId('walk-grid').getByTestId('walk-cell')).toHaveCount(24);
  await expect(page.getByText('0x50001234').first()).toBeVisible();
});

test('steps back and forward with the keyboard', async ({ page }) => {
  await page.goto('/');
  await ready(page);
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  await page.keyboard.press('ArrowRight');
  await stepIs(page, 1);
  await page.keyboard.press('ArrowRight');
  await stepIs(page, 2);
  await page.keyboard.press('ArrowLeft');
  await stepIs(page, 1);
  await page.keyboard.press('End');
  await stepIs(page, 8);
  const y = await page.evaluate(() => window.scrollY);
  await page.keyboard.press('ArrowLeft');
  await stepIs(page, 7);
  expect(await page.evaluate(() => window.scrollY)).toBe(y); // preventDefault: the page did not scroll
  await page.keyboard.press('Home');
  await stepIs(page, 0);
  // "Run to the next DMA" jumps over the setup steps.
  await page.getByRole('button', { name: 'Next DMA' }).click();
  await stepIs(page, 5);
  // ? opens the shortcut overlay, Escape closes it.
  await page.keyboard.press('Shift+Slash');
  await expect(page.getByRole('dialog', { name: 'Keyboard shortcuts' })).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(page.getByRole('dialog', { name: 'Keyboard shortcuts' })).toBeHidden();
});

test('Share puts the scenario and step in the URL; a new page opens the same state', async ({ page, context }) => {
  await page.goto('/');
  await ready(page);
  await page.getByLabel('Go to step').fill('8');
  await page.getByRole('button', { name: 'Go', exact: true }).click();
  await stepIs(page, 8);
  await page.getByRole('button', { name: 'Share' }).click();
  const url = await page.getByTestId('share-url').inputValue();
  expect(url).toMatch(/#s=/);
  const other = await context.newPage();
  const errors = watchErrors(other);
  await other.goto(url);
  await ready(other);
  await stepIs(other, 8);
  await expect(other.getByRole('heading', { level: 1 })).toContainText('Nested translation');
  await expect(other.getByText('24 table reads').first()).toBeVisible();
  await expect(other.getByTestId('load-error')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('a corrupted or hostile link shows a clear message and the default scenario', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/#s=N4IgdghgtgpiBcIDCAbA9gYwNYgL5A');
  await expect(page.getByTestId('load-error')).toContainText('could not be opened');
  await ready(page);
  await stepIs(page, 0);
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Nested translation');
  await page.getByRole('button', { name: 'Dismiss' }).click();
  await expect(page.getByTestId('load-error')).toHaveCount(0);
  // The default scenario works.
  await page.keyboard.press('End');
  await stepIs(page, 8);
  expect(errors).toEqual([]);
});

test('the "Skip to the panels" link moves focus and keeps the scenario and step', async ({ page }) => {
  await page.goto('/');
  await ready(page);
  await page.getByLabel('Go to step').fill('3');
  await page.getByRole('button', { name: 'Go', exact: true }).click();
  await stepIs(page, 3);
  await page.getByRole('link', { name: 'Skip to the panels' }).focus();
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/#main$/);
  await page.waitForTimeout(300);
  await stepIs(page, 3);
  await expect(page.getByTestId('load-error')).toHaveCount(0);
});

test('a Worker crash is reported and the emulator restarts at the same step', async ({ page }) => {
  await page.goto('/');
  await ready(page);
  await page.keyboard.press('End');
  await stepIs(page, 8);
  await page.evaluate(() => (window as unknown as { __explorer: { client: { inject(h: string): void } } }).__explorer.client.inject('throw'));
  await expect(page.getByTestId('worker-error')).toContainText('The emulator stopped');
  await page.getByRole('button', { name: 'Restart the emulator' }).click();
  await expect(page.getByTestId('worker-error')).toHaveCount(0);
  await stepIs(page, 8);
  await page.keyboard.press('ArrowLeft');
  await stepIs(page, 7);
});

test('a well-formed link with an invalid scenario names the offending field', async ({ page }) => {
  const errors = watchErrors(page);
  const doc = { v: 1, scenario: { v: 1, machine: { ram: [] }, mode: 'nested', steps: [] }, step: 3 };
  await page.goto(`/#s=${compressToEncodedURIComponent(JSON.stringify(doc))}`);
  await expect(page.getByTestId('load-error')).toContainText('machine.ram');
  await ready(page);
  await stepIs(page, 0);
  // A link from a newer version is refused by version, not misread.
  await page.goto(`/#s=${compressToEncodedURIComponent(JSON.stringify({ v: 99, scenario: {}, step: 0 }))}`);
  await expect(page.getByTestId('load-error')).toContainText('newer version');
  expect(errors).toEqual([]);
});

const PANEL_TABS = ['Translation walk', 'Stream table', 'Page tables', 'Queues', 'Hypervisor', 'Costs'];

for (const scheme of ['light', 'dark'] as const) {
  test(`no axe violations (WCAG 2 A/AA) on any panel, ${scheme} mode`, async ({ page }) => {
    await page.emulateMedia({ colorScheme: scheme, reducedMotion: 'reduce' });
    await page.goto('/');
    await ready(page);
    await page.keyboard.press('End');
    await stepIs(page, 8);
    for (const name of PANEL_TABS) {
      await page.getByRole('tab', { name: new RegExp(name) }).click();
      await expect(page.getByRole('tabpanel')).toBeVisible();
      if (name === 'Page tables') {
        // Open the first table so the tree is checked too.
        const select = page.getByLabel('Page table', { exact: true });
        const options = await select.locator('option').allTextContents();
        if (options.length > 1) await select.selectOption({ index: 1 });
        await expect(page.locator('[role="tree"]').first()).toBeVisible();
      }
      if (name === 'Stream table') await page.getByRole('row').nth(1).click();
      await axeClean(page, name);
    }
  });
}
