// The settings form: one labelled control per config key, built from the table (label, unit, group,
// when it applies), grouped as the table groups them.  Each control's `name` is its config / URL key.
// A control that does not apply to the current model is disabled, saying why, and keeps its value.
// The form writes nothing itself: it asks the page state to change, and shows what the state holds.

import { setAttr } from "./dom.js";

// Ranges too wide for a linear slider (or spanning decades, like a learning rate) get a number box only.
function wantsSlider(f) {
  if (f.type !== "int" && f.type !== "float") return false;
  const decades = f.type === "float" && f.min > 0 && f.max / f.min >= 1000;
  return f.max - f.min <= 5000 && !decades && f.name !== "seed";
}

function sliderStep(f) {
  if (f.type === "int") return 1;
  const raw = (f.max - f.min) / 200;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
}

function rangeText(f) {
  if (f.type !== "int" && f.type !== "float") return "";
  const lo = f.min_exclusive ? `> ${f.min}` : `${f.min}`;
  return `${lo} – ${f.max}${f.unit ? " " + f.unit : ""}`;
}

/**
 * A slider and its exact-value box are one tab stop: the slider's arrows move it, Enter on it opens the box for
 * typing, and Enter (which commits the value) or Escape in the box goes back to the slider.  Tab from Cell to Train
 * would otherwise stop twice at every slider.
 */
function twinByKeyboard(slider, box) {
  box.tabIndex = -1;
  slider.setAttribute("aria-keyshortcuts", "Enter");
  slider.title = "Enter: type an exact value";
  slider.addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    e.preventDefault();
    box.focus();
    box.select();
  });
  box.addEventListener("keydown", (e) => {
    if (e.key === "Escape" || e.key === "Enter") slider.focus();
  });
}

export class Controls {
  /**
   * @param {HTMLFormElement} form
   * @param {import('./state.js').PageState} state
   * @param {(notices: Array<{field: string, message: string}>) => void} notify  a value the table refuses
   */
  constructor(form, state, notify = () => {}) {
    this.form = form;
    this.state = state;
    this.schema = state.schema;
    this.notify = notify;
    this.inputs = new Map(); // name -> the named control
    this.boxes = new Map(); // name -> number box paired with a slider
    this.applying = new Map(); // name -> whether its row shows as applying now
    this.build();
    this.write(state.config);
    state.listen((change) => {
      if (change.type === "values") this.write(state.config);
      if (change.type === "uploads") this.applicability(state.config);
    });
  }

  build() {
    const groups = new Map();
    for (const f of this.schema.fields) {
      if (!groups.has(f.group)) groups.set(f.group, []);
      groups.get(f.group).push(f);
    }
    this.form.replaceChildren();
    for (const [group, fields] of groups) {
      const set = document.createElement("fieldset");
      set.className = `group group-${group}`;
      const legend = document.createElement("legend");
      legend.textContent = group[0].toUpperCase() + group.slice(1); // the table's group, 'model' -> 'Model'
      set.append(legend);
      for (const f of fields) set.append(this.row(f));
      this.form.append(set);
    }
    this.form.addEventListener("submit", (e) => e.preventDefault());
  }

  /** Ask the state for `name` = `value` (text from a control); a value the table refuses is marked. */
  propose(name, value, how, box = null) {
    try {
      this.state.set({ [name]: value }, how);
      if (box) box.setAttribute("aria-invalid", "false");
      this.notify([]);
    } catch (e) {
      if (box) box.setAttribute("aria-invalid", "true");
      this.notify([{ field: name, message: e.message }]);
    }
  }

  row(f) {
    const row = document.createElement("div");
    row.className = `control control-${f.type}`;
    row.dataset.field = f.name;
    const id = `ctl-${f.name}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.className = "control-label";
    label.textContent = this.schema.label(f.name);
    label.title = f.description;
    const why = document.createElement("span");
    why.className = "why-disabled";
    label.append(why);
    const help = document.createElement("small");
    help.className = "help";
    help.id = `${id}-help`;
    help.textContent = f.description + (rangeText(f) ? ` (${rangeText(f)})` : "");
    let input;
    if (f.type === "choice") {
      input = document.createElement("select");
      for (const c of f.choices) input.append(new Option(this.schema.choiceLabel(f.name, c), c));
      input.addEventListener("change", () => this.propose(f.name, input.value, "commit"));
    } else if (f.type === "bool") {
      input = document.createElement("input");
      input.type = "checkbox";
      input.addEventListener("change", () => this.propose(f.name, input.checked, "commit"));
      row.classList.add("inline");
    } else if (wantsSlider(f)) {
      input = document.createElement("input");
      input.type = "range";
      input.min = f.min;
      input.max = f.max;
      input.step = sliderStep(f);
      const box = this.numberBox(f, id);
      this.boxes.set(f.name, box);
      input.addEventListener("input", () => this.propose(f.name, Number(input.value), "slide"));
      input.addEventListener("change", () => this.propose(f.name, Number(input.value), "commit"));
      twinByKeyboard(input, box);
    } else {
      input = this.numberBox(f, id, true);
    }
    input.id = id;
    input.name = f.name;
    input.setAttribute("aria-describedby", help.id);
    row.append(label);
    const line = document.createElement("div");
    line.className = "control-line";
    line.append(input);
    if (this.boxes.has(f.name)) line.append(this.boxes.get(f.name));
    if (f.unit && f.type !== "bool") {
      const unit = document.createElement("span");
      unit.className = "unit";
      unit.textContent = f.unit;
      line.append(unit);
    }
    row.append(line, help);
    this.inputs.set(f.name, input);
    return row;
  }

  /** A number box; `named` when it is the key's only control, else the exact twin of a slider. */
  numberBox(f, id, named = false) {
    const box = document.createElement("input");
    box.type = "number";
    box.inputMode = f.type === "int" ? "numeric" : "decimal";
    box.min = f.min;
    box.max = f.max;
    box.step = f.type === "int" ? "1" : "any";
    box.className = named ? "number-only" : "number-twin";
    if (!named) box.setAttribute("aria-label", `${this.schema.label(f.name)} (exact value)`);
    box.addEventListener("change", () => {
      const text = box.value.trim();
      this.propose(f.name, text === "" ? text : Number(text), "commit", box);
    });
    return box;
  }

  /** The config the form shows (the state's values; kept for tests and the lesson). */
  read() {
    return { ...this.state.config };
  }

  /** Show `config` in the form (no change events fire). */
  write(config) {
    for (const f of this.schema.fields) {
      const input = this.inputs.get(f.name);
      const v = config[f.name];
      if (v === undefined) continue;
      if (f.type === "bool") input.checked = !!v;
      else if (input.value !== String(v)) input.value = String(v);
      const box = this.boxes.get(f.name);
      if (box && box.value !== String(v)) box.value = String(v);
      if (box) setAttr(box, "aria-invalid", "false");
    }
    this.applicability(config);
  }

  /**
   * Disable what does not apply to `config`, or what an uploaded model fixes, saying why; the DOM is touched only
   * where that changes.
   */
  applicability(config) {
    for (const f of this.schema.fields) {
      const input = this.inputs.get(f.name);
      const why = this.state.fixedByUpload(f.name) ? "set by your uploaded model"
        : this.schema.applies(f.name, config) ? "" : f.why_not || "does not apply";
      // A drag calls this on every input event: rewriting unchanged rows would cost a style pass each time.
      if (this.applying.get(f.name) === why) continue;
      this.applying.set(f.name, why);
      input.disabled = !!why;
      const box = this.boxes.get(f.name);
      if (box) box.disabled = !!why;
      const row = input.closest(".control");
      row.classList.toggle("disabled", !!why);
      row.querySelector(".why-disabled").textContent = why ? ` (${why})` : "";
    }
  }

  /** Mark a control whose value the server refused (null clears every mark). */
  markInvalid(name) {
    for (const [n, input] of this.inputs) {
      input.closest(".control").classList.toggle("invalid", n === name);
      setAttr(input, "aria-invalid", n === name ? "true" : "false");
    }
  }
}
