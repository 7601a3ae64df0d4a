"""Violations planted on purpose in the synthetic traffic, and near-misses that must not fire.

``simulate(..., plant=True)`` (:mod:`ledger.simulate.run`) adds to the city's lawful traffic one
small scene per violation or near-miss of every implemented rule, published by the city's own
systems, about their own cameras, by staff on duty at the time. All of them happen once per run,
in the first stretch of a day shift (08:00-20:00 China time) of at least an hour inside the run,
in an order and at times drawn from the seed. :func:`ledger.simulate.planted` lists them as
:class:`Planted` records, so a demo can print what was planted next to what the rules
(:mod:`projections.rules`) find.

- :mod:`ledger.simulate.scenes.planter`: :class:`Planted`, :class:`Scene`, and the
  :class:`Planter` that picks each scene's people and cameras;
- :mod:`ledger.simulate.scenes.retention`: keeping footage (R1, R2, R3, R17);
- :mod:`ledger.simulate.scenes.access`: who sees footage (R4, R5, R6, R7, R12, R13);
- :mod:`ledger.simulate.scenes.operations`: how systems are run (R8, R9, R10, R11, R16);
- here, :func:`plant_scenes`, which makes every scene and gives it its times.

Each planted violation is one violation row the rules must write, with the same rule, camera,
actor and time; a near-miss names the event that must not make any row. The planted stream is
not lawful, of course: only the events the scenes list break the rules.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from datetime import date, datetime

from ledger.simulate.context import SimEvent, SystemContext, whole_second
from ledger.simulate.scenes import access, operations, retention
from ledger.simulate.scenes.planter import Built, Planted, Planter, Scene


def _every_scene(p: Planter) -> list[Scene]:
    """Every scene, in a fixed order: those deleting footage pick their cameras first.

    The order is part of the output: the scenes pick their cameras in it, and the seed shuffles it.
    """
    return [
        retention.short_policy(p), retention.young_deletion(p), retention.held_deletion(p),
        retention.formatted_disk(p), retention.expiry_after_retention(p), retention.ordered_deletion(p),
        retention.released_hold(p), retention.denied_deletion(p), operations.private_space(p),
        access.no_reason(p), access.no_legal_basis(p), access.exports(p), access.undesensitized(p),
        access.self_approval(p), retention.silent_gap(p), access.out_of_scope(p), retention.old_gap(p),
        operations.direction_change(p), operations.occlusion_under_work_order(p),
        operations.recording_stopped(p), operations.short_outage(p), operations.log_cleared(p),
        operations.withheld_export(p), operations.ntp_correction(p), access.off_duty_playback(p),
        access.bulk_playback(p), access.on_duty_check(p), retention.overkept(p),
        retention.kept_to_the_limit(p), operations.late_filing(p), operations.timely_filing(p),
    ]  # fmt: skip


def plant_scenes(
    ctxs: Sequence[SystemContext], *, seed: int, day: date, window: tuple[datetime, datetime], busy: set[str]
) -> Built:
    """The planted events of a run, in time order, and what they plant, in time order.

    ``day``: the China date of the day shift the scenes happen in; ``window``: the part of that
    shift inside the run (at least an hour); ``busy``: cameras with an outage around it, whose
    footage the scenes do not access.
    """
    scenes = _every_scene(Planter(ctxs, day=day, busy=busy))
    rng = random.Random(f"liuhen-plant|{seed}|{day}")  # noqa: S311 - a reproducible simulation
    rng.shuffle(scenes)
    low, high = window
    slot = (high - low) / len(scenes)
    events: list[SimEvent] = []
    planted: list[Planted] = []
    for n, scene in enumerate(scenes):
        t = low + slot * (n + rng.uniform(0.02, 0.2))
        times = [t]
        for _ in range(scene.steps - 1):
            t += slot * rng.uniform(0.1, 0.25)
            times.append(t)
        built, marks = scene.build([whole_second(t) for t in times])
        events += built
        planted += marks
    assert all(low <= e.occurred_at < high for e in events)
    assert all(a.occurred_at < b.occurred_at for a, b in itertools.pairwise(events))
    return events, planted


__all__ = ["Built", "Planted", "Planter", "Scene", "plant_scenes"]
