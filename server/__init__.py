"""Gradient Flow Lab's web edge: HTTP pages, the JSON API and the trace websocket.

The only package that speaks HTTP.  Tensors and numpy arrays become wire data
here and nowhere else; every computation runs in a worker thread.
"""

import os

# Each computation runs on one core (see server.compute).  numpy's OpenBLAS would
# otherwise start a thread per core inside every eigvals/svd of the theory figures
# and, beside torch's own threads and the other computations, run several times
# slower.  Read when numpy loads, so this must run before anything imports numpy;
# an explicit setting in the environment wins.
for _name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
