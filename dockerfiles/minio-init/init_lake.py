"""Prepare MinIO for the platform (the `minio-init` one-shot service of docker-compose.yaml).

Creates the lake buckets (BURNOUT_RAW_BUCKET, BURNOUT_PROCESSED_BUCKET, BURNOUT_PREDICTIONS_BUCKET where
the API logs every prediction, BURNOUT_FEEDBACK_BUCKET where POST /feedback stores outcomes) and any extra
bucket given with
`--bucket` (MLflow's artifacts), then uploads every `*.csv` of `--data-dir` to the raw bucket under its file
name (a lone CSV also as BURNOUT_RAW_KEY, the object the ETL reads). When the folder holds no CSV,
`burnout generate-data` writes the synthetic dataset first, as BURNOUT_RAW_KEY. Safe to run again: existing
buckets are kept, unchanged files are not uploaded again, a changed file replaces its object (the ETL then
publishes a new dataset version). Prints one JSON summary on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

from burnout_base.settings import Settings, get_settings
from etl.s3_lake import s3_lake_from_settings

log = logging.getLogger("init_lake")


def init_lake(
    settings: Settings, data_dir: Path, extra_buckets: list[str], work_dir: Path, rows: int | None = None
) -> dict:
    """Create the buckets and upload the dataset; return what was created and uploaded."""
    if settings.lake_backend != "s3":
        raise SystemExit("init_lake needs BURNOUT_LAKE_BACKEND=s3 and the BURNOUT_S3_* variables")
    lake = s3_lake_from_settings(settings)
    buckets = [
        settings.raw_bucket,
        settings.processed_bucket,
        settings.predictions_bucket,
        settings.feedback_bucket,
        *extra_buckets,
    ]
    created = [bucket for bucket in dict.fromkeys(buckets) if lake.ensure_bucket(bucket)]
    csvs = sorted(data_dir.glob("*.csv"))
    generated = None
    if not csvs:
        generated = generate_dataset(work_dir / settings.raw_key, rows)
        csvs = [generated]
    uploads = {path.name: path for path in csvs}
    if settings.raw_key not in uploads:
        if len(csvs) == 1:
            # The ETL reads the raw object BURNOUT_RAW_KEY; a lone CSV is that dataset whatever its name.
            uploads[settings.raw_key] = csvs[0]
        else:
            log.warning(
                "several CSVs in %s and none named %s: set BURNOUT_RAW_KEY to the one the ETL should read",
                data_dir,
                settings.raw_key,
            )
    bucket = settings.raw_bucket
    uploaded = [key for key, path in uploads.items() if lake.write_if_changed(bucket, key, path.read_bytes())]
    for key in uploads:
        log.info("s3://%s/%s %s", bucket, key, "uploaded" if key in uploaded else "is up to date")
    return {
        "buckets_created": created,
        "generated": str(generated) if generated else None,
        "uploaded": uploaded,
        "unchanged": [key for key in uploads if key not in uploaded],
    }


def generate_dataset(out: Path, rows: int | None) -> Path:
    """Write the synthetic dataset with the project's own command, as a user would."""
    command = shutil.which("burnout")
    if command is None:
        raise SystemExit("the `burnout` command is not installed in this image")
    out.parent.mkdir(parents=True, exist_ok=True)
    args = [command, "generate-data", "--out", str(out)] + (["--rows", str(rows)] if rows else [])
    log.info("no CSV in the data folder: generating the synthetic dataset (%s)", " ".join(args))
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="folder of CSVs to upload")
    parser.add_argument("--bucket", action="append", default=[], help="extra bucket to create (repeatable)")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path.home() / "generated",
        help="where the synthetic dataset is written when --data-dir has no CSV",
    )
    parser.add_argument("--rows", type=int, default=None, help="rows of the synthetic dataset")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    summary = init_lake(get_settings(), args.data_dir, args.bucket, args.work_dir, args.rows)
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
