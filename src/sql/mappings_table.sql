-- The backend's own table, byte-for-byte what it creates (behaviour B12). Never altered by us.
CREATE TABLE IF NOT EXISTS llm_model_mappings (
    id TEXT PRIMARY KEY,
    scope_type TEXT NOT NULL,
    scope_key TEXT NOT NULL,
    name TEXT,
    default_model TEXT,
    candidates_json TEXT,
    is_active INTEGER DEFAULT 1,
    updated_at TEXT,
    metadata_json TEXT,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_llm_model_mappings_scope ON llm_model_mappings (scope_type, scope_key);
CREATE INDEX IF NOT EXISTS idx_llm_model_mappings_updated_at ON llm_model_mappings (updated_at DESC);
