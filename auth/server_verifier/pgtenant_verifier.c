/*
 * pgtenant_verifier: pgtenant.practice_id() in C, loaded into the PostgreSQL server.
 *
 * The same verifier as the PL/pgSQL one in config/sealed_install.sql (same token grammar, same
 * answers: the practice uuid of a valid token in `pgtenant.context`, NULL for anything else,
 * never an error), without PL/pgSQL's per-transaction setup: that setup, not the HMAC, is most
 * of what the PL/pgSQL verifier costs in every transaction. Grammar (auth/context_token.h):
 *
 *   v1.<kid>.<practice uuid>.<backend pid>.<expires unix seconds>.<64 lower-case hex mac>
 *
 * The key comes from pgtenant.context_keys (kid, key, retired_at), read directly with the
 * calling query's snapshot: no SQL, no search_path, no privilege of the caller involved, so
 * the function need not be SECURITY DEFINER and the pool role still cannot read the table.
 * A key added or retired is seen by the next query, as with the PL/pgSQL verifier.
 *
 * HMAC-SHA256 through OpenSSL 3 (context allocation, digest fetch) was about half of what a
 * call cost, so the last token that verified is remembered with the key bytes it verified
 * under: the same token under the same key verifies again without the HMAC, and pgtenant keeps
 * one token per backend and practice for much of its life. Grammar, backend pid, expiry and the
 * key (present, not retired, same bytes) are still checked on every call.
 */
/* clang-format off: every server header needs postgres.h first */
#include "postgres.h"
/* clang-format on */

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

PG_MODULE_MAGIC;

#define TOKEN_MAX 200 /* auth/context_token.h context_token_max */
#define KEY_SIZE 32
#define MAC_HEX_SIZE (2 * PG_SHA256_DIGEST_LENGTH)

typedef struct Field {
    const char* at;
    size_t len;
} Field;

static bool field_is(Field f, const char* s) {
    return f.len == strlen(s) && memcmp(f.at, s, f.len) == 0;
}

static int lower_hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Canonical lower-case 8-4-4-4-12 into 16 bytes. */
static bool parse_uuid(Field f, pg_uuid_t* out) {
    int nibbles = 0;
    if (f.len != 36) return false;
    for (int i = 0; i < 36; ++i) {
        int v;
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (f.at[i] != '-') return false;
            continue;
        }
        v = lower_hex_value(f.at[i]);
        if (v < 0) return false;
        if (nibbles % 2 == 0)
            out->data[nibbles / 2] = (unsigned char)(v << 4);
        else
            out->data[nibbles / 2] |= (unsigned char)v;
        ++nibbles;
    }
    return true;
}

/* 1..18 ASCII digits, the first not '0'. */
static bool parse_expires(Field f, int64* out) {
    int64 v = 0;
    if (f.len < 1 || f.len > 18 || f.at[0] == '0') return false;
    for (size_t i = 0; i < f.len; ++i) {
        if (f.at[i] < '0' || f.at[i] > '9') return false;
        v = v * 10 + (f.at[i] - '0');
    }
    *out = v;
    return true;
}

/* The attribute number of column `name` of type `type` in `desc`; InvalidAttrNumber if none. */
static AttrNumber column(TupleDesc desc, const char* name, Oid type) {
    for (int i = 0; i < desc->natts; ++i) {
        Form_pg_attribute att = TupleDescAttr(desc, i);
        if (!att->attisdropped && att->atttypid == type && strcmp(NameStr(att->attname), name) == 0)
            return att->attnum;
    }
    return InvalidAttrNumber;
}

/*
 * The signing key of `kid`, when the table holds it and it is not retired (retired_at NULL or
 * later than now()). Looked up through the table's primary key on kid (a sequential scan would
 * ask the kernel for the file's size on every call), with the active snapshot, like a query
 * inside the calling one.
 */
static bool find_key(Field kid, unsigned char key[KEY_SIZE]) {
    Oid nsp = get_namespace_oid("pgtenant", true);
    Oid relid = OidIsValid(nsp) ? get_relname_relid("context_keys", nsp) : InvalidOid;
    Relation rel, index = NULL;
    Oid index_oid;
    AttrNumber kid_att, key_att, retired_att;
    TimestampTz now = GetCurrentTransactionStartTimestamp();
    bool found = false;

    if (!OidIsValid(relid)) return false;
    rel = table_open(relid, AccessShareLock);
    kid_att = column(RelationGetDescr(rel), "kid", TEXTOID);
    key_att = column(RelationGetDescr(rel), "key", BYTEAOID);
    retired_att = column(RelationGetDescr(rel), "retired_at", TIMESTAMPTZOID);
    index_oid = RelationGetPrimaryKeyIndex(rel);
    if (OidIsValid(index_oid)) index = index_open(index_oid, AccessShareLock);
    if (index != NULL && kid_att != InvalidAttrNumber && key_att != InvalidAttrNumber &&
        retired_att != InvalidAttrNumber && index->rd_index->indnkeyatts == 1 &&
        index->rd_index->indkey.values[0] == kid_att) {
        Snapshot snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
        text* wanted = cstring_to_text_with_len(kid.at, (int)kid.len);
        ScanKeyData skey;
        IndexScanDesc scan;
        TupleTableSlot* slot = table_slot_create(rel, NULL);

        ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_TEXTEQ, PointerGetDatum(wanted));
        skey.sk_collation = index->rd_indcollation[0];
        scan = index_beginscan(rel, index, snapshot, 1, 0);
        index_rescan(scan, &skey, 1, NULL, 0);
        while (!found && index_getnext_slot(scan, ForwardScanDirection, slot)) {
            bool isnull;
            Datum d = slot_getattr(slot, retired_att, &isnull);
            bytea* k;
            if (!isnull && DatumGetTimestampTz(d) <= now) continue;
            d = slot_getattr(slot, key_att, &isnull);
            if (isnull) continue;
            k = DatumGetByteaPP(d);
            if (VARSIZE_ANY_EXHDR(k) != KEY_SIZE) continue;
            memcpy(key, VARDATA_ANY(k), KEY_SIZE);
            found = true;
        }
        index_endscan(scan);
        ExecDropSingleTupleTableSlot(slot);
    }
    if (index != NULL) index_close(index, AccessShareLock);
    table_close(rel, AccessShareLock);
    return found;
}

/*
 * `mac` is 64 lower-case hex digits spelling HMAC-SHA256(key, text). Its grammar is checked
 * first (that depends on the caller's input only); the bytes are compared without an early
 * exit, so timing tells nothing about how much of a guess was right.
 */
static bool mac_matches(const unsigned char key[KEY_SIZE], const char* text, size_t len,
                        Field mac) {
    uint8 given[PG_SHA256_DIGEST_LENGTH], expected[PG_SHA256_DIGEST_LENGTH];
    pg_hmac_ctx* ctx;
    unsigned char diff = 0;
    bool ok;

    if (mac.len != MAC_HEX_SIZE) return false;
    for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; ++i) {
        int hi = lower_hex_value(mac.at[2 * i]);
        int lo = lower_hex_value(mac.at[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        given[i] = (uint8)(hi * 16 + lo);
    }
    ctx = pg_hmac_create(PG_SHA256);
    if (ctx == NULL) return false;
    ok = pg_hmac_init(ctx, key, KEY_SIZE) == 0 &&
         pg_hmac_update(ctx, (const uint8*)text, len) == 0 &&
         pg_hmac_final(ctx, expected, sizeof(expected)) == 0;
    pg_hmac_free(ctx);
    for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; ++i) diff |= given[i] ^ expected[i];
    explicit_bzero(expected, sizeof(expected));
    return ok && diff == 0;
}

/* The last token whose MAC matched (zero-padded) and the key it matched under. */
static struct {
    bool set;
    char token[TOKEN_MAX + 1];
    unsigned char key[KEY_SIZE];
} last_verified;

/* Whether `token` and `key` are the last verified pair, compared without an early exit. */
static bool verified_before(const char* token, int len, const unsigned char key[KEY_SIZE]) {
    unsigned char diff = last_verified.set ? 0 : 1;
    for (int i = 0; i <= TOKEN_MAX; ++i)
        diff |= (unsigned char)((i < len ? token[i] : 0) ^ last_verified.token[i]);
    for (int i = 0; i < KEY_SIZE; ++i) diff |= key[i] ^ last_verified.key[i];
    return diff == 0;
}

static void remember_verified(const char* token, int len, const unsigned char key[KEY_SIZE]) {
    memset(last_verified.token, 0, sizeof(last_verified.token));
    memcpy(last_verified.token, token, (size_t)len);
    memcpy(last_verified.key, key, KEY_SIZE);
    last_verified.set = true;
}

PG_FUNCTION_INFO_V1(pgtenant_practice_id);

Datum pgtenant_practice_id(PG_FUNCTION_ARGS) {
    const char* token = GetConfigOption("pgtenant.context", true, false);
    Field parts[6];
    int n = 0, len;
    const char* start;
    char pid[16];
    int64 expires;
    int64 now_unix;
    pg_uuid_t practice;
    pg_uuid_t* result;
    unsigned char key[KEY_SIZE];
    bool valid;

    if (token == NULL) PG_RETURN_NULL();
    len = (int)strnlen(token, TOKEN_MAX + 1);
    if (len > TOKEN_MAX) PG_RETURN_NULL();
    start = token;
    for (const char* p = token;; ++p) {
        if (*p == '.' || *p == '\0') {
            if (n == 6) PG_RETURN_NULL();
            parts[n].at = start;
            parts[n].len = (size_t)(p - start);
            ++n;
            if (*p == '\0') break;
            start = p + 1;
        }
    }
    snprintf(pid, sizeof(pid), "%d", MyProcPid);
    if (n != 6 || !field_is(parts[0], "v1") || !field_is(parts[3], pid) ||
        !parse_expires(parts[4], &expires) || !parse_uuid(parts[2], &practice))
        PG_RETURN_NULL();
    /* expires > date_part('epoch', now()): for whole seconds, > the seconds part of now */
    now_unix = GetCurrentTransactionStartTimestamp() / USECS_PER_SEC +
               (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
    if (expires <= now_unix) PG_RETURN_NULL();
    if (!find_key(parts[1], key)) PG_RETURN_NULL();
    /* the signed text: everything before the last '.' */
    valid = verified_before(token, len, key);
    if (!valid && mac_matches(key, token, (size_t)(parts[5].at - 1 - token), parts[5])) {
        remember_verified(token, len, key);
        valid = true;
    }
    explicit_bzero(key, sizeof(key));
    if (!valid) PG_RETURN_NULL();
    result = palloc(sizeof(pg_uuid_t));
    *result = practice;
    PG_RETURN_UUID_P(result);
}
