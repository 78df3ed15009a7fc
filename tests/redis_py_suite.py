"""Which of redis-py's own tests (tests/test_commands.py and tests/test_pipeline.py of its
sdist, MIT-licensed) run against a senate cluster, and why the others do not
(tests/test_redis_py_suite.py runs them).

The suite is fetched at test time (`pip download` of the pinned sdist) and runs with the
redis package of that same sdist, so the tests and the client match whatever redis-py the
environment holds.
"""

from __future__ import annotations

#: The redis-py release whose sdist holds the suite.
REDIS_PY_VERSION = "7.4.1"
#: The test file of the command tests, inside the sdist.
TEST_FILE = "tests/test_commands.py"
#: The test file of each class of `SELECTED`, inside the sdist.
CLASS_FILES = {
    "TestResponseCallbacks": TEST_FILE,
    "TestRedisCommands": TEST_FILE,
    "TestBinarySave": TEST_FILE,
    "TestPipeline": "tests/test_pipeline.py",
}

#: The tests run, by class: every one must pass (none may skip).
SELECTED: dict[str, list[str]] = {
    "TestResponseCallbacks": ["test_response_callbacks", "test_case_insensitive_command_names"],
    "TestRedisCommands": [
        # Connection and server.
        "test_acl_cat_no_category",
        "test_acl_cat_with_category",
        "test_acl_users",
        "test_acl_whoami",
        "test_client_id",
        "test_client_getname",
        "test_client_setname",
        "test_client_list_after_client_setname",
        "test_client_no_evict",
        "test_client_reply",
        "test_dbsize",
        "test_echo",
        "test_info",
        "test_info_multi_sections",
        "test_ping",
        "test_quit",
        "test_time",
        "test_readonly",
        "test_reset",
        "test_command_docs",
        "test_never_decode_option",
        "test_empty_response_option",
        # Strings.
        "test_append",
        "test_decr",
        "test_decrby",
        "test_get_and_set",
        "test_getdel",
        "test_getex",
        "test_getitem_and_setitem",
        "test_getitem_raises_keyerror_for_missing_key",
        "test_getitem_does_not_raise_keyerror_for_empty_string",
        "test_getrange",
        "test_getset",
        "test_incr",
        "test_incrby",
        "test_incrbyfloat",
        "test_lcs",
        "test_mget",
        "test_mset",
        "test_msetnx",
        "test_psetex",
        "test_psetex_timedelta",
        "test_set_nx",
        "test_set_xx",
        "test_set_px",
        "test_set_px_timedelta",
        "test_set_ex",
        "test_set_ex_str",
        "test_set_ex_timedelta",
        "test_set_exat_timedelta",
        "test_set_pxat_timedelta",
        "test_set_multipleoptions",
        "test_set_keepttl",
        "test_set_get",
        "test_setex",
        "test_setnx",
        "test_setrange",
        "test_strlen",
        "test_substr",
        # Hashes.
        "test_hget_and_hset",
        "test_hset_with_multi_key_values",
        "test_hset_with_key_values_passed_as_list",
        "test_hset_without_data",
        "test_hdel",
        "test_hexists",
        "test_hgetall",
        "test_hincrby",
        "test_hincrbyfloat",
        "test_hkeys",
        "test_hlen",
        "test_hmget",
        "test_hmset",
        "test_hsetnx",
        "test_hvals",
        "test_hstrlen",
        "test_hscan",
        "test_hscan_iter",
        "test_hrandfield",
        # Keyspace.
        "test_copy",
        "test_copy_and_replace",
        "test_delete",
        "test_delete_with_multiple_keys",
        "test_delitem",
        "test_unlink",
        "test_unlink_with_multiple_keys",
        "test_exists",
        "test_exists_contains",
        "test_keys",
        "test_randomkey",
        "test_rename",
        "test_renamenx",
        "test_scan",
        "test_scan_iter",
        # Expiry.
        "test_expire",
        "test_expire_option_nx",
        "test_expire_option_xx",
        "test_expire_option_gt",
        "test_expire_option_lt",
        "test_expireat_datetime",
        "test_expireat_no_key",
        "test_expireat_unixtime",
        "test_expiretime",
        "test_expireat_option_nx",
        "test_expireat_option_xx",
        "test_expireat_option_gt",
        "test_expireat_option_lt",
        "test_pexpire",
        "test_pexpire_option_nx",
        "test_pexpire_option_xx",
        "test_pexpire_option_gt",
        "test_pexpire_option_lt",
        "test_pexpireat_datetime",
        "test_pexpireat_no_key",
        "test_pexpireat_unixtime",
        "test_pexpireat_option_nx",
        "test_pexpireat_option_xx",
        "test_pexpireat_option_gt",
        "test_pexpireat_option_lt",
        "test_pexpiretime",
        "test_pttl",
        "test_pttl_no_key",
        "test_ttl",
        "test_ttl_nokey",
    ],
    "TestBinarySave": ["test_binary_get_set", "test_large_responses"],
    # Pipelines, MULTI/EXEC transactions and WATCH (redis-py's `pipeline()`, which is a
    # transaction by default, and `transaction()`).
    "TestPipeline": [
        "test_pipeline_is_true",
        "test_pipeline_memoryview",
        "test_pipeline_length",
        "test_pipeline_no_transaction",
        "test_pipeline_no_transaction_watch",
        "test_pipeline_no_transaction_watch_failure",
        "test_exec_error_raised",
        "test_transaction_with_empty_error_command",
        "test_pipeline_with_empty_error_command",
        "test_parse_error_raised",
        "test_parse_error_raised_transaction",
        "test_watch_succeed",
        "test_watch_failure",
        "test_watch_failure_in_empty_transaction",
        "test_unwatch",
        "test_close_is_reset",
        "test_closing",
        "test_transaction_callable",
        "test_transaction_callable_returns_value_from_callable",
        "test_exec_error_in_no_transaction_pipeline",
        "test_exec_error_in_no_transaction_pipeline_unicode_command",
        "test_exec_error_in_pipeline_truncated",
        "test_pipeline_discard",
        "test_send_set_commands_over_pipeline",
    ],
}

#: Tests of the commands senate has that still do not run, and why. Every other test of the
#: files is deselected because it exercises what senate does not have: lists, sets, sorted
#: sets, streams, geo, bitmaps, HyperLogLog, pub/sub, scripting, modules, replication,
#: persistence (SAVE, DUMP/RESTORE), runtime configuration (CONFIG SET, ACL SETUSER),
#: SLOWLOG, CLIENT KILL/PAUSE/TRACKING, or a Redis Cluster.
DESELECTED: dict[str, str] = {
    "test_type": "stores lists, sets and sorted sets to check their TYPE",
    "test_scan_type": "stores sets to filter them out by TYPE",
    "test_copy_to_another_database": "senate has one database (db 0)",
    "test_select": "senate has one database (db 0)",
    "test_hscan_novalues": "HSCAN NOVALUES is Redis 7.4's (the test skips below 7.3.240)",
    "test_hscan_iter_novalues": "HSCAN NOVALUES is Redis 7.4's (the test skips below 7.3.240)",
    "test_command": "expects at least 100 commands (a full Redis); senate lists its own",
    "test_command_count": "expects at least 100 commands (a full Redis); senate lists its own",
    "test_command_list": "filters COMMAND LIST by module, ACL category and pattern",
    "test_command_getkeys": "also asks the keys of EVAL (scripting), which senate lacks",
    "test_command_getkeysandflags": "asks the keys of LMOVE (lists), which senate lacks",
    "test_command_on_invalid_key_type": "stores a list to provoke WRONGTYPE",
    "test_client_info": "expects CLIENT INFO fields senate does not track (addr, laddr, ...)",
    "test_mset_on_cluster_multiple_slots": "for a Redis Cluster (CROSSSLOT)",
    "test_get_set_bit": "SETBIT/GETBIT (bitmaps) are not implemented",
    "test_dump_and_restore_absttl": "DUMP/RESTORE are not implemented",
    "test_auth": "changes users at runtime (ACL SETUSER); senate's users come from its config",
    # tests/test_pipeline.py
    "test_pipeline": "pipelines ZADD and ZINCRBY (sorted sets)",
    "test_exec_error_in_response": "provokes its error with LPUSH on a string (lists)",
    "test_watch_exec_no_unwatch": "checks what the client sent with MONITOR, not implemented",
    "test_watch_reset_unwatch": "checks what the client sent with MONITOR, not implemented",
    "test_pipeline_with_bitfield": "BITFIELD (bitmaps) is not implemented",
    "test_pipeline_with_msetex": "for a Redis Cluster, and MSETEX of Redis 8.4",
}


def node_ids() -> list[str]:
    """The pytest node ids of the selected tests."""
    return [
        f"{CLASS_FILES[cls]}::{cls}::{name}" for cls, names in SELECTED.items() for name in names
    ]
