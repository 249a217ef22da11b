"""The ctypes layer: every header function declared with matching types, the one error
mapping, string ownership, versions, and the library loading order (behaviour B17, B18)."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from ctypes import POINTER, c_bool, c_char_p, c_int32, c_int64, c_uint32, c_void_p
from pathlib import Path

import pytest

import model_mapping
from model_mapping import _ffi, errors
from model_mapping.errors import (
    InvalidInputError,
    LibraryPanicError,
    MappingNotFoundError,
    ModelMappingError,
)

from conftest import HEADER, REPO_ROOT

needs_header = pytest.mark.skipif(not HEADER.is_file(), reason="not in a checkout")

# C type (as cbindgen writes it) -> the ctypes type _ffi must declare for it.
C_TO_CTYPES = {
    "const char *": c_char_p,  # strings in; static/library-owned strings out (copied at once)
    "char **": POINTER(c_void_p),  # owned strings out: kept as raw pointers, freed by us
    "char *": c_void_p,  # mm_string_free's argument: the raw pointer
    "struct MmStore *": c_void_p,
    "MmStore *": c_void_p,
    "struct MmStore **": POINTER(c_void_p),
    "MmStore **": POINTER(c_void_p),
    "bool": c_bool,
    "bool *": POINTER(c_bool),
    "int32_t": c_int32,
    "int64_t": c_int64,
    "uint32_t": c_uint32,
    "void": None,
}


def _ctype(text: str):
    text = " ".join(text.replace("*", " * ").split()).replace("* *", "**")
    return C_TO_CTYPES[text]


def parse_header(path: Path):
    """{name: (restype, [argtypes])} for every function prototype in the header."""
    src = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S)
    src = re.sub(r"^\s*#.*$", "", src, flags=re.M)
    out = {}
    for m in re.finditer(r"([A-Za-z_][\w\s\*]*?)\b(mm_\w+)\s*\(([^)]*)\)\s*;", src):
        ret, name, params = m.group(1).strip(), m.group(2), m.group(3).strip()
        argtypes = []
        if params and params != "void":
            for p in params.split(","):
                p = " ".join(p.split())
                pm = re.fullmatch(r"(.*?)(\w+)", p)
                assert pm, p
                argtypes.append(_ctype(pm.group(1)))
        out[name] = (_ctype(ret), argtypes)
    return out


@needs_header
def test_every_header_function_is_declared_with_matching_types():
    declared = parse_header(HEADER)
    assert len(declared) >= 28, sorted(declared)
    assert set(declared) == set(_ffi.SIGNATURES), (
        f"in the header only: {sorted(set(declared) - set(_ffi.SIGNATURES))}; "
        f"in _ffi only: {sorted(set(_ffi.SIGNATURES) - set(declared))}"
    )
    for name, (restype, argtypes) in declared.items():
        want_ret, want_args = _ffi.SIGNATURES[name]
        assert want_ret == restype, f"{name}: restype {want_ret} vs header {restype}"
        assert want_args == argtypes, f"{name}: argtypes {want_args} vs header {argtypes}"
        fn = getattr(_ffi.lib, name)
        assert fn.restype == restype and list(fn.argtypes) == argtypes, name


@needs_header
def test_every_status_in_the_header_maps_to_its_exception():
    text = HEADER.read_text()
    statuses = {name: int(num) for name, num in re.findall(r"\b(MM_[A-Z0-9_]+)\s*=\s*(\d+)", text)}
    assert statuses["MM_OK"] == 0 and statuses["MM_MAPPING_NOT_FOUND"] == 3
    for name, number in statuses.items():
        code = _ffi.status_code(number)
        assert code == ("ok" if number == 0 else name[3:].lower()), (name, code)
        if number == 0:
            continue
        assert code in errors.ERRORS_BY_CODE, f"{code} has no exception class"
        exc = _ffi.error_for_status(number)
        assert isinstance(exc, ModelMappingError)
        assert exc.code == code and exc.status == number
    assert _ffi.status_code(9999) == "unknown_status"
    assert type(_ffi.error_for_status(9999)) is ModelMappingError


def test_value_errors_carry_the_bare_code_and_the_detail():
    for code in ("invalid_mapping_id", "invalid_mapping_scope", "invalid_payload", "invalid_json"):
        e = errors.error_for_code(code, f"{code}: some detail")
        assert isinstance(e, InvalidInputError) and isinstance(e, ValueError)
        assert str(e) == code and e.detail == f"{code}: some detail"
    e = errors.error_for_code("mapping_not_found", "mapping_not_found: mapping:x")
    assert isinstance(e, MappingNotFoundError) and isinstance(e, ValueError)
    assert str(e) == "mapping_not_found" and e.args == ("mapping_not_found",)
    busy = errors.error_for_code("database_busy", "database_busy: locked")
    assert not isinstance(busy, ValueError)
    assert str(busy) == "database_busy: locked" and busy.code == "database_busy"


def test_errors_from_the_library_keep_its_message(tmp_path):
    with model_mapping.Store(tmp_path / "a.db") as store:
        with pytest.raises(MappingNotFoundError) as info:
            store.activate_default("tenant:nope", "m")
        assert str(info.value) == "mapping_not_found"
        assert info.value.status == 3
        assert info.value.detail.startswith("mapping_not_found: ") and "mapping:nope" in info.value.detail
        with pytest.raises(errors.InvalidPayloadError) as info:
            store.upsert({"id": "mapping:x", "candidates": "not a list"})
        assert str(info.value) == "invalid_payload" and "candidates" in info.value.detail
        with pytest.raises(errors.InvalidMappingIdError):
            store.get("no-colon")


def test_panic_becomes_an_exception_and_the_library_stays_usable(tmp_path):
    with pytest.raises(LibraryPanicError) as info:
        _ffi.call(_ffi.lib.mm_test_panic)
    assert info.value.code == "panic" and "deliberate panic" in str(info.value)
    with model_mapping.Store(tmp_path / "a.db") as store:
        assert store.resolve_model_key("x") == {"resolved_model": "x", "hit": False}


def test_echo_round_trips_and_frees():
    for data in (b"", b"mapping:xai", "çé😀".encode(), b"x" * 1_000_000):
        assert _ffi.echo(data) == data
    with pytest.raises(errors.InvalidInputError) as info:
        _ffi.call(_ffi.lib.mm_echo, b"\xff\xfe", ctypes.byref(c_void_p()))
    assert info.value.code == "invalid_utf8"


def test_null_arguments_are_errors_not_crashes():
    with pytest.raises(InvalidInputError) as info:
        _ffi.call(_ffi.lib.mm_echo, None, ctypes.byref(c_void_p()))
    assert info.value.code == "null_argument"
    out = c_void_p()
    with pytest.raises(errors.StoreClosedError):
        _ffi.call(_ffi.lib.mm_store_resolve, 987654321, b"x", ctypes.byref(out))
    assert out.value is None  # out-params untouched on error


def test_versions():
    import sqlite3

    assert model_mapping.version() == model_mapping.__version__
    cargo = (REPO_ROOT / "Cargo.toml")
    if cargo.is_file():
        m = re.search(r'^version\s*=\s*"([^"]+)"', cargo.read_text(), re.M)
        assert m and m.group(1) == model_mapping.version()
    assert model_mapping.sqlite_version() == sqlite3.sqlite_version
    assert len(model_mapping.sqlite_source_id()) > 40


def test_strings_with_nul_or_surrogates_are_rejected_not_cut(tmp_path):
    with model_mapping.Store(tmp_path / "a.db") as store:
        store.upsert({"id": "mapping:a", "default_model": "m"})
        with pytest.raises(errors.InvalidMappingIdError):
            store.get("mapping:a\0junk")  # would silently read "mapping:a" if cut
        with pytest.raises(errors.InvalidMappingIdError):
            store.delete("mapping:a\0junk")
        assert store.get("mapping:a") is not None
        assert store.resolve_model_key("a\0b") == {"resolved_model": "a\0b", "hit": False}
        assert store.resolve_model_key("x\udc80") == {"resolved_model": "x\udc80", "hit": False}
        assert store.upsert({"id": "mapping:nul", "default_model": "m\0x"})["default_model"] == "m\0x"


# ---- loading order (behaviour B18), each in a fresh interpreter ----

def _python(code: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=str(cwd), capture_output=True, text=True, timeout=60
    )


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_MAPPING_LIB", "CARGO_TARGET_DIR", "PYTHONPATH")}
    return env


def test_env_var_wins_and_a_bad_one_is_a_clear_import_error(tmp_path):
    lib_copy = tmp_path / "copy" / _ffi.LIBRARY_NAME
    lib_copy.parent.mkdir()
    shutil.copyfile(_ffi.library_path, lib_copy)
    env = _clean_env()
    env["MODEL_MAPPING_LIB"] = str(lib_copy)
    r = _python("import model_mapping._ffi as f; print(f.library_path)", env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(lib_copy)
    env["MODEL_MAPPING_LIB"] = str(tmp_path / "missing.so")
    r = _python("import model_mapping", env, tmp_path)
    assert r.returncode != 0 and "ImportError" in r.stderr and "MODEL_MAPPING_LIB" in r.stderr


def _copy_package(dest: Path) -> Path:
    pkg = dest / "model_mapping"
    shutil.copytree(
        Path(model_mapping.__file__).parent,
        pkg,
        ignore=shutil.ignore_patterns("*.so", "*.dylib", "__pycache__"),
    )
    return pkg


def test_package_copy_then_checkout_then_import_error(tmp_path):
    env = _clean_env()
    # 1. No library anywhere: an ImportError that says how to build.
    bare = tmp_path / "bare" / "bindings" / "python"
    _copy_package(bare)
    r = _python("import model_mapping", dict(env, PYTHONPATH=str(bare)), tmp_path)
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "cargo build --release" in r.stderr
    assert "pip install ./bindings/python" in r.stderr
    # 2. A checkout layout: the crate's target/debug is found (release preferred when both).
    root = tmp_path / "checkout"
    pkg_parent = root / "bindings" / "python"
    _copy_package(pkg_parent)
    (root / "Cargo.toml").write_text("[package]\nname = \"model_mapping\"\n")
    debug = root / "target" / "debug" / _ffi.LIBRARY_NAME
    debug.parent.mkdir(parents=True)
    shutil.copyfile(_ffi.library_path, debug)
    code = "import model_mapping._ffi as f; print(f.library_path)"
    r = _python(code, dict(env, PYTHONPATH=str(pkg_parent)), tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(debug)
    release = root / "target" / "release" / _ffi.LIBRARY_NAME
    release.parent.mkdir(parents=True)
    shutil.copyfile(_ffi.library_path, release)
    r = _python(code, dict(env, PYTHONPATH=str(pkg_parent)), tmp_path)
    assert r.stdout.strip() == str(release)
    # 3. The copy inside the package wins over the checkout.
    inside = pkg_parent / "model_mapping" / _ffi.LIBRARY_NAME
    shutil.copyfile(_ffi.library_path, inside)
    r = _python(code, dict(env, PYTHONPATH=str(pkg_parent)), tmp_path)
    assert r.stdout.strip() == str(inside)


def test_installed_package_ships_py_typed_and_the_library():
    pkg = Path(model_mapping.__file__).parent
    assert (pkg / "py.typed").is_file()
    if "site-packages" in str(pkg):
        assert (pkg / _ffi.LIBRARY_NAME).is_file()
        assert Path(_ffi.library_path) == pkg / _ffi.LIBRARY_NAME


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")
def test_returned_strings_are_freed(tmp_path):
    """Each result string is handed back to mm_string_free: 60,000 calls returning ~2 KB each
    would leak over 100 MB otherwise."""
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    with model_mapping.Store(tmp_path / "a.db") as store:
        store.upsert({"id": "mapping:big", "default_model": "m", "metadata": {"blob": "x" * 2000}})
        for _ in range(2000):  # warm up allocator pools
            store.resolve_model_key("big")
        before = rss()
        for _ in range(20_000):
            store.resolve_model_key("big")
            store.get("mapping:big")
            _ffi.echo(b"y" * 2000)
        grown = rss() - before
    assert grown < 30 * 1024 * 1024, f"RSS grew by {grown // 1024} KiB"
