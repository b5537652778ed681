// The text panels: the run summary, the overflow / underflow banner, and the
// notices about link values or settings the server refused.

import { divergedAdvice, overflowAdvice, underflowAdvice } from "./advice.js";
import { fmtNum, layerLabel } from "./charts.js";
import { setProp, setText } from "./dom.js";
import { EVALUATION_BATCH } from "./outcome.js";

/**
 * Fill the summary panel (elements carrying data-stat="...") from a run; `schema` is the config table.
 * `waiting`: a lesson's "predict" moment, when the loss and gradient figures would give the answer away.
 */
export function showSummary(root, trace, schema, waiting = false) {
  const set = (key, text, title = "") => {
    const el = root.querySelector(`[data-stat="${key}"]`);
    if (!el) return;
    setText(el, text);
    setProp(el, "title", title);
    el.classList.toggle("nonfinite", /inf|NaN/.test(text));
  };
  if (!trace) {
    for (const el of root.querySelectorAll("[data-stat]")) el.textContent = "–";
    return;
  }
  const done = trace.done;
  const th = trace.theory || {};
  set("params", (trace.start.param_count ?? 0).toLocaleString("en"));
  const sig = perLayer(th.sigma_max, trace);
  set("sigma", sig.max, sig.all);
  const rho = perLayer(th.spectral_radius ?? gateMax(th.gate_spectral_radius), trace);
  set("radius", rho.max, th.spectral_radius ? rho.all : `largest over the gate blocks of W_hh\n${rho.all}`);
  if (!done || waiting) {
    for (const key of ["loss", "norm", "clipped", "coef", "elapsed"]) set(key, "…", waiting ? "shown once the gradient starts back" : "");
    return;
  }
  set("loss", fmtNum(done.loss, 4), `the loss on ${EVALUATION_BATCH} (a training's losses are each of its step's own batch)`);
  set("norm", fmtNum(done.total_norm));
  set("clipped", fmtNum(done.total_norm_clipped));
  const coef = {
    none: ["no clipping", "clip is none"],
    value: [schema.choiceLabel("clip", "value"), "clipping by value has no single coefficient"],
  };
  if (trace.config.clip === "norm") set("coef", fmtNum(done.clip_coef), "min(1, clip_at / ‖g‖)");
  else set("coef", ...coef[trace.config.clip]);
  set("elapsed", done.elapsed_ms == null ? "–" : `${Math.round(done.elapsed_ms)} ms`);
  const table = root.querySelector("[data-stat-table]");
  if (table) {
    const rows = Object.entries(done.param_grad_norms || {}).map(([name, v]) => {
      const tr = document.createElement("tr");
      const a = document.createElement("td");
      a.textContent = name;
      const b = document.createElement("td");
      b.textContent = fmtNum(v);
      if (!Number.isFinite(v)) b.className = "nonfinite";
      tr.append(a, b);
      return tr;
    });
    table.replaceChildren(...rows);
  }
}

/** {gate: (L, D)} -> (L, D) of the largest over gates. */
function gateMax(byGate) {
  if (!byGate) return null;
  const tables = Object.values(byGate);
  if (!tables.length) return null;
  return tables[0].map((dirs, l) => dirs.map((_, d) => Math.max(...tables.map((tb) => Number(tb[l][d])))));
}

/** The largest of a (L, D) table, with every entry for the tooltip. */
function perLayer(table, trace) {
  if (!Array.isArray(table)) return { max: "–", all: "" };
  let max = -Infinity;
  let nan = false;
  const parts = [];
  table.forEach((dirs, l) => (Array.isArray(dirs) ? dirs : [dirs]).forEach((v, d) => {
    const n = Number(v);
    if (Number.isNaN(n)) nan = true;
    else if (n > max) max = n;
    parts.push(`${layerLabel(l, d, trace.D)}: ${fmtNum(n)}`);
  }));
  return { max: fmtNum(nan ? NaN : max), all: parts.join("\n") };
}

/**
 * The banner that says, in words, where the gradient blew up or died.
 * @param {import('./schema.js').Schema} schema  the config table, for the advice (needed when `trace` is given)
 * @param {{outcome: string, divergedAt: number|null}|null} trained  the training the trace is of (the page
 *   state's tag of the shown result), or null for an untrained model: the words differ, since clipping acts
 *   on a training's updates, never on one pass
 * @returns {string|null} the text shown
 */
export function showBanner(el, trace, schema, fwd = 0, bwd = 0, trained = null) {
  const ex = trace ? trace.extremes() : { overflow: null, underflow: null };
  const parts = [];
  // Each is told once the playback has reached its step.
  const revealedFrom = trace ? trace.T - bwd : Infinity;
  const h = trace ? trace.forwardOverflowT : null;
  const diverged = trained?.outcome === "diverged";
  const why = diverged ? divergedAdvice(trace.config, trained.divergedAt) : "";
  if (h !== null && h < fwd) parts.push(["overflow", `hidden state overflowed at t = ${h}`,
    "h_t is inf or NaN from this step of the forward pass on, so the loss is NaN and so is every gradient that depends on it. " +
    (why || "Clipping the gradient cannot help in this pass: the overflow comes before any gradient. " + overflowAdvice(trace.config, schema))]);
  if (ex.overflow !== null && ex.overflow >= revealedFrom) parts.push(["overflow", `gradient overflowed at t = ${ex.overflow}`,
    h !== null ? "a consequence of the overflow in the forward pass."
      : "going back from the loss, ‖∂L/∂h_t‖ first becomes inf or NaN here: the gradient exploded. " +
        (why || "Clipping cannot rescue a gradient that is already inf. " + overflowAdvice(trace.config, schema))]);
  if (ex.underflow !== null && ex.underflow >= revealedFrom) parts.push(["underflow", `gradient underflowed to 0 at t = ${ex.underflow}`,
    "‖∂L/∂h_t‖ is exactly 0 in float32 from here back: no learning signal reaches earlier steps. " +
    underflowAdvice(trace.config, schema)]);
  const text = parts.map((p) => p[1]).join("; ");
  // Rebuilt only when it changes: role=alert re-announces every rebuild.
  if (el.dataset.text === text) return text || null;
  el.dataset.text = text;
  el.replaceChildren(...parts.map(([kind, head, body]) => {
    const p = document.createElement("p");
    p.className = `banner banner-${kind}`;
    const strong = document.createElement("strong");
    strong.textContent = head;
    p.append(strong, document.createTextNode(" — " + body));
    return p;
  }));
  el.hidden = parts.length === 0;
  return text || null;
}

/**
 * The summary's tab saying which model the views show: "trained model", or "diverged at step k" for the model a
 * training stopped with (never called trained); hidden for an untrained model.
 */
export function badge(el, trained) {
  el.hidden = !trained;
  if (!trained) return;
  const diverged = trained.outcome === "diverged";
  el.textContent = diverged ? `diverged at step ${trained.divergedAt}` : "trained model";
  el.title = diverged ? `The views show the weights training had reached when its loss or gradient stopped being finite, at step ${trained.divergedAt}, on the same batch as before`
    : "The views show the model after training, on the same batch as before";
  el.classList.toggle("model-badge-diverged", diverged);
}

/** Give a notice its "×" button. */
export function addDismiss(p) {
  const close = document.createElement("button");
  close.type = "button";
  close.className = "notice-close";
  close.setAttribute("aria-label", "Dismiss");
  close.textContent = "×";
  close.addEventListener("click", () => p.remove());
  p.append(close);
}

/** Add notices ({field, message}); `source` groups them so a later batch from the same source replaces the earlier one. */
export function showNotices(el, notices, source) {
  for (const old of el.querySelectorAll(`[data-source="${source}"]`)) old.remove();
  for (const n of notices) {
    const p = document.createElement("p");
    p.className = "notice";
    p.dataset.source = source;
    if (n.field) p.dataset.field = n.field;
    p.textContent = (source === "link" ? "Link: " : "") + n.message;
    addDismiss(p);
    el.append(p);
  }
}

/**
 * The connection line of the top bar (`el`), for a frame source's status ('connecting' | 'open' | 'closed'):
 * returns the source's onStatus.  `reopened()` runs when a socket that dropped is open again.
 */
export function connectionStatus(el, reopened) {
  let dropped = false;
  return (status) => {
    el.textContent = { connecting: "connecting…", open: "", closed: "reconnecting…" }[status];
    el.hidden = status === "open";
    if (status === "closed") dropped = true;
    if (status === "open" && dropped) {
      dropped = false;
      reopened();
    }
  };
}
