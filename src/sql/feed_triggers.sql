-- The change feed's triggers (behaviour B12, B13). Plain SQL, no application-defined function:
-- they run for every writer of these tables, including the backend's own Python code, an
-- older backend version and the sqlite3 shell. Re-created by the library when missing.

-- INSERT OR REPLACE and the backend's INSERT ... ON CONFLICT DO UPDATE both fire BEFORE
-- INSERT while the conflicting row still exists: keep its image for the AFTER trigger.
CREATE TRIGGER IF NOT EXISTS mm_feed_mappings_bi BEFORE INSERT ON llm_model_mappings
WHEN EXISTS (SELECT 1 FROM llm_model_mappings WHERE id = NEW.id)
BEGIN
    INSERT OR REPLACE INTO mm_pending (id, old_rowid, o_id, o_scope_type, o_scope_key, o_name,
        o_default_model, o_candidates_json, o_is_active, o_updated_at, o_metadata_json)
    SELECT id, rowid, id, scope_type, scope_key, name, default_model, candidates_json,
        is_active, updated_at, metadata_json
    FROM llm_model_mappings WHERE id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS mm_feed_mappings_ai AFTER INSERT ON llm_model_mappings
BEGIN
    INSERT INTO mm_changes (op, old_rowid, o_id, o_scope_type, o_scope_key, o_name,
        o_default_model, o_candidates_json, o_is_active, o_updated_at, o_metadata_json,
        new_rowid, n_id, n_scope_type, n_scope_key, n_name, n_default_model,
        n_candidates_json, n_is_active, n_updated_at, n_metadata_json)
    SELECT CASE WHEN p.id IS NULL THEN 'insert' ELSE 'update' END, p.old_rowid, p.o_id,
        p.o_scope_type, p.o_scope_key, p.o_name, p.o_default_model, p.o_candidates_json,
        p.o_is_active, p.o_updated_at, p.o_metadata_json,
        NEW.rowid, NEW.id, NEW.scope_type, NEW.scope_key, NEW.name, NEW.default_model,
        NEW.candidates_json, NEW.is_active, NEW.updated_at, NEW.metadata_json
    FROM (SELECT 1) LEFT JOIN mm_pending AS p ON p.id = NEW.id;
    DELETE FROM mm_pending WHERE id = NEW.id;
END;

-- UPDATE OR REPLACE that moves a row onto another row's id deletes that row without firing
-- DELETE triggers.
CREATE TRIGGER IF NOT EXISTS mm_feed_mappings_bu BEFORE UPDATE OF id ON llm_model_mappings
WHEN NEW.id IS NOT OLD.id AND EXISTS (SELECT 1 FROM llm_model_mappings WHERE id = NEW.id)
BEGIN
    INSERT INTO mm_changes (op, old_rowid, o_id, o_scope_type, o_scope_key, o_name,
        o_default_model, o_candidates_json, o_is_active, o_updated_at, o_metadata_json)
    SELECT 'delete', rowid, id, scope_type, scope_key, name, default_model, candidates_json,
        is_active, updated_at, metadata_json
    FROM llm_model_mappings WHERE id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS mm_feed_mappings_au AFTER UPDATE ON llm_model_mappings
BEGIN
    INSERT INTO mm_changes (op, old_rowid, o_id, o_scope_type, o_scope_key, o_name,
        o_default_model, o_candidates_json, o_is_active, o_updated_at, o_metadata_json,
        new_rowid, n_id, n_scope_type, n_scope_key, n_name, n_default_model,
        n_candidates_json, n_is_active, n_updated_at, n_metadata_json)
    VALUES ('update', OLD.rowid, OLD.id, OLD.scope_type, OLD.scope_key, OLD.name,
        OLD.default_model, OLD.candidates_json, OLD.is_active, OLD.updated_at,
        OLD.metadata_json,
        NEW.rowid, NEW.id, NEW.scope_type, NEW.scope_key, NEW.name, NEW.default_model,
        NEW.candidates_json, NEW.is_active, NEW.updated_at, NEW.metadata_json);
    -- An ON CONFLICT DO UPDATE staged the row in BEFORE INSERT and never reaches AFTER INSERT.
    DELETE FROM mm_pending WHERE id = OLD.id OR id = NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS mm_feed_mappings_ad AFTER DELETE ON llm_model_mappings
BEGIN
    INSERT INTO mm_changes (op, old_rowid, o_id, o_scope_type, o_scope_key, o_name,
        o_default_model, o_candidates_json, o_is_active, o_updated_at, o_metadata_json)
    VALUES ('delete', OLD.rowid, OLD.id, OLD.scope_type, OLD.scope_key, OLD.name,
        OLD.default_model, OLD.candidates_json, OLD.is_active, OLD.updated_at,
        OLD.metadata_json);
    DELETE FROM mm_pending WHERE id = OLD.id;
END;

CREATE TRIGGER IF NOT EXISTS mm_feed_blocked_ai AFTER INSERT ON mm_blocked_models
BEGIN
    INSERT INTO mm_changes (op, n_id) VALUES ('block', NEW.model);
END;

CREATE TRIGGER IF NOT EXISTS mm_feed_blocked_au AFTER UPDATE ON mm_blocked_models
BEGIN
    INSERT INTO mm_changes (op, o_id, n_id) VALUES ('reblock', OLD.model, NEW.model);
END;

CREATE TRIGGER IF NOT EXISTS mm_feed_blocked_ad AFTER DELETE ON mm_blocked_models
BEGIN
    INSERT INTO mm_changes (op, o_id) VALUES ('unblock', OLD.model);
END;
