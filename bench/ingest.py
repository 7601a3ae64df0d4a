"""Ingest throughput against the real broker, next to the raw Ed25519 verify rate of this machine.

    .venv/bin/python bench/ingest.py [--events 100000] [--batch-size 1000]

Publishes N signed events through the SDK to a fresh single-partition topic, then times
``liuhen ingest`` (in-process) from the first batch to the last, and in the same run measures
how fast two threads verify the same signatures with nothing else to do. Prints both and the
ratio; ingest cannot beat the raw rate, so the ratio says how much of the budget the rest costs.
Also prints the CPU time ingest took per event, in its own process and in its verifying worker
processes (over the whole run, start-up included).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.app.assembly import build_ingestor
from ledger.app.config import Config
from ledger.app.keys import ensure_key
from ledger.app.sources import register_key
from ledger.sdk import Publisher
from ledger.wire.avro import SignedEvent

ACTOR = {
    "kind": "PERSON",
    "user_id": "u1",
    "name": "张伟",
    "unit": "metro",
    "role": "operator",
    "workstation": "ws-1",
    "ip": "10.0.0.1",
}


def fields(n: int) -> dict:
    start = datetime(2026, 5, 3, tzinfo=UTC) + timedelta(seconds=n)
    return {
        "access": {
            "camera_id": "43020200001310000001",
            "footage_start": start,
            "footage_end": start + timedelta(minutes=5),
            "reason": "patrol",
            "legal_basis": None,
            "case_number": None,
            "authorization_id": None,
            "application_id": None,
            "outcome": "ALLOWED",
        },
        "mode": "LIVE",
    }


def raw_verify_rate(wires: list[bytes], public: bytes, threads: int) -> float:
    key = Ed25519PublicKey.from_public_bytes(public)
    signed = [SignedEvent.decode(w) for w in wires]
    jobs = [(s.signature, s.signed_message) for s in signed]

    def verify(chunk: list[tuple[bytes, bytes]]) -> None:
        for signature, message in chunk:
            key.verify(signature, message)

    step = -(-len(jobs) // threads)
    chunks = [jobs[i : i + step] for i in range(0, len(jobs), step)]
    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(verify, chunks))
    return len(jobs) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as home:
        config = Config.from_env(
            {
                "LIUHEN_HOME": home,
                "LIUHEN_KAFKA_BOOTSTRAP": args.bootstrap,
                "LIUHEN_TOPIC": f"bench.{run}.audit",
                "LIUHEN_REJECTED_TOPIC": f"bench.{run}.rejected",
                "LIUHEN_GROUP": f"bench-{run}",
                "LIUHEN_PARTITIONS": "1",
                "LIUHEN_BATCH_SIZE": str(args.batch_size),
            }
        )
        ensure_key(config, "ledger")
        key, _ = ensure_key(config, "zz-metro")
        register_key(config, "zz-metro", key.public)
        wires = []
        began = time.perf_counter()
        with Publisher.connect(
            bootstrap=args.bootstrap,
            source_id="zz-metro",
            key=key,
            state_dir=config.state_dir,
            topic=config.ingest.topic,
        ) as pub:
            for n in range(args.events):
                wire, _ = pub.sign("FootageViewed", fields(n), actor=ACTOR)
                pub.producer.send(pub.topic, value=wire, key=b"zz-metro")
                wires.append(wire)
        publish_rate = args.events / (time.perf_counter() - began)
        raw = raw_verify_rate(wires, key.public.raw, 2)
        raw1 = raw_verify_rate(wires[: args.events // 4], key.public.raw, 1)
        before = os.times()
        ingestor = build_ingestor(config, batch_size=args.batch_size)
        stats = ingestor.run(idle_exit=3.0)
        after = os.times()  # the workers have exited: their CPU time counts as the children's
        rate = stats.rate
        busy = stats.last_batch_at - stats.first_batch_at
        own = (after.user + after.system - before.user - before.system) / args.events * 1e6
        workers = (
            (after.children_user + after.children_system - before.children_user - before.children_system)
            / args.events
            * 1e6
        )
    print(f"events                    {args.events}")
    print(f"SDK sign+publish          {publish_rate:>10,.0f} events/s")
    print(f"raw Ed25519 verify, 1 thr {raw1:>10,.0f} /s")
    print(f"raw Ed25519 verify, 2 thr {raw:>10,.0f} /s")
    print(
        f"ingest (batch {args.batch_size:>5})       {rate:>10,.0f} events/s  "
        f"({stats.appended} appended in {busy:.2f} s, first batch to last commit)"
    )
    print(f"ingest / raw 2-thread     {rate / raw:>10.2f}")
    print(f"CPU per event             {own:>10.1f} us ingest process, {workers:.1f} us verifying workers")


if __name__ == "__main__":
    main()
