"""Pure: a container's argv from its command/args or the image-to-command map.

Kubernetes ``$(VAR)`` expansion follows k8s.io/kubernetes third_party/forked/golang/expansion:
``$(NAME)`` becomes the variable's value when ``NAME`` is defined, an undefined reference is
left as written, ``$$`` is an escaped ``$`` (so ``$$(NAME)`` yields the literal ``$(NAME)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_OPERATOR = "$"
_OPENER = "("
_CLOSER = ")"


class ImageNotMappedError(Exception):
    """A container has no ``command`` and its image matches no entry of the image map.

    The message names the image and the fix (set ``command`` or add a map entry); the agent
    shows it as the container's ``ErrImagePull`` waiting message.
    """


def expand_references(text: str, *, variables: Mapping[str, str]) -> str:
    """Expand Kubernetes ``$(VAR)`` references in ``text`` against ``variables``.

    Returns the expanded string; never raises (malformed references stay as written).
    """
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char != _OPERATOR or index + 1 >= len(text):
            out.append(char)
            index += 1
            continue
        following = text[index + 1]
        if following == _OPERATOR:
            out.append(_OPERATOR)
            index += 2
        elif following == _OPENER:
            closing = text.find(_CLOSER, index + 2)
            if closing == -1:
                out.append(text[index:])
                break
            name = text[index + 2 : closing]
            out.append(variables.get(name, f"$({name})") if name else "$()")
            index = closing + 1
        else:
            out.append(char + following)
            index += 2
    return "".join(out)


def image_command(image: str, *, image_map: Mapping[str, Sequence[str]]) -> list[str]:
    """The command implied by ``image``: the entry whose key is the longest substring of it.

    Raises ``ImageNotMappedError`` when no key occurs in ``image``.
    """
    matches = [key for key in image_map if key in image]
    if not matches:
        raise ImageNotMappedError(
            f"image {image!r} has no entry in the node agent's image-to-command map "
            f"(keys: {sorted(image_map)}); set the container's command or add the image to the map"
        )
    return list(image_map[max(matches, key=len)])


def container_argv(
    container: Mapping[str, Any], *, env: Mapping[str, str], image_map: Mapping[str, Sequence[str]]
) -> list[str]:
    """The argv to exec for ``container`` (a pod-spec container dict), as a runtime would.

    ``command`` replaces the image's entrypoint (taken from ``image_map``), ``args`` replace its
    default arguments; both are ``$(VAR)``-expanded against ``env``. With ``args`` but no
    ``command`` the mapped command is followed by the args. Raises ``ImageNotMappedError``.
    """
    command = [str(part) for part in container.get("command") or []]
    args = [str(part) for part in container.get("args") or []]
    if not command:
        command = image_command(str(container.get("image", "")), image_map=image_map)
    return [expand_references(part, variables=env) for part in (*command, *args)]
