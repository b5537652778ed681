"""The settings tables: what one key is (:class:`Field`), the model's table (:data:`FIELDS`) and the
validated point of the model space (:class:`Config`), read from links by one strict parser."""


from engine.config.fields import NUMBER_SYNTAX, Field, RepeatedKey, check_against, quote, read_link
from engine.config.space import (
    ATTENTION_MAX_SEQ_LEN,
    FIELD_BY_NAME,
    FIELDS,
    LINK_VERSION,
    PAGE_KEYS,
    TASKS_FOR_ARCH,
    WEIGHT_KEYS,
    Config,
    ConfigError,
    describe_rules,
    parse_query,
)
from engine.config.table import VIEWS

__all__ = [
    "ATTENTION_MAX_SEQ_LEN", "Config", "ConfigError", "FIELDS", "FIELD_BY_NAME", "Field", "LINK_VERSION",
    "NUMBER_SYNTAX", "PAGE_KEYS", "RepeatedKey", "TASKS_FOR_ARCH", "VIEWS", "WEIGHT_KEYS", "check_against",
    "describe_rules", "parse_query", "quote", "read_link",
]
