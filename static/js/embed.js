// The page's own link keys for teachers, which the server ignores:
//   embed=1       only the views, for a slide or an iframe (the run still plays);
//   hide=k1,k2    those controls are hidden, and keep the values the link gives them.

/**
 * Hide the named controls (their rows stay in the form, so read() and the link keep their values)
 * and any group left with nothing to show.  Returns the keys that name no control.
 */
export function hideControls(form, keys) {
  const unknown = [];
  for (const key of keys) {
    const row = form.querySelector(`.control[data-field="${CSS.escape(key)}"]`);
    if (row) {
      row.hidden = true;
      row.classList.add("hidden-by-link");
    } else unknown.push(key);
  }
  for (const set of form.querySelectorAll("fieldset")) {
    set.hidden = ![...set.querySelectorAll(".control")].some((row) => !row.hidden);
  }
  return unknown;
}

/**
 * Embed mode: the body's class hides everything but the views (the server sets
 * it already; a static copy of the page gets it here), plus a slim strip above
 * them: the page's name as its heading, replay the sweep, and open the full page.
 * The strip is part of the main region and in the flow, so it never covers a view.
 * @param {{play: () => void}} player
 */
export function applyEmbed(doc, player) {
  doc.body.classList.add("embed");
  const bar = doc.createElement("div");
  bar.className = "embed-bar";
  // The top bar and its h1 are hidden here: the strip names the page for screen readers instead.
  const title = doc.createElement("h1");
  title.className = "embed-title";
  title.textContent = "Gradient Flow Lab";
  const replay = doc.createElement("button");
  replay.type = "button";
  replay.textContent = "↻ Replay";
  replay.title = "Play the forward and backward sweep again";
  replay.addEventListener("click", () => {
    player.seek(0);
    player.play();
  });
  const open = doc.createElement("a");
  const params = new URLSearchParams(location.search);
  params.delete("embed");
  open.href = `${location.pathname}?${params}`;
  open.target = "_blank";
  open.rel = "noopener";
  open.textContent = "Open in Gradient Flow Lab ↗";
  bar.append(title, replay, open);
  const main = doc.querySelector("main") || doc.body;
  main.prepend(bar);
}
