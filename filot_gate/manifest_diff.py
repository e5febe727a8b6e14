"""What differs between a manifest in ``infra/`` and what AWS describes: one line per field, naming
where it is, what the manifest says and what is deployed."""

from __future__ import annotations

from typing import Any

#: Lists of ``{"name", <value>}`` entries compared by name (a container's environment and secrets).
NAMED_LISTS = {"environment": "value", "secrets": "valueFrom"}


def differences(where: str, manifest: dict[str, Any], live: dict[str, Any], fields: tuple[str, ...]) -> list[str]:
    """``where field: manifest X, deployed Y`` for each of ``fields`` the manifest sets."""
    found = []
    for name in (f for f in fields if f in manifest):
        if name in NAMED_LISTS:
            key = NAMED_LISTS[name]
            want = {e["name"]: e[key] for e in manifest[name]}
            got = {e["name"]: e[key] for e in live.get(name) or []}
            found += [f"{where} {name} {k}: manifest {_shown(want, k)}, deployed {_shown(got, k)}"
                      for k in sorted(want.keys() | got.keys()) if want.get(k) != got.get(k)]
        elif not _covers(manifest[name], live.get(name)):
            found.append(f"{where} {name}: manifest {manifest[name]!r}, deployed {live.get(name)!r}")
    return found


def _shown(values: dict[str, str], name: str) -> str:
    return repr(values[name]) if name in values else "(not set)"


def _covers(want: Any, got: Any) -> bool:
    """``got`` says what ``want`` says; defaults AWS adds (a port mapping's protocol) are not differences,
    lists match in any order, and a number matches its text (ECS answers a task's cpu "2048" for 2048)."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and _covers(v, got[k]) for k, v in want.items())
    if isinstance(want, list):
        return (isinstance(got, list) and len(want) == len(got)
                and all(any(_covers(w, g) for g in got) for w in want))
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        return str(want) == str(got)
    return want == got
