"""Run a console script's entry point as a pod would, recording the environment variables the
project's own code reads (`python pod_recorder.py OUT MODULE:FUNCTION`).

Every read of `os.environ` (`[...]`, `.get`, `in`) whose caller is a `subsidy_*` module is
noted; at exit the names are written to OUT as JSON. The pod contract test compares them
with what the rendered manifest gives the container."""

from __future__ import annotations

import atexit
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

_LIBRARY_FRAMES = ("os", "_collections_abc", "collections", "collections.abc")


def install(out: Path) -> None:
    read: set[str] = set()
    original = os._Environ.__getitem__

    def recording(self: Any, key: str) -> str:
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__", "") in _LIBRARY_FRAMES:
            frame = frame.f_back  # type: ignore[assignment]
        if frame is not None and frame.f_globals.get("__name__", "").startswith("subsidy_"):
            read.add(key)
        return original(self, key)  # type: ignore[no-any-return]

    os._Environ.__getitem__ = recording  # type: ignore[method-assign]
    atexit.register(lambda: out.write_text(json.dumps(sorted(read))))


if __name__ == "__main__":
    install(Path(sys.argv[1]))
    module, _, function = sys.argv[2].partition(":")
    sys.argv = [module, *sys.argv[3:]]
    getattr(importlib.import_module(module), function)()
