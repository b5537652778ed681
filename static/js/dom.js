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
