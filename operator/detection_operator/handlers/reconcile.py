"""The reconcile loop: DetectionPipeline (+ its children's events) -> applied children + status.

Layer: handlers (top). kopf delivers watch events (`on.event`, including the initial listing at
start-up, which catches up with everything missed while the operator was down); the handlers
here only update a cache of what was seen and enqueue the owning pipeline's key. A resync loop
enqueues every known pipeline each resync interval (paused while another replica leads). Workers
take keys from a de-duplicating `WorkQueue` (never two reconciles of one pipeline at once) and run
`Controller.reconcile`:

  spec -> model (pure validation) -> render children (pure) -> server-side apply what differs
  (drift included) -> compute status from Deployment + pods (pure) -> apply status if changed
  -> one Event per change.

No finalizer is used: children carry a controller ownerReference, so garbage collection deletes
them with the pipeline, and deleting a pipeline never waits for this operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import kopf
from pydantic import ValidationError

from detection_operator.adapters.kube import (
    AUTOSCALER_FIELD_MANAGER,
    CONFIG_MAP,
    DEPLOYMENT,
    PIPELINE,
    POD,
    POD_DISRUPTION_BUDGET,
    SERVICE,
    SERVICE_ACCOUNT,
    EventType,
    Kind,
    KubeAdapter,
    KubeApiError,
    replicas_owned_by,
)
from detection_operator.api.conditions import Condition, ConditionStatus, ConditionType, Reason, parse_conditions
from detection_operator.api.pipeline import GROUP, PLURAL, VERSION, DetectionPipelineSpec, ModelStatus, PipelinePhase
from detection_operator.drift import satisfies
from detection_operator.metrics import ChildAction, OperatorMetrics, ReconcileResult, ResyncOutcome
from detection_operator.render import (
    LABEL_PIPELINE,
    MANAGED_BY,
    Manifest,
    PipelineRef,
    RenderDefaults,
    child_name,
    keep_allocated_cluster_ip,
    render,
    with_applied_digest,
    with_initial_replicas,
)
from detection_operator.settings import OperatorSettings, namespace_selected
from detection_operator.status import (
    Observation,
    ReconcileStatus,
    compute_status,
    observe_deployment,
    observe_pod,
    transitions,
)
from detection_operator.workqueue import WorkQueue

logger = logging.getLogger(__name__)

CHILD_LABELS = {"app.kubernetes.io/managed-by": MANAGED_BY}
CHILD_KINDS = (SERVICE_ACCOUNT, CONFIG_MAP, SERVICE, POD_DISRUPTION_BUDGET, DEPLOYMENT)
CLUSTER_PEERING = Kind("kopf.dev/v1", "ClusterKopfPeering", "clusterkopfpeerings")
NAMESPACED_PEERING = Kind("kopf.dev/v1", "KopfPeering", "kopfpeerings")
_OWN_CONDITION_TYPES = frozenset({ConditionType.READY.value, ConditionType.PROGRESSING.value,
                                  ConditionType.DEGRADED.value})


class PipelineKey(NamedTuple):
    """namespace/name of a DetectionPipeline."""

    namespace: str
    name: str


ObjectKey = tuple[str, str, str, str]  # (apiVersion, kind, namespace, name)


def _object_key(obj: Manifest) -> ObjectKey:
    meta = obj["metadata"]
    return (obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("namespace", ""), meta["name"])


def _changed(before: Manifest, after: Manifest) -> bool:
    """Did an apply change `before`? Spec changes bump `generation`; kinds without one bump resourceVersion."""
    b, a = before.get("metadata") or {}, after.get("metadata") or {}
    if "generation" in b and "generation" in a:
        return bool(b["generation"] != a["generation"] or b.get("labels") != a.get("labels"))
    return bool(b.get("resourceVersion") != a.get("resourceVersion"))


@dataclass
class ObjectCache:
    """What the watches (and our own writes) last showed: pipelines, children and scorer pods."""

    pipelines: dict[PipelineKey, Manifest] = field(default_factory=dict)
    children: dict[ObjectKey, Manifest] = field(default_factory=dict)
    pods: dict[PipelineKey, dict[str, Manifest]] = field(default_factory=dict)
    #: True once children and pods were listed at start-up: a cache miss then means "absent".
    primed: bool = False

    def put_child(self, obj: Manifest) -> None:
        """Remember the observed state of one child object (from a watch event or an apply)."""
        self.children[_object_key(obj)] = obj

    def put_pod(self, pod: Manifest) -> None:
        """Remember a scorer pod under its pipeline (label scorefleet.io/pipeline); others are ignored."""
        meta = pod["metadata"]
        pipeline = (meta.get("labels") or {}).get(LABEL_PIPELINE)
        if pipeline:
            self.pods.setdefault(PipelineKey(meta["namespace"], pipeline), {})[meta["name"]] = pod

    def forget_pipeline(self, key: PipelineKey) -> None:
        """Drop a deleted pipeline with its pods and children from the cache."""
        self.pipelines.pop(key, None)
        self.pods.pop(key, None)
        for child in [k for k in self.children if k[2] == key.namespace and k[3] == child_name(key.name)]:
            self.children.pop(child, None)


def _now() -> datetime:
    # metav1.Time has second precision; keeping it avoids spurious diffs on re-read.
    return datetime.now(UTC).replace(microsecond=0)


class Controller:
    """State of one running operator: settings, adapter, metrics, work queue and cache."""

    def __init__(
        self,
        settings: OperatorSettings,
        *,
        kube: KubeAdapter,
        metrics: OperatorMetrics,
        peering_priority: int = 0,
    ) -> None:
        self.settings = settings
        self.peering_priority = peering_priority
        self.kube = kube
        self.metrics = metrics
        self.cache = ObjectCache()
        self.queue: WorkQueue[PipelineKey] = WorkQueue(
            retry_initial_seconds=settings.reconcile.retry_initial_seconds,
            retry_max_seconds=settings.reconcile.retry_max_seconds,
        )
        self.defaults = RenderDefaults(
            scorer_image=settings.scorer.image, scorer_log_format=settings.scorer.log_format.value
        )
        self._workers: list[asyncio.Task[None]] = []

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the reconcile workers and the resync loop (idempotent)."""
        if not self._workers:
            self._workers = [
                asyncio.create_task(self._worker(), name=f"reconcile-worker-{i}")
                for i in range(self.settings.reconcile.workers)
            ]
            self._workers.append(asyncio.create_task(self._resync_loop(), name="resync"))

    async def _resync_loop(self) -> None:
        """Every resync interval, enqueue every known pipeline, unless another replica leads."""
        while True:
            await asyncio.sleep(self.settings.watch.resync_interval_seconds)
            try:
                leading = await self._leading()
            except Exception as exc:  # never let the resync loop die: it is the safety net
                logger.warning("resync skipped, peering state unknown: %s", exc)
                continue
            if not leading:
                self.metrics.resyncs.labels(outcome=ResyncOutcome.SKIPPED.value).inc()
                continue
            for key in list(self.cache.pipelines):
                self.queue.add(key)
            self.metrics.resyncs.labels(outcome=ResyncOutcome.DONE.value).inc()
            self.metrics.queue_depth.set(len(self.queue))

    async def _leading(self) -> bool:
        """False when kopf peering has paused this replica (a live peer with a higher priority).

        kopf pauses its watches then, but this loop is ours: it must pause too. Standalone, or with
        no peering object, this replica leads.
        """
        peering = self.settings.peering
        if peering.standalone:
            return True
        if self.settings.clusterwide:
            peers = [await self.kube.get_cluster(CLUSTER_PEERING, peering.name)]
        else:
            namespaces = {key.namespace for key in self.cache.pipelines}
            peers = [await self.kube.get(NAMESPACED_PEERING, ns, peering.name) for ns in sorted(namespaces)[:1]]
        now = datetime.now(UTC)
        return not any(
            higher_priority_peer_alive((peer or {}).get("status") or {}, priority=self.peering_priority, now=now)
            for peer in peers
        )

    async def prime(self) -> None:
        """List the existing children and scorer pods once, so cold-start reconciles need no GETs.

        After this a cache miss means the child does not exist. On failure the cache stays
        unprimed and reconciles read what they miss.
        """
        selector = ",".join(f"{k}={v}" for k, v in CHILD_LABELS.items())
        exact = self.settings.exact_namespaces
        scopes: list[str | None] = list(exact) if exact else [None]
        patterns = self.settings.namespaces

        def selected(obj: Manifest) -> bool:
            return namespace_selected(obj["metadata"]["namespace"], patterns)

        try:
            for scope in scopes:
                for kind in CHILD_KINDS:
                    for obj in filter(selected, await self.kube.list(kind, scope, label_selector=selector)):
                        self.cache.put_child(obj)
                for pod in filter(selected, await self.kube.list(POD, scope, label_selector=selector)):
                    self.cache.put_pod(pod)
        except KubeApiError as exc:
            logger.warning("could not list existing children, reading them one by one instead: %s", exc)
            return
        self.cache.primed = True
        logger.info("cache primed: %d children, %d pipelines with pods", len(self.cache.children),
                    len(self.cache.pods))

    async def stop(self) -> None:
        """Cancel the workers and pending retries."""
        self.queue.close()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            self.metrics.queue_depth.set(len(self.queue))
            started = time.perf_counter()
            try:
                result = await self.reconcile(key)
            except Exception as exc:
                result = ReconcileResult.ERROR
                delay = self.queue.retry(key)
                logger.warning("reconcile of %s/%s failed, retrying in %.1fs: %s", key.namespace, key.name, delay, exc)
            else:
                self.queue.forget(key)
            finally:
                self.queue.done(key)
            self.metrics.reconciles.labels(result=result.value).inc()
            self.metrics.reconcile_duration.observe(time.perf_counter() - started)

    # ---- watch events --------------------------------------------------------------------------
    def on_pipeline_event(self, event_type: str | None, body: Manifest) -> None:
        """A DetectionPipeline was listed, added, modified or deleted."""
        meta = body["metadata"]
        key = PipelineKey(meta["namespace"], meta["name"])
        self.metrics.watch_events.labels(kind=body.get("kind", ""), type=event_type or "LISTED").inc()
        if event_type == "DELETED":
            self.cache.forget_pipeline(key)
            self.metrics.pipelines.set(len(self.cache.pipelines))
            for condition_type in _OWN_CONDITION_TYPES:
                with contextlib.suppress(KeyError):
                    self.metrics.pipeline_condition.remove(key.namespace, key.name, condition_type)
            return
        previous = self.cache.pipelines.get(key)
        self.cache.pipelines[key] = body
        self.metrics.pipelines.set(len(self.cache.pipelines))
        reconciled = (body.get("status") or {}).get("observedGeneration") == meta.get("generation")
        if event_type == "MODIFIED" and reconciled and previous is not None:
            return  # a status-only write (ours or the autoscaler's): nothing to reconcile
        self.queue.add(key)
        self.metrics.queue_depth.set(len(self.queue))

    def on_child_event(self, event_type: str | None, body: Manifest) -> None:
        """A child (or scorer pod) of some pipeline changed: refresh the cache, enqueue the owner."""
        meta = body["metadata"]
        self.metrics.watch_events.labels(kind=body.get("kind", ""), type=event_type or "LISTED").inc()
        pipeline = (meta.get("labels") or {}).get(LABEL_PIPELINE)
        if not pipeline:
            return
        key = PipelineKey(meta["namespace"], pipeline)
        if body.get("kind") == "Pod":
            if event_type == "DELETED":
                self.cache.pods.get(key, {}).pop(meta["name"], None)
            else:
                self.cache.put_pod(body)
        else:
            object_key = _object_key(body)
            if event_type == "DELETED":
                self.cache.children.pop(object_key, None)
            else:
                cached = self.cache.children.get(object_key)
                if cached is not None and cached["metadata"].get("resourceVersion") == meta.get("resourceVersion"):
                    return  # our own write, already seen
                self.cache.children[object_key] = body
        if key in self.cache.pipelines:
            self.queue.add(key)
            self.metrics.queue_depth.set(len(self.queue))

    # ---- reconcile -------------------------------------------------------------------------------
    async def reconcile(self, key: PipelineKey) -> ReconcileResult:
        """Bring one pipeline's children and status in line with its spec. Raises on infrastructure errors."""
        body = self.cache.pipelines.get(key) or await self.kube.get(PIPELINE, key.namespace, key.name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return ReconcileResult.SUCCESS  # going away: garbage collection removes the children
        meta = body["metadata"]
        generation = int(meta.get("generation", 1))
        status = body.get("status") or {}
        previous_conditions = tuple(
            c for c in parse_conditions(status.get("conditions") or []) if c.type in _OWN_CONDITION_TYPES
        )
        try:
            previous_model = ModelStatus.model_validate(status["model"]) if status.get("model") else None
        except ValidationError:
            previous_model = None
        try:
            spec = DetectionPipelineSpec.model_validate(body.get("spec") or {})
        except ValidationError as exc:
            await self._refuse(body, generation, previous_conditions, previous_model, _validation_message(exc))
            return ReconcileResult.INVALID

        ref = PipelineRef(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])
        children = render(ref, spec, defaults=self.defaults)
        drift_repair = status.get("observedGeneration") == generation
        try:
            # Everything the Deployment refers to first (concurrently), then the Deployment.
            *supporting, _ = children.in_apply_order()
            outcomes = list(await asyncio.gather(*(self._apply_child(m) for m in supporting)))
            deployment, action = await self._apply_deployment(
                children.deployment, initial_replicas=spec.scaling.min_replicas
            )
            outcomes.append((deployment, action))
        except KubeApiError as exc:
            if not exc.is_user_error:
                await self._write_failure(body, generation, previous_conditions, previous_model, str(exc))
                raise
            await self._refuse(body, generation, previous_conditions, previous_model, exc.message)
            return ReconcileResult.INVALID

        changes = [(m, a) for m, (_, a) in zip(children.in_apply_order(), outcomes, strict=True) if a is not None]
        for manifest, change in changes:
            self.metrics.child_changes.labels(kind=manifest["kind"], action=change.value).inc()
        await self._report_changes(body, changes, drift_repair=drift_repair)

        pods = tuple(observe_pod(p) for p in self.cache.pods.get(key, {}).values())
        observation = Observation(
            generation=generation,
            deployment=observe_deployment(deployment),
            pods=pods,
            previous_model=previous_model,
            previous_conditions=previous_conditions,
        )
        new_status = compute_status(observation, now=_now())
        await self._write_status(body, new_status, previous_conditions, previous_model)
        return ReconcileResult.SUCCESS

    async def _apply_child(self, manifest: Manifest) -> tuple[Manifest, ChildAction | None]:
        """Apply `manifest` unless the live object already holds exactly what we last applied.

        Returns the live object and what the apply did (None: nothing changed, or the object was
        not cached, so a change cannot be told from a refresh).
        """
        key = _object_key(manifest)
        before = self.cache.children.get(key)
        manifest = keep_allocated_cluster_ip(manifest, before)
        stamped = with_applied_digest(manifest)
        if before is not None and satisfies(stamped, before):
            return before, None
        try:
            after, created = await self.kube.apply_with_outcome(stamped)
        except KubeApiError as exc:
            if not (exc.is_immutable_field and manifest["kind"] == "Service"):
                raise
            # A Service made by an older operator has a cluster IP (immutable): keep it.
            meta = manifest["metadata"]
            before = await self.kube.get(SERVICE, meta["namespace"], meta["name"])
            stamped = with_applied_digest(keep_allocated_cluster_ip(manifest, before))
            after, created = await self.kube.apply_with_outcome(stamped)
        self.cache.children[key] = after
        if created:
            return after, ChildAction.CREATED
        return after, (ChildAction.UPDATED if before is not None and _changed(before, after) else None)

    async def _report_changes(
        self, body: Manifest, changes: list[tuple[Manifest, ChildAction]], *, drift_repair: bool
    ) -> None:
        """One Event per kind of change in this reconcile, naming the children."""
        for action in (ChildAction.CREATED, ChildAction.UPDATED):
            kinds = [m["kind"] for m, a in changes if a is action]
            if not kinds:
                continue
            name = changes[0][0]["metadata"]["name"]
            what = f"{', '.join(kinds)} {name}"
            if drift_repair:  # the spec did not change since the last reconcile: someone else did
                done = "Recreated" if action is ChildAction.CREATED else "Restored"
                await self._event(body, EventType.NORMAL, "DriftRepaired",
                                  f"{done} {what} (changed outside the operator)")
            else:
                verb = "Created" if action is ChildAction.CREATED else "Updated"
                await self._event(body, EventType.NORMAL, verb, f"{verb} {what}")

    async def _apply_deployment(
        self, manifest: Manifest, *, initial_replicas: int
    ) -> tuple[Manifest, ChildAction | None]:
        """Apply the scorer Deployment, leaving `spec.replicas` to the autoscaler's field manager.

        At creation the replicas are minReplicas (0 starts no pods) and are handed to
        `scorefleet-autoscaler` at once; a Deployment whose replicas that manager does not own
        (created by an older operator, or edited away) is handed over before our apply, which
        would otherwise drop the field back to the default of 1.
        """
        key = _object_key(manifest)
        meta = manifest["metadata"]
        before = self.cache.children.get(key)
        if before is None and not self.cache.primed:
            before = await self.kube.get(DEPLOYMENT, meta["namespace"], meta["name"])
        if before is None:
            # The digest is of the manifest without replicas: the next reconcile finds it unchanged.
            stamped = with_applied_digest(manifest)
            await self.kube.apply(with_initial_replicas(stamped, initial_replicas))
            after = await self.kube.apply_replicas(meta["namespace"], meta["name"], initial_replicas)
            # Our next apply omits replicas: ownership passes to the autoscaler alone.
            self.cache.children[key] = after
            return after, ChildAction.CREATED
        self.cache.children[key] = before
        if not replicas_owned_by(before, AUTOSCALER_FIELD_MANAGER):
            current = int((before.get("spec") or {}).get("replicas", initial_replicas))
            self.cache.children[key] = await self.kube.apply_replicas(meta["namespace"], meta["name"], current)
        return await self._apply_child(manifest)

    async def _write_status(
        self,
        body: Manifest,
        new: ReconcileStatus,
        previous_conditions: tuple[Condition, ...],
        previous_model: ModelStatus | None,
    ) -> None:
        meta = body["metadata"]
        for condition in new.conditions:
            self.metrics.pipeline_condition.labels(meta["namespace"], meta["name"], str(condition.type)).set(
                1 if condition.status is ConditionStatus.TRUE else 0
            )
        desired = new.to_status()
        current = body.get("status") or {}
        current_subset = {k: current.get(k) for k in desired if k != "conditions"}
        current_subset["conditions"] = [
            c.model_dump(mode="json", exclude_none=True)
            for c in parse_conditions(current.get("conditions") or [])
            if c.type in _OWN_CONDITION_TYPES
        ]
        if current_subset == desired:
            return
        updated = await self.kube.apply_pipeline_status(meta["namespace"], meta["name"], status=desired)
        self.cache.pipelines[PipelineKey(meta["namespace"], meta["name"])] = updated
        for condition, old in transitions(previous_conditions, new.conditions):
            if old is None and condition.status is not ConditionStatus.TRUE:
                continue  # initial False/Unknown conditions are not news
            if condition.type == ConditionType.PROGRESSING and not (
                old is not None and old.status is not ConditionStatus.TRUE and condition.status is ConditionStatus.TRUE
            ):
                continue  # only the start of a rollout is news; its end is the ModelServing Event
            bad = (condition.type == ConditionType.DEGRADED and condition.status is ConditionStatus.TRUE) or (
                condition.type == ConditionType.READY and condition.status is ConditionStatus.FALSE
            )
            await self._event(
                body,
                EventType.WARNING if bad else EventType.NORMAL,
                condition.reason,
                f"{condition.type}={condition.status.value}: {condition.message}".rstrip(": "),
            )
        if new.model is not None and previous_model is not None and new.model != previous_model:
            await self._event(
                body, EventType.NORMAL, "ModelServing", f"serving model {new.model.name} version {new.model.version}"
            )

    async def _refuse(
        self,
        body: Manifest,
        generation: int,
        previous_conditions: tuple[Condition, ...],
        previous_model: ModelStatus | None,
        message: str,
    ) -> None:
        """A spec that passed the schema but cannot be used: Degraded/InvalidSpec, no retry until it changes."""
        deployment = self.cache.children.get(
            ("apps/v1", "Deployment", body["metadata"]["namespace"], child_name(body["metadata"]["name"]))
        )
        observation = Observation(
            generation=generation,
            deployment=observe_deployment(deployment) if deployment else None,
            previous_model=previous_model,
            previous_conditions=previous_conditions,
            reconcile_error=message,
        )
        computed = compute_status(observation, now=_now())
        conditions = tuple(
            c.model_copy(update={"reason": Reason.INVALID_SPEC.value}) if c.type == ConditionType.DEGRADED else c
            for c in computed.conditions
        )
        status = ReconcileStatus(
            observed_generation=generation,
            phase=PipelinePhase.DEGRADED,
            replicas=computed.replicas,
            ready_replicas=computed.ready_replicas,
            model=computed.model,
            conditions=conditions,
        )
        await self._write_status(body, status, previous_conditions, previous_model)

    async def _write_failure(
        self,
        body: Manifest,
        generation: int,
        previous_conditions: tuple[Condition, ...],
        previous_model: ModelStatus | None,
        message: str,
    ) -> None:
        """Best effort: say in status that the last reconcile failed (the apiserver may be down)."""
        observation = Observation(
            generation=generation,
            deployment=None,
            previous_model=previous_model,
            previous_conditions=previous_conditions,
            reconcile_error=message,
        )
        computed = compute_status(observation, now=_now())
        # The failed reconcile did not bring this generation about: keep the last observedGeneration.
        observed = (body.get("status") or {}).get("observedGeneration")
        failed = ReconcileStatus(
            observed_generation=observed if isinstance(observed, int) else None,
            phase=computed.phase,
            replicas=int((body.get("status") or {}).get("replicas") or 0),
            ready_replicas=int((body.get("status") or {}).get("readyReplicas") or 0),
            model=previous_model,
            conditions=computed.conditions,
        )
        try:
            await self._write_status(body, failed, previous_conditions, previous_model)
        except KubeApiError as exc:
            logger.debug("could not record the failure in status: %s", exc)

    async def _event(self, body: Manifest, type_: EventType, reason: str, message: str) -> None:
        try:
            await self.kube.post_event(body, type_=type_, reason=reason, message=message)
        except KubeApiError as exc:  # an Event is informative; never fail a reconcile over it
            logger.warning("could not post event %s on %s: %s", reason, body["metadata"]["name"], exc)


def higher_priority_peer_alive(peers: dict[str, Any], *, priority: int, now: datetime) -> bool:
    """True when a (Cluster)KopfPeering status lists a live peer with a priority >= `priority`
    other than ourselves (kopf pauses on equal priorities too). Pure.

    `peers` maps peer id -> {priority, lastseen (ISO 8601), lifetime (seconds)}, as kopf writes it;
    a peer is alive until lastseen + lifetime. Our own entry has our priority; with equal
    priorities kopf pauses everyone, so an equal live peer counts (we cannot tell ours apart).
    """
    alive_higher = 0
    alive_equal = 0
    for info in peers.values():
        if not isinstance(info, dict):
            continue
        try:
            lastseen = datetime.fromisoformat(str(info.get("lastseen")))
            lifetime = float(info.get("lifetime", 60))
            peer_priority = int(info.get("priority", 0))
        except (TypeError, ValueError):
            continue
        if lastseen.tzinfo is None:
            lastseen = lastseen.replace(tzinfo=UTC)
        if (now - lastseen).total_seconds() > lifetime:
            continue
        if peer_priority > priority:
            alive_higher += 1
        elif peer_priority == priority:
            alive_equal += 1
    # Our own entry is one of the equal ones.
    return alive_higher > 0 or alive_equal > 1


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = "spec." + ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


# ---- kopf wiring ------------------------------------------------------------------------------


def controller_of(memo: Any) -> Controller:
    """The Controller that `main` put into kopf's memo."""
    controller = memo.controller
    if not isinstance(controller, Controller):
        raise TypeError("kopf memo has no Controller (start the operator through detection_operator.main)")
    return controller


@kopf.on.startup()
async def start_workers(memo: kopf.Memo, **_: Any) -> None:
    """Prime the cache and start the reconcile workers before the first watch event arrives."""
    controller = controller_of(memo)
    await controller.prime()
    controller.start()


@kopf.on.cleanup()
async def stop_workers(memo: kopf.Memo, **_: Any) -> None:
    """Stop the workers on shutdown."""
    await controller_of(memo).stop()


@kopf.on.event(GROUP, VERSION, PLURAL)
async def pipeline_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Every DetectionPipeline event (and every object of each re-list) enqueues its reconcile."""
    controller_of(memo).on_pipeline_event(type, _plain(body, PIPELINE))


def _plain(body: kopf.Body, kind: Kind) -> Manifest:
    data: Manifest = dict(body)
    data.setdefault("apiVersion", kind.api_version)
    data.setdefault("kind", kind.kind)
    return data


def _register_child_watch(kind: Kind) -> None:
    group, _, version = kind.api_version.rpartition("/")

    async def child_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        controller_of(memo).on_child_event(type, _plain(body, kind))

    child_event.__name__ = child_event.__qualname__ = f"{kind.kind.lower()}_event"
    kopf.on.event(group, version, kind.plural, labels=CHILD_LABELS, id=f"{kind.kind.lower()}-event")(child_event)


for _kind in (*CHILD_KINDS, POD):
    _register_child_watch(_kind)
