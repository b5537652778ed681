// Lessons on the main page: the picker in the top bar and, on a link with
// lesson=<id>, the lesson panel (rendered by the server from
// templates/lesson_panel.html).  "Predict, then press play": the lesson's own
// run waits at the start until it is played, and the answer is revealed by its
// button or once the run (or, for a training lesson, the training) is through.
// Each "Now try" button moves one form control and fires its change, so the
// page re-runs and rewrites the link exactly as a hand on the control would.
// Each run opens the answer at most once: hidden again, it stays hidden.

const LOOK_FOR_CLASS = "look-for";

/** Choosing a lesson in the top bar's picker opens its link. */
export function bindLessonPicker(select) {
  if (!select) return;
  select.addEventListener("change", () => {
    if (select.value) location.assign(select.value);
  });
}

/**
 * Set lesson text with real subscripts and superscripts: "h_{T−1}", "σ_max", "W_hh",
 * "(γ·σ)^(T−1−t)", "h_t^(l)".  Only a one-letter symbol takes a script, so an
 * identifier such as seq_len stays as written.  Runs of 3+ spaces, which separate
 * the parts of an equation, become gaps where the line may wrap.  Text nodes
 * only: nothing from the data reaches innerHTML.
 */
export function setMath(el, text) {
  el.replaceChildren(...mathNodes(text));
}

const SCRIPT = /(?<![\p{L}\p{N}][\p{L}\p{N}])([_^])(\{[^{}]*\}|\([^()]*\)|[\p{L}\p{N}\u0304\u2032]+)|\s{3,}/gu;

function mathNodes(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(SCRIPT)) {
    const afterSub = m.index === last && out.at(-1)?.nodeName === "SUB";
    if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
    last = m.index + m[0].length;
    if (!m[1]) {
      const gap = document.createElement("span");
      gap.className = "eq-gap";
      gap.textContent = " ";
      out.push(gap);
      continue;
    }
    let body = m[2];
    // Braces only group; parentheses group an exponent, but h_t^(l) writes a layer index with them.
    if (body.startsWith("{") || (m[1] === "^" && body.startsWith("(") && !afterSub)) body = body.slice(1, -1);
    const el = document.createElement(m[1] === "_" ? "sub" : "sup");
    el.append(...mathNodes(body));
    out.push(el);
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

/** The lesson panel's behaviour; `holds(trace)` tells the glue whether to keep a new run at its start. */
export class LessonPanel {
  /**
   * @param {HTMLElement|null} root  the #lesson section (null: no lesson on this link)
   * @param {{form: HTMLFormElement, controls: object, link: object, embed: boolean, changed: () => void}} page
   *   `changed()` tells the glue that several controls were written at once
   */
  constructor(root, { form, controls, link, embed = false, changed = () => {} }) {
    this.root = root;
    this.form = form;
    this.controls = controls;
    this.link = link;
    this.changed = changed;
    this.held = null; // the lesson's own trace, kept at its start, until it opens the answer
    this.pending = !!root && !embed; // the first run of the page is the lesson's own
    this.trainArmed = null; // {shown: the trace on show} from Train's press until the trained model's trace opens the answer
    this.lastTry = null; // data-try of the try pressed last
    if (!root) return;
    const data = JSON.parse(root.querySelector("#lesson-data").textContent);
    this.id = data.id;
    this.trains = !!data.trains;
    this.config = { ...link.defaults(), ...data.config };
    this.answer = root.querySelector("#lesson-answer");
    this.revealButton = root.querySelector(".lesson-reveal");
    this.tries = [...root.querySelectorAll("button.try")];
    for (const el of root.querySelectorAll(".lesson-math")) setMath(el, el.textContent.trim());
    this.bind();
    this.labelTries();
    this.markTries();
    // Tall screens have room for the reading; at 1366×768 it starts folded so the views keep theirs.
    // A portrait tablet is tall too, but there the reading would push every chart off screen.
    if (window.matchMedia("(min-height: 900px) and (min-width: 1101px)").matches) root.querySelector(".lesson-more").open = true;
  }

  bind() {
    const fold = this.root.querySelector(".lesson-fold");
    fold.addEventListener("click", () => {
      const open = fold.getAttribute("aria-expanded") !== "true";
      fold.setAttribute("aria-expanded", String(open));
      fold.textContent = open ? "Hide lesson" : "Show lesson";
      this.root.classList.toggle("folded", !open);
    });
    this.revealButton.addEventListener("click", () => this.reveal(this.answer.hidden));
    const go = this.root.querySelector(".lesson-go");
    go.addEventListener("click", () => {
      if (go.dataset.action === "train") {
        document.getElementById("train")?.click();
        document.getElementById("training")?.scrollIntoView({ behavior: "smooth", block: "nearest" });
      } else {
        document.getElementById("play")?.click();
        // One column of views (tablet, phone): bring the gradient chart the sweep draws into sight.
        if (window.matchMedia("(max-width: 1100px)").matches) document.getElementById("view-grad-norm")?.scrollIntoView({ block: "nearest" });
      }
    });
    document.getElementById("train")?.addEventListener("click", () => {
      this.trainArmed = { shown: window.gfl?.trace ?? null };
    });
    for (const b of this.tries) b.addEventListener("click", () => this.tryOut(b));
    this.root.querySelector(".try-reset").addEventListener("click", () => this.restore());
    this.form.addEventListener("change", () => this.markTries());
    // The painted trace is the page's own (run numbers restart on each new socket, so they cannot say which).
    window.addEventListener("gfl:painted", (e) => this.painted(e.detail, window.gfl?.trace));
  }

  /** Called by the glue on each run's start frame: true when the run should wait for play. */
  holds(trace) {
    if (!this.pending) return false;
    this.pending = false;
    if (this.trains) return false; // a training lesson's question is about Train, not this sweep
    this.held = trace;
    return true;
  }

  painted(p, trace) {
    if (!p || !p.complete || !trace || this.answer === undefined) return;
    if (trace === this.held) {
      this.held = null;
      this.reveal(true);
    }
    // Only the trained model's trace (after train_done) of the lesson's settings answers a Train.
    const armed = this.trainArmed;
    if (armed && p.trained && trace !== armed.shown && this.isLessonSetting()) {
      this.trainArmed = null;
      this.reveal(true);
    }
  }

  reveal(show) {
    this.answer.hidden = !show;
    this.revealButton.setAttribute("aria-expanded", String(show));
    this.revealButton.textContent = show ? "Hide the answer" : "Show the answer";
  }

  isLessonSetting() {
    const now = this.controls.read();
    return Object.entries(this.config).every(([k, v]) => now[k] === v);
  }

  /** Move one control to `value` and fire its change, as a hand on the control would. */
  setControl(key, value) {
    const input = this.controls.inputs.get(key);
    if (!input) return;
    this.controls.write({ ...this.controls.read(), [key]: value });
    // A slider snaps to its step: its exact twin box carries the value.
    (this.controls.boxes.get(key) || input).dispatchEvent(new Event("change", { bubbles: true }));
  }

  /** A try toggles: pressed again, its control goes back to the lesson's value. */
  tryOut(button) {
    const key = button.dataset.key;
    const pressed = button.getAttribute("aria-pressed") === "true";
    this.lastTry = button.dataset.try;
    this.setControl(key, pressed ? this.config[key] : JSON.parse(button.dataset.value));
    this.markTries();
  }

  /** Every control back to the lesson's value, then one run (and link) for them all. */
  restore() {
    if (this.isLessonSetting()) return;
    this.controls.write({ ...this.controls.read(), ...this.config });
    this.changed();
    this.markTries();
  }

  /** Each try button says which control and value it sets, in the form's own words; pressed while it holds. */
  labelTries() {
    for (const b of this.tries) {
      const input = this.form.elements.namedItem(b.dataset.key);
      if (!input) continue;
      const label = input.closest(".control")?.querySelector(".control-label")?.firstChild?.textContent?.trim() || b.dataset.key;
      const value = JSON.parse(b.dataset.value);
      let shown = String(value);
      if (input.tagName === "SELECT") shown = [...input.options].find((o) => o.value === value)?.textContent || shown;
      if (typeof value === "boolean") shown = value ? "on" : "off";
      b.textContent = `${label} → ${shown}`;
      b.title = `Set ${b.dataset.key} to ${JSON.stringify(value)}; press again to go back to the lesson's ${JSON.stringify(this.config[b.dataset.key])}`;
    }
  }

  markTries() {
    if (!this.root) return;
    const now = this.controls.read();
    const on = new Set();
    for (const b of this.tries) {
      const holds = now[b.dataset.key] === JSON.parse(b.dataset.value);
      b.setAttribute("aria-pressed", String(holds));
      if (holds) on.add(b.dataset.try);
    }
    // What to look for: the try pressed last, while it holds; else any that holds.
    const active = on.has(this.lastTry) ? this.lastTry : [...on][0];
    for (const p of this.root.querySelectorAll(`.${LOOK_FOR_CLASS}`)) p.hidden = p.dataset.try !== active;
    this.root.querySelector(".try-reset").disabled = this.isLessonSetting();
  }
}
