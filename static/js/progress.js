// The status over the views while they do not show the current setting: what is computing, with a progress bar
// and the server's estimate of how long it takes (its `computing` frame, from its cost model), and which setting
// the views, dimmed meanwhile, still show.  Information, not an error: it is never styled as a warning.  The
// words are pure functions of the numbers (node --test loads them); ComputingStatus owns the element.

import { setProp } from "./dom.js";

// A computation this long says that it is computing, and for which setting.
export const COMPUTING_MS = 300;
// How often the bar and the time left move while a computation runs.
const TICK_MS = 250;

/** "12 s", "2 min 0 s": whole seconds, rounded up. */
export function formatSeconds(s) {
  if (!Number.isFinite(s)) return "–";
  const whole = Math.ceil(s); // rounded before splitting: 119.6 s is "2 min 0 s", never "1 min 60 s"
  if (whole < 60) return `${whole} s`;
  return `${Math.floor(whole / 60)} min ${whole % 60} s`;
}

/** As formatSeconds, with tenths under 10 s ("0.4 s"): a short computation's estimate is not "1 s". */
export function secondsText(s) {
  return Number.isFinite(s) && s < 9.95 ? `${Math.max(0.1, Math.ceil(s * 10) / 10).toFixed(1)} s` : formatSeconds(s);
}

/**
 * Where a computation estimated at `estimate` s stands after `elapsed` s: `fraction` for the bar (null when there is
 * no estimate, or the estimate has run out: the bar then only says that work goes on) and `left` in words.
 */
export function progressOf(elapsed, estimate) {
  if (!Number.isFinite(estimate) || estimate <= 0) return { fraction: null, left: "" };
  if (elapsed < estimate) return { fraction: elapsed / estimate, left: `about ${secondsText(estimate - elapsed)} left` };
  return { fraction: null, left: `longer than the ${secondsText(estimate)} estimated; still computing` };
}

export class ComputingStatus {
  /**
   * @param {Document} doc
   * @param {HTMLElement} before  the element the status goes before (the overflow banner)
   * @param {HTMLElement[]} dimmed  what is dimmed while it shows an earlier setting (the views, the summary)
   */
  constructor(doc, before, dimmed) {
    this.el = doc.createElement("div");
    this.el.id = "view-status";
    this.el.className = "view-status";
    this.el.hidden = true;
    this.text = doc.createElement("p");
    this.text.setAttribute("role", "status"); // the words are read once; the bar's ticks are not
    this.bar = doc.createElement("progress");
    this.bar.className = "view-progress";
    this.bar.max = 1;
    this.bar.setAttribute("aria-label", "progress of the computation");
    this.left = doc.createElement("span");
    this.left.className = "view-progress-left";
    const line = doc.createElement("div");
    line.className = "view-progress-line";
    line.append(this.bar, this.left);
    this.el.append(this.text, line);
    before.before(this.el);
    this.dimmed = dimmed;
    this.timer = 0;
  }

  /**
   * Show `text` (none hides it); `progress` {since, estimate} (ms timestamp the computation began, estimated seconds or
   * null) shows the bar; `dim`: the views show an earlier setting meanwhile.
   */
  show(text, progress = null, dim = false) {
    clearTimeout(this.timer);
    setProp(this.el, "hidden", !text);
    if (this.text.textContent !== text) this.text.textContent = text;
    for (const el of this.dimmed) el.classList.toggle("stale", !!text && dim);
    this.el.classList.toggle("computing", !!progress);
    if (!progress) return;
    const { fraction, left } = progressOf((Date.now() - progress.since) / 1000, progress.estimate);
    if (fraction === null) this.bar.removeAttribute("value");
    else this.bar.value = fraction;
    this.left.textContent = left;
    this.timer = setTimeout(() => this.show(text, progress, dim), TICK_MS);
  }
}
