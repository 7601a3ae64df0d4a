"""One run of the simulation: :func:`simulate` yields its events, :func:`planted` what it plants.

A run covers ``days`` from ``start`` for every system of a :class:`~ledger.simulate.city.City`.
It merges, by time, the lawful traffic of :mod:`ledger.simulate.traffic` and, with
``plant=True``, the planted scenes of :mod:`ledger.simulate.scenes`, which all happen in the
run's first stretch of a day shift (08:00-20:00 China time) of at least an hour.

Everything is a pure function of the arguments: every activity draws from its own
``random.Random`` seeded by a string naming the seed, system, day and activity; no wall clock,
no global random state, no ``uuid4``. Events are produced lazily: one generator per shift
activity, merged by time, activated only when the merge reaches its start.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from ledger.simulate.city import City
from ledger.simulate.context import (
    ACTIVITY_DELAY,
    CHINA_TZ,
    REGISTRATION_SPAN,
    SimEvent,
    SystemContext,
    china_time,
    planned_outages,
)
from ledger.simulate.scenes import Planted, plant_scenes
from ledger.simulate.traffic import Segment, segments

EARLIEST_START = datetime(2025, 1, 1, tzinfo=UTC)
"""Simulations start no earlier: every camera has then recorded for longer than its retention."""

_DAY = timedelta(days=1)
_PLANT_SPAN = timedelta(hours=1)


def _merge(ordered: Iterator[Segment], end: datetime) -> Iterator[SimEvent]:
    """Merge the segments' events by time, starting each generator only when it is due."""
    heap: list[tuple[datetime, int, SimEvent, Iterator[SimEvent]]] = []
    tie = itertools.count()
    pending = next(ordered, None)
    while True:
        while pending is not None and (not heap or pending[0] <= heap[0][0]):
            lower, factory = pending
            stream = factory()
            first = next(stream, None)
            if first is not None:
                if first.occurred_at < lower:
                    raise RuntimeError(f"{first.event_type} at {first.occurred_at} precedes {lower}")
                heapq.heappush(heap, (first.occurred_at, next(tie), first, stream))
            pending = next(ordered, None)
        if not heap:
            return
        when, _, event, stream = heapq.heappop(heap)
        if when >= end:
            return
        yield event
        following = next(stream, None)
        if following is not None:
            if following.occurred_at < when:
                raise RuntimeError(f"{following.event_type} at {following.occurred_at} out of order")
            heapq.heappush(heap, (following.occurred_at, next(tie), following, stream))


def _bounds(start: datetime, days: float) -> tuple[datetime, datetime]:
    """The run's ``[start, end)`` in UTC, once the arguments are checked."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be a timezone-aware datetime")
    start = start.astimezone(UTC)
    if start < EARLIEST_START:
        raise ValueError(f"start must not be before {EARLIEST_START.isoformat()}")
    if not days >= 0:
        raise ValueError(f"days must not be negative, not {days}")
    return start, start + timedelta(days=days)


def _planting(
    ctxs: list[SystemContext], seed: int, start: datetime, end: datetime
) -> tuple[date, list[SimEvent], list[Planted]]:
    """The planted events of a run and what they plant, in its first hour or more of a day shift."""
    floor = start + REGISTRATION_SPAN + ACTIVITY_DELAY  # the first activity of the run
    day = start.astimezone(CHINA_TZ).date() - _DAY
    while china_time(day, 8) < end:
        window = (max(china_time(day, 8), floor), min(china_time(day, 20), end))
        if window[1] - window[0] >= _PLANT_SPAN:
            busy = {
                c for ctx in ctxs for c in planned_outages(ctx, day - timedelta(days=3), day, logged=False)
            }
            events, planted = plant_scenes(ctxs, seed=seed, day=day, window=window, busy=busy)
            return day, events, planted
        day += _DAY
    raise ValueError(
        "plant=True needs a run holding at least an hour of a day shift (08:00-20:00 China time) "
        "after its first 2.5 minutes"
    )


def simulate(
    city: City, *, seed: int, start: datetime, days: float = 1.0, plant: bool = False
) -> Iterator[SimEvent]:
    """Lazily yield ``days`` of the city's audit events from ``start``, in time order.

    ``start`` must be timezone-aware and no earlier than :data:`EARLIEST_START`. The same city,
    seed, start and days always give the same events; events fall in ``[start, start + days)``.
    ``plant``: also publish, in the run's first hour or more of a day shift, the violations and
    near-misses :func:`planted` lists (a ``ValueError`` if the run holds no such hour); the rest
    of the traffic is the same as without.
    """
    start, end = _bounds(start, days)
    ctxs = [SystemContext(city, system, seed, start) for system in city.systems]
    if not plant:
        return _merge(segments(ctxs, start, end), end)
    day, events, _ = _planting(ctxs, seed, start, end)
    return _merge(segments(ctxs, start, end, (day, events)), end)


def planted(city: City, *, seed: int, start: datetime, days: float = 1.0) -> list[Planted]:
    """What ``simulate(city, seed=seed, start=start, days=days, plant=True)`` plants, in time order.

    One :class:`Planted` per violation row the rules must write (rule, camera, actor and time of
    the row) and one per near-miss event that must write none.
    """
    start, end = _bounds(start, days)
    ctxs = [SystemContext(city, system, seed, start) for system in city.systems]
    return _planting(ctxs, seed, start, end)[2]
