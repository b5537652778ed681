"""Each distinct request computed once: what names a result (keys), the single flight that
computes it, the in-process and Redis caches that keep it, and the entry format read back from Redis."""


from server.sharing.flights import Sharing, error_unit, stream_training
from server.sharing.keys import LAG, base_kind, lag_rows_for, request_key, with_lag

__all__ = [
    "LAG", "Sharing", "base_kind", "error_unit", "lag_rows_for", "request_key", "stream_training", "with_lag",
]
