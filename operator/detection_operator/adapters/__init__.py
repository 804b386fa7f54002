"""Adapters: the only modules that talk to Kubernetes, Kafka or Prometheus."""
