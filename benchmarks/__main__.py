"""`make bench`: measure our service against MLflow's scoring server and MLServer side by side, plus the
pipeline's times and the ETL's time and peak memory.
Prints one JSON summary on stdout; the report is written under BURNOUT_HOME/bench."""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated

import typer

from benchmarks.run import run_bench
from burnout_base.settings import get_settings


def main(
    seconds: Annotated[float, typer.Option(help="per setting")] = 20.0,
    pipeline: Annotated[bool, typer.Option("--pipeline/--no-pipeline", help="also time the pipeline")] = True,
    etl: Annotated[
        bool, typer.Option("--etl/--no-etl", help="also measure the ETL's time and memory")
    ] = True,
) -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    typer.echo(
        json.dumps(
            run_bench(get_settings(), seconds=seconds, pipeline=pipeline, etl=etl), indent=2, default=str
        )
    )


if __name__ == "__main__":
    typer.run(main)
