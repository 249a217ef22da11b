#!/usr/bin/env python3
"""A/B: the drop-in's resolve_model_key as shipped vs the same body without the B19 check
(behaviour B19), paired rounds of 10,000 calls each in alternating order; the median paired ratio."""
import asyncio, tempfile, os, timeit, statistics, inspect, textwrap, types
from model_mapping import ModelMappingService
from model_mapping import service as S


class AI:  # the least ai_service the drop-in takes; no prompt is resolved here
    def get_prompt(self, prompt_id): raise LookupError(prompt_id)
    def update_prompt(self, prompt_id, payload): raise LookupError(prompt_id)
    def list_prompts(self, *, page, page_size): return [], 0


d = tempfile.mkdtemp()
svc = ModelMappingService(AI(), os.path.join(d, "app.db"), os.path.join(d, "s"))
asyncio.run(svc.upsert_mapping({"id": "mapping:xai", "default_model": "grok-4", "candidates": ["grok-3"]}))
src = textwrap.dedent(inspect.getsource(ModelMappingService.resolve_model_key))
lines = src.splitlines()
out, skip = [], False
for ln in lines:
    if ln.strip() == "if self._lists_replaced():":
        skip = True
    if skip:
        if ln.strip() == "return await self._resolve_through_lists(key)":
            skip = False
        continue
    out.append(ln)
nocheck_src = "\n".join(out).replace("async def resolve_model_key", "async def resolve_nocheck")
assert "_lists_replaced" not in nocheck_src
ns = {}
exec(nocheck_src, vars(S), ns)
nocheck = types.MethodType(ns["resolve_nocheck"], svc)
def drive(coro):
    try:
        coro.send(None)
    except StopIteration as e:
        return e.value
    raise RuntimeError("suspended")
with_check = svc.resolve_model_key
assert drive(with_check("xai")) == drive(nocheck("xai"))
N = 10_000
ROUNDS = 61
ratios, a, b = [], [], []
for i in range(ROUNDS):
    # Paired and alternating: each round times both, in turns, so drift hits both alike.
    first, second = (with_check, nocheck) if i % 2 == 0 else (nocheck, with_check)
    t1 = timeit.timeit(lambda: drive(first("xai")), number=N)
    t2 = timeit.timeit(lambda: drive(second("xai")), number=N)
    tw, tn = (t1, t2) if first is with_check else (t2, t1)
    a.append(tw / N * 1e9)
    b.append(tn / N * 1e9)
    ratios.append(tw / tn)
print(f"with the B19 check: {statistics.median(a):.0f} ns/call; without: {statistics.median(b):.0f} "
      f"ns/call; median paired ratio {statistics.median(ratios):.3f} over {ROUNDS} rounds")
