"""The `burnout` command line: a thin Typer layer over the library, the service and the development tools."""
