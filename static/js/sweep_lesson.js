// A lesson on the sweep page (templates/lesson_panel.html, rendered by the server): "predict, then draw".  The
// lesson's sweep waits until its button is pressed; the answer opens with its button or once the curves are drawn
// whole; each "Now try" button runs the sweep again with one key of its setting moved.  Without a lesson panel
// every method does nothing.

import { setMath } from "./lesson.js";

export class SweepLesson {
  /**
   * @param {HTMLElement|null} root  the panel; `actions.run()` draws the sweep, `actions.move(key, value)` a try
   * @param {Record<string, object>} fields  the table's keys by name: a try's button says its key in their words
   */
  constructor(root, actions, fields = {}) {
    this.root = root;
    this.armed = false;
    if (!root) return;
    for (const el of root.querySelectorAll(".lesson-math")) setMath(el, el.textContent.trim());
    this.answer = root.querySelector("#lesson-answer");
    this.reveal = root.querySelector(".lesson-reveal");
    this.reveal.addEventListener("click", () => this.open(this.answer.hidden));
    root.querySelector(".lesson-go").addEventListener("click", () => {
      this.armed = true;
      actions.run();
    });
    root.querySelector(".lesson-fold").addEventListener("click", (e) => {
      const body = root.querySelector("#lesson-body");
      body.hidden = !body.hidden;
      e.currentTarget.setAttribute("aria-expanded", String(!body.hidden));
      e.currentTarget.textContent = body.hidden ? "Show lesson" : "Hide lesson";
    });
    for (const b of root.querySelectorAll("button.try")) {
      const field = fields[b.dataset.key];
      const value = JSON.parse(b.dataset.value);
      if (field) b.textContent = `${field.label} → ${field.choice_labels?.[value] ?? value}`;
      b.addEventListener("click", () => {
        for (const other of root.querySelectorAll("button.try")) other.setAttribute("aria-pressed", String(other === b));
        for (const p of root.querySelectorAll(".look-for")) p.hidden = p.dataset.try !== b.dataset.try;
        this.armed = true;
        actions.move(b.dataset.key, JSON.parse(b.dataset.value));
      });
    }
    root.querySelector(".try-reset").addEventListener("click", () => location.reload());
  }

  /** Whether the page must wait for the lesson's button before drawing its sweep. */
  holds() {
    return !!this.root;
  }

  /** The curves are drawn whole: the lesson's own, asked for by its button, opens the answer. */
  drawn() {
    if (this.root && this.armed) this.open(true);
  }

  open(shown) {
    this.answer.hidden = !shown;
    this.reveal.setAttribute("aria-expanded", String(shown));
    this.reveal.textContent = shown ? "Hide the answer" : "Show the answer";
  }
}
