/*
 * test_abi.c: the C ABI from C (behaviour B17, R5), compiled with -Wall -Wextra -Werror against
 * include/model_mapping.h and run under valgrind --leak-check=full --error-exitcode=1 by
 * scripts/test-c.sh: error paths (NULL, invalid UTF-8, cut JSON, non-object JSON, a 10 MB
 * string, closed and unknown handles, double close, a caught panic), 16 threads on one
 * handle, and a full round trip, freeing every returned string.
 *
 * Usage: test_abi <scratch_dir>
 * Ends with the line "test_abi: N passed, M failed"; exits non-zero on any failure.
 */
#define _XOPEN_SOURCE 700

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model_mapping.h"

static int passed = 0;
static int failed = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (cond) {                                                                   \
            passed++;                                                                 \
        } else {                                                                      \
            failed++;                                                                 \
            const char *m_ = mm_last_error_message();                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__,   \
                    __LINE__, #cond, m_ ? m_ : "none");                               \
        }                                                                             \
    } while (0)

/* An out-parameter value that no failing call may overwrite (never freed). */
static char SENTINEL_BYTE;
#define SENTINEL (&SENTINEL_BYTE)

/* The last error message starts with the status string of `status` and contains `needle`. */
static int message_is(int32_t status, const char *needle) {
    const char *m = mm_last_error_message();
    const char *code = mm_status_str(status);
    return m != NULL && strncmp(m, code, strlen(code)) == 0 && strstr(m, needle) != NULL;
}

/* A failed call: the status, its message, and the out-parameter untouched. */
#define CHECK_FAILS(call, expected, needle, out)                    \
    do {                                                            \
        int32_t st_ = (call);                                       \
        CHECK(st_ == (expected));                                   \
        CHECK(message_is((expected), (needle)));                    \
        CHECK((out) == SENTINEL);                                   \
    } while (0)

/* Checks `json` contains `needle`, then frees it. */
static void check_json(char *json, const char *needle, int line) {
    if (json != NULL && strstr(json, needle) != NULL) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "%s:%d: expected %s in %s\n", __FILE__, line, needle,
                json ? json : "(null)");
    }
    mm_string_free(json);
}
#define CHECK_JSON(json, needle) check_json((json), (needle), __LINE__)

static char scratch[512];

static void path_in_scratch(char *out, size_t size, const char *name) {
    snprintf(out, size, "%s/%s", scratch, name);
}

static void remove_db(const char *path) {
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    char file[600];
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        snprintf(file, sizeof file, "%s%s", path, suffixes[i]);
        unlink(file);
    }
}

static MmStore *open_store(const char *name) {
    char path[600];
    path_in_scratch(path, sizeof path, name);
    remove_db(path);
    MmStore *store = NULL;
    int32_t st = mm_store_open(path, "{\"busy_timeout_ms\": 30000}", &store);
    CHECK(st == MM_OK);
    CHECK(mm_last_error_message() == NULL);
    return store;
}

static void test_status_strings(void) {
    CHECK(strcmp(mm_status_str(MM_OK), "ok") == 0);
    CHECK(strcmp(mm_status_str(MM_MAPPING_NOT_FOUND), "mapping_not_found") == 0);
    CHECK(strcmp(mm_status_str(MM_NULL_ARGUMENT), "null_argument") == 0);
    CHECK(strcmp(mm_status_str(MM_INVALID_UTF8), "invalid_utf8") == 0);
    CHECK(strcmp(mm_status_str(MM_STORE_CLOSED), "store_closed") == 0);
    CHECK(strcmp(mm_status_str(MM_PANIC), "panic") == 0);
    CHECK(strcmp(mm_status_str(MM_IO_ERROR), "io_error") == 0);
    CHECK(strcmp(mm_status_str(-1), "unknown_status") == 0);
    CHECK(strcmp(mm_status_str(1000), "unknown_status") == 0);
    CHECK(MM_OK == 0 && MM_INVALID_MAPPING_ID == 1 && MM_INVALID_JSON == 5);
    CHECK(MM_DATABASE_BUSY == 10 && MM_MULTIPLE_SQLITE_COPIES == 18);
    CHECK(MM_NULL_ARGUMENT == 20 && MM_PANIC == 23);
    CHECK(strncmp(mm_sqlite_version(), "3.", 2) == 0);
    CHECK(strlen(mm_sqlite_source_id()) > 20);
    CHECK(strlen(mm_version()) > 0);
}

static void test_null_arguments(MmStore *s) {
    char *out = SENTINEL;
    bool deleted = true;
    MmStore *handle = (MmStore *)SENTINEL;

    CHECK_FAILS(mm_store_open(NULL, NULL, &handle), MM_NULL_ARGUMENT, "`path`",
                (char *)handle);
    CHECK_FAILS(mm_store_open("/tmp/x.db", NULL, NULL), MM_NULL_ARGUMENT, "`out`", out);
    CHECK_FAILS(mm_store_list(NULL, NULL, NULL, &out), MM_NULL_ARGUMENT, "`store`", out);
    CHECK_FAILS(mm_store_list(s, NULL, NULL, NULL), MM_NULL_ARGUMENT, "`out_json`", out);
    CHECK_FAILS(mm_store_get(s, NULL, &out), MM_NULL_ARGUMENT, "`id`", out);
    CHECK_FAILS(mm_store_get(s, "mapping:x", NULL), MM_NULL_ARGUMENT, "`out_json`", out);
    CHECK_FAILS(mm_store_upsert(s, NULL, &out), MM_NULL_ARGUMENT, "`payload_json`", out);
    CHECK_FAILS(mm_store_delete(s, NULL, &deleted), MM_NULL_ARGUMENT, "`id`", out);
    CHECK_FAILS(mm_store_delete(s, "mapping:x", NULL), MM_NULL_ARGUMENT, "`out_deleted`",
                out);
    CHECK(deleted == true);
    CHECK_FAILS(mm_store_activate_default(s, "mapping:x", NULL, &out), MM_NULL_ARGUMENT,
                "`model`", out);
    CHECK_FAILS(mm_store_blocked_list(NULL, &out), MM_NULL_ARGUMENT, "`store`", out);
    CHECK_FAILS(mm_store_blocked_update(s, NULL, &out), MM_NULL_ARGUMENT, "`items_json`", out);
    CHECK_FAILS(mm_store_resolve(s, NULL, &out), MM_NULL_ARGUMENT, "`key`", out);
    CHECK_FAILS(mm_store_resolve(s, "xai", NULL), MM_NULL_ARGUMENT, "`out_json`", out);
    CHECK_FAILS(mm_store_explain(NULL, "xai", &out), MM_NULL_ARGUMENT, "`store`", out);
    CHECK_FAILS(mm_store_resolve_for_message(s, NULL, &out), MM_NULL_ARGUMENT,
                "`request_json`", out);
    CHECK_FAILS(mm_store_migrate_legacy(s, NULL, true, &out), MM_NULL_ARGUMENT,
                "`storage_dir`", out);
    CHECK_FAILS(mm_store_last_migration(s, NULL), MM_NULL_ARGUMENT, "`out_json`", out);
    CHECK_FAILS(mm_store_import(s, NULL, &out), MM_NULL_ARGUMENT, "`items_json`", out);
    CHECK_FAILS(mm_store_export(NULL, &out), MM_NULL_ARGUMENT, "`store`", out);
    CHECK_FAILS(mm_store_plan_snapshot(s, NULL, false, false, &out), MM_NULL_ARGUMENT,
                "`items_json`", out);
    CHECK_FAILS(mm_store_apply_snapshot(s, "[]", false, false, NULL), MM_NULL_ARGUMENT,
                "`out_json`", out);
    CHECK_FAILS(mm_store_health(s, NULL), MM_NULL_ARGUMENT, "`out_json`", out);
    CHECK_FAILS(mm_store_quick_check(NULL, &out), MM_NULL_ARGUMENT, "`store`", out);
    CHECK_FAILS(mm_echo(NULL, &out), MM_NULL_ARGUMENT, "`input`", out);
    mm_string_free(NULL);
    mm_store_close(NULL);
}

static void test_bad_text(MmStore *s) {
    char *out = SENTINEL;
    const char bad[] = {'m', 'a', 'p', ':', (char)0xff, (char)0xfe, 0};
    MmStore *handle = (MmStore *)SENTINEL;

    CHECK_FAILS(mm_store_open(bad, NULL, &handle), MM_INVALID_UTF8, "`path`", (char *)handle);
    CHECK_FAILS(mm_store_get(s, bad, &out), MM_INVALID_UTF8, "`id`", out);
    CHECK_FAILS(mm_store_resolve(s, bad, &out), MM_INVALID_UTF8, "`key`", out);
    CHECK_FAILS(mm_store_list(s, NULL, bad, &out), MM_INVALID_UTF8, "`scope_key`", out);
    CHECK_FAILS(mm_echo(bad, &out), MM_INVALID_UTF8, "offset 4", out);

    /* A C string ends at its first NUL: a cut JSON payload is invalid JSON. */
    const char cut[] = "{\"id\": \"mapping:x\"\0, \"default_model\": \"m\"}";
    CHECK_FAILS(mm_store_upsert(s, cut, &out), MM_INVALID_JSON, "line 1", out);
    CHECK_FAILS(mm_store_upsert(s, "{", &out), MM_INVALID_JSON, "", out);
    CHECK_FAILS(mm_store_upsert(s, "[1, 2]", &out), MM_INVALID_PAYLOAD, "payload", out);
    CHECK_FAILS(mm_store_upsert(s, "\"mapping:x\"", &out), MM_INVALID_PAYLOAD, "", out);
    CHECK_FAILS(mm_store_resolve_for_message(s, "[]", &out), MM_INVALID_PAYLOAD, "request",
                out);
    CHECK_FAILS(mm_store_resolve_for_message(s, "{\"user_id\": true}", &out),
                MM_INVALID_PAYLOAD, "user_id", out);
    CHECK_FAILS(mm_store_import(s, "{}", &out), MM_INVALID_PAYLOAD, "", out);
    CHECK_FAILS(mm_store_blocked_update(s, "42", &out), MM_INVALID_PAYLOAD, "", out);
    CHECK_FAILS(mm_store_get(s, "no-colon", &out), MM_INVALID_MAPPING_ID, "", out);
    CHECK_FAILS(mm_store_activate_default(s, "mapping:absent", "m", &out),
                MM_MAPPING_NOT_FOUND, "", out);
    CHECK_FAILS(mm_store_open("/tmp", "{\"nope\": 1}", &handle), MM_INVALID_PAYLOAD, "",
                (char *)handle);

    /* 10 MB in, 10 MB out. */
    size_t n = 10u * 1024 * 1024;
    char *big = malloc(n + 1);
    CHECK(big != NULL);
    if (big != NULL) {
        memset(big, 'k', n);
        big[n] = '\0';
        char *copy = NULL;
        CHECK(mm_echo(big, &copy) == MM_OK);
        CHECK(copy != NULL && strlen(copy) == n);
        mm_string_free(copy);
        char *resolved = NULL;
        CHECK(mm_store_resolve(s, big, &resolved) == MM_OK);
        CHECK(resolved != NULL && strlen(resolved) > n);
        mm_string_free(resolved);
        free(big);
    }
}

static void test_panic(void) {
    CHECK(mm_test_panic() == MM_PANIC);
    CHECK(message_is(MM_PANIC, "deliberate panic"));
    char *out = NULL;
    CHECK(mm_echo("still alive", &out) == MM_OK);
    CHECK(mm_last_error_message() == NULL);
    CHECK_JSON(out, "still alive");
}

static void test_closed(void) {
    MmStore *s = open_store("closed.db");
    char *out = SENTINEL;
    bool deleted = true;
    mm_store_close(s);
    mm_store_close(s); /* double close: a no-op */
    CHECK_FAILS(mm_store_resolve(s, "xai", &out), MM_STORE_CLOSED, "closed", out);
    CHECK_FAILS(mm_store_upsert(s, "{\"id\": \"mapping:x\"}", &out), MM_STORE_CLOSED, "", out);
    CHECK_FAILS(mm_store_delete(s, "mapping:x", &deleted), MM_STORE_CLOSED, "", out);
    CHECK_FAILS(mm_store_health(s, &out), MM_STORE_CLOSED, "", out);
    CHECK_FAILS(mm_store_list(s, NULL, NULL, &out), MM_STORE_CLOSED, "", out);
    MmStore *made_up = (MmStore *)(uintptr_t)0xdeadbeef;
    CHECK_FAILS(mm_store_export(made_up, &out), MM_STORE_CLOSED, "", out);
    mm_store_close(made_up);
}

struct worker {
    MmStore *store;
    int index;
    int failures;
};

static void *work(void *arg) {
    struct worker *w = arg;
    char payload[200], key[64], expected[64];
    for (int i = 0; i < 20; i++) {
        char *out = NULL;
        snprintf(payload, sizeof payload,
                 "{\"id\": \"mapping:t%d-%d\", \"default_model\": \"m%d-%d\"}", w->index, i,
                 w->index, i);
        snprintf(key, sizeof key, "t%d-%d", w->index, i);
        snprintf(expected, sizeof expected, "\"resolved_model\":\"m%d-%d\"", w->index, i);
        if (mm_store_upsert(w->store, payload, &out) != MM_OK) w->failures++;
        mm_string_free(out);
        out = NULL;
        if (mm_store_resolve(w->store, key, &out) != MM_OK || strstr(out, expected) == NULL)
            w->failures++;
        mm_string_free(out);
        out = NULL;
        if (mm_store_resolve(w->store, "global", &out) != MM_OK) w->failures++;
        mm_string_free(out);
        if (mm_last_error_message() != NULL) w->failures++;
    }
    return NULL;
}

static void test_threads(void) {
    MmStore *s = open_store("threads.db");
    enum { N = 16 };
    pthread_t threads[N];
    struct worker workers[N];
    for (int t = 0; t < N; t++) {
        workers[t] = (struct worker){s, t, 0};
        CHECK(pthread_create(&threads[t], NULL, work, &workers[t]) == 0);
    }
    for (int t = 0; t < N; t++) {
        pthread_join(threads[t], NULL);
        CHECK(workers[t].failures == 0);
    }
    char *out = NULL;
    CHECK(mm_store_list(s, "mapping", NULL, &out) == MM_OK);
    CHECK_JSON(out, "mapping:t15-19");
    out = NULL;
    CHECK(mm_store_quick_check(s, &out) == MM_OK);
    CHECK_JSON(out, "[\"ok\"]");
    mm_store_close(s);
}

static void test_round_trip(void) {
    MmStore *s = open_store("round_trip.db");
    char *out = NULL;
    bool deleted = false;

    CHECK(mm_store_last_migration(s, &out) == MM_OK);
    CHECK_JSON(out, "null");
    out = NULL;
    CHECK(mm_store_upsert(s,
                          "{\"scope_type\": \"tenant\", \"scope_key\": \"xai\", \"name\": "
                          "\"xAI\", \"default_model\": \"grok-4\", \"candidates\": "
                          "[\"grok-3\"], \"metadata\": {\"preferred_endpoint_id\": \"7\"}}",
                          &out) == MM_OK);
    CHECK_JSON(out, "\"id\":\"mapping:xai\"");
    out = NULL;
    CHECK(mm_store_upsert(s, "{\"id\": \"global:global\", \"default_model\": \"gpt-4o-mini\"}",
                          &out) == MM_OK);
    mm_string_free(out);
    out = NULL;
    CHECK(mm_store_get(s, "Tenant:xai", &out) == MM_OK);
    CHECK_JSON(out, "\"source\":\"sqlite\"");
    out = NULL;
    CHECK(mm_store_get(s, "mapping:absent", &out) == MM_OK);
    CHECK(out != NULL && strcmp(out, "null") == 0);
    mm_string_free(out);
    out = NULL;
    CHECK(mm_store_list(s, "tenant", "xai", &out) == MM_OK);
    CHECK_JSON(out, "\"scope_key\":\"xai\"");
    out = NULL;

    CHECK(mm_store_blocked_update(s, "[{\"model\": \"grok-4\"}]", &out) == MM_OK);
    CHECK_JSON(out, "[\"grok-4\"]");
    out = NULL;
    CHECK(mm_store_blocked_list(s, &out) == MM_OK);
    CHECK_JSON(out, "grok-4");
    out = NULL;
    CHECK(mm_store_resolve(s, "xai", &out) == MM_OK);
    CHECK_JSON(out, "\"resolved_model\":\"grok-3\"");
    out = NULL;
    CHECK(mm_store_resolve(s, "xai", &out) == MM_OK);
    CHECK_JSON(out, "\"preferred_endpoint_id\":7");
    out = NULL;
    CHECK(mm_store_resolve(s, "llama3:8b", &out) == MM_OK);
    CHECK_JSON(out, "{\"resolved_model\":\"llama3:8b\",\"hit\":false}");
    out = NULL;
    CHECK(mm_store_explain(s, "xai", &out) == MM_OK);
    CHECK_JSON(out, "{\"model\":\"grok-4\",\"fate\":\"blocked\"}");
    out = NULL;
    CHECK(mm_store_resolve_for_message(s, "{\"user_id\": 42, \"tenant_id\": \"xai\"}", &out) ==
          MM_OK);
    CHECK_JSON(out, "\"model\":\"grok-3\"");
    out = NULL;
    CHECK(mm_store_resolve_for_message(s, "{}", &out) == MM_OK);
    CHECK_JSON(out, "\"model\":\"gpt-4o-mini\"");
    out = NULL;

    CHECK(mm_store_activate_default(s, "mapping:xai", "grok-3-mini", &out) == MM_OK);
    CHECK_JSON(out, "\"default_model\":\"grok-3-mini\"");
    out = NULL;

    CHECK(mm_store_import(s, "[{\"id\": \"mapping:a\", \"default_model\": \"x\"}, 5]", &out) ==
          MM_OK);
    CHECK_JSON(out, "\"imported_count\":1");
    out = NULL;
    CHECK(mm_store_export(s, &out) == MM_OK);
    CHECK(out != NULL && strstr(out, "\"exported_at\"") != NULL);
    char *exported = out;
    out = NULL;
    CHECK(mm_store_import(s, exported, &out) == MM_OK);
    CHECK_JSON(out, "\"imported_count\":3");
    mm_string_free(exported);
    out = NULL;

    const char *remote = "[{\"id\": \"mapping:r\", \"default_model\": \"r1\", "
                         "\"updated_at\": \"2030-01-01T00:00:00Z\"}]";
    CHECK(mm_store_plan_snapshot(s, remote, false, false, &out) == MM_OK);
    CHECK_JSON(out, "\"added\":[\"mapping:r\"]");
    out = NULL;
    CHECK(mm_store_apply_snapshot(s, remote, false, false, &out) == MM_OK);
    CHECK_JSON(out, "\"pulled_count\":1");
    out = NULL;

    CHECK(mm_store_delete(s, "mapping:a", &deleted) == MM_OK);
    CHECK(deleted == true);
    CHECK(mm_store_delete(s, "mapping:a", &deleted) == MM_OK);
    CHECK(deleted == false);

    char empty_dir[600];
    path_in_scratch(empty_dir, sizeof empty_dir, "no-legacy-here");
    CHECK(mm_store_migrate_legacy(s, empty_dir, true, &out) == MM_OK);
    CHECK_JSON(out, "\"dry_run\":true");
    out = NULL;

    CHECK(mm_store_health(s, &out) == MM_OK);
    CHECK_JSON(out, "\"ok\":true");
    out = NULL;
    CHECK(mm_store_quick_check(s, &out) == MM_OK);
    CHECK_JSON(out, "[\"ok\"]");
    mm_store_close(s);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <scratch_dir>\n", argv[0]);
        return 2;
    }
    snprintf(scratch, sizeof scratch, "%s", argv[1]);

    test_status_strings();
    MmStore *s = open_store("errors.db");
    test_null_arguments(s);
    test_bad_text(s);
    mm_store_close(s);
    test_panic();
    test_closed();
    test_threads();
    test_round_trip();

    const char *dbs[] = {"errors.db", "closed.db", "threads.db", "round_trip.db"};
    for (size_t i = 0; i < sizeof dbs / sizeof *dbs; i++) {
        char path[600];
        path_in_scratch(path, sizeof path, dbs[i]);
        remove_db(path);
    }
    printf("test_abi: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
