// How a training ended, judged in numbers the page shows: whether its loss got below its baseline's, over the
// last tenth of its steps (one batch's loss alone is noisy), and what each loss on the page is measured on.
// Pure functions (node --test loads them).

// What a trace's loss is measured on, beside a training's losses (each step's own random batch).
export const EVALUATION_BATCH = "the evaluation batch, the one every trace of this setting uses";

/** Whether a training's loss is no better than its baseline's (a loss that is not a number is not better). */
export function notBetter(loss, baseline) {
  return !!baseline && Number.isFinite(baseline.loss) && !(loss < baseline.loss);
}

/** The mean loss of a training's last tenth of steps (at least one): one batch's loss alone is noisy. */
export function recentLoss(losses) {
  const steps = Math.max(1, Math.round(losses.length / 10));
  const tail = losses.slice(-steps);
  return { steps, mean: tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : NaN };
}
