// "Your own model, your own data": two file controls that send a torch.save'd state_dict or a CSV series
// to this page's socket (docs/protocol.md, "Your own model").  The socket keeps them for its runs and
// trainings until cleared; they never travel in a link, and the panel says so.  It talks to the frame
// source (upload/clear) and asks the glue for a fresh trace; it owns only its own elements.

const UPLOAD_FRAMES = new Set(["model_loaded", "model_cleared", "series_loaded", "series_cleared"]);
const UPLOAD_FIELDS = new Set(["model", "series", "bytes", "nonlinearity", "column"]);

/** Whether a frame answers an upload (a loaded/cleared frame, or an error with no run about a file). */
export function isUploadFrame(frame) {
  if (UPLOAD_FRAMES.has(frame.type)) return true;
  return frame.type === "error" && frame.run == null && UPLOAD_FIELDS.has(frame.field);
}

/** One line for a loaded model or series, in the page's words. */
export function describeUpload(frame) {
  if (frame.type === "model_loaded") {
    const dirs = frame.bidirectional ? ", bidirectional" : "";
    return `Your model: ${frame.cell.toUpperCase()}, H = ${frame.hidden_size}, ${frame.num_layers} layer(s)${dirs}, ` +
      `input size ${frame.input_size}${frame.prefix ? ` (found under ${frame.prefix})` : ""}.`;
  }
  if (frame.type === "series_loaded") return `Your series: ${frame.name}, ${frame.length} values.`;
  return "";
}

export class UploadPanel {
  /**
   * @param {HTMLElement} el  the #upload section
   * @param {{source: object, retrace: () => void}} deps  the frame source and "trace the current setting again"
   */
  constructor(el, { source, retrace }) {
    this.el = el;
    this.source = source;
    this.retrace = retrace;
    this.status = { model: el.querySelector("#upload-model-status"), series: el.querySelector("#upload-series-status") };
    this.loaded = { model: false, series: false };
    el.querySelector("#upload-model").addEventListener("change", (ev) => this.send("model", ev.target));
    el.querySelector("#upload-series").addEventListener("change", (ev) => this.send("series", ev.target));
    for (const kind of ["model", "series"]) {
      el.querySelector(`#upload-${kind}-clear`).addEventListener("click", () => this.source.clearUpload(kind));
    }
  }

  async send(kind, input) {
    const file = input.files && input.files[0];
    if (!file) return;
    const extra = {};
    if (kind === "model") extra.nonlinearity = this.el.querySelector("#upload-nonlinearity").value;
    else {
      const column = this.el.querySelector("#upload-column").value.trim();
      if (column) extra.column = /^\d+$/.test(column) ? Number(column) : column;
    }
    this.show(kind, `Reading ${file.name}…`, false);
    this.source.upload(kind, await file.arrayBuffer(), extra);
    input.value = ""; // the same file may be chosen again after a fix
  }

  /** Handle an upload frame (see isUploadFrame). */
  frame(frame) {
    if (frame.type === "error") {
      const kind = frame.field === "series" || frame.field === "column" ? "series" : "model";
      this.show(kind, `That file was not used: ${frame.message}`, true);
      return;
    }
    const kind = frame.type.startsWith("model") ? "model" : "series";
    this.loaded[kind] = frame.type.endsWith("_loaded");
    this.show(kind, this.loaded[kind] ? describeUpload(frame) : "", false);
    this.el.querySelector(`#upload-${kind}-clear`).hidden = !this.loaded[kind];
    this.el.querySelector("#upload-link-note").hidden = !(this.loaded.model || this.loaded.series);
    this.retrace();
  }

  show(kind, text, isError) {
    const el = this.status[kind];
    el.textContent = text;
    el.classList.toggle("upload-error", isError);
    el.setAttribute("role", isError ? "alert" : "status");
  }
}
