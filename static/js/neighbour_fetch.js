// The neighbours of a held slider brought into the page itself: once the server has computed them into its cache
// (a `prefetched` answer, prefetch.js), they are asked for one at a time on a second socket of their own, and kept in
// the page's cache of whole runs (run_cache.js), so a move to one of them is shown without a round trip.  Only
// for small runs (a classroom shares one network: the big settings' runs stay on the server until asked for), and
// the second socket opens only when first needed.  Nothing here is shown: the page's own socket and its
// numbering are untouched.

import { Recording, runKey } from "./run_cache.js";

/** Runs larger than this (as the cache counts them) are not brought ahead: they stay on the server until asked for. */
export const SMALL_BYTES = 2 ** 20;

export class NeighbourFetch {
  /**
   * @param {import('./run_cache.js').RunCache} cache  where whole runs go
   * @param {(onFrame: (frame: object, payload: ArrayBuffer|null) => void) => {run: Function}} open  a socket of its
   *   own (delivering the newest request's frames only), opened at the first fetch
   */
  constructor(cache, open) {
    this.cache = cache;
    this.open = open;
    this.socket = null;
    this.queue = []; // [{config, lag}] still to ask for
    this.current = null; // {key, frames, bytes} being received
    this.fetched = 0; // runs brought into the cache
    this.askedAt = 0; // when the run being received was asked for
    this.msPerRun = 0; // a run's round trip on this socket, smoothed (0 before the first)
    this.passed = () => false; // whether a dragged slider has gone past a setting (skipWhen)
  }

  /** `passed(config)`: the slider being dragged has gone past `config`, so bringing it in would be bytes for nothing. */
  skipWhen(passed) {
    this.passed = passed;
  }

  /** Whether a run is being received or waits to be asked for. */
  get busy() {
    return !!this.current || this.queue.length > 0;
  }

  /** Whether neighbours are brought in while the run on show is `shown` (with `lag`): only when it is small. */
  bringsIn(shown, lag = false) {
    const size = shown && this.cache.sizeOf(shown, lag);
    return !!size && size <= SMALL_BYTES;
  }

  /**
   * Bring `configs` into the cache, unless the run on show (`shown`, with `lag`) is not small: a queue of the newest
   * neighbours replaces the one before (the slider moved on).
   */
  fetch(configs, { lag = false } = {}, shown = null) {
    if (!this.bringsIn(shown, lag)) return;
    this.queue = configs.filter((c) => !this.cache.has(c, lag)).map((config) => ({ config, lag }));
    if (!this.current) this.next();
  }

  next() {
    this.current = null;
    const item = this.queue.shift();
    if (!item) return;
    if (this.cache.has(item.config, item.lag) || this.passed(item.config)) return this.next();
    this.socket ||= this.open((frame, payload) => this.receive(frame, payload));
    this.current = new Recording(runKey(item.config, item.lag));
    this.askedAt = performance.now();
    this.socket.run(item.config, { lag: item.lag });
  }

  receive(frame, payload) {
    const rec = this.current;
    if (!rec || frame.run == null) return;
    if (frame.type === "error" || frame.type === "cancelled") return this.next();
    if (!rec.add(frame, payload)) return;
    this.cache.keep(rec);
    this.fetched += 1;
    const ms = performance.now() - this.askedAt;
    this.msPerRun = this.msPerRun ? 0.5 * this.msPerRun + 0.5 * ms : ms;
    this.next();
  }
}
