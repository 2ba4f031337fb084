/**
 * A lesson: a scenario (the same versioned document a share link carries,
 * whose step `note`s are the narration) plus, per step, an optional question
 * the learner answers before the step is revealed, a goal the lesson checks
 * when the step is reached, and the panel to show.
 */
import type { PanelId } from '../state/explorer';
import type { CompareWorkload, StepTag } from '../scenario/view';

export interface Question {
  /** E.g. "Which address will the SMMU read next?" */
  prompt: string;
  choices: string[];
  /** Index of the right choice. */
  answer: number;
  /** Shown once answered (right or wrong). */
  explain: string;
}

/**
 * What must hold at a step, checked against the recording: the step's
 * result (a partial match: every key given must be equal, recursively), its
 * tags, and the table reads of its walk.
 */
export interface GoalCheck {
  result?: Record<string, unknown>;
  tag?: StepTag;
  notTag?: StepTag;
  tableReads?: number;
}

export interface Goal {
  text: string;
  check: GoalCheck;
}

export interface LessonStep {
  /** The panel to show at this step. */
  panel?: PanelId;
  /** Asked before this step is revealed (when moving from step i-1 to i). */
  question?: Question;
  goal?: Goal;
  /** Preset the cost comparison's workload (the Costs panel) at this step. */
  compare?: CompareWorkload;
}

export interface Lesson {
  /** URL-safe id: `?lesson=<id>`. */
  id: string;
  title: string;
  /** One or two sentences for the index. */
  summary: string;
  /** The scenario (JSON, version 1). Its `title`/`description` are shown; each step's `note` is the narration. */
  scenario: { v: 1; title: string; description: string; steps: Array<Record<string, unknown>> } & Record<string, unknown>;
  /** Panel at step 0. */
  panel: PanelId;
  /** Per-step extras, keyed by step index (1-based). */
  steps: Record<number, LessonStep>;
}
