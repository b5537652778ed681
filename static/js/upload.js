// "Your own model, your own data": two file controls that send a torch.save'd state_dict or a CSV series
// to this page's socket (docs/protocol.md, "Your own model").  What is active lives in the page state
// (state.uploads: name, size, the server's echo); this panel sends the files, tells the state what the
// server answered, and shows it.  Uploads never travel in a link, and do not apply to Compare's B and C or
// to a lesson opened from the menu: the panel says so, and asks before the page is left for a lesson.

import { UPLOAD_KINDS } from "./state.js";

const UPLOAD_FRAMES = new Set(["model_loaded", "model_cleared", "series_loaded", "series_cleared", "upload_expired"]);
const UPLOAD_FIELDS = new Set(["model", "series", "bytes", "nonlinearity", "column", "token"]);

/** Whether a frame answers an upload (a loaded/cleared/expired frame, or an error with no run about a file). */
export function isUploadFrame(frame) {
  if (UPLOAD_FRAMES.has(frame.type)) return true;
  return frame.type === "error" && frame.run == null && (!!frame.kind || UPLOAD_FIELDS.has(frame.field));
}

/** The kind of upload ('model' | 'series') an upload frame is about. */
export function uploadKind(frame) {
  if (frame.type === "upload_expired" || frame.kind) return frame.kind;
  if (frame.type === "error") return frame.field === "series" || frame.field === "column" ? "series" : "model";
  return frame.type.startsWith("model") ? "model" : "series";
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

/** What the active uploads do not reach, in words; "" when none is active. */
export function scopeText(state) {
  const kinds = state.activeUploads();
  if (!kinds.length) return "";
  const what = kinds.length === 2 ? "model and series" : kinds[0];
  let text = `Your ${what} applies to this page's own trace and training only: Compare's B and C run the ` +
    "configured model on the task's data, and a lesson opened from the menu starts a new page without it.";
  if (state.page.lesson) {
    text += ` This lesson was written for its own setting; the views now show your ${what} instead, so its ` +
      "numbers and answers may not hold.";
  }
  return text;
}

export class UploadPanel {
  /**
   * @param {HTMLElement} el  the #upload section
   * @param {{source: object, state: import('./state.js').PageState, notices: HTMLElement}} deps
   *   the frame source, the page state, and the notices area (for the note before leaving for a lesson)
   */
  constructor(el, { source, state, notices }) {
    Object.assign(this, { el, source, state, notices });
    this.status = { model: el.querySelector("#upload-model-status"), series: el.querySelector("#upload-series-status") };
    this.errors = { model: "", series: "" }; // the last refusal, shown until the next file or clear
    this.sending = { model: null, series: null }; // the File sent last, until it is answered
    this.held = null; // a CSV refused for want of a column: Enter in the column box sends it again
    el.querySelector("#upload-model").addEventListener("change", (ev) => this.send("model", ev.target.files?.[0], ev.target));
    el.querySelector("#upload-series").addEventListener("change", (ev) => this.send("series", ev.target.files?.[0], ev.target));
    el.querySelector("#upload-column").addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter" || !this.held) return;
      ev.preventDefault();
      this.send("series", this.held);
    });
    for (const kind of UPLOAD_KINDS) {
      el.querySelector(`#upload-${kind}-clear`).addEventListener("click", () => this.source.clearUpload(kind));
    }
    state.listen((change) => {
      if (change.type === "uploads" || change.type === "page") this.render();
    });
  }

  /** Send `file` (from `input`, a file control, emptied once read: the same file may be chosen again after a fix). */
  async send(kind, file, input = null) {
    if (!file) return;
    const extra = {};
    if (kind === "model") extra.nonlinearity = this.el.querySelector("#upload-nonlinearity").value;
    else {
      const column = this.el.querySelector("#upload-column").value.trim();
      if (column) extra.column = /^\d+$/.test(column) ? Number(column) : column;
    }
    this.errors[kind] = "";
    this.sending[kind] = file;
    if (kind === "series") this.held = null;
    this.state.uploadSent(kind, { name: file.name, size: file.size });
    this.source.upload(kind, await file.arrayBuffer(), extra);
    if (input) input.value = "";
  }

  /** Handle an upload frame (see isUploadFrame): the state learns what the server answered. */
  frame(frame) {
    const kind = uploadKind(frame);
    if (!frame.resumed) this.errors[kind] = ""; // a reconnect taking back the file in use keeps the last refusal shown
    if (frame.type === "error") {
      const u = this.state.uploads[kind];
      const name = u && u.status === "sending" ? u.name : "That file";
      // A CSV that only lacks its column is kept here: the column and Enter are all it takes.
      const retry = kind === "series" && frame.field === "column" && u?.status === "sending";
      if (kind === "series") this.held = retry ? this.sending.series : null;
      this.errors[kind] = `${name} was not used: ${frame.message}` + (retry ? ". Type the column's header name or " +
        "number in the Column box and press Enter: the same file is read again, no need to choose it again." : "");
      this.state.uploadRefused(kind, frame.message);
    } else if (frame.type === "upload_expired") this.state.uploadExpired(kind);
    else if (frame.type.endsWith("_loaded")) {
      // The file in use stays at hand: another column of it is the column box and Enter away.
      if (kind === "series" && !frame.resumed) this.held = this.sending.series;
      this.state.uploadLoaded(kind, frame);
    } else {
      if (kind === "series") this.held = null;
      this.state.uploadCleared(kind);
    }
  }

  render() {
    for (const kind of UPLOAD_KINDS) {
      const u = this.state.uploads[kind];
      let text = "";
      if (this.errors[kind]) text = this.errors[kind];
      else if (u && u.status === "sending") text = `Reading ${u.name}…`;
      else if (u && u.status === "resending") text = `The server no longer had ${u.name} after the reconnect: sending it again…`;
      else if (u) text = describeUpload(u.echoed);
      this.show(kind, text, !!this.errors[kind]);
      this.el.querySelector(`#upload-${kind}-clear`).hidden = !this.state.uploadActive(kind);
    }
    const active = this.state.activeUploads().length > 0;
    this.el.querySelector("#upload-link-note").hidden = !active;
    const scope = this.el.querySelector("#upload-scope-note");
    scope.textContent = scopeText(this.state);
    scope.hidden = !active;
    if (!active) this.notices.querySelector("[data-source='upload-leave']")?.remove();
  }

  show(kind, text, isError) {
    const el = this.status[kind];
    if (el.textContent !== text) el.textContent = text;
    el.classList.toggle("upload-error", isError);
    el.setAttribute("role", isError ? "alert" : "status");
  }

  /**
   * The lesson menu asks to open `url`: at once when no upload is active, else only after the user reads that
   * the lesson's page will not have the upload (a note with a link to go on, and a button to stay).
   * @returns {boolean} whether the page is left now
   */
  leaveFor(url, title, open = (u) => location.assign(u), stay = () => {}) {
    if (!this.state.activeUploads().length) {
      open(url);
      return true;
    }
    this.notices.querySelector("[data-source='upload-leave']")?.remove();
    const p = document.createElement("p");
    p.className = "notice";
    p.dataset.source = "upload-leave";
    p.setAttribute("role", "alert");
    const what = this.state.activeUploads().length === 2 ? "model and series" : this.state.activeUploads()[0];
    p.append(`Lessons use the lab's own models and data, and opening “${title}” loads a new page: your uploaded ` +
      `${what} stays in this tab and is not used there. `);
    const go = document.createElement("a");
    go.href = url;
    go.textContent = "Open the lesson without it";
    const back = document.createElement("button");
    back.type = "button";
    back.textContent = "Stay here";
    back.addEventListener("click", () => {
      p.remove();
      stay();
    });
    p.append(go, " ", back);
    this.notices.append(p);
    go.focus();
    return false;
  }
}
