"""The rendered overlays, one rendering per session for the manifest tests (issue 9)."""

from __future__ import annotations

import pytest
from k8s_support import K8S, OVERLAYS, Manifest, render


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Manifest]]:
    """Every overlay's objects, by overlay name."""
    return {overlay: render(K8S / "overlays" / overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="session")
def production(rendered: dict[str, list[Manifest]]) -> list[Manifest]:
    return rendered["production"]
