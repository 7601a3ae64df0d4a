"""The synthetic Zhuzhou city that :mod:`ledger.simulate` generates audit traffic for.

Its three video systems (:class:`SourceSystem`), their GB/T 28181 cameras (:class:`Camera`) and
the people with accounts on them (:class:`Operator`), gathered in a :class:`City`.
:func:`build_city` makes one from the tables of :mod:`ledger.simulate.data`: camera sites by
road, metro station or hospital area, staff names, user ids, workstations, addresses and rota
teams. Like the traffic, the city is a pure function of the seed and scale: one
``random.Random`` seeded by a string naming the seed, drawn in a fixed order.
"""

# ruff: noqa: RUF001 - the Chinese text uses full-width punctuation on purpose
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from ledger.simulate.data import (
    DISTRICTS,
    GIVEN_NAMES,
    HOSPITAL,
    HOSPITAL_AREAS,
    MIN_STAFF,
    PROFILES,
    ROADS,
    ROOMS,
    STATION_SPOTS,
    STATIONS,
    SURNAMES,
    Profile,
)

TEAMS = {"operator": 4, "investigator": 2, "supervisor": 2, "maintenance": 2, "admin": 1}
"""Rota teams per role: operators work day / night / off / off, the others alternate days."""


@dataclass(frozen=True, slots=True)
class SourceSystem:
    """A registered video system (ZZ 7) and its cameras."""

    system_id: str
    name: str
    owner: str
    manager: str
    retention_days: int
    camera_ids: tuple[str, ...]
    filing_number: str | None = None
    went_live_on: date | None = None
    filed_on: date | None = None


@dataclass(frozen=True, slots=True)
class Camera:
    """A camera with its GB/T 28181 id and where it looks."""

    camera_id: str
    system_id: str
    name: str
    location: str
    location_category: str
    district: str
    went_live_on: date
    notice_sign: bool = True
    retention_days: int | None = None
    """Per-camera retention period overriding the system's, if any."""


@dataclass(frozen=True, slots=True)
class Operator:
    """A person with an account on one system (operator, investigator, supervisor, ...)."""

    user_id: str
    name: str
    unit: str
    role: str
    workstation: str
    ip: str
    system_id: str
    post: str
    team: int
    seat: int

    def actor(self) -> dict[str, Any]:
        """A fresh ``liuhen.Actor`` record for this person."""
        return {
            "kind": "PERSON",
            "user_id": self.user_id,
            "name": self.name,
            "unit": self.unit,
            "role": self.role,
            "workstation": self.workstation,
            "ip": self.ip,
        }


@dataclass(frozen=True, slots=True)
class City:
    """The simulated city: its systems, cameras and staff."""

    systems: tuple[SourceSystem, ...]
    cameras: tuple[Camera, ...] = ()
    operators: tuple[Operator, ...] = ()
    scale: float = 1.0

    def system(self, system_id: str) -> SourceSystem:
        """The system with this id; ``KeyError`` if there is none."""
        for system in self.systems:
            if system.system_id == system_id:
                return system
        raise KeyError(system_id)

    def cameras_of(self, system_id: str) -> tuple[Camera, ...]:
        """The cameras of one system, in registration order."""
        return tuple(c for c in self.cameras if c.system_id == system_id)

    def staff(self, system_id: str, role: str) -> tuple[Operator, ...]:
        """The people of one system with one role."""
        return tuple(o for o in self.operators if o.system_id == system_id and o.role == role)

    def retention_of(self, camera: Camera) -> int:
        """Retention period in days that applies to a camera's footage."""
        return camera.retention_days or self.system(camera.system_id).retention_days


def person_name(rng: random.Random) -> str:
    """A random Chinese full name: a surname and one or two given-name characters."""
    given = rng.choice(GIVEN_NAMES) + (rng.choice(GIVEN_NAMES) if rng.random() < 0.6 else "")
    return rng.choice(SURNAMES) + given


def _sites(p: Profile, rng: random.Random, count: int) -> list[tuple[str, str, str, str, int | None]]:
    """``(district, name, location, category, retention override)`` of each camera."""
    sites: list[tuple[str, str, str, str, int | None]] = []
    seen: dict[str, int] = {}
    for i in range(count):
        if p.kind == "road":
            district = tuple(DISTRICTS)[i % len(DISTRICTS)]
            a, b = rng.sample(ROADS[district], 2)
            kind = rng.choice(("卡口", "电子警察", "高点全景"))
            name = f"{a}与{b}路口{rng.choice('东南西北')}向{kind}"
            site: tuple[str, str, str, str, int | None] = (
                district,
                name,
                f"株洲市{DISTRICTS[district]}{a}与{b}交叉口",
                "PUBLIC_ROAD",
                None,
            )
        elif p.kind == "metro":
            station, district = STATIONS[i % len(STATIONS)]
            spot = STATION_SPOTS[(i // len(STATIONS)) % len(STATION_SPOTS)]
            name = f"{station}{spot}" if station.endswith("站") else f"{station}站{spot}"
            site = (district, name, f"株洲轨道交通{name}", "TRANSPORT_HUB", None)
        else:
            spots = [(a, s, c, r) for a, ss, c, r in HOSPITAL_AREAS for s in ss.split()]
            area, spot, category, override = spots[i % len(spots)]
            name = f"{area}{spot}"
            site = ("430211", name, f"{HOSPITAL}(天元区长江南路){name}", category, override)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            site = (site[0], f"{name}{seen[name]}号", *site[2:])
        sites.append(site)
    return sites


def build_city(*, seed: int, scale: float = 1.0) -> City:
    """Zhuzhou's three video systems, with cameras and staff multiplied by ``scale``."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, not {scale}")
    rng = random.Random(f"liuhen-city|{seed}")  # noqa: S311 - a reproducible simulation
    systems: list[SourceSystem] = []
    cameras: list[Camera] = []
    staff: list[Operator] = []
    names: set[str] = set()
    user_ids: set[str] = set()
    for p in PROFILES:
        people: list[Operator] = []
        host = 10
        for role, count, unit, post in p.staff:
            for seat in range(max(MIN_STAFF[role], round(count * scale))):
                name = person_name(rng)
                while name in names:
                    name = person_name(rng)
                names.add(name)
                host += 1
                user_id = ""
                while not user_id or user_id in user_ids:
                    user_id = f"{p.code.lower()}{rng.randrange(10**5):05d}{host % 10}"
                user_ids.add(user_id)
                workstation = f"{p.code}-{ROOMS.get(role, 'XXK')}-{seat // TEAMS[role] + 1:02d}"
                ip = f"10.43.{p.subnet + host // 250}.{host % 250 + 1}"
                team = seat % TEAMS[role]
                people.append(
                    Operator(user_id, name, unit, role, workstation, ip, p.system_id, post, team, seat)
                )
        staff += people
        ids: list[str] = []
        count = max(4, round(p.camera_count * scale))
        for serial, site in enumerate(_sites(p, rng, count), 1):
            district, name, location, category, override = site
            type_code = rng.choice(("131", "132"))  # camera, network camera
            ids.append(f"{district}{p.unit_code}{p.industry}{type_code}{p.network}{serial:06d}")
            went_live = p.went_live_on + timedelta(days=rng.randrange(0, 1600))
            cameras.append(
                Camera(
                    camera_id=ids[-1],
                    system_id=p.system_id,
                    name=name,
                    location=location,
                    location_category=category,
                    district=district,
                    went_live_on=min(date(2024, 6, 30), went_live),
                    retention_days=override,
                )
            )
        systems.append(
            SourceSystem(
                system_id=p.system_id,
                name=p.name,
                owner=p.owner,
                manager=next(o.name for o in people if o.role == "admin"),
                retention_days=p.retention_days,
                camera_ids=tuple(ids),
                filing_number=f"株公视备〔{p.went_live_on.year}〕{rng.randrange(1, 200):04d}号",
                went_live_on=p.went_live_on,
                filed_on=p.went_live_on + timedelta(days=rng.randrange(5, 25)),
            )
        )
    return City(tuple(systems), tuple(cameras), tuple(staff), scale)


__all__ = ["TEAMS", "Camera", "City", "Operator", "SourceSystem", "build_city", "person_name"]
