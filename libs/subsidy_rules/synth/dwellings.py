"""The generator's dwellings: apartment rooms and detached houses in real towns.

Every dwelling has its own address (丁目, 番地, 号 and room): apartment buildings fill
up room by room, and detached houses are often built next to an earlier one, so the
data holds the hard negatives dedupe must not link (same building, next door).
"""

from __future__ import annotations

from collections.abc import Sequence

from subsidy_rules.synth.base import _GeneratorBase
from subsidy_rules.synth.state import _Building, _Dwelling
from subsidy_rules.synth.towns import _Town, _town_number
from subsidy_rules.synth.weights import _pick

_OPEN_BUILDINGS = 4_000  # apartment buildings new households may still move into
_RECENT_HOUSES = 2_000  # detached houses a new house may be built next to

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


class _Dwellings(_GeneratorBase):
    """Draws free addresses, apartment rooms and houses."""

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
