"""``python -m tests.e2e.measured_server [server arguments]``: ``python -m server`` (one worker process) whose lesson
documents are those measured once this session (tests/conftest.py ``lesson_documents_file``, the JSON file named by
GFL_E2E_DOCUMENTS), not measured again by every browser test worker's server the first time a page lists the lessons.
The documents are what server.routes.lessons.lesson_documents computes; tests/engine checks their numbers."""

from __future__ import annotations

import json
import os
from pathlib import Path

from server.__main__ import main
from server.routes import lessons

if __name__ == "__main__":
    lessons._documents.update(json.loads(Path(os.environ["GFL_E2E_DOCUMENTS"]).read_text(encoding="utf-8")))
    main()
