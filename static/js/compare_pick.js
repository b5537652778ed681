// Which layer and direction compare mode's views show: every setting's own top layer, forward, unless the link's
// `cmp_show` says otherwise (`cmp_show=2,reverse`: layer 2 counted from the bottom, 1-based, the reverse
// direction; link.js reads and writes it, a page key of kind `pick`).  A pick is {layer: 0-based from the bottom,
// or null for each setting's top layer; d: 0 forward, 1 reverse}.  No DOM: node --test loads this module directly.

export const TOP = { layer: null, d: 0 };
const DIRECTIONS = ["forward", "reverse"];

/** `pick` in words: "top layer, forward", "layer 1 (bottom), reverse". */
export function pickWords(pick) {
  const layer = pick.layer === null ? "top layer" : `layer ${pick.layer + 1}${pick.layer === 0 ? " (bottom)" : ""}`;
  return `${layer}, ${DIRECTIONS[pick.d]}`;
}

/** A pick as a <select>'s value, and back. */
export const pickValue = (pick) => `${pick.layer ?? "top"},${pick.d}`;
export function pickFromValue(value) {
  const [layer, d] = value.split(",");
  return { layer: layer === "top" ? null : Number(layer), d: Number(d) };
}

/**
 * Every pick worth offering for traces of at most `layers` layers and `directions` directions, and `current` (which
 * a link may have asked for before the traces arrived): each setting's top layer, then every layer from the bottom.
 */
export function pickChoices(layers, directions, current = TOP) {
  const picks = [];
  for (let d = 0; d < directions; d++) picks.push({ layer: null, d });
  if (layers > 1) for (let l = 0; l < layers; l++) for (let d = 0; d < directions; d++) picks.push({ layer: l, d });
  if (!picks.some((p) => pickValue(p) === pickValue(current))) picks.push(current);
  return picks;
}
