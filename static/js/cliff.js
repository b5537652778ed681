// The cliff's glue, in the same house as the lab's (main.js): the page state from the boot data (the cliff's
// table as GET /api/cliff/config describes it, and the server's reading of the link), the lab's controls and
// lesson panel, and one frame source (/api/cliff, or a static copy's recordings) whose answers the cliff's
// views draw.  Each concern lives in its module; this one only connects them.

import { openPage, startPage } from "./boot.js";
import { CliffSource } from "./cliff_source.js";
import { copyLink } from "./export.js";
import { LessonPanel } from "./lesson.js";
import { settingQuery } from "./link.js";
import { Requests } from "./requests.js";
import { applyStaticCopy, makeSource, shareLink } from "./static_copy.js";
import { CliffViews } from "./view_cliff.js";

const $ = (sel) => document.querySelector(sel);

async function main() {
  const { schema, state, form, controls } = await openPage("/api/cliff/config");
  const views = new CliffViews(document, state);
  // A read-only hook for the browser tests and screenshots; no module reads it.
  const hook = (window.gflCliff = { state, lastPaint: null });

  /** Draw an answer; `held`: "predict, then run", its descents wait. */
  const paint = (answer, held) => {
    views.show(answer, held);
    const query = settingQuery(schema, answer.config); // the API query of what is drawn
    hook.lastPaint = { query, data: answer, held, count: (hook.lastPaint?.count || 0) + 1 };
    lesson.painted({ complete: !held }, answer); // the lesson's own answer, drawn whole, opens its answer
    window.dispatchEvent(new CustomEvent("gfl:painted", { detail: { query, held, at: performance.now() } }));
  };
  const requests = new Requests(state, (config) => source.run(config));
  const source = makeSource((frame) => {
    if (frame.type === "error") {
      state.traceFailed();
      views.failed(frame.message);
      controls.markInvalid(frame.field);
      return requests.settle(frame.run, true);
    }
    state.traceStarted(frame.run); // one frame is the whole answer: it starts and is done
    state.traceDone(frame.run);
    controls.markInvalid(null);
    paint(frame, lesson.holds(frame));
    requests.settle(frame.run);
  }, () => {}, state, (onFrame, onStatus) => new CliffSource(onFrame, onStatus, (c) => settingQuery(schema, c)));

  const play = () => views.shown?.held && paint(views.shown.answer, false);
  const lesson = new LessonPanel($("#lesson"), { state, form, watch: $("#chart-surface"), actions: { play } });
  $("#copy-link").addEventListener("click", () => copyLink($("#copy-link"), shareLink(state.query)));
  applyStaticCopy(document, state, "cliff");
  requests.request("commit", true);
}

startPage(main);
