/*
 * quickstart.c: the C ABI of model_mapping in one page.
 *
 * Opens a fresh database, migrates the sample legacy storage dir into it, resolves a few model
 * keys, explains one, and frees everything.
 *
 *   cargo build --release
 *   gcc -std=c11 -Wall -Wextra -Werror -Iinclude examples/c/quickstart.c \
 *       -Ltarget/release -lmodel_mapping -Wl,-rpath,"$PWD/target/release" -o quickstart
 *   ./quickstart /tmp/app.db examples/data/ai_runtime
 *
 * Usage: quickstart [db_path] [storage_dir]
 *
 * The same arguments, in the same order, as the Rust and Python quickstarts. The legacy files
 * of storage_dir (default: examples/data/ai_runtime, relative to the working directory) are
 * copied to a temporary directory first: the migration writes a marker file beside them (for
 * older hosts), and the sample directory must stay as it is. Without a db_path the database is
 * created in that temporary directory. The temporary directory is removed at the end; a db_path
 * you give stays.
 */
#define _XOPEN_SOURCE 700

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model_mapping.h"

static const char *LEGACY_FILES[] = {"model_mappings.json", "blocked_models.json"};

/* Prints the failure of a call: its status string and the thread's last error message. */
static int report_failure(const char *what, int32_t status) {
    const char *message = mm_last_error_message(); /* owned by the library: not freed */
    fprintf(stderr, "%s failed: %s (%d): %s\n", what, mm_status_str(status), (int)status,
            message ? message : "(no message)");
    return 1;
}

static int copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb");
    if (!in) {
        perror(from);
        return -1;
    }
    FILE *out = fopen(to, "wb");
    if (!out) {
        perror(to);
        fclose(in);
        return -1;
    }
    char buf[8192];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        if (fwrite(buf, 1, n, out) != n) {
            rc = -1;
            break;
        }
    }
    if (ferror(in)) rc = -1;
    fclose(in);
    if (fclose(out) != 0) rc = -1;
    return rc;
}

/* Writes `text` as a JSON string literal into `out` (quotes and backslashes escaped). */
static void json_string(char *out, size_t size, const char *text) {
    size_t j = 0;
    if (size < 3) return;
    out[j++] = '"';
    for (const char *p = text; *p && j + 3 < size; p++) {
        if (*p == '"' || *p == '\\') out[j++] = '\\';
        out[j++] = *p;
    }
    out[j++] = '"';
    out[j] = '\0';
}

/* Removes the temporary directory and what the example put in it. */
static void cleanup(const char *tmp, const char *storage, const char *db_path, int own_db) {
    char file[600];
    const char *storage_files[] = {"model_mappings.json", "blocked_models.json",
                                   ".model_mappings_sqlite_import_done"};
    for (size_t i = 0; i < sizeof storage_files / sizeof *storage_files; i++) {
        snprintf(file, sizeof file, "%s/%s", storage, storage_files[i]);
        unlink(file);
    }
    rmdir(storage);
    if (own_db) {
        const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
        for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
            snprintf(file, sizeof file, "%s%s", db_path, suffixes[i]);
            unlink(file);
        }
    }
    rmdir(tmp);
}

/* Resolves `key` and prints the JSON result. */
static int resolve(MmStore *store, const char *key) {
    char *json = NULL;
    int32_t status = mm_store_resolve(store, key, &json);
    if (status != MM_OK) return report_failure("mm_store_resolve", status);
    printf("resolve %-18s -> %s\n", key, json);
    mm_string_free(json); /* every returned string is freed with mm_string_free */
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 3) {
        fprintf(stderr, "usage: %s [db_path] [storage_dir]\n", argv[0]);
        return 2;
    }
    const char *source = argc > 2 ? argv[2] : "examples/data/ai_runtime";
    printf("model_mapping %s on SQLite %s\n", mm_version(), mm_sqlite_version());

    /* A private copy of the legacy storage dir. */
    char tmp[] = "/tmp/mm-quickstart-XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    char storage[512], db_path[512], from[600], to[600];
    snprintf(storage, sizeof storage, "%s/ai_runtime", tmp);
    int own_db = argc < 2;
    snprintf(db_path, sizeof db_path, "%s", own_db ? tmp : argv[1]);
    if (own_db) strncat(db_path, "/app.db", sizeof db_path - strlen(db_path) - 1);
    else unlink(db_path); /* a fresh database every run, as in the Rust and Python quickstarts */

    int rc = 1;
    MmStore *store = NULL;
    if (mkdir(storage, 0700) != 0) {
        perror(storage);
        goto done;
    }
    for (size_t i = 0; i < sizeof LEGACY_FILES / sizeof *LEGACY_FILES; i++) {
        snprintf(from, sizeof from, "%s/%s", source, LEGACY_FILES[i]);
        snprintf(to, sizeof to, "%s/%s", storage, LEGACY_FILES[i]);
        if (copy_file(from, to) != 0) goto done;
    }

    /* Open: the one-time legacy migration runs because a storage dir is given. */
    char quoted[600], options[700];
    json_string(quoted, sizeof quoted, storage);
    snprintf(options, sizeof options, "{\"storage_dir\": %s}", quoted);
    int32_t status = mm_store_open(db_path, options, &store);
    if (status != MM_OK) {
        report_failure("mm_store_open", status);
        goto done;
    }

    char *json = NULL;
    status = mm_store_last_migration(store, &json);
    if (status != MM_OK) {
        report_failure("mm_store_last_migration", status);
        goto done;
    }
    printf("migration: %s\n", json);
    mm_string_free(json);
    json = NULL;

    const char *keys[] = {"xai", "mapping:claude", "tenant:deepseek", "llama3:8b"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        if (resolve(store, keys[i]) != 0) goto done;
    }

    status = mm_store_explain(store, "xai", &json);
    if (status != MM_OK) {
        report_failure("mm_store_explain", status);
        goto done;
    }
    printf("explain xai: %s\n", json);
    mm_string_free(json);
    rc = 0;

done:
    mm_store_close(store); /* NULL-safe */
    cleanup(tmp, storage, db_path, own_db);
    return rc;
}
