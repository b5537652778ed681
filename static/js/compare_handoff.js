// Compare mode and the encoder–decoder, DOM-free (node --test: tests/js/compare.test.mjs): where each compared
// setting's handoff falls on the chart's time axis, and how much of the gradient reaches its first source word.
// Settings that differ in attention or in reading the source backwards are compared by exactly these: without
// attention the first source word's share fades with the sentence's length, with attention it does not.

/**
 * The distinct handoff steps of the compared traces (each an encoder–decoder's T), in ascending order; empty when
 * no setting is an encoder–decoder.  @param {Array<{trace: {start: {handoff?: number|null}}}>} entries
 */
export function handoffSteps(entries) {
  const steps = entries.map((e) => e.trace?.start?.handoff).filter((t) => Number.isInteger(t));
  return [...new Set(steps)].sort((a, b) => a - b);
}

/**
 * An encoder–decoder's ‖∂L/∂h_0‖ / ‖∂L/∂h_{T−1}‖ over the encoder's steps (layer 0, forward): the gradient at the
 * first source step it reads over that at its last, next to the handoff (the lessons' source_reach); null for
 * any other architecture.  @param {import('./trace.js').RunTrace} trace  a complete trace
 */
export function sourceShare(trace) {
  const T = trace?.start?.handoff;
  if (!Number.isInteger(T) || T < 1) return null;
  const g = trace.normSeries("h", 0, 0, 0, T);
  return g[0] / g[T - 1];
}
