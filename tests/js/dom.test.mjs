// The panels' writes reach the DOM only when they change what it holds (a drag calls them on every move).
import assert from "node:assert/strict";
import { test } from "node:test";

import { setAttr, setProp, setText } from "../../static/js/dom.js";

function element() {
  const el = { writes: 0, attrs: {}, text: "", flag: false };
  Object.defineProperty(el, "textContent", { get: () => el.text, set: (v) => ((el.text = v), el.writes++) });
  Object.defineProperty(el, "hidden", { get: () => el.flag, set: (v) => ((el.flag = v), el.writes++) });
  el.getAttribute = (n) => el.attrs[n] ?? null;
  el.setAttribute = (n, v) => ((el.attrs[n] = v), el.writes++);
  return el;
}

test("a text, attribute or property is written only when it differs from what the element holds", () => {
  const el = element();
  for (let i = 0; i < 3; i++) {
    setText(el, "loss 0.82");
    setAttr(el, "aria-invalid", "false");
    setProp(el, "hidden", true);
  }
  assert.equal(el.writes, 3);
  setText(el, "loss 0.81");
  setAttr(el, "aria-invalid", "true");
  setProp(el, "hidden", false);
  assert.equal(el.writes, 6);
  assert.deepEqual([el.textContent, el.getAttribute("aria-invalid"), el.hidden], ["loss 0.81", "true", false]);
});
