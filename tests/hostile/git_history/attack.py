"""Attack: read the instructor's files out of the project's git history.

Hiding a folder (an empty mount over reference/ or problems/) does not hide the same bytes stored
as git objects in the project's .git folder. probe.json names the project root and the paths to
look up (`git_targets`); the attack parses .git/index for their blob ids, inflates the loose
objects and raises `PROBE {...}` saying, per path, what it got (and the first line it read).
"""

import json
import os
import struct


def _probe() -> dict:
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe.json")) as stream:
        return json.load(stream)


def _index_entries(git: str) -> dict[str, str]:
    """path -> blob id, from a version 2 or 3 git index."""
    with open(os.path.join(git, "index"), "rb") as stream:
        data = stream.read()
    signature, version, count = struct.unpack(">4sII", data[:12])
    if signature != b"DIRC" or version not in (2, 3):
        raise ValueError(f"index version {version}")
    entries, offset = {}, 12
    for _ in range(count):
        sha = data[offset + 40:offset + 60].hex()
        flags = struct.unpack(">H", data[offset + 60:offset + 62])[0]
        start = offset + 62 + (2 if version == 3 and flags & 0x4000 else 0)
        end = data.index(b"\0", start)
        entries[data[start:end].decode()] = sha
        offset += ((end - offset) // 8 + 1) * 8
    return entries


def _read_blob(git: str, sha: str) -> str:
    import zlib

    with open(os.path.join(git, "objects", sha[:2], sha[2:]), "rb") as stream:
        raw = zlib.decompress(stream.read())
    return raw.split(b"\0", 1)[1].decode(errors="replace")


def double(x):
    probe = _probe()
    git = os.path.join(probe["project"], ".git")
    found = {}
    try:
        entries = _index_entries(git)
    except (OSError, ValueError) as error:
        raise Exception("PROBE " + json.dumps({"index": f"{type(error).__name__}: {error}"})) from None
    for target in probe.get("git_targets", []):
        if target not in entries:
            found[target] = "not in the index"
            continue
        try:
            text = _read_blob(git, entries[target])
        except (OSError, ImportError) as error:
            found[target] = f"{type(error).__name__}"
            continue
        lines = [line for line in text.splitlines() if line.strip()]
        found[target] = f"leaked {len(text)} characters: {lines[0][:60] if lines else ''}"
    raise Exception("PROBE " + json.dumps(found))


def honest_double(x):
    return 2 * x
