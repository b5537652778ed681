// A static copy of the lab (python -m server.export): no server behind the page.  The export sets
// window.GFL_STATIC = {recordings, live_url, slider}; the page then takes its frames from those recordings
// (frames.js RecordedSource) and the controls that would ask for anything else are disabled, saying why,
// or, with a live lab's address, point to the same setting there; the lesson's main slider, when the export
// recorded a grid of its values, moves over that grid.

import { RecordedSource, SocketSource } from "./frames.js";

/** The export's description of this copy, or null when a server serves the page. */
export function staticCopy(win = window) {
  return win.GFL_STATIC || null;
}

/**
 * The page's frame source: the live one (`live(onFrame, onStatus)`: the lab's socket, the cliff's /api/cliff) or,
 * in a static copy, its recordings, found by the page state's keys of a request.
 */
export function makeSource(onFrame, onStatus, state, live = (f, s) => new SocketSource(f, s)) {
  const copy = staticCopy();
  if (!copy) return live(onFrame, onStatus);
  const keyOf = (kind, config) => (kind === "run" ? state.traceKey(config) : state.trainKey(config));
  const missing = `this static copy holds only ${holds(document)}` + (copy.live_url ? ": open the live lab for any other" : "");
  return new RecordedSource(onFrame, onStatus, { recordings: copy.recordings, keyOf, missing });
}

/** What the copy of this page recorded, in words: a lesson's setting and its tries, or the lab at its defaults. */
function holds(doc) {
  return doc.getElementById("lesson") ? "this lesson's setting, its 'now try' variants and, for a training lesson, " +
    "their training" : "the lab at its default setting";
}

/**
 * The address Copy link gives for the page at `query` ("?v=1&…").  On a live lab: the page's own address.  In a
 * static copy: never the file:/// address the copy was opened from, but the page's file and query relative to the
 * site ("lesson-vanishing.html?v=1&…"), or under the address the export was told the site will have (`base_url`).
 */
export function shareLink(query, loc = location, copy = staticCopy()) {
  if (!copy) return new URL(query, loc.href).href;
  const relative = (loc.pathname.split("/").pop() || "index.html") + query;
  return copy.base_url ? new URL(relative, copy.base_url.replace(/\/?$/, "/")).href : relative;
}

/** The live lab's page (`path`: 'cliff', or '' for the lab) at `query`, or null without a live lab. */
export function liveLink(copy, path, query) {
  if (!copy.live_url) return null;
  return new URL(path + query, copy.live_url.replace(/\/?$/, "/")).href;
}

/**
 * Disable what a static copy cannot answer, with a note (and the live lab's link when there is one, to the same
 * page, `path`, at the setting on show).
 */
export function applyStaticCopy(doc, state, path = "") {
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
  note.textContent = `A static copy: it holds ${holds(doc)}; other settings need the live lab.`;
  form.append(note, fieldset);
  freeSlider(doc, state, form, fieldset, copy.slider, copy.recordings);
  if (copy.live_url) {
    const a = doc.createElement("a");
    a.id = "live-link";
    a.textContent = " Open this setting in the live lab ↗";
    const update = () => (a.href = liveLink(copy, path, state.query));
    update();
    state.listen(update);
    note.append(a);
  }
  // Uploads and saved trace files go to a server: a static copy has none to read them.
  needsServer(doc, "upload", "Your own model or series");
  needsServer(doc, "trace-file", "A saved trace file");
  for (const id of ["compare-toggle", "copy-script"]) {
    const b = doc.getElementById(id);
    if (!b) continue;
    b.disabled = true;
    b.title = "Needs the live lab (python -m server)";
  }
}

/**
 * The lesson's main slider (`slider`: {field, min, max, step}, or null) in a copy that recorded a grid of its values:
 * taken out of the disabled controls, with the grid's range and step, so a drag moves over recorded settings only.
 * It moves while the setting on show is on the grid, and every value of the grid is recorded at the rest of it; a
 * try elsewhere (off the grid, or of another key) holds it, at the field's own range so that it shows the try's
 * value, saying why.  Its number box stays disabled: it could type a value off the grid.
 */
function freeSlider(doc, state, form, fieldset, slider, recordings) {
  const row = slider && fieldset.querySelector(`.control[data-field="${slider.field}"]`);
  const input = row && row.querySelector('input[type="range"]');
  if (!input) return;
  const ranges = { grid: { min: slider.min, max: slider.max, step: slider.step },
    field: { min: input.min, max: input.max, step: input.step } };
  for (const box of row.querySelectorAll('input[type="number"]')) box.disabled = true;
  const free = doc.createElement("fieldset");
  free.className = "static-slider";
  const say = doc.createElement("p");
  say.className = "static-note";
  say.id = "static-slider-note";
  free.append(row, say);
  form.insertBefore(free, fieldset);
  const recorded = new Set(recordings.filter((r) => r.kind === "run").map((r) => state.traceKey(r.config)));
  const values = gridValues(slider);
  let moves = null;
  const update = () => {
    const now = state.config[slider.field];
    const on = values.includes(now) &&
      values.every((v) => recorded.has(state.traceKey({ ...state.config, [slider.field]: v })));
    if (on === moves) return;
    moves = on;
    Object.assign(input, on ? ranges.grid : ranges.field);
    input.value = String(now); // the old range may have clamped it
    free.disabled = !on;
    say.textContent = on ? `Drag it: this copy recorded ${slider.min} to ${slider.max} in steps of ${slider.step}.`
      : "This copy recorded this slider's values at the lesson's own setting: undo the try to drag it.";
  };
  update();
  state.listen(update);
}

/** The values of a slider grid {min, max, step}, as the slider writes them. */
export function gridValues({ min, max, step }) {
  const count = Math.round((max - min) / step);
  return Array.from({ length: count + 1 }, (_, k) => Number((min + k * step).toFixed(6)));
}

/** Disable the file controls of the section `id`, saying that `what` needs the live lab. */
function needsServer(doc, id, what) {
  const section = doc.getElementById(id);
  if (!section) return;
  for (const el of section.querySelectorAll("input, select, button")) el.disabled = true;
  const say = doc.createElement("p");
  say.className = "static-note";
  say.id = `${id}-static-note`;
  say.textContent = `${what} needs the live lab (python -m server): a static copy has no server to read files.`;
  section.querySelector("summary").after(say);
}
