"""The layering of services/README.md, checked on the imports themselves (``ast``, every
import statement, inside functions and ``TYPE_CHECKING`` blocks too):

* a service's ``domain/`` imports only the standard library, PyYAML (for the file
  formats it reads: park files, catalogues), the pure modules of ``shared/``
  (:data:`PURE_SHARED`) and its own ``domain`` package — never nameko, SQLAlchemy,
  marshmallow, a broker client (kombu, pika, amqp) or the upper layers of its service
  (``handlers``, ``repository``, ``orm``, ``service``, ``unit_of_work``, ``schemas``,
  ``cli``, ``exceptions``);
* the pure modules of ``shared/`` import only the standard library, PyYAML and each other;
* no service imports another service, and ``shared/`` imports no service.
"""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"
# shared/'s modules a domain may import: standard library (and PyYAML) only themselves.
PURE_SHARED = frozenset(
    {"shared.limits", "shared.money", "shared.park_file", "shared.payloads", "shared.yaml_nodes"}
)
THIRD_PARTY_ALLOWED = frozenset({"yaml"})  # PyYAML, for the domain's file formats


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, absolute module name)`` of every import in the file at ``path``; relative
    imports resolved against its package, ``from a import b`` as ``a.b`` when ``b`` is a
    module of ``a`` (else as ``a``)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                found.append((node.lineno, submodule if _is_module(submodule) else module))
    return found


def _is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def domain_violations(path: Path, service: str) -> list[str]:
    """Why each import of a ``services/<service>/domain/`` module breaks the rule."""
    own_domain = f"services.{service}.domain"
    problems = []
    for line, module in imported_modules(path):
        top = module.split(".")[0]
        if module == own_domain or module.startswith(own_domain + "."):
            continue
        if top in sys.stdlib_module_names or top in THIRD_PARTY_ALLOWED:
            continue
        if module in PURE_SHARED:
            continue
        problems.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    return problems


def domain_files() -> list[tuple[str, Path]]:
    return [
        (path.relative_to(SERVICES).parts[0], path)
        for path in sorted(SERVICES.glob("*/domain/**/*.py"))
    ]


def test_there_are_domains_to_check():
    assert {service for service, _ in domain_files()} >= {"onboarding", "ticketing"}


@pytest.mark.parametrize(
    ("service", "path"),
    [pytest.param(*file, id=str(file[1].relative_to(SERVICES))) for file in domain_files()],
)
def test_a_domain_imports_the_standard_library_pyyaml_pure_shared_and_itself_only(service, path):
    assert domain_violations(path, service) == []


def test_the_pure_shared_modules_import_the_standard_library_pyyaml_and_each_other_only():
    problems = []
    for name in sorted(PURE_SHARED):
        path = ROOT.joinpath(*name.split(".")).with_suffix(".py")
        for line, module in imported_modules(path):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top in THIRD_PARTY_ALLOWED:
                continue
            if module not in PURE_SHARED:
                problems.append(f"{name}:{line}: imports {module}")
    assert problems == []


def test_no_service_imports_another_service():
    problems = []
    for path in sorted(SERVICES.rglob("*.py")):
        service = path.relative_to(SERVICES).parts[0]
        for line, module in imported_modules(path):
            parts = module.split(".")
            if parts[0] == "services" and len(parts) > 1 and parts[1] != service:
                problems.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    assert problems == []


def test_shared_imports_no_service():
    problems = [
        f"{path.relative_to(ROOT)}:{line}: imports {module}"
        for path in sorted((ROOT / "shared").rglob("*.py"))
        for line, module in imported_modules(path)
        if module.split(".")[0] == "services"
    ]
    assert problems == []


# -- the checker itself ------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "import sqlalchemy",
        "from nameko.rpc import rpc",
        "import kombu",
        "import pika",
        "from amqp import Message",
        "import marshmallow",
        "from services.onboarding import handlers",
        "from services.onboarding.repository import units",
        "from services.onboarding.orm import parks",
        "from services.onboarding import unit_of_work",
        "import services.onboarding.service",
        "from services.ticketing.domain import tickets",
        "from shared.messaging import consumer",
        "from shared.db import Database",
        "from shared.business_calendar import BusinessCalendar",
        "from .. import handlers",
        "def later():\n    from sqlalchemy import select",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from shared.db import Database",
    ],
)
def test_the_checker_catches_an_import_a_domain_must_not_make(source, monkeypatch):
    path = SERVICES / "onboarding" / "domain" / "_layering_probe.py"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source)

    assert domain_violations(path, "onboarding") != []


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import date",
        "import yaml",
        "from shared.park_file import read_park_file",
        "from shared.money import format_fen",
        "from services.onboarding.domain.units import Unit",
        "from services.onboarding.domain import units",
        "from . import units",
        "from .units import Unit",
    ],
)
def test_the_checker_lets_through_what_a_domain_may_import(source, monkeypatch):
    path = SERVICES / "onboarding" / "domain" / "_layering_probe.py"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source)

    assert domain_violations(path, "onboarding") == []
