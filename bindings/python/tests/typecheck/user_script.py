"""What a new user writes, checked with `mypy --strict` (scripts/test-python.sh and
tests/test_typecheck.py): `Store`, the drop-in and the result types, with no `Any` leaking.
The README's examples are this file's."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional, Tuple

from model_mapping import ModelMappingService, Store
from model_mapping.errors import InvalidPayloadError
from model_mapping.types import MappingDict, MessageSelection, Resolution


def with_store(path: str) -> Optional[str]:
    with Store(path) as store:
        stored: MappingDict = store.upsert(
            {"id": "mapping:xai", "default_model": "grok-4", "candidates": ["grok-3"]}
        )
        assert stored["candidates"] == ["grok-3", "grok-4"]
        store.update_blocked([{"model": "grok-4", "blocked": True}])
        r: Resolution = store.resolve_model_key("xai")
        model: Optional[str] = r["resolved_model"]  # "grok-3": the blocked default is skipped
        sel: MessageSelection = store.resolve_for_message(user_id="42", mapping_key="xai")
        assert sel["model"] == model
        try:
            store.upsert({"id": "mapping:xai", "candidates": "grok-3"})
        except InvalidPayloadError as e:
            assert str(e) == "invalid_payload"  # the stable code; e.detail says why
        return model


class Prompts:
    """The least `ai_service` the drop-in needs (model_mapping.service.AIService)."""

    def __init__(self) -> None:
        self.prompts: Dict[int, Dict[str, Any]] = {}

    async def get_prompt(self, prompt_id: int) -> Dict[str, Any]:
        return self.prompts[prompt_id]

    async def update_prompt(self, prompt_id: int, payload: Dict[str, Any]) -> None:
        self.prompts[prompt_id].update(payload)

    async def list_prompts(self, *, page: int, page_size: int) -> Tuple[List[Dict[str, Any]], int]:
        return list(self.prompts.values()), len(self.prompts)


async def with_the_drop_in(db: str, storage_dir: str) -> Optional[str]:
    service = ModelMappingService(Prompts(), db, storage_dir)
    try:
        await service.upsert_mapping({"scope_type": "mapping", "scope_key": "xai", "default_model": "grok-4"})
        r: Resolution = await service.resolve_model_key("xai")
        return r["resolved_model"]
    finally:
        service.close()


if __name__ == "__main__":
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        print(with_store(f"{d}/app.db"), asyncio.run(with_the_drop_in(f"{d}/svc.db", d)), file=sys.stdout)
