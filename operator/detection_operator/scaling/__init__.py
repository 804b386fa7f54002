"""Pure scaling core: lag arithmetic (``lag``), partition steps and the replica decision.

Layer: pure core — imports only the API models, never kopf, kubernetes, Kafka or HTTP clients.
"""

from detection_operator.scaling.decision import (
    LimitReason,
    Observation,
    Recommendation,
    ScaleDirection,
    ScaleReason,
    ScalingDecision,
    ScalingState,
    decide_replicas,
)
from detection_operator.scaling.lag import (
    LagReading,
    LagUnknown,
    OffsetResetPolicy,
    PartitionLag,
    PartitionOffsets,
    PrometheusSample,
    UnknownLagReason,
    first_known,
    lag_from_offsets,
    lag_from_prometheus,
    partition_lag_messages,
)

__all__ = [
    "LagReading",
    "LagUnknown",
    "LimitReason",
    "Observation",
    "OffsetResetPolicy",
    "PartitionLag",
    "PartitionOffsets",
    "PrometheusSample",
    "Recommendation",
    "ScaleDirection",
    "ScaleReason",
    "ScalingDecision",
    "ScalingState",
    "UnknownLagReason",
    "decide_replicas",
    "first_known",
    "lag_from_offsets",
    "lag_from_prometheus",
    "partition_lag_messages",
]
