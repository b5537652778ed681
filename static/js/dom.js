// Small DOM helpers shared by the panels.

/**
 * The elements under `root` for a table of selectors, by the same names: `elements(doc, {status: "#lag-status"})`
 * is `{status: <the element or null>}`.  A panel assigns them to itself, one table instead of a line an element.
 * @param {ParentNode} root
 * @param {Record<string, string>} selectors
 */
export function elements(root, selectors) {
  return Object.fromEntries(Object.entries(selectors).map(([name, sel]) => [name, root.querySelector(sel)]));
}

// Written only when they change: a drag calls the panels on every move, and each write (even of the same value)
// makes the browser recompute the page's styles before its next frame.

/** Set `el`'s text, if it differs. */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** Set `el`'s attribute `name` to `value` (a string), if it differs. */
export function setAttr(el, name, value) {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

/** Set `el`'s property `name` (`hidden`, `title`, `disabled`), if it differs. */
export function setProp(el, name, value) {
  if (el[name] !== value) el[name] = value;
}
