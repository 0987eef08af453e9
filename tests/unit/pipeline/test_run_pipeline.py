"""run_pipeline is the loop over the declared steps: each step reads the outputs it takes, a per-family step
runs once per family, the timed ones are timed under their names, and the result is the summary step's."""

from __future__ import annotations

import pytest

import pipeline.run
from modeling.families import FAMILIES
from pipeline.steps import STEPS, Step


def test_run_pipeline_runs_the_declared_steps_in_order_and_times_them(monkeypatch, settings):
    calls = []

    def prepare(settings, request):
        calls.append("prepare")
        return {"input": request["input"]}

    def train(settings, family, dataset):
        calls.append(family)
        return {"family": family, "input": dataset["input"]}

    def summarize(settings, families, seconds, started_at):
        return {"families": families, "seconds": dict(seconds), "started_at": started_at}

    monkeypatch.setattr(
        pipeline.run,
        "STEPS",
        (
            Step("prepare", prepare, ("request",), "dataset", (), timed_as="etl"),
            Step("train", train, ("dataset",), "families", (), timed_as="train_{family}", per_family=True),
            Step("summarize", summarize, ("families", "seconds", "started_at"), "summary", ()),
        ),
    )

    summary = pipeline.run.run_pipeline(settings, input="in.csv")

    assert calls == ["prepare", *FAMILIES]
    assert summary["families"] == {f: {"family": f, "input": "in.csv"} for f in FAMILIES}
    assert set(summary["seconds"]) == {"etl", *(f"train_{f}" for f in FAMILIES)}


def test_declared_steps_take_only_what_comes_before_them():
    available = {"request", "seconds", "started_at"}
    for step in STEPS:
        assert set(step.takes) <= available, step.name
        available.add(step.gives)
    assert STEPS[-1].name == "summarize"


@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.name)
def test_each_step_function_is_named_as_declared(step):
    assert step.run.__name__ == step.name
