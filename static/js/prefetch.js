// Have the next answer before it is asked for: while a slider is hovered, focused or held, the server is asked to
// compute its neighbouring values into its cache (the socket's `prefetch` message, docs/protocol.md), so a drag
// lands on cached results.  One batch out at a time; a `busy` answer stops prefetching until the server's retry
// hint has passed (the server only prefetches on a slot nobody waits for).  Reads the page state; sends through
// the frame source; changes nothing in either.

/** Settings one prefetch message may name (the server's MAX_PREFETCH). */
export const MOST = 4;

function decimals(step) {
  const s = String(step);
  return s.includes(".") ? s.length - s.indexOf(".") - 1 : 0;
}

/**
 * The slider values next to `value`, the direction of motion first (`dir` ≥ 0: upwards), each on the slider's own
 * grid and inside [min, max], at most `most` of them.
 */
export function neighbours(value, { min, max, step }, dir = 1, most = MOST) {
  const order = dir >= 0 ? [1, 2, -1, 3, -2] : [-1, -2, 1, -3, 2];
  const places = decimals(step);
  const out = [];
  for (const k of order) {
    const v = Number((value + k * step).toFixed(places));
    if (v >= min && v <= max && !out.includes(v)) out.push(v);
    if (out.length === most) break;
  }
  return out;
}

export class Prefetcher {
  /**
   * @param {import('./state.js').PageState} state
   * @param {(configs: object[], options: {lag: boolean}) => boolean} send  sends one prefetch message; false when
   *   it could not leave (no open socket)
   * @param {() => number} now  milliseconds
   */
  constructor(state, send, now = () => performance.now()) {
    this.state = state;
    this.send = send;
    this.now = now;
    this.outstanding = false;
    this.quietUntil = 0;
    this.asked = 0; // batches sent
    this.dropped = 0; // busy answers
  }

  /** Ask for the neighbours of slider `name` (an `<input type=range>`), moving in direction `dir`. */
  around(input, dir = 1) {
    const name = input.name;
    if (this.outstanding || this.now() < this.quietUntil || !this.state.needsTrace([name])) return;
    const value = Number(input.value);
    const grid = { min: Number(input.min), max: Number(input.max), step: Number(input.step) };
    const configs = [];
    for (const v of neighbours(value, grid, dir)) {
      try {
        configs.push({ ...this.state.config, [name]: this.state.schema.check(name, v) });
      } catch {
        // A neighbour the table refuses is simply not asked for.
      }
    }
    if (!configs.length || !this.send(configs, { lag: !!this.state.wantsLag })) return;
    this.outstanding = true;
    this.asked += 1;
  }

  /** The server's `prefetched` frame: the batch is over; `busy` drops prefetching for its retry hint. */
  answered(frame) {
    this.outstanding = false;
    if (frame.busy) {
      this.dropped += 1;
      this.quietUntil = this.now() + 1000 * Math.max(1, Number(frame.retry_after_s) || 1);
    }
  }

  /** The socket dropped: whatever was out will not be answered. */
  reset() {
    this.outstanding = false;
  }

  /** Prefetch around every slider of `form` while it is hovered, focused or held, and as it moves. */
  bind(form) {
    for (const input of form.querySelectorAll('input[type="range"]')) {
      let last = Number(input.value);
      const near = () => this.around(input);
      input.addEventListener("pointerenter", near);
      input.addEventListener("focus", near);
      input.addEventListener("pointerdown", near);
      input.addEventListener("input", () => {
        const v = Number(input.value);
        this.around(input, Math.sign(v - last) || 1);
        last = v;
      });
    }
  }
}
