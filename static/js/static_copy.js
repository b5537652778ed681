// A static copy of the lab (python -m server.export): no server behind the page.  The export sets
// window.GFL_STATIC = {recordings, live_url}; the page then takes its frames from those recordings
// (frames.js RecordedSource) and the controls that would ask for anything else are disabled, saying why,
// or, with a live lab's address, point to the same setting there.

import { RecordedSource, SocketSource } from "./frames.js";

/** The export's description of this copy, or null when a server serves the page. */
export function staticCopy(win = window) {
  return win.GFL_STATIC || null;
}

/** The page's frame source: the socket, or in a static copy its recordings. */
export function makeSource(onFrame, onStatus, state) {
  const copy = staticCopy();
  if (!copy) return new SocketSource(onFrame, onStatus);
  const keyOf = (kind, config) => (kind === "run" ? state.traceKey(config) : state.trainKey(config));
  const missing = copy.live_url
    ? "this static copy holds only this lesson's settings: open the live lab for any other"
    : "this static copy holds only this lesson's settings and its 'now try' variants";
  return new RecordedSource(onFrame, onStatus, { recordings: copy.recordings, keyOf, missing });
}

/** The live lab's page for the page's setting, or null without one. */
export function liveLink(copy, query) {
  if (!copy.live_url) return null;
  return new URL(query, copy.live_url.replace(/\/?$/, "/")).href;
}

/** Disable what a static copy cannot answer, with a note (and the live lab's link when there is one). */
export function applyStaticCopy(doc, state) {
  const copy = staticCopy();
  if (!copy) return;
  doc.body.classList.add("static-copy");
  const form = doc.querySelector("#controls");
  const fieldset = doc.createElement("fieldset");
  fieldset.className = "static-controls";
  fieldset.disabled = true;
  fieldset.append(...form.childNodes);
  const note = doc.createElement("p");
  note.className = "static-note";
  note.id = "static-note";
  note.textContent = "A static copy: the lesson's setting, its 'now try' buttons and its training are recorded here; other settings need the live lab.";
  form.append(note, fieldset);
  if (copy.live_url) {
    const a = doc.createElement("a");
    a.id = "live-link";
    a.textContent = " Open this setting in the live lab ↗";
    const update = () => (a.href = liveLink(copy, state.query));
    update();
    state.listen(update);
    note.append(a);
  }
  // Uploads go to a server: a static copy has none to read them.
  const upload = doc.getElementById("upload");
  if (upload) {
    for (const el of upload.querySelectorAll("input, select, button")) el.disabled = true;
    const say = doc.createElement("p");
    say.className = "static-note";
    say.id = "upload-static-note";
    say.textContent = "Your own model or series needs the live lab (python -m server): a static copy has no server to read files.";
    upload.querySelector("summary").after(say);
  }
  for (const id of ["compare-toggle", "copy-script"]) {
    const b = doc.getElementById(id);
    if (!b) continue;
    b.disabled = true;
    b.title = "Needs the live lab (python -m server)";
  }
}
