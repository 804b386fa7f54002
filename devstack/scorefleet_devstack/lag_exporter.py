"""A consumer-lag exporter serving kafka_exporter's metric names, for the dev stack.

kafka_exporter (github.com/danielqsj/kafka_exporter) is what platform teams run next to Kafka, and
the operator's default PromQL reads its `kafka_consumergroup_lag`. The Go module proxy reachable
from our machines refuses that module, so the dev stack runs this stand-in, which reads the same
numbers through the Kafka admin API (confluent-kafka) on every scrape and exposes them under the
same names and labels, so queries written against it work unchanged against kafka_exporter:

- kafka_topic_partitions{topic}
- kafka_topic_partition_current_offset{topic,partition}   (log end offset, the high watermark)
- kafka_topic_partition_oldest_offset{topic,partition}    (log start offset)
- kafka_consumergroup_current_offset{consumergroup,topic,partition}   (committed offset)
- kafka_consumergroup_lag{consumergroup,topic,partition}  (end - committed, for committed partitions)
- kafka_consumergroup_members{consumergroup}

Like kafka_exporter, a partition the group has never committed has no lag series at all.
Internal topics (leading `__`) are skipped.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, make_server

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


class KafkaLagCollector(Collector):
    """Collects topic offsets and consumer-group lag from one Kafka cluster at scrape time.

    `request_timeout_seconds` bounds each admin call; a failed scrape yields
    `kafka_exporter_scrape_error 1` and no partial lag, so a reader sees "unknown", never zero."""

    def __init__(self, bootstrap_servers: str, *, request_timeout_seconds: float = 5.0) -> None:
        self.admin = AdminClient({"bootstrap.servers": bootstrap_servers})
        self.timeout = request_timeout_seconds

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One scrape: list topics and groups, fetch start/end/committed offsets, yield gauges."""
        error = GaugeMetricFamily("kafka_exporter_scrape_error", "1 when the last scrape of Kafka failed")
        try:
            families = self._scrape()
        except Exception as exc:
            log.warning("scrape failed: %s", exc)
            error.add_metric([], 1)
            yield error
            return
        error.add_metric([], 0)
        yield error
        yield from families

    def _scrape(self) -> list[GaugeMetricFamily]:
        partitions = GaugeMetricFamily("kafka_topic_partitions", "Number of partitions for this Topic",
                                       labels=["topic"])
        current = GaugeMetricFamily("kafka_topic_partition_current_offset",
                                    "Current Offset of a Broker at Topic/Partition", labels=["topic", "partition"])
        oldest = GaugeMetricFamily("kafka_topic_partition_oldest_offset",
                                   "Oldest Offset of a Broker at Topic/Partition", labels=["topic", "partition"])
        group_offset = GaugeMetricFamily("kafka_consumergroup_current_offset",
                                         "Current Offset of a ConsumerGroup at Topic/Partition",
                                         labels=["consumergroup", "topic", "partition"])
        group_lag = GaugeMetricFamily("kafka_consumergroup_lag",
                                      "Current Approximate Lag of a ConsumerGroup at Topic/Partition",
                                      labels=["consumergroup", "topic", "partition"])
        members = GaugeMetricFamily("kafka_consumergroup_members", "Amount of members in a consumer group",
                                    labels=["consumergroup"])
        metadata = self.admin.list_topics(timeout=self.timeout)
        tps = [TopicPartition(name, p) for name, topic in metadata.topics.items() if not name.startswith("__")
               for p in topic.partitions]
        for name, topic in metadata.topics.items():
            if not name.startswith("__"):
                partitions.add_metric([name], len(topic.partitions))
        end: dict[tuple[str, int], int] = {}
        if tps:
            for spec, family, into in ((OffsetSpec.latest(), current, end), (OffsetSpec.earliest(), oldest, None)):
                futures = self.admin.list_offsets({tp: spec for tp in tps}, request_timeout=self.timeout)
                for tp, future in futures.items():
                    offset = future.result().offset
                    family.add_metric([tp.topic, str(tp.partition)], offset)
                    if into is not None:
                        into[(tp.topic, tp.partition)] = offset
        groups = self.admin.list_consumer_groups(request_timeout=self.timeout).result(timeout=self.timeout)
        group_ids = [g.group_id for g in groups.valid]
        if group_ids:
            described = self.admin.describe_consumer_groups(group_ids, request_timeout=self.timeout)
            for group_id, future in described.items():
                members.add_metric([group_id], len(future.result().members))
            for group_id in group_ids:
                request = [ConsumerGroupTopicPartitions(group_id)]
                result = self.admin.list_consumer_group_offsets(request, request_timeout=self.timeout)
                for tp in result[group_id].result(timeout=self.timeout).topic_partitions:
                    if tp.offset < 0 or tp.topic.startswith("__"):
                        continue
                    labels = [group_id, tp.topic, str(tp.partition)]
                    group_offset.add_metric(labels, tp.offset)
                    high = end.get((tp.topic, tp.partition))
                    if high is not None:
                        group_lag.add_metric(labels, max(high - tp.offset, 0))
        return [partitions, current, oldest, group_offset, group_lag, members]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


def main(argv: list[str] | None = None) -> None:
    """`python -m scorefleet_devstack.lag_exporter --bootstrap-servers H:P --listen 127.0.0.1:9308`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--listen", default="127.0.0.1:9308")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    registry = CollectorRegistry()
    registry.register(KafkaLagCollector(args.bootstrap_servers))
    host, port = args.listen.rsplit(":", 1)
    server = make_server(host, int(port), make_wsgi_app(registry), handler_class=_QuietHandler)
    log.info("serving kafka lag metrics on http://%s/metrics at %s", args.listen, time.strftime("%H:%M:%S"))
    server.serve_forever()


if __name__ == "__main__":
    main()
