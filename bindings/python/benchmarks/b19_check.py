#!/usr/bin/env python3
"""A/B: the drop-in's resolve_model_key as shipped vs the same body without the B19 check,
interleaved, 20 rounds of 50,000 calls each, median ns/call."""
import asyncio, tempfile, os, timeit, statistics, inspect, textwrap, types
from model_mapping import ModelMappingService
from model_mapping import service as S
class AI: pass
d = tempfile.mkdtemp()
svc = ModelMappingService(AI(), os.path.join(d, "app.db"), os.path.join(d, "s"))
asyncio.run(svc.upsert_mapping({"id": "mapping:xai", "default_model": "grok-4", "candidates": ["grok-3"]}))
src = textwrap.dedent(inspect.getsource(ModelMappingService.resolve_model_key))
start = src.index("        cls = type(self)") if "        cls = type(self)" in src else None
lines = src.splitlines()
out, skip = [], False
for ln in lines:
    if ln.strip().startswith("# `_lists_replaced()` written out") or ln.strip().startswith("# than the four tests"):
        continue
    if ln.strip() == "cls = type(self)":
        skip = True
    if skip:
        if ln.strip() == "return await self._resolve_through_lists(key)":
            skip = False
        continue
    out.append(ln)
nocheck_src = "\n".join(out).replace("async def resolve_model_key", "async def resolve_nocheck")
assert "_OWN_LIST" not in nocheck_src
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
N = 50000
a, b = [], []
for _ in range(20):
    a.append(timeit.timeit(lambda: drive(with_check("xai")), number=N) / N * 1e9)
    b.append(timeit.timeit(lambda: drive(nocheck("xai")), number=N) / N * 1e9)
ma, mb = statistics.median(a), statistics.median(b)
print(f"with the B19 check: {ma:.0f} ns/call; without: {mb:.0f} ns/call; ratio {ma/mb:.3f}")
