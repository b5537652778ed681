// The trace views: paints the run on show at the player's cursor, each view only when what it shows has
// changed, and says in the status line what the views show when that is not the current setting
// ("computing…", "the views still show …").  Reads the page state; changes nothing in it.

import { dragPaint, layerLabel } from "./charts.js";
import { setText } from "./dom.js";
import { LagPanel } from "./lag_panel.js";
import { AttentionView } from "./view_attention.js";
import { badge, showBanner, showSummary } from "./panels.js";
import { drawGradNorms, drawLayerMap } from "./view_norms.js";
import { COMPUTING_MS, ComputingStatus, secondsText } from "./progress.js";
import { SeriesView } from "./view_series.js";
import { drawEigenvalues } from "./view_theory.js";
import { drawGates, drawGradUnits, drawHidden } from "./view_units.js";

// A stream that stalls, or one that takes long, still gets a progress paint now and then.
const STALL_MS = 250;
const PROGRESS_MS = 2000;

// The figure of each view that can wait for the next frame.
const VIEW_OF = { norms: "#view-grad-norm", eigen: "#view-eigen", hidden: "#view-hidden", grad: "#view-grad-units",
  gates: "#view-gates", layers: "#view-layers", lag: "#view-lag", attention: "#view-attention" };

/** Whether `el` lies wholly outside the window (an element without a box counts as in sight). */
function offScreen(el) {
  if (!el) return false;
  const r = el.getBoundingClientRect();
  return (r.width > 0 || r.height > 0) && (r.bottom <= 0 || r.top >= innerHeight || r.right <= 0 || r.left >= innerWidth);
}

/**
 * Which views are in the window, kept by an IntersectionObserver (no layout read while painting); `shown(name)`
 * calls `onSight(name)` when a view scrolls in.
 */
class Sight {
  constructor(doc, onSight) {
    this.in = new Map(); // view name -> in the window
    if (typeof IntersectionObserver !== "function") return;
    const names = new Map();
    const io = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const name = names.get(e.target);
        const was = this.in.get(name);
        this.in.set(name, e.isIntersecting);
        if (e.isIntersecting && was === false) onSight(name);
      }
    });
    for (const [name, sel] of Object.entries(VIEW_OF)) {
      const el = doc.querySelector(sel);
      if (!el) continue;
      names.set(el, name);
      io.observe(el);
    }
  }

  /** Whether view `name` is out of the window (unknown yet: measured). */
  away(name, el) {
    const known = this.in.get(name);
    return known === undefined ? offScreen(el) : !known;
  }
}

export class TraceViews {
  /**
   * @param {Document} doc
   * @param {Record<string, import('./charts.js').Chart>} charts  by element id
   * @param {import('./state.js').PageState} state
   * @param {{painted: (detail: object) => void, invalidate: () => void}} hooks
   *   `painted` after every paint; `invalidate` asks the player for a repaint
   */
  constructor(doc, charts, state, hooks) {
    this.$ = (sel) => doc.querySelector(sel);
    this.charts = charts;
    this.state = state;
    this.hooks = hooks;
    this.trace = null;
    this.held = false; // a lesson's predict moment: eigenvalues and summary figures wait for the backward sweep
    this.selected = { l: 0, d: 0 };
    this.lastPainted = {};
    this.progressAt = 0;
    this.wakeTimer = 0;
    this.statusTimer = 0;
    this.followUp = false; // this render draws the views that the one before left for later
    this.followUpTimer = 0;
    this.paintedWhole = null; // the last run every view holds
    // While a slider is dragged the views out of the window are left as they are: each is painted when it scrolls
    // in, or when the drag ends (a control's change event), so a drag's repaints cost only the views in sight.
    // A drag is a slider's `input` events until its `change` (the release; a key press sends both at once).
    this.sliding = false;
    this.sight = new Sight(doc, () => hooks.invalidate());
    const inControls = (e) => e.target.type === "range" && !!e.target.closest?.("#controls");
    // During a drag the charts in sight take their new data alone (charts.js dragPaint), Plotly's axes and colour
    // bars left as they are; when it ends Plotly draws each chart whole.
    doc.addEventListener("input", (e) => {
      if (!inControls(e) || this.sliding) return;
      this.sliding = true;
      dragPaint(true);
    });
    doc.addEventListener("change", (e) => {
      if (!this.sliding || !inControls(e)) return;
      this.sliding = false;
      dragPaint(false);
      hooks.invalidate();
      this.sayStatus();
    });
    // Show's layer and direction belong to the link (`show`; none for the bottom layer, forward): the select asks
    // the page state, and the views follow the state, whoever changed it (the select, a room's frame).
    this.layerSelect = this.$("#view-layer");
    this.layerSelect.addEventListener("change", () => {
      const [l, d] = this.layerSelect.value.split(",").map(Number);
      state.setPage("show", l === 0 && d === 0 ? null : { layer: l, d });
    });
    state.listen((change) => {
      if (change.type === "page" && change.key === "show" && this.trace) this.pickLayer(this.trace);
    });
    // The status above the banner: what is computing, how far it is, and what the dimmed views show meanwhile.
    this.status = new ComputingStatus(doc, this.$("#banner"), [this.$(".views"), this.$("#summary")].filter(Boolean));
    state.listen((change) => {
      if (change.type === "view" || change.type === "values") this.sayStatus();
    });
    // An uploaded series and the windows of the trace on show (drawn at once: the windows come with the start).
    this.series = new SeriesView(this.$("#view-series"), charts["chart-series"], this.$("#note-series"), state);
    // The lag map: where each step's gradient comes from (asked for while its view is open).
    this.lag = new LagPanel(doc, charts, state, () => hooks.invalidate());
    // Attention: the alignment and the encoder's gradient in two parts (an encoder-decoder with attention only).
    this.attention = new AttentionView(doc, charts, () => hooks.invalidate());
  }

  /** A new run's start frame: its views start empty. */
  load(trace, held) {
    this.trace = trace;
    this.held = held;
    this.lastPainted = {};
    this.progressAt = trace.createdAt;
    this.layerOptions(trace);
    badge(this.$("#model-badge"), this.state.view.incoming?.trained);
    showSummary(this.$("#summary"), trace, this.state.schema, held);
    showBanner(this.$("#banner"), null);
    this.series.setTrace(trace);
  }

  /**
   * Paint now whatever the run on show still lacks (the off-screen views left for the next frame) when it has
   * arrived whole and is shown whole (`cursor` at its end): called before the next run replaces it, so every
   * run a drag receives whole is also painted whole.
   */
  finish(cursor) {
    const tr = this.trace;
    if (!tr || !tr.complete || cursor < 2 * tr.T || this.paintedWhole === tr) return;
    clearTimeout(this.followUpTimer); // its frame would otherwise draw the next run's off-screen views at once
    this.followUpTimer = 0;
    this.followUp = true;
    this.render(cursor);
  }

  layerOptions(tr) {
    const opts = [];
    for (let l = 0; l < tr.L; l++) for (let d = 0; d < tr.D; d++) opts.push(new Option(layerLabel(l, d, tr.D), `${l},${d}`));
    this.layerSelect.replaceChildren(...opts);
    this.layerSelect.disabled = opts.length < 2;
    this.pickLayer(tr);
    this.$("#view-gates").classList.toggle("empty", tr.gateNames.length === 0);
    this.$("#view-layers").classList.toggle("empty", tr.L * tr.D < 2);
    this.$("#view-attention").classList.toggle("empty", !this.attention.applies(tr));
  }

  /**
   * Show the link's layer and direction (`show`) of run `tr`: its top layer when the link says 'top' (or no layer
   * number), the bottom layer, forward, when it says nothing or names a layer or direction `tr` does not have.
   */
  pickLayer(tr) {
    const p = this.state.page.show;
    let l = p ? (p.layer ?? tr.L - 1) : 0;
    let d = p ? p.d : 0;
    if (l >= tr.L || d >= tr.D) [l, d] = [0, 0];
    const changed = l !== this.selected.l || d !== this.selected.d;
    this.selected = { l, d };
    this.layerSelect.value = `${l},${d}`;
    if (changed) {
      this.onLayer?.(l, d);
      this.hooks.invalidate();
    }
  }

  paintIf(name, key, paint) {
    const k = key.join("|");
    if (this.lastPainted[name] === k) return;
    this.lastPainted[name] = k;
    paint();
  }

  /**
   * Paint the views for a cursor in 0..2T.  Showing a run whole (instant speed, a slider drag) paints
   * each view once its own data has arrived: the forward views while the backward frames still stream.
   */
  render(cursor) {
    const trace = this.trace;
    if (!trace) return;
    const { T } = trace;
    const charts = this.charts;
    const fwd = Math.min(cursor, T, trace.forwardCount);
    const bwd = Math.min(Math.max(0, cursor - T), trace.backwardCount);
    const now = performance.now();
    const streaming = cursor >= 2 * T && !trace.complete;
    const progress = streaming && (now - trace.lastFrameAt > STALL_MS || now - this.progressAt > PROGRESS_MS);
    if (progress) this.progressAt = now;
    if (streaming) {
      clearTimeout(this.wakeTimer);
      this.wakeTimer = setTimeout(() => this.hooks.invalidate(), STALL_MS + 10);
    }
    const ready = (complete) => !streaming || progress || complete;
    const { l, d } = this.selected;
    const done = trace.complete ? 1 : 0;
    // Views in sight first: a view's first drawing of a run, when it is off screen, waits for the next frame
    // (a first drawing makes Plotly build the chart's axes, the costly part), so the views in sight are
    // shown that much sooner.  The run is painted `complete` once every view holds it.
    const followUp = this.followUp;
    this.followUp = false;
    // Measured before anything is drawn: one layout for all of them, not one forced after each drawing.
    const outside = Object.keys(VIEW_OF).filter((n) => this.sight.away(n, this.$(VIEW_OF[n])));
    const away = followUp ? [] : outside.filter((n) => this.lastPainted[n] === undefined);
    const later = [];
    const skipped = []; // out of the window during a drag: painted when it scrolls in or the drag ends
    const paint = (name, key, draw) => {
      if (this.sliding && outside.includes(name)) skipped.push(name);
      else if (away.includes(name)) later.push(name);
      else this.paintIf(name, key, draw);
    };
    if (ready(trace.complete)) {
      paint("norms", [trace.run, bwd, trace.backwardCount, done, fwd === T, this.lag.rowKey(trace, l, d)], () => {
        const row = this.lag.mainRow(trace, l, d);
        this.$("#note-grad-norm").textContent = drawGradNorms(charts["chart-grad-norm"], trace, bwd, row);
      });
    }
    const waits = this.held && bwd === 0;
    this.paintIf("summary", [trace.run, done, waits], () => showSummary(this.$("#summary"), trace, this.state.schema, waits));
    this.$("#view-eigen").classList.toggle("empty", waits);
    if (!waits) paint("eigen", [trace.run], () => drawEigenvalues(charts["chart-eigen"], trace));
    if (ready(fwd === T)) {
      paint("hidden", [trace.run, fwd, trace.forwardCount, l, d], () => drawHidden(charts["chart-hidden"], trace, l, d, fwd));
    }
    if (ready(bwd === T)) {
      paint("grad", [trace.run, bwd, trace.backwardCount, l, d], () => drawGradUnits(charts["chart-grad-units"], trace, l, d, bwd));
    }
    if (trace.gateNames.length && ready(fwd === T && bwd === T)) {
      // The gates view also carries the memory-path product, which comes with the backward frames.
      paint("gates", [trace.run, fwd, trace.forwardCount, bwd, l, d], () => drawGates(charts["chart-gates"], trace, l, d, fwd, bwd));
    }
    if (trace.L * trace.D > 1 && ready(bwd === T)) {
      paint("layers", [trace.run, bwd, trace.backwardCount], () => drawLayerMap(charts["chart-layers"], trace, bwd));
    }
    // The map is of the whole backward sweep: it shows once the sweep has been shown to the end.
    const whole = bwd === T && trace.backwardCount === T;
    paint("lag", [l, d, whole, this.lag.key(trace)], () => this.lag.paint(trace, l, d, whole));
    if (trace.complete) paint("attention", [trace.run, d, ...this.attention.key(trace)], () => this.attention.paint(trace, d));
    if (later.length && !this.followUpTimer) {
      // A task queued from this animation frame runs once the frame is on screen; the next frame draws the rest.
      this.followUpTimer = setTimeout(() => {
        this.followUpTimer = 0;
        this.followUp = true;
        this.hooks.invalidate();
      });
    }
    const tag = [this.state.view.incoming, this.state.view.shown].find((v) => v && v.run === trace.run);
    showBanner(this.$("#banner"), trace, this.state.schema, fwd, bwd, tag?.trained);
    this.phaseText(cursor, fwd, bwd);
    // `inSight`: every view in the window holds the whole run (what a drag's student sees); `complete`: every view.
    const inSight = trace.complete && fwd === T && bwd === T && !later.length;
    const complete = inSight && !skipped.length;
    if (complete) this.paintedWhole = trace;
    const shown = this.state.view.shown;
    this.hooks.painted({ run: trace.run, at: performance.now(), complete, inSight, cursor,
      trained: !!(complete && shown && shown.run === trace.run && shown.trained) });
  }

  phaseText(cursor, fwd, bwd) {
    const T = this.trace.T;
    setText(this.$("#phase"), cursor <= T
      ? (fwd === 0 ? "forward pass: about to read x_0" : `forward pass: h_t for t = 0 … ${fwd - 1} of ${T - 1}`)
      : `backward pass: ∂L/∂h_t from t = ${T - 1} back to ${T - bwd}`);
  }

  /** The status line: said only when the views do not (yet) show the current setting. */
  sayStatus() {
    clearTimeout(this.statusTimer);
    if (this.sliding) return this.sayDragging();
    const { view, schema } = this.state;
    const req = this.state.request;
    const shown = view.shown;
    let text = "";
    let progress = null;
    let dim = false;
    if (view.status === "computing" && req && req.kind === "run") {
      const waited = Date.now() - req.at;
      if (waited < COMPUTING_MS) {
        this.statusTimer = setTimeout(() => this.sayStatus(), COMPUTING_MS - waited + 5);
      } else {
        const what = schema.differences(req.config, schema.defaults(), "trace") || "the default setting";
        const estimate = req.estimate == null ? "" : ` (the server estimates ${secondsText(req.estimate)})`;
        text = `Computing the trace for ${what}${estimate}…`;
        if (req.queuedAt) text = `Waiting for the server (place ${req.queuedAt} in its queue), then computing the trace for ${what}…`;
        progress = { since: req.estimateAt ?? req.at, estimate: req.queuedAt ? null : req.estimate };
        // The views may still hold an earlier run, whole or part of it: dimmed, and said which.
        const onShow = this.trace?.config;
        if (onShow && schema.settingKey(onShow) !== req.key) {
          text += ` Until it arrives the views show ${schema.differences(onShow, req.config, "trace")} (dimmed).`;
          dim = true;
        }
      }
    } else if (shown && !this.state.showsCurrent() && !(req && req.kind === "train")) {
      // Only the uploads may differ (a file loaded or cleared since): the setting's words are then the same.
      const what = schema.differences(shown.config, this.state.config, "trace") || "a trace made with other uploaded files";
      text = `The views show ${what}, not the current setting.`;
    }
    this.status.show(text, progress, dim);
  }

  /**
   * During a drag the views follow the slider one answer behind, by design: said only once the answer is late (past
   * COMPUTING_MS), with the setting they show, and never dimming them.  Said on every move, the line came and went
   * with each answer and moved every chart under it up and down; a line kept in sight cost the big setting's moves
   * ~100 ms each (docs/performance/drag.md).  The release says the rest.
   */
  sayDragging() {
    const { schema, config, request: req } = this.state;
    const onShow = this.trace?.config;
    const waited = req ? Date.now() - req.at : 0;
    const behind = !!onShow && schema.settingKey(onShow) !== this.state.traceKey();
    if (behind && waited < COMPUTING_MS) {
      this.statusTimer = setTimeout(() => this.sayStatus(), COMPUTING_MS - waited + 5);
    }
    if (!behind || waited < COMPUTING_MS) return this.status.show("", null, false);
    const what = schema.differences(config, schema.defaults(), "trace") || "the default setting";
    this.status.show(`Computing the trace for ${what}… Until it arrives the views show ` +
      `${schema.differences(onShow, config, "trace")} while the slider moves.`, null, false);
  }

}
