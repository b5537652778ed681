// The lag map's view (#view-lag, a <details>): opening it (or a link's view=lag) asks the page state for the map, and
// closing it stops asking.  It draws the map of the run on show, or of a training's profiled step while one trained
// with the map, with its lag curve; the output step picked (in its list, or by a click on the map) is drawn over the
// main gradient chart.  It reads the page state and asks it to change; the views (views.js) call `paint`.

import { layerLabel, paintSwatches } from "./charts.js";
import { elements } from "./dom.js";
import { mapRange, rowShown, rowsNote, unionRange } from "./lag.js";
import { curveEntry, drawLagCurves, drawLagMap } from "./view_lag.js";

const FIRST_COLOUR = "#999999"; // a training's first map's curve, beside the step's

export class LagPanel {
  /**
   * @param {Document} doc
   * @param {Record<string, import('./charts.js').Chart>} charts  by element id (chart-lag-map, chart-lag-curve)
   * @param {import('./state.js').PageState} state
   * @param {() => void} invalidate  asks the views for a repaint
   */
  constructor(doc, charts, state, invalidate) {
    const $ = (sel) => doc.querySelector(sel);
    this.root = $("#view-lag");
    this.state = state;
    this.invalidate = invalidate;
    this.mapChart = charts["chart-lag-map"];
    this.curveChart = charts["chart-lag-curve"];
    Object.assign(this, elements(doc, {
      what: "#lag-what", rowSelect: "#lag-row", source: "#lag-source", stepRange: "#lag-step",
      stepText: "#lag-step-text", status: "#lag-status", mapTitle: "#lag-map-title",
    }));
    this.row = null; // the output step drawn over the main chart
    this.training = null; // the TrainingRun whose profiled steps' maps can be shown
    this.following = true; // the training's newest map is shown as it arrives
    this.switchedFor = null; // the training whose first map turned the view to the training's maps
    this.ranges = new WeakMap(); // LagMap -> {key: colour range}, so a training's maps share one scale cheaply
    this.shown = null; // the LagMap drawn now
    // A link that opens on the view (view=lag, outside a lesson, whose panel comes first) brings it into sight once drawn.
    this.bringIntoView = state.wantsLag && !state.page.lesson;
    // The legend's swatches in the heatmap's own colours for exact zeros and inf / NaN.
    paintSwatches(this.root);
    this.root.open = state.wantsLag;
    this.root.addEventListener("toggle", () => {
      state.setLagView(this.root.open);
      invalidate();
    });
    state.listen((change) => {
      if (change.type === "page" && change.key === "view" && this.root.open !== state.wantsLag) this.root.open = state.wantsLag;
      if (change.type === "view" || change.type === "training") invalidate();
    });
    this.rowSelect.addEventListener("change", () => this.pickRow(this.rowSelect.value === "" ? null : Number(this.rowSelect.value)));
    this.what.addEventListener("change", invalidate);
    this.source.addEventListener("change", invalidate);
    this.stepRange.addEventListener("input", () => {
      this.following = Number(this.stepRange.value) === this.training.lagMaps.length - 1;
      invalidate();
    });
    // A click on a cell of the map picks its output step.
    this.mapChart.on("plotly_click", ([p]) => p && !this.showsTraining() && this.pickRow(Number(p.y)));
  }

  get open() {
    return this.root.open;
  }

  /** Draw output step `s` (or none) over the main chart. */
  pickRow(s) {
    this.row = s;
    this.rowSelect.value = s === null ? "" : String(s);
    this.invalidate();
  }

  /** A training asked with the map began, or brought another profiled step's map. */
  trainingMaps(run) {
    if (this.training !== run) this.following = true;
    this.training = run;
    // A training's first map shows at once: the band growing is what the view is for while it trains.
    if (run.lagMaps.length && this.switchedFor !== run) {
      this.switchedFor = run;
      this.source.value = "training";
    }
    this.invalidate();
  }

  /** Which of the training's maps the slider picks: the newest while it follows them. */
  stepIndex() {
    const last = this.training ? this.training.lagMaps.length - 1 : -1;
    return this.following ? last : Math.min(Number(this.stepRange.value), last);
  }

  /** Whether the map shown is a training's (the source says so and the training has maps). */
  showsTraining() {
    return this.source.value === "training" && !!this.training && this.training.lagMaps.length > 0;
  }

  /** What decides the view's drawing, for the views' repaint check. */
  key(trace) {
    const t = this.training;
    return [this.open, trace.run, !!trace.lag, trace.lagError, this.what.value, this.row, this.source.value,
      t ? `${t.run}:${t.lagMaps.length}:${this.stepIndex()}` : "", this.state.view.status, this.state.training.status].join("|");
  }

  /** What decides the main chart's row: the view's output step on the trace's map, for layer l, direction d. */
  rowKey(trace, l, d) {
    return `${this.open}|${this.row}|${!!trace.lag}|${l},${d}`;
  }

  /** The picked output's own gradient over t, for the main chart's layer l, direction d; null when none is picked. */
  mainRow(trace, l, d) {
    const map = trace.lag;
    if (!this.open || this.row === null || !map) return null;
    const i = map.outputSteps.indexOf(this.row);
    if (i < 0) return null;
    const where = trace.L * trace.D > 1 ? ` (${layerLabel(l, d, trace.D)})` : "";
    return { s: this.row, y: rowShown(map.row(l, d, i), d, trace.config.tbptt || 0),
      name: `output s = ${this.row}: its own gradient, going back${where}` };
  }

  /** The map on show (for the CSV download), or null. */
  shownMap() {
    return this.shown;
  }

  /**
   * Paint the view for the run on show (`whole`: its backward sweep shown to the end), layer l, direction d.
   * Closed, it only keeps its lists current.
   */
  paint(trace, l, d, whole) {
    this.rowOptions(trace.lag);
    this.trainingControls();
    const fromTraining = this.showsTraining();
    const map = fromTraining ? this.training.lagMaps[this.stepIndex()] : whole ? trace.lag : null;
    this.say(this.statusText(trace, map, fromTraining, whole));
    this.shown = map || null;
    this.root.classList.toggle("has-map", !!map);
    if (!this.open || !map) return;
    const which = this.what.value === "x" ? "x" : "h";
    const tbptt = (fromTraining ? this.training.config : trace.config).tbptt || 0;
    const range = fromTraining ? this.sharedRange(which, l, d) : null;
    this.mapTitle.textContent = which === "x" ? "the inputs xₜ" : `the states hₜ${trace.L * trace.D > 1 ? `, ${layerLabel(l, d, trace.D)}` : ""}`;
    drawLagMap(this.mapChart, map, { which, l, d, tbptt, range, selected: fromTraining ? null : this.row,
      start: fromTraining ? null : trace.start });
    if (this.bringIntoView) {
      this.bringIntoView = false;
      this.root.scrollIntoView({ block: "start", behavior: "instant" });
    }
    // With truncated BPTT an output's gradient stops at its window's start: most zeros far back are the cut's.
    const zeros = tbptt > 0 ? "exactly 0 (past a tbptt cut, or underflow)" : undefined;
    if (!fromTraining) return drawLagCurves(this.curveChart, [curveEntry(map, l, d, { theory: trace.theory })], { zeros });
    // While training: the step's curve, and the first profiled step's beside it in grey.
    const entries = [curveEntry(map, l, d, { name: `training step ${map.step}` })];
    const first = this.training.lagMaps[0];
    if (first !== map) entries.push(curveEntry(first, l, d, { name: `training step ${first.step}`, colour: FIRST_COLOUR }));
    drawLagCurves(this.curveChart, entries, { zeros });
  }

  /** The colour range of every map of the training so far, so the band's growth reads as growth. */
  sharedRange(which, l, d) {
    const key = `${which}|${l},${d}`;
    return unionRange(this.training.lagMaps.map((m) => {
      const kept = this.ranges.get(m) || {};
      if (!(key in kept)) kept[key] = mapRange(m, which, l, d);
      this.ranges.set(m, kept);
      return kept[key];
    }));
  }

  /** What the view says above its charts. */
  statusText(trace, map, fromTraining, whole) {
    const st = this.state;
    if (!this.open) return "";
    if (fromTraining) {
      const other = st.trainingCurrent() ? "" : ` (the training of ${st.schema.differences(this.training.config, st.config) || "another setting"})`;
      return `The map at training step ${map.step} of ${this.training.total}${other}.`;
    }
    if (trace.lagError) return `The map could not be read: ${trace.lagError}`;
    if (map) {
      const outputs = (trace.start.scored_steps || []).length;
      const one = map.S === 1 ? "One output sends a gradient here, so the map has one row: it is ‖∂L/∂h_t‖ itself. " : "";
      return one + rowsNote(map.S, outputs);
    }
    if (trace.lag) return "The map appears once the gradient has travelled back: press play, or choose the speed 'instant'.";
    if (st.request && st.request.lag && (st.view.status === "computing" || st.training.status === "training")) return "Computing the map…";
    if (st.view.shown?.trained) return `These views show ${st.shownText()}, traced without the map: press Train with this view open to watch the map while it trains.`;
    if (st.training.status === "training") return "The map comes with the next training or setting: this training was started without it.";
    if (st.showsLag() && trace.complete && whole) return "This answer came without the map (a recording made without it).";
    return "";
  }

  say(text) {
    if (this.status.textContent !== text) this.status.textContent = text;
  }

  /** The output steps of the trace's map in the list; a step the new map lacks is dropped. */
  rowOptions(map) {
    const steps = map ? map.outputSteps : [];
    const key = steps.join(",");
    if (this.rowSelect.dataset.steps !== key) {
      this.rowSelect.dataset.steps = key;
      this.rowSelect.replaceChildren(new Option("none", ""), ...steps.map((s) => new Option(`s = ${s}`, String(s))));
    }
    if (map && this.row !== null && !steps.includes(this.row)) this.row = null;
    // Written only when they change: this runs on every paint of a drag, and a select's value or state written
    // after the charts were drawn forces a style and layout pass of the page each time (~25 ms a paint).
    const value = this.row === null ? "" : String(this.row);
    if (this.rowSelect.value !== value) this.rowSelect.value = value;
    if (this.rowSelect.disabled !== !map) this.rowSelect.disabled = !map;
  }

  /** The source list and the training step's slider, shown while a training brought maps. */
  trainingControls() {
    const maps = this.training ? this.training.lagMaps : [];
    const none = !maps.length;
    const option = this.source.querySelector('option[value="training"]');
    if (option.disabled !== none) option.disabled = none;
    const block = this.root.querySelector(".lag-training");
    if (block.hidden !== none) block.hidden = none;
    if (none) {
      if (this.source.value !== "trace") this.source.value = "trace";
      return;
    }
    const i = this.stepIndex();
    this.stepRange.max = String(maps.length - 1);
    this.stepRange.value = String(i);
    const at = maps[i];
    const text = `training step ${at.step}`;
    this.stepRange.disabled = !this.showsTraining();
    this.stepRange.setAttribute("aria-valuetext", text);
    if (this.stepText.textContent !== text) this.stepText.textContent = text;
  }
}
