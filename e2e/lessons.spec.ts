import { expect, test, type Page } from '@playwright/test';
import { LESSONS, type LessonMeta } from '../src/lessons';
import type { Lesson } from '../src/lessons/types';
import { DEFAULT_SCENARIO } from '../src/scenario/library/default';
import { encodeShare } from '../src/state/share';
import { axeClean, ready, stepIs, watchErrors } from './helpers';
const PROGRESS_KEY = 'smmu-explorer.lesson-progress.v1';

/** Switch the colour scheme and reload (so no colour transition is caught half-way). */
async function scheme(page: Page, colorScheme: 'light' | 'dark'): Promise<void> {
  await page.emulateMedia({ colorScheme, reducedMotion: 'reduce' });
  await page.reload();
}

/** The lesson's content, or null (with the reason) while its module does not exist yet. */
async function loadLesson(meta: LessonMeta): Promise<{ lesson: Lesson | null; why: string }> {
  try {
    return { lesson: await meta.load(), why: '' };
  } catch (e) {
    return { lesson: null, why: `lesson content src/lessons/content/${meta.id}.ts does not load yet (${(e as Error).message.split('\n')[0]})` };
  }
}

/** Every lesson whose content loads (for the tests that need one with a question). */
async function loadedLessons(): Promise<Lesson[]> {
  const out: Lesson[] = [];
  for (const m of LESSONS) {
    const { lesson } = await loadLesson(m);
    if (lesson) out.push(lesson);
  }
  return out;
}

function questionSteps(l: Lesson): number[] {
  return Object.entries(l.steps)
    .filter(([, s]) => s.question)
    .map(([k]) => Number(k))
    .sort((a, b) => a - b);
}

const noteOf = (l: Lesson, i: number): string | undefined => {
  const n = (l.scenario.steps[i - 1] as { note?: unknown }).note;
  return typeof n === 'string' ? n : undefined;
};

for (const meta of LESSONS) {
  test(`lesson "${meta.id}" opens from its URL and plays to its end (questions answered, goals met, axe-clean)`, async ({ page }) => {
    const { lesson, why } = await loadLesson(meta);
    test.skip(lesson === null, why);
    if (!lesson) return;
    test.setTimeout(120_000);
    const errors = watchErrors(page);
    const n = lesson.scenario.steps.length;
    await page.emulateMedia({ colorScheme: 'light', reducedMotion: 'reduce' });
    await page.goto(`/?lesson=${meta.id}`);
    await ready(page);
    await stepIs(page, 0, n);
    const player = page.getByTestId('lesson-player');
    await expect(player.getByRole('heading', { level: 2 })).toContainText(lesson.title);
    await expect(page.getByRole('tab', { selected: true })).toHaveAttribute('id', `tab-${lesson.panel}`);
    await axeClean(page, `${meta.id} at the start`);
    let axedQuestion = false;
    for (let i = 1; i <= n; i++) {
      const extra = lesson.steps[i];
      const q = extra?.question;
      if (q) {
        const box = page.getByTestId('lesson-question');
        await expect(box.getByRole('group')).toContainText(q.prompt);
        await box.getByRole('radio').nth(q.answer).check();
        if (!axedQuestion) await axeClean(page, `${meta.id} question before step ${i}`);
        await box.getByRole('button', { name: 'Check answer' }).click();
        await expect(box.getByTestId('lesson-answer')).toContainText('Right');
        await expect(box.getByTestId('lesson-answer')).toContainText(q.explain);
        if (!axedQuestion) await axeClean(page, `${meta.id} answered question before step ${i}`);
        axedQuestion = true;
        await box.getByRole('button', { name: `Reveal step ${i}` }).click();
      } else {
        await page.getByRole('button', { name: 'Next step (Right arrow)' }).click();
      }
      await stepIs(page, i, n);
      const note = noteOf(lesson, i);
      if (note) await expect(page.getByTestId('lesson-narration')).toContainText(note);
      if (extra?.panel) await expect(page.getByRole('tab', { selected: true })).toHaveAttribute('id', `tab-${extra.panel}`);
      if (extra?.goal) await expect(page.getByTestId('lesson-goal'), `${meta.id} step ${i}: ${extra.goal.text}`).toHaveAttribute('data-state', 'met');
    }
    await ready(page);
    await expect(page.getByTestId('lesson-end')).toBeVisible();
    await expect(page).toHaveURL(new RegExp(`[?&]lesson=${meta.id}&step=${n}$`));
    await axeClean(page, `${meta.id} at the end, light`);
    // A reload keeps the step (it is in the URL) and the answers (stored).
    await scheme(page, 'dark');
    await ready(page);
    await stepIs(page, n, n);
    await expect(page.getByTestId('lesson-end')).toBeVisible();
    await axeClean(page, `${meta.id} at the end, dark`);
    expect(errors).toEqual([]);
  });
}

test('a question blocks the reveal until it is answered (→, End, go-to, slider, Next)', async ({ page }) => {
  const withQ = (await loadedLessons()).find((l) => questionSteps(l).length > 0);
  test.skip(!withQ, 'no lesson with a question loads yet');
  if (!withQ) return;
  const errors = watchErrors(page);
  const qs = questionSteps(withQ)[0];
  const q = withQ.steps[qs].question!;
  const n = withQ.scenario.steps.length;
  await page.goto(`/?lesson=${withQ.id}&step=${qs - 1}`);
  await ready(page);
  await stepIs(page, qs - 1, n);
  const box = page.getByTestId('lesson-question');
  await expect(box).toBeVisible();
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  // → does not advance: the question takes focus instead.
  await page.keyboard.press('ArrowRight');
  await expect(box).toBeFocused();
  await expect(box).toContainText(`Answer this question to reveal step ${qs}`);
  await stepIs(page, qs - 1, n);
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('End');
  await stepIs(page, qs - 1, n);
  // Neither does the Next button, the go-to box, the slider or Last.
  await page.getByRole('button', { name: 'Next step (Right arrow)' }).click();
  await page.getByRole('button', { name: 'Last step (End)' }).click();
  await page.getByLabel('Go to step').fill(String(n));
  await page.getByRole('button', { name: 'Go', exact: true }).click();
  await page.getByRole('slider', { name: 'Step' }).fill(String(n));
  await page.waitForTimeout(200);
  await stepIs(page, qs - 1, n);
  // Check without a choice: asked to pick one.
  await box.getByRole('button', { name: 'Check answer' }).click();
  await expect(box.getByRole('alert')).toContainText('Pick an answer');
  await stepIs(page, qs - 1, n);
  // A wrong answer is told so, with the explanation, and then the step may be revealed.
  const wrong = (q.answer + 1) % q.choices.length;
  await box.getByRole('radio').nth(wrong).check();
  await box.getByRole('button', { name: 'Check answer' }).click();
  await expect(box.getByTestId('lesson-answer')).toContainText('Not quite');
  await expect(box.getByTestId('lesson-answer')).toContainText(q.explain);
  await expect(box.getByRole('button', { name: `Reveal step ${qs}` })).toBeFocused();
  await page.keyboard.press('ArrowRight');
  await stepIs(page, qs, n);
  await expect(page).toHaveURL(new RegExp(`step=${qs}$`));
  // The answer is remembered: after a reload, going back shows it answered and does not block.
  await page.reload();
  await ready(page);
  await stepIs(page, qs, n);
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  await page.keyboard.press('ArrowLeft');
  await stepIs(page, qs - 1, n);
  await expect(page.getByTestId('lesson-question')).toHaveAttribute('data-answered', 'wrong');
  await page.keyboard.press('ArrowRight');
  await stepIs(page, qs, n);
  expect(errors).toEqual([]);
});

test('?lesson=<id>&step=3 opens the lesson at step 3 with its narration', async ({ page }) => {
  const lesson = (await loadedLessons()).find((l) => l.scenario.steps.length >= 4);
  test.skip(!lesson, 'no lesson loads yet');
  if (!lesson) return;
  const errors = watchErrors(page);
  const n = lesson.scenario.steps.length;
  await page.goto(`/?lesson=${lesson.id}&step=3`);
  await ready(page);
  await stepIs(page, 3, n);
  const note = noteOf(lesson, 3);
  if (note) await expect(page.getByTestId('lesson-narration')).toContainText(note);
  await expect(page.getByTestId('lesson-step')).toHaveText(`Step 3 of ${n}`);
  await expect(page).toHaveURL(new RegExp(`\\?lesson=${lesson.id}&step=3$`));
  // Going back keeps the step in the URL (a reload keeps it).
  await page.getByRole('button', { name: 'Previous step (Left arrow)' }).click();
  await stepIs(page, 2, n);
  await expect(page).toHaveURL(new RegExp(`step=2$`));
  await page.reload();
  await ready(page);
  await stepIs(page, 2, n);
  // Presentation mode shows the narration large.
  const small = await page.getByTestId('lesson-narration').evaluate((e) => parseFloat(getComputedStyle(e).fontSize));
  await page.getByRole('button', { name: 'Presentation' }).click();
  await expect(page.locator('html')).toHaveAttribute('data-presentation', '');
  const large = await page.getByTestId('lesson-narration').evaluate((e) => parseFloat(getComputedStyle(e).fontSize));
  expect(large).toBeGreaterThanOrEqual(28);
  expect(large).toBeGreaterThan(small);
  expect(errors).toEqual([]);
});

test('translating in a lesson pauses it; "Back to the lesson" restores its scenario', async ({ page }) => {
  const lesson = (await loadedLessons()).find((l) => l.scenario.steps.length >= 3);
  test.skip(!lesson, 'no lesson loads yet');
  if (!lesson) return;
  const errors = watchErrors(page);
  const n = lesson.scenario.steps.length;
  await page.goto(`/?lesson=${lesson.id}&step=1`);
  await ready(page);
  await page.getByRole('tab', { name: /Translation walk/ }).click();
  await page.getByLabel('StreamID (SID)').fill('1');
  await page.getByLabel('IOVA (hex)').fill('0x1000');
  await page.getByRole('button', { name: 'Translate' }).click();
  await stepIs(page, 2, n + 1);
  await expect(page.getByTestId('lesson-detour')).toBeVisible();
  await expect(page.getByTestId('lesson-question')).toHaveCount(0);
  // The lesson resumes where the step was added.
  await page.getByRole('button', { name: 'Back to the lesson at step 1' }).click();
  await ready(page);
  await stepIs(page, 1, n);
  await expect(page.getByTestId('lesson-detour')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('an unknown lesson says so and shows the default scenario', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/?lesson=no-such-lesson&step=2');
  await expect(page.getByTestId('load-error')).toContainText('no-such-lesson');
  await ready(page);
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Nested translation');
  await expect(page.getByRole('link', { name: 'Choose a lesson from the list' })).toBeVisible();
  expect(errors).toEqual([]);
});

test('an embedded lesson step shows only its panel; "Open in the full app" restores the same step', async ({ page }) => {
  const lesson = (await loadedLessons()).find((l) => l.scenario.steps.length >= 4);
  test.skip(!lesson, 'no lesson loads yet');
  if (!lesson) return;
  const errors = watchErrors(page);
  const n = lesson.scenario.steps.length;
  await page.goto(`/?embed&panel=streams&lesson=${lesson.id}&step=3`);
  await ready(page);
  await stepIs(page, 3, n);
  await expect(page.getByRole('tablist')).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Share' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Export JSON' })).toHaveCount(0);
  await expect(page.getByRole('heading', { level: 2, name: 'Stream table' })).toBeVisible();
  await axeClean(page, 'embed (streams)');
  // Its own prev / next work (read-only: no question gate in an embed).
  await page.getByRole('button', { name: 'Next step' }).click();
  await stepIs(page, 4, n);
  const open = page.getByRole('link', { name: /Open in the full app at this step/ });
  const href = await open.getAttribute('href');
  expect(href).toMatch(new RegExp(`\\?lesson=${lesson.id}&step=4$`));
  expect(href).not.toContain('embed');
  expect(href).not.toContain('panel');
  await page.goto(href!);
  await ready(page);
  await stepIs(page, 4, n);
  await expect(page.getByRole('tablist')).toBeVisible();
  await expect(page.getByTestId('lesson-player')).toBeVisible();
  expect(errors).toEqual([]);
});

test('an embedded share link shows only its panel, read-only; "Open in the full app" restores the same step', async ({ page }) => {
  const errors = watchErrors(page);
  const hash = `#${encodeShare({ scenario: DEFAULT_SCENARIO, step: 8 })}`;
  await page.goto(`/?embed&panel=walk${hash}`);
  await ready(page);
  await stepIs(page, 8, 8);
  await expect(page.getByRole('tablist')).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Share' })).toHaveCount(0);
  await expect(page.getByText('24 table reads').first()).toBeVisible();
  // The translate form (which would add a step) is not offered.
  await expect(page.getByLabel('IOVA (hex)')).toBeHidden();
  await axeClean(page, 'embed (walk)');
  await page.getByRole('button', { name: 'Previous step' }).click();
  await stepIs(page, 7, 8);
  const href = await page.getByRole('link', { name: /Open in the full app at this step/ }).getAttribute('href');
  expect(href).toMatch(/^\/#s=/);
  await page.goto(href!);
  await ready(page);
  await stepIs(page, 7, 8);
  await expect(page.getByRole('tablist')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Share' })).toBeVisible();
  await expect(page.getByTestId('load-error')).toHaveCount(0);
  // &static: no stepping controls.
  await page.goto(`/?embed&panel=queues&static${hash}`);
  await ready(page);
  await expect(page.getByRole('button', { name: 'Next step' })).toHaveCount(0);
  await expect(page.getByRole('link', { name: /Open in the full app at this step/ })).toBeVisible();
  expect(errors).toEqual([]);
});

test('the lesson index lists every lesson; progress survives a reload and can be reset', async ({ page }) => {
  const errors = watchErrors(page);
  await page.goto('/');
  await ready(page);
  await page.getByRole('link', { name: 'Lessons' }).click();
  await expect(page).toHaveURL(/\?lessons$/);
  const items = page.getByTestId('lesson-item');
  await expect(items).toHaveCount(LESSONS.length);
  for (const l of LESSONS) await expect(page.getByRole('link', { name: l.title, exact: true })).toHaveAttribute('href', `?lesson=${l.id}`);
  await expect(page.getByTestId('lesson-progress').first()).toHaveText('Not started.');
  for (const s of ['light', 'dark'] as const) {
    await scheme(page, s);
    await expect(items).toHaveCount(LESSONS.length);
    await axeClean(page, `lesson index, ${s}`);
  }

  const lesson = (await loadedLessons()).find((l) => l.scenario.steps.length >= 3 && !l.steps[1]?.question && !l.steps[2]?.question);
  test.skip(!lesson, 'no lesson loads yet');
  if (!lesson) return;
  const n = lesson.scenario.steps.length;
  const qn = questionSteps(lesson).length;
  await page.getByRole('link', { name: lesson.title, exact: true }).click();
  await ready(page);
  await page.locator('body').click({ position: { x: 5, y: 5 } });
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  await stepIs(page, 2, n);
  await page.getByRole('link', { name: 'All lessons' }).click();
  const item = page.locator(`[data-testid="lesson-item"][data-lesson="${lesson.id}"]`);
  const expected = `2 / ${n} steps${qn > 0 ? `, 0 / ${qn} questions answered (0 right)` : ''}.`;
  await expect(item.getByTestId('lesson-progress')).toHaveText(expected);
  await page.reload();
  await expect(item.getByTestId('lesson-progress')).toHaveText(expected);
  // "Continue" opens the lesson where it was left.
  await expect(item.getByRole('link', { name: /Continue at step 2/ })).toHaveAttribute('href', `?lesson=${lesson.id}&step=2`);
  await item.getByRole('button', { name: /Reset progress/ }).click();
  await expect(item.getByTestId('lesson-progress')).toHaveText('Not started.');
  await page.reload();
  await expect(item.getByTestId('lesson-progress')).toHaveText('Not started.');
  expect(errors).toEqual([]);
});

test('stored progress that is corrupt, old or too large is ignored; a full storage is reported, not fatal', async ({ page }) => {
  const errors = watchErrors(page);
  const id = LESSONS[0].id;
  await page.goto('/?lessons');
  const progress = page.locator(`[data-testid="lesson-item"][data-lesson="${id}"]`).getByTestId('lesson-progress');
  for (const bad of [
    'not json {',
    '[]',
    '{"v":2,"lessons":{}}',
    `{"v":1,"lessons":{"${id}":{"furthest":"lots","steps":-1,"answers":{"x":{"choice":-1}}},"../evil":{}}}`,
    `{"v":1,"lessons":{"${id}":{"furthest":1,"steps":9,"questions":1,"answers":"x"}}}`.padEnd(300_000, ' '),
  ]) {
    await page.evaluate(([key, value]) => localStorage.setItem(key, value), [PROGRESS_KEY, bad]);
    await page.reload();
    await expect(page.getByTestId('lesson-item')).toHaveCount(LESSONS.length);
    await expect(progress, bad.slice(0, 60)).toHaveText('Not started.');
  }
  // A valid value with one bad answer keeps the rest.
  await page.evaluate(
    ([key, lessonId]) => localStorage.setItem(key, JSON.stringify({ v: 1, lessons: { [lessonId]: { furthest: 3, steps: 9, questions: 2, answers: { 2: { choice: 1, right: true }, x: { choice: 0, right: true } } } } })),
    [PROGRESS_KEY, id],
  );
  await page.reload();
  await expect(progress).toHaveText('3 / 9 steps, 1 / 2 questions answered (1 right).');

  // Storage full: the lesson still plays, and says its progress is kept for this visit only.
  const lesson = (await loadedLessons()).find((l) => !l.steps[1]?.question);
  test.skip(!lesson, 'no lesson loads yet');
  if (!lesson) return;
  await page.addInitScript(() => {
    Storage.prototype.setItem = function () {
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    };
  });
  await page.goto(`/?lesson=${lesson.id}`);
  await ready(page);
  await expect(page.getByTestId('lesson-player')).toContainText('kept for this visit only');
  await page.getByRole('button', { name: 'Next step (Right arrow)' }).click();
  await stepIs(page, 1, lesson.scenario.steps.length);
  expect(errors).toEqual([]);
});
