"""The node unit tests (tests/js/*.test.mjs) read the config table from fields.json: it must be the table."""

import json
from pathlib import Path

from engine.config import FIELDS, LINK_VERSION

FIXTURE = Path(__file__).with_name("fields.json")


def test_fixture_is_the_config_table():
    # Regenerate: python -c "import json; from engine.config import FIELDS, LINK_VERSION; json.dump(
    #   {'fields': [f.describe() for f in FIELDS], 'link_version': LINK_VERSION}, open('tests/js/fields.json', 'w'))"
    data = json.loads(FIXTURE.read_text())
    assert data == {"fields": [f.describe() for f in FIELDS], "link_version": LINK_VERSION}


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
