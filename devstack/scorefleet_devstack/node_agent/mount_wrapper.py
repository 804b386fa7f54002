"""Container entry point, run as root inside ``unshare --mount --propagation private``.

Usage: ``python -I -m scorefleet_devstack.node_agent.mount_wrapper PLAN.json``. The plan (written
by ``runtime``) holds ``mounts`` [{source, target, read_only}], ``argv``, ``env``,
``working_dir`` and ``start_error_path``. The wrapper bind-mounts each source onto its target
(creating the target directory or empty file), remounts read-only ones, changes to the working
directory and execs argv with env, so the container's process replaces the wrapper (same pid).
If anything fails before the exec it writes the reason to ``start_error_path`` and exits 128,
which the agent reports as a start error, as a runtime reports ``StartError``.

A container here shares the host's root filesystem, so a volume mounted on an ancestor of the
runtime's own files (an emptyDir at /tmp while the checkout lives under /tmp) would hide the
volume sources, the start-error file and the command itself. So every path the wrapper needs is
opened (O_PATH) before the first mount and used through /proc/self/fd, and the runtime's host
paths (the checkout, the Python prefixes) are bound back on top of any volume that covers them.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys

MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
START_ERROR_EXIT_CODE = 128


def _mount(source: str | None, target: str, flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(source.encode() if source else None, target.encode(), None, flags, None) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {source} -> {target}: {os.strerror(errno)}")


def _bind(source: str, target: str, *, read_only: bool, source_is_dir: bool | None = None) -> None:
    if source_is_dir if source_is_dir is not None else os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target) or "/", exist_ok=True)
        if not os.path.exists(target):
            with open(target, "a"):
                pass
    _mount(source, target, MS_BIND | MS_REC)
    if read_only:
        _mount(None, target, MS_REMOUNT | MS_BIND | MS_RDONLY)


def _fail(message: str, *, start_error_dir_fd: int, start_error_name: str) -> None:
    fd = os.open(start_error_name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=start_error_dir_fd)
    with os.fdopen(fd, "w") as error_file:
        error_file.write(message)
    print(message, file=sys.stderr)
    sys.exit(START_ERROR_EXIT_CODE)


def _covered(path: str, targets: list[str]) -> bool:
    """True when a mount onto one of `targets` hides `path` (a target is a strict ancestor of it)."""
    return any(path.startswith(target.rstrip("/") + "/") for target in targets)


def runtime_host_paths() -> list[str]:
    """Host paths the container's process needs from the host's root filesystem: the checkout this
    wrapper runs from (source, virtual environment, dev stack state) and the Python prefixes."""
    checkout = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    return sorted({os.path.realpath(p) for p in (checkout, sys.prefix, sys.base_prefix)}, key=len)


def main(plan_path: str) -> None:
    """Apply the plan at ``plan_path`` and exec the container; exits 128 on any failure before exec."""
    with open(plan_path) as plan_file:
        plan = json.load(plan_file)
    error_dir, error_name = os.path.split(plan["start_error_path"])
    error_dir_fd = os.open(error_dir or ".", os.O_PATH | os.O_DIRECTORY)
    try:
        mounts = plan["mounts"]
        targets = [mount["target"] for mount in mounts]
        kept = [(path, os.open(path, os.O_PATH)) for path in runtime_host_paths()
                if os.path.exists(path) and _covered(path, targets)]
        sources = [(os.open(m["source"], os.O_PATH), os.path.isdir(m["source"])) for m in mounts]
        for mount, (fd, is_dir) in zip(mounts, sources, strict=True):
            _bind(f"/proc/self/fd/{fd}", mount["target"], read_only=mount["read_only"], source_is_dir=is_dir)
        for path, fd in kept:
            _bind(f"/proc/self/fd/{fd}", path, read_only=False, source_is_dir=True)
        if plan.get("working_dir"):
            os.makedirs(plan["working_dir"], exist_ok=True)
            os.chdir(plan["working_dir"])
    except OSError as error:
        _fail(f"failed to create containerd task: {error}", start_error_dir_fd=error_dir_fd,
              start_error_name=error_name)
    argv = plan["argv"]
    try:
        os.execvpe(argv[0], argv, plan["env"])
    except OSError as error:
        _fail(f'failed to start container: exec: "{argv[0]}": {error.strerror or error}',
              start_error_dir_fd=error_dir_fd, start_error_name=error_name)


if __name__ == "__main__":
    main(sys.argv[1])
