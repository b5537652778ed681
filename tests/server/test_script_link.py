"""``GET /api/script`` for a link: the script of exactly the link's setting, for every lesson's link and every link of
choices, with the engine's own task data; a link it cannot write out is an error naming the field, never another
setting's script.  (tests/server/test_script.py runs the scripts.)"""

from __future__ import annotations

import dataclasses
import itertools
import json
from urllib.parse import urlencode

import pytest

from engine import Config, ConfigError
from engine.config import FIELD_BY_NAME
from engine.data import DICTIONARY, SENTIMENT_WORDS
from engine.lessons import LESSONS, lesson_query
from server import script as script_module
from server.script import render_script, strict_config


def query(settings: dict) -> str:
    return urlencode(Config.from_dict(settings).to_query())


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
