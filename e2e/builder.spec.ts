import { expect, test, type Locator, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { watchErrors } from './helpers';

/** Open the builder page (`?build`). */
async function openBuilder(page: Page): Promise<void> {
  await page.goto('/?build');
  await expect(page.getByRole('heading', { level: 1, name: /Scenario builder/ })).toBeVisible({ timeout: 10_000 });
}

function step(page: Page, n: number): Locator {
  return page.getByRole('group', { name: new RegExp(`^Step ${n}:`) });
}

async function addStep(page: Page, kind: string): Promise<void> {
  await page.getByLabel('New step type').selectOption(kind);
  await page.getByRole('button', { name: 'Add step', exact: true }).click();
}

const TITLE = 'Builder round trip: a NIC under the bare driver';

test('a scenario built through the forms round-trips through Share', async ({ page, context }) => {
  const errors = watchErrors(page);
  await openBuilder(page);

  // A blank bare machine (one NIC at SID 1, 1 GiB of RAM at 0x40000000).
  await page.getByLabel('Mode', { exact: true }).selectOption('bare');
  await page.getByRole('button', { name: 'Start a blank machine' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Started a blank bare machine' })).toBeVisible();
  await page.getByLabel('Title', { exact: true }).fill(TITLE);

  await addStep(page, 'host:init');
  await addStep(page, 'host:alloc_domain');
  await step(page, 2).getByLabel('Domain name').fill('nic');
  await expect(step(page, 2).getByLabel('Stage')).toHaveValue('s1');
  // attach and map pick the domain allocated above and the declared device.
  await addStep(page, 'host:attach');
  await expect(step(page, 3).getByLabel('Domain', { exact: true })).toHaveValue('nic');
  await expect(step(page, 3).getByLabel('StreamID (SID)')).toHaveValue('1');
  await addStep(page, 'host:map');
  const map = step(page, 4);
  await map.getByLabel('IOVA', { exact: true }).fill('0x100000');
  await map.getByLabel('Physical address').fill('0x50000000');
  await map.getByLabel('Size (bytes)').fill('0x4000');
  await expect(map.getByRole('checkbox', { name: 'read' })).toBeChecked();
  await expect(map.getByRole('checkbox', { name: 'write' })).toBeChecked();
  await addStep(page, 'dma');
  const dma = step(page, 5);
  await dma.getByLabel('Access').selectOption('write');

  // A bad hex IOVA: the field says what is wrong; Share is disabled until it is fixed.
  const iova = dma.getByLabel('IOVA', { exact: true });
  await iova.fill('0x10g234');
  await expect(iova).toHaveAttribute('aria-invalid', 'true');
  await expect(dma.getByTestId('field-error')).toContainText('“0x10g234” is not a hex number');
  await expect(page.getByRole('button', { name: 'Share link' })).toBeDisabled();
  await expect(page.getByRole('button', { name: 'Open in the explorer' })).toBeDisabled();
  await expect(page.getByTestId('builder-validity')).toContainText('1 problem');
  // The problem list jumps to the field.
  await page.getByRole('button', { name: 'Step 5 › IOVA' }).click();
  await expect(iova).toBeFocused();

  await iova.fill('0x100234');
  await expect(iova).not.toHaveAttribute('aria-invalid', 'true');
  await expect(dma.getByTestId('field-error')).toHaveCount(0);
  await expect(page.getByTestId('builder-validity')).toContainText('Valid scenario: 5 steps');
  await expect(page.getByTestId('builder-json')).toHaveValue(/"iova": "0x100234"/);

  await page.getByRole('button', { name: 'Share link' }).click();
  const url = await page.getByTestId('builder-share-url').inputValue();
  expect(url).toMatch(/#s=/);
  expect(url).not.toContain('build');
  expect(errors).toEqual([]);

  // The link opens the explorer on the scenario.
  const other = await context.newPage();
  const otherErrors = watchErrors(other);
  await other.goto(url);
  await expect(other.getByRole('heading', { level: 1 })).toContainText(TITLE);
  await expect(other.getByTestId('step-counter')).toHaveText('Step 0 / 5');
  await expect(other.locator('main')).toHaveAttribute('aria-busy', 'false');
  await other.locator('body').click({ position: { x: 5, y: 5 } });
  await other.keyboard.press('End');
  await expect(other.getByTestId('step-counter')).toHaveText('Step 5 / 5');
  await other.getByRole('tab', { name: /Translation walk/ }).click();
  await expect(other.getByRole('tabpanel').getByText('0x50000234').first()).toBeVisible();
  await expect(other.getByTestId('load-error')).toHaveCount(0);
  expect(otherErrors).toEqual([]);

  // "Open in the explorer" goes to the same place.
  await page.getByRole('button', { name: 'Open in the explorer' }).click();
  await expect(page).toHaveURL(/\/#s=/);
  await expect(page.getByRole('heading', { level: 1 })).toContainText(TITLE);
  await expect(page.getByTestId('step-counter')).toHaveText('Step 0 / 5');
  expect(errors).toEqual([]);
});

test('the builder keeps its work across a reload, and explains bad pasted JSON', async ({ page }) => {
  await openBuilder(page);
  await page.getByLabel('Mode', { exact: true }).selectOption('paravirt');
  await page.getByRole('button', { name: 'Start a blank machine' }).click();
  await page.getByLabel('Title', { exact: true }).fill('Kept across reloads');
  // The workload helper: a ring of 4 buffers as hypercalls.
  await page.getByLabel('Buffers').fill('4');
  await page.getByRole('button', { name: /Add 14 workload steps/ }).click();
  await expect(page.getByRole('heading', { name: /Steps \(14\)/ })).toBeVisible();
  await expect(step(page, 3)).toContainText('hvc map_pages');
  await expect(page.getByTestId('builder-validity')).toContainText('Valid scenario: 14 steps, mode paravirt');
  // Duplicate, move and remove.
  await page.getByRole('button', { name: 'Duplicate step 1', exact: true }).click();
  await expect(page.getByRole('heading', { name: /Steps \(15\)/ })).toBeVisible();
  await page.getByRole('button', { name: 'Move step 2 down', exact: true }).click();
  await page.getByRole('button', { name: 'Remove step 3', exact: true }).click();
  await expect(page.getByRole('heading', { name: /Steps \(14\)/ })).toBeVisible();

  await page.waitForTimeout(400); // the debounced save
  await page.reload();
  await expect(page.getByLabel('Title', { exact: true })).toHaveValue('Kept across reloads');
  await expect(page.getByRole('heading', { name: /Steps \(14\)/ })).toBeVisible();

  const paste = page.getByLabel(/Paste a scenario/);
  await paste.fill('{"v": 1, "machine": ');
  await page.getByRole('button', { name: 'Load JSON' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'not valid JSON' })).toBeVisible();
  await paste.fill(JSON.stringify({ v: 1, title: 'Pasted', machine: { ram: [{ base: '0x40000000', size: '0x40000000' }] }, mode: 'identity', steps: [{ do: 'dma', sid: 1, iova: '0x40001000', access: 'read', bogus: 1 }] }));
  await page.getByRole('button', { name: 'Load JSON' }).click();
  await expect(page.getByLabel('Title', { exact: true })).toHaveValue('Pasted');
  // The unknown field is reported on its step.
  await expect(step(page, 1).getByTestId('field-error')).toContainText('Unknown field “bogus”');
  await page.getByRole('button', { name: 'Undo' }).click();
  await expect(page.getByLabel('Title', { exact: true })).toHaveValue('Kept across reloads');
});

test('starts from a lesson, or from the scenario a ?build#s= link carries', async ({ page }) => {
  const errors = watchErrors(page);
  await openBuilder(page);
  await page.getByLabel('Lesson', { exact: true }).selectOption('paravirt');
  await page.getByRole('button', { name: 'Start from the lesson' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Started from the lesson' })).toBeVisible();
  await expect(page.getByRole('radio', { name: /^Paravirt/ })).toBeChecked();
  await expect(page.getByTestId('builder-validity')).toContainText('Valid scenario');
  // The share link of what was built opens in the builder as "the explorer's scenario".
  await page.getByRole('button', { name: 'Share link' }).click();
  const url = await page.getByTestId('builder-share-url').inputValue();
  await page.getByRole('button', { name: 'Start a blank machine' }).click();
  await expect(page.getByRole('heading', { name: /Steps \(0\)/ })).toBeVisible();
  await page.goto(url.replace('/#', '/?build#'));
  await page.getByRole('button', { name: 'Start from the current scenario' }).click();
  await expect(page.getByRole('radio', { name: /^Paravirt/ })).toBeChecked();
  await expect(page.getByRole('heading', { name: /Steps \(0\)/ })).toHaveCount(0);
  expect(errors).toEqual([]);
});

for (const scheme of ['light', 'dark'] as const) {
  test(`the builder has no axe violations (WCAG 2 A/AA), ${scheme} mode`, async ({ page }) => {
    await page.emulateMedia({ colorScheme: scheme, reducedMotion: 'reduce' });
    await openBuilder(page);
    await page.getByLabel('Mode', { exact: true }).selectOption('nested');
    await page.getByRole('button', { name: 'Start a blank machine' }).click();
    await addStep(page, 'host:init');
    await addStep(page, 'host:map');
    await addStep(page, 'hvc:map_sg'); // another mode's step: the refusal warning
    await step(page, 2).getByLabel('IOVA', { exact: true }).fill('zz'); // an error shown
    await page.getByText(/More: SMMU features/).click();
    await expect(page.getByRole('button', { name: 'Share link' })).toBeDisabled();
    const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
    expect(r.violations.map((v) => `${v.id} (${v.nodes.length}) ${v.nodes[0]?.target} ${v.nodes[0]?.failureSummary}`)).toEqual([]);
  });
}
