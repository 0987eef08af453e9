"""`python -m burnout_cli`: the `burnout` command without its console script (tests and benchmarks run it
so, with the interpreter they run under)."""

from burnout_cli.app import app

app(prog_name="burnout")
