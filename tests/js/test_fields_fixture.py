"""The node unit tests (tests/js/*.test.mjs) read the tables from fixtures: each must be what its route answers."""

import json
from pathlib import Path

import pytest

from engine.config import FIELDS
from engine.lab import describe_table
from server.routes.api import config_table

HERE = Path(__file__).parent
# Regenerate: python -c "import json; from server.routes.api import config_table; from engine.lab.cliff import \
#   describe_table; json.dump(config_table(), open('tests/js/fields.json', 'w')); \
#   json.dump(describe_table(), open('tests/js/cliff_table.json', 'w'))"
FIXTURES = {"fields.json": config_table, "cliff_table.json": describe_table}  # GET /api/config, /api/cliff/config


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_is_the_table_its_route_describes(name):
    assert json.loads((HERE / name).read_text()) == json.loads(json.dumps(FIXTURES[name]()))


def test_applies_to_follows_the_rules_normalised_applies():
    from engine.config import Config

    by_name = {f.name: f for f in FIELDS}
    rnn, lstm = Config().to_dict(), Config(cell="lstm").to_dict()
    assert by_name["nonlinearity"].applies_to(rnn) and not by_name["nonlinearity"].applies_to(lstm)
    assert by_name["forget_bias"].applies_to(lstm) and not by_name["forget_bias"].applies_to(rnn)
    assert not by_name["seq_len"].applies_to(Config(arch="one-to-one").to_dict())
    assert not by_name["clip_at"].applies_to(rnn) and by_name["clip_at"].applies_to(Config(clip="norm").to_dict())
    # What normalised() overrides is exactly what the table says does not apply.
    assert Config.from_dict({"arch": "one-to-one", "seq_len": 9}).seq_len == 1
    assert Config.from_dict({"cell": "gru", "nonlinearity": "relu"}).nonlinearity == "tanh"
