"""Build hook: `pip install ./bindings/python` (from the repository root) runs
`cargo build --release` in the crate and ships target/release/libmodel_mapping.so inside the
package, so the installed package needs nothing else.

Environment:
- CARGO: the cargo binary (default: `cargo` on PATH, else ~/.cargo/bin/cargo).
- CARGO_TARGET_DIR: honoured, as cargo does.
- MODEL_MAPPING_LIB_PREBUILT: copy this already-built library instead of running cargo.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

try:  # setuptools >= 70.1 ships bdist_wheel itself
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover - older setuptools
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
CRATE_ROOT = HERE.parent.parent
if sys.platform == "darwin":
    LIBRARY_NAME = "libmodel_mapping.dylib"
else:
    LIBRARY_NAME = "libmodel_mapping.so"


def _cargo() -> str:
    explicit = os.environ.get("CARGO")
    if explicit:
        return explicit
    found = shutil.which("cargo")
    if found:
        return found
    home = Path.home() / ".cargo" / "bin" / "cargo"
    if home.is_file():
        return str(home)
    raise RuntimeError(
        "model_mapping: cargo was not found; install Rust (https://rustup.rs) or set CARGO, "
        "or set MODEL_MAPPING_LIB_PREBUILT to an already-built " + LIBRARY_NAME
    )


def build_library() -> Path:
    """Runs `cargo build --release` in the crate root; returns the built library's path."""
    prebuilt = os.environ.get("MODEL_MAPPING_LIB_PREBUILT")
    if prebuilt:
        return Path(prebuilt)
    if not (CRATE_ROOT / "Cargo.toml").is_file():
        raise RuntimeError(
            f"model_mapping: no Cargo.toml in {CRATE_ROOT}; build from a checkout of the "
            "repository (`pip install ./bindings/python` from its root)"
        )
    subprocess.run([_cargo(), "build", "--release"], cwd=CRATE_ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR")
    target_dir = Path(target) if target else CRATE_ROOT / "target"
    if not target_dir.is_absolute():
        target_dir = CRATE_ROOT / target_dir
    lib = target_dir / "release" / LIBRARY_NAME
    if not lib.is_file():
        raise RuntimeError(f"model_mapping: cargo finished but {lib} does not exist")
    return lib


class BuildPyWithLibrary(build_py):
    """build_py, then the Rust library copied into the package."""

    def run(self) -> None:
        super().run()
        lib = build_library()
        dest = Path(self.build_lib) / "model_mapping" / LIBRARY_NAME
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lib, dest)
        os.chmod(dest, 0o755)


class PlatformWheel(bdist_wheel):
    """The wheel holds a native library (platform-specific) but no Python extension module,
    so it fits every Python 3: tag it py3-none-<platform>."""

    def finalize_options(self) -> None:
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):  # type: ignore[no-untyped-def]
        _python, _abi, plat = super().get_tag()
        return "py3", "none", plat


setup(cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": PlatformWheel})
