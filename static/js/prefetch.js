// Have the next answer before it is asked for: while a slider is hovered, focused or held, the server is asked to
// compute its neighbouring values into its cache (the socket's `prefetch` message, docs/protocol.md), so a drag
// lands on cached results.  While it is dragged, the values ahead of it, in the direction of motion: as far ahead as
// it moves while the server computes one (the last batch's time a setting), or, when the page brings the batch's
// settings in (neighbour_fetch.js), while a whole batch is answered and its first setting brought in.  One batch out
// at a time; a `busy` answer stops prefetching until the server's retry hint has passed (the server only prefetches
// on a slot nobody waits for).  Reads the page state; sends through the frame source; changes nothing in either.

/** Settings one prefetch message may name (the server's MAX_PREFETCH). */
export const MOST = 4;
// A batch's time a setting before the first is measured (ms): what the server takes for a small setting, unloaded.
const FIRST_GUESS_MS = 50;
// A drag's speed is measured over input events this close together (ms); slower, the slider is resting.
const MOVING_MS = 250;

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

/**
 * While a slider is dragged: the `most` values `lead` steps and more ahead of `value` in the direction of motion, on
 * the slider's grid inside [min, max]; the values it has just passed are of no use to the drag.  `lead` 0: the
 * neighbours around it (`neighbours`).
 */
export function ahead(value, grid, dir = 1, lead = 0, most = MOST) {
  if (lead < 1) return neighbours(value, grid, dir, most);
  const places = decimals(grid.step);
  const out = [];
  for (let k = lead; out.length < most; k++) {
    const v = Number((value + Math.sign(dir || 1) * k * grid.step).toFixed(places));
    if (v < grid.min || v > grid.max) break;
    out.push(v);
  }
  return out.length ? out : neighbours(value, grid, dir, most);
}

/**
 * How many steps ahead of a dragged slider to ask for: as far as it moves, at `stepsPerMs`, in `readyMs` (until a
 * setting asked for now is where the drag will look for it); 0 at rest.
 */
export function leadSteps(stepsPerMs, readyMs) {
  return stepsPerMs > 0 ? Math.max(1, Math.round(stepsPerMs * readyMs)) : 0;
}

export class Prefetcher {
  /**
   * @param {import('./state.js').PageState} state
   * @param {(configs: object[], options: {lag: boolean}) => boolean} send  sends one prefetch message; false when
   *   it could not leave (no open socket)
   * @param {() => number} now  milliseconds
   * @param {() => number} bringInMs  how long a setting the server holds takes to reach the page (ms); 0 when the
   *   page brings none in
   */
  constructor(state, send, now = () => performance.now(), bringInMs = () => 0) {
    this.state = state;
    this.send = send;
    this.now = now;
    this.bringInMs = bringInMs;
    this.outstanding = false;
    this.quietUntil = 0;
    this.asked = 0; // batches sent
    this.dropped = 0; // busy answers
    this.sentAt = 0; // when the batch out left, and how many settings it named
    this.sentCount = 0;
    this.perSettingMs = FIRST_GUESS_MS; // the server's time a prefetched setting, from the last batch answered
    this.batchMs = FIRST_GUESS_MS; // the last batch's time from sent to answered
    this.motion = null; // a dragged slider's last value and time, and its speed in steps a millisecond
  }

  /**
   * Ask for the neighbours of slider `name` (an `<input type=range>`), moving in direction `dir`: while it is dragged
   * (`moved`), the values it will reach once the server has computed them.
   */
  around(input, dir = 1, moved = false) {
    const name = input.name;
    const value = Number(input.value);
    const grid = { min: Number(input.min), max: Number(input.max), step: Number(input.step) };
    const speed = this.track(name, value, grid.step, moved);
    if (this.outstanding || this.now() < this.quietUntil || !this.state.needsTrace([name])) return;
    const configs = [];
    const bringIn = this.bringInMs();
    for (const v of ahead(value, grid, dir, leadSteps(speed, bringIn ? this.batchMs + bringIn : this.perSettingMs))) {
      try {
        configs.push({ ...this.state.config, [name]: this.state.schema.check(name, v) });
      } catch {
        // A neighbour the table refuses is simply not asked for.
      }
    }
    if (!configs.length || !this.send(configs, { lag: !!this.state.wantsLag })) return;
    this.outstanding = true;
    this.asked += 1;
    [this.sentAt, this.sentCount] = [this.now(), configs.length];
  }

  /** A dragged slider's speed in steps a millisecond (smoothed over its moves; 0 at rest or after one). */
  track(name, value, step, moved) {
    const [t, m] = [this.now(), this.motion];
    let speed = 0;
    if (moved && m && m.name === name && t - m.at < MOVING_MS && t > m.at) {
      const now = Math.abs(value - m.value) / step / (t - m.at);
      speed = m.speed ? 0.5 * m.speed + 0.5 * now : now;
    }
    this.motion = { name, value, at: t, speed, dir: m && value !== m.value ? Math.sign(value - m.value) : m?.dir || 1 };
    return speed;
  }

  /**
   * Whether the slider being dragged has reached or gone past `config`'s value (at rest: never): the request of its
   * own value, or nothing, answers it now.
   */
  passed(config) {
    const m = this.motion;
    if (!m || !(m.speed > 0) || this.now() - m.at >= MOVING_MS || !(m.name in config)) return false;
    return (config[m.name] - m.value) * m.dir <= 0;
  }

  /** The server's `prefetched` frame: the batch is over; `busy` drops prefetching for its retry hint. */
  answered(frame) {
    this.outstanding = false;
    if (frame.ready > 0 && this.sentCount) {
      this.batchMs = this.now() - this.sentAt;
      this.perSettingMs = this.batchMs / frame.ready;
    }
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
        this.around(input, Math.sign(v - last) || 1, true);
        last = v;
      });
    }
  }
}
