"""One pod's lifecycle on the node: volumes, container runs, probes, status, termination.

A ``PodWorker`` thread per pod UID, fed the latest Pod object by the agent's watch. Each tick it
(re)prepares volumes, starts/restarts containers per restartPolicy and backoff, runs due probes,
and writes the status computed by the pure ``status`` module when it changed. When the pod gets
a deletionTimestamp it stops the processes (SIGTERM, SIGKILL after the grace period), deletes
the pod with grace 0 as kubelet does, frees the pod IP and removes the pod's directory.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from . import status as st
from .commands import ImageNotMappedError, container_argv
from .env import EnvReferenceError, EnvSources, build_container_env, referenced_objects, service_env
from .events import EventReason, EventType, PodEventRecorder
from .kube import KubeApiError, KubeClient, is_not_found
from .probes import ProbeSpec, ProbeTracker, parse_probe, run_probe
from .runtime import ContainerProcess, ExitInfo, LaunchSpec, container_log_path, termination_message
from .settings import CONTAINER_PATH, AgentSettings
from .volumes import MountSpec, PreparedVolumes, VolumeError, VolumePreparer, plan_mounts

log = logging.getLogger(__name__)

TICK_SECONDS = 0.5
#: Retry delay after a config/volume error (missing ConfigMap, unsupported volume...).
CONFIG_RETRY_SECONDS = 3.0
DEFAULT_GRACE_SECONDS = 30.0
#: On agent shutdown pods get at most this long to exit before SIGKILL.
SHUTDOWN_GRACE_CAP_SECONDS = 10.0
STATE_FILE = "state.json"


@dataclass
class ContainerRun:
    """Mutable record of one container of the pod (across its restarts)."""

    spec: dict[str, Any]
    is_init: bool
    state: st.ContainerState = field(default_factory=lambda: st.Waiting(st.WaitingReason.CONTAINER_CREATING))
    process: ContainerProcess | None = None
    last_terminated: st.Terminated | None = None
    restart_count: int = 0
    has_run: bool = False
    consecutive_crashes: int = 0
    next_start_monotonic: float = 0.0
    kill_deadline_monotonic: float | None = None
    ready: bool = False
    started: bool = False
    done: bool = False
    env: dict[str, str] = field(default_factory=dict)
    container_id: str = ""
    """``scorefleet://<pid>`` of the latest run; kept after it exits, as kubelet keeps the ID."""
    startup: ProbeTracker | None = None
    liveness: ProbeTracker | None = None
    readiness: ProbeTracker | None = None

    @property
    def name(self) -> str:
        """The container's name."""
        return str(self.spec["name"])

    def view(self) -> st.ContainerView:
        """The pure view of this container for status computation."""
        return st.ContainerView(
            name=self.name,
            image=str(self.spec.get("image", "")),
            state=self.state,
            last_terminated=self.last_terminated,
            ready=self.ready,
            started=self.started,
            restart_count=self.restart_count,
            container_id=self.container_id,
        )


@dataclass(frozen=True)
class WorkerContext:
    """What every pod worker shares: settings, the pod-IP allocator and the stop signal."""

    settings: AgentSettings
    allocate_ip: Callable[[str, str], str]
    """(pod uid, preferred address or "") -> address."""
    release_ip: Callable[[str], None]
    shutting_down: threading.Event


class PodWorker(threading.Thread):
    """Runs one pod until it is deleted or the agent stops. Feed it with ``update``/``gone``."""

    def __init__(self, pod: dict[str, Any], *, context: WorkerContext, adopted: dict[str, Any] | None) -> None:
        metadata = pod["metadata"]
        super().__init__(name=f"pod-{metadata['namespace']}/{metadata['name']}", daemon=True)
        self._context = context
        self._settings = context.settings
        self._pod = pod
        self._pod_lock = threading.Lock()
        self._wake = threading.Event()
        self._gone = False
        self._adopted = adopted or {}
        self.uid: str = metadata["uid"]
        self._key = f"{metadata['namespace']}/{metadata['name']}"
        self._pod_dir = self._settings.pods_dir / self.uid
        self._client = KubeClient(str(self._settings.kubeconfig))
        self._volumes = VolumePreparer(self._client, pod_dir=self._pod_dir)
        self._events = PodEventRecorder(self._client, pod=pod, node_name=self._settings.node_name)
        self._prepared: PreparedVolumes | None = None
        self._volumes_due_monotonic = 0.0
        self._mount_error = ""
        self._pod_ip = ""
        self._start_time = datetime.now(UTC)
        self._published: dict[str, Any] | None = None
        spec = pod["spec"]
        self._restart_policy = st.RestartPolicy(spec.get("restartPolicy", "Always"))
        self._init_runs = [ContainerRun(dict(c), is_init=True) for c in spec.get("initContainers") or []]
        self._runs = [ContainerRun(dict(c), is_init=False) for c in spec.get("containers") or []]

    # -- feeding -----------------------------------------------------------------------------

    def update(self, pod: dict[str, Any]) -> None:
        """Hand the worker the latest version of its Pod (from the watch)."""
        with self._pod_lock:
            self._pod = pod
        self._wake.set()

    def gone(self) -> None:
        """The Pod no longer exists in the API: stop its processes and clean up."""
        self._gone = True
        self._wake.set()

    def _current(self) -> dict[str, Any]:
        with self._pod_lock:
            return self._pod

    # -- main loop ---------------------------------------------------------------------------

    def run(self) -> None:
        """The worker thread: set up, tick until deleted/gone/shutdown, then tear down.

        An unexpected error in a step is logged and the step retried, so one bad pod never
        leaves its processes unmanaged.
        """
        set_up = False
        while True:
            pod = self._current()
            try:
                if self._gone or pod["metadata"].get("deletionTimestamp"):
                    self._terminate(grace_seconds=self._grace_seconds(pod), delete_pod=not self._gone)
                    return
                if self._context.shutting_down.is_set():
                    self._stop_processes(min(self._grace_seconds(pod), SHUTDOWN_GRACE_CAP_SECONDS))
                    return
                if not set_up:
                    self._setup()
                    set_up = True
                self._tick(pod)
            except Exception:
                log.exception("pod %s: worker step failed; retrying in %ss", self._key, CONFIG_RETRY_SECONDS)
                self._wake.wait(CONFIG_RETRY_SECONDS)
            self._wake.wait(TICK_SECONDS)
            self._wake.clear()

    def _setup(self) -> None:
        pod = self._current()
        self._pod_dir.mkdir(parents=True, exist_ok=True)
        status = pod.get("status") or {}
        if status.get("startTime"):
            self._start_time = st.parse_time(status["startTime"]) or self._start_time
        if pod["spec"].get("hostNetwork"):
            self._pod_ip = self._settings.host_ip
        else:
            preferred = self._adopted.get("pod_ip") or status.get("podIP") or ""
            self._pod_ip = self._context.allocate_ip(self.uid, preferred)
        self._adopt(status)
        self._save_state()
        log.info("pod %s (%s): running with pod IP %s", self._key, self.uid, self._pod_ip)

    def _adopt(self, status: Mapping[str, Any]) -> None:
        """Take over processes recorded by a previous agent and the restart counts it reported."""
        reported = {
            s["name"]: s
            for s in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
        }
        records = self._adopted.get("containers", {})
        for run in [*self._init_runs, *self._runs]:
            previous = reported.get(run.name)
            if previous:
                run.restart_count = int(previous.get("restartCount", 0))
                state = previous.get("state") or {}
                run.has_run = bool(previous.get("lastState") or state.get("running") or state.get("terminated"))
                if state.get("terminated"):
                    terminated = st.terminated_from_status(state["terminated"])
                    policy = self._policy_for(run)
                    if (run.is_init and terminated.exit_code == 0) or not st.should_restart(
                        policy, exit_code=terminated.exit_code
                    ):
                        # Finished for good under the previous agent: never run it again.
                        run.state, run.done = terminated, True
            record = records.get(run.name)
            process = ContainerProcess.adopt(record) if record else None
            if process is not None:
                log.info("pod %s: adopted container %s (pid %s)", self._key, run.name, process.pid)
                self._attach(run, process=process, env=record.get("env", {}))
        if any(run.name in records for run in self._runs):
            # App containers ran, so every init container had completed.
            for run in self._init_runs:
                if not _succeeded(run):
                    run.state = st.Terminated(0, st.TerminatedReason.COMPLETED, finished_at=datetime.now(UTC))
                    run.done = True

    def _tick(self, pod: dict[str, Any]) -> None:
        try:
            self._ensure_volumes(pod)
            if self._prepared is not None:
                self._step_containers(pod)
            self._run_probes(pod)
            self._publish(pod)
        except (KubeApiError, requests.RequestException) as error:
            log.warning("pod %s: API call failed (%s); retrying", self._key, error)

    # -- volumes -----------------------------------------------------------------------------

    def _ensure_volumes(self, pod: dict[str, Any]) -> None:
        """Prepare the pod's volumes when due: first use, refresh time, or retry after an error."""
        now = time.monotonic()
        if now < self._volumes_due_monotonic:
            return
        try:
            self._prepared = self._volumes.prepare(pod, pod_ip=self._pod_ip, host_ip=self._settings.host_ip)
            self._volumes_due_monotonic = self._prepared.refresh_due_monotonic
            self._mount_error = ""
        except VolumeError as error:
            self._volumes_due_monotonic = now + CONFIG_RETRY_SECONDS
            if self._prepared is not None:
                log.warning("pod %s: volume refresh failed, keeping the old contents: %s", self._key, error)
                return
            message = f"MountVolume.SetUp failed: {error}"
            for run in [*self._init_runs, *self._runs]:
                if run.process is None and not run.has_run:
                    run.state = st.Waiting(st.WaitingReason.CONTAINER_CREATING, message)
            if message != self._mount_error:
                log.warning("pod %s: %s", self._key, message)
                self._mount_error = message
            self._events.emit(EventType.WARNING, reason=EventReason.FAILED_MOUNT, message=message)

    # -- containers --------------------------------------------------------------------------

    def _step_containers(self, pod: dict[str, Any]) -> None:
        now = time.monotonic()
        for run in [*self._init_runs, *self._runs]:
            self._reap(run, now=now)
        if any(run.done and not _succeeded(run) for run in self._init_runs):
            return  # an init container failed for good (restartPolicy Never): the pod has failed
        pending_init = next((run for run in self._init_runs if not run.done), None)
        if pending_init is not None:
            if pending_init.process is None and now >= pending_init.next_start_monotonic:
                self._start(pod, run=pending_init)
            for run in self._runs:
                if not run.has_run:
                    run.state = st.Waiting(st.WaitingReason.POD_INITIALIZING)
            return
        for run in self._runs:
            if run.process is None and not run.done and now >= run.next_start_monotonic:
                self._start(pod, run=run)

    def _reap(self, run: ContainerRun, *, now: float) -> None:
        """Notice the exit of ``run``'s process; escalate a pending kill to SIGKILL when due."""
        if run.process is None:
            return
        if run.kill_deadline_monotonic is not None and now >= run.kill_deadline_monotonic:
            run.process.signal_group(signal.SIGKILL)
        exit_info = run.process.poll(start_error_path=self._run_dir(run) / "start-error")
        if exit_info is not None:
            self._on_exit(run, exit_info=exit_info, now=now)

    def _on_exit(self, run: ContainerRun, *, exit_info: ExitInfo, now: float) -> None:
        assert run.process is not None
        started_at = run.process.started_at
        ran_seconds = (datetime.now(UTC) - started_at).total_seconds()
        if exit_info.start_error:
            reason, message = st.TerminatedReason.START_ERROR, exit_info.start_error
        elif not exit_info.known:
            reason = st.TerminatedReason.CONTAINER_STATUS_UNKNOWN
            message = "The container could not be located when the node agent restarted"
        else:
            reason = st.terminated_reason(exit_info.exit_code)
            message = termination_message(
                message_path=self._run_dir(run) / "termination-log",
                log_path=container_log_path(self._pod_dir, container=run.name, attempt=run.restart_count),
                fallback_to_logs=run.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError",
                exit_code=exit_info.exit_code,
            )
        terminated = st.Terminated(
            exit_info.exit_code, reason, finished_at=datetime.now(UTC), started_at=started_at, message=message
        )
        log.info(
            "pod %s: container %s exited with %s (%s)%s",
            self._key,
            run.name,
            exit_info.exit_code,
            reason,
            f": {message}" if message else "",
        )
        run.process = None
        run.kill_deadline_monotonic = None
        run.ready = run.started = False
        run.startup = run.liveness = run.readiness = None
        policy = self._policy_for(run)
        if run.is_init and exit_info.exit_code == 0:
            run.state, run.done = terminated, True
            return
        if not st.should_restart(policy, exit_code=exit_info.exit_code):
            run.state, run.done = terminated, True
            return
        run.last_terminated = terminated
        if ran_seconds >= st.BACKOFF_RESET_AFTER_SECONDS:
            run.consecutive_crashes = 0
        run.consecutive_crashes += 1
        delay = st.restart_backoff_seconds(run.consecutive_crashes)
        run.next_start_monotonic = now + delay
        if exit_info.start_error:
            run.state = st.Waiting(st.WaitingReason.RUN_CONTAINER_ERROR, exit_info.start_error)
            self._events.emit(
                EventType.WARNING,
                reason=EventReason.FAILED,
                message=f"Error: {exit_info.start_error}",
                container=run.name,
            )
        else:
            self._events.emit(
                EventType.WARNING,
                reason=EventReason.BACK_OFF,
                message=f"Back-off restarting failed container {run.name} in pod {self._key.split('/')[1]}",
                container=run.name,
            )
            run.state = st.Waiting(
                st.WaitingReason.CRASH_LOOP_BACK_OFF,
                f"back-off {delay:g}s restarting failed container={run.name} pod={self._key}({self.uid})",
            )

    def _policy_for(self, run: ContainerRun) -> st.RestartPolicy:
        """The pod's restartPolicy, except that init containers are never restarted after success."""
        if run.is_init and self._restart_policy is st.RestartPolicy.ALWAYS:
            return st.RestartPolicy.ON_FAILURE
        return self._restart_policy

    def _start(self, pod: dict[str, Any], *, run: ContainerRun) -> None:
        try:
            env = self._container_env(pod, container=run.spec)
            argv = container_argv(run.spec, env=env, image_map=self._settings.image_map)
        except EnvReferenceError as error:
            self._config_failure(run, reason=st.WaitingReason.CREATE_CONTAINER_CONFIG_ERROR, message=str(error))
            return
        except ImageNotMappedError as error:
            self._config_failure(run, reason=st.WaitingReason.ERR_IMAGE_PULL, message=str(error))
            return
        assert self._prepared is not None
        try:
            mounts = plan_mounts(
                run.spec, volumes=pod["spec"].get("volumes") or [], directories=self._prepared.directories
            )
        except VolumeError as error:
            self._config_failure(run, reason=st.WaitingReason.CREATE_CONTAINER_CONFIG_ERROR, message=str(error))
            return
        for mount in mounts:
            if not Path(mount.source).exists():
                Path(mount.source).mkdir(parents=True, exist_ok=True)  # a subPath kubelet would create
        attempt = run.restart_count + 1 if run.has_run else run.restart_count
        run_dir = self._run_dir(run)
        run_dir.mkdir(parents=True, exist_ok=True)
        message_file = run_dir / "termination-log"
        message_file.write_bytes(b"")
        message_path = run.spec.get("terminationMessagePath") or "/dev/termination-log"
        mounts.append(MountSpec(source=str(message_file), target=message_path, read_only=False))
        launch = LaunchSpec(
            argv=argv,
            env=env,
            working_dir=run.spec.get("workingDir", ""),
            mounts=mounts,
            run_dir=run_dir,
            log_path=container_log_path(self._pod_dir, container=run.name, attempt=attempt),
        )
        try:
            process = ContainerProcess.start(launch)
        except OSError as error:
            self._config_failure(
                run, reason=st.WaitingReason.RUN_CONTAINER_ERROR, message=f"failed to start container: {error}"
            )
            return
        run.restart_count = attempt
        run.has_run = True
        # argv[0] only: expanded arguments may carry secret values.
        log.info("pod %s: started container %s (pid %s): %s", self._key, run.name, process.pid, argv[0])
        self._events.emit(
            EventType.NORMAL, reason=EventReason.STARTED, message=f"Started container {run.name}", container=run.name
        )
        self._attach(run, process=process, env=env)
        self._save_state()

    def _attach(self, run: ContainerRun, *, process: ContainerProcess, env: dict[str, str]) -> None:
        """Make ``process`` the container's current run and arm its probes."""
        run.process = process
        run.container_id = f"scorefleet://{process.pid}"
        run.env = env
        run.state = st.Running(process.started_at)
        run.done = False
        started = time.monotonic()
        run.startup = self._tracker(run, field_name="startupProbe", started=started, initial=False)
        run.liveness = self._tracker(run, field_name="livenessProbe", started=started, initial=True)
        run.readiness = self._tracker(run, field_name="readinessProbe", started=started, initial=False)
        run.started = run.startup is None
        run.ready = run.started and run.readiness is None and not run.is_init

    def _tracker(self, run: ContainerRun, *, field_name: str, started: float, initial: bool) -> ProbeTracker | None:
        probe = run.spec.get(field_name)
        if not probe or run.is_init:
            return None
        try:
            spec: ProbeSpec = parse_probe(probe, container=run.spec, pod_ip=self._pod_ip)
        except ValueError as error:
            log.warning("pod %s: container %s %s ignored: %s", self._key, run.name, field_name, error)
            return None
        return ProbeTracker(spec, started_monotonic=started, initial=initial)

    def _config_failure(self, run: ContainerRun, *, reason: st.WaitingReason, message: str) -> None:
        if run.state != st.Waiting(reason, message):
            log.warning("pod %s: container %s cannot start (%s): %s", self._key, run.name, reason, message)
        run.state = st.Waiting(reason, message)
        run.next_start_monotonic = time.monotonic() + CONFIG_RETRY_SECONDS
        self._events.emit(EventType.WARNING, reason=EventReason.FAILED, message=f"Error: {message}", container=run.name)

    def _container_env(self, pod: dict[str, Any], *, container: Mapping[str, Any]) -> dict[str, str]:
        config_map_names, secret_names = referenced_objects(
            {"metadata": pod["metadata"], "spec": {"containers": [container]}}
        )
        namespace = pod["metadata"]["namespace"]
        config_maps = {name: self._text_data(namespace, kind="ConfigMap", name=name) for name in config_map_names}
        secrets = {name: self._text_data(namespace, kind="Secret", name=name) for name in secret_names}
        base_env = {
            "PATH": CONTAINER_PATH,
            "HOSTNAME": pod["metadata"]["name"],
            "HOME": "/root",
            **service_env(apiserver_host=self._settings.apiserver_host, apiserver_port=self._settings.apiserver_port),
        }
        sources = EnvSources(
            pod=pod,
            pod_ip=self._pod_ip,
            host_ip=self._settings.host_ip,
            base_env=base_env,
            config_maps=config_maps,
            secrets=secrets,
        )
        return build_container_env(container, sources=sources)

    def _text_data(self, namespace: str, *, kind: str, name: str) -> dict[str, str] | None:
        data = self._client.key_data(namespace, kind=kind, name=name)
        return None if data is None else {key: value.decode(errors="replace") for key, value in data.items()}

    # -- probes ------------------------------------------------------------------------------

    def _run_probes(self, pod: dict[str, Any]) -> None:
        now = time.monotonic()
        for run in self._runs:
            if run.process is None or run.kill_deadline_monotonic is not None:
                continue
            pid = run.process.pid
            if run.startup is not None and not run.started:
                if run.startup.due(now):
                    ok, message = run_probe(run.startup.spec, pid=pid, env=run.env)
                    if run.startup.record(ok, now_monotonic=time.monotonic(), message=message):
                        run.started = True
                    elif run.startup.failures >= run.startup.spec.failure_threshold:
                        self._kill_for_probe(pod, run=run, why=f"failed startup probe: {message}")
                        continue
                if not run.started:
                    continue
            if run.liveness is not None and run.liveness.due(now):
                ok, message = run_probe(run.liveness.spec, pid=pid, env=run.env)
                if not run.liveness.record(ok, now_monotonic=time.monotonic(), message=message):
                    self._kill_for_probe(pod, run=run, why=f"failed liveness probe: {message}")
                    continue
            if run.readiness is None:
                run.ready = True
            elif run.readiness.due(now):
                ok, message = run_probe(run.readiness.spec, pid=pid, env=run.env)
                was_ready = run.ready
                run.ready = run.readiness.record(ok, now_monotonic=time.monotonic(), message=message)
                if was_ready and not run.ready:
                    log.info("pod %s: container %s not ready: %s", self._key, run.name, message)
                    self._events.emit(
                        EventType.WARNING,
                        reason=EventReason.UNHEALTHY,
                        message=f"Readiness probe failed: {message}",
                        container=run.name,
                    )

    def _kill_for_probe(self, pod: dict[str, Any], *, run: ContainerRun, why: str) -> None:
        assert run.process is not None
        log.info("pod %s: container %s %s, will be restarted", self._key, run.name, why)
        self._events.emit(
            EventType.NORMAL,
            reason=EventReason.KILLING,
            message=f"Container {run.name} {why}, will be restarted",
            container=run.name,
        )
        run.ready = False
        run.process.signal_group(signal.SIGTERM)
        run.kill_deadline_monotonic = time.monotonic() + self._grace_seconds(pod)

    # -- status ------------------------------------------------------------------------------

    def _publish(self, pod: dict[str, Any]) -> None:
        view = st.PodView(
            restart_policy=self._restart_policy,
            init_containers=[run.view() for run in self._init_runs],
            containers=[run.view() for run in self._runs],
            initialized=all(_succeeded(run) for run in self._init_runs),
            pod_ip=self._pod_ip,
            host_ip=self._settings.host_ip,
            start_time=self._start_time,
        )
        previous_conditions = (pod.get("status") or {}).get("conditions") or []
        if self._published is not None:
            # Our own last write is the authority for transition times (the watch may lag).
            previous_conditions = self._published["conditions"]
        new_status = st.pod_status(view, previous_conditions=previous_conditions, now=datetime.now(UTC))
        if new_status == self._published:
            return
        metadata = pod["metadata"]
        self._client.merge_patch(
            f"/api/v1/namespaces/{metadata['namespace']}/pods/{metadata['name']}/status",
            patch={"status": new_status},
        )
        if self._published is None or new_status["phase"] != self._published["phase"]:
            log.info("pod %s: phase %s", self._key, new_status["phase"])
        self._published = new_status

    # -- termination -------------------------------------------------------------------------

    def _grace_seconds(self, pod: Mapping[str, Any]) -> float:
        metadata, spec = pod["metadata"], pod["spec"]
        grace = metadata.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
        return float(grace)

    def _stop_processes(self, grace_seconds: float) -> None:
        """SIGTERM every running container's group, SIGKILL after ``grace_seconds``, reap them."""
        running = [run for run in [*self._init_runs, *self._runs] if run.process is not None]
        for run in running:
            assert run.process is not None
            run.process.signal_group(signal.SIGTERM)
            if not self._context.shutting_down.is_set():
                self._events.emit(
                    EventType.NORMAL,
                    reason=EventReason.KILLING,
                    message=f"Stopping container {run.name}",
                    container=run.name,
                )
        deadline = time.monotonic() + grace_seconds
        killed = False
        while running:
            now = time.monotonic()
            if now >= deadline and not killed:
                for run in running:
                    assert run.process is not None
                    run.process.signal_group(signal.SIGKILL)
                killed = True
            for run in list(running):
                assert run.process is not None
                exit_info = run.process.poll()
                if exit_info is not None:
                    log.info("pod %s: container %s stopped (exit %s)", self._key, run.name, exit_info.exit_code)
                    run.process = None
                    running.remove(run)
            if running:
                time.sleep(0.1)
        self._state_path().unlink(missing_ok=True)

    def _terminate(self, *, grace_seconds: float, delete_pod: bool) -> None:
        log.info("pod %s: terminating (grace %ss)", self._key, grace_seconds)
        self._stop_processes(grace_seconds)
        if delete_pod:
            metadata = self._current()["metadata"]
            try:
                self._client.delete(
                    f"/api/v1/namespaces/{metadata['namespace']}/pods/{metadata['name']}",
                    body={"gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}},
                )
            except (KubeApiError, requests.RequestException) as error:
                if not is_not_found(error):
                    log.warning(
                        "pod %s: final delete failed (%s); the agent will retry on the next event", self._key, error
                    )
        self._context.release_ip(self.uid)
        shutil.rmtree(self._pod_dir, ignore_errors=True)
        log.info("pod %s: removed from the node", self._key)

    # -- local state -------------------------------------------------------------------------

    def _run_dir(self, run: ContainerRun) -> Path:
        return self._pod_dir / "containers" / run.name

    def _state_path(self) -> Path:
        return self._pod_dir / STATE_FILE

    def _save_state(self) -> None:
        metadata = self._current()["metadata"]
        state = {
            "namespace": metadata["namespace"],
            "name": metadata["name"],
            "uid": self.uid,
            "pod_ip": self._pod_ip,
            "containers": {
                run.name: {**run.process.to_record(), "env": run.env}
                for run in [*self._init_runs, *self._runs]
                if run.process is not None
            },
        }
        path = self._state_path()
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        temporary.chmod(0o600)
        temporary.replace(path)


def _succeeded(run: ContainerRun) -> bool:
    """Whether ``run`` finished for good with exit code 0."""
    return run.done and isinstance(run.state, st.Terminated) and run.state.exit_code == 0


def load_state(pod_dir: Path) -> dict[str, Any] | None:
    """The state record a worker left in ``pod_dir``, or None if there is none (or it is unreadable)."""
    try:
        state: dict[str, Any] = json.loads((pod_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state


def kill_recorded_processes(state: Mapping[str, Any], *, grace_seconds: float) -> None:
    """Stop every still-running process of a state record (an orphan of a previous agent)."""
    processes = [p for record in state.get("containers", {}).values() if (p := ContainerProcess.adopt(record))]
    for process in processes:
        process.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while processes and time.monotonic() < deadline:
        processes = [p for p in processes if p.poll() is None]
        time.sleep(0.1)
    for process in processes:
        process.signal_group(signal.SIGKILL)
