// A sweep's state on the page, pure logic (node --test: tests/js/sweep_state.test.mjs): the metrics a sweep of each
// kind draws, the form's text read into a sweep body, and the streamed points gathered into curves: per curve and
// swept value, the mean over the seeds and their lowest and highest, as the points arrive.

// `label`: the Draw menu's words; `axis`, when given, the y axis's shorter ones (a phone's chart is ~300 px tall).
export const TRACE_METRICS = [
  { name: "grad_first", label: "‖∂L/∂h_t‖ at the first input step" },
  { name: "grad_last", label: "‖∂L/∂h_t‖ at the last step" },
  { name: "ratio", label: "first / last: the share of the gradient left at the start",
    axis: "first / last: the share left at the start" },
  { name: "loss", label: "loss" },
  { name: "total_norm", label: "total gradient norm before clipping" },
  { name: "total_norm_clipped", label: "total gradient norm after clipping" },
];
// `baseline`: the points' key of the trivial predictor's value, drawn dotted beside the curve.
export const TRAIN_METRICS = [
  { name: "final_loss", label: "final loss (dotted: the task's baseline)", axis: "final loss (dotted: baseline)",
    baseline: "baseline" },
  { name: "accuracy", label: "final accuracy (dotted: the task's baseline)", axis: "final accuracy (dotted: baseline)",
    fraction: true, baseline: "baseline_accuracy" },
  { name: "learned", label: "fraction of seeds that learned", fraction: true },
  { name: "diverged", label: "fraction of seeds that diverged", fraction: true },
];

/** The metrics a sweep of `kind` ("trace" | "train") draws, the first the default. */
export function metricsFor(kind) {
  return kind === "train" ? TRAIN_METRICS : TRACE_METRICS;
}

/** The metric a page opens on: the link's `view` when a sweep of `kind` draws it, else the kind's default. */
export function openingMetric(kind, view) {
  const metrics = metricsFor(kind);
  return (metrics.find((m) => m.name === view) || metrics[0]).name;
}

// The form's "One curve per" choice for an over of named settings, each a curve that sets several keys.
export const NAMED = "(named)";

/** Named settings' text, "IRNN: cell=rnn, init=identity; LSTM: cell=lstm", as the body's list (the server checks it). */
export function parseNamed(text, fieldsByName) {
  return String(text).split(";").map((t) => t.trim()).filter((t) => t !== "").map((part) => {
    const at = part.indexOf(":");
    const set = {};
    for (const pair of (at < 0 ? "" : part.slice(at + 1)).split(",").map((t) => t.trim()).filter((t) => t !== "")) {
      const [key, value = ""] = pair.split("=").map((t) => t.trim());
      set[key] = parseList(value, fieldsByName[key])[0] ?? value;
    }
    return { name: (at < 0 ? part : part.slice(0, at)).trim(), set };
  });
}

/** The body's named settings as the form's text, each setting's keys in `order` (the table's) when given. */
export function namedText(over, order = []) {
  const rank = (k) => (order.includes(k) ? order.indexOf(k) : order.length);
  const text = (set) => Object.entries(set).sort(([a], [b]) => rank(a) - rank(b)).map(([k, v]) => `${k}=${v}`);
  return over.map((a) => `${a.name}: ${text(a.set).join(", ")}`).join("; ");
}

/** One comma-separated list of a field's values as JSON values ("10, 20" → [10, 20]; "rnn,lstm" → ["rnn", "lstm"]). */
export function parseList(text, field) {
  const items = String(text).split(",").map((t) => t.trim()).filter((t) => t !== "");
  if (!field || field.type === "choice") return items;
  if (field.type === "bool") return items.map((t) => ["1", "true", "yes", "on"].includes(t.toLowerCase()));
  return items.map((t) => (/^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) ? Number(t) : t));
}

/** The form's values (strings) as a sweep body for /api/sweep or the socket; `config` the sweep's setting. */
export function sweepBody(form, config, fieldsByName) {
  const body = { config, key: form.key, values: parseList(form.values, fieldsByName[form.key]), kind: form.kind };
  if (form.over_key === NAMED) body.over = parseNamed(form.over, fieldsByName);
  else if (form.over_key) body.over = { [form.over_key]: parseList(form.over, fieldsByName[form.over_key]) };
  body.seeds = parseList(form.seeds, fieldsByName.seed);
  return body;
}

/** A sweep body as the form's strings; `order`, the table's keys in order, orders a named setting's keys. */
export function formOf(body, order = []) {
  const named = Array.isArray(body.over);
  const [overKey, over] = named ? [NAMED, null] : Object.entries(body.over || {})[0] || ["", []];
  return { kind: body.kind || "trace", key: body.key, values: body.values.join(", "), over_key: overKey,
    over: named ? namedText(body.over, order) : over.join(", "), seeds: (body.seeds || [body.config?.seed ?? 0]).join(", ") };
}

/** A number for the chart: booleans count as 0 / 1, anything else non-numeric is NaN. */
function numeric(v) {
  if (typeof v === "boolean") return v ? 1 : 0;
  return typeof v === "number" ? v : NaN;
}

/** The points of one sweep (a sweep_start frame, then its sweep_point frames), gathered into curves. */
export class SweepPoints {
  constructor(start) {
    this.start = start;
    this.points = [];
  }

  add(point) {
    this.points.push(point);
  }

  get done() {
    return this.points.length;
  }

  get complete() {
    return this.points.length === this.start.points;
  }

  /**
   * Each curve of `metric`: {over, name (a named setting's, else undefined), x: the swept values reached so far,
   * mean, lo, hi, seeds (how many seeds each value has so far), baseline (the points' `baseline` key, per value: a
   * training sweep's task's baseline)}.  A mean is NaN or ±inf when a seed's is.
   */
  curves(metric, baseline = "baseline") {
    return this.start.series.map((series, s) => {
      const byValue = new Map();
      for (const p of this.points) {
        if (p.series !== s) continue;
        if (!byValue.has(p.value)) byValue.set(p.value, []);
        byValue.get(p.value).push(p);
      }
      const x = this.start.values.filter((v) => byValue.has(v));
      const rows = x.map((v) => byValue.get(v).map((p) => numeric(p[metric])));
      const sum = (r) => r.reduce((a, b) => a + b, 0);
      return {
        over: series.over,
        name: series.name,
        x,
        mean: rows.map((r) => sum(r) / r.length),
        lo: rows.map((r) => Math.min(...r)),
        hi: rows.map((r) => Math.max(...r)),
        seeds: rows.map((r) => r.length),
        baseline: x.map((v) => byValue.get(v)[0][baseline] ?? null),
      };
    });
  }
}

/** "log" when every value is positive and finite and they span at least two decades, else "linear". */
export function axisType(values) {
  const finite = values.filter((v) => typeof v === "number" && Number.isFinite(v));
  if (!finite.length || finite.length < values.length || finite.some((v) => v <= 0)) return "linear";
  return Math.max(...finite) / Math.min(...finite) >= 100 ? "log" : "linear";
}

/**
 * The y axis of a quantity that is never negative (a norm, a loss, a ratio of norms): "log" when its positive finite
 * values span two decades, or when some are exactly 0 beside positive ones (a norm flushed below float32's normal
 * range, 1.2e-38: decades under the rest, drawn on the axis's floor), else "linear".  inf and NaN do not decide it.
 */
export function magnitudeAxis(values) {
  const numbers = values.filter((v) => typeof v === "number" && Number.isFinite(v));
  const positive = numbers.filter((v) => v > 0);
  if (!positive.length || numbers.some((v) => v < 0)) return "linear";
  return positive.length < numbers.length ? "log" : axisType(positive);
}

/** A curve's name in its legend: a named setting's name, "cell = lstm", or the swept key's for a sweep of one curve. */
export function curveName(over, key, name) {
  if (name) return name;
  const entries = Object.entries(over);
  return entries.length ? entries.map(([k, v]) => `${k} = ${v}`).join(", ") : key;
}
