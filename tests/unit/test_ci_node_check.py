"""``.ci/run``'s node step: it installs Node.js from apt only when there is none, then
refuses (exit 1, a message saying what to do) a Node.js older than the pinned packages'
``engines`` (20: stock Debian bookworm's apt gives 18) before ``npm ci`` runs.

The step is run on its own (the lines from its ``step`` to the next one) with fake
``node``, ``npm`` and ``apt-get`` on a PATH that holds nothing else."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CI_RUN = ROOT / ".ci" / "run"


def node_step() -> str:
    text = CI_RUN.read_text("utf-8")
    found = re.search(r'^step "Node packages.*?(?=^step )', text, re.MULTILINE | re.DOTALL)
    assert found, ".ci/run has no node step"
    return found.group(0)


def fake(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/bash\n" + script)
    path.chmod(0o755)


@pytest.fixture
def world(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for tool in ("sed", "cat"):  # what the step may use besides the fakes
        (bin_dir / tool).symlink_to(shutil.which(tool))
    fake(bin_dir, "npm", f'echo "npm $*" >> {log}\n')
    return bin_dir, log


def node_of(version: str) -> str:
    return f'[[ $1 == --version ]] && echo "{version}"\n'


def run_step(bin_dir: Path) -> subprocess.CompletedProcess:
    script = "set -euo pipefail\nstep() { :; }\n" + node_step()
    return subprocess.run(
        ["/bin/bash", "-c", script],
        cwd=ROOT,
        env={"PATH": str(bin_dir), "HOME": os.environ.get("HOME", "/tmp")},
        capture_output=True,
        text=True,
        timeout=30,
    )


def calls(log: Path) -> str:
    return log.read_text() if log.exists() else ""


def test_a_node_20_or_later_goes_on_to_npm_ci(world):
    bin_dir, log = world
    fake(bin_dir, "node", node_of("v20.11.1"))
    fake(bin_dir, "apt-get", f'echo "apt-get $*" >> {log}\n')

    outcome = run_step(bin_dir)

    assert outcome.returncode == 0, outcome.stderr
    assert "npm ci --prefix tools" in calls(log)
    assert "apt-get" not in calls(log)  # node was there: nothing installed


def test_a_node_older_than_20_stops_before_npm_with_what_to_do(world):
    bin_dir, log = world
    fake(bin_dir, "node", node_of("v18.19.0"))

    outcome = run_step(bin_dir)

    assert outcome.returncode == 1
    assert "Node.js 20 or later" in outcome.stderr and "v18.19.0" in outcome.stderr
    assert "npm" not in calls(log)


def test_node_from_bookworms_apt_is_installed_then_refused_as_too_old(world):
    bin_dir, log = world
    # apt-get "installs" the Node.js 18 that Debian bookworm packages.
    node = node_of("v18.19.0").replace('"', '\\"')
    fake(
        bin_dir,
        "apt-get",
        f'echo "apt-get $*" >> {log}\n'
        f'if [[ $1 == install ]]; then printf "#!/bin/bash\\n{node}" > {bin_dir}/node; '
        f"{shutil.which('chmod')} 755 {bin_dir}/node; fi\n",
    )

    outcome = run_step(bin_dir)

    assert "apt-get install -y -qq nodejs npm" in calls(log)
    assert outcome.returncode == 1
    assert "Node.js 20 or later" in outcome.stderr and "bookworm" in outcome.stderr
    assert "npm ci" not in calls(log)


def test_an_unreadable_node_version_is_refused(world):
    bin_dir, log = world
    fake(bin_dir, "node", 'echo "node: cannot open shared object file" >&2; exit 127\n')

    outcome = run_step(bin_dir)

    assert outcome.returncode == 1
    assert "Node.js 20 or later" in outcome.stderr
    assert "npm" not in calls(log)
