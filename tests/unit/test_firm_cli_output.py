"""The ``firm`` CLI's messages when its output is not a terminal (a script, a log): one
line each, whatever their length — a script greps them."""

from typer.testing import CliRunner

from clients.firm.cli import NOT_OPEN, app


def test_an_error_is_one_line_however_long(tmp_path):
    firm_id = "law-" + "x" * 60
    ticket_id = "0b7c2f5e-3f52-4a53-9d0e-6f1d1c1c9a01"
    store = tmp_path / ("store-" + "y" * 80 + ".sqlite")
    result = CliRunner().invoke(
        app,
        ["work", "accept", ticket_id, "--firm-id", firm_id, "--store", str(store)],
    )
    assert result.exit_code == NOT_OPEN
    [line] = result.output.splitlines()
    assert line == f"error: no work item {ticket_id} in {store} (run: firm work fetch)"
