"""The static lesson site (``python -m server.export --out DIR``): see :mod:`server.export.site`."""
