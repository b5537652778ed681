"""The "Copy as PyTorch" button puts the current setting's script on the clipboard; its link serves the same text."""

from __future__ import annotations

import urllib.request
from urllib.parse import urlparse

from tests.e2e.harness import INSTANT, VIEWPORT, PageLog, new_context, wait_complete


def served_script(server_url: str, page_url: str) -> str:
    """The script the server gives for the page's current link, fetched outside the browser."""
    with urllib.request.urlopen(f"{server_url}/api/script?{urlparse(page_url).query}", timeout=30) as r:
        return r.read().decode("utf-8")


def test_copy_as_pytorch_copies_the_current_settings_script(chromium, server_url):
    context = new_context(chromium, viewport=VIEWPORT)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server_url)
    context.add_init_script(INSTANT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.log = PageLog(page)
    try:
        page.goto(f"{server_url}/?cell=lstm&seq_len=9&hidden_size=3&clip=norm&clip_at=0.5")
        run = wait_complete(page)
        # A control moved after the page opened: the script must be of the setting shown now.
        page.select_option('[name="clip"]', "value")
        wait_complete(page, after=run)
        assert "clip=value" in page.url
        assert page.is_hidden("#script-download")
        page.click("#copy-script")
        page.wait_for_function("() => document.getElementById('copy-script').dataset.copied")
        copied = page.evaluate("() => navigator.clipboard.readText()")
        expected = served_script(server_url, page.url)
        assert copied == expected
        assert 'CELL = "lstm"' in copied and "T = 9" in copied and 'CLIP = "value"' in copied
        assert copied.rstrip().endswith("print(json.dumps(result))")
        # The fallback link serves the very same text, as a download named after the setting.
        assert page.is_visible("#script-download")
        with page.expect_download() as dl:
            page.click("#script-download")
        assert dl.value.suggested_filename == "gradient_flow_lstm_random_T9.py"
        assert dl.value.path().read_text(encoding="utf-8") == expected
        assert page.log.errors == []
        assert page.log.foreign_requests() == []
    finally:
        context.close()
