// When a page asks its frame source for the views' data again: on a moved control that changes them (a new
// upload, the lag map's view opened), latest wins.  The page state decides whether a request is due (PageState.requestTrace: a slide waits
// for the request in flight, anything else supersedes it); this module sends what it returns and, once the
// request in flight has settled (received whole, painted, or refused), sends the newest setting a slide left
// waiting.  Every page uses it: the lab (its socket's trace) and the cliff (its /api/cliff answer).
//
// A slide to a setting the frame source already holds whole (`holds`: the page's cache of runs) does not wait: it is
// answered at once and supersedes the request in flight, so a drag shows every held value it passes, not only the
// answers of its round trips.  Not while the server says it is computing the answer in flight (its `computing` frame,
// sent for computations long enough to show): superseded, that computation would run to its end for nothing, holding
// a slot the drag's next value waits for.  Nor while the request in flight is itself a held setting's replay: it is
// shown in the next task, and superseded before then it would never be shown; the slide waits that task for it.

export class Requests {
  /**
   * @param {import('./state.js').PageState} state
   * @param {(config: object, how: string) => void} send  the request leaves: `how` is 'commit' or 'slide'
   * @param {(config: object, lag: boolean) => boolean} holds  whether the source answers `config` at once
   */
  constructor(state, send, holds = () => false) {
    this.state = state;
    this.send = send;
    this.holds = holds;
    this.settled = null; // what names the request that has let the next one go (its trace, its run number)
    state.listen((change) => {
      if (change.type === "values" && state.needsTrace(change.changed)) this.request(change.how);
      // A new upload, or none any more: the current setting's data is due again (a resumed one is the same upload).
      if (change.type === "uploads" && change.changed) this.request("commit");
      // The lag map's view opened: the map is due now, unless a training or a trained model's views are in the way.
      if (change.type === "page" && change.key === "view" && state.lagDue()) this.request("commit");
    });
  }

  /** Ask for the current setting if the state says a request is due; `force` asks even for the setting on show. */
  request(how = "commit", force = false) {
    const config = this.state.requestTrace(this.supersedes(how) ? "commit" : how, force); // still a slide to the views
    if (config) this.send(config, how);
  }

  /** Whether a slide goes at once, superseding the request in flight: its setting is held (see the header). */
  supersedes(how) {
    const st = this.state;
    return how === "slide" && !!st.inFlight && !st.request?.estimate && !this.replaying() &&
      this.holds(st.config, st.wantsLag);
  }

  /** Whether the request in flight is itself answered at once (a held setting's replay, due in a later task). */
  replaying() {
    const r = this.state.request;
    return !!r && this.holds(r.config, r.lag);
  }

  /**
   * The request named by `token` (its trace, its run number) has settled: its data arrived whole or was painted, or
   * it `failed`.  The newest setting a slide left waiting goes next.  Once per request; a refusal always lets it go.
   */
  settle(token, failed = false) {
    if (!failed && (token == null || this.settled === token)) return;
    this.settled = token;
    const next = this.state.traceSettled();
    if (next) this.send(next, "slide");
  }
}
