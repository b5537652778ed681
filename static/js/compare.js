// Compare mode: the page's settings (A) against up to two alternatives (B, C)
// that change one or more keys, each run on its own frame source so they stream in
// parallel.  The link's `cmp_b=cell:lstm&cmp_c=cell:gru,clip:norm` belongs to the page
// state, which reads and writes it.  The batch depends only on the keys the config table
// marks as affecting the data, so alternatives that keep those see A's very batch.

import { compareCSV, compareJSON } from "./compare_export.js";
import { SLOTS, buildForm, renderChips, valueEditor } from "./compare_form.js";
import { TOP, pickChoices, pickFromValue, pickValue, pickWords } from "./compare_pick.js";
import { FrameDispatcher } from "./dispatch.js";
import { setText } from "./dom.js";
import { baseName, downloadText, settingWords } from "./export.js";
import { SocketSource } from "./frames.js";
import { keysOfKind } from "./link.js";
import { attentionOf } from "./view_attention.js";
import { COMPARE_COLOURS, clippingNote, drawCompareAlignment, drawCompareLag, drawCompareLoss, drawCompareNorms,
  fillCompareTable } from "./view_compare.js";

const REDRAW_MS = 100;

export class ComparePanel {
  /**
   * @param {HTMLElement} root  the #compare section
   * @param {object} o
   * @param {import('./state.js').PageState} o.state
   * @param {Record<string, import('./charts.js').Chart>} o.charts  by element id
   * @param {HTMLButtonElement} o.toggle  the button that shows and hides the section
   * @param {(notices: Array<{field: string|null, message: string}>, source?: string) => void} o.notify  shows notices
   * @param {{train: () => void, stop: () => void}} o.actions  the page's Train and Stop (A's, then B's and C's)
   */
  constructor(root, { state, charts, toggle, notify, actions }) {
    Object.assign(this, { root, state, toggle, notify, actions });
    this.schema = state.schema;
    this.keys = keysOfKind(state.pageKeys, "pairs"); // the link's keys of B and C, in order (cmp_b, cmp_c)
    this.chartNorms = charts["chart-compare-norms"];
    this.chartLoss = charts["chart-compare-loss"];
    this.chartLag = charts["chart-compare-lag"];
    this.lagView = root.querySelector("#compare-view-lag");
    this.chartAlignment = charts["chart-compare-alignment"];
    this.alignmentView = root.querySelector("#compare-view-alignment");
    this.table = root.querySelector("#compare-table");
    this.chips = root.querySelector("#compare-chips");
    this.form = root.querySelector("#compare-form");
    this.title = root.querySelector("#compare-norms-title");
    this.base = null; // A's config, as the page's controls say
    this.alts = []; // [{pairs}], B then C
    this.entries = { A: { name: "A", trace: null, run: null, error: null } }; // name -> what arrived for it
    this.sockets = []; // one per alternative slot, opened on first use
    this.primaryTraining = null; // the TrainingPanel, whose run is A's
    this.timer = 0;
    // B and C run on sockets of their own, without the page's upload: the section says so while one is active.
    this.uploadNote = root.querySelector("#compare-upload-note");
    state.listen((change) => change.type === "uploads" && this.sayUploads());
    // The lag curves come with the lag map's view: opened, the alternatives traced without the map are traced again.
    state.listen((change) => change.type === "page" && change.key === "view" && this.lagOpened());
    root.querySelector("#compare-lag-open").addEventListener("click", () => state.setLagView(true));
    this.pickSelect = root.querySelector("#compare-pick");
    this.pickSelect.addEventListener("change", () => this.setPick(pickFromValue(this.pickSelect.value)));
    root.querySelector("#compare-csv").addEventListener("click", () => this.download("csv"));
    root.querySelector("#compare-json").addEventListener("click", () => this.download("json"));
    this.readLink();
    buildForm(this);
    toggle.addEventListener("click", () => this.show(this.root.hidden));
    this.show(this.alts.length > 0);
  }

  get active() {
    return this.alts.length > 0;
  }

  /** cmp_b / cmp_c as the page state read them (pairs it could not read were dropped with a notice). */
  readLink() {
    for (const key of this.keys) if (this.state.page[key].length) this.alts.push({ pairs: this.state.page[key] });
    this.pick = this.state.page.cmp_show ?? TOP; // the layer and direction the views show
  }

  /** Show layer and direction `pick` of every setting; the link's cmp_show follows. */
  setPick(pick) {
    this.pick = pick;
    this.state.setPage("cmp_show", pickValue(pick) === pickValue(TOP) ? null : pick);
    this.redraw(true);
  }

  /** Every setting's numbers as CSV or JSON ("csv" | "json"), A's file name with "-compare". */
  download(kind) {
    const rows = this.rows().filter((r) => r.trace && r.trace.complete);
    if (!rows.length) return;
    const name = `${baseName(this.base)}-compare`;
    if (kind === "csv") downloadText(`${name}.csv`, compareCSV(rows), "text/csv");
    else downloadText(`${name}.json`, compareJSON(rows, this.pick), "application/json");
  }

  show(on) {
    this.root.hidden = !on;
    this.toggle.setAttribute("aria-expanded", String(on));
    this.toggle.classList.toggle("on", on);
    if (on) this.redraw(true);
  }

  sayUploads() {
    const kinds = this.state.activeUploads();
    const what = kinds.length === 2 ? "model and series apply" : `${kinds[0]} applies`;
    this.uploadNote.hidden = !kinds.length;
    this.uploadNote.textContent = kinds.length ? `Your uploaded ${what} to A only: B and C run the configured ` +
      "model on the task's data, so they differ from A by more than the settings named. Clear the upload to compare " +
      "the settings alone." : "";
  }

  /** The link's cmp_b / cmp_c follow the alternatives. */
  writeLink() {
    this.keys.forEach((key, i) => this.state.setPage(key, this.alts[i] ? this.alts[i].pairs : []));
  }

  config(i) {
    return { ...this.base, ...Object.fromEntries(this.alts[i].pairs) };
  }

  /** Whether alternative i draws a different batch from A's. */
  differentData(i) {
    const c = this.config(i);
    return this.schema.keysAffecting("data").some((k) => c[k] !== this.base[k]);
  }

  /** Legend names that say what differs: "A: rnn", "B: lstm", "C: gru, clip norm". */
  labels() {
    const keys = [...new Set(this.alts.flatMap((a) => a.pairs.map(([k]) => k)))];
    // A key that does not apply to a setting (clip_at without clipping) is left out of its name.
    const name = (n, c) =>
      `${n}: ${keys.filter((k) => this.schema.applies(k, c)).map((k) => this.schema.legendText(k, c[k])).join(", ") || "this page"}`;
    const out = { A: name("A", this.base || {}) };
    this.alts.forEach((_, i) => (out[SLOTS[i]] = name(SLOTS[i], this.config(i))));
    return out;
  }

  /** A's config changed (a control moved): every alternative is rerun on top of it. */
  setBase(cfg) {
    const same = this.base && JSON.stringify(cfg) === JSON.stringify(this.base);
    const first = !this.base;
    this.base = { ...cfg };
    if (first) valueEditor(this); // offers a value other than A's
    if (same) return renderChips(this);
    // The page's socket brings A's new trace; training of the old settings is over.
    Object.assign(this.entries.A, { trace: null, run: null });
    this.runAlternatives();
    renderChips(this);
  }

  /** What each alternative's requests carry besides its config: the lag map while its view is open. */
  get options() {
    return { lag: this.state.wantsLag };
  }

  /** Alternative i's trace, asked for afresh (a new entry: what it showed before is gone). */
  rerun(i) {
    this.entries[SLOTS[i]] = this.slotEntry(SLOTS[i]);
    this.socket(i).run(this.config(i), this.options);
  }

  runAlternatives() {
    if (!this.base) return;
    this.alts.forEach((_, i) => this.rerun(i));
    for (const slot of SLOTS.slice(this.alts.length)) delete this.entries[slot];
    this.stopRemoved();
    this.redraw();
  }

  /** Sockets of slots that no longer exist stop whatever they still compute. */
  stopRemoved() {
    for (let i = this.alts.length; i < this.sockets.length; i++) this.sockets[i]?.stop();
  }

  /** Alternative `name`'s trace again when training, which superseded it, ended without bringing one. */
  retrace(name) {
    const i = SLOTS.indexOf(name);
    const e = this.entries[name];
    if (i < 0 || i >= this.alts.length || (e.trace && e.trace.complete)) return;
    this.socket(i).run(this.config(i), this.options);
  }

  /** The lag map's view opened: alternatives whose trace lacks the map (and that do not train) are traced again. */
  lagOpened() {
    this.redraw(true);
    if (!this.state.wantsLag) return;
    this.alts.forEach((_, i) => {
      const e = this.entries[SLOTS[i]];
      if (!e || e.trainRequested || (e.trace && e.trace.lag) || e.trace?.trained) return;
      this.rerun(i);
    });
  }

  socket(i) {
    if (!this.sockets[i]) {
      let dropped = false;
      this.sockets[i] = new SocketSource((f, p) => this.entries[SLOTS[i]]?.dispatcher.accept(f, p), (s) => {
        if (s === "closed") dropped = true;
        // A fresh socket after a drop: ask again for what this slot shows.
        if (s === "open" && dropped && i < this.alts.length) {
          dropped = false;
          this.rerun(i);
        }
      });
    }
    return this.sockets[i];
  }

  /** A's trace, from the page's own socket, once it is complete. */
  primary(trace) {
    this.entries.A.trace = trace;
    this.redraw();
  }

  /** The page's training panel: its run is A's training. */
  follow(panel) {
    this.primaryTraining = panel;
    const button = this.root.querySelector("#compare-train");
    // The section's own Train / Stop, so nobody has to scroll down to the training panel.
    button.addEventListener("click", () => (panel.active ? this.actions.stop() : this.actions.train()));
    panel.listen(() => {
      this.entries.A.run = panel.run;
      setText(button, panel.active ? "Stop" : "Train all");
      this.redraw();
    });
  }

  /** Train every alternative on its socket (A trains on the page's socket). */
  train(cfg) {
    this.base = { ...cfg };
    this.alts.forEach((_, i) => {
      const e = (this.entries[SLOTS[i]] ||= this.slotEntry(SLOTS[i]));
      e.dispatcher.clearTraining();
      e.trainRequested = true;
      this.socket(i).train(this.config(i), this.options);
    });
    this.redraw();
  }

  stop() {
    this.alts.forEach((_, i) => {
      const e = this.entries[SLOTS[i]];
      if (e.run) e.run.stop();
      if (e.trainRequested) this.socket(i).stop();
      e.trainRequested = false;
    });
    this.stopRemoved();
    this.redraw();
  }

  /**
   * What arrives for alternative `name`: its own frame dispatcher (its socket's frames: the trace, and its training
   * while one is asked for) and what the section says about it.  `trace` and `run` are the dispatcher's.
   */
  slotEntry(name) {
    const redraw = () => this.redraw();
    const entry = {
      name, error: null, trainRequested: false,
      get trace() { return this.dispatcher.trace; },
      get run() { return this.dispatcher.training; },
    };
    entry.dispatcher = new FrameDispatcher({
      start: () => {
        entry.error = null;
        redraw();
      },
      done: redraw,
      error: (frame) => {
        const refusedTrain = entry.trainRequested;
        entry.error = frame.message;
        entry.trainRequested = false;
        this.notify([{ field: frame.field, message: `Compare ${name}: ${frame.message}` }], "compare-run");
        if (refusedTrain) this.retrace(name);
        redraw();
      },
      trainStart: redraw,
      trainStep: redraw,
      trainDone: () => {
        entry.trainRequested = false;
        redraw();
      },
      cancelled: () => {
        entry.trainRequested = false;
        this.retrace(name);
        redraw();
      },
    }, { trains: () => entry.trainRequested });
    return entry;
  }

  /** Repaint at most every REDRAW_MS, on an animation frame; `now` skips the wait. */
  redraw(now = false) {
    if (now) {
      clearTimeout(this.timer);
      this.timer = 0;
      this.paint();
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => requestAnimationFrame(() => {
      this.timer = 0;
      this.paint();
    }), REDRAW_MS);
  }

  /** One row per setting, A first: its name, legend, colour, what arrived for it and whether its data is A's. */
  rows() {
    const labels = this.labels();
    const names = ["A", ...SLOTS.slice(0, this.alts.length)];
    return names.map((n, i) => ({ name: n, label: labels[n], colour: COMPARE_COLOURS[i], ...this.entries[n],
      differentData: n !== "A" && this.differentData(i - 1) }));
  }

  paint() {
    if (this.root.hidden || !this.base) return;
    const rows = this.rows();
    const names = rows.map((r) => r.name);
    const complete = rows.filter((r) => r.trace && r.trace.complete);
    // Charts are drawn only while they are displayed: Plotly sizes a hidden chart wrongly.
    this.root.classList.toggle("has-alternatives", this.active);
    fillCompareTable(this.table, rows, this.schema);
    if (!this.active) return;
    this.paintNotes(rows, complete);
    drawCompareNorms(this.chartNorms, complete, this.pick);
    const trained = complete.length > 0 && complete.every((r) => r.trace.trained);
    this.title.dataset.trained = String(trained);
    drawCompareLoss(this.chartLoss, rows.filter((r) => r.run && r.run.steps > 0), this.base.steps);
    this.lagView.classList.toggle("closed", !this.state.wantsLag);
    if (this.state.wantsLag) drawCompareLag(this.chartLag, complete, this.pick);
    const attending = complete.filter((r) => attentionOf(r.trace));
    this.alignmentView.hidden = attending.length === 0; // shown before drawing: Plotly sizes a hidden chart wrongly
    if (attending.length) drawCompareAlignment(this.chartAlignment, attending);
    this.lastPaint = { settings: names.length, complete: complete.length, at: performance.now() };
    window.dispatchEvent(new CustomEvent("gfl:compare-painted", { detail: this.lastPaint }));
  }

  /** The layer/direction choice, the notes on clipping and on training, and the setting a slide PNG names. */
  paintNotes(rows, complete) {
    const most = (k) => Math.max(1, ...complete.map((r) => r.trace[k]));
    const choices = pickChoices(most("L"), most("D"), this.pick);
    if (this.pickSelect.options.length !== choices.length) {
      this.pickSelect.replaceChildren(...choices.map((p) => new Option(pickWords(p), pickValue(p))));
    }
    this.pickSelect.value = pickValue(this.pick);
    this.root.querySelector("#compare-pick-words").textContent = pickWords(this.pick);
    const say = (el, text) => Object.assign(el, { hidden: !text, textContent: text || "" });
    say(this.root.querySelector("#compare-clip-note"), clippingNote(rows));
    say(this.root.querySelector("#compare-train-note"), this.trainNote());
    this.root.dataset.setting = `A: ${settingWords(this.base, this.schema)}; ` +
      rows.slice(1).map((r) => r.label).join("; ");
  }

  /** A warning when a compared setting's task cannot be learned (GET /api/config's tasks), else null. */
  trainNote() {
    const configs = [this.base, ...this.alts.map((_, i) => this.config(i))];
    const unlearnable = [...new Set(configs.map((c) => c.task))].filter((t) => this.state.tasks[t]?.learnable === false);
    if (!unlearnable.length) return null;
    const learnable = Object.keys(this.state.tasks).filter((t) => this.state.tasks[t].learnable);
    const which = unlearnable.map((t) => `the ${this.schema.choiceLabel("task", t)} task (“${this.state.tasks[t].description}”)`);
    return `Train all would train ${which.join(" and ")}, which cannot be learned: its targets ignore the inputs, so ` +
      "every loss curve stays around the baseline whatever the setting. To compare how settings learn, choose " +
      `another task: ${learnable.map((t) => this.schema.choiceLabel("task", t)).join(", ")}.`;
  }

  remove(i) {
    this.alts.splice(i, 1);
    this.changedAlternatives();
  }

  changedAlternatives() {
    this.writeLink();
    renderChips(this);
    this.runAlternatives();
    this.redraw(true);
  }
}
