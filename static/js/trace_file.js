// A saved trace file (engine.save_traces) on the page: chosen with the file control or dropped anywhere on the
// page, or opened by the server at start (`python -m server --open FILE`, whose link ends in #trace-file=TOKEN).
// The server reads the file as it reads every upload and answers each trace's frames, exactly as its socket would
// send them (docs/protocol.md, "A saved trace file"); this panel replays the chosen trace through the notebook's
// painter, which draws with the page's own views.  One trace at a time: a picker, keyed by the trace's name, when
// the file holds several.  Nothing here touches the page state: the settings' own trace stays where it is.

import { paintSection, replay } from "./notebook.js";
import { LINKED_HASH, openedToken, refusalText } from "./trace_file_text.js";

export class SavedTracePanel {
  /**
   * @param {HTMLElement} section  the #saved-trace section (its picker, status, views)
   * @param {HTMLInputElement} input  the file control
   * @param {import('./schema.js').Schema} schema  the config table, for the banners' advice
   */
  constructor(section, input, schema) {
    Object.assign(this, { section, input, schema, doc: null, painted: 0 });
    this.status = document.getElementById("trace-file-status");
    this.pick = section.querySelector("#saved-trace-pick");
    this.views = section.querySelector("#saved-trace-views");
    input.addEventListener("change", () => input.files[0] && this.openFile(input.files[0]));
    this.pick.addEventListener("change", () => this.show(Number(this.pick.value)));
    section.querySelector("#saved-trace-close").addEventListener("click", () => this.close());
  }

  /** Accept files dropped anywhere on the page but on another file control. */
  acceptDrops(target = document) {
    const ours = (ev) => ev.dataTransfer && [...ev.dataTransfer.types].includes("Files") &&
      !(ev.target instanceof HTMLInputElement && ev.target.type === "file");
    target.addEventListener("dragover", (ev) => {
      if (!ours(ev)) return;
      ev.preventDefault();
      ev.dataTransfer.dropEffect = "copy";
    });
    target.addEventListener("drop", (ev) => {
      if (!ours(ev) || !ev.dataTransfer.files.length) return;
      ev.preventDefault();
      this.openFile(ev.dataTransfer.files[0]);
    });
  }

  say(text, error = false) {
    this.status.textContent = text;
    this.status.classList.toggle("upload-error", error);
  }

  async openFile(file) {
    this.say(`Reading ${file.name}…`);
    const url = `/api/trace-file?name=${encodeURIComponent(file.name)}`;
    await this.load(fetch(url, { method: "POST", body: await file.arrayBuffer(),
      headers: { "Content-Type": "application/octet-stream" } }), file.name);
  }

  /** The file the server opened at start, when the link names one. */
  async openLinked(hash = LINKED_HASH) {
    const token = openedToken(hash);
    if (!token) return;
    this.say("Reading the trace file the server opened…");
    await this.load(fetch(`/api/trace-file/${token}`), "");
  }

  async load(request, name) {
    let response, body;
    try {
      response = await request;
      body = await response.json();
    } catch (e) {
      return this.say(`${name || "The trace file"} could not be read: ${e.message}`, true);
    }
    if (!response.ok) return this.say(refusalText(body, response.status, name), true);
    this.doc = body;
    this.pick.replaceChildren(...body.traces.map((t, i) => new Option(t.title, String(i))));
    this.pick.disabled = body.traces.length < 2;
    this.section.querySelector("#saved-trace-name").textContent = body.name || name || "a saved trace";
    this.section.hidden = false;
    const n = body.traces.length;
    this.say(`${body.name || name}: ${n} trace${n > 1 ? "s" : ""}, shown above the settings' own views${n > 1 ? "; pick one" : ""}.`);
    await this.show(0);
    this.section.scrollIntoView({ block: "start" });
  }

  /** Paint trace `i` of the open file in place of the one on show. */
  async show(i) {
    const entry = this.doc.traces[i];
    const id = `saved-trace-${++this.painted}`;
    this.section.dataset.painted = "";
    try {
      const trace = await replay(id, entry.units);
      const box = document.createElement("div");
      box.className = "gfl-nb-section";
      box.id = id;
      this.views.replaceChildren(box);
      this.section.gfl = { key: entry.key, trace, views: paintSection(box, id, entry.title, trace, this.schema) };
      this.section.dataset.painted = entry.key;
    } catch (e) {
      this.say(`${entry.title} could not be shown: ${e.message}`, true);
    }
  }

  close() {
    this.section.hidden = true;
    this.views.replaceChildren();
    this.doc = null;
    this.input.value = "";
    this.say("");
  }
}
