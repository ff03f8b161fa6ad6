"""`shareai-agent`: the node agent's command line.

Each verb lives beside its concept and is registered here:
`serve` (agent/serve_cmd.py), `detect` (agent/hardware/report.py), `enroll` and `run` (agent/control/).
"""

from __future__ import annotations

import typer

from shareai.agent.hardware.report import detect_command
from shareai.agent.serve_cmd import serve

app = typer.Typer(help="shareai node agent: serve local GGUF models, join a coordinator.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)


def _print_version(value: bool) -> None:
    if value:
        from shareai import __version__

        typer.echo(f"shareai-agent {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """shareai node agent: serve local GGUF models, join a coordinator."""


app.command("detect")(detect_command)
app.command("serve")(serve)


def _add_control_commands() -> None:
    from shareai.agent.control.commands import enroll_command, run_command

    app.command("enroll")(enroll_command)
    app.command("run")(run_command)


_add_control_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
