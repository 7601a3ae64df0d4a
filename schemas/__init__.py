"""liuhen's Avro schemas: one named type per ``<full name>.avsc`` file.

Event types are the records carrying a ``liuhen.family`` attribute; every other file is a shared
named type (the envelope, the actor, enums). Superseded versions of an event type live in
``history/`` as self-contained schemas, so events written with them stay readable forever (see
:class:`ledger.wire.avro.SchemaRegistry`).
"""

from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent
HISTORY_DIR = SCHEMA_DIR / "history"
