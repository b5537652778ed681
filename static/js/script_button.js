// "Copy as PyTorch": the page's current setting as a standalone PyTorch script (GET /api/script with
// the page's query string), put on the clipboard; a link to the same script is the fallback, for
// browsers that refuse the clipboard.  Imported once by main.js; it owns #copy-script, #script-download and
// #script-status and nothing else.  A refusal is said in the lab's own words and never leaves an earlier
// script on the clipboard as if it were this setting's.

// Enough of an answer that is not the lab's JSON to recognise it; never a whole error page.
const SHOWN_CHARS = 160;

/** The script's address for a teaching link's query string (`?cell=lstm&seq_len=120&v=1`, or ""). */
export function scriptUrl(search) {
  return "/api/script" + (search && search !== "?" ? search : "");
}

/** What an answer other than 200 says, in words: the lab's `{message, field}`, else the status and the text's start. */
export function refusalText(status, body) {
  try {
    const parsed = JSON.parse(body);
    if (parsed && typeof parsed.message === "string" && parsed.message) return parsed.message;
  } catch {
    // not the lab's JSON: a proxy's page, a plain-text refusal
  }
  const text = String(body || "").replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim();
  const cut = text.length > SHOWN_CHARS ? `${text.slice(0, SHOWN_CHARS)}…` : text;
  return `the server answered ${status}${cut ? `: ${cut}` : ""}`;
}

/**
 * Wire `button` to fetch the script of `search()` and copy it; `fallback` (an <a>) then links to it; `status`
 * (optional) says what happened until the next press.
 */
export function bindScriptButton(button, fallback, search = () => location.search, status = null) {
  const label = button.textContent;
  let timer = 0;
  const flash = (text) => {
    button.textContent = text;
    clearTimeout(timer);
    timer = setTimeout(() => (button.textContent = label), 1600);
  };
  const say = (text, failed) => {
    if (!status) return;
    status.textContent = text;
    status.hidden = !text;
    status.classList.toggle("script-refused", failed);
  };
  const refuse = async (why) => {
    fallback.hidden = true; // it would serve the same refusal
    flash("No script");
    say(`No script copied: ${why}`, true);
    // A paste must not bring back the script of an earlier setting as if it were this one's.
    try {
      await navigator.clipboard.writeText(`# No script for this setting: ${why}\n`);
    } catch {
      // the clipboard was refused too: the words above say nothing was copied
    }
  };
  button.addEventListener("click", async () => {
    const url = scriptUrl(search());
    delete button.dataset.copied;
    say("", false);
    fallback.href = url;
    let response;
    let text;
    try {
      response = await fetch(url);
      text = await response.text();
    } catch {
      return refuse("the lab did not answer (is the server running?)");
    }
    if (!response.ok) return refuse(refusalText(response.status, text));
    fallback.hidden = false;
    try {
      await navigator.clipboard.writeText(text);
      button.dataset.copied = String(text.length);
      flash("Copied ✓");
    } catch {
      flash("Copy refused: use the link");
      say("The browser refused the clipboard: the script.py link beside the button serves the same script.", false);
    }
  });
}

const button = typeof document === "undefined" ? null : document.getElementById("copy-script");
const fallback = button && document.getElementById("script-download");
if (button && fallback) bindScriptButton(button, fallback, undefined, document.getElementById("script-status"));
