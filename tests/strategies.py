"""Hypothesis strategies shared by liuhen's tests.

:func:`avro_values` turns any Avro schema (raw JSON or as parsed by ``fastavro.parse_schema``)
into a strategy of Python values that fastavro writes with that schema and reads back *equal*:

* primitives: ``null``, ``boolean``, ``int`` and ``long`` over their full ranges, ``float``
  (values exactly representable in 32 bits), ``double``, ``bytes``, ``string``;
* named types: ``record`` (every field present, so the value read back equals the value
  written), ``enum``, ``fixed``; references by full name, including recursive ones;
* ``array``, ``map`` and unions (e.g. ``["null", X]``);
* logical types in the Python types fastavro reads them as: ``uuid`` -> :class:`uuid.UUID`,
  ``timestamp-micros`` / ``timestamp-millis`` -> aware UTC :class:`datetime.datetime` (millis
  truncated to whole milliseconds), ``local-timestamp-*`` -> naive datetimes, ``date`` ->
  :class:`datetime.date`, ``time-millis`` / ``time-micros`` -> :class:`datetime.time`,
  ``decimal`` -> :class:`decimal.Decimal` with the schema's scale. Unknown logical types fall back
  to their underlying type, as Avro requires.

:func:`event_records` draws ``(event type name, record)`` for any event type of a
:class:`ledger.wire.avro.SchemaRegistry`, so every test can exercise the whole event vocabulary.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import fastavro
from hypothesis import strategies as st

from ledger.wire.avro import FINGERPRINT_SIZE, SchemaRegistry, SignedEvent

UTC = dt.UTC

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1

_PRIMITIVE_NAMES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


def _text(max_size: int) -> st.SearchStrategy[str]:
    # Hypothesis excludes surrogates by default, so every string is valid UTF-8.
    return st.text(max_size=max_size)


def _primitive(name: str, *, max_size: int) -> st.SearchStrategy[Any]:
    strategies: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
        "null": st.none,
        "boolean": st.booleans,
        "int": lambda: st.integers(INT_MIN, INT_MAX),
        "long": lambda: st.integers(LONG_MIN, LONG_MAX),
        "float": lambda: st.floats(width=32, allow_nan=False),
        "double": lambda: st.floats(allow_nan=False),
        "bytes": lambda: st.binary(max_size=max_size),
        "string": lambda: _text(max_size),
    }
    return strategies[name]()


def _truncate_to_millis(value: dt.datetime) -> dt.datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _aware_datetimes() -> st.SearchStrategy[dt.datetime]:
    return st.datetimes(timezones=st.just(UTC))


def _decimals(schema: Mapping[str, Any]) -> st.SearchStrategy[Decimal]:
    precision = int(schema["precision"])
    scale = int(schema.get("scale", 0))
    digits = precision
    if schema["type"] == "fixed":
        # A fixed of n bytes holds signed integers below 2**(8n-1).
        digits = min(digits, math.floor(math.log10(2 ** (8 * int(schema["size"]) - 1) - 1)))
    bound = 10**digits - 1
    return st.integers(-bound, bound).map(lambda unscaled: Decimal(unscaled).scaleb(-scale))


def _logical(schema: Mapping[str, Any]) -> st.SearchStrategy[Any] | None:
    """The strategy for a logical type, or None to fall back to the underlying type."""
    logical = schema.get("logicalType")
    base = schema.get("type")
    if logical == "uuid" and base == "string":
        return st.uuids()
    if logical == "timestamp-micros" and base == "long":
        return _aware_datetimes()
    if logical == "timestamp-millis" and base == "long":
        return _aware_datetimes().map(_truncate_to_millis)
    if logical == "local-timestamp-micros" and base == "long":
        return st.datetimes()
    if logical == "local-timestamp-millis" and base == "long":
        return st.datetimes().map(_truncate_to_millis)
    if logical == "date" and base == "int":
        return st.dates()
    if logical == "time-micros" and base == "long":
        return st.times()
    if logical == "time-millis" and base == "int":
        return st.times().map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))
    if logical == "decimal" and base in {"bytes", "fixed"} and "precision" in schema:
        return _decimals(schema)
    return None


class _Builder:
    """Builds strategies for one schema, sharing one strategy per named type."""

    def __init__(self, named: Mapping[str, Any], *, max_size: int) -> None:
        self.named: dict[str, Any] = dict(named)
        self.cache: dict[str, st.SearchStrategy[Any]] = {}
        self.max_size = max_size

    def build(self, schema: Any) -> st.SearchStrategy[Any]:
        if isinstance(schema, list):
            return st.one_of([self.build(branch) for branch in schema])
        if isinstance(schema, str):
            if schema in _PRIMITIVE_NAMES:
                return _primitive(schema, max_size=self.max_size)
            return self.reference(schema)
        if not isinstance(schema, Mapping):
            raise TypeError(f"not an Avro schema: {schema!r}")
        logical = _logical(schema)
        if logical is not None:
            return logical
        kind = schema["type"]
        if kind in {"record", "error", "enum", "fixed"}:
            self.named[schema["name"]] = schema
            return self.reference(schema["name"])
        if kind == "array":
            return st.lists(self.build(schema["items"]), max_size=self._container_size())
        if kind == "map":
            return st.dictionaries(
                _text(self.max_size),
                self.build(schema["values"]),
                max_size=self._container_size(),
            )
        # {"type": "string"}, {"type": {...}}, {"type": [...]}: the type is nested one level.
        return self.build(kind)

    def _container_size(self) -> int:
        return max(1, self.max_size // 4)

    def reference(self, name: str) -> st.SearchStrategy[Any]:
        """One deferred strategy per named type, so recursive types terminate lazily."""
        if name not in self.cache:
            self.cache[name] = st.deferred(lambda: self._named_body(name))
        return self.cache[name]

    def _named_body(self, name: str) -> st.SearchStrategy[Any]:
        try:
            schema = self.named[name]
        except KeyError:
            raise KeyError(f"Avro schema refers to unknown named type {name!r}") from None
        kind = schema["type"]
        if kind == "enum":
            return st.sampled_from(schema["symbols"])
        if kind == "fixed":
            logical = _logical(schema)
            if logical is not None:
                return logical
            size = int(schema["size"])
            return st.binary(min_size=size, max_size=size)
        return st.fixed_dictionaries({field["name"]: self.build(field["type"]) for field in schema["fields"]})


def avro_values(schema: Any, *, max_size: int = 16) -> st.SearchStrategy[Any]:
    """Values valid for ``schema`` that fastavro round-trips to an equal value.

    ``schema`` may be raw JSON (dict, list or type name) or already parsed by fastavro.
    ``max_size`` bounds strings and bytes (arrays and maps get a quarter of it).
    """
    named: dict[str, Any] = {}
    if isinstance(schema, dict) and not schema.get("__fastavro_parsed"):
        schema = fastavro.parse_schema(schema)
    if isinstance(schema, dict):
        named.update(schema.get("__named_schemas", {}))
    return _Builder(named, max_size=max_size).build(schema)


_EVENT_STRATEGIES: dict[bytes, st.SearchStrategy[dict[str, Any]]] = {}


def event_record(registry: SchemaRegistry, name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Records of the current schema of event type ``name`` in ``registry``."""
    event_type = registry.event_type(name)
    # Keyed by fingerprint: the same schema always yields the same (cached) strategy.
    if event_type.fingerprint not in _EVENT_STRATEGIES:
        _EVENT_STRATEGIES[event_type.fingerprint] = avro_values(event_type.schema)
    return _EVENT_STRATEGIES[event_type.fingerprint]


def event_records(
    registry: SchemaRegistry | None = None,
) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """``(event type name, record)`` for any event type of ``registry`` (the repo's by default)."""
    registry = registry if registry is not None else SchemaRegistry.load()
    names = sorted(registry.types)
    return st.sampled_from(names).flatmap(lambda name: st.tuples(st.just(name), event_record(registry, name)))


def signed_events(*, max_size: int = 300) -> st.SearchStrategy[SignedEvent]:
    """Signed-event wrappers with a 32-byte fingerprint and arbitrary body and signature."""
    return st.builds(
        SignedEvent,
        schema=st.binary(min_size=FINGERPRINT_SIZE, max_size=FINGERPRINT_SIZE),
        body=st.binary(max_size=max_size),
        signature=st.binary(max_size=max_size),
    )
