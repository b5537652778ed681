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
import dataclasses
import itertools
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

from engine import Config, ConfigError
from engine.config import FIELD_BY_NAME
from engine.data import DICTIONARY, SENTIMENT_WORDS
from engine.lessons import LESSONS, lesson_query
from server import script as script_module
from server.script import render_script, strict_config
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


def test_every_lessons_link_and_try_answers_a_script(client):
    def answers(search: str, where) -> None:
        r = client.get("/api/script?" + search)
        assert r.status_code == 200, (where, r.text)

    for lesson in LESSONS:
        if lesson.view != "lab":
            continue
        answers(urlencode(lesson_query(lesson)), lesson.id)
        for t in lesson.tries:
            answers(query(Config.from_dict({**lesson.link, t.key: t.value}).non_default()), (lesson.id, t.key))


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


def test_every_link_of_choices_answers_a_script_or_names_its_field():
    """Each cell, arch, task, direction count, source order, attention and truncation together, read and rendered as
    the route does: a script that compiles, or a ConfigError naming the key at fault (the encoder-decoder with a task it
    cannot learn); nothing else is raised, so the route answers 200 or 422, never a server error."""
    names = ("cell", "arch", "task", "bidirectional", "reverse_source", "tbptt")
    values = [FIELD_BY_NAME[n].choices or (False, True) for n in names[:-1]] + [("0", "3")]
    combos = itertools.product(*values)
    links = [{k: str(v).lower() for k, v in zip(names, combo)} | {"seq_len": "7"} for combo in combos]
    # attention only applies to the encoder-decoder (elsewhere the link's value is set to none)
    links = [link | {"attention": a} for link in links for a in FIELD_BY_NAME["attention"].choices
             if a == "none" or link["arch"] == "encoder-decoder"]  # fmt: skip
    for link in links:
        try:
            text = render_script(strict_config(link))
        except ConfigError as e:
            assert e.field == "task" and link["arch"] == "encoder-decoder", (link, e.message)
            continue
        compile(text, "script.py", "exec")
        assert f"ARCH = {json.dumps(link['arch'])}" in text and f"TASK = {json.dumps(link['task'])}" in text, link
        assert ("def decode(" in text, "def attend(" in text) == (
            link["attention"] == "additive" and link["arch"] == "encoder-decoder",
            link["attention"] == "dot" and link["arch"] == "encoder-decoder",
        ), link


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


def test_the_script_is_of_the_links_setting(client):
    text = client.get("/api/script?v=1&cell=gru&seq_len=40&clip=norm&clip_at=0.25&lesson=anything&embed=1").text
    assert 'CELL = "gru"' in text and "T = 40" in text and 'CLIP = "norm"' in text and "CLIP_AT = 0.25" in text
    assert "def step(x_t, h, w_ih, w_hh, b_ih, b_hh):" in text and "r_t = σ(" in text  # the GRU's equations
    assert "i_t = σ(" not in text  # not the LSTM's
    assert "h.retain_grad()" in text
    # Only the chosen task's generator is written in; no truncation, no encoder-decoder.
    assert "task='random'" in text and "task='copy'" not in text
    assert "TBPTT" not in text and "decoder" not in text
    assert text == render_script(Config.from_dict({"cell": "gru", "seq_len": 40, "clip": "norm", "clip_at": 0.25}),
                                 "http://testserver/")  # fmt: skip


def test_the_task_data_is_the_engines(client):
    """The dictionary and vocabularies are rendered from the engine's own constants."""
    text = client.get("/api/script?arch=encoder-decoder&task=translate").text
    assert f"DICTIONARY = {DICTIONARY}" in text
    text = client.get("/api/script?task=sentiment").text
    assert "WORDS = (" + ", ".join(f'"{w}"' for w in SENTIMENT_WORDS) + ")" in text


def test_the_answer_is_python_text_named_after_the_setting(client):
    r = client.get("/api/script?cell=lstm&task=copy&seq_len=120")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/x-python; charset=utf-8"
    assert r.headers["content-disposition"] == 'inline; filename="gradient_flow_lstm_copy_T120.py"'
    compile(r.text, "script.py", "exec")


# Over the cap only by the encoder-decoder's 2T: the error is of the values given, never of a batch_size of 500.
OVER_THE_CAP_BY_2T = "arch=encoder-decoder&task=copy&seq_len=2000&hidden_size=16&batch_size=256"


@pytest.mark.parametrize(
    ("link", "status", "field", "words"),
    [
        ("cell=lstx", 422, "cell", "cell must be one of 'rnn', 'lstm', 'gru'; got 'lstx'"),
        ("seq_len=0", 422, "seq_len", "seq_len must be an integer from 1 to 2000"),
        ("gain=abc", 422, "gain", "gain must be a number from 0 to 10"),
        ("bidirectional=maybe", 422, "bidirectional", "bidirectional must be true or false"),
        ("hiden_size=8", 422, "hiden_size", "unknown link key 'hiden_size'"),
        ("seq_len=2000&batch_size=256&hidden_size=256", 422, "batch_size", "at most 16,000,000"),
        (OVER_THE_CAP_BY_2T, 422, "batch_size", "at most 16,000,000"),
        ("arch=encoder-decoder&task=sine", 422, "task", "arch 'encoder-decoder' needs task one of"),
        ("cell=lstm&cell=gru", 400, "cell", "given more than once"),
    ],
)
def test_a_bad_link_key_is_an_error_naming_it(client, link, status, field, words):
    """The page falls back to defaults with a notice; a script of some other setting would mislead, so: an error."""
    r = client.get("/api/script?" + link)
    assert r.status_code == status
    body = r.json()
    assert body["field"] == field and words in body["message"]
    assert "using" not in body["message"] and "got 500" not in body["message"]  # nothing was substituted


def test_a_choice_the_template_has_no_piece_for_is_refused_by_name(client, monkeypatch):
    """A cell, task or init added to the config before the script learns it: an error naming it, not a wrong script."""
    with pytest.raises(ConfigError) as e:
        render_script(dataclasses.replace(Config(), cell="elman"))  # past validation, as a new choice would be
    assert e.value.field == "cell" and "cell=elman" in e.value.message
    with pytest.raises(ConfigError) as e:
        render_script(dataclasses.replace(Config(), init="xavier"))  # a branch of the template, not a piece
    assert e.value.field == "init" and "init=xavier" in e.value.message
    listed = script_module._env.list_templates
    monkeypatch.setattr(script_module._env, "list_templates",
                        lambda **kw: [n for n in listed(**kw) if n != "script/task_adding.py.j2"])  # fmt: skip
    r = client.get("/api/script?task=adding")
    assert r.status_code == 422 and r.json()["field"] == "task" and "task=adding" in r.json()["message"]
    monkeypatch.setattr(script_module._env, "list_templates",
                        lambda **kw: [n for n in listed(**kw) if n != "script/attention_dot.py.j2"])  # fmt: skip
    r = client.get("/api/script?arch=encoder-decoder&task=reverse&attention=dot")
    assert r.status_code == 422 and r.json()["field"] == "attention" and "attention=dot" in r.json()["message"]
    assert client.get("/api/script?arch=encoder-decoder&task=reverse&attention=additive").status_code == 200


def test_a_key_the_template_does_not_read_is_refused_unless_at_its_default(client, monkeypatch):
    """A key added to the config that the script never writes out: refused by name when it matters (a 422)."""
    monkeypatch.setattr(script_module, "_READ", script_module._READ - {"tbptt"})
    r = client.get("/api/script?tbptt=5")
    assert r.status_code == 422 and r.json()["field"] == "tbptt"
    assert client.get("/api/script?tbptt=0").status_code == 200
    assert client.get("/api/script?lr=0.5&steps=10&optimizer=sgd").status_code == 200  # training only
