"""scorefleet operator: reconciles DetectionPipelines into scorer fleets and scales them on Kafka lag (kopf)."""
