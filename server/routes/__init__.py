"""One router per concern: health, pages, the JSON API, the trace socket."""
