// The run on show: its trace, its views (views.js) and their playback (player.js).  A new run's start frame
// replaces it; the run it replaces, received whole, is painted whole first, so every run a drag receives is
// also shown whole.  "Predict, then press play": a held run waits at its start.  Where a paused run stands is
// the link's `step` (none while it plays, at its end, or held at a lesson's question): the first run a page
// loads opens paused at the link's step.

import { Player, bindPlayerBar } from "./player.js";
import { TraceViews } from "./views.js";

export class TraceShow {
  /**
   * @param {Document} doc
   * @param {Record<string, import('./charts.js').Chart>} charts  by element id
   * @param {import('./state.js').PageState} state
   * @param {(detail: object, trace: import('./trace.js').RunTrace) => void} painted  after every paint
   */
  constructor(doc, charts, state, painted) {
    this.trace = null;
    this.animateNext = true; // whether the next run plays its sweep (a slide's runs are shown whole at once)
    this.state = state;
    this.held = false;
    this.linkStep = state.page.step ?? null; // the link's step, until the first run is here to stand at it
    this.player = new Player((cursor) => this.views.render(cursor));
    bindPlayerBar(doc, this.player);
    this.player.watch((s) => this.keepStep(s));
    this.views = new TraceViews(doc, charts, state, {
      painted: (detail) => painted(detail, this.trace), invalidate: () => this.player.invalidate(),
    });
  }

  /** A request leaves (`how`: 'commit' or 'slide'): a slide's run will be shown whole at once, not played. */
  expect(how) {
    this.animateNext = how !== "slide";
  }

  /** A new run's trace, just started: `held` keeps it at its start. */
  load(trace, held = false) {
    this.views.finish(this.player.cursor);
    this.trace = trace;
    this.views.load(trace, held);
    this.player.load(trace.T, { animate: this.animateNext });
    this.animateNext = true;
    this.held = held;
    if (held || this.linkStep !== null) this.player.pause();
    if (this.linkStep !== null) this.player.seek(this.linkStep);
    this.linkStep = null;
  }

  /** The link's step follows the player: where a paused run stands, none while it plays or has played whole. */
  keepStep({ playing, cursor, length }) {
    if (!length || this.linkStep !== null || !("step" in this.state.page)) return;
    const rests = !playing && cursor < length && !(this.held && cursor === 0);
    this.state.setPage("step", rests ? cursor : null);
  }

  /** More of the run arrived: repaint on the next frame. */
  invalidate() {
    this.player.invalidate();
  }
}
