import { describe, expect, it } from 'vitest';
import { Session } from '../scenario/session';
import { goalFailure, partialMatch } from './goal';
import { LESSONS } from './index';
import type { Lesson } from './types';
import { PANELS } from '../state/explorer';

describe('partialMatch', () => {
  it('matches subsets recursively and nothing else', () => {
    expect(partialMatch({ a: 1, b: { c: 2, d: 3 } }, { b: { c: 2 } })).toBe(true);
    expect(partialMatch({ a: 1 }, { a: 2 })).toBe(false);
    expect(partialMatch({ a: 1 }, { b: undefined })).toBe(true);
    expect(partialMatch({ a: [1, 2] }, { a: [1] })).toBe(false);
    expect(partialMatch(null, { a: 1 })).toBe(false);
  });
});

describe('every lesson', () => {
  for (const meta of LESSONS) {
    describe(meta.id, () => {
      it('runs, narrates every step, and its goals and questions hold', async () => {
        let lesson: Lesson;
        try {
          lesson = await meta.load();
        } catch (e) {
          throw new Error(`lesson ${meta.id} does not load: ${(e as Error).message}`, { cause: e });
        }
        expect(lesson.id).toBe(meta.id);
        expect(PANELS).toContain(lesson.panel);
        const s = new Session(lesson.scenario);
        const n = s.length;
        expect(n).toBeGreaterThan(3);
        lesson.scenario.steps.forEach((st, i) => expect(typeof st.note === 'string' && (st.note as string).length > 10, `step ${i + 1} has a note`).toBe(true));
        let goals = 0;
        for (const [k, step] of Object.entries(lesson.steps)) {
          const i = Number(k);
          expect(Number.isInteger(i) && i >= 1 && i <= n, `step key ${k}`).toBe(true);
          if (step.panel) expect(PANELS).toContain(step.panel);
          if (step.question) {
            expect(step.question.choices.length).toBeGreaterThanOrEqual(2);
            expect(step.question.answer).toBeGreaterThanOrEqual(0);
            expect(step.question.answer).toBeLessThan(step.question.choices.length);
            expect(step.question.explain.length).toBeGreaterThan(10);
          }
          if (step.goal) {
            goals++;
            const why = goalFailure(step.goal.check, s.recording.steps[i - 1], s.snapshot(i).walk?.tableReads);
            expect(why, `${meta.id} step ${i}: ${step.goal.text}`).toBe('');
          }
        }
        expect(goals).toBeGreaterThan(0);
      });
    });
  }
});
