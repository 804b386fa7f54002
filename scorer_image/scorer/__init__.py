"""scorefleet scorer: consume email events from Kafka, score them in batches, produce score records.

Layers, top to bottom (each imports only the ones below it):

- ``main``: command line (``run``, ``train``, ``generate``, ``schema``) and process wiring.
- ``service``: the Kafka loop (adapter): consume -> decode -> features -> model -> produce -> commit.
- ``http_server``, ``metrics``, ``logs``, ``kafka_config``, ``artifacts``: adapters and wiring.
- ``decode``, ``features``, ``verdicts``, ``offsets``, ``batching``, ``generator``: the pure core.
- ``events``, ``settings``: the models (input/output records, settings).
"""
