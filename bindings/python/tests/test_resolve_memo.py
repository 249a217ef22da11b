"""The binding decodes each distinct resolve result once (``store._decode_result``, memoised by
the exact bytes the library returned). What callers rely on stays as if every call ran
``json.loads``: a fresh result per call that they may mutate, the same values and key order,
never a stale answer, and bounded memory."""

from __future__ import annotations

import json
import sqlite3
import threading
from ctypes import byref, c_void_p
from typing import Any, Callable, Iterator, List

import pytest

import model_mapping.store as store_module
from model_mapping import Store, _ffi

from conftest import run

FLAT = {"preferred_endpoint_id": 3, "temperature": 0.5, "required_tier": "pro", "beta": True, "note": None}
NESTED = {"preferred_endpoint_id": 3, "limits": {"rpm": 60, "burst": [1, 2]}, "tags": ["a", {"deep": ["x"]}]}
LISTS = {"tags": ["a", "b"], "regions": ["eu"]}


@pytest.fixture(autouse=True)
def empty_memo() -> Iterator[None]:
    # The memo is per process; start each test without entries from the others.
    store_module._memo.clear()
    yield
    store_module._memo.clear()


def raw_resolve(store: Store, key: str) -> bytes:
    """The bytes the library returns for ``key``, read without the binding's decoding."""
    out = c_void_p()
    assert _ffi.lib.mm_store_resolve(store._handle, key.encode(), byref(out)) == 0
    data = _ffi.take_string(out)
    assert data is not None
    return data


def same_json(got: Any, want: Any) -> bool:
    # `json.dumps` keeps key order and tells `true` from `1` (which `==` does not).
    return json.dumps(got) == json.dumps(want)


def fill(store: Store) -> None:
    store.upsert({"id": "mapping:flat", "default_model": "m-flat", "candidates": ["m-2"], "metadata": FLAT})
    store.upsert({"id": "mapping:nested", "default_model": "m-nested", "metadata": NESTED})
    store.upsert({"id": "mapping:lists", "default_model": "m-lists", "metadata": LISTS})
    store.upsert({"id": "mapping:bare", "default_model": "m-bare"})
    store.upsert({"id": "global:global", "default_model": "m-global", "metadata": {"endpointId": "7"}})
    store.upsert({"id": "mapping:blocked", "default_model": "b1", "candidates": ["b2"]})
    store.upsert({"id": "mapping:ünï", "default_model": "m-ünï", "metadata": {"label": "\"quoted\" \\ ✓"}})
    store.update_blocked([{"model": "b1"}, {"model": "b2"}])


KEYS = ["flat", "nested", "lists", "bare", "global:global", "blocked", "ünï", "tenant:flat", "nope", "llama3:8b", "  ", ""]


def mutate(value: Any) -> None:
    """Changes every container reachable from ``value`` in place."""
    if isinstance(value, dict):
        for item in list(value.values()):
            mutate(item)
        value["__mutated__"] = True
        for key in [k for k in value if k != "__mutated__"][:1]:
            value[key] = "changed"
    elif isinstance(value, list):
        for item in list(value):
            mutate(item)
        value.append("appended")


@pytest.mark.parametrize("key", ["flat", "nested", "lists", "bare", "global:global", "nope"])
def test_mutating_a_resolve_result_does_not_change_the_next_one(db_path, key):
    with Store(db_path) as store:
        fill(store)
        want = json.loads(raw_resolve(store, key))
        first = store.resolve_model_key(key)  # decoded now (and the memo filled)
        second = store.resolve_model_key(key)  # served from the memo
        assert first is not second
        mutate(first)
        mutate(second)
        for _ in range(3):
            again = store.resolve_model_key(key)
            assert same_json(again, want)
            mutate(again)


def test_mutating_nested_metadata_does_not_change_the_next_one(db_path):
    with Store(db_path) as store:
        fill(store)
        for key in ("flat", "nested", "lists"):
            store.resolve_model_key(key)
            r = store.resolve_model_key(key)
            r["metadata"]["added"] = 1
            for value in r["metadata"].values():
                if isinstance(value, list):
                    value.append("x")
                elif isinstance(value, dict):
                    value["added"] = 1
            r["resolved_model"] = "changed"
        assert store.resolve_model_key("flat")["metadata"] == FLAT
        assert store.resolve_model_key("nested")["metadata"] == NESTED
        assert store.resolve_model_key("lists")["metadata"] == LISTS
        assert store.resolve_model_key("flat")["resolved_model"] == "m-flat"


def test_mutating_a_resolve_for_message_result_does_not_change_the_next_one(db_path):
    with Store(db_path) as store:
        fill(store)
        store.upsert({"id": "user:7", "default_model": "u7", "is_active": False})

        def check(call: Callable[[], Any]) -> None:
            want = json.dumps(call())
            r = call()
            mutate(r)
            r["chain"].clear()
            for _ in range(2):
                again = call()
                assert json.dumps(again) == want
                mutate(again)

        check(lambda: store.resolve_for_message(user_id="7", mapping_key="flat"))
        check(lambda: store.resolve_for_message(user_id="7", mapping_key="nope"))  # falls through to global:global
        check(lambda: store.resolve_for_message(user_id="7", mapping_key="blocked"))  # mapping_empty_or_blocked
        check(lambda: store.resolve_for_message(user_id="8", prompt_id=5, prompt_mapping={"default_model": "p", "metadata": NESTED}))
        store.delete("global:global")
        check(lambda: store.resolve_for_message(user_id="7", mapping_key="nope"))  # mapping_not_found: `hit` is null


def test_a_memoised_resolve_equals_a_fresh_decode(db_path):
    with Store(db_path) as store:
        fill(store)
        for key in KEYS:
            want = json.loads(raw_resolve(store, key)) if key.strip() else None
            for _ in range(3):  # the first decodes, the next come from the memo
                got = store.resolve_model_key(key)
                if want is not None:
                    assert same_json(got, want), key
                    assert list(got) == list(want), key  # the key order of B8
                else:
                    assert got == {"resolved_model": None, "hit": False}


def test_a_repeated_resolve_is_decoded_once_unless_it_nests_deeper(db_path, monkeypatch):
    decoded: List[bytes] = []
    real_loads = store_module._loads

    def counting_loads(data: bytes) -> Any:
        decoded.append(data)
        return real_loads(data)

    monkeypatch.setattr(store_module, "_loads", counting_loads)
    with Store(db_path) as store:
        fill(store)
        decoded.clear()  # count the resolves' decodes, not the writes'
        for _ in range(5):
            store.resolve_model_key("flat")
            store.resolve_model_key("bare")
            store.resolve_for_message(user_id="7", mapping_key="flat")  # `hit` a flat dict, `chain` a list of them
        assert len(decoded) == 3
        decoded.clear()
        for _ in range(5):
            # Metadata holding containers is decoded afresh each time (see store._copy_plan).
            store.resolve_model_key("nested")
            store.resolve_model_key("lists")
        assert len(decoded) == 10


@pytest.mark.parametrize(
    "doc",
    [
        {"a": 1, "b": "x", "c": None, "d": True, "e": 0.5},
        {"m": {"k": 1}, "l": [1, "two", None], "e": [], "f": {}},
        {"chain": [{"a": 1}, {"b": False}], "hit": {"s": "p"}, "none": None},
        {"mixed": [{"a": 1}, "scalar"]},  # dicts mixed with scalars: decoded afresh
        {"deep": {"inner": {"x": [1]}}},
        {"lists": [[1], [2]]},
        {"dict_in_list_dict": [{"a": {"b": 1}}]},
        [{"top": "list"}],
        "just a string",
        None,
    ],
)
def test_any_json_shape_is_decoded_and_copied_safely(doc):
    data = json.dumps(doc).encode()
    want = json.dumps(doc)
    for _ in range(3):
        got = store_module._decode_result(data)
        assert json.dumps(got) == want
        mutate(got)
    assert json.dumps(store_module._decode_result(data)) == want


def test_every_memo_entry_decodes_its_own_bytes(db_path):
    """The memo maps bytes to what ``json.loads`` makes of those very bytes, so a changed mapping
    (different bytes) can never be answered with an old entry."""
    with Store(db_path) as store:
        fill(store)
        for key in KEYS:
            store.resolve_model_key(key)
            store.resolve_for_message(user_id="1", mapping_key=key or None)
        store.upsert({"id": "mapping:flat", "default_model": "m-new", "metadata": {"temperature": 0.9}})
        for key in KEYS:
            store.resolve_model_key(key)
        assert len(store_module._memo) > len(KEYS)
        for data, (template, plan) in store_module._memo.items():
            if plan is not None:
                assert same_json(template, json.loads(data))


def test_an_upsert_that_changes_the_mapping_is_seen_by_the_next_resolve(db_path):
    with Store(db_path) as store:
        fill(store)
        for _ in range(2):
            assert store.resolve_model_key("flat")["resolved_model"] == "m-flat"
        store.upsert({"id": "mapping:flat", "default_model": "m-new", "candidates": ["m-2"], "metadata": FLAT})
        assert store.resolve_model_key("flat")["resolved_model"] == "m-new"
        # Only a metadata value changes: the bytes differ, so does the answer.
        store.upsert({"id": "mapping:flat", "default_model": "m-new", "candidates": ["m-2"],
                      "metadata": dict(FLAT, temperature=0.7, preferred_endpoint_id=4)})
        r = store.resolve_model_key("flat")
        assert r["metadata"]["temperature"] == 0.7 and r["preferred_endpoint_id"] == 4
        store.update_blocked([{"model": "m-new"}])
        assert store.resolve_model_key("flat")["resolved_model"] == "m-2"
        store.update_blocked([{"model": "m-new", "blocked": False}])
        assert store.resolve_model_key("flat")["resolved_model"] == "m-new"
        assert store.delete("mapping:flat")
        assert store.resolve_model_key("flat") == {"resolved_model": "flat", "hit": False}

        # A write by another connection (the backend's own) too.
        store.upsert({"id": "mapping:flat", "default_model": "m-back", "metadata": FLAT})
        assert store.resolve_model_key("flat")["resolved_model"] == "m-back"
        conn = sqlite3.connect(db_path, isolation_level=None)
        try:
            conn.execute(
                "UPDATE llm_model_mappings SET default_model = 'm-sql', candidates_json = '[\"m-sql\"]' "
                "WHERE id = 'mapping:flat'"
            )
        finally:
            conn.close()
        assert store.resolve_model_key("flat")["resolved_model"] == "m-sql"


def test_an_upsert_is_seen_by_the_drop_in_resolve(service_factory):
    svc = service_factory()
    run(svc.upsert_mapping({"id": "mapping:xai", "default_model": "grok-4", "metadata": {"temperature": 0.1}}))
    for _ in range(2):
        assert run(svc.resolve_model_key("xai"))["resolved_model"] == "grok-4"
        assert run(svc.resolve_for_message(user_id="1", mapping_key="xai"))["temperature"] == 0.1
    run(svc.upsert_mapping({"id": "mapping:xai", "default_model": "grok-5", "metadata": {"temperature": 0.2}}))
    assert run(svc.resolve_model_key("xai"))["resolved_model"] == "grok-5"
    r = run(svc.resolve_for_message(user_id="1", mapping_key="xai"))
    assert r["model"] == "grok-5" and r["temperature"] == 0.2


def test_resolve_memo_is_bounded(db_path):
    limit = store_module._MEMO_MAX_ENTRIES
    with Store(db_path) as store:
        fill(store)
        # Every miss carries the client's key: each is a distinct result.
        for i in range(limit + 100):
            assert store.resolve_model_key(f"client-key-{i}")["resolved_model"] == f"client-key-{i}"
            assert len(store_module._memo) <= limit
        # A result longer than the per-entry limit is never kept.
        store_module._memo.clear()
        long_key = "k" * (store_module._MEMO_MAX_RESULT_BYTES + 1)
        assert store.resolve_model_key(long_key) == {"resolved_model": long_key, "hit": False}
        assert len(store_module._memo) == 0
        # And still correct after the memo was cleared under it.
        assert store.resolve_model_key("flat")["resolved_model"] == "m-flat"


def test_threads_sharing_the_memo_get_their_own_results(db_path):
    with Store(db_path) as store:
        fill(store)
        want = {key: json.dumps(store.resolve_model_key(key)) for key in ("flat", "nested", "lists")}
        errors: List[str] = []
        stop = threading.Event()

        def resolver(key: str) -> None:
            for _ in range(2000):
                r = store.resolve_model_key(key)
                if json.dumps(r) != want[key]:
                    errors.append(f"{key}: {r!r}")
                mutate(r)

        def churn() -> None:
            i = 0
            while not stop.is_set():  # distinct misses: fills the memo and forces clears
                store.resolve_model_key(f"churn-{i}")
                i += 1

        churner = threading.Thread(target=churn)
        churner.start()
        threads = [threading.Thread(target=resolver, args=(k,)) for k in want for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        churner.join()
        assert errors == []


class Tier(int):
    pass


class Named:
    def __str__(self) -> str:
        return 'named "x"'


@pytest.mark.parametrize(
    "user_id, mapping_key, prompt_id",
    [
        ("7", "xai", None),
        (7, None, 12),
        (None, None, None),
        ("quote\"back\\slash", "tab\tnew\nline", "nul\0ctl\x01"),
        ("ünïcødé ✓", "𝔘", "\u2028"),
        (True, False, 1.5),
        (2**70, -3, Tier(5)),
        (Named(), "", 0),
    ],
)
def test_the_resolve_for_message_request_is_what_json_dumps_writes(user_id, mapping_key, prompt_id):
    want = store_module._dumps({
        "user_id": store_module._scalar(user_id),
        "mapping_key": store_module._scalar(mapping_key),
        "prompt_id": store_module._scalar(prompt_id),
        "prompt_mapping": None,
    })
    assert store_module._message_request(user_id, mapping_key, prompt_id) == want
    assert want == json.dumps({
        "user_id": store_module._scalar(user_id),
        "mapping_key": store_module._scalar(mapping_key),
        "prompt_id": store_module._scalar(prompt_id),
        "prompt_mapping": None,
    }, ensure_ascii=False, default=str).encode("utf-8")


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": 1, "b": "\\u00e9t\\u00e9", "c": [1.5, -2, 12345678901234567890], "d": null}',
        '{"k": "été ☃", "n": {"x": [true, false]}}'.encode(),
        b"[]",
        b'"text"',
        b"0",
    ],
)
def test_library_output_decodes_as_json_loads_would(data):
    assert _ffi.loads_output(data) == json.loads(data)


@pytest.mark.parametrize("data", [b"", b"{", b'{"a": }', b"\xff\xfe", b"nul"])
def test_undecodable_library_output_raises_what_json_loads_raises(data):
    with pytest.raises(ValueError):
        _ffi.loads_output(data)
