// The sweep page's glue: the boot data (the lab's table, the link's sweep as the server read it), the form that
// edits the sweep, the socket that streams its points (sweep_source.js), the gathered curves (sweep_state.js) and
// the chart (view_sweep.js), drawn again after every point with the progress beside it.  The link is the sweep's:
// the page writes the server's own link of each sweep it runs, so a reload or a copied link reopens it.

import { copyLink } from "./export.js";
import { addDismiss, showNotices } from "./panels.js";
import { SweepLesson } from "./sweep_lesson.js";
import { RecordedSweep, SweepSource } from "./sweep_source.js";
import { staticCopy } from "./static_copy.js";
import { NAMED, SweepPoints, formOf, metricsFor, openingMetric, sweepBody } from "./sweep_state.js";
import { SweepView } from "./view_sweep.js";

const $ = (sel) => document.querySelector(sel);

function main() {
  const boot = JSON.parse($("#gfl-boot").textContent);
  const fields = Object.fromEntries(boot.fields.map((f) => [f.name, f]));
  const form = $("#sweep-form");
  // On a narrow screen the sweep's form starts folded, so the curves come first (as the lab's settings do).
  if (window.matchMedia("(max-width: 820px)").matches) $(".sidebar-fold").open = false;
  const notices = $("#notices");
  for (const p of notices.querySelectorAll(".notice")) addDismiss(p);
  // A point clicked: each of its seeds is its own link, in the lab and as a script that computes it.
  const pick = (series, value) => {
    const seeds = points ? points.points.filter((p) => p.series === series && p.value === value) : [];
    const el = $("#sweep-point");
    el.replaceChildren(`${points.start.key} = ${value}: `);
    for (const [k, p] of seeds.entries()) {
      const lab = Object.assign(document.createElement("a"), { href: `/?${p.query}`,
        textContent: `seed ${p.seed} in the lab` });
      const script = Object.assign(document.createElement("a"), { href: `/api/script?${p.query}`, textContent: "script" });
      el.append(...(k ? ["; "] : []), lab, " (", script, ")");
    }
    el.hidden = !seeds.length;
  };
  const view = new SweepView($("#chart-sweep"), pick);
  const status = $("#sweep-status");
  const progress = $("#sweep-progress");
  let config = boot.sweep.config; // the setting every point starts from: the link's
  let points = null;
  // A read-only hook for the browser tests; no module reads it.
  const hook = (window.gflSweep = { lastPaint: null, starts: 0, progress: [] });

  const fill = (select, options) => select.replaceChildren(...options.map(([value, text]) => new Option(text, value)));
  fill(form.key, boot.fields.filter((f) => f.name !== "seed").map((f) => [f.name, f.label]));
  fill(form.over_key, [["", "(one curve)"], ...boot.fields.filter((f) => f.name !== "seed").map((f) => [f.name, f.label]),
    [NAMED, "named settings (name: key=value, …; …)"]]);
  // The metric drawn is the link's `view` (a lesson names the one its claims are about), else the kind's first.
  const linked = new URLSearchParams(boot.search ?? location.search);
  const linkView = linked.get("view");
  const linkLesson = linked.get("lesson"); // the page keeps its lesson panel, so its link keeps the lesson
  const showForm = (body) => {
    for (const [name, value] of Object.entries(formOf(body, boot.fields.map((f) => f.name)))) {
      form.elements[name].value = value;
    }
    fill(form.metric, metricsFor(body.kind).map((m) => [m.name, m.label]));
    form.metric.value = openingMetric(body.kind || "trace", linkView);
    $("#base-link").href = "/?" + boot.base_query;
  };
  showForm(boot.sweep);
  // The page's link: the sweep's own, its lesson, and `view` when the metric drawn is not its kind's first.
  const pageLink = (query) => {
    const metric = form.metric.value;
    const first = points && metricsFor(points.start.kind)[0].name;
    return `${location.pathname}?${query}` + (linkLesson ? `&lesson=${encodeURIComponent(linkLesson)}` : "") +
      (metric && metric !== first ? `&view=${encodeURIComponent(metric)}` : "");
  };

  const draw = () => {
    if (!points) return;
    const figure = view.show(points, form.metric.value, fields[points.start.key]);
    const { done, complete } = points;
    progress.max = points.start.points;
    progress.value = done;
    status.dataset.phase = complete ? "done" : "computing";
    status.textContent = complete ? `All ${done} points computed.`
      : `${done} of ${points.start.points} points computed (about ${Math.ceil(points.start.estimate_s)} s in all)…`;
    hook.lastPaint = { run: points.run, done, points: points.start.points, complete, query: points.start.query,
      metric: form.metric.value, yLog: figure.yLog, xLog: figure.xLog, count: (hook.lastPaint?.count || 0) + 1 };
    hook.progress.push([points.run, done, progress.value, progress.max]); // what the progress bar said at each paint
    if (complete) lesson.drawn();
  };

  const onFrame = (frame) => {
    if (frame.type === "sweep_start") {
      points = new SweepPoints(frame);
      points.run = frame.run;
      hook.starts += 1;
      history.replaceState(null, "", pageLink(frame.query));
      config = frame.sweep.config;
      view.reset();
      draw();
    } else if (frame.type === "sweep_point" && points) {
      points.add(frame);
      draw();
    } else if (frame.type === "error") {
      status.dataset.phase = "failed";
      status.textContent = `The sweep was refused: ${frame.message}`;
      showNotices(notices, [{ field: frame.field, message: frame.message }], "sweep");
    }
  };
  // A static copy holds the lesson's own sweep, recorded: its form and tries need the live lab.
  const copy = staticCopy();
  const source = copy ? new RecordedSweep(onFrame, copy.recordings[0]) : new SweepSource(onFrame);
  if (copy) {
    for (const el of [...form.elements, ...document.querySelectorAll("#lesson button.try, #lesson .try-reset")]) {
      if (el.name !== "metric") el.disabled = true;
    }
    const note = form.insertBefore(document.createElement("p"), form.firstChild);
    note.className = "static-note";
    note.textContent = "A static copy: it holds this lesson's sweep; other sweeps need the live lab.";
  }

  const run = (body) => {
    showNotices(notices, [], "sweep");
    status.dataset.phase = "computing";
    status.textContent = "Asking for the sweep…";
    source.run(body);
  };
  const formBody = () => sweepBody(Object.fromEntries(new FormData(form)), config, fields);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    run(formBody());
  });
  form.kind.addEventListener("change", () => {
    fill(form.metric, metricsFor(form.kind.value).map((m) => [m.name, m.label]));
    form.metric.value = openingMetric(form.kind.value, linkView);
  });
  form.metric.addEventListener("change", () => {
    if (points && !copy) history.replaceState(null, "", pageLink(points.start.query));
    draw();
  });
  $("#copy-link").addEventListener("click", () => copyLink($("#copy-link"), location.href));
  const lesson = new SweepLesson($("#lesson"), {
    run: () => run(formBody()),
    move: (key, value) => {
      config = { ...config, [key]: value };
      run(formBody());
    },
  }, fields);
  if (!lesson.holds()) run(boot.sweep); // a lesson's sweep waits for its prediction
}

main();
