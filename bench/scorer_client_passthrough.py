"""Pass-through throughput of the two Python Kafka clients, to choose the scorer's client by figures.

Pre-fills an input topic with N records of a realistic JSON event size, then for each client
consumes every record, produces it unchanged to an output topic, waits for the acks and commits
(the scorer's loop without decoding or scoring). Prints one JSON line per client and a final one.

    .venv/bin/python bench/scorer_client_passthrough.py --count 200000 --bootstrap 127.0.0.1:19092
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names])
    for future in futures.values():
        future.result(30)


def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(names).values():
        with contextlib.suppress(Exception):
            future.result(30)


def prefill(bootstrap: str, topic: str, count: int, size_bytes: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1_000_000, "acks": "all"})
    payload = os.urandom(size_bytes // 2).hex().encode()
    for i in range(count):
        while True:
            try:
                producer.produce(topic, payload, key=str(i).encode())
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(60)


def run_confluent(bootstrap: str, source: str, sink: str, count: int, batch: int) -> float:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-ck-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "batch.size": 1_000_000,
        }
    )
    consumer.subscribe([source])
    seen = 0
    start = None
    while seen < count:
        messages = consumer.consume(batch, 0.5)
        if not messages:
            continue
        if start is None:
            start = time.perf_counter()
        for message in messages:
            if message.error():
                continue
            while True:
                try:
                    producer.produce(sink, message.value(), key=message.key())
                    break
                except BufferError:
                    producer.poll(0.01)
            seen += 1
        producer.poll(0)
        producer.flush(30)
        consumer.commit(asynchronous=True)
    consumer.commit(asynchronous=False)
    elapsed = time.perf_counter() - (start or time.perf_counter())
    consumer.close()
    return seen / elapsed


async def run_aiokafka(bootstrap: str, source: str, sink: str, count: int, batch: int) -> float:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=f"bench-aio-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=5, max_batch_size=1_000_000
    )
    await consumer.start()
    await producer.start()
    seen = 0
    start = None
    try:
        while seen < count:
            batches = await consumer.getmany(timeout_ms=500, max_records=batch)
            if not batches:
                continue
            if start is None:
                start = time.perf_counter()
            futures = []
            for records in batches.values():
                for record in records:
                    futures.append(await producer.send(sink, record.value, key=record.key))
                    seen += 1
            await asyncio.gather(*futures)
            await consumer.commit()
        elapsed = time.perf_counter() - (start or time.perf_counter())
    finally:
        await consumer.stop()
        await producer.stop()
    return seen / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"))
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--size-bytes", type=int, default=900, help="record value size (a JSON event is ~0.9 KB)")
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()

    suffix = uuid.uuid4().hex[:8]
    source, sink_ck, sink_aio = f"bench-pt-in-{suffix}", f"bench-pt-ck-{suffix}", f"bench-pt-aio-{suffix}"
    create_topics(args.bootstrap, [source, sink_ck, sink_aio], args.partitions)
    try:
        prefill(args.bootstrap, source, args.count, args.size_bytes)
        ck = run_confluent(args.bootstrap, source, sink_ck, args.count, args.batch)
        print(json.dumps({"client": "confluent-kafka", "messages_per_second": round(ck)}), flush=True)
        aio = asyncio.run(run_aiokafka(args.bootstrap, source, sink_aio, args.count, args.batch))
        print(json.dumps({"client": "aiokafka", "messages_per_second": round(aio)}), flush=True)
        print(
            json.dumps(
                {
                    "count": args.count,
                    "value_bytes": args.size_bytes,
                    "confluent_kafka": round(ck),
                    "aiokafka": round(aio),
                    "ratio_confluent_over_aiokafka": round(ck / aio, 2),
                }
            )
        )
    finally:
        delete_topics(args.bootstrap, [source, sink_ck, sink_aio])


if __name__ == "__main__":
    main()
