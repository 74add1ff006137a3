"""What synthetic applicants buy: price ladders, installation fees and descriptions.

Prices are typical shop prices (yen, before tax) of crime-prevention equipment;
which items come first, as extras or alone in `ineligible_item_only` records is
weighted from the item vocabulary (subsidy_rules.items) and the Shinjuku FY2025
program's eligible items (`plan.SHINJUKU_ITEMS`).
"""

from __future__ import annotations

from subsidy_rules.items import Item
from subsidy_rules.synth.weights import _table

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


def _descriptions(item: Item) -> tuple[str, ...]:
    return _DESCRIPTIONS.get(item) or (item.label,)


_FIRST_ITEMS_TABLE = _table(_FIRST_ITEMS)
_EXTRA_TABLE = _table(_EXTRA_ITEMS)
_INELIGIBLE_ITEMS_TABLE = _table(_INELIGIBLE_ITEMS)
