"""Gradient Flow Lab's compute core: pure torch, numpy and the standard library."""

from engine.config import FIELDS, LINK_VERSION, Config, ConfigError, parse_query

__all__ = ["FIELDS", "LINK_VERSION", "Config", "ConfigError", "parse_query"]
