"""``GET /api/script``: the standalone script, run where the project cannot be imported, prints /api/trace's numbers.

The scripts run under a fresh virtualenv's Python that sees torch and numpy (a ``.pth`` line naming the
directory they are installed in) but not this project: its editable install works through a finder that
only the main environment's own ``.pth`` files switch on, and those are not read for a directory named
that way.  Each run first proves ``importlib.util.find_spec("engine")`` is None.

The reference is the lab's own trace (fused PyTorch kernels plus the zero-input trick of engine/tracing/fused.py);
the script computes the same quantities independently, with an explicit loop and plain autograd.  Every
setting of tests/server/script_walk.py (every choice of every field, with every cell) runs in one
subprocess, while the server computes the traces to compare with.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
import torch

from engine import Config
from tests.server.script_walk import (
    CHOICE_FIELDS,
    LESSON,
    assert_same_lag_row,
    assert_same_numbers,
    missing_choices,
    walk,
)

WALK = walk()

# Runs each script given as `__main__` in its own directory, after proving the project is not importable;
# prints one JSON list of {"stdout"} or {"error"}, one per script, so one failure names its setting.
RUNNER = """
import contextlib, importlib.util, io, json, os, runpy, sys, traceback
visible = [name for name in ("engine", "server", "tests") if importlib.util.find_spec(name) is not None]
assert not visible, f"the project is importable here: {visible}"
outputs = []
for path in sys.argv[1:]:
    os.chdir(os.path.dirname(path))
    sys.argv = [path, "--no-plot"]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(path, run_name="__main__")
        outputs.append({"stdout": out.getvalue()})
    except BaseException:
        outputs.append({"error": traceback.format_exc()})
print(json.dumps(outputs))
"""


def query(settings: dict) -> str:
    return urlencode(Config.from_dict(settings).to_query())


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> str:
    """A Python that imports torch and numpy from this environment but nothing of the project."""
    root = tmp_path_factory.mktemp("bare-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # One line naming the directory torch lives in: it joins sys.path, its own .pth files are not run.
    Path(purelib, "torch_and_numpy.pth").write_text(str(Path(torch.__file__).parent.parent) + "\n")
    assert Path(torch.__file__).parent.parent == Path(sysconfig.get_paths()["purelib"])
    return str(python)


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


@pytest.fixture(scope="module")
def walk_scripts(client) -> dict[str, str]:
    """The script /api/script answers for each setting of the walk."""
    scripts = {}
    for label, settings in WALK.items():
        r = client.get("/api/script?" + query(settings))
        assert r.status_code == 200, (label, r.text)
        scripts[label] = r.text
    return scripts


@pytest.fixture(scope="module")
def walk_results(client, bare_python, walk_scripts, tmp_path_factory) -> dict[str, tuple[dict, dict]]:
    """label -> (the script's last printed line, /api/trace's document): the scripts run in one subprocess
    while the server computes the traces."""
    folder = tmp_path_factory.mktemp("walk")
    paths = []
    for i, text in enumerate(walk_scripts.values()):
        (folder / f"setting{i}").mkdir()
        paths.append(folder / f"setting{i}" / "script.py")
        paths[-1].write_text(text)
    (folder / "runner.py").write_text(RUNNER)
    run = subprocess.Popen([bare_python, "-I", "runner.py", *map(str, paths)], cwd=folder, env=clean_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    docs = {label: client.post("/api/trace?lag=1", json=settings).json() for label, settings in WALK.items()}
    stdout, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr
    outputs = json.loads(stdout.strip().splitlines()[-1])
    failed = {label: out["error"] for label, out in zip(WALK, outputs, strict=True) if "error" in out}
    assert not failed, failed
    return {label: (json.loads(out["stdout"].strip().splitlines()[-1]), docs[label])
            for label, out in zip(WALK, outputs, strict=True)}  # fmt: skip


def test_the_bare_python_has_torch_but_not_the_project(bare_python, tmp_path):
    """The proof the other tests rest on: this interpreter finds torch and numpy and no module of the project."""
    probe = "import importlib.util as u, json; print(json.dumps({m: u.find_spec(m) is not None for m in %r}))"
    names = ["torch", "numpy", "engine", "server", "tests"]
    for flags in ([], ["-I"]):
        r = subprocess.run([bare_python, *flags, "-c", probe % names], cwd=tmp_path, env=clean_env(),
                           capture_output=True, text=True, check=True)  # fmt: skip
        assert json.loads(r.stdout) == {"torch": True, "numpy": True, "engine": False, "server": False, "tests": False}
    # The same probe under this environment's own Python does see the project: the bare one really hides it.
    r = subprocess.run([sys.executable, "-c", probe % names], cwd=tmp_path, env=clean_env(),
                       capture_output=True, text=True, check=True)  # fmt: skip
    assert json.loads(r.stdout)["engine"] is True


def test_the_walk_takes_every_choice_of_every_field_with_every_cell():
    assert missing_choices(list(WALK.values())) == []
    assert {f.name for f in CHOICE_FIELDS} >= {"cell", "nonlinearity", "arch", "task", "init", "clip",
                                               "bidirectional", "reverse_source"}  # fmt: skip


def test_the_walk_misses_what_it_does_not_take():
    """The coverage check itself can fail: without the GRU's encoder-decoders, it names what is gone."""
    fewer = [s for s in WALK.values() if not (s.get("cell") == "gru" and s.get("arch") == "encoder-decoder")]
    missing = missing_choices(fewer)
    assert "gru: arch=encoder-decoder with task=translate" in missing
    assert "gru: reverse_source never applies" in missing


def test_every_choice_of_every_field_prints_the_traces_numbers(walk_results):
    for label, (printed, doc) in walk_results.items():
        assert_same_numbers(printed, doc, label)
        assert_same_lag_row(printed, doc, label)
        settings = WALK[label]
        if settings.get("clip", "none") != "none" and settings.get("clip_at") == 1e-3:
            assert doc["done"]["total_norm_clipped"] < doc["done"]["total_norm"] * 0.99, label  # clipping bit


def test_a_truncated_script_cuts_the_gradient_where_the_lab_does(walk_results):
    """tbptt=10 of 30, many-to-one: no gradient reaches the first two windows, exactly 0 as in the trace."""
    printed, doc = walk_results["truncated"]
    norms = np.array(printed["grad_h_norm"])[0, 0]
    assert (norms[:20] == 0).all() and (norms[20:] > 0).all()
    assert (np.array(doc["backward"]["grad_h_norm"])[0, 0, :20] == 0).all()
    full, _ = walk_results["full"]  # the same setting, fully backpropagated: h_0 does get a gradient
    assert np.array(full["grad_h_norm"])[0, 0, 0] > 0
    assert full["total_norm"] > printed["total_norm"] * 1.05  # the gradient the cuts throw away


def test_the_translation_lessons_link_and_tries_print_the_traces_numbers(walk_results, walk_scripts):
    labels = [label for label in WALK if label.startswith(LESSON)]
    assert len(labels) == 3  # the link and its two tries
    for label in labels:
        printed, doc = walk_results[label]
        assert np.array(printed["grad_h_norm"]).shape == (1, 1, 20)  # the encoder's 10 steps, the decoder's 10
        assert_same_numbers(printed, doc, label)
    assert "REVERSE_SOURCE = True" in walk_scripts[f"{LESSON} link"]  # the lesson reads the source backwards


def test_every_attention_of_the_walk_prints_an_alignment_whose_rows_sum_to_one(walk_results):
    kinds = set()
    for label, (printed, _) in walk_results.items():
        kind = WALK[label].get("attention", "none")
        if kind != "none":
            kinds.add(kind)
            alignment = np.array(printed["attention"]["alignment"])
            T = WALK[label]["seq_len"]
            assert alignment.shape == (T, T) and (alignment >= 0).all(), label
            np.testing.assert_allclose(alignment.sum(1), 1.0, rtol=1e-6, err_msg=label)
    assert kinds == {"additive", "dot"}


def test_the_script_imports_torch_and_numpy_only(walk_scripts):
    allowed = {"argparse", "json", "math", "numpy", "torch", "torch.nn.functional", "matplotlib", "matplotlib.pyplot"}
    for label, text in walk_scripts.items():
        tree = ast.parse(text)
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert imported <= allowed, (label, imported - allowed)


def test_the_scripts_are_clean_python(walk_scripts, tmp_path):
    """Every script passes the project's own linter and formatter: what a student reads is tidy code."""
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed next to this Python")
    for i, text in enumerate(walk_scripts.values()):
        (tmp_path / f"script{i}.py").write_text(text)
    config = str(Path(__file__).resolve().parents[2] / "pyproject.toml")
    for command in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        r = subprocess.run([ruff, *command, "--config", config, str(tmp_path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


LSTM_SETTING = {"cell": "lstm", "seq_len": 8, "hidden_size": 4, "batch_size": 2, "forget_bias": 1.0}
ENCODER_DECODER_SETTING = {"arch": "encoder-decoder", "task": "translate", "cell": "gru", "seq_len": 6,
                           "hidden_size": 4, "batch_size": 2, "bidirectional": True}  # fmt: skip

# Runs script.py with matplotlib made unimportable, as on a machine without it.
WITHOUT_MATPLOTLIB = """
import runpy, sys
class NoMatplotlib:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "matplotlib":
            raise ImportError("no matplotlib here")
sys.meta_path.insert(0, NoMatplotlib())
sys.argv = ["script.py"]
runpy.run_path("script.py", run_name="__main__")
"""


def test_the_script_runs_on_its_own_and_draws_the_chart(client, bare_python, tmp_path):
    """`python script.py` as a student types it: a subprocess of its own, in an empty directory."""
    pytest.importorskip("matplotlib", reason="the chart needs matplotlib (a test extra)")
    settings = ENCODER_DECODER_SETTING  # its chart also marks the handoff
    (tmp_path / "script.py").write_text(client.get("/api/script?" + query(settings)).text)
    run = subprocess.run([bare_python, "script.py"], cwd=tmp_path, env=clean_env(), capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    doc = client.post("/api/trace", json=settings).json()
    np.testing.assert_allclose(json.loads(lines[-1])["grad_h_norm"], doc["backward"]["grad_h_norm"], rtol=1e-5, atol=0)
    assert "chart saved to grad_h_norm.png" in lines
    assert (tmp_path / "grad_h_norm.png").read_bytes().startswith(b"\x89PNG")


def test_without_matplotlib_the_script_says_so_and_still_prints_its_numbers(client, bare_python, tmp_path):
    (tmp_path / "script.py").write_text(client.get("/api/script?" + query(LSTM_SETTING)).text)
    run = subprocess.run([bare_python, "-I", "-c", WITHOUT_MATPLOTLIB], cwd=tmp_path, env=clean_env(),
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert "matplotlib is not installed, so no chart (pip install matplotlib)" in lines
    assert not (tmp_path / "grad_h_norm.png").exists()
    doc = client.post("/api/trace", json=LSTM_SETTING).json()
    assert json.loads(lines[-1])["loss"] == pytest.approx(doc["done"]["loss"], rel=1e-6, abs=0)














