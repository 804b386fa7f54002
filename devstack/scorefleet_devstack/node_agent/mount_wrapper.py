"""Container entry point, run as root inside ``unshare --mount --propagation private``.

Usage: ``python -I -m scorefleet_devstack.node_agent.mount_wrapper PLAN.json``. The plan (written
by ``runtime``) holds ``mounts`` [{source, target, read_only}], ``argv``, ``env``,
``working_dir`` and ``start_error_path``. The wrapper bind-mounts each source onto its target
(creating the target directory or empty file), remounts read-only ones, changes to the working
directory and execs argv with env, so the container's process replaces the wrapper (same pid).
If anything fails before the exec it writes the reason to ``start_error_path`` and exits 128,
which the agent reports as a start error, as a runtime reports ``StartError``.
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


def _bind(source: str, target: str, *, read_only: bool) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target) or "/", exist_ok=True)
        if not os.path.exists(target):
            with open(target, "a"):
                pass
    _mount(source, target, MS_BIND | MS_REC)
    if read_only:
        _mount(None, target, MS_REMOUNT | MS_BIND | MS_RDONLY)


def _fail(message: str, *, start_error_path: str) -> None:
    with open(start_error_path, "w") as error_file:
        error_file.write(message)
    print(message, file=sys.stderr)
    sys.exit(START_ERROR_EXIT_CODE)


def main(plan_path: str) -> None:
    """Apply the plan at ``plan_path`` and exec the container; exits 128 on any failure before exec."""
    with open(plan_path) as plan_file:
        plan = json.load(plan_file)
    error_path = plan["start_error_path"]
    try:
        for mount in plan["mounts"]:
            _bind(mount["source"], mount["target"], read_only=mount["read_only"])
        if plan.get("working_dir"):
            os.makedirs(plan["working_dir"], exist_ok=True)
            os.chdir(plan["working_dir"])
    except OSError as error:
        _fail(f"failed to create containerd task: {error}", start_error_path=error_path)
    argv = plan["argv"]
    try:
        os.execvpe(argv[0], argv, plan["env"])
    except OSError as error:
        _fail(
            f'failed to start container: exec: "{argv[0]}": {error.strerror or error}',
            start_error_path=error_path,
        )


if __name__ == "__main__":
    main(sys.argv[1])
