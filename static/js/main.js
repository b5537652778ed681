// The lab's glue: the page (boot.js: the page state from the boot data, the notices, the settings form), the
// modules that show it, one frame source and its frame dispatcher, wired together.  Each concern lives in its
// module (state.js, requests.js, dispatch.js, show.js, training.js, compare.js, lesson.js, upload.js); this one
// only connects them and keeps no state of its own.

import { openPage, startPage } from "./boot.js";
import { Chart, paintSwatches } from "./charts.js";
import { ComparePanel } from "./compare.js";
import { FrameDispatcher } from "./dispatch.js";
import { keepInPlace } from "./keep_in_place.js";
import { RecordedSource } from "./frames.js";
import { applyEmbed, hideControls } from "./embed.js";
import { bindDownloads, copyLink } from "./export.js";
import { bindRoom, following } from "./follow.js";
import { bindIntro } from "./intro.js";
import { LessonPanel, bindLessonPicker } from "./lesson.js";
import { bindPresenting } from "./present.js";
import { connectionStatus } from "./panels.js";
import { Requests } from "./requests.js";
import "./script_button.js"; // "Copy as PyTorch": binds #copy-script itself
import { Prefetcher } from "./prefetch.js";
import { TraceShow } from "./show.js";
import { applyStaticCopy, makeSource, shareLink, staticCopy } from "./static_copy.js";
import { SavedTracePanel } from "./trace_file.js";
import { TrainingPanel } from "./training.js";
import { UploadPanel, isUploadFrame } from "./upload.js";

const $ = (sel) => document.querySelector(sel);

async function main() {
  const { state, notify, form, controls } = await openPage("/api/config");
  const charts = Object.fromEntries([...document.querySelectorAll(".chart")].map((el) => [el.id, new Chart(el)]));
  const unknownHidden = hideControls(form, state.page.hide);
  notify(unknownHidden.map((k) => ({ field: "hide", message: `Link: hide names no control '${k}'` })), "hide");
  // A read-only hook for the browser tests and benches; no module reads it.
  const gfl = (window.gfl = { state, charts, controls, lastPaint: null, trace: null });

  // The run on show; a complete paint lets the next request go (latest wins).
  const show = new TraceShow(document, charts, state, (detail, trace) => {
    gfl.lastPaint = detail;
    lesson.painted(detail, trace);
    if (detail.complete) requests.settle(trace);
    window.dispatchEvent(new CustomEvent("gfl:painted", { detail }));
  });
  gfl.player = show.player;
  gfl.views = show.views;
  gfl.lag = show.views.lag;
  const requests = new Requests(state, (config, how) => {
    show.expect(how);
    gfl.requestedAt = performance.now();
    compare.setBase(config);
    source.run(config, { lag: state.request.lag });
  }, (config, lag) => !!source.holds?.(config, { lag }));
  // After a training that brought no trace (stopped, refused): the views must show this setting whole.
  const retraceIfNeeded = () => {
    if (!(dispatcher.trace?.complete && state.showsCurrent())) requests.request("commit", true);
  };
  state.listen((change) => {
    // A Train-only key moved: the training of the old setting ends.
    if (change.type === "values" && !state.needsTrace(change.changed) && change.stoppedTraining) source.stop();
  });

  const dispatcher = new FrameDispatcher({
    start: (trace, frame) => {
      state.traceStarted(frame.run);
      gfl.trace = trace;
      notify([], "error");
      controls.markInvalid(null);
      show.load(trace, lesson.holds(trace)); // a lesson's own run waits at step 0
    },
    data: () => show.invalidate(),
    done: (trace, frame) => {
      state.traceDone(frame.run);
      compare.primary(trace);
      // The data is all here: the next setting's computation overlaps this one's paint (a drag's throughput is
      // the slower of the two, not their sum).  Its start frame finishes this paint first.
      requests.settle(trace);
      show.invalidate();
    },
    error: (frame) => {
      if (state.request?.kind === "train") {
        state.trainRefused(frame.message);
        return retraceIfNeeded();
      }
      notify([{ field: frame.field, message: frame.field ? `${frame.field}: ${frame.message}` : frame.message }], "error");
      controls.markInvalid(frame.field);
      state.traceFailed();
      requests.settle(dispatcher.trace, true);
    },
    trainStart: (run, frame) => {
      training.started(run, frame);
      show.views.lag.trainingMaps(run);
    },
    trainLag: (run) => show.views.lag.trainingMaps(run),
    trainStep: (run) => training.step(run),
    trainDone: (run, frame) => {
      state.trainDone(frame); // the trained model's trace follows as this request's ordinary frames
      training.finished(run, frame);
    },
    cancelled: retraceIfNeeded, // only the newest request's cancel gets here: Stop was pressed
    queued: (frame) => state.queued(frame.position), // the server's word on where the request waits
    computing: (frame) => state.computing(frame.estimate_s), // and on how long its computation should take
  }, { trains: () => state.training.status === "training" });
  const onFrame = (frame, payload) => {
    if (frame.type === "prefetched") {
      // The run on show decides whether neighbours are small enough to bring in (during a drag the slider's value is
      // not received yet).
      source.prefetched?.(frame, state.view.shown?.config ?? state.config);
      return prefetch.answered(frame);
    }
    return isUploadFrame(frame) ? upload.frame(frame) : dispatcher.accept(frame, payload);
  };
  const source = (gfl.socket = makeSource(onFrame, connectionStatus($("#conn-status"), () => {
    prefetch.reset();
    state.trainRefused("the connection to the server dropped");
    requests.request("commit", true); // a fresh socket after a drop: ask again
  }), state));
  // A slider's neighbouring values, computed by the server ahead of a drag (a static copy has its grid instead).
  const prefetch = (gfl.prefetch = new Prefetcher(state, (configs, o) => !!source.prefetch?.(configs, o), undefined,
    () => source.bringInMs?.(state.view.shown?.config ?? state.config, { lag: state.wantsLag }) || 0));
  prefetch.bind(form);
  source.skipNeighbours?.((config) => prefetch.passed(config)); // what a drag has gone past is not brought in
  // "instant" in the speed list shows everything at once: in a static copy, a recorded training too.
  if (source instanceof RecordedSource) {
    const speed = $("#speed");
    speed.addEventListener("change", () => source.setPace(Number(speed.value) === 0 ? Infinity : 1));
  }

  const actions = {
    train: () => {
      const config = state.startTraining();
      if (!config) return;
      dispatcher.clearTraining();
      source.train(config, { lag: state.request.lag });
      compare.train(config); // in compare mode B and C train too, each on its own source
    },
    stop: () => {
      if (!state.stopTraining("stop")) return;
      source.stop();
      compare.stop();
    },
  };
  const trainCharts = { loss: charts["chart-loss"], norm: charts["chart-train-norm"], profile: charts["chart-train-profile"],
    alignment: charts["chart-train-alignment"] };
  const training = (gfl.training = new TrainingPanel($("#training"), trainCharts, state, actions));
  keepInPlace($("#chart-loss")); // the loss curve stays put as a training ends
  paintSwatches($("#training"));
  show.views.onLayer = (l, d) => training.setLayer(l, d);
  const compare = (gfl.compare = new ComparePanel($("#compare"), { state, charts, toggle: $("#compare-toggle"),
    notify: (list, from = "compare") => notify(list, from), actions }));
  compare.follow(training);
  const lesson = (gfl.lesson = new LessonPanel($("#lesson"), { state, form,
    watch: $("#chart-grad-norm"), actions: { play: () => show.player.play(), train: () => (actions.train(), training.bringIntoView()) } }));
  const upload = (gfl.upload = new UploadPanel($("#upload"), { source, state, notices: $("#notices") }));
  // With an upload active the page asks before it leaves for a lesson, which would not have the upload.
  const picker = $("#lesson-picker");
  const pickedAtLoad = picker ? picker.value : "";
  bindLessonPicker(picker, (url) => upload.leaveFor(url, picker.selectedOptions[0]?.textContent.trim() || "the lesson",
    undefined, () => (picker.value = pickedAtLoad)));
  $("#copy-link").addEventListener("click", () => copyLink($("#copy-link"), shareLink(state.query)));
  bindDownloads(document.body, charts, () => dispatcher.trace, () => show.views.lag.shownMap(), state.schema);
  if (state.page.embed) applyEmbed(document, show.player);
  bindPresenting(document, { state, embed: state.page.embed });
  // A first visit meets the introduction, unless the link is a slide (embedded or presented), a lesson (it teaches)
  // or a room's (it follows).
  bindIntro(document, { first: !state.page.embed && !state.page.present && !$("#lesson") && !following() });
  applyStaticCopy(document, state);
  const saved = (gfl.saved = new SavedTracePanel($("#saved-trace"), $("#trace-file-input"), state.schema));
  if (!staticCopy()) saved.acceptDrops();
  const live = !(source instanceof RecordedSource); // a static copy has no server to hold a room
  if (live) gfl.room = bindRoom(document, { state, player: show.player, lesson, trace: () => dispatcher.trace });
  requests.request("commit", true);
  saved.openLinked();
}

startPage(main);
