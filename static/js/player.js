// Playback of a stored run.  The cursor runs over 2T steps: 0..T reveals the
// forward sweep (h_0 .. h_{T-1}), T..2T the backward sweep (∂L/∂h_{T-1} down to
// ∂L/∂h_0).  Frames arrive far faster than a class can follow, so the run is
// replayed from memory at the chosen speed, one repaint per animation frame.

import { setAttr, setText } from "./dom.js";
import { rove } from "./roving.js";

// Seconds for a whole sweep (forward + backward); 0 shows everything at once.
export const SPEEDS = [
  ["slow", 8],
  ["normal", 2],
  ["fast", 0.6],
  ["instant", 0],
];

// However short the sequence, one step is never shown for longer than this.
const MAX_STEP_MS = 300;

export class Player {
  /** @param {(cursor: number) => void} render  paints the views for a cursor in 0..2T */
  constructor(render) {
    this.render = render;
    this.watchers = []; // watch(): the player bar, the link's step
    this.length = 0; // 2T
    this.cursor = 0;
    this.playing = false;
    this.seconds = 2;
    this.dirty = false;
    this.clock = null; // {t0, c0}: when and where playing (re)started
    this.lastPaintMs = 0;
    this.nextPaintAt = 0;
    this.frame = this.frame.bind(this);
    this.raf = 0;
  }

  /** A new run: start from the beginning and play (or show all of it when instant). */
  load(T, { animate = true } = {}) {
    this.length = 2 * T;
    if (this.seconds === 0 || !animate) {
      this.cursor = this.length;
      this.playing = false;
    } else {
      this.cursor = 0;
      this.play();
    }
    this.invalidate();
  }

  /**
   * Instant (0) shows a playing run whole at once; a paused one (a lesson's run waiting for the student's
   * prediction, a step someone stopped at) stays where it is until Play.  A run that arrives later is shown whole.
   */
  setSpeed(seconds) {
    this.seconds = seconds;
    if (seconds === 0 && this.playing) {
      this.pause();
      this.seek(this.length);
    } else if (this.playing) this.clock = { t0: performance.now(), c0: this.cursor };
    this.emit();
  }

  stepMs() {
    if (!this.length) return MAX_STEP_MS;
    return Math.min(MAX_STEP_MS, (this.seconds * 1000) / this.length);
  }

  play() {
    if (!this.length) return;
    if (this.seconds === 0) return this.seek(this.length);
    if (this.cursor >= this.length) this.cursor = 0;
    this.playing = true;
    this.clock = { t0: performance.now(), c0: this.cursor };
    this.invalidate();
  }

  pause() {
    this.playing = false;
    this.invalidate();
  }

  toggle() {
    if (this.playing) this.pause();
    else this.play();
  }

  step(delta) {
    this.pause();
    this.seek(this.cursor + delta);
  }

  seek(cursor) {
    this.cursor = Math.max(0, Math.min(this.length, Math.round(cursor)));
    if (this.playing) this.clock = { t0: performance.now(), c0: this.cursor };
    this.invalidate();
  }

  /** Something to show changed (a new frame arrived, a view option changed): repaint on the next frame. */
  invalidate() {
    this.dirty = true;
    if (!this.raf) this.raf = requestAnimationFrame(this.frame);
  }

  frame(now) {
    this.raf = 0;
    if (this.playing) {
      const c = this.clock.c0 + (now - this.clock.t0) / this.stepMs();
      const next = Math.min(this.length, Math.floor(c));
      if (next !== this.cursor) {
        this.cursor = next;
        this.dirty = true;
      }
      if (this.cursor >= this.length) this.playing = false;
    }
    // Slow repaints (big heatmaps) skip frames rather than fall behind.
    if (this.dirty && now >= this.nextPaintAt) {
      this.dirty = false;
      const t0 = performance.now();
      this.render(this.cursor);
      this.lastPaintMs = performance.now() - t0;
      this.nextPaintAt = now + (this.playing ? Math.max(0, this.lastPaintMs - 16) : 0);
      this.emit();
    }
    if (this.playing || this.dirty) this.raf = requestAnimationFrame(this.frame);
  }

  /** `fn({playing, cursor, length, seconds})` after each paint and each change of speed. */
  watch(fn) {
    this.watchers.push(fn);
  }

  emit() {
    const s = { playing: this.playing, cursor: this.cursor, length: this.length, seconds: this.seconds };
    for (const fn of this.watchers) fn(s);
  }
}

/** Space plays / pauses, arrows step, Home / End jump; not while typing or using a form control. */
export function bindKeys(player, target = document) {
  target.addEventListener("keydown", (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const el = e.target;
    if (el instanceof HTMLElement) {
      // Form controls keep their own keys; a focused button keeps Space (it presses the button); an open dialog
      // (the introduction) keeps every key.
      if (el.isContentEditable || el.closest("input, select, textarea, summary, dialog")) return;
      if (el.closest("button") && (e.key === " " || e.key === "Enter")) return;
    }
    const T = player.length / 2;
    if (e.key === " " || e.code === "Space") player.toggle();
    else if (e.key === "ArrowRight") player.step(e.shiftKey ? Math.max(1, Math.round(T / 10)) : 1);
    else if (e.key === "ArrowLeft") player.step(e.shiftKey ? -Math.max(1, Math.round(T / 10)) : -1);
    else if (e.key === "Home") player.seek(0);
    else if (e.key === "End") player.seek(player.length);
    else return;
    e.preventDefault();
  });
}

/** The player bar's buttons, scrubber and speed list, written only when they change (no layout otherwise). */
export function bindPlayerBar(doc, player) {
  const $ = (sel) => doc.querySelector(sel);
  const playButton = $("#play");
  const scrubber = $("#scrubber");
  player.watch((s) => {
    setText(playButton, s.playing ? "❚❚ Pause" : "▶ Play");
    setAttr(playButton, "aria-pressed", String(s.playing));
    setAttr(scrubber, "max", String(s.length));
    if (scrubber.value !== String(s.cursor)) scrubber.value = String(s.cursor);
    setAttr(scrubber, "aria-valuetext", `step ${s.cursor} of ${s.length}`);
  });
  // Step back, play, step forward: one tab stop, the arrow keys move between them (roving.js).
  rove($("#player"), () => [$("#step-back"), playButton, $("#step-forward")]);
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
  bindKeys(player, doc);
  publishHeight(playButton.closest(".player"), doc);
}

/**
 * The sticky bar's height as the page's --player-height, kept as it wraps: what is scrolled into sight (the
 * gradient chart after a lesson's Play, a view a link opens) stops below the bar, not under it (scroll-margin-top).
 */
function publishHeight(bar, doc) {
  if (!bar || typeof ResizeObserver === "undefined") return;
  const root = doc.documentElement;
  new ResizeObserver(() => root.style.setProperty("--player-height", `${Math.ceil(bar.offsetHeight)}px`)).observe(bar);
}
