// The cliff's live frame source: GET /api/cliff on this page's server.  It has the surface of frames.js's
// sources (`run(config)`, `stop()`; `onFrame`, `onStatus`), so in a static copy frames.js's RecordedSource,
// replaying the export's recordings of the same answers, stands in for it and the page cannot tell them apart.
// Each answer is one frame: the /api/cliff document (non-finite numbers read back from the wire's strings) with
// the request's run number, or an error frame {type: "error", run, field, message}.  Newest request wins.

import { parseFrame } from "./socket.js";

export class CliffSource {
  /**
   * @param {(frame: object, payload: null) => void} onFrame  the newest request's answer only
   * @param {(status: string) => void} onStatus  'open': there is no connection to lose
   * @param {(config: object) => string} queryOf  the API query of a setting (every key)
   */
  constructor(onFrame, onStatus = () => {}, queryOf) {
    this.onFrame = onFrame;
    this.queryOf = queryOf;
    this.newest = 0;
    this.controller = null;
    onStatus("open");
  }

  /** Ask for the answer of `config`; a newer request supersedes this one (its fetch is aborted). */
  run(config) {
    const run = ++this.newest;
    this.stop();
    const controller = (this.controller = new AbortController());
    fetch("/api/cliff?" + this.queryOf(config), { signal: controller.signal })
      .then(async (r) => (r.ok ? parseFrame(await r.text()) : { ...(await r.json()), type: "error" }))
      .catch((e) => (e.name === "AbortError" ? null : { type: "error", field: null, message: String(e) }))
      .then((frame) => {
        if (frame && run === this.newest) this.onFrame({ ...frame, run }, null);
      });
  }

  stop() {
    this.controller?.abort();
  }
}
