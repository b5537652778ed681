// "Copy as PyTorch": the page's current setting as a standalone PyTorch script (GET /api/script with
// the page's query string), put on the clipboard; a link to the same script is the fallback, for
// browsers that refuse the clipboard.  Imported once by main.js; it owns #copy-script and
// #script-download and nothing else.

/** The script's address for a teaching link's query string (`?cell=lstm&seq_len=120&v=1`, or ""). */
export function scriptUrl(search) {
  return "/api/script" + (search && search !== "?" ? search : "");
}

/** Wire `button` to fetch the script of `search()` and copy it; `fallback` (an <a>) then links to it. */
export function bindScriptButton(button, fallback, search = () => location.search) {
  const label = button.textContent;
  let timer = 0;
  const flash = (text) => {
    button.textContent = text;
    clearTimeout(timer);
    timer = setTimeout(() => (button.textContent = label), 1600);
  };
  button.addEventListener("click", async () => {
    const url = scriptUrl(search());
    fallback.href = url;
    fallback.hidden = false;
    let text;
    try {
      const response = await fetch(url);
      text = await response.text();
      if (!response.ok) {
        flash(`No script: ${JSON.parse(text).message}`);
        return;
      }
    } catch {
      flash("No script: the lab did not answer");
      return;
    }
    try {
      await navigator.clipboard.writeText(text);
      button.dataset.copied = String(text.length);
      flash("Copied ✓");
    } catch {
      flash("Copy refused: use the link");
    }
  });
}

const button = typeof document === "undefined" ? null : document.getElementById("copy-script");
const fallback = button && document.getElementById("script-download");
if (button && fallback) bindScriptButton(button, fallback);
