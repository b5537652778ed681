// Which layer and direction compare mode's views show: every setting's own top layer, forward, unless the link's
// `cmp_show` says otherwise (`cmp_show=2,reverse`: layer 2 counted from the bottom, 1-based, the reverse
// direction).  A pick is {layer: 0-based from the bottom, or null for each setting's top layer; d: 0 forward,
// 1 reverse}.  No DOM: node --test loads this module directly.

export const TOP = { layer: null, d: 0 };
const DIRECTIONS = ["forward", "reverse"];

/**
 * The link's cmp_show words as a pick, and a notice for each word it cannot read.
 * @param {string[]} words  e.g. ["2", "reverse"]
 */
export function readPick(words) {
  const pick = { ...TOP };
  const problems = [];
  for (const w of words) {
    if (DIRECTIONS.includes(w)) pick.d = DIRECTIONS.indexOf(w);
    else if (w === "top") pick.layer = null;
    else if (/^[1-9]\d{0,2}$/.test(w)) pick.layer = Number(w) - 1;
    else {
      problems.push({ field: "cmp_show", message: `cmp_show: '${w.slice(0, 40)}' is neither a layer number (1 = the ` +
        "bottom layer) nor 'top', 'forward' or 'reverse'; ignored" });
    }
  }
  return { pick, problems };
}

/** The words the link writes for `pick` (none for each setting's top layer, forward). */
export function writePick(pick) {
  return [...(pick.layer === null ? [] : [String(pick.layer + 1)]), ...(pick.d ? ["reverse"] : [])];
}

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
