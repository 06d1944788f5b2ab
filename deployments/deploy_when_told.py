"""`prefect deploy ARGS`, its imports done before it is told to go.

    python -m deployments.deploy_when_told [--preload MODULE]... -- ARGS...

Imports Prefect's CLI and the `--preload` modules (the flows' dependencies, which `prefect
deploy` imports to read their parameters), then waits for a line on stdin and runs the CLI with
ARGS in this process. The production stack starts it with the API servers, and says "go" once
the API answers and the work pools exist: the imports (~20 s on a starved machine) overlap the
servers' start instead of following it. EOF without "go" exits 1 without deploying.
"""

from __future__ import annotations

import importlib
import sys


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print("usage: deploy_when_told [--preload MODULE]... -- ARGS...", file=sys.stderr)
        return 2
    split = argv.index("--")
    options, args = argv[:split], argv[split + 1 :]
    preload = [options[i + 1] for i, o in enumerate(options) if o == "--preload"]

    from prefect.cli import app

    importlib.import_module("prefect.cli.deploy")
    for module in preload:
        importlib.import_module(module)
    if sys.stdin.readline().strip() != "go":
        print("not told to go: nothing deployed", file=sys.stderr)
        return 1
    sys.argv = ["prefect", *args]
    app()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
