"""``GET /api/script``: the standalone script, run where the project cannot be imported, prints /api/trace's numbers.

The scripts run under a fresh virtualenv's Python that sees torch and numpy (a ``.pth`` line naming the
directory they are installed in) but not this project: its editable install works through a finder that
only the main environment's own ``.pth`` files switch on, and those are not read for a directory named
that way.  Each run first proves ``importlib.util.find_spec("engine")`` is None.

The reference is the lab's own trace (fused PyTorch kernels plus the zero-input trick of engine/tracing.py);
the script computes the same quantities independently, with an explicit loop and plain autograd.
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
from server.script import render_script

# A dozen small settings: every cell, architecture, task and init, both nonlinearities, bidirectional,
# stacked, and each clipping mode.  Both sides compute in float32, in a different order (fused kernels
# against a loop), so they differ in the last bits; where gradients explode those differences grow with
# them (gain 2.5 on the orthogonal RNN below reaches 4e-6 relative), so the exploding case here is a mild one.
SETTINGS = [
    {"seq_len": 10, "hidden_size": 5, "batch_size": 4},
    {"nonlinearity": "relu", "init": "identity", "task": "adding", "arch": "many-to-many", "seq_len": 9,
     "hidden_size": 4, "batch_size": 3, "clip": "value", "clip_at": 0.01},
    {"arch": "one-to-one", "num_layers": 2, "bidirectional": True, "hidden_size": 3, "batch_size": 5},
    {"cell": "lstm", "task": "copy", "arch": "many-to-many", "init": "orthogonal", "forget_bias": 2.0,
     "seq_len": 12, "hidden_size": 6, "batch_size": 3},
    {"cell": "lstm", "task": "sentiment", "num_layers": 2, "bidirectional": True, "init": "normal",
     "clip": "norm", "clip_at": 0.05, "seq_len": 9, "hidden_size": 4, "batch_size": 4, "seed": 11},
    {"cell": "lstm", "task": "pattern", "arch": "one-to-many", "gain": 1.5, "seq_len": 11, "hidden_size": 5,
     "batch_size": 2},
    {"cell": "gru", "task": "sine", "arch": "many-to-many", "num_layers": 3, "bidirectional": True, "seq_len": 8,
     "hidden_size": 3, "batch_size": 2},
    {"cell": "gru", "task": "adding", "arch": "one-to-many", "init": "identity", "seq_len": 7, "hidden_size": 4,
     "batch_size": 3},
    {"cell": "gru", "task": "sentiment", "seq_len": 1, "hidden_size": 3, "batch_size": 6, "seed": 7},
    {"task": "sine", "init": "orthogonal", "gain": 1.5, "num_layers": 2, "clip": "norm", "clip_at": 0.5,
     "seq_len": 12, "hidden_size": 6, "batch_size": 3},
    {"cell": "lstm", "num_layers": 4, "bidirectional": True, "clip": "value", "clip_at": 0.001, "seq_len": 6,
     "hidden_size": 3, "batch_size": 2},
    {"cell": "gru", "task": "copy", "init": "normal", "seq_len": 10, "hidden_size": 5, "batch_size": 3,
     "seed": 123, "gain": 0.7},
]  # fmt: skip

# Runs each script given as `__main__` in its own directory, after proving the project is not importable.
RUNNER = """
import contextlib, importlib.util, io, json, os, runpy, sys
visible = [name for name in ("engine", "server", "tests") if importlib.util.find_spec(name) is not None]
assert not visible, f"the project is importable here: {visible}"
outputs = []
for path in sys.argv[1:]:
    os.chdir(os.path.dirname(path))
    sys.argv = [path, "--no-plot"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(path, run_name="__main__")
    outputs.append(out.getvalue())
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


def test_the_script_imports_torch_and_numpy_only(client):
    allowed = {"argparse", "json", "math", "numpy", "torch", "torch.nn.functional", "matplotlib", "matplotlib.pyplot"}
    for settings in SETTINGS:
        text = client.get("/api/script?" + query(settings)).text
        tree = ast.parse(text)
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert imported <= allowed, imported - allowed


def test_every_setting_prints_the_traces_numbers(client, bare_python, tmp_path):
    paths = []
    for i, settings in enumerate(SETTINGS):
        r = client.get("/api/script?" + query(settings))
        assert r.status_code == 200, r.text
        folder = tmp_path / f"setting{i}"
        folder.mkdir()
        (folder / "script.py").write_text(r.text)
        paths.append(str(folder / "script.py"))
    (tmp_path / "runner.py").write_text(RUNNER)
    run = subprocess.run([bare_python, "-I", "runner.py", *paths], cwd=tmp_path, env=clean_env(),
                         capture_output=True, text=True, timeout=240)  # fmt: skip
    assert run.returncode == 0, run.stderr
    outputs = json.loads(run.stdout.strip().splitlines()[-1])
    for settings, output in zip(SETTINGS, outputs, strict=True):
        printed = json.loads(output.strip().splitlines()[-1])  # the script's last line
        doc = client.post("/api/trace", json=settings).json()
        want = np.array(doc["backward"]["grad_h_norm"])
        got = np.array(printed["grad_h_norm"])
        assert got.shape == want.shape, settings  # (L, D, T)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=0, err_msg=str(settings))
        assert printed["loss"] == pytest.approx(doc["done"]["loss"], rel=1e-6, abs=0), settings
        assert printed["total_norm"] == pytest.approx(doc["done"]["total_norm"], rel=1e-6, abs=0), settings
        clipped = doc["done"]["total_norm_clipped"]
        assert printed["total_norm_clipped"] == pytest.approx(clipped, rel=1e-6, abs=0), settings
        if settings.get("clip", "none") != "none":  # the thresholds above are small enough to bite
            assert clipped < doc["done"]["total_norm"] * 0.99, settings


LSTM_SETTING = {"cell": "lstm", "seq_len": 8, "hidden_size": 4, "batch_size": 2, "forget_bias": 1.0}

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
    (tmp_path / "script.py").write_text(client.get("/api/script?" + query(LSTM_SETTING)).text)
    run = subprocess.run([bare_python, "script.py"], cwd=tmp_path, env=clean_env(), capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    doc = client.post("/api/trace", json=LSTM_SETTING).json()
    np.testing.assert_allclose(json.loads(lines[-1])["grad_h_norm"], doc["backward"]["grad_h_norm"], rtol=1e-6, atol=0)
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


def test_the_script_is_of_the_links_setting(client):
    text = client.get("/api/script?v=1&cell=gru&seq_len=40&clip=norm&clip_at=0.25&lesson=anything&embed=1").text
    assert 'CELL = "gru"' in text and "T = 40" in text and 'CLIP = "norm"' in text and "CLIP_AT = 0.25" in text
    assert "def step(x_t, h, w_ih, w_hh, b_ih, b_hh):" in text and "r_t = σ(" in text  # the GRU's equations
    assert "i_t = σ(" not in text  # not the LSTM's
    assert "h.retain_grad()" in text
    # Only the chosen task's generator is written in.
    assert "task='random'" in text and "task='copy'" not in text
    assert text == render_script(Config.from_dict({"cell": "gru", "seq_len": 40, "clip": "norm", "clip_at": 0.25}),
                                 "http://testserver/")  # fmt: skip


def test_the_answer_is_python_text_named_after_the_setting(client):
    r = client.get("/api/script?cell=lstm&task=copy&seq_len=120")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/x-python; charset=utf-8"
    assert r.headers["content-disposition"] == 'inline; filename="gradient_flow_lstm_copy_T120.py"'
    compile(r.text, "script.py", "exec")


@pytest.mark.parametrize(
    ("link", "status", "field", "words"),
    [
        ("cell=lstx", 422, "cell", "cell must be one of 'rnn', 'lstm', 'gru'; got 'lstx'"),
        ("seq_len=0", 422, "seq_len", "seq_len must be an integer from 1 to 2000"),
        ("gain=abc", 422, "gain", "gain must be a number from 0 to 10"),
        ("bidirectional=maybe", 422, "bidirectional", "bidirectional must be true or false"),
        ("hiden_size=8", 422, "hiden_size", "unknown link key 'hiden_size'"),
        ("seq_len=2000&batch_size=256&hidden_size=256", 422, "batch_size", "at most 16,000,000"),
        ("cell=lstm&cell=gru", 400, "cell", "given more than once"),
    ],
)
def test_a_bad_link_key_is_an_error_naming_it(client, link, status, field, words):
    """The page falls back to defaults with a notice; a script of some other setting would mislead, so: an error."""
    r = client.get("/api/script?" + link)
    assert r.status_code == status
    body = r.json()
    assert body["field"] == field and words in body["message"]
    assert "using" not in body["message"]  # nothing was substituted


def test_the_scripts_are_clean_python(client, tmp_path):
    """Every script passes the project's own linter and formatter: what a student reads is tidy code."""
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed next to this Python")
    for i, settings in enumerate(SETTINGS):
        (tmp_path / f"script{i}.py").write_text(client.get("/api/script?" + query(settings)).text)
    config = str(Path(__file__).resolve().parents[2] / "pyproject.toml")
    for command in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        r = subprocess.run([ruff, *command, "--config", config, str(tmp_path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
