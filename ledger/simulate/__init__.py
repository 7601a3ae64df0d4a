"""Deterministic synthetic audit traffic for a small city: 株洲 (Zhuzhou).

Three video systems publish to liuhen: the traffic police (交警支队), the metro operator
(株洲轨道交通) and the central hospital (市中心医院), with a few hundred GB/T 28181 cameras and a
few dozen named staff between them. :func:`build_city` makes the city; :func:`simulate` yields
what its systems would publish, as :class:`SimEvent` records the producer SDK turns into signed
events (it adds the envelope and the per-source sequence numbers). With ``plant=True`` a run also
holds, once, violations of every implemented rule and near-misses that must not fire;
:func:`planted` lists them as :class:`Planted` records. The same arguments always give the same
events.

The pieces, each importing only those above it:

- :mod:`~ledger.simulate.data`: static tables (districts, roads, stations, names, the systems'
  profiles);
- :mod:`~ledger.simulate.city`: the city, its systems, cameras and staff (:func:`build_city`);
- :mod:`~ledger.simulate.context`: what the traffic and the scenes share: :class:`SimEvent`, one
  system's part of a run (:class:`~ledger.simulate.context.SystemContext`), time helpers, the
  day's work orders;
- :mod:`~ledger.simulate.scenes`: the planted violations and near-misses;
- :mod:`~ledger.simulate.traffic`: the lawful daily traffic;
- :mod:`~ledger.simulate.run`: :func:`simulate` and :func:`planted`, merging the two.
"""

from ledger.simulate.city import Camera, City, Operator, SourceSystem, build_city
from ledger.simulate.context import CHINA_TZ, SimEvent
from ledger.simulate.data import DISTRICTS, PUBLIC_CATEGORIES
from ledger.simulate.run import EARLIEST_START, planted, simulate
from ledger.simulate.scenes import Planted

__all__ = [
    "CHINA_TZ",
    "DISTRICTS",
    "EARLIEST_START",
    "PUBLIC_CATEGORIES",
    "Camera",
    "City",
    "Operator",
    "Planted",
    "SimEvent",
    "SourceSystem",
    "build_city",
    "planted",
    "simulate",
]
