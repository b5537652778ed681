// What to try next, fitted to the model that showed the problem: a banner never advises an LSTM to an
// LSTM or clipping to a run that already clips.  Pure functions of a config and, where the advice depends
// on a key's range or on when it applies, the config table (schema.js); node --test loads them.

/** "a, b or c" */
export function orList(items) {
  if (items.length <= 1) return items[0] || "";
  return `${items.slice(0, -1).join(", ")} or ${items.at(-1)}`;
}

/** What may stop a training from diverging, for this config. */
export function divergenceAdvice(c) {
  const tries = [];
  if (c.clip === "none") tries.push("clipping");
  else tries.push(`a lower clip threshold than ${c.clip_at}`);
  tries.push("a smaller learning rate");
  if (c.gain > 1) tries.push("a smaller gain");
  return `Try ${orList(tries)}.`;
}

/**
 * What a trace of the model a training diverged with (at `step`) says: these weights are where the updates led,
 * so what helps is what keeps the updates small, clipping first when the training did not clip.
 */
export function divergedAdvice(c, step) {
  const how = c.clip === "none"
    ? "Unclipped updates led here: clipping during training caps every update, so the weights need not reach this point; " +
      "clipping this one pass's gradient could not undo them."
    : `Even clipped (${c.clip} at ${c.clip_at}), the updates led here.`;
  return `These are the weights training had reached when it diverged at step ${step}. ${how} ${divergenceAdvice(c)}`;
}

/**
 * What may let a gradient that underflowed to 0 reach the early steps, for this config.
 * @param {import('./schema.js').Schema} schema  the table: a key is advised only where it applies and has room
 */
export function underflowAdvice(c, schema) {
  const tries = [];
  if (c.cell === "rnn") tries.push("an LSTM or GRU");
  if (schema.applies("forget_bias", c) && c.forget_bias < 3) tries.push("a larger forget-gate bias");
  if (c.gain < schema.field("gain").max) tries.push("a larger gain");
  if (schema.applies("seq_len", c) && c.seq_len > schema.field("seq_len").min) tries.push("a shorter sequence");
  return tries.length ? `Try ${orList(tries)}.` : "";
}

/** What may tame a gradient that overflowed, for this config and table (see underflowAdvice). */
export function overflowAdvice(c, schema) {
  const tries = [];
  if (c.gain > schema.field("gain").min) tries.push("a lower gain");
  if (schema.applies("nonlinearity", c) && c.nonlinearity === "relu") tries.push("tanh");
  if (c.cell === "rnn") tries.push("a gated cell");
  return tries.length ? `Try ${orList(tries)}.` : "";
}
