"""The whole job in one run, through the drop-in ``ModelMappingService`` (what the backend uses):
migrate the sample legacy storage dir into a fresh SQLite database, then resolve a few keys the
way the gateway does on every request. The same steps as examples/quickstart.rs.

    python examples/python/quickstart.py [DB_PATH] [STORAGE_DIR]

The same arguments, in the same order, as the Rust and C quickstarts. The legacy files of
STORAGE_DIR (default: the sample ``examples/data/ai_runtime``) are copied into a temporary
directory first: the migration writes its marker file beside them, and the sample must stay as
it is. Without DB_PATH the database is created there too. The temporary directory is removed at
the end; a DB_PATH you give stays.

Needs the package (``pip install ./bindings/python``) or a built library in the checkout
(``cargo build --release``; run from anywhere, the checkout's bindings are found).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[2]
try:
    import model_mapping
except ImportError:  # not installed: use the checkout's bindings (and its target/ build)
    sys.path.insert(0, str(ROOT / "bindings" / "python"))
    import model_mapping

from model_mapping import ModelMappingService

MAPPING_KEY = "__model_mapping"


class TinyAIService:
    """Just enough of the backend's AIConfigService: one prompt record that carries a mapping."""

    def __init__(self) -> None:
        self.prompts: Dict[int, Dict[str, Any]] = {
            1: {
                "id": 1,
                "name": "Code review",
                "version": "v2",
                "category": "engineering",
                "tools_json": {
                    MAPPING_KEY: {
                        "candidates": ["claude-sonnet-4-5", "gpt-4o"],
                        "default_model": "claude-sonnet-4-5",
                        "is_active": True,
                        "updated_at": "2026-01-08T00:00:00+00:00",
                        "metadata": {"temperature": 0.1},
                    }
                },
            }
        }

    async def get_prompt(self, prompt_id: int) -> Dict[str, Any]:
        return dict(self.prompts[prompt_id])

    async def update_prompt(self, prompt_id: int, patch: Dict[str, Any]) -> None:
        self.prompts[prompt_id].update(patch)

    async def list_prompts(self, page: int = 1, page_size: int = 100) -> Tuple[List[Dict[str, Any]], int]:
        items = list(self.prompts.values())
        return items[(page - 1) * page_size : page * page_size], len(items)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="model_mapping_quickstart_py_"))
    db = Path(sys.argv[1]) if len(sys.argv) > 1 else tmp / "app.db"
    try:
        await run(tmp, db)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def run(tmp: Path, db: Path) -> None:
    db.unlink(missing_ok=True)  # a fresh database every run
    source = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "examples" / "data" / "ai_runtime"
    # Work on a copy: the migration writes its marker file into the storage dir.
    storage_dir = tmp / "ai_runtime"
    storage_dir.mkdir()
    for name in ("model_mappings.json", "blocked_models.json"):
        shutil.copyfile(source / name, storage_dir / name)

    print(f"model_mapping {model_mapping.version()} on SQLite {model_mapping.sqlite_version()}")
    print(f"library:     {model_mapping._ffi.library_path}")
    print(f"database:    {db}")
    print(f"storage dir: {storage_dir}\n")

    # Nothing happens here; the first call opens the store and runs the legacy migration.
    service = ModelMappingService(TinyAIService(), db, storage_dir)
    try:
        mappings = await service.list_mappings()
        print("migration report:")
        print(json.dumps(await service.last_migration(), indent=2, ensure_ascii=False), "\n")

        print("mappings (prompt records first, then SQLite):")
        for m in mappings:
            print(f"  {m['id']:<22} source={m['source']:<6} default={m['default_model'] or '-':<28} "
                  f"active={m['is_active']} candidates={m['candidates']}")
        print(f"blocked: {await service.list_blocked_models()}\n")

        print("resolve_model_key:")
        for key in ["xai", "mapping:claude", "tenant:deepseek", "old-experiment", "prompt:1",
                    "llama3:8b", "openai/gpt-4o:free"]:
            print(f"  {key:<20} -> {dumps(await service.resolve_model_key(key))}")

        print("\nresolve_for_message:")
        requests = [
            ("user 42", dict(user_id="42", tenant_id="xai")),
            ("user 7, key xai", dict(user_id="7", tenant_id="xai")),
            ("user 7, no key", dict(user_id="7")),
            ("user 7, prompt 1", dict(user_id="7", tenant_id="xai", prompt_id=1)),
        ]
        for label, kwargs in requests:
            print(f"  {label:<16} -> {dumps(await service.resolve_for_message(**kwargs))}")

        print('\nwhy does "xai" go where it goes?')
        print(json.dumps(await service.explain("xai"), indent=2, ensure_ascii=False))

        print(f"\nhealth: {dumps(await service.health())}")
    finally:
        service.close()

    # A second service on the same database finds the migration recorded and does nothing.
    again = ModelMappingService(TinyAIService(), db, storage_dir)
    try:
        status = (await again.last_migration() or {}).get("status")
        print(f"\nreopened: migration status {status}")
    finally:
        again.close()


if __name__ == "__main__":
    asyncio.run(main())
