// The marks a view places at values of its axes, moved with the data during a drag's paint (quick_paint.js): notes
// (the norms view's "exactly 0" at the data's floor) and shapes (the norms view's dotted line at the scored step,
// T − 1, which a seq_len drag moves).  Plotly drew them where the figure it was given placed them; a drag's figure
// that places them elsewhere has each drawn element shifted by the pixels between the two places, or goes to Plotly
// when that cannot be exact (a place outside the drawn ranges, a shape whose two ends would move apart).

/** Whether a note's or shape's reference is an axis' values ('x', 'y2'), not the plot's fractions. */
export function onAxis(ref) {
  return /^[xy]\d*$/.test(ref || "");
}

/** The axis object Plotly laid out for a trace's `xaxis` / `yaxis` id ('x', 'y2'). */
export function axisOf(full, id, letter) {
  return full[`${letter}axis${(id || letter).slice(1)}`];
}

/** An axis' drawn range, [low, high] in Plotly's linear units. */
export function span(ax) {
  const [a, b] = ax.range.map((r) => ax.r2l(r));
  return [Math.min(a, b), Math.max(a, b)];
}

/**
 * `layout`'s notes and shapes without the places they take on the axes (what a figure draws besides its data): a
 * shape keeps its extent along an axis (x1 − x0), which a move by whole pixels keeps.
 */
export function unplaced(layout) {
  const out = {};
  if (Array.isArray(layout.annotations)) {
    out.annotations = layout.annotations.map((a) => ({ ...a, x: onAxis(a.xref) ? null : a.x,
      y: onAxis(a.yref) ? null : a.y }));
  }
  if (Array.isArray(layout.shapes)) {
    out.shapes = layout.shapes.map((s) => {
      const u = { ...s };
      for (const letter of ["x", "y"]) {
        if (!onAxis(s[`${letter}ref`]) || s.type === "path") continue;
        [u[`${letter}0`], u[`${letter}1`]] = [null, s[`${letter}1`] - s[`${letter}0`]];
      }
      return u;
    });
  }
  return out;
}

/**
 * The pixels a mark placed at values of `keys` ('x', 'y' for a note; 'x0', 'x1', … for a shape) moves from `drawn`
 * (where Plotly placed it) to `now`: {x, y}, or null when a new place leaves the drawn range or the ends of a shape
 * would move apart (by more than half a pixel).
 */
function shift(full, now, drawn, ends) {
  const out = { x: 0, y: 0 };
  for (const letter of ["x", "y"]) {
    const ref = now[`${letter}ref`];
    if (!onAxis(ref)) continue;
    const ax = axisOf(full, ref, letter);
    const moved = [];
    for (const end of ends) {
      const key = `${letter}${end}`;
      if (now[key] === drawn?.[key]) {
        moved.push(0);
        continue;
      }
      const [lo, hi] = ax ? span(ax) : [NaN, NaN];
      const [a, b] = [ax?.r2l(now[key]), ax?.r2l(drawn?.[key])];
      if (!(a >= lo && a <= hi) || !Number.isFinite(b)) return null;
      moved.push(ax.l2p(a) - ax.l2p(b));
    }
    if (Math.max(...moved) - Math.min(...moved) > 0.5) return null;
    out[letter] = moved[0];
  }
  return out;
}

/**
 * How far each note and shape placed at a value moves, in pixels, from where Plotly drew it to where `layout` places
 * it: [[its drawn element, dx, dy]], or null when one cannot be moved exactly or is not found.
 */
export function markMoves(el, full, layout) {
  const moves = [];
  const kinds = [["annotations", [""], (i) => `.infolayer .annotation[data-index="${i}"]`],
    ["shapes", ["0", "1"], (i) => `.shapelayer path[data-index="${i}"]`]];
  for (const [kind, ends, selector] of kinds) {
    const now = layout[kind] || [];
    const drawn = el.layout?.[kind] || [];
    for (let i = 0; i < now.length; i++) {
      if (kind === "shapes" && now[i].type === "path") continue; // no ends to place: its shape key holds it whole
      const d = shift(full, now[i], drawn[i], ends);
      if (!d) return null;
      if (!d.x && !d.y) continue;
      const g = el.querySelector(selector(i));
      if (!g) return null;
      moves.push([g, d.x, d.y]);
    }
  }
  return moves;
}

/** Every mark moved back to where Plotly drew it. */
export function clearMarks(el) {
  for (const g of el.querySelectorAll(".infolayer .annotation, .shapelayer path")) g.style.transform = "";
}
