// The training panel: Train / Stop, a progress bar with steps/s and time left,
// the live loss, gradient-norm and ‖∂L/∂h_t‖-profile views, and a banner that
// says how training ended.  train_step frames arrive far faster than a chart can
// be redrawn: the frame dispatcher collects them into a TrainingRun and the views
// are repainted on an animation frame at most about ten times a second.

import { divergenceAdvice } from "./advice.js";
import { fmtNum } from "./charts.js";
import { elements, setAttr } from "./dom.js";
import { EVALUATION_BATCH, notBetter, recentLoss } from "./outcome.js";
import { formatSeconds } from "./progress.js";
export { formatSeconds } from "./progress.js"; // where the tests have always found it
import { drawAlignment } from "./view_attention.js";
import { baselineLabel, drawGradNorm, drawLoss, drawProfile } from "./view_training.js";

// Repaint at most this often; slower when a repaint itself takes long, so the page never freezes.
const MIN_INTERVAL_MS = 100;

export class TrainingPanel {
  /**
   * The panel's words (status, banner, progress) are derived from the page state's training lifecycle
   * and re-rendered when it changes; the charts from the TrainingRun of the frames.  Train and Stop stay
   * focusable while they do not apply (aria-disabled), so focus stays on the button pressed.
   * @param {HTMLElement} root  the panel: #train, #stop, #train-status, #train-progress, #train-rate, #train-banner
   * @param {{loss: import('./charts.js').Chart, norm: import('./charts.js').Chart, profile: import('./charts.js').Chart,
   *   alignment: import('./charts.js').Chart}} charts
   * @param {import('./state.js').PageState} state
   * @param {{train: () => void, stop: () => void}} actions
   */
  constructor(root, charts, state, actions) {
    this.root = root;
    this.charts = charts;
    this.state = state;
    Object.assign(this, elements(root, {
      status: "#train-status", trainButton: "#train", stopButton: "#stop", progress: "#train-progress",
      rate: "#train-rate", banner: "#train-banner", alignmentView: "#train-view-alignment",
    }));
    this.run = null; // the TrainingRun on show
    this.layer = { l: 0, d: 0 };
    this.listeners = [];
    this.timer = 0;
    this.raf = 0;
    this.lastDraw = -Infinity;
    this.interval = MIN_INTERVAL_MS;
    this.drawn = { steps: -1, profiles: -1, layer: "", alignment: null };
    this.bannerText = null;
    this.wantsView = false; // a lesson's Train asked for the loss chart in sight
    this.trainButton.addEventListener("click", () => {
      if (this.active) return;
      this.run = null;
      actions.train();
    });
    this.stopButton.addEventListener("click", () => {
      if (this.active) actions.stop();
    });
    state.listen((change) => {
      if (change.type === "training" || change.type === "values" || change.type === "view" || change.type === "uploads") this.update();
    });
    this.update();
  }

  /** Whether a training is running (the page state says). */
  get active() {
    return this.state.training.status === "training";
  }

  /** Call `fn()` whenever the run on show changes (a new step, the end); it reads `.run`. */
  listen(fn) {
    this.listeners.push(fn);
  }

  changed() {
    for (const fn of this.listeners) fn(this);
  }

  /** Buttons, status line, banner and progress, from the state's training lifecycle. */
  update() {
    const t = this.state.training;
    const on = t.status === "training";
    setAttr(this.trainButton, "aria-disabled", String(on));
    setAttr(this.stopButton, "aria-disabled", String(!on));
    this.root.classList.toggle("is-training", on);
    if (this.run && !on && t.status !== "none") this.run.stop();
    const r = this.run;
    if (r) {
      this.progress.max = r.total;
      this.progress.value = r.steps;
    }
    const rate = this.rateText(r, t);
    if (this.rate.textContent !== rate) this.rate.textContent = rate;
    if (t.status === "training" && !r) this.say("Starting training…");
    if (t.status === "stopped") this.say(`Stopped after ${r ? r.steps : t.steps || 0} steps.`);
    if (t.status === "refused") {
      const later = /not yet available|not available|not implemented/i.test(t.message || "");
      this.say(later ? "Live training isn't available on this server yet; the trace views work as usual."
        : `Training could not start: ${t.message}`);
    }
    this.showBanner(...this.bannerFor(t, r));
    this.changed();
  }

  /** The banner's [kind, head, body] for the training on show; [null] hides it. */
  bannerFor(t, r) {
    if (t.status === "none" || t.status === "training" || t.status === "refused") return [null];
    const st = this.state;
    const n = r ? r.steps : t.steps || 0;
    const shows = `The views above show ${st.shownText()}.`;
    const other = st.trainingCurrent() ? "" : st.schema.differences(t.config, st.config);
    const stale = other ? ` These charts are of the run trained for ${other}; press Train for this setting.`
      : st.trainingUploadsDiffer() ? " These charts are of a run trained with other uploaded files than are loaded now; press Train to train on these." : "";
    const shownTrained = st.view.shown?.trained?.seq === t.seq;
    if (t.status === "stopped") {
      if (t.reason === "setting") return ["stopped", `Stopped after ${n} steps`, `because a setting changed; press Train to train the new model. ${shows}`];
      if (t.reason === "upload") return ["stopped", `Stopped after ${n} steps`, `because the uploaded files changed; press Train to train on the files now loaded. ${shows}`];
      return ["stopped", `Stopped after ${n} steps.`, shows + stale];
    }
    if (t.status === "diverged") {
      const why = (t.message || "").replace(/^training diverged at step \d+:\s*/i, "").replace(/\s*\(try [^)]*\)\s*$/, "");
      return ["diverged", `Training diverged at step ${t.divergedAt}${why ? ":" : "."}`,
        `${why}${why ? ". " : ""}${divergenceAdvice(t.config)} ` +
        (shownTrained ? shows : "The views above show the model as it was before that step once its trace arrives.") + stale];
    }
    if (t.status === "trained" && r) {
      const first = r.loss.find(Number.isFinite);
      const recent = recentLoss(r.loss);
      const worse = notBetter(recent.mean, r.baseline);
      const base = !r.baseline ? "" : !worse ? ` (baseline ${baselineLabel(r.baseline)})`
        : `; over the last ${recent.steps} step${recent.steps > 1 ? "s" : ""} it averaged ${fmtNum(recent.mean, 3)}, not below ` +
          `the baseline (${baselineLabel(r.baseline)}): the model does no better than it`;
      const views = !stale && shownTrained ? `The views above now show the trained model on ${EVALUATION_BATCH}.`
        : stale ? "" : "The trained model's trace is on its way.";
      return [stale || worse ? "stopped" : "ok", `Trained ${t.steps} steps${worse ? ", no better than the baseline" : ""}:`,
        `loss on the training batches ${fmtNum(first, 3)} at step 1 → ${fmtNum(t.finalLoss, 3)} at step ${t.steps}${base}. ${views}${stale}`];
    }
    return [null];
  }

  rateText(r, t) {
    const f = r && r.last;
    if (!f) return "";
    const perSecond = f.steps_per_s >= 10 ? Math.round(f.steps_per_s) : fmtNum(f.steps_per_s, 2);
    const rate = f.steps_per_s == null ? "" : `${perSecond} steps/s`;
    // Time left only while it is running: a stopped run has nothing left.
    const left = t.status === "training" ? (f.eta_s == null ? "" : `${formatSeconds(f.eta_s)} left`)
      : t.status === "stopped" ? `stopped at step ${r.steps} of ${r.total}` : r.done ? "done" : "";
    return [rate, left].filter(Boolean).join(" · ");
  }

  say(text) {
    if (this.status.textContent !== text) this.status.textContent = text;
  }

  /** The banner under the buttons: kind 'ok' | 'stopped' | 'diverged'; null hides it. */
  showBanner(kind, head = "", body = "") {
    const text = kind === null ? "" : `${kind}|${head}|${body}`;
    if (text === this.bannerText) return;
    this.bannerText = text;
    this.banner.hidden = kind === null;
    if (kind === null) return this.banner.replaceChildren();
    const p = document.createElement("p");
    p.className = `banner banner-train-${kind}`;
    const strong = document.createElement("strong");
    strong.textContent = head;
    p.append(strong, document.createTextNode(body ? " " + body : ""));
    this.banner.replaceChildren(p);
  }

  /** Which layer and direction the profile heatmap shows (the page's Show selector). */
  setLayer(l, d) {
    this.layer = { l, d };
    this.schedule();
  }

  /** Scroll the loss chart into sight, now or (before the charts exist) when the training starts. */
  bringIntoView() {
    this.wantsView = true;
    if (this.root.classList.contains("has-data")) this.scrollToCharts();
  }

  scrollToCharts() {
    this.wantsView = false;
    this.charts.loss.el?.closest("figure")?.scrollIntoView({ block: "center", behavior: "instant" });
  }

  /** A training began: `run` is the frame dispatcher's TrainingRun of it, `frame` its train_start. */
  started(run, frame) {
    if (!this.active) return;
    this.run = run;
    this.drawn = { steps: -1, profiles: -1, layer: "", alignment: null };
    this.root.classList.add("has-data");
    if (this.wantsView) this.scrollToCharts();
    const c = frame.config;
    this.say(`Training ${frame.steps} steps of ${c.optimizer} (learning rate ${c.lr}) on the ${c.task} task; ` +
      `the dashed line is the ${baselineLabel(frame.baseline)} baseline.`);
    this.changed();
    this.schedule();
  }

  /** One more step of `run` arrived. */
  step(run) {
    if (!this.active || run !== this.run) return; // steps already on the wire when Stop was pressed
    this.state.trainProgress(run.steps);
    this.schedule();
  }

  /** train_done, the run's last frame (`run` holds it already); the state is told by the glue. */
  finished(run, frame) {
    if (!run || run !== this.run) return;
    this.draw();
    const r = this.run;
    if (frame.diverged_at != null) this.say(`Diverged at step ${frame.diverged_at} of ${r.total}.`);
    else this.say(`Finished ${frame.steps_done} of ${r.total} steps; the last training batch's loss ${fmtNum(frame.final_loss, 4)} ` +
      `(the summary's loss is on ${EVALUATION_BATCH}).`);
    this.update();
  }

  /** Repaint on an animation frame, at most once per interval. */
  schedule() {
    if (this.timer || this.raf) return;
    const wait = Math.max(0, this.lastDraw + this.interval - performance.now());
    this.timer = setTimeout(() => {
      this.timer = 0;
      this.raf = requestAnimationFrame(() => {
        this.raf = 0;
        this.draw();
      });
    }, wait);
    this.changed();
  }

  draw() {
    const r = this.run;
    if (!r) return;
    const t0 = performance.now();
    this.progressText(r);
    if (r.steps !== this.drawn.steps || r.done) {
      drawLoss(this.charts.loss, r);
      drawGradNorm(this.charts.norm, r);
    }
    let { l, d } = this.layer;
    if (l >= r.shapes.L || d >= r.shapes.D) l = d = 0;
    const layerKey = `${r.run}:${l},${d}`;
    if (r.profiles.length && (r.profiles.length !== this.drawn.profiles || layerKey !== this.drawn.layer)) {
      drawProfile(this.charts.profile, r, l, d);
      this.drawn.profiles = r.profiles.length;
      this.drawn.layer = layerKey;
    }
    // A model with attention: the alignment of the newest profiled step, drawn as it forms.
    this.alignmentView?.classList.toggle("empty", !r.alignment);
    if (r.alignment && r.alignmentStep !== this.drawn.alignment) {
      drawAlignment(this.charts.alignment, r.alignment, [], `step ${r.alignmentStep}`);
      this.drawn.alignment = r.alignmentStep;
    }
    this.drawn.steps = r.steps;
    this.lastDraw = performance.now();
    this.interval = Math.max(MIN_INTERVAL_MS, 3 * (this.lastDraw - t0));
    window.dispatchEvent(new CustomEvent("gfl:train-painted", { detail: { run: r.run, steps: r.steps } }));
  }

  progressText(r) {
    const f = r.last;
    this.progress.max = r.total;
    this.progress.value = r.steps;
    if (!f) return;
    const metric = f.metric == null ? "" : ` · accuracy ${(100 * f.metric).toFixed(0)}%`;
    // Once training has ended the status line says how; a late repaint must not overwrite it.
    if (this.active) this.say(`step ${f.step}/${r.total} · loss ${fmtNum(f.loss, 4)} · ‖g‖ ${fmtNum(f.grad_norm)}${metric}`);
    const rate = this.rateText(r, this.state.training);
    if (this.rate.textContent !== rate) this.rate.textContent = rate;
  }
}
