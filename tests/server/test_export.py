"""The static export's parts: recordings hold what the live socket sends, the bundler keeps modules apart."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import pytest

from engine import Config
from engine.lab import profiled
from server.export.__main__ import main as export_main
from server.export.bundle import bundle
from server.export.site import (
    CLIFF,
    _templates,
    lesson_page,
    localise,
    recording_script,
    run_units,
    site_links,
    train_units,
)
from server.routes.lessons import lesson_documents
from tests.server.ws_helpers import SMALL, receive_frame

pytestmark = pytest.mark.usefixtures("lessons_measured")  # the pages read every lesson's document

TIMED = ("elapsed_ms", "elapsed_s", "steps_per_s", "eta_s")  # wall-clock fields: differ run to run


def untimed(frame: dict) -> dict:
    return {k: v for k, v in frame.items() if k not in TIMED and k != "run"}


def socket_frames(client, kind: str, config: dict, lag: bool = False) -> list[tuple[dict, bytes | None]]:
    """Every frame the live /ws sends for one request (``lag``: asked with the lag map), up to its end."""
    frames = []
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": kind, "config": config, **({"lag": True} if lag else {})})
        while True:
            frame, data = receive_frame(ws)
            if frame["type"] in ("queued", "cancelled"):
                continue
            frames.append((frame, data))
            if frame["type"] in ("done", "error"):
                return frames


def recorded_frames(units) -> list[tuple[dict, bytes | None]]:
    """A recording as a page reads it: the script's JSON, binary frames decoded from base64."""
    script = recording_script("data/x.js", units)
    rows = json.loads(script.split(" = ", 1)[1].rstrip().rstrip(";"))
    return [(json.loads(text), None if data is None else base64.b64decode(data)) for text, data in rows]


@pytest.mark.parametrize("config", [
    {**SMALL, "cell": "lstm"},
    {**SMALL, "cell": "gru", "num_layers": 2, "bidirectional": True},
    {**SMALL, "nonlinearity": "relu", "init": "orthogonal", "gain": 3.0, "seq_len": 60},  # overflows
])  # fmt: skip
def test_a_recorded_trace_with_its_lag_map_is_what_the_socket_sends(client, config):
    live = socket_frames(client, "run", config, lag=True)
    recorded = recorded_frames(run_units(Config.from_dict(config), lag=True))
    assert "lag" in [f["type"] for f, _ in recorded]
    assert [untimed(f) for f, _ in recorded] == [untimed(f) for f, _ in live]
    assert [d for _, d in recorded] == [d for _, d in live]  # the float32 frames, bit for bit


@pytest.mark.parametrize("lag", [False, True], ids=["plain", "with its lag maps"])
def test_a_recorded_training_is_what_the_socket_sends(client, lag):
    config = {**SMALL, "cell": "gru", "task": "adding", "steps": 12}
    live = socket_frames(client, "train", config, lag)
    recorded = recorded_frames(train_units(Config.from_dict(config), lag))
    assert [f["type"] for f, _ in recorded].count("train_step") == 12
    lag_steps = [f.get("step") for f, _ in recorded if f["type"] == "lag"]
    profiled_steps = [k for k in range(1, 13) if profiled(k, 12)]
    assert lag_steps == ([*profiled_steps, None] if lag else []), lag_steps  # each profiled step's, the trace's
    assert [untimed(f) for f, _ in recorded] == [untimed(f) for f, _ in live]
    assert [d for _, d in recorded] == [d for _, d in live]
    # The replay's pace: the recorded clock of each step, never running backwards.
    clock = [f["elapsed_s"] for f, _ in recorded if f["type"] == "train_step"]
    assert clock == sorted(clock) and clock[-1] > 0



def test_a_training_is_recorded_from_a_thread_whose_event_loop_runs():
    """The export may be called from async code, or beside Playwright's sync API in one process: both run a loop."""
    import asyncio

    config = Config.from_dict({**SMALL, "task": "adding", "steps": 2})

    async def inside_a_loop():
        return train_units(config)

    inside, outside = recorded_frames(asyncio.run(inside_a_loop())), recorded_frames(train_units(config))
    assert [(untimed(f), d) for f, d in inside] == [(untimed(f), d) for f, d in outside]

def test_pages_refer_to_files_not_to_server_paths():
    page = ('<a href="/?v=1&amp;seq_len=100&amp;lesson=x">x</a><option value="/?v=1&amp;lesson=y">'
            '<link href="/static/css/a.css"><script src="/vendor/plotly.min.js"></script>'
            '<a href="/lessons">all</a><a href="/">lab</a>')  # fmt: skip
    out = localise(page, {"/?v=1&seq_len=100&lesson=x": "lesson-x.html", "/?v=1&lesson=y": "lesson-y.html"})
    assert 'href="lesson-x.html"' in out and 'value="lesson-y.html"' in out
    assert 'href="static/css/a.css"' in out and 'src="vendor/plotly.min.js"' in out
    assert 'href="index.html"' in out and 'href="lab.html"' in out and '"/' not in out


def test_the_copys_lab_links_its_cliff_lesson_and_leaves_out_the_api():
    links = site_links(lesson_documents())
    page = lesson_page(_templates(), None, Config(), [], links, "", None)
    cliff = links[lesson_documents()[CLIFF[0].id]["link"]]  # a page the export writes
    assert page.count(f'href="{cliff}"') == 2, "the top bar and the introduction link the cliff's page"
    assert 'href="/cliff"' not in page and "/docs" not in page
    assert 'id="intro"' in page and 'id="intro-open"' in page


node = pytest.mark.skipif(shutil.which("node") is None, reason="needs node")


@node
def test_bundle_keeps_each_module_in_its_own_scope(tmp_path):
    (tmp_path / "a.js").write_text(
        'const helper = () => "a";\nexport const A = helper();\nexport function f() { return 1; }\n'
    )
    (tmp_path / "b.js").write_text(
        'import { A as fromA, f } from "./a.js";\nconst helper = () => "b";\n'
        'export class B { get v() { return fromA + helper() + f(); } }\nexport { A } from "./a.js";\n'
    )
    (tmp_path / "main.js").write_text(
        'import { B, A } from "./b.js";\nimport "./side.js";\nconsole.log(new B().v, A, globalThis.side);\n'
    )
    (tmp_path / "side.js").write_text("globalThis.side = 'ran';\n")
    (tmp_path / "out.js").write_text(bundle(tmp_path / "main.js"))
    ran = subprocess.run(["node", str(tmp_path / "out.js")], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "ab1 a ran"


def test_bundle_refuses_what_it_does_not_understand(tmp_path):
    (tmp_path / "main.js").write_text("export default 3;\n")
    with pytest.raises(ValueError, match="main.js:1"):
        bundle(tmp_path / "main.js")
    (tmp_path / "main.js").write_text('import { x } from "https://cdn.example/x.js";\n')
    with pytest.raises(ValueError, match="relative"):
        bundle(tmp_path / "main.js")


@node
def test_the_page_bundles_and_parses(tmp_path):
    from server.export.site import ROOT

    out = tmp_path / "gfl.js"
    out.write_text(bundle(ROOT / "static" / "js" / "main.js"))
    assert "class RecordedSource" in out.read_text()
    subprocess.run(["node", "--check", str(out)], check=True)


@pytest.mark.parametrize("option", ["--live-url", "--base-url"])
def test_addresses_must_be_http(tmp_path, capsys, option):
    with pytest.raises(SystemExit):
        export_main(["--out", str(tmp_path), option, "ftp://lab.example"])
    assert f"{option} must be an http:// or https:// address" in capsys.readouterr().err


def test_the_cliff_lesson_records_what_the_live_api_answers_for_every_combination_of_its_tries(client, tmp_path):
    from urllib.parse import urlencode

    from server.export.cliff import cliff_settings, record
    from server.export.site import CLIFF

    (tmp_path / "data").mkdir()
    for lesson in CLIFF:
        settings = cliff_settings(lesson)
        assert len(set(settings)) == len(settings) == 2 ** len(lesson.tries)
        for t in lesson.tries:  # each try alone is among them, as the lesson's own try link has it
            assert {**lesson.link, t.key: t.value} in [
                {k: getattr(c, k) for k in {**lesson.link, t.key: t.value}} for c in settings
            ]
        for cfg in settings:
            src = record(tmp_path, cfg)
            text = (tmp_path / src).read_text(encoding="utf-8")
            prefix = f"(window.GFL_RECORDINGS ||= {{}})[{json.dumps(src)}] = "
            assert text.startswith(prefix) and text.endswith(";\n")
            live = client.get("/api/cliff?" + urlencode({k: str(v) for k, v in cfg.to_dict().items()}))
            assert live.status_code == 200
            # One frame of the page's source: the live answer, byte for byte.
            assert json.loads(text[len(prefix) : -2]) == [[live.text, None]]
