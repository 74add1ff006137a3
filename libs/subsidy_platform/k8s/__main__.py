"""`python -m subsidy_platform.k8s [--root DIR] [--check]`: write (or check) the generated
Kubernetes files under `DIR/k8s` (default: the working directory)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from subsidy_platform.k8s.render import generated_files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="subsidy_platform.k8s", description="宣言から Kubernetes のマニフェストを生成します"
    )
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument("--check", action="store_true", help="書き込まず、差分があれば 1 で終了")
    args = parser.parse_args(argv)
    stale = []
    for relative, text in generated_files().items():
        path = args.root / relative
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(relative)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(path)
    for relative in stale:
        print(f"stale: {relative}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
