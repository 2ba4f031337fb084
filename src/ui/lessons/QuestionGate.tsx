import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import type { Question } from '../../lessons/types';
import type { Answer } from '../../state/lesson';
import { btn, primaryBtn } from './styles';

export interface QuestionGateProps {
  /** The step the question stands before. */
  step: number;
  question: Question;
  /** The answer given, once given. */
  answer: Answer | undefined;
  /** Changes each time a move was stopped by this question (the question then takes focus). */
  blockedSeq: number;
  onAnswer(choice: number): void;
  onReveal(): void;
}

/**
 * A question the learner answers before step `step` is revealed: a radio
 * group, "Check answer", then right / wrong with the explanation and "Reveal
 * step". Until it is answered the explorer's step gate keeps every forward
 * move (Next, →, End, the slider, go-to, run-to) at the step before.
 */
export function QuestionGate({ step, question, answer, blockedSeq, onAnswer, onReveal }: QuestionGateProps) {
  const id = useId();
  const [choice, setChoice] = useState<number | null>(null);
  const [missing, setMissing] = useState(false);
  const boxRef = useRef<HTMLFormElement>(null);
  const revealRef = useRef<HTMLButtonElement>(null);
  const justAnswered = useRef(false);

  // A move was refused: bring the question into view and give it focus (its name is read out).
  useEffect(() => {
    if (blockedSeq > 0 && !answer) {
      boxRef.current?.focus();
      boxRef.current?.scrollIntoView?.({ block: 'nearest' });
    }
  }, [blockedSeq, answer]);

  // Once checked, focus goes to "Reveal step" (the "Check answer" button it replaces is gone).
  useEffect(() => {
    if (answer && justAnswered.current) {
      justAnswered.current = false;
      revealRef.current?.focus();
    }
  }, [answer]);

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    if (answer) return;
    if (choice === null) {
      setMissing(true);
      return;
    }
    setMissing(false);
    justAnswered.current = true;
    onAnswer(choice);
  };

  const shown = answer ? answer.choice : choice;
  return (
    <form
      ref={boxRef}
      tabIndex={-1}
      onSubmit={onSubmit}
      noValidate
      aria-labelledby={`${id}-title`}
      data-testid="lesson-question"
      data-answered={answer ? (answer.right ? 'right' : 'wrong') : 'no'}
      className="mt-3 rounded-md border border-sky-700 bg-white p-3 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-sky-600 dark:border-sky-400 dark:bg-slate-950"
    >
      <h3 id={`${id}-title`} className="text-[0.9375rem] font-semibold">
        Before step {step}: a question
      </h3>
      <fieldset disabled={!!answer} className="mt-1">
        <legend className="narration text-[1rem]">{question.prompt}</legend>
        <div className="mt-2 flex flex-col gap-1">
          {question.choices.map((c, k) => (
            <label key={k} className="flex items-start gap-2 text-[0.9375rem]">
              <input
                type="radio"
                name={`${id}-choice`}
                value={k}
                checked={shown === k}
                onChange={() => {
                  setChoice(k);
                  setMissing(false);
                }}
                aria-describedby={missing ? `${id}-missing` : undefined}
                className="mt-1 accent-sky-700"
              />
              <span>
                {c}
                {answer && k === question.answer && <span className="ml-2 font-semibold text-green-800 dark:text-green-300">(the answer)</span>}
              </span>
            </label>
          ))}
        </div>
      </fieldset>
      {!answer && (
        <div className="mt-2 flex flex-wrap items-center gap-2">
          <button type="submit" className={primaryBtn}>
            Check answer
          </button>
          {blockedSeq > 0 && <span className="text-[0.875rem] text-slate-700 dark:text-slate-300">Answer this question to reveal step {step}.</span>}
        </div>
      )}
      {missing && (
        <p id={`${id}-missing`} role="alert" className="mt-1 text-[0.875rem] text-red-800 dark:text-red-300">
          Pick an answer first.
        </p>
      )}
      <div aria-live="polite" data-testid="lesson-answer">
        {answer && (
          <div className="mt-2 text-[0.9375rem]">
            <p className={`font-semibold ${answer.right ? 'text-green-800 dark:text-green-300' : 'text-red-800 dark:text-red-300'}`}>
              {answer.right ? '✓ Right.' : `✗ Not quite: the answer is “${question.choices[question.answer] ?? ''}”.`}
            </p>
            <p className="narration mt-1">{question.explain}</p>
          </div>
        )}
      </div>
      {answer && (
        <button ref={revealRef} type="button" className={`${btn} mt-2`} onClick={onReveal}>
          Reveal step {step}
        </button>
      )}
    </form>
  );
}
