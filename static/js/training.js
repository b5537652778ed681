// The training panel: Train / Stop, the live loss and gradient-norm curves,
// and a line of status.  The socket's train_* frames arrive far faster than a
// chart can be redrawn, so steps are collected and drawn once per animation frame.

import { LINE_COLOURS, fmtNum } from "./charts.js";

export class TrainingPanel {
  /**
   * @param {HTMLElement} root  the panel (holds #train, #stop, #train-status)
   * @param {import('./charts.js').Chart} chart  the loss chart
   * @param {{train: () => void, stop: () => void}} actions
   */
  constructor(root, chart, actions) {
    this.root = root;
    this.chart = chart;
    this.status = root.querySelector("#train-status");
    this.trainButton = root.querySelector("#train");
    this.stopButton = root.querySelector("#stop");
    this.active = false;
    this.reset();
    this.trainButton.addEventListener("click", () => {
      this.reset();
      this.setActive(true);
      this.say("Starting training…");
      actions.train();
    });
    this.stopButton.addEventListener("click", () => {
      actions.stop();
      this.setActive(false);
      this.say(`Stopped after ${this.steps.length} steps.`);
    });
  }

  reset() {
    this.steps = []; // [step, loss, grad_norm, grad_norm_clipped]
    this.info = null; // the train_start frame
    this.raf = 0;
  }

  setActive(on) {
    this.active = on;
    this.trainButton.disabled = on;
    this.stopButton.disabled = !on;
    this.root.classList.toggle("training", on);
  }

  say(text) {
    this.status.textContent = text;
  }

  /** The server refused the request (or cannot train): said politely, the trace views keep working. */
  refused(message) {
    this.setActive(false);
    const later = /not yet available|not available|not implemented/i.test(message);
    this.say(later ? "Live training isn't available on this server yet; the trace views work as usual."
      : `Training could not start: ${message}`);
  }

  /** A new trace request replaced the training (the server cancels it). */
  interrupted() {
    if (!this.active) return;
    this.setActive(false);
    this.say(`Training stopped after ${this.steps.length} steps: a setting changed.`);
  }

  started(frame) {
    if (!this.active) return;
    this.info = frame;
    this.say(`Training ${frame.steps} steps of ${frame.config.optimizer} (lr ${frame.config.lr})…`);
  }

  step(frame) {
    if (!this.active) return; // steps already on the wire when Stop was pressed
    this.steps.push([frame.step, frame.loss, frame.grad_norm, frame.grad_norm_clipped]);
    const total = this.info ? this.info.steps : "?";
    const metric = frame.metric == null ? "" : ` · accuracy ${(100 * frame.metric).toFixed(0)}%`;
    const eta = frame.eta_s == null ? "" : ` · ${Math.ceil(frame.eta_s)} s left`;
    this.say(`step ${frame.step}/${total} · loss ${fmtNum(frame.loss, 4)} · ‖g‖ ${fmtNum(frame.grad_norm)}${metric}${eta}`);
    if (!this.raf) this.raf = requestAnimationFrame(() => this.draw());
  }

  finished(frame) {
    this.setActive(false);
    this.draw();
    this.say(frame.message || (frame.diverged_at != null
      ? `Training diverged at step ${frame.diverged_at}.`
      : `Finished ${frame.steps_done} steps; final loss ${fmtNum(frame.final_loss, 4)}. The views above now show the trained model.`));
  }

  stopped() {
    if (!this.active) return;
    this.setActive(false);
    this.say(`Stopped after ${this.steps.length} steps.`);
  }

  draw() {
    this.raf = 0;
    if (!this.steps.length) return;
    this.root.classList.add("has-data");
    const x = this.steps.map((s) => s[0]);
    const positive = (v) => (Number.isFinite(v) && v > 0 ? v : null);
    const data = [
      { type: "scatter", mode: "lines", x, y: this.steps.map((s) => positive(s[1])), name: "loss", line: { color: LINE_COLOURS[0], width: 2 } },
      { type: "scatter", mode: "lines", x, y: this.steps.map((s) => positive(s[2])), name: "‖g‖ before clipping", yaxis: "y2", line: { color: LINE_COLOURS[1], width: 1.2 } },
    ];
    if (this.info && this.info.clip !== "none") {
      data.push({ type: "scatter", mode: "lines", x, y: this.steps.map((s) => positive(s[3])), name: "‖g‖ after clipping", yaxis: "y2",
        line: { color: LINE_COLOURS[2], width: 1.2, dash: "dash" } });
    }
    const shapes = [];
    const base = this.info && this.info.baseline;
    if (base && Number.isFinite(base.loss) && base.loss > 0) {
      shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: base.loss, y1: base.loss, line: { color: "#888", dash: "dot", width: 1 } });
    }
    this.chart.draw(data, {
      xaxis: { title: { text: "optimizer step" }, zeroline: false, anchor: "y2" },
      yaxis: { title: { text: "loss" }, type: "log", domain: [0.5, 1], exponentformat: "power" },
      yaxis2: { title: { text: "‖g‖" }, type: "log", domain: [0, 0.42], anchor: "x", exponentformat: "power" },
      showlegend: true, legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: { size: 10 } },
      margin: { t: 24 }, shapes,
    });
  }
}
