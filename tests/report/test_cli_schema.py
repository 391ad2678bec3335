"""``vvolguard schema diagnosis`` prints the schema scripts validate against."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from vvolguard.cli import schema as schema_cli
from vvolguard.report.json_schema import diagnosis_schema


def test_registered_command_prints_the_schema() -> None:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    schema_cli.register(app)
    result = CliRunner().invoke(app, ["schema", "diagnosis"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == diagnosis_schema()


def test_vvolguard_schema_diagnosis_via_the_real_app() -> None:
    from vvolguard.cli.main import app

    result = CliRunner().invoke(app, ["schema", "diagnosis"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["properties"]["schema"]["const"] == "vvolguard.diagnosis/v1"


def test_schema_without_subcommand_shows_help() -> None:
    from vvolguard.cli.main import app

    result = CliRunner().invoke(app, ["schema"])
    assert "diagnosis" in result.output
