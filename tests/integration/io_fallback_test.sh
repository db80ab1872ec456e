#!/bin/bash
# The io_uring build falls back to pgtenant-epoll beside it. A copy of the io_uring build under
# that name must make it stop with a clear message, not exec itself forever.
# Usage: io_fallback_test.sh <path of the io_uring build (pgtenant)>
set -u
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$1" "$dir/pgtenant"
cp "$1" "$dir/pgtenant-epoll"
cat >"$dir/users.toml" <<'USERS'
[[login]]
name = "someone"
practice = "0b0b0b0b-1111-4222-8333-444444444444"
scram = "SCRAM-SHA-256$4096:i7vcaiOlvjCwVX84ja/qMQ==$xz35gEZV4DE1Xyta/GZ1nJ8cnE6wnIPYT8z3dH8tkOk=:mKQPGiQcw6Ga6zBXxkcxdqPgqVfVrwFVribH5qJeDyI="
USERS
cat >"$dir/pgtenant.toml" <<'CONF'
[server]
listen_addr = "127.0.0.1"
listen_port = 1
[backend]
host = "127.0.0.1"
port = 1
[tenant]
users_file = "users.toml"
mode = "compat"
CONF
cd "$dir"
env -u PGTENANT_IO timeout 20 ./pgtenant --config pgtenant.toml >out.log 2>&1
rc=$?
cat out.log
if [ $rc -eq 124 ]; then echo "FAIL: still running after 20 s (exec loop?)"; exit 1; fi
if [ $rc -eq 0 ]; then echo "FAIL: exit status 0"; exit 1; fi
if ! grep -q "fell back to itself" out.log; then echo "FAIL: no message naming the cause"; exit 1; fi
echo "PASS: exit $rc"
