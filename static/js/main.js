// The glue: builds the page state from the boot data (the config table and the server's reading of the
// link), the modules that show it, and one frame source; routes each frame to the trace store, the state
// and the panels.  It keeps no state of its own beyond the trace on show.

import { Chart } from "./charts.js";
import { ComparePanel } from "./compare.js";
import { Controls } from "./controls.js";
import { applyEmbed, hideControls } from "./embed.js";
import { bindDownloads, copyLink } from "./export.js";
import { RecordedSource } from "./frames.js";
import { LessonPanel, bindLessonPicker } from "./lesson.js";
import { addDismiss, showNotices } from "./panels.js";
import { Player, bindPlayerBar } from "./player.js";
import "./script_button.js"; // "Copy as PyTorch": binds #copy-script itself
import { Schema } from "./schema.js";
import { PageState } from "./state.js";
import { applyStaticCopy, makeSource } from "./static_copy.js";
import { RunTrace } from "./trace.js";
import { TrainingPanel } from "./training.js";
import { UploadPanel, isUploadFrame } from "./upload.js";
import { TraceViews } from "./views.js";

const $ = (sel) => document.querySelector(sel);

/** The boot JSON the template embeds; the table from /api/config when a static copy has none. */
async function loadBoot() {
  const el = $("#gfl-boot");
  const boot = el ? JSON.parse(el.textContent || "{}") : {};
  if (!Array.isArray(boot.fields) || !boot.fields.length) {
    const api = await (await fetch("/api/config")).json();
    Object.assign(boot, { fields: api.fields, link_version: api.link_version });
  }
  return boot;
}

async function main() {
  const boot = await loadBoot();
  // On a narrow screen the settings start folded, so the views come first.
  if (window.matchMedia("(max-width: 820px)").matches) $(".sidebar-fold").open = false;
  const schema = new Schema(boot.fields, boot.link_version ?? 1);
  const state = PageState.fromLocation(schema, boot);
  const notices = $("#notices");
  const notify = (list, source) => showNotices(notices, list, source);
  // Notices the server rendered into the page get the same dismiss button as the page's own.
  for (const p of notices.querySelectorAll(".notice")) addDismiss(p);
  notify(state.linkNotices.map((n) => ({ ...n, message: `Link: ${n.message}` })), "page-link");

  const charts = Object.fromEntries([...document.querySelectorAll(".chart")].map((el) => [el.id, new Chart(el)]));
  const form = $("#controls");
  const controls = new Controls(form, state, (list) => notify(list, "form"));
  const unknownHidden = hideControls(form, state.page.hide);
  notify(unknownHidden.map((k) => ({ field: "hide", message: `Link: hide names no control '${k}'` })), "hide");
  // A read-only hook for the browser tests and benches; no module reads it.
  const gfl = (window.gfl = { state, charts, controls, lastPaint: null, trace: null });

  // -- the trace on show, its views and its playback ---------------------------------------------------
  let trace = null;
  let settled = null; // the trace whose request has let the next one go
  let animateNext = true;
  const player = (gfl.player = new Player((cursor) => views.render(cursor), () => {}));
  bindPlayerBar(document, player);
  const views = new TraceViews(document, charts, state, { painted, invalidate: () => player.invalidate() });

  function painted(detail) {
    gfl.lastPaint = detail;
    lesson.painted(detail, trace);
    if (detail.complete) settle();
    window.dispatchEvent(new CustomEvent("gfl:painted", { detail }));
  }

  // Latest wins: once the trace in flight is received whole (or painted), the newest setting goes next.
  function settle() {
    if (!trace || settled === trace) return;
    settled = trace;
    const next = state.traceSettled();
    if (next) send(next, "slide");
  }

  function send(config, how) {
    animateNext = how !== "slide";
    gfl.requestedAt = performance.now();
    compare.setBase(config);
    source.run(config);
  }

  function requestTrace(how, force = false) {
    const config = state.requestTrace(how, force);
    if (config) send(config, how);
  }

  // After a training that brought no trace (stopped, refused): the views must show this setting whole.
  function retraceIfNeeded() {
    if (!(trace && trace.complete && state.showsCurrent())) requestTrace("commit", true);
  }

  state.listen((change) => {
    if (change.type !== "values") return;
    if (state.needsTrace(change.changed)) requestTrace(change.how);
    else if (change.stoppedTraining) source.stop(); // a Train-only key moved: the training of the old one ends
  });

  // -- frames ---------------------------------------------------------------------------------------------
  const status = $("#conn-status");
  let dropped = false;
  const source = (gfl.socket = makeSource(onFrame, (s) => {
    status.textContent = { connecting: "connecting…", open: "", closed: "reconnecting…" }[s];
    status.hidden = s === "open";
    if (s === "closed") dropped = true;
    if (s === "open" && dropped) {
      dropped = false;
      state.trainRefused("the connection to the server dropped");
      requestTrace("commit", true); // a fresh socket after a drop: ask again
    }
  }, state));

  // "instant" in the speed list shows everything at once: in a static copy, a recorded training too.
  if (source instanceof RecordedSource) {
    const speed = $("#speed");
    speed.addEventListener("change", () => source.setPace(Number(speed.value) === 0 ? Infinity : 1));
  }

  function onFrame(frame, payload) {
    if (isUploadFrame(frame)) return upload.frame(frame); // the user's own model or series
    switch (frame.type) {
      case "start": {
        views.finish(player.cursor); // the run on show, received whole, is painted whole before it goes
        state.traceStarted(frame.run);
        trace = gfl.trace = new RunTrace(frame, { trained: !!state.view.incoming.trained });
        notify([], "error");
        controls.markInvalid(null);
        // "Predict, then press play": the lesson's own run waits at step 0.
        const held = lesson.holds(trace);
        views.load(trace, held);
        player.load(trace.T, { animate: animateNext });
        if (held) player.pause();
        animateNext = true;
        break;
      }
      case "forward":
        if (trace && frame.run === trace.run) trace.addForward(frame, payload);
        player.invalidate();
        break;
      case "backward":
        if (trace && frame.run === trace.run) trace.addBackward(frame, payload);
        player.invalidate();
        break;
      case "done":
        if (trace && frame.run === trace.run) {
          trace.done = frame;
          trace.doneAt = performance.now();
          state.traceDone(frame.run);
          compare.primary(trace);
          // The data is all here: the next setting's computation overlaps this one's paint (a drag's throughput
          // is the slower of the two, not their sum).  Its start frame finishes this paint first.
          settle();
        }
        player.invalidate();
        break;
      case "error":
        if (state.request?.kind === "train") {
          state.trainRefused(frame.message);
          retraceIfNeeded();
        } else {
          notify([{ field: frame.field, message: frame.field ? `${frame.field}: ${frame.message}` : frame.message }], "error");
          controls.markInvalid(frame.field);
          state.traceFailed();
          settled = trace;
          const next = state.traceSettled();
          if (next) send(next, "slide");
        }
        break;
      case "train_start":
        training.started(frame);
        break;
      case "train_step":
        training.step(frame);
        break;
      case "train_done":
        // The trained model's trace follows as this request's ordinary frames.
        state.trainDone(frame);
        training.finished(frame);
        break;
      case "cancelled":
        // Only the newest request's cancel gets here: Stop was pressed.
        retraceIfNeeded();
        break;
      case "queued":
        state.queued(frame.position); // the server's word on where the request waits
        break;
      default:
        break;
    }
  }

  // -- training, compare, lessons -------------------------------------------------------------------------
  const actions = {
    train: () => {
      const config = state.startTraining();
      if (!config) return;
      source.train(config);
      compare.train(config); // in compare mode B and C train too, each on its own source
    },
    stop: () => {
      if (!state.stopTraining("stop")) return;
      source.stop();
      compare.stop();
    },
  };
  const trainCharts = { loss: charts["chart-loss"], norm: charts["chart-train-norm"], profile: charts["chart-train-profile"] };
  const training = (gfl.training = new TrainingPanel($("#training"), trainCharts, state, actions));
  views.onLayer = (l, d) => training.setLayer(l, d);
  const compare = (gfl.compare = new ComparePanel($("#compare"), { state, charts, toggle: $("#compare-toggle"),
    notify: (list, source = "compare") => notify(list, source), actions }));
  compare.follow(training);
  // With an upload active the page asks before it leaves for a lesson, which would not have the upload.
  const picker = $("#lesson-picker");
  const pickedAtLoad = picker ? picker.value : "";
  bindLessonPicker(picker, (url) => upload.leaveFor(url, picker.selectedOptions[0]?.textContent.trim() || "the lesson",
    undefined, () => (picker.value = pickedAtLoad)));
  const lesson = (gfl.lesson = new LessonPanel($("#lesson"), { state, form, embed: state.page.embed,
    actions: { play: () => player.play(), train: () => (actions.train(), training.bringIntoView()) } }));

  const upload = (gfl.upload = new UploadPanel($("#upload"), { source, state, notices }));
  // A new upload, or none any more: the current setting's trace is due again (a resumed one is the same upload).
  state.listen((change) => {
    if (change.type === "uploads" && change.changed) requestTrace("commit");
  });
  $("#copy-link").addEventListener("click", () => copyLink($("#copy-link"), new URL(state.query, location.href).href));
  bindDownloads(document.body, charts, () => trace);
  if (state.page.embed) applyEmbed(document, player);
  applyStaticCopy(document, state);
  requestTrace("commit", true);
}

main().catch((e) => {
  const el = document.getElementById("notices");
  if (el) showNotices(el, [{ field: null, message: `The page failed to start: ${e.message}` }], "error");
  throw e;
});
