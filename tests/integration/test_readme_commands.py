"""The README and every page under docs/ work as written: every `make` target and `burnout` command (with its
options) they show exists, every gRPC name they give is a served one, every repository path, module and
relative link they point at exists, and every curl and grpcurl call they print answers, run as printed against
a real `burnout serve` (only the host and port are replaced). A failure names the page and the command."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import grpc
import httpx
import pytest
import typer
from google.protobuf import json_format
from serving_support import register_synthetic_model, wait_for

from burnout_cli.app import app
from burnout_dev.processes import free_port, stop_process_tree

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BURNOUT = Path(sys.executable).parent / "burnout"
# The project's own packages (tests/static/test_import_layers.py has their floors): a dotted name a page gives
# in backticks, e.g. `modeling.scoring`, must be one of their modules.
PACKAGES = (
    "burnout_base",
    "etl",
    "modeling",
    "monitoring",
    "pipeline",
    "dag_helpers",
    "burnout_api",
    "burnout_dev",
    "burnout_cli",
    "benchmarks",
)
# Top folders of the repository: a path a page gives in backticks under one of them must exist.
FOLDERS = (
    "airflow",
    "fastapi",
    "tools",
    "benchmarks",
    "tests",
    "dockerfiles",
    "requirements",
    "docs",
    "deploy",
)


def name(page: Path) -> str:
    return str(page.relative_to(REPO))


def code_blocks(text: str, languages: tuple[str, ...] = ("", "bash", "sh")) -> list[str]:
    """The bodies of the fenced blocks of `text` in `languages` (no language counts as shell)."""
    blocks, body, language = [], None, ""
    for line in text.splitlines(keepends=True):
        fence = re.match(r"\s*```(\w*)", line)
        if fence and body is None:
            body, language = [], fence.group(1)
        elif fence:
            if language in languages:
                blocks.append("".join(body))
            body = None
        elif body is not None:
            body.append(line)
    return blocks


def commands(text: str, program: str) -> list[str]:
    """The commands of `text`'s code blocks that run `program` (by name or from .venv/bin; continuation lines
    joined, comments cut)."""
    found = []
    for block in code_blocks(text):
        for command in block.replace("\\\n", " ").splitlines():
            command = command.split("  #")[0].split(" # ")[0].strip()
            command = command.removeprefix(".venv/bin/")
            if command.startswith(f"{program} "):
                found.append(command)
    return found


def inline_commands(text: str, program: str) -> list[str]:
    return [f"{program} {c}" for c in re.findall(rf"`(?:\.venv/bin/)?{program} ([a-z][^`]*)`", text)]


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_make_target_shown_exists(page):
    text = page.read_text()
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, flags=re.M))
    shown = commands(text, "make") + inline_commands(text, "make")
    unknown = [command for command in shown if command.split()[1] not in targets]
    assert not unknown, f"{name(page)} shows {unknown}: no such make target"


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_burnout_command_and_option_shown_exists(page):
    text = page.read_text()
    cli = typer.main.get_command(app)
    for command in commands(text, "burnout") + inline_commands(text, "burnout"):
        words = command.split()
        assert words[1] in cli.commands, f"{name(page)} shows `{command}`: no command {words[1]!r}"
        params = cli.commands[words[1]].params
        options = {opt for param in params for opt in (*param.opts, *param.secondary_opts)}
        for word in words[2:]:
            option = word.strip("[]").split("=")[0]
            if option.startswith("--"):
                assert option in options, f"{name(page)} shows `{command}`: {words[1]} has no {option}"


def test_the_pages_show_the_command_line():
    shown = [c for page in PAGES for c in commands(page.read_text(), "burnout")]
    assert len(shown) >= 10


def served_grpc_methods() -> dict[str, set[str]]:
    """Every gRPC service the API serves (full name) -> its method names."""
    from tritonclient.grpc import service_pb2 as v2

    from burnout_api.grpc_gen import burnout_pb2

    return {
        service.full_name: {method.name for method in service.methods}
        for descriptor in (burnout_pb2.DESCRIPTOR, v2.DESCRIPTOR)
        for service in descriptor.services_by_name.values()
    }


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_grpc_names_in_the_pages_are_the_served_ones(page):
    text = page.read_text()
    served = served_grpc_methods()
    named = re.findall(r"\b((?:burnout\.v1|inference)\.[A-Z]\w*)(?:/(\w+))?", text)
    for service, method in named:
        assert service in served, f"{name(page)} names {service}: served are {sorted(served)}"
        assert not method or method in served[service], (
            f"{name(page)} names {service}/{method}: no such method"
        )


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_repository_path_and_module_named_exists(page):
    text = page.read_text()
    paths = re.findall(rf"`((?:{'|'.join(FOLDERS)})/[^`\s]*)`", text)
    missing = [p for p in paths if not re.search(r"[<*…]", p) and not (REPO / p.rstrip("/")).exists()]
    assert not missing, f"{name(page)} names paths that do not exist: {missing}"
    modules = re.findall(rf"`((?:{'|'.join(PACKAGES)})(?:\.\w+)+)`", text)
    unknown = [module for module in modules if importlib.util.find_spec(module) is None]
    assert not unknown, f"{name(page)} names modules that do not exist: {unknown}"


def anchors(text: str) -> set[str]:
    """GitHub's anchors for the headings of a page: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", "\n".join(b for b in re.split(r"```.*?```", text, flags=re.S)), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("page", PAGES, ids=name)
def test_every_relative_link_reaches_its_page_and_heading(page):
    text = page.read_text()
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target} (no file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            broken.append(f"{target} (no heading #{anchor})")
    assert not broken, f"{name(page)} links nowhere: {broken}"


@pytest.fixture
def service(make_settings):
    """`burnout serve` as users start it, on a fresh embedded home holding one registered model."""
    settings = make_settings()
    register_synthetic_model(settings, "lightgbm", ("lightgbm", "champion"))
    port, grpc_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BURNOUT_", "AIRFLOW"))}
    env.update(
        BURNOUT_HOME=str(settings.home),
        BURNOUT_RELOAD_TOKEN="readme-test",
        BURNOUT_API_PORT=str(port),
        BURNOUT_GRPC_PORT=str(grpc_port),
        BURNOUT_PREDICTION_LOG_ENABLED="false",
    )
    process = subprocess.Popen(
        [str(BURNOUT), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return process.poll() is not None  # exited: stop waiting, the assertion below says so

    try:
        wait_for(ready, timeout=90)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        yield {"http": f"127.0.0.1:{port}", "grpc": f"127.0.0.1:{grpc_port}"}
    finally:
        stop_process_tree(process.pid)


def calls(program: str) -> list[tuple[str, str]]:
    """(page, call) for every code block of every page that is one call of `program` to the local service.
    A call's JSON body spans lines inside its quotes: each block is run whole, as a user pastes it."""
    return [
        (name(page), block.strip())
        for page in PAGES
        for block in code_blocks(page.read_text())
        if block.startswith(f"{program} ") and ("localhost:8800" in block or "localhost:50051" in block)
    ]


def assert_answers_a_class(page: str, call: str, body: dict) -> None:
    if "/feedback" in call:  # outcomes, not predictions: every one stored
        assert body.get("accepted", 0) >= 1, f"{page}: `{call}` answered {body}"
        return
    if "/v2/" in call:  # the Open Inference Protocol: the class is the first output's first value
        classes = body["outputs"][0]["data"]
    elif "/graphql" in call:
        classes = [p["class"] for p in body["data"]["predict"]["predictions"]]
    else:
        classes = [p["class"] for p in body["predictions"]]
    assert classes and set(classes) <= {"Low", "Medium", "High"}, f"{page}: `{call}` answered {body}"


def test_the_curl_calls_of_every_page_answer_as_printed(service):
    printed = calls("curl")
    pages = {page for page, _ in printed}
    assert len(printed) >= 6 and {"README.md", "docs/api.md"} <= pages  # REST, GraphQL and V2, twice
    for page, call in printed:
        answer = subprocess.run(
            ["bash", "-c", call.replace("localhost:8800", service["http"])],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert answer.returncode == 0, f"{page}: `{call}` failed: {answer.stderr}"
        assert_answers_a_class(page, call, json.loads(answer.stdout))
    rest = next(call for page, call in printed if page == "README.md" and "/predict " in call)
    explained = subprocess.run(
        ["bash", "-c", rest.replace("localhost:8800/predict", f"'{service['http']}/predict?explain=true'")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(explained.stdout)["predictions"][0]["explanation"]["top_factors"]


def test_the_grpcurl_calls_of_every_page_answer_as_printed(service):
    """grpcurl itself is not installed here: each call's JSON is parsed into the method's request message, as
    grpcurl does, and sent to the same method by a Python client."""
    from google.protobuf import descriptor_pool, message_factory

    from burnout_api.grpc_gen import burnout_pb2  # noqa: F401 (puts BurnoutRisk's messages in the pool)

    printed = calls("grpcurl")
    assert {page for page, _ in printed} >= {"README.md", "docs/api.md"}
    channel = grpc.insecure_channel(service["grpc"])
    for page, call in printed:
        words = shlex.split(call.replace("\\\n", " "))
        full_method = words[-1]
        service_name, method_name = full_method.split("/")
        method = descriptor_pool.Default().FindServiceByName(service_name).methods_by_name[method_name]
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        request = json_format.Parse(words[words.index("-d") + 1], request_class())
        answer = channel.unary_unary(
            f"/{full_method}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )(request, timeout=30)
        classes = [p.class_name for p in answer.predictions]
        assert classes and set(classes) <= {"Low", "Medium", "High"}, f"{page}: `{call}` answered {answer}"
    channel.close()
