#!/usr/bin/env python3
"""Copy the shared block of factory_init.py into taskctl.sh (or, with --check, say if they differ).

The factory scripts must each work when dropped alone into a factory checkout, yet the state
protocol of .mission_control/ (tasks.json, the offline queue, leases, the lock) and the
orchestrator client must have one implementation. So that code is written once, between the
"mission-control shared block" markers in factory_init.py, and taskctl.sh carries a verbatim
copy in its embedded Python. Run this after editing the block; the tests run --check.

Usage: python3 scripts/embed_shared.py [--check]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
SOURCE = SCRIPTS / "factory_init.py"
COPIES = [SCRIPTS / "taskctl.sh"]
BLOCK_RE = re.compile(r"# >>> mission-control shared block >>>\n.*?"
                      r"# <<< mission-control shared block <<<\n", re.S)


def block_of(text: str, path: Path) -> str:
    found = BLOCK_RE.findall(text)
    if len(found) != 1:
        raise SystemExit(f"{path}: expected one shared block, found {len(found)}")
    return found[0]


def main(argv: list[str]) -> int:
    check = argv == ["--check"]
    if argv and not check:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    block = block_of(SOURCE.read_text(encoding="utf-8"), SOURCE)
    stale = []
    for copy in COPIES:
        text = copy.read_text(encoding="utf-8")
        if block_of(text, copy) == block:
            continue
        stale.append(copy)
        if not check:
            copy.write_text(BLOCK_RE.sub(lambda _: block, text), encoding="utf-8")
            print(f"updated {copy.relative_to(SCRIPTS.parent)}")
    if check and stale:
        names = ", ".join(str(p.relative_to(SCRIPTS.parent)) for p in stale)
        print(f"{names}: shared block differs from {SOURCE.relative_to(SCRIPTS.parent)}; "
              f"run python3 scripts/embed_shared.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
