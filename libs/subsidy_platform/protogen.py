"""Generate the Python gRPC code from proto/ into the virtual environment.

Run at install time (the Makefile's bootstrap, `subsidy-admin protos`): the generated
modules (`subsidy.<svc>.v1.<svc>_pb2[_grpc]`, with typed .pyi stubs from mypy-protobuf) go to a folder inside the
environment that a `.pth` file puts on sys.path; they are never committed nor edited by
hand. Regenerating is cheap and idempotent.
"""

from __future__ import annotations

import shutil
import sys
import sysconfig
from importlib import resources
from pathlib import Path

GENERATED_DIR_NAME = "subsidy-proto-gen"


def proto_root() -> Path:
    """The repository's proto/ folder (this file is libs/subsidy_platform/protogen.py)."""
    return Path(__file__).resolve().parents[2] / "proto"


def generate(source: Path | None = None, target: Path | None = None) -> Path:
    """Compile every .proto under `source` into `target`; return the target folder."""
    from grpc_tools import protoc

    source = source or proto_root()
    target = target or Path(sys.prefix) / GENERATED_DIR_NAME
    protos = sorted(str(p.relative_to(source)) for p in source.rglob("*.proto"))
    if not protos:
        raise SystemExit(f"no .proto files under {source}")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    well_known = str(resources.files("grpc_tools") / "_proto")
    plugins = Path(sys.executable).parent
    args = [
        "protoc",
        f"-I{source}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={plugins / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={plugins / 'protoc-gen-mypy_grpc'}",
        f"--python_out={target}",
        f"--mypy_out={target}",
        f"--grpc_python_out={target}",
        f"--mypy_grpc_out={target}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for folder in [target / "subsidy", *(p for p in (target / "subsidy").rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    (target / "subsidy" / "py.typed").touch()
    pth = Path(sysconfig.get_paths()["purelib"]) / "subsidy-proto-gen.pth"
    pth.write_text(f"{target}\n", encoding="utf-8")
    return target


def main() -> None:
    print(f"generated gRPC code in {generate()}")


if __name__ == "__main__":
    main()
