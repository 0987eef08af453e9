"""Generate the gRPC stubs from the .proto files beside this module into `burnout_api/grpc_gen/`.

Run at install and image build time (`make proto`, the Dockerfile); the stubs are never committed.
"""

from __future__ import annotations

import logging
import sys
from importlib.resources import files
from pathlib import Path

from grpc_tools import protoc

log = logging.getLogger(__name__)


def generate() -> Path:
    protos = Path(str(files("burnout_api.protos")))
    package_root = protos.parent.parent
    out = protos.parent / "grpc_gen"
    out.mkdir(exist_ok=True)
    (out / "__init__.py").touch()
    grpc_include = Path(str(files("grpc_tools") / "_proto"))
    # Protos import each other as `burnout_api/grpc_gen/<name>.proto`-relative modules, so compile them from a
    # copy under grpc_gen/: the generated imports then read `from burnout_api.grpc_gen import x_pb2`.
    for proto in sorted(protos.glob("*.proto")):
        (out / proto.name).write_text(proto.read_text())
        rel = (out / proto.name).relative_to(package_root)
        code = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{package_root}",
                f"-I{grpc_include}",
                f"--python_out={package_root}",
                f"--pyi_out={package_root}",
                f"--grpc_python_out={package_root}",
                str(rel),
            ]
        )
        if code != 0:
            raise RuntimeError(f"protoc failed on {proto}")
        log.info("generated stubs for %s", proto.name)
    return out


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    generate()
    sys.exit(0)
