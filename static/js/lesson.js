// Lessons on the main page: the picker in the top bar and, on a link with
// lesson=<id>, the lesson panel (rendered by the server from
// templates/lesson_panel.html).  "Predict, then press play": the lesson's own
// run waits at the start until it is played, and the answer is revealed by its
// button or once the run (or, for a training lesson, the training of the
// lesson's setting) is through.  Each "Now try" button asks the page state for
// one control's value, as a hand on the control would.  The panel reads the
// page state; it presses no other module's buttons.

const LOOK_FOR_CLASS = "look-for";

/**
 * The top bar's lesson picker opens a lesson only on a deliberate choice: a click in its list, or Enter.
 * Arrow keys only browse it (Chromium fires `change` on each ArrowDown of a closed select).
 */
export function bindLessonPicker(select, open = (url) => location.assign(url)) {
  if (!select) return;
  const current = select.value;
  let browsing = false; // the latest change came from a browsing key
  const hint = "Press Enter to open this lesson";
  select.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      if (select.value && select.value !== current) {
        e.preventDefault();
        open(select.value);
      }
      return;
    }
    browsing = e.key.startsWith("Arrow") || e.key === "Home" || e.key === "End" || e.key === "PageUp" ||
      e.key === "PageDown" || e.key.length === 1;
  });
  select.addEventListener("pointerdown", () => (browsing = false));
  select.addEventListener("change", () => {
    if (browsing) {
      select.title = hint;
      return;
    }
    if (select.value && select.value !== current) open(select.value);
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
   * @param {object} o
   * @param {import('./state.js').PageState} o.state
   * @param {HTMLFormElement} o.form  the settings form, for the controls' own words on the try buttons
   * @param {{play: () => void, train: () => void}} o.actions  the page's Play and Train
   * @param {HTMLElement|null} o.watch  what to watch once Play is pressed: brought into sight when none of it is
   */
  constructor(root, { state, form, actions, watch = null }) {
    this.root = root;
    this.state = state;
    this.form = form;
    this.actions = actions;
    this.watch = watch;
    this.held = null; // the lesson's own trace, kept at its start, until it opens the answer
    this.pending = !!root; // the first run of the page is the lesson's own (embedded too: predict first)
    this.armed = false; // from Train's press until the trained model of the lesson's setting opens the answer
    this.lastTry = null; // data-try of the try pressed last
    if (!root) return;
    const data = JSON.parse(root.querySelector("#lesson-data").textContent);
    this.id = data.id;
    this.trains = !!data.trains;
    this.config = { ...state.schema.defaults(), ...data.config };
    this.answer = root.querySelector("#lesson-answer");
    this.revealButton = root.querySelector(".lesson-reveal");
    this.tries = [...root.querySelectorAll("button.try")];
    for (const el of root.querySelectorAll(".lesson-math")) setMath(el, el.textContent.trim());
    this.bind();
    this.labelTries();
    this.markTries();
    // Tall, wide screens have room for the reading; at 1366×768, on a tablet or a phone, it starts folded
    // so the views keep theirs.
    if (window.matchMedia("(min-height: 900px) and (min-width: 1200px)").matches) root.querySelector(".lesson-more").open = true;
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
        this.actions.train(); // the glue brings the loss chart into sight: it is what to watch meanwhile
      } else {
        this.actions.play();
        // On a small screen the panel can fill it: bring what to watch into sight, below the sticky player bar
        // (its scroll-margin-top), unless it is all there already.
        if (this.watch && !wholeInSight(this.watch)) this.watch.scrollIntoView({ block: "start", behavior: "instant" });
      }
    });
    for (const b of this.tries) b.addEventListener("click", () => this.tryOut(b));
    this.root.querySelector(".try-reset").addEventListener("click", () => this.restore());
    this.state.listen((change) => {
      if (change.type === "values" || change.type === "training" || change.type === "view") this.markTries();
      if (change.type === "training" && this.state.training.status === "training") this.armed = true;
      if (change.type === "view") this.trainedShown();
    });
  }

  /** Called by the glue on each run's start frame: true when the run should wait for play. */
  holds(trace) {
    if (!this.pending) return false;
    this.pending = false;
    if (this.trains) return false; // a training lesson's question is about Train, not this sweep
    this.held = trace;
    return true;
  }

  /** The glue painted `trace` (p: the paint's detail): the lesson's own run, played through, opens the answer. */
  painted(p, trace) {
    if (!this.root || !p || !p.complete || trace !== this.held) return;
    this.held = null;
    this.reveal(true);
  }

  /** Only the trained model of the lesson's setting, after a Train pressed here, answers a training lesson. */
  trainedShown() {
    const shown = this.state.view.shown;
    if (!this.armed || !shown || !shown.trained || shown.trained.seq !== this.state.training.seq) return;
    if (!this.isLessonSetting()) return;
    this.armed = false;
    this.reveal(true);
  }

  /** Open or close the answer, without scrolling to it: after a training the student is watching the loss curve. */
  reveal(show) {
    this.answer.hidden = !show;
    this.revealButton.setAttribute("aria-expanded", String(show));
    this.revealButton.textContent = show ? "Hide the answer" : "Show the answer";
  }

  isLessonSetting() {
    const now = this.state.config;
    return Object.entries(this.config).every(([k, v]) => now[k] === v);
  }

  /** A try toggles: pressed again, its control goes back to the lesson's value. */
  tryOut(button) {
    const key = button.dataset.key;
    const pressed = button.getAttribute("aria-pressed") === "true";
    this.lastTry = button.dataset.try;
    this.state.set({ [key]: pressed ? this.config[key] : JSON.parse(button.dataset.value) });
    this.markTries();
  }

  /** Every control back to the lesson's value: one change, so one run and one link. */
  restore() {
    if (this.isLessonSetting()) return;
    this.state.set(this.config);
    this.markTries();
  }

  /** Each try button says which control and value it sets, in the table's own words; pressed while it holds. */
  labelTries() {
    const schema = this.state.schema;
    for (const b of this.tries) {
      const key = b.dataset.key;
      if (!schema.has(key)) continue;
      const value = JSON.parse(b.dataset.value);
      b.textContent = `${schema.label(key)} → ${schema.valueText(key, value)}`;
      b.title = `Set ${key} to ${JSON.stringify(value)}; press again to go back to the lesson's ${JSON.stringify(this.config[key])}`;
    }
  }

  markTries() {
    if (!this.root) return;
    const now = this.state.config;
    const on = new Set();
    for (const b of this.tries) {
      const holds = now[b.dataset.key] === JSON.parse(b.dataset.value);
      b.setAttribute("aria-pressed", String(holds));
      if (holds) on.add(b.dataset.try);
    }
    // What to look for: the try pressed last, while it holds; else any that holds.  In a training
    // lesson it shows only after Train: until the training on show is of this setting, it says so.
    const active = on.has(this.lastTry) ? this.lastTry : [...on][0];
    const waitsForTrain = this.trains && !(this.state.trainingCurrent() && this.state.training.status !== "training");
    for (const p of this.root.querySelectorAll(`.${LOOK_FOR_CLASS}`)) {
      p.hidden = p.dataset.try !== active;
      p.classList.toggle("waits-for-train", waitsForTrain);
      const head = p.querySelector("strong");
      const say = waitsForTrain ? "Press Train, then look for:" : "Look for:";
      if (head && head.textContent !== say) head.textContent = say;
    }
    this.root.querySelector(".try-reset").disabled = this.isLessonSetting();
  }
}

/** Whether all of `el` is in the viewport, below what its scroll-margin-top leaves for the sticky bar. */
function wholeInSight(el) {
  const r = el.getBoundingClientRect();
  const clear = parseFloat(getComputedStyle(el).scrollMarginTop) || 0;
  return r.top >= clear && r.bottom <= window.innerHeight;
}
