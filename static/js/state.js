// The page's one owner of state, as TensorFlow Playground's state.ts is: every link key (the config table's
// keys and the page's own, read and written by link.js from the tables the server sends), the control values,
// and the request lifecycle as an explicit state machine:
//   view:      idle -> computing -> shown | failed   (each shown result tagged with the setting that made it, and
//              with whether it carries the lag map: asked for while the lag view is open, the link's view=lag)
//   training:  none -> training -> trained | stopped | diverged | refused
//   uploads:   per kind (model, series): none -> sending -> active | (refused: back to what was active);
//              active -> resending (the server forgot it on a reconnect) -> active; clear -> none
//
// An upload is part of what a result answers (each request and shown result carries its uploads), never of the
// link: a file cannot travel in one.  Only this module writes the URL; the rest read it and ask it to change, and it
// tells its listeners what changed.  The lab and the cliff use it.  No DOM access at import (node --test loads it).

import { FileValues } from "./file_values.js";
import { addressBar, emptyPage, formatLink, parseLink } from "./link.js";

export const UPLOAD_KINDS = ["model", "series"];

export class PageState {
  /**
   * @param {import('./schema.js').Schema} schema
   * @param {{config: object, page?: object, pageKeys?: object, writeUrl?: (query: string) => void}} o
   *   `config`: the control values to start from (the server's reading of the link when it gave one);
   *   `pageKeys`: the page's own link keys, as the server describes them (`page_keys`)
   */
  constructor(schema, { config, page = {}, pageKeys = {}, writeUrl = () => {} }) {
    this.schema = schema;
    this.pageKeys = pageKeys;
    this.config = { ...schema.defaults(), ...config };
    this.page = { ...emptyPage(pageKeys), ...page };
    this.writeUrl = writeUrl;
    this.listeners = [];
    this.seq = 0; // requests sent so far; each result carries its request's number
    this.request = null; // the newest request sent: {seq, kind: 'run'|'train', config, key, lag}
    this.view = { status: "idle", incoming: null, shown: null };
    this.training = { status: "none" };
    this.wanted = false; // latest-wins: a slide arrived while a trace was in flight
    this.inFlight = null; // the trace request in flight: {requestKey, lag}
    // The user's own files: {status, name, size, echoed (the server's *_loaded frame), message} or null.
    this.uploads = { model: null, series: null };
    this.fileValues = new FileValues(schema); // what an uploaded model fixes, and the link's values it replaced
    this.syncUrl();
  }

  /** From the page's own link (the boot JSON's `config` is the server's reading of it, work cap applied). */
  static fromLocation(schema, boot = {}) {
    // A static copy's page has no query of its own until the page writes one: the export gives the link.
    const pageKeys = boot.page_keys || {};
    const parsed = parseLink(schema, pageKeys, location.search || boot.search || "", boot.views || []);
    const state = new PageState(schema, {
      config: boot.config || parsed.config, page: parsed.page, pageKeys,
      writeUrl: addressBar(history),
    });
    // The server read (and noticed) the model keys already; the page's own keys are read only here.
    state.linkNotices = boot.config ? parsed.notices.filter((n) => n.field in pageKeys) : parsed.notices;
    // Each task's description and whether it can be learned, and the views a link's `view` may open (GET /api/config).
    Object.assign(state, { tasks: boot.tasks || {}, views: boot.views || [] });
    return state;
  }

  /** `fn(change)` on every change; change.type is 'values' | 'page' | 'view' | 'training' | 'uploads'. */
  listen(fn) {
    this.listeners.push(fn);
    return () => (this.listeners = this.listeners.filter((g) => g !== fn));
  }

  emit(change) {
    for (const fn of this.listeners) fn(change, this);
  }

  syncUrl(how = "commit") {
    this.writeUrl(this.query, how);
  }

  get query() {
    return formatLink(this.schema, this.pageKeys, this.fileValues.linked(this.config), this.page);
  }

  // -- control values -----------------------------------------------------------------------------------

  /**
   * Change control values (each checked against the table; a bad one throws naming its key).
   * `how`: 'slide' (a drag in progress) or 'commit'.  Returns the names that changed.
   */
  set(values, how = "commit") {
    const changed = [];
    for (const [k, v] of Object.entries(values)) {
      const value = this.schema.check(k, v);
      if (this.config[k] !== value) {
        this.config[k] = value;
        changed.push(k);
      }
    }
    // A slide's end (its value set already) writes the link the slide's address bar left waiting.
    if (!changed.length) return how === "slide" ? changed : (this.syncUrl(), changed);
    this.syncUrl(how);
    // The server drops a training whose setting moved: the request for the new one supersedes it.
    const stoppedTraining = this.stopTraining("setting");
    this.emit({ type: "values", changed, how, stoppedTraining });
    return changed;
  }

  setPage(key, value) {
    if (!(key in this.page)) throw new Error(`unknown page key '${key}'`);
    if (JSON.stringify(this.page[key]) === JSON.stringify(value)) return;
    this.page[key] = value;
    this.syncUrl();
    this.emit({ type: "page", key });
  }

  // -- the lag map: computed only while its view is open -------------------------------------------------

  /** Whether requests carry the lag map: its view is open (the link says view=lag). */
  get wantsLag() {
    return this.page.view === "lag";
  }

  /** Open or close the lag map's view (the link's `view`); a page without the key has no such view. */
  setLagView(open) {
    if (!("view" in this.page) || this.wantsLag === open) return;
    this.setPage("view", open ? "lag" : null);
  }

  /**
   * Whether opening the view calls for a trace now: not while a training runs (a trace request would end it),
   * nor over a trained model's views (the map of the trained model comes with the next training).
   */
  lagDue() {
    return this.wantsLag && this.training.status !== "training" && !this.view.shown?.trained;
  }

  /** Whether the views' result carries the lag map. */
  showsLag() {
    return !!this.view.shown?.lag;
  }

  /** Whether a change of these keys needs a new trace (not only Train's keys). */
  needsTrace(names) {
    return names.some((n) => !this.schema.trainingOnly(n));
  }

  traceKey(config = this.config) {
    return this.schema.settingKey(config, "trace");
  }

  /** What a request depends on besides the config: the active uploads' hashes ("" when none). */
  uploadKey() {
    return UPLOAD_KINDS.filter((k) => this.uploadActive(k)).map((k) => `${k}:${this.uploads[k].echoed.sha256}`).join(" ");
  }

  /** The key of a trace request: its setting and its uploads. */
  requestKey(config = this.config) {
    const uploads = this.uploadKey();
    return uploads ? `${this.traceKey(config)} with ${uploads}` : this.traceKey(config);
  }

  trainKey(config = this.config) {
    return this.schema.settingKey(config, "training");
  }

  // -- the trace requests: latest wins ------------------------------------------------------------------

  /**
   * Whether to send a trace request for the current values now: returns the config to send, or null.
   * A slide while a trace is in flight waits for it to be painted (traceSettled), so requests pipeline
   * one behind the other and the newest setting always goes next; anything else supersedes at once.
   */
  requestTrace(how = "commit", force = false) {
    const key = this.requestKey();
    const lag = this.wantsLag;
    // A result with the map answers a request without it too, not the other way round.
    const answers = (r) => !!r && r.requestKey === key && (r.lag || !lag);
    const shown = this.view.shown;
    if (!force && answers(this.inFlight)) return null;
    if (!force && !this.inFlight && answers(shown) && !shown.trained && this.view.status === "shown") return null;
    if (this.inFlight && how === "slide") {
      this.wanted = true;
      return null;
    }
    this.wanted = false;
    this.inFlight = { requestKey: key, lag };
    return this.sent("run", this.config);
  }

  /** The trace in flight is painted, refused or cancelled: the next one, if a slide is waiting (else null). */
  traceSettled() {
    this.inFlight = null;
    if (!this.wanted) return null;
    this.wanted = false;
    return this.requestTrace("commit");
  }

  /** A request leaves (the glue sends it): returns its config. */
  sent(kind, config) {
    this.request = {
      seq: ++this.seq, kind, config: { ...config }, key: this.traceKey(config), at: Date.now(), queuedAt: null,
      uploads: this.uploadKey(), requestKey: this.requestKey(config), lag: this.wantsLag,
    };
    if (kind === "run") {
      this.view.status = "computing";
      this.view.incoming = null;
    }
    this.emit({ type: "view" });
    return { ...config };
  }

  /** The server says the newest request waits for a computation slot, at `position` (1 = next). */
  queued(position) {
    if (!this.request) return;
    this.request.queuedAt = position;
    this.emit({ type: "view" });
  }

  /** The server's estimate, in seconds, of the newest request's computation (its `computing` frame). */
  computing(seconds) {
    if (!this.request) return;
    Object.assign(this.request, { estimate: seconds, estimateAt: Date.now() });
    this.emit({ type: "view" });
  }

  /** The start frame of the newest request's trace: what it will show, tagged with its setting. */
  traceStarted(run) {
    const r = this.request;
    const t = this.training;
    const trained = r && r.kind === "train" && (t.status === "trained" || t.status === "diverged")
      ? { seq: r.seq, steps: t.steps, outcome: t.status, divergedAt: t.divergedAt ?? null } : null;
    this.view.incoming = { run, seq: r ? r.seq : 0, config: r ? r.config : { ...this.config }, key: r ? r.key : this.traceKey(),
      uploads: r ? r.uploads : this.uploadKey(), requestKey: r ? r.requestKey : this.requestKey(), lag: r ? r.lag : false,
      trained };
    if (r) r.queuedAt = null;
    this.view.status = "computing";
    this.emit({ type: "view" });
  }

  /** The incoming trace is complete: the views show it now. */
  traceDone(run) {
    const inc = this.view.incoming;
    if (!inc || inc.run !== run) return;
    this.view.shown = inc;
    this.view.incoming = null;
    this.view.status = "shown";
    this.emit({ type: "view" });
  }

  /** A trace request failed (the server refused the setting): the next request goes out even for the shown setting. */
  traceFailed() {
    this.view.status = "failed";
    this.view.incoming = null;
    this.emit({ type: "view" });
  }

  /** Whether the views show a result of the current setting (trace keys only). */
  showsCurrent() {
    return !!this.view.shown && this.view.shown.requestKey === this.requestKey();
  }

  // -- uploads: the user's own model and series ---------------------------------------------------------

  uploadActive(kind) {
    const u = this.uploads[kind];
    return !!u && (u.status === "active" || u.status === "resending");
  }

  /** The kinds with an active upload, model first. */
  activeUploads() {
    return UPLOAD_KINDS.filter((k) => this.uploadActive(k));
  }

  /** A file of `kind` leaves for the server: `{name, size}` (bytes).  The active one stays until it is answered. */
  uploadSent(kind, { name, size }) {
    this.checkKind(kind);
    const before = this.uploadActive(kind) ? this.uploads[kind] : null;
    this.uploads[kind] = { status: "sending", name, size, echoed: null, message: "", before };
    this.emit({ type: "uploads", kind, changed: false });
  }

  /**
   * The server's `model_loaded` / `series_loaded`.  Returns whether the upload in use changed (another file,
   * or none before): then the current setting's trace is due again.  A resumed or re-sent upload is the same.
   */
  uploadLoaded(kind, frame) {
    this.checkKind(kind);
    const u = this.uploads[kind];
    const was = u && (u.status === "sending" ? u.before : u);
    const changed = !was || !was.echoed || was.echoed.sha256 !== frame.sha256;
    const name = u && u.name ? u.name : frame.name || kind;
    this.uploads[kind] = { status: "active", name, size: frame.bytes, echoed: frame, message: "" };
    // The controls follow the file (what it fixes, every run uses); as for a moved setting, its request ends a training.
    const fixed = this.fileValues.take(this.config, frame.fixes);
    const stoppedTraining = (changed || fixed.length > 0) && this.stopTraining("upload");
    if (fixed.length) this.emit({ type: "values", changed: fixed, how: "commit", stoppedTraining });
    this.emit({ type: "uploads", kind, changed, stoppedTraining });
    return changed;
  }

  /** The file that fixed some values is gone: the link's values are back (a 'values' change). */
  releaseFileValues() {
    const changed = this.fileValues.release(this.config);
    if (changed.length) this.emit({ type: "values", changed, how: "commit", stoppedTraining: false });
  }

  /** Whether the active uploaded model fixes `key` (its cell and shape): its control then shows the file's value. */
  fixedByUpload(key) {
    return this.uploadActive("model") && key in (this.uploads.model.echoed?.fixes || {});
  }

  /** The file was refused: what was active before stays (the server keeps it), or none. */
  uploadRefused(kind, message) {
    this.checkKind(kind);
    const u = this.uploads[kind];
    const kept = !u ? null : u.status === "sending" ? u.before : u.status === "active" ? u : null;
    this.uploads[kind] = kept ? { ...kept, message } : null;
    const changed = !!u && u.status === "resending"; // the file in use is gone
    const stoppedTraining = changed && this.stopTraining("upload");
    if (kind === "model" && !kept) this.releaseFileValues();
    this.emit({ type: "uploads", kind, changed, stoppedTraining });
    return message;
  }

  /** On a reconnect the server no longer had the upload: the frame source sends the file again. */
  uploadExpired(kind) {
    this.checkKind(kind);
    if (!this.uploads[kind]) return;
    this.uploads[kind] = { ...this.uploads[kind], status: "resending" };
    this.emit({ type: "uploads", kind, changed: false });
  }

  uploadCleared(kind) {
    this.checkKind(kind);
    const changed = this.uploadActive(kind);
    this.uploads[kind] = null;
    const stoppedTraining = changed && this.stopTraining("upload");
    if (kind === "model") this.releaseFileValues();
    this.emit({ type: "uploads", kind, changed, stoppedTraining });
    return changed;
  }

  checkKind(kind) {
    if (!UPLOAD_KINDS.includes(kind)) throw new Error(`upload kind must be model or series; got '${kind}'`);
  }

  // -- training -----------------------------------------------------------------------------------------

  /** Train was pressed: returns the config to train, or null when a training is already running. */
  startTraining() {
    if (this.training.status === "training") return null;
    this.inFlight = null; // the server cancels the trace in flight for the train request
    this.wanted = false;
    const config = this.sent("train", this.config);
    this.training = { status: "training", seq: this.request.seq, config, key: this.trainKey(config), uploads: this.uploadKey(),
      steps: 0, total: config.steps };
    this.emit({ type: "training" });
    return config;
  }

  trainProgress(steps) {
    if (this.training.status !== "training") return;
    this.training.steps = steps;
  }

  /** train_done: trained (or diverged at step k); the trained model's trace follows. */
  trainDone({ steps_done: steps, diverged_at: divergedAt = null, final_loss: finalLoss = null, message = "" }) {
    if (this.training.status !== "training") return;
    Object.assign(this.training, { status: divergedAt == null ? "trained" : "diverged", steps, divergedAt, finalLoss, message });
    this.emit({ type: "training" });
  }

  /** Stop pressed (reason 'stop'), a setting moved (reason 'setting') or the uploaded files changed ('upload'). */
  stopTraining(reason = "stop") {
    if (this.training.status !== "training") return false;
    Object.assign(this.training, { status: "stopped", reason });
    this.emit({ type: "training" });
    return true;
  }

  trainRefused(message) {
    if (this.training.status !== "training") return;
    Object.assign(this.training, { status: "refused", message });
    this.emit({ type: "training" });
  }

  /** Whether the training on show trained exactly the current setting (every applicable key) on the files now loaded. */
  trainingCurrent() {
    return this.training.status !== "none" && this.training.key === this.trainKey() && !this.trainingUploadsDiffer();
  }

  /** Whether the training on show used other uploaded files (or none) than are loaded now. */
  trainingUploadsDiffer() {
    return this.training.status !== "none" && (this.training.uploads ?? "") !== this.uploadKey();
  }

  /** What the views show, in words: "the untrained model", "the model trained 300 steps". */
  shownText() {
    const s = this.view.shown;
    if (!s) return "nothing yet";
    if (!s.trained) return "the untrained model";
    if (s.trained.outcome === "diverged") return `the model as it was before training diverged at step ${s.trained.divergedAt}`;
    return `the model trained ${s.trained.steps} steps`;
  }
}
