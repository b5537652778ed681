// What the reader is watching stays where it is on screen when the page above it changes: as a training ends, its
// banner and status line appear above the loss curve, and the trained model's views above may change height; the
// curve would otherwise drop by as much (on a phone, out of sight).  The browser's own scroll anchoring does not
// hold it there (it anchors on the text above the curve, which is what changes).

/**
 * Keep `watched`, while it is on screen, at the height on screen where the last scroll left it: whenever the page
 * changes size, scroll by as much as it moved.  Runs after layout and before paint (ResizeObserver), so nothing is
 * seen to jump; a scroll of the reader's (or of the page's own, bringing a chart into sight) sets the new place.
 *
 * A scroll event is dispatched a frame after its scroll, so two kinds of scroll are not taken as the reader's: the
 * one this made itself (the page may have changed again before its event arrives, and the place would take that
 * change as wanted), and one that arrives while the page's height differs from the height last seen here (a change
 * not yet measured: the browser's own anchoring scrolled for it, or it came between the scroll and its event).
 */
export function keepInPlace(watched, win = window) {
  if (!watched || typeof win.ResizeObserver === "undefined") return;
  const body = win.document.body;
  const top = () => {
    const r = watched.getBoundingClientRect();
    return r.height > 0 && r.top >= 0 && r.top < win.innerHeight ? r.top : null;
  };
  let place = top();
  let height = body.scrollHeight; // the page's height when last measured here
  let ours = null; // where this scrolled the page to last, until its scroll event arrives
  win.addEventListener("scroll", () => {
    if (win.scrollY === ours) ours = null;
    else if (body.scrollHeight === height) place = top();
  }, { passive: true });
  new win.ResizeObserver(() => {
    height = body.scrollHeight;
    const now = top();
    if (place !== null && now !== null && now !== place && win.scrollY > 0) {
      win.scrollBy({ top: now - place, behavior: "instant" });
      ours = win.scrollY;
    } else place = now;
  }).observe(body);
}
