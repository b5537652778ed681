// One tab stop for a group of related controls (WAI-ARIA's roving tabindex): Tab reaches the one last used, the arrow
// keys (and Home, End) move between them, Tab leaves.  The page's toolbars use it (the player's step and play buttons,
// the summary's downloads, a chart's PNG button with its Plotly tools), so that Tab walks the page in a few dozen
// stops instead of one per button.

/**
 * Make `items()` (called each time: a group whose buttons come and go, like Plotly's mode bar) one tab stop.
 * Keys are heard on `root`; arrow keys used by the group do not reach the page's own shortcuts (the player's).
 * @param {HTMLElement} root  holds every item
 * @param {() => HTMLElement[]} items  the group's controls, in order
 * @returns {{refresh: () => void}}  call refresh() after the items change, to keep exactly one tab stop
 */
export function rove(root, items) {
  let current = null;
  // Written only where it changes: a chart refreshes its group on every repaint of a drag.
  const mark = (all) => {
    for (const el of all) if (el.tabIndex !== (el === current ? 0 : -1)) el.tabIndex = el === current ? 0 : -1;
  };
  const refresh = () => {
    const all = items();
    if (!all.includes(current)) current = all[0] || null;
    mark(all);
  };
  root.addEventListener("focusin", (e) => {
    const all = items();
    if (!all.includes(e.target)) return;
    current = e.target;
    mark(all);
  });
  root.addEventListener("keydown", (e) => {
    const all = items();
    const i = all.indexOf(e.target);
    if (i < 0 || e.altKey || e.ctrlKey || e.metaKey) return;
    const n = all.length;
    const to = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: n - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    e.stopPropagation();
    all[(to + n) % n].focus();
  });
  refresh();
  return { refresh };
}

/** A toolbar of the buttons matching `selector` inside `root`, labelled for assistive technology. */
export function toolbar(root, selector, label) {
  if (!root) return null;
  root.setAttribute("role", "toolbar");
  root.setAttribute("aria-label", `${label} (arrow keys move between them)`);
  return rove(root, () => [...root.querySelectorAll(selector)]);
}
