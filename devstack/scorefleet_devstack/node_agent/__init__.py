"""The dev stack's node agent: a stand-in for kubelet plus a container runtime.

It registers one Node, runs the pods the scheduler binds to it as local processes (each in a
private mount namespace, with its own loopback pod IP), reports their status from process state
and probes, and stops them when their pods go. Entry point: ``python -m
scorefleet_devstack.node_agent`` (see ``__main__``); the lead's ``devstack up`` supervises it.

Layers, top down: ``agent`` (watch + dispatch) -> ``pod_worker`` (one pod's lifecycle) ->
``runtime``/``volumes``/``probes``/``node`` (side effects) -> the pure core (``commands``,
``env``, ``ip_pool``, ``status``) which imports no client and is unit-tested on its own.
"""
