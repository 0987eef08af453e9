"""`burnout stream-worker` in a process of its own, for the kill test, with a pickled pipeline as the champion
(no MLflow). Settings come from the BURNOUT_* environment; --metrics-port 0 (the default) serves no metrics.
With --pause-file, the worker writes the ids of the
first batch it reads to that file and then hangs before scoring it: the test kills it there, mid-batch."""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from burnout_api.core import LoadedModel, ModelMetadata
from burnout_api.stream_worker import StreamWorker, run_stream_worker
from burnout_base.settings import Settings


class PickledStore:
    """The ModelStore interface over one pickled pipeline, served as version 1 under alias champion."""

    name = "burnout-risk"

    def __init__(self, path: Path):
        self.pipeline = pickle.loads(path.read_bytes())

    def fetch_aliases(self) -> dict[str, int]:
        return {"champion": 1}

    def load_version(self, version: int) -> LoadedModel:
        metadata = ModelMetadata(version, "lightgbm", None, None, {}, datetime.now(UTC))
        return LoadedModel(self.pipeline, metadata)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipeline", type=Path, required=True)
    parser.add_argument("--pause-file", type=Path)
    parser.add_argument("--metrics-port", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    if args.pause_file is not None:
        handle = StreamWorker.handle

        def hang_first(self, entries):
            args.pause_file.write_text("\n".join(entry.id for entry in entries))
            time.sleep(600)
            return handle(self, entries)

        StreamWorker.handle = hang_first
    totals = run_stream_worker(Settings(), store=PickledStore(args.pipeline), metrics_port=args.metrics_port)
    print(json.dumps(totals))


if __name__ == "__main__":
    main()
