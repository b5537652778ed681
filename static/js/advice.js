// What to try next, fitted to the model that showed the problem: a banner never advises an LSTM to an
// LSTM or clipping to a run that already clips.  Pure functions of a config (node --test loads them).

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

/** What may let a gradient that underflowed to 0 reach the early steps, for this config. */
export function underflowAdvice(c) {
  const tries = [];
  if (c.cell === "rnn") tries.push("an LSTM or GRU");
  if (c.cell === "lstm" && c.forget_bias < 3) tries.push("a larger forget-gate bias");
  if (c.gain < 10) tries.push("a larger gain");
  if (c.arch !== "one-to-one" && c.seq_len > 1) tries.push("a shorter sequence");
  return tries.length ? `Try ${orList(tries)}.` : "";
}

/** What may tame a gradient that overflowed, for this config. */
export function overflowAdvice(c) {
  const tries = [];
  if (c.gain > 0) tries.push("a lower gain");
  if (c.cell === "rnn" && c.nonlinearity === "relu") tries.push("tanh");
  if (c.cell === "rnn") tries.push("a gated cell");
  return tries.length ? `Try ${orList(tries)}.` : "";
}
