// Compare mode's alternatives in words: the chips that name each compared setting (with a "different
// data" tag and a remove button), and the small form that adds a pair to B or C.  Keys, values, their labels
// and which keys draw the batch all come from the config table (the Schema); the values a change brings along
// (an LSTM's forget bias) come from the lessons the page lists.  The chip and form functions work on the
// ComparePanel they belong to.

import { lessonSuggestion, readOrUndefined } from "./compare_suggest.js";
import { COMPARE_COLOURS } from "./view_compare.js";

export const SLOTS = ["B", "C"];

export function renderChips(panel) {
  const labels = panel.labels();
  const chip = (name, text, colour, extra = []) => {
    const li = document.createElement("li");
    li.className = "chip";
    li.dataset.name = name;
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colour;
    li.append(swatch, document.createTextNode(text), ...extra);
    return li;
  };
  const items = [chip("A", panel.active ? labels.A : "A: this page's settings", COMPARE_COLOURS[0])];
  panel.alts.forEach((alt, i) => {
    const slot = SLOTS[i];
    const extra = [];
    if (panel.base && panel.differentData(i)) {
      const tag = document.createElement("span");
      tag.className = "chip-tag";
      tag.textContent = "different data";
      const changed = panel.schema.keysAffecting("data").filter((k) => panel.config(i)[k] !== panel.base[k]);
      tag.title = `${slot} changes ${changed.map((k) => panel.schema.label(k)).join(", ")}: its batch is not A's`;
      extra.push(tag);
    }
    const x = document.createElement("button");
    x.type = "button";
    x.className = "chip-remove";
    x.setAttribute("aria-label", `Remove ${slot}`);
    x.textContent = "×";
    x.addEventListener("click", () => panel.remove(i));
    extra.push(x);
    const text = `${slot}: ${alt.pairs.map(([k, v]) => panel.schema.legendText(k, v)).join(", ")}`;
    items.push(chip(slot, text, COMPARE_COLOURS[i + 1], extra));
  });
  panel.chips.replaceChildren(...items);
  slotOptions(panel);
}

export function buildForm(panel) {
  const keySelect = panel.form.elements.key;
  keySelect.replaceChildren(...panel.schema.fields.map((f) => new Option(panel.schema.label(f.name), f.name)));
  keySelect.value = "cell";
  keySelect.addEventListener("change", () => valueEditor(panel));
  panel.form.addEventListener("change", (ev) => ev.target.name === "value" && suggest(panel));
  valueEditor(panel);
  slotOptions(panel);
  panel.form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = panel.schema.field(keySelect.value);
    const input = panel.form.querySelector(".compare-value [name=value]");
    let value;
    try {
      value = panel.schema.parseValue(f.name, input.value);
    } catch (e) {
      input.setAttribute("aria-invalid", "true");
      panel.notify([{ field: f.name, message: `Compare: ${e.message}; not added` }], "compare-form");
      return;
    }
    input.removeAttribute("aria-invalid");
    panel.notify([], "compare-form");
    const slot = Number(panel.form.elements.slot.value);
    if (slot >= panel.alts.length) panel.alts.push({ pairs: [] });
    const alt = panel.alts[slot];
    const brought = panel.form.elements.suggested.checked ? panel.suggestion?.pairs || [] : [];
    const added = [[f.name, value], ...brought];
    alt.pairs = [...alt.pairs.filter(([k]) => !added.some(([a]) => a === k)), ...added];
    panel.changedAlternatives();
  });
}

/** The value control for the chosen key: a list for choices and booleans, a number box otherwise. */
export function valueEditor(panel) {
  const f = panel.schema.field(panel.form.elements.key.value);
  let input;
  if (f.type === "choice" || f.type === "bool") {
    input = document.createElement("select");
    const values = f.type === "bool" ? [["1", "on"], ["0", "off"]] : f.choices.map((c) => [c, panel.schema.choiceLabel(f.name, c)]);
    input.replaceChildren(...values.map(([v, text]) => new Option(text, v)));
    const now = panel.base ? panel.schema.formatValue(f.name, panel.base[f.name]) : null;
    const other = values.find(([v]) => v !== now);
    if (other) input.value = other[0];
  } else {
    input = document.createElement("input");
    input.type = "number";
    Object.assign(input, { min: f.min, max: f.max, step: f.type === "int" ? "1" : "any" });
    input.value = String(panel.base ? panel.base[f.name] : f.default);
  }
  input.name = "value";
  input.setAttribute("aria-label", `Value of ${panel.schema.label(f.name)}`);
  panel.form.querySelector(".compare-value").replaceChildren(input);
  suggest(panel);
}

/** The lessons the page lists (the lesson picker's options): each one's title and link parameters. */
function listedLessons(doc) {
  return [...doc.querySelectorAll("#lesson-picker option")].filter((o) => o.value)
    .map((o) => ({ title: o.textContent.trim().replace(/^\d+\.\s*/, ""), params: new URL(o.value, doc.baseURI).searchParams }));
}

/** Offer what the chosen change should bring along (a checkbox, on by default), or say why nothing is offered. */
function suggest(panel) {
  const box = panel.form.querySelector(".compare-suggest");
  const note = panel.form.querySelector(".compare-suggest-note");
  const f = panel.schema.field(panel.form.elements.key.value);
  const value = readOrUndefined(panel.schema, f.name, panel.form.querySelector(".compare-value [name=value]").value);
  const s = (panel.suggestion = panel.base && value !== undefined
    ? lessonSuggestion(panel.schema, panel.base, f.name, value, listedLessons(panel.root.ownerDocument)) : null);
  const words = (pairs) => pairs.map(([k, v]) => `${panel.schema.label(k)} ${panel.schema.valueText(k, v)}`).join(", ");
  box.hidden = !s?.pairs.length;
  if (s?.pairs.length) box.querySelector("span").textContent = `with ${words(s.pairs)}, as the lesson “${s.lesson}” sets it`;
  note.hidden = !(s && !s.pairs.length);
  if (s && !s.pairs.length) {
    note.textContent = `${words(s.keys.map((k) => [k, panel.schema.field(k).default]))} (the default) comes with this ` +
      "change: no lesson listed on this page sets it otherwise. Add it as its own change to try another value.";
  }
}

export function slotOptions(panel) {
  const select = panel.form.elements.slot;
  const opts = panel.alts.map((_, i) => new Option(SLOTS[i], String(i)));
  if (panel.alts.length < SLOTS.length) opts.push(new Option(`new: ${SLOTS[panel.alts.length]}`, String(panel.alts.length)));
  select.replaceChildren(...opts);
  select.value = String(Math.min(panel.alts.length, SLOTS.length - 1));
}
