"""Name pools for synthetic applicants: common surnames and given names with kana.

Every name carries the spellings applicants and banks use for it: kanji and its
異体字 variant, katakana, hiragana, half-width katakana, Zengin transfer kana (small
kana made large, as 全銀協 holder names are written) and romaji for e-mail addresses.
Names are random combinations, never real people.
"""

from __future__ import annotations

from dataclasses import dataclass

import jaconv

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

_ZENGIN_LARGE = str.maketrans("ァィゥェォャュョッヮヵヶ", "アイウエオヤユヨツワカケ")


@dataclass(frozen=True, slots=True)
class _Name:
    kanji: str
    variant: str  # 異体字 spelling, or the same as kanji
    kata: str
    hira: str
    half: str
    zengin: str
    roma: str


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
