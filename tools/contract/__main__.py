"""Generate the files made from the contract and the topology, or check they are current.

    python -m tools.contract asyncapi [--check]      docs/asyncapi.yaml       (make contract)
    python -m tools.contract definitions [--check]   deploy/rabbitmq/, deploy/compose.yaml,
                                                     deploy/k8s/              (make definitions)

Exit codes: 0 written (or, with --check, current); 1 with --check, a file is stale or
missing (its name is printed); 2 the generator refused (an event without a usable example,
a field it cannot describe), with the reason.
"""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from tools.contract.asyncapi import ROOT


def _asyncapi() -> dict[Path, str]:
    from tools.contract import asyncapi

    return {asyncapi.OUTPUT: asyncapi.render(asyncapi.build_document())}


def _definitions() -> dict[Path, str]:
    from tools.contract import definitions, manifests

    return definitions.rendered() | manifests.rendered()


TARGETS: dict[str, Callable[[], dict[Path, str]]] = {
    "asyncapi": _asyncapi,
    "definitions": _definitions,
}


def stale_files(files: dict[Path, str], root: Path = ROOT) -> list[Path]:
    """Which of ``files`` (relative path → wanted text) differ from what ``root`` holds."""
    stale = []
    for relative, text in files.items():
        path = root / relative
        if not path.exists() or path.read_text("utf-8") != text:
            stale.append(relative)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.contract", description=__doc__)
    parser.add_argument("target", choices=sorted(TARGETS))
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    try:
        files = TARGETS[args.target]()
    except (ValueError, TypeError) as error:
        print(f"cannot generate {args.target}: {error}", file=sys.stderr)
        return 2
    if args.check:
        stale = stale_files(files, ROOT)
        for relative in stale:
            print(f"stale: {relative} (run make {_make_target(args.target)})", file=sys.stderr)
        return 1 if stale else 0
    for relative, text in files.items():
        path = ROOT / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text("utf-8") != text:
            path.write_text(text, "utf-8")
            print(f"wrote {relative}")
    return 0


def _make_target(target: str) -> str:
    return "contract" if target == "asyncapi" else target


if __name__ == "__main__":
    sys.exit(main())
