//! The whole job in one run: migrate the sample legacy storage dir into a fresh SQLite
//! database, then resolve a few keys the way the gateway does on every request.
//!
//! `cargo run --example quickstart [DB_PATH] [STORAGE_DIR]`
//!
//! The same arguments, in the same order, as the C and Python quickstarts. The legacy files of
//! `STORAGE_DIR` (default: the sample `examples/data/ai_runtime`) are copied into a temporary
//! directory first: the migration writes its marker file beside them, and the sample must stay
//! as it is. Without `DB_PATH` the database is created there too. The temporary directory is
//! removed at the end; a `DB_PATH` you give stays.

use std::path::PathBuf;

use model_mapping::{MessageRequest, Store, StoreOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    // Removed when it goes out of scope, also when an error ends `main` early.
    let tmp = tempfile::Builder::new()
        .prefix("model_mapping_quickstart_")
        .tempdir()?;
    let db = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("app.db"));
    let _ = std::fs::remove_file(&db); // a fresh database every run
    let source = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/data/ai_runtime")
    });
    let storage_dir = tmp.path().join("ai_runtime");
    std::fs::create_dir_all(&storage_dir)?;
    for file in ["model_mappings.json", "blocked_models.json"] {
        std::fs::copy(source.join(file), storage_dir.join(file))?;
    }

    println!(
        "model_mapping {} on SQLite {}",
        model_mapping::VERSION,
        model_mapping::sqlite_version()
    );
    println!("database:    {}", db.display());
    println!("storage dir: {}\n", storage_dir.display());

    // Opening with a storage dir runs the one-time legacy migration (tenant -> mapping).
    let store = Store::open(&db, StoreOptions::with_storage_dir(&storage_dir))?;
    let report = store.last_migration().expect("a storage dir was given");
    println!(
        "migration report:\n{}\n",
        serde_json::to_string_pretty(&report)?
    );

    println!("mappings now in SQLite:");
    for m in store.list(None, None)? {
        println!(
            "  {:<22} default={:<28} active={} candidates={:?}",
            m.id,
            m.default_model.as_deref().unwrap_or("-"),
            m.is_active,
            m.candidates
        );
    }
    println!("blocked: {:?}\n", store.blocked_models()?);

    println!("resolve_model_key:");
    for key in [
        "xai",
        "mapping:claude",
        "tenant:deepseek",
        "old-experiment",
        "llama3:8b",
        "openai/gpt-4o:free",
    ] {
        let r = store.resolve_model_key(key)?;
        println!("  {:<20} -> {}", key, serde_json::to_string(&r)?);
    }

    println!("\nresolve_for_message:");
    let requests = [
        (
            "user 42",
            MessageRequest {
                user_id: Some("42"),
                mapping_key: Some("xai"),
                ..Default::default()
            },
        ),
        (
            "user 7, key xai",
            MessageRequest {
                user_id: Some("7"),
                mapping_key: Some("xai"),
                ..Default::default()
            },
        ),
        (
            "user 7, no key",
            MessageRequest {
                user_id: Some("7"),
                ..Default::default()
            },
        ),
    ];
    for (label, req) in requests {
        let sel = store.resolve_for_message(&req)?;
        println!("  {:<16} -> {}", label, serde_json::to_string(&sel)?);
    }

    println!("\nwhy does \"xai\" go where it goes?");
    println!("{}", serde_json::to_string_pretty(&store.explain("xai")?)?);

    // A second open finds the migration recorded and does nothing.
    drop(store);
    let again = Store::open(&db, StoreOptions::with_storage_dir(&storage_dir))?;
    let status = again.last_migration().map(|r| r.status);
    println!("\nreopened: migration status {:?}", status);
    println!("health: {}", serde_json::to_string(&again.health()?)?);
    Ok(())
}
