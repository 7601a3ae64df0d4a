"""What ingest reads from where: the settings of one ingest process (see :mod:`ledger.app.config`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IngestSettings:
    """What ingest reads from where (see :mod:`ledger.app.config` for the environment names)."""

    bootstrap: str
    topic: str = "liuhen.audit"
    rejected_topic: str = "liuhen.audit.rejected"
    group: str = "liuhen-ingest"
    deployment: str = "liuhen"
    max_event_bytes: int = 64 * 1024
    batch_size: int = 1000
    verify_processes: int = 2
    """How many worker processes check source signatures (:class:`ledger.ingest.workers.VerifyingWorkers`)."""
    recent_ids: int = 200_000
    connect_timeout_s: float = 60.0
    """How long ingest waits at start for a broker that does not answer yet (starting, restarting)."""
    session_timeout_ms: int | None = None
    """How long the group waits for a silent member before giving its partitions to others
    (None: the Kafka client's default, 45 s)."""

    def origin(self, partition: int) -> str:
        """The origin string naming one partition's log."""
        return f"{self.deployment}/{self.topic}/{partition}"
