// The settings form: one labelled control per config field, built from the
// field table, grouped as the table groups them.  Each control's `name` is
// its config / URL key.  Controls that do not apply to the current model are
// disabled but stay in the form, so their values survive a round trip.

const GROUP_TITLES = {
  model: "Model",
  sequence: "Sequence",
  initialisation: "Initialisation",
  clipping: "Clipping",
  training: "Training",
};

// Labels in the field's own words; the field's description becomes the help text.
const LABELS = {
  cell: "Cell",
  nonlinearity: "Nonlinearity",
  arch: "Architecture",
  hidden_size: "Hidden size H",
  num_layers: "Layers L",
  bidirectional: "Bidirectional",
  task: "Task",
  seq_len: "Sequence length T",
  seed: "Seed",
  init: "Initialisation",
  gain: "Gain on W_hh",
  forget_bias: "Forget-gate bias",
  clip: "Clipping",
  clip_at: "Clip threshold",
  optimizer: "Optimizer",
  lr: "Learning rate",
  batch_size: "Batch size N",
  steps: "Training steps",
};

const CHOICE_LABELS = {
  rnn: "vanilla RNN", lstm: "LSTM", gru: "GRU", none: "none", norm: "by total norm", value: "by value",
  sgd: "SGD", adam: "Adam", rmsprop: "RMSprop",
};

/** When a control applies; the text says why it is disabled otherwise. */
export const APPLIES = {
  nonlinearity: [(c) => c.cell === "rnn", "vanilla RNN only"],
  forget_bias: [(c) => c.cell === "lstm", "LSTM only"],
  clip_at: [(c) => c.clip !== "none", "no clipping"],
  seq_len: [(c) => c.arch !== "one-to-one", "one-to-one uses T = 1"],
};

/** `config` with every key that does not apply reset to its default: what a link needs to say. */
export function applicableOnly(config, fields) {
  const out = { ...config };
  for (const f of fields) {
    const rule = APPLIES[f.name];
    if (rule && !rule[0](config)) out[f.name] = f.default;
  }
  return out;
}

// Keys that only matter once training exists: changing them needs no new trace.
export const TRAIN_ONLY = new Set(["optimizer", "lr", "steps"]);

// Ranges too wide for a linear slider (or spanning decades, like a learning
// rate) get a number box only.
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

export class Controls {
  /**
   * @param {HTMLFormElement} form
   * @param {Array<object>} fields  the field table
   * @param {(name: string, how: 'slide'|'commit') => void} onChange
   */
  constructor(form, fields, onChange) {
    this.form = form;
    this.fields = fields;
    this.onChange = onChange;
    this.inputs = new Map(); // name -> the named control
    this.boxes = new Map(); // name -> number box paired with a slider
    this.build();
  }

  build() {
    const groups = new Map();
    for (const f of this.fields) {
      if (!groups.has(f.group)) groups.set(f.group, []);
      groups.get(f.group).push(f);
    }
    this.form.replaceChildren();
    for (const [group, fields] of groups) {
      const set = document.createElement("fieldset");
      set.className = `group group-${group}`;
      const legend = document.createElement("legend");
      legend.textContent = GROUP_TITLES[group] || group;
      set.append(legend);
      for (const f of fields) set.append(this.row(f));
      this.form.append(set);
    }
    this.form.addEventListener("submit", (e) => e.preventDefault());
  }

  row(f) {
    const row = document.createElement("div");
    row.className = `control control-${f.type}`;
    row.dataset.field = f.name;
    const id = `ctl-${f.name}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.className = "control-label";
    label.textContent = LABELS[f.name] || f.name.replaceAll("_", " ");
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
      for (const c of f.choices) input.append(new Option(CHOICE_LABELS[c] || c, c));
      input.addEventListener("change", () => this.onChange(f.name, "commit"));
    } else if (f.type === "bool") {
      input = document.createElement("input");
      input.type = "checkbox";
      input.addEventListener("change", () => this.onChange(f.name, "commit"));
      row.classList.add("inline");
    } else {
      input = document.createElement("input");
      if (wantsSlider(f)) {
        input.type = "range";
        input.min = f.min;
        input.max = f.max;
        input.step = sliderStep(f);
        const box = this.numberBox(f, id);
        this.boxes.set(f.name, box);
        input.addEventListener("input", () => {
          box.value = input.value;
          this.onChange(f.name, "slide");
        });
        input.addEventListener("change", () => {
          box.value = input.value;
          this.onChange(f.name, "commit");
        });
      } else {
        input = this.numberBox(f, id, true);
      }
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

  /** A number box; `named` when it is the field's only control, else the editable twin of a slider. */
  numberBox(f, id, named = false) {
    const box = document.createElement("input");
    box.type = "number";
    box.inputMode = f.type === "int" ? "numeric" : "decimal";
    box.min = f.min;
    box.max = f.max;
    box.step = f.type === "int" ? "1" : "any";
    box.className = named ? "number-only" : "number-twin";
    if (!named) box.setAttribute("aria-label", `${LABELS[f.name] || f.name} (exact value)`);
    box.addEventListener("change", () => {
      const v = Number(box.value);
      const ok = box.value !== "" && Number.isFinite(v) && v >= f.min && v <= f.max &&
        !(f.min_exclusive && v === f.min) && (f.type !== "int" || Number.isInteger(v));
      box.setAttribute("aria-invalid", ok ? "false" : "true");
      if (!ok) return;
      if (!named) this.inputs.get(f.name).value = String(v);
      this.onChange(f.name, "commit");
    });
    return box;
  }

  /** The config the form shows now. */
  read() {
    const c = {};
    for (const f of this.fields) {
      const input = this.inputs.get(f.name);
      if (f.type === "bool") c[f.name] = input.checked;
      else if (f.type === "int" || f.type === "float") {
        // A slider snaps to its step; its exact twin may hold a finer value.
        const box = this.boxes.get(f.name);
        const text = box && box.getAttribute("aria-invalid") !== "true" && box.value !== "" ? box.value : input.value;
        const v = Number(text);
        c[f.name] = Number.isFinite(v) ? v : f.default;
      } else c[f.name] = input.value;
    }
    return c;
  }

  /** Show `config` in the form (no change events fire). */
  write(config) {
    for (const f of this.fields) {
      const input = this.inputs.get(f.name);
      const v = config[f.name];
      if (v === undefined) continue;
      if (f.type === "bool") input.checked = !!v;
      else input.value = String(v);
      const box = this.boxes.get(f.name);
      if (box) {
        box.value = String(v);
        box.setAttribute("aria-invalid", "false");
      }
    }
    this.applicability(config);
  }

  /** Disable what does not apply to `config`, saying why. */
  applicability(config) {
    for (const [name, [applies, reason]] of Object.entries(APPLIES)) {
      const input = this.inputs.get(name);
      if (!input) continue;
      const on = applies(config);
      input.disabled = !on;
      const box = this.boxes.get(name);
      if (box) box.disabled = !on;
      const row = input.closest(".control");
      row.classList.toggle("disabled", !on);
      row.querySelector(".why-disabled").textContent = on ? "" : ` (${reason})`;
    }
  }

  /** Mark a control whose value the server refused (null clears every mark). */
  markInvalid(name) {
    for (const [n, input] of this.inputs) {
      input.closest(".control").classList.toggle("invalid", n === name);
      input.setAttribute("aria-invalid", n === name ? "true" : "false");
    }
  }
}
