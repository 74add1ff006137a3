"""Kana normalisation: one matching form, and the 全銀 (Zengin) payee form.

`matching_kana` maps hiragana, katakana and half-width katakana, written with any
spacing, to one full-width katakana string without spaces and with small kana written
large, so that シンジュク タロウ, しんじゅく　たろう and ｼﾝｼﾞﾕｸﾀﾛｳ compare equal.

`zengin_kana` produces the payee name of a 全銀協 総合振込 record: half-width katakana,
upper-case letters, digits, space and `( ) . - /`; small kana written full size
(キュウ -> ｷﾕｳ); the long vowel mark becomes `-`; the comma and the middle dot, which
the format does not allow, become a space. Anything else raises `ValueError` naming the
character.
"""

from __future__ import annotations

import functools
import unicodedata

import jaconv

_SMALL_TO_LARGE = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")
_ZENGIN_ALLOWED = frozenset(
    "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜｦﾝﾞﾟABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ().-/"
)
_ZENGIN_SUBSTITUTES = str.maketrans(
    {"ー": "-", "－": "-", "‐": "-", "・": " ", "、": " ", ",": " ", "，": " "}
)


def to_katakana(text: str) -> str:
    """Full-width katakana for any hiragana / half-width katakana (other text kept, NFKC)."""
    full = unicodedata.normalize("NFKC", text)
    return jaconv.hira2kata(full)


@functools.lru_cache(maxsize=65536)
def matching_kana(text: str) -> str:
    """The comparison form: full-width katakana, no spaces, small kana written large."""
    kata = to_katakana(text).translate(_SMALL_TO_LARGE)
    return "".join(kata.split())


def zengin_kana(text: str) -> str:
    """The 全銀 payee form (half-width katakana, small kana large); ValueError if impossible."""
    kata = to_katakana(text).upper().translate(_SMALL_TO_LARGE).translate(_ZENGIN_SUBSTITUTES)
    half = jaconv.z2h(kata, kana=True, ascii=True, digit=True)
    half = " ".join(half.split())
    for char in half:
        if char not in _ZENGIN_ALLOWED:
            raise ValueError(f"character {char!r} cannot be written in a 全銀 payee name")
    return half
