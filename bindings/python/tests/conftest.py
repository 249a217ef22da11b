"""Shared fixtures: a fake of the backend's ``ai_service`` holding prompt records, the sample
legacy storage dir, and a runner for async tests (plain ``asyncio.run``, no plugin)."""

from __future__ import annotations

import asyncio
import copy
import shutil
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, TypeVar

import pytest

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[3]
SAMPLE_STORAGE = REPO_ROOT / "examples" / "data" / "ai_runtime"
HEADER = REPO_ROOT / "include" / "model_mapping.h"


def run(coro: Awaitable[T]) -> T:
    """Runs one coroutine on a fresh event loop."""
    return asyncio.run(coro)  # type: ignore[arg-type]


class FakeAIService:
    """The parts of the backend's AIConfigService the drop-in uses, in memory."""

    def __init__(
        self,
        prompts: Optional[List[Dict[str, Any]]] = None,
        endpoints: Optional[List[Dict[str, Any]]] = None,
        remote: Any = None,
    ) -> None:
        self.prompts: Dict[int, Dict[str, Any]] = {}
        for p in prompts or []:
            self.add_prompt(**p)
        self.endpoints = endpoints or []
        self.remote = remote if remote is not None else []
        self.updates: List[Tuple[int, Dict[str, Any]]] = []
        self.list_calls: List[Tuple[int, int]] = []
        self.backups: List[Tuple[str, Any]] = []
        self.pushed: List[Tuple[Any, bool]] = []
        self.backup_error: Optional[BaseException] = None
        self.total_override: Any = "unset"

    def add_prompt(
        self,
        id: int,
        name: Optional[str] = None,
        tools_json: Any = None,
        version: Any = "v1",
        category: Any = "chat",
    ) -> None:
        self.prompts[id] = {
            "id": id,
            "name": name or f"prompt {id}",
            "version": version,
            "category": category,
            "tools_json": tools_json,
        }

    async def get_prompt(self, prompt_id: int) -> Dict[str, Any]:
        if prompt_id not in self.prompts:
            raise ValueError("prompt_not_found")
        return copy.deepcopy(self.prompts[prompt_id])

    async def update_prompt(self, prompt_id: int, patch: Dict[str, Any]) -> Dict[str, Any]:
        if prompt_id not in self.prompts:
            raise ValueError("prompt_not_found")
        self.updates.append((prompt_id, copy.deepcopy(patch)))
        self.prompts[prompt_id].update(copy.deepcopy(patch))
        return copy.deepcopy(self.prompts[prompt_id])

    async def list_prompts(self, page: int = 1, page_size: int = 20) -> Tuple[List[Dict[str, Any]], Any]:
        self.list_calls.append((page, page_size))
        ordered = [self.prompts[k] for k in sorted(self.prompts)]
        start = (page - 1) * page_size
        total = len(ordered) if self.total_override == "unset" else self.total_override
        return copy.deepcopy(ordered[start : start + page_size]), total

    async def list_endpoints(self, only_active: bool = True, page: int = 1, page_size: int = 20) -> Tuple[List[Dict[str, Any]], int]:
        assert (only_active, page, page_size) == (True, 1, 200)
        return copy.deepcopy(self.endpoints), len(self.endpoints)

    async def push_model_mappings_to_supabase(self, mappings: Any, delete_missing: bool = False) -> Dict[str, Any]:
        self.pushed.append((copy.deepcopy(mappings), delete_missing))
        return {"status": "pushed", "pushed_count": len(mappings), "delete_missing": delete_missing}

    async def fetch_model_mappings_from_supabase(self) -> Any:
        if isinstance(self.remote, BaseException):
            raise self.remote
        return copy.deepcopy(self.remote)

    async def write_backup(self, name: str, items: Any) -> None:
        if self.backup_error is not None:
            raise self.backup_error
        self.backups.append((name, copy.deepcopy(items)))


@pytest.fixture
def fake_ai() -> FakeAIService:
    return FakeAIService()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "app.db"


@pytest.fixture
def storage_dir(tmp_path: Path) -> Path:
    """An empty storage dir (no legacy files)."""
    d = tmp_path / "ai_runtime_empty"
    d.mkdir()
    return d


@pytest.fixture
def sample_storage(tmp_path: Path) -> Path:
    """A copy of the shipped sample legacy storage dir (the migration writes a marker)."""
    d = tmp_path / "ai_runtime"
    shutil.copytree(SAMPLE_STORAGE, d)
    return d


@pytest.fixture
def service_factory(fake_ai: FakeAIService, db_path: Path, storage_dir: Path) -> Callable[..., Any]:
    from model_mapping import ModelMappingService

    made: List[Any] = []

    def make(ai: Any = None, db: Any = None, storage: Any = None, **kwargs: Any) -> Any:
        svc = ModelMappingService(
            ai if ai is not None else fake_ai,
            db if db is not None else db_path,
            storage if storage is not None else storage_dir,
            **kwargs,
        )
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close()
