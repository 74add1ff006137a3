"""The item vocabulary of the application format (version 1).

Every purchase names one of these items. Which of them a program subsidises, and
with which per-item cap, is the program's business (its definition file); `other`
is never eligible in any program.
"""

from enum import StrEnum


class Item(StrEnum):
    """Kinds of crime-prevention equipment (防犯機器等) an applicant may buy."""

    SECURITY_CAMERA = "security_camera"  # 防犯カメラ
    CAMERA_INTERCOM = "camera_intercom"  # カメラ付きインターホン
    SENSOR_LIGHT = "sensor_light"  # センサーライト
    SENSOR_ALARM = "sensor_alarm"  # センサーアラーム
    GLASS_BREAK_SENSOR = "glass_break_sensor"  # ガラス破壊センサー
    SECURITY_FILM = "security_film"  # 防犯フィルム
    SECURITY_GLASS = "security_glass"  # 防犯ガラス
    WINDOW_GRILLE = "window_grille"  # 面格子
    DOOR_LOCK = "door_lock"  # 玄関錠
    AUXILIARY_LOCK = "auxiliary_lock"  # 補助錠
    WINDOW_LOCK = "window_lock"  # 窓用補助錠
    SECURITY_GRAVEL = "security_gravel"  # 防犯砂利
    DUMMY_CAMERA = "dummy_camera"  # ダミーカメラ
    CALL_BLOCKING_PHONE = "call_blocking_phone"  # 自動通話録音機・迷惑電話防止機能付き電話
    SECURITY_BUZZER = "security_buzzer"  # 防犯ブザー（携帯用）
    OTHER = "other"  # その他（常に対象外）

    @property
    def label(self) -> str:
        """The Japanese name used on forms and notices."""
        return LABELS[self]


LABELS: dict[Item, str] = {
    Item.SECURITY_CAMERA: "防犯カメラ",
    Item.CAMERA_INTERCOM: "カメラ付きインターホン",
    Item.SENSOR_LIGHT: "センサーライト",
    Item.SENSOR_ALARM: "センサーアラーム",
    Item.GLASS_BREAK_SENSOR: "ガラス破壊センサー",
    Item.SECURITY_FILM: "防犯フィルム",
    Item.SECURITY_GLASS: "防犯ガラス",
    Item.WINDOW_GRILLE: "面格子",
    Item.DOOR_LOCK: "玄関錠",
    Item.AUXILIARY_LOCK: "補助錠",
    Item.WINDOW_LOCK: "窓用補助錠",
    Item.SECURITY_GRAVEL: "防犯砂利",
    Item.DUMMY_CAMERA: "ダミーカメラ",
    Item.CALL_BLOCKING_PHONE: "自動通話録音機",
    Item.SECURITY_BUZZER: "防犯ブザー",
    Item.OTHER: "その他",
}
