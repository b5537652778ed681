// The glue: reads the page's boot data, builds the controls, keeps the URL in
// step with them, asks the server for traces and hands each run to the player,
// which repaints the views.  The only module that knows the page's element ids.

import { Chart, layerLabel } from "./charts.js";
import { ComparePanel } from "./compare.js";
import { Controls, TRAIN_ONLY, applicableOnly } from "./controls.js";
import { applyEmbed, hideControls, pageOptions } from "./embed.js";
import { bindDownloads } from "./export.js";
import { LessonPanel, bindLessonPicker } from "./lesson.js";
import { addDismiss, showBanner, showNotices, showSummary } from "./panels.js";
import { Player, SPEEDS, bindKeys } from "./player.js";
import "./script_button.js"; // "Copy as PyTorch": binds #copy-script itself
import { TraceSocket } from "./socket.js";
import { LinkState } from "./state.js";
import { RunTrace } from "./trace.js";
import { TrainingPanel } from "./training.js";
import { drawGradNorms, drawLayerMap } from "./view_norms.js";
import { drawEigenvalues } from "./view_theory.js";
import { drawGates, drawGradUnits, drawHidden } from "./view_units.js";

const DEBOUNCE_MS = 120;
const $ = (sel) => document.querySelector(sel);
const setText = (el, text) => { if (el.textContent !== text) el.textContent = text; };
const setAttr = (el, name, value) => { if (el.getAttribute(name) !== value) el.setAttribute(name, value); };

async function loadBoot() {
  const el = $("#gfl-boot");
  const boot = el ? JSON.parse(el.textContent || "{}") : {};
  if (!Array.isArray(boot.fields) || !boot.fields.length) {
    boot.fields = (await (await fetch("/api/config")).json()).fields;
  }
  return boot;
}

async function main() {
  const boot = await loadBoot();
  // On a narrow screen the settings start folded, so the views come first.
  if (window.matchMedia("(max-width: 820px)").matches) $(".sidebar-fold").open = false;
  const link = new LinkState(boot.fields);
  const notices = $("#notices");
  // Notices the server rendered into the page get the same dismiss button as the page's own.
  for (const p of notices.querySelectorAll(".notice")) addDismiss(p);

  // The server read the link already (and rendered its notices); read it here too
  // when the page came without a config, so a static copy still works.
  let config = boot.config;
  if (!config) {
    const parsed = link.parse(location.search);
    config = parsed.config;
    showNotices(notices, parsed.notices, "link");
  }

  const charts = Object.fromEntries(
    [...document.querySelectorAll(".chart")].map((el) => [el.id, new Chart(el)]));
  const gfl = (window.gfl = { link, charts, lastPaint: null, trace: null });
  const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  // Compare mode: cmp_b / cmp_c of the link, each alternative on its own socket.
  const compare = (gfl.compare = new ComparePanel($("#compare"), { link, charts, url: wsUrl, toggle: $("#compare-toggle"),
    notify: (list, source = "compare") => showNotices(notices, list, source) }));

  // -- controls and the link ------------------------------------------------------
  let timer = 0;
  let lastSent = -Infinity;
  let lastKey = null;
  let animateNext = true;
  // A control moved (name null: several at once, as the lesson's reset does).
  function settingsChanged(name, how) {
    const cfg = controls.read();
    controls.applicability(cfg);
    writeLink(cfg);
    if (TRAIN_ONLY.has(name)) return;
    // Dragging a slider shows each result whole; a discrete change replays the sweep.
    animateNext = how !== "slide";
    requestRun();
  }
  const controls = new Controls($("#controls"), boot.fields, settingsChanged);
  // The link names only the keys that differ from the defaults and apply to this model.
  function writeLink(cfg) {
    history.replaceState(null, "", link.toQuery(applicableOnly(cfg, boot.fields), location.search));
  }
  controls.write(config);
  writeLink(controls.read());
  gfl.controls = controls;

  // -- for teachers: hide=k1,k2, embed=1, and the lesson of a lesson=<id> link ----------
  const page = pageOptions(location.search);
  const unknownHidden = hideControls($("#controls"), page.hide);
  showNotices(notices, unknownHidden.map((k) => ({ field: "hide", message: `Link: hide names no control '${k}'` })), "hide");
  bindLessonPicker($("#lesson-picker"));
  const lesson = (gfl.lesson = new LessonPanel($("#lesson"), { form: $("#controls"), controls, link, embed: page.embed,
    changed: () => settingsChanged(null, "commit") }));

  // Leading and trailing edge: a single change goes out at once, a drag at most every DEBOUNCE_MS.
  function requestRun() {
    clearTimeout(timer);
    const wait = Math.max(0, lastSent + DEBOUNCE_MS - performance.now());
    if (wait === 0) sendRun();
    else timer = setTimeout(sendRun, wait);
  }

  function sendRun(force = false) {
    timer = 0;
    const cfg = controls.read();
    const key = JSON.stringify(Object.entries(cfg).filter(([k]) => !TRAIN_ONLY.has(k)));
    if (key === lastKey && !force) return;
    lastKey = key;
    lastSent = performance.now();
    gfl.requestedAt = lastSent;
    lastRequest = "run";
    training.interrupted(); // the server cancels training for the newer request
    compare.setBase(cfg);
    socket.run(cfg);
  }

  // -- the socket --------------------------------------------------------------------
  let trace = null;
  let lastRequest = "run";
  const status = $("#conn-status");
  let dropped = false;
  const socket = new TraceSocket(wsUrl, onFrame, (s) => {
    status.textContent = { connecting: "connecting…", open: "", closed: "reconnecting…" }[s];
    status.hidden = s === "open";
    if (s === "closed") dropped = true;
    if (s === "open" && dropped) sendRun(true); // a fresh socket after a drop: ask again
  });
  gfl.socket = socket;

  function onFrame(frame, payload) {
    switch (frame.type) {
      case "start":
        trace = gfl.trace = new RunTrace(frame);
        // Only the train request's own frames get here after train_done: the trained model's trace.
        trace.trained = lastRequest === "train";
        $("#model-badge").hidden = !trace.trained;
        showNotices(notices, [], "error");
        controls.markInvalid(null);
        layerOptions(trace);
        showSummary($("#summary"), trace);
        showBanner($("#banner"), null);
        lastPainted = {};
        progressAt = trace.createdAt; // a progress paint only once this run has streamed a while
        player.load(trace.T, { animate: animateNext });
        // "Predict, then press play"; its eigenvalues wait for the backward sweep, as the gradient views do.
        trace.lessonHeld = lesson.holds(trace);
        if (trace.lessonHeld) player.pause();
        animateNext = true;
        break;
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
          compare.primary(trace);
        }
        player.invalidate();
        break;
      case "error":
        if (lastRequest === "train") {
          training.refused(frame.message);
          // The train request cancelled any run in flight: finish showing the trace.
          if (!trace || !trace.complete) sendRun(true);
          else lastRequest = "run";
        } else {
          showNotices(notices, [{ field: frame.field, message: frame.field ? `${frame.field}: ${frame.message}` : frame.message }], "error");
          controls.markInvalid(frame.field);
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
        training.finished(frame);
        break;
      case "cancelled":
        // Only the newest request's cancel gets here: Stop was pressed.
        training.stopped();
        break;
      default:
        break;
    }
  }

  // -- the views --------------------------------------------------------------------
  const layerSelect = $("#view-layer");
  let selected = { l: 0, d: 0 };
  function layerOptions(tr) {
    const opts = [];
    for (let l = 0; l < tr.L; l++) for (let d = 0; d < tr.D; d++) opts.push(new Option(layerLabel(l, d, tr.D), `${l},${d}`));
    if (selected.l >= tr.L || selected.d >= tr.D) selected = { l: 0, d: 0 };
    layerSelect.replaceChildren(...opts);
    layerSelect.value = `${selected.l},${selected.d}`;
    layerSelect.disabled = opts.length < 2;
    const gates = $("#view-gates");
    gates.classList.toggle("empty", tr.gateNames.length === 0);
    $("#view-layers").classList.toggle("empty", tr.L * tr.D < 2);
  }
  layerSelect.addEventListener("change", () => {
    const [l, d] = layerSelect.value.split(",").map(Number);
    selected = { l, d };
    training.setLayer(l, d);
    player.invalidate();
  });

  // Each view repaints only when what it shows has changed.
  let lastPainted = {};
  function paintIf(name, key, paint) {
    const k = key.join("|");
    if (lastPainted[name] === k) return;
    lastPainted[name] = k;
    paint();
  }

  // Showing a run whole (instant speed, or a slider drag) paints each view once
  // its own data has arrived: the forward views while the backward frames are
  // still streaming, the gradient views at the end.  A stream that stalls, or
  // one that takes long, still gets a progress paint now and then.
  const STALL_MS = 250;
  const PROGRESS_MS = 2000;
  let progressAt = 0;
  let wakeTimer = 0;
  function render(cursor) {
    if (!trace) return;
    const { T } = trace;
    const fwd = Math.min(cursor, T, trace.forwardCount);
    const bwd = Math.min(Math.max(0, cursor - T), trace.backwardCount);
    const now = performance.now();
    const streaming = cursor >= 2 * T && !trace.complete;
    const progress = streaming && (now - trace.lastFrameAt > STALL_MS || now - progressAt > PROGRESS_MS);
    if (progress) progressAt = now;
    if (streaming) {
      clearTimeout(wakeTimer);
      wakeTimer = setTimeout(() => player.invalidate(), STALL_MS + 10);
    }
    const ready = (complete) => !streaming || progress || complete;
    const { l, d } = selected;
    const done = trace.complete ? 1 : 0;
    if (ready(trace.complete)) {
      paintIf("norms", [trace.run, bwd, trace.backwardCount, done, fwd === T], () => {
        $("#note-grad-norm").textContent = drawGradNorms(charts["chart-grad-norm"], trace, bwd);
      });
    }
    // A lesson's "predict" moment: the eigenvalues and the summary's gradient figures would give the
    // answer away, so they wait for the backward sweep.
    const waits = !!trace.lessonHeld && bwd === 0;
    paintIf("summary", [trace.run, done, waits], () => showSummary($("#summary"), trace, waits));
    $("#view-eigen").classList.toggle("empty", waits);
    if (!waits) paintIf("eigen", [trace.run], () => drawEigenvalues(charts["chart-eigen"], trace));
    if (ready(fwd === T)) {
      paintIf("hidden", [trace.run, fwd, trace.forwardCount, l, d], () => drawHidden(charts["chart-hidden"], trace, l, d, fwd));
    }
    if (ready(bwd === T)) {
      paintIf("grad", [trace.run, bwd, trace.backwardCount, l, d], () => drawGradUnits(charts["chart-grad-units"], trace, l, d, bwd));
    }
    if (trace.gateNames.length && ready(fwd === T && bwd === T)) {
      // The gates view also carries the memory-path product, which comes with the backward frames.
      paintIf("gates", [trace.run, fwd, trace.forwardCount, bwd, l, d], () => drawGates(charts["chart-gates"], trace, l, d, fwd, bwd));
    }
    if (trace.L * trace.D > 1 && ready(bwd === T)) {
      paintIf("layers", [trace.run, bwd, trace.backwardCount], () => drawLayerMap(charts["chart-layers"], trace, bwd));
    }
    showBanner($("#banner"), trace, fwd, bwd);
    phaseText(cursor, fwd, bwd);
    const complete = trace.complete && fwd === T && bwd === T;
    gfl.lastPaint = { run: trace.run, at: performance.now(), complete, cursor, trained: trace.trained };
    window.dispatchEvent(new CustomEvent("gfl:painted", { detail: gfl.lastPaint }));
  }

  function phaseText(cursor, fwd, bwd) {
    const T = trace.T;
    setText($("#phase"), cursor <= T
      ? (fwd === 0 ? "forward pass: about to read x_0" : `forward pass: h_t for t = 0 … ${fwd - 1} of ${T - 1}`)
      : `backward pass: ∂L/∂h_t from t = ${T - 1} back to ${T - bwd}`);
  }

  // -- playback ---------------------------------------------------------------------
  const playButton = $("#play");
  const scrubber = $("#scrubber");
  // Written only when they change: a frame that touches nothing costs the browser no layout.
  const player = new Player(render, (s) => {
    setText(playButton, s.playing ? "❚❚ Pause" : "▶ Play");
    setAttr(playButton, "aria-pressed", String(s.playing));
    setAttr(scrubber, "max", String(s.length));
    if (scrubber.value !== String(s.cursor)) scrubber.value = String(s.cursor);
    setAttr(scrubber, "aria-valuetext", `step ${s.cursor} of ${s.length}`);
  });
  gfl.player = player;
  playButton.addEventListener("click", () => player.toggle());
  $("#step-back").addEventListener("click", () => player.step(-1));
  $("#step-forward").addEventListener("click", () => player.step(1));
  scrubber.addEventListener("input", () => {
    player.pause();
    player.seek(Number(scrubber.value));
  });
  const speed = $("#speed");
  speed.replaceChildren(...SPEEDS.map(([name, s]) => new Option(name, String(s))));
  speed.value = "2";
  speed.addEventListener("change", () => player.setSpeed(Number(speed.value)));
  bindKeys(player);

  // -- links, downloads, training ---------------------------------------------------
  $("#copy-link").addEventListener("click", () => copyLink($("#copy-link")));
  bindDownloads(document.body, charts, () => trace);
  const trainCharts = { loss: charts["chart-loss"], norm: charts["chart-train-norm"], profile: charts["chart-train-profile"] };
  const training = (gfl.training = new TrainingPanel($("#training"), trainCharts, {
    train: () => {
      lastRequest = "train";
      socket.train(controls.read());
      compare.train(controls.read()); // in compare mode B and C train too, each on its socket
    },
    stop: () => {
      socket.stop();
      compare.stop();
      // The train request cancelled any run in flight: finish showing the untrained model's trace.
      if (!trace || !trace.complete) sendRun(true);
    },
  }));
  compare.follow(training);

  if (page.embed) applyEmbed(document, player);
  sendRun();
}

async function copyLink(button) {
  const url = location.href;
  let ok = false;
  try {
    await navigator.clipboard.writeText(url);
    ok = true;
  } catch {
    // Older browsers, or clipboard permission refused: select a temporary field instead.
    const field = document.createElement("textarea");
    field.value = url;
    document.body.append(field);
    field.select();
    ok = document.execCommand("copy");
    field.remove();
  }
  const old = button.dataset.label || button.textContent;
  button.dataset.label = old;
  button.textContent = ok ? "Copied ✓" : "Copy failed: use the address bar";
  setTimeout(() => (button.textContent = old), 1600);
}

main().catch((e) => {
  const el = document.getElementById("notices");
  if (el) showNotices(el, [{ field: null, message: `The page failed to start: ${e.message}` }], "error");
  throw e;
});
