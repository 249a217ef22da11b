//! behaviour B11 and B14 together: every item of a batch write (`import_items`, `apply_snapshot`)
//! sees what the items before it did, whatever rows the host wrote, and the cache always shows
//! what the table holds under the B11 reading rules.

mod common;

use std::collections::BTreeMap;

use common::{fresh, RawRow};
use model_mapping::Store;
use rusqlite::Connection;
use serde_json::json;

/// A host row filed under another mapping than its `id` says (`id` mapping:a, scope key b):
/// reads show it as mapping:b.
fn disagreeing_row(host: &Connection) {
    RawRow::new("mapping:a", "mapping", "b")
        .default_model("host-b")
        .insert(host);
}

#[test]
fn a_batch_import_keeps_a_mapping_whose_row_an_earlier_item_took_over() {
    let db = fresh();
    let store = db.open();
    disagreeing_row(&db.sql());
    let report = store
        .import_items(&[
            json!({"id": "mapping:a", "default_model": "new-a"}),
            json!({"id": "mapping:b", "default_model": "new-b"}),
        ])
        .unwrap();
    assert_eq!(report.imported_count, 2);
    let model = |id: &str| store.get(id).unwrap().and_then(|m| m.default_model.clone());
    assert_eq!(model("mapping:a").as_deref(), Some("new-a"));
    assert_eq!(model("mapping:b").as_deref(), Some("new-b"));
    assert_eq!(db.row_count(), 2);
    assert_eq!(reference(&db.sql()), view(&store));
}

#[test]
fn a_snapshot_pull_keeps_a_mapping_whose_row_an_earlier_item_took_over() {
    let db = fresh();
    let store = db.open();
    disagreeing_row(&db.sql());
    let remote = [
        json!({"id": "mapping:a", "default_model": "remote-a", "updated_at": "2030-01-01T00:00:00+00:00"}),
        json!({"id": "mapping:b", "default_model": "remote-b", "updated_at": "2030-01-01T00:00:00+00:00"}),
    ];
    let report = store.apply_snapshot(&remote, false, false).unwrap();
    assert_eq!(report.pulled_count, 2);
    assert_eq!(db.row_count(), 2);
    assert_eq!(reference(&db.sql()), view(&store));
    assert_eq!(
        store
            .get("mapping:a")
            .unwrap()
            .unwrap()
            .default_model
            .as_deref(),
        Some("remote-a")
    );
}

/// What a mapping looks like for the comparison: its id, default model and whether active.
type Shown = BTreeMap<String, (Option<String>, bool)>;

fn view(store: &Store) -> Shown {
    store
        .list(None, None)
        .unwrap()
        .iter()
        .map(|m| (m.id.clone(), (m.default_model.clone(), m.is_active)))
        .collect()
}

/// The table read with the B11 rules, written independently of the library: scope type
/// trimmed, lower-cased, `tenant` → `mapping`, `[a-z0-9_-]` only; key trimmed, 1–256
/// characters; rows of one id: the active one wins, then the newest `updated_at`, then the
/// first stored.
fn reference(conn: &Connection) -> Shown {
    let mut stmt = conn
        .prepare(
            "SELECT rowid, scope_type, scope_key, default_model, is_active, updated_at \
             FROM llm_model_mappings ORDER BY rowid",
        )
        .unwrap();
    type Row = (i64, Option<String>, bool, Option<String>);
    let mut groups: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })
        .unwrap();
    for row in rows {
        let (rowid, ty, key, model, active, updated) = row.unwrap();
        let mut ty = ty.trim().to_lowercase();
        if ty == "tenant" {
            ty = "mapping".into();
        }
        let key = key.trim();
        let ok_type = !ty.is_empty()
            && ty
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !ok_type || key.is_empty() || key.chars().count() > 256 {
            continue;
        }
        let model = model.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty());
        groups.entry(format!("{ty}:{key}")).or_default().push((
            rowid,
            model,
            active.is_none_or(|a| a != 0),
            updated,
        ));
    }
    groups
        .into_iter()
        .map(|(id, rows)| {
            let best = rows
                .iter()
                .min_by(|a, b| {
                    b.2.cmp(&a.2)
                        .then_with(|| match (&a.3, &b.3) {
                            (Some(x), Some(y)) => y.cmp(x),
                            (Some(_), None) => std::cmp::Ordering::Less,
                            (None, Some(_)) => std::cmp::Ordering::Greater,
                            (None, None) => std::cmp::Ordering::Equal,
                        })
                        .then_with(|| a.0.cmp(&b.0))
                })
                .unwrap();
            (id, (best.1.clone(), best.2))
        })
        .collect()
}

/// xorshift64*: a seeded sequence, so a failing seed replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

const KEYS: [&str; 4] = ["a", "b", "c", " d"];
const TYPES: [&str; 7] = [
    "mapping", "Mapping", " mapping", "tenant", "TENANT ", "global", "user",
];
/// Timestamps in the stored shape, so string order is time order (and one missing).
const TIMES: [Option<&str>; 4] = [
    Some("2026-01-01T00:00:00+00:00"),
    Some("2026-06-01T00:00:00+00:00"),
    Some("2027-01-01T00:00:00+00:00"),
    None,
];

/// What a library write promises: each id it wrote shows its last item's default model.
fn expect_written(store: &Store, items: &[serde_json::Value]) {
    let mut last = BTreeMap::new();
    for item in items {
        last.insert(
            item["id"].as_str().unwrap(),
            item["default_model"].as_str().unwrap(),
        );
    }
    for (id, model) in last {
        let got = store.get(id).unwrap().and_then(|m| m.default_model.clone());
        assert_eq!(got.as_deref(), Some(model), "{id} after writing {items:?}");
    }
}

/// One random step by the host (plain SQL, odd spellings) or the library (single or batch).
fn step(rng: &mut Rng, n: u64, store: &Store, host: &Connection) -> String {
    let key = *rng.pick(&KEYS);
    let ty = *rng.pick(&TYPES);
    let id_key = *rng.pick(&KEYS);
    let model = format!("m{n}");
    let updated = *rng.pick(&TIMES);
    let active = (rng.next() % 5 != 0) as i64;
    match rng.next() % 9 {
        0 => {
            // INSERT OR REPLACE with an id that may disagree with the scope columns.
            host.execute(
                "INSERT OR REPLACE INTO llm_model_mappings \
                 (id, scope_type, scope_key, default_model, is_active, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                (
                    format!("mapping:{}", id_key.trim()),
                    ty,
                    key,
                    &model,
                    active,
                    updated,
                ),
            )
            .unwrap();
            format!("host replace {ty}:{key} as mapping:{id_key}")
        }
        1 => {
            // The backend's own upsert.
            host.execute(
                "INSERT INTO llm_model_mappings \
                 (id, scope_type, scope_key, default_model, is_active, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(id) DO UPDATE SET \
                 scope_type = excluded.scope_type, scope_key = excluded.scope_key, \
                 default_model = excluded.default_model, is_active = excluded.is_active, \
                 updated_at = excluded.updated_at",
                (
                    format!("{}:{}", ty.trim().to_lowercase(), key.trim()),
                    ty,
                    key,
                    &model,
                    active,
                    updated,
                ),
            )
            .unwrap();
            format!("host upsert {ty}:{key}")
        }
        2 => {
            host.execute(
                "UPDATE llm_model_mappings SET scope_type = ?1, default_model = ?2 \
                 WHERE rowid = (SELECT rowid FROM llm_model_mappings ORDER BY random() LIMIT 1)",
                (ty, &model),
            )
            .unwrap();
            format!("host update one row to {ty}")
        }
        3 => {
            host.execute(
                "DELETE FROM llm_model_mappings \
                 WHERE rowid = (SELECT rowid FROM llm_model_mappings ORDER BY random() LIMIT 1)",
                [],
            )
            .unwrap();
            "host delete one row".into()
        }
        4 => {
            let id = format!("mapping:{}", key.trim());
            let item = json!({"id": id, "default_model": model, "is_active": active == 1});
            store.upsert_json(&item).unwrap();
            expect_written(store, &[item]);
            format!("library upsert {id}")
        }
        5 => {
            let items: Vec<_> = (0..2 + rng.next() % 3)
                .map(|i| {
                    let k = rng.pick(&KEYS).trim();
                    json!({"id": format!("mapping:{k}"), "default_model": format!("{model}-{i}"),
                           "updated_at": updated})
                })
                .collect();
            store.import_items(&items).unwrap();
            expect_written(store, &items);
            format!("library import {items:?}")
        }
        6 => {
            // Newer than anything stored before: every item is pulled.
            let at = format!("2030-01-01T{:02}:{:02}:00+00:00", n / 60, n % 60);
            let items: Vec<_> = (0..2 + rng.next() % 3)
                .map(|i| {
                    let k = rng.pick(&KEYS).trim();
                    json!({"id": format!("mapping:{k}"), "default_model": format!("{model}-{i}"),
                           "updated_at": at})
                })
                .collect();
            let delete_missing = rng.next() % 3 == 0;
            store.apply_snapshot(&items, false, delete_missing).unwrap();
            expect_written(store, &items);
            format!("library pull {items:?} delete_missing={delete_missing}")
        }
        7 => {
            let id = format!(
                "{}:{}",
                rng.pick(&["mapping", "global", "user"]),
                key.trim()
            );
            store.delete(&id).unwrap();
            assert!(store.get(&id).unwrap().is_none(), "{id} after delete");
            format!("library delete {id}")
        }
        _ => {
            let id = format!("mapping:{}", key.trim());
            let _ = store.activate_default(&id, &model);
            format!("library activate {id}")
        }
    }
}

#[test]
fn the_cache_shows_the_table_after_every_step_of_random_host_and_library_writes() {
    for seed in [1u64, 7, 42, 2026] {
        let db = fresh();
        let store = db.open();
        let host = db.sql();
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut log = Vec::new();
        for n in 0..150 {
            log.push(step(&mut rng, n, &store, &host));
            let (want, got) = (reference(&host), view(&store));
            assert_eq!(
                got,
                want,
                "seed {seed}, after step {n}; last steps:\n{}",
                log[log.len().saturating_sub(5)..].join("\n")
            );
        }
    }
}
