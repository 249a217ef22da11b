-- Schema version 2: the change feed (behaviour B13, B20). Every change to llm_model_mappings and
-- mm_blocked_models gets one row here, written by the triggers of feed_triggers.sql in the
-- writer's own transaction, whoever the writer is. `seq` is AUTOINCREMENT so that a number is
-- never given twice, even after pruning: the last entry's `seq` is the feed's counter, and a gap
-- tells a reader it must reload.
-- The o_*/n_* columns hold the row before and after, as stored (no type affinity: values are
-- kept exactly, whatever the writer put there).
CREATE TABLE IF NOT EXISTS mm_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')),
    op TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'external',
    actor TEXT,
    old_rowid INTEGER,
    o_id, o_scope_type, o_scope_key, o_name, o_default_model, o_candidates_json,
    o_is_active, o_updated_at, o_metadata_json,
    new_rowid INTEGER,
    n_id, n_scope_type, n_scope_key, n_name, n_default_model, n_candidates_json,
    n_is_active, n_updated_at, n_metadata_json
);
-- A row about to be replaced by INSERT OR REPLACE (which deletes without firing DELETE
-- triggers), held from the BEFORE INSERT trigger to the AFTER INSERT one of the same row.
CREATE TABLE IF NOT EXISTS mm_pending (
    id PRIMARY KEY,
    old_rowid INTEGER,
    o_id, o_scope_type, o_scope_key, o_name, o_default_model, o_candidates_json,
    o_is_active, o_updated_at, o_metadata_json
);
-- The first entry creates the counter row in sqlite_sequence.
INSERT INTO mm_changes (op, source) VALUES ('init', 'library');
