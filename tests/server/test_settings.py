"""The server's settings from the environment: each setting has its variable, documented, read as its type."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from server.settings import Settings, usable_cores

# The three variables that are not GFL_ and the setting's name in capitals.
NAMED = {"cache_url": "GFL_CACHE", "allowed_origins": "GFL_ALLOW_ORIGIN", "allowed_hosts": "GFL_ALLOW_HOST"}
DOCS = Path(__file__).resolve().parents[2] / "docs"


def variable(setting: str) -> str:
    return NAMED.get(setting, "GFL_" + setting.upper())


def test_every_setting_is_read_from_its_variable_as_its_type(monkeypatch):
    want = {}
    for k, f in enumerate(fields(Settings)):  # a value of its own for each, unlike its default
        value = {"int": 3 + k, "float": 0.5 + k, "str": f"text {k}", "str | None": f"text {k}",
                 "tuple[str, ...]": ("a.example", f"b{k}.example")}[f.type]
        monkeypatch.setenv(variable(f.name), ",".join(value) if isinstance(value, tuple) else str(value))
        want[f.name] = value
    got = Settings.from_env()
    assert {name: getattr(got, name) for name in want} == want


def test_an_unset_or_empty_variable_leaves_the_default(monkeypatch):
    for f in fields(Settings):
        monkeypatch.delenv(variable(f.name), raising=False)
    monkeypatch.setenv("GFL_MAX_DEPTH", "")
    monkeypatch.setenv("GFL_FRAME_ANCESTORS", " ")
    assert Settings.from_env() == Settings(max_concurrent=usable_cores())  # one computation a core, by default


def test_every_variable_is_in_the_protocol_document():
    text = (DOCS / "protocol.md").read_text(encoding="utf-8")
    assert [variable(f.name) for f in fields(Settings) if variable(f.name) not in text] == []
