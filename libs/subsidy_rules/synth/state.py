"""The synthetic world's state: buildings, dwellings, people, households, accounts.

Plain slotted classes (one per person, household and dwelling) that the generator
mutates as it goes; `_Past` keeps a clean original as a source for planted
duplicates.
"""

from __future__ import annotations

from typing import Any

from subsidy_rules.synth.towns import _Town


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
