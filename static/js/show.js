// The run on show: its trace, its views (views.js) and their playback (player.js).  A new run's start frame
// replaces it; the run it replaces, received whole, is painted whole first, so every run a drag receives is
// also shown whole.  "Predict, then press play": a held run waits at its start.

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
    this.player = new Player((cursor) => this.views.render(cursor), () => {});
    bindPlayerBar(doc, this.player);
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
    if (held) this.player.pause();
  }

  /** More of the run arrived: repaint on the next frame. */
  invalidate() {
    this.player.invalidate();
  }
}
