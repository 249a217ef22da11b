//! The data sets and the rusqlite reference shared by `benches/store.rs` and
//! `examples/profile_store.rs` (which includes this file by path), so that the instruction
//! counts and the criterion times measure the same thing.

use std::path::Path;
use std::time::{Duration, Instant};

use model_mapping::MappingInput;
use serde_json::{json, Value};

/// `n` loose items `mapping:key<i>`: a default, 3 candidates, metadata with
/// `preferred_endpoint_id`, `temperature` and `required_tier`.
pub fn items(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "id": format!("mapping:key{i}"),
                "name": format!("Mapping {i}"),
                "default_model": format!("model-{i}-a"),
                "candidates": [format!("model-{i}-a"), format!("model-{i}-b"), "shared-fallback"],
                "updated_at": "2026-01-08T02:07:59+00:00",
                "metadata": {"preferred_endpoint_id": i % 17, "temperature": 0.5, "required_tier": "pro"}
            })
        })
        .collect()
}

/// Writes a legacy storage dir into `storage`: `n` entries under the old `tenant` type and
/// `model-1-a` blocked.
pub fn write_legacy(storage: &Path, n: usize) {
    std::fs::create_dir_all(storage).unwrap();
    let tenant: serde_json::Map<String, Value> = (0..n)
        .map(|i| {
            let entry = json!({"name": format!("Mapping {i}"), "mapping": {
                "default_model": format!("model-{i}-a"),
                "candidates": [format!("model-{i}-a"), format!("model-{i}-b")],
                "is_active": true, "updated_at": "2026-01-08T02:07:59Z",
                "metadata": {"preferred_endpoint_id": i % 17}}});
            (format!("key{i}"), entry)
        })
        .collect();
    let doc = json!({ "tenant": tenant });
    std::fs::write(storage.join("model_mappings.json"), doc.to_string()).unwrap();
    std::fs::write(
        storage.join("blocked_models.json"),
        r#"{"blocked": ["model-1-a"]}"#,
    )
    .unwrap();
}

/// The durable upsert P4 times: key `i` of the 10,000, a new default and one candidate.
pub fn durable_input(i: u64) -> MappingInput {
    let mut input =
        MappingInput::new(&format!("mapping:key{}", i % 10_000), Some("model-x")).unwrap();
    input.candidates = vec!["model-y".into()];
    input
}

/// P4's reference: one `INSERT ... ON CONFLICT` + `COMMIT` on a plain rusqlite connection, with
/// a fresh `updated_at` as the library writes (an index entry moves either way).
pub fn raw_upsert(raw: &rusqlite::Connection, key: u64) {
    let tx = raw.unchecked_transaction().unwrap();
    raw_upsert_in(&tx, key);
    tx.commit().unwrap();
}

/// The statement of [`raw_upsert`], inside the caller's transaction.
pub fn raw_upsert_in(conn: &rusqlite::Connection, key: u64) {
    conn.prepare_cached(
        "INSERT INTO llm_model_mappings (id, scope_type, scope_key, name, default_model, \
         candidates_json, is_active, updated_at, metadata_json) \
         VALUES (?1, 'mapping', ?2, NULL, 'model-x', '[\"model-y\",\"model-x\"]', 1, ?3, '{}') \
         ON CONFLICT(id) DO UPDATE SET scope_type = excluded.scope_type, \
         scope_key = excluded.scope_key, name = excluded.name, \
         default_model = excluded.default_model, candidates_json = excluded.candidates_json, \
         is_active = excluded.is_active, updated_at = excluded.updated_at, \
         metadata_json = excluded.metadata_json",
    )
    .unwrap()
    .execute((
        format!("mapping:key{key}"),
        format!("key{key}"),
        model_mapping::timestamp::now(),
    ))
    .unwrap();
}

/// The columns of the rows a legacy import of `src` writes, as text, in id order: the
/// library's own plan of the file, so the floor inserts exactly what the import does.
pub fn import_rows(src: &Path) -> Vec<[String; 8]> {
    let text = std::fs::read(src.join("model_mappings.json")).unwrap();
    let plan =
        model_mapping::legacy::plan_mappings(&serde_json::from_slice(&text).unwrap()).unwrap();
    let mut rows: Vec<[String; 8]> = plan
        .mappings
        .into_iter()
        .map(|m| {
            [
                m.id,
                m.scope_type,
                m.scope_key,
                m.name.unwrap_or_default(),
                m.default_model.unwrap_or_default(),
                serde_json::to_string(&m.candidates).unwrap(),
                m.updated_at.unwrap_or_default(),
                serde_json::to_string(&m.metadata).unwrap(),
            ]
        })
        .collect();
    rows.sort();
    rows
}

/// Creates the backend's table at `path` (WAL, synchronous=FULL, as the library opens it) and
/// inserts `rows` in one transaction, 64 to a statement; how long the transaction took.
pub fn raw_insert(path: &Path, rows: &[[String; 8]]) -> Duration {
    const CHUNK: usize = 64;
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
        .unwrap();
    c.execute_batch(include_str!("../../src/sql/mappings_table.sql"))
        .unwrap();
    let sql = |k: usize| {
        format!(
            "INSERT INTO llm_model_mappings (id, scope_type, scope_key, name, default_model, \
             candidates_json, updated_at, metadata_json, is_active) VALUES {}",
            vec!["(?,?,?,?,?,?,?,?,1)"; k].join(",")
        )
    };
    let t = Instant::now();
    let tx = c.unchecked_transaction().unwrap();
    for chunk in rows.chunks(CHUNK) {
        let mut stmt = tx.prepare_cached(&sql(chunk.len())).unwrap();
        for (i, v) in chunk.iter().flatten().enumerate() {
            stmt.raw_bind_parameter(i + 1, v.as_str()).unwrap();
        }
        stmt.raw_execute().unwrap();
    }
    tx.commit().unwrap();
    t.elapsed()
}
