// What the reader is watching stays where it is on screen when the page above it changes: as a training ends, its
// banner and status line appear above the loss curve, and the trained model's views above may change height; the
// curve would otherwise drop by as much (on a phone, out of sight).  The browser's own scroll anchoring does not
// hold it there (it anchors on the text above the curve, which is what changes).

/**
 * Keep `watched`, while it is on screen, at the height on screen where the last scroll left it: whenever the page
 * changes size, scroll by as much as it moved.  Runs after layout and before paint (ResizeObserver), so nothing is
 * seen to jump; a scroll of the reader's (or of the page's own, bringing a chart into sight) sets the new place.
 */
export function keepInPlace(watched, win = window) {
  if (!watched || typeof win.ResizeObserver === "undefined") return;
  const top = () => {
    const r = watched.getBoundingClientRect();
    return r.height > 0 && r.top >= 0 && r.top < win.innerHeight ? r.top : null;
  };
  let place = top();
  win.addEventListener("scroll", () => (place = top()), { passive: true });
  new win.ResizeObserver(() => {
    const now = top();
    if (place !== null && now !== null && now !== place && win.scrollY > 0) {
      win.scrollBy({ top: now - place, behavior: "instant" });
    } else place = now;
  }).observe(win.document.body);
}
