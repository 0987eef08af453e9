"""py-spy's collapsed stacks are counted per thread, per frame by itself and per frame with its callees."""

from __future__ import annotations

from benchmarks.profiles import read_profile, summarize, thread_name

RAW = """\
thread (101): grpc;run_forever (asyncio/base_events.py:607);Handle._run (asyncio/events.py:80) 6
thread (101): grpc;run_forever (asyncio/base_events.py:607);predict (core.py:10);score (model.py:3) 3
thread (202): MainThread;run (uvicorn/server.py:86);predict (core.py:10);predict (core.py:10) 1
"""


def test_samples_are_counted_per_thread_under_its_name():
    profile = read_profile(RAW)
    assert profile.samples == 10
    assert profile.threads == {"grpc": 9, "MainThread": 1}


def test_a_frame_counts_by_itself_only_where_it_is_the_leaf():
    profile = read_profile(RAW)
    assert profile.self_frames["Handle._run (asyncio/events.py:80)"] == 6
    assert profile.self_frames["score (model.py:3)"] == 3
    assert profile.self_frames["predict (core.py:10)"] == 1


def test_a_recursive_frame_counts_once_per_sample_with_its_callees():
    profile = read_profile(RAW)
    assert profile.inclusive_frames["predict (core.py:10)"] == 4
    assert profile.inclusive_frames["run_forever (asyncio/base_events.py:607)"] == 9


def test_a_thread_root_without_a_name_keeps_its_root():
    assert thread_name("thread (0x7f3a)") == "thread (0x7f3a)"
    assert thread_name("thread (42): grpc") == "grpc"


def test_the_summary_gives_shares_in_percent(tmp_path):
    path = tmp_path / "grpc.raw"
    path.write_text(RAW)
    text = summarize(path, top=2)
    assert "| `grpc` | 90.0 % |" in text
    assert "| `Handle._run (asyncio/events.py:80)` | 60.0 % |" in text
    assert "| `predict (core.py:10)` | 10.0 % |" not in text  # third by itself: only the top two are shown


def test_an_empty_profile_says_so(tmp_path):
    path = tmp_path / "empty.raw"
    path.write_text("")
    assert "no samples" in summarize(path, top=5)
