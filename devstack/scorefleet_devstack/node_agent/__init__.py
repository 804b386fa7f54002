"""The dev stack's node agent: a stand-in for kubelet plus a container runtime.

It registers one Node, runs the pods the scheduler binds to it as local processes (each
container in its own private mount namespace, each pod with its own loopback pod IP), reports
their status from process state and probes, records kubelet-style Events, serves ``kubectl
logs`` through a minimal kubelet API, and stops the processes when their pods go. Entry point:
``python -m scorefleet_devstack.node_agent`` (see ``__main__``); ``devstack up`` supervises it.

Layers, top down: ``agent`` (watch + dispatch) -> ``pod_worker`` (one pod's lifecycle) ->
``runtime``/``volumes``/``probes``/``node``/``events``/``kubelet_server`` (side effects) -> the
pure core (``commands``, ``env``, ``ip_pool``, ``status``) which imports no client and is
unit-tested on its own. ``mount_wrapper`` is the container entry point inside ``unshare``.

State under ``--state-dir``: ``pods/<pod uid>/`` holds ``state.json`` (pids, pod IP; lets a
restarted agent adopt or clean up), ``volumes/<name>/``, ``containers/<name>/`` (wrapper plan,
termination-log) and ``logs/<container>/<restartCount>.log``; ``kubelet-server/`` holds the
self-signed serving certificate.
"""
