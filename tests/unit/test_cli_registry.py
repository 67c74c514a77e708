"""The ``park`` CLI knows no service: services contribute commands through entry points."""

import ast
from importlib.metadata import EntryPoint
from pathlib import Path

import typer
from typer.testing import CliRunner

from shared.tooling import cli

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _imported_modules(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules.append(node.module or "")
    return modules


def test_shared_imports_no_service():
    offenders = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in sorted((ROOT / "shared").rglob("*.py"))
        for module in _imported_modules(path)
        if module == "services" or module.startswith("services.")
    ]
    assert offenders == []


def test_onboardings_parks_commands_are_discovered_through_their_entry_point():
    result = runner.invoke(cli.app, ["parks", "load", "--help"])
    assert result.exit_code == 0, result.output
    assert "Validate every park file" in result.output


def test_a_service_whose_commands_fail_to_load_is_reported_and_the_others_stay(monkeypatch, capsys):
    good = typer.Typer()
    good.command("hello")(lambda: print("hello"))
    entries = [
        EntryPoint("broken", "no_such_module.cli:commands", cli.COMMANDS_GROUP),
        EntryPoint("good", "x:y", cli.COMMANDS_GROUP),
    ]
    monkeypatch.setattr(EntryPoint, "load", lambda e: good if e.name == "good" else 1 / 0)
    monkeypatch.setattr(cli, "entry_points", lambda group: entries)
    target = typer.Typer()
    target.command("other")(lambda: None)

    cli.add_service_commands(target)

    assert "park: broken commands unavailable" in capsys.readouterr().err
    result = runner.invoke(target, ["good", "hello"])
    assert result.exit_code == 0, result.output
    assert "hello" in result.output


def test_the_cli_finds_the_repository_its_defaults_point_into():
    # db migrate reads ROOT/services/<service>/migrations, parks load ROOT/deploy/parks.
    assert cli.ROOT == ROOT
    assert cli.DEFAULT_CONFIG.is_file()


def test_an_error_message_prints_its_brackets_as_written(capsys):
    import typer

    from shared.tooling import cli

    try:
        cli.fail("firm [zhengheng-law] is [not_found]")
    except typer.Exit as exit_:
        assert exit_.exit_code == 1
    else:
        raise AssertionError("fail() must exit")
    assert "firm [zhengheng-law] is [not_found]" in capsys.readouterr().out
