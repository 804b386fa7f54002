"""scorefleet dev stack: a real Kubernetes control plane, Kafka, Prometheus and a node agent as local processes."""
