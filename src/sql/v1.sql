-- Schema version 1 of the library's own tables (prefix mm_). The host's PRAGMA user_version
-- is left alone: the version lives in mm_meta.
CREATE TABLE IF NOT EXISTS mm_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS mm_blocked_models (
    model TEXT PRIMARY KEY,
    blocked_at TEXT NOT NULL
);
