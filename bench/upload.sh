#!/usr/bin/env bash
# Upload benchmark (issue 3), run by hand:  bash bench/upload.sh
#
# Uploads one recording of SIZE_MIB (default 1024 MiB) to `vitrine serve` (release build,
# SQLite) as one streamed PUT and through tus in CHUNK_MIB (default 8) MiB PATCHes, with
# curl, and measures throughput and the server's peak resident memory (VmHWM) against its
# idle RSS; the server is restarted between the two so each peak is its own. In the same
# run, on the same disk, the peer: nginx (Debian's nginx-light, dav_methods PUT) accepting
# the same file as one PUT (also timed with an fsync of the file after it, which is what
# vitrine does before it answers) and as the same number of CHUNK_MIB PUTs (nginx cannot
# append, so that is only the per-request cost of chunking). vitrine syncs every chunk to
# disk before acknowledging it (tus offsets must survive a crash); nginx does not sync.
set -euo pipefail
size_mib=${SIZE_MIB:-1024}
chunk_mib=${CHUNK_MIB:-8}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/var/tmp}/vitrine-upload-bench.XXXXXX")
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || { echo "nginx is missing: apt-get install nginx-light"; exit 1; }
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

cd "$root"
cargo build --release -q -p vitrine -p vitrine-bench

# A well-formed MP4: a real clip, then a `skip` box (players ignore it) of random bytes.
file="$work/recording.mp4"
python3 - "$file" "$size_mib" crates/vitrine-blob/tests/fixtures/faststart.mp4 <<'PY'
import os, struct, sys
path, mib, clip = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], 'rb').read()
total = mib * 1024 * 1024
block = os.urandom(1024 * 1024)
with open(path, 'wb') as f:
    f.write(clip)
    f.write(struct.pack('>I', total - len(clip)) + b'skip')
    left = total - len(clip) - 8
    while left:
        n = min(left, len(block)); f.write(block[:n]); left -= n
PY
bytes=$(stat -c %s "$file")
expected=$(sha256sum "$file" | cut -d' ' -f1)
chunk=$((chunk_mib * 1024 * 1024))
echo "== $((bytes / 1048576)) MiB recording, tus chunks of $chunk_mib MiB, work dir $work ($(df --output=source "$work" | tail -1))"

url="sqlite://$work/vitrine.db?mode=rwc"
read -r token submission < <(target/release/seed-upload --database-url "$url" | tail -n 1)
port=18081
start_server() {
  target/release/vitrine serve --database-url "$url" --listen "127.0.0.1:$port" \
    --data-dir "$work/data" --log warn >>"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  idle=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; }
peak() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
now() { date +%s.%N; }
report() { # name seconds pid idle_kib
  local peak_kib; peak_kib=$(peak "$3")
  awk -v n="$1" -v s="$2" -v b="$bytes" -v p="$peak_kib" -v i="$4" 'BEGIN {
    printf "%-34s %8.1f MB/s  (%6.2f s)   peak RSS %7.1f MiB, growth %6.1f MiB\n",
      n, b / s / 1e6, s, p / 1024, (p - i) / 1024 }'
}
api="http://127.0.0.1:$port/api/v1/submissions/$submission"
auth="Authorization: Bearer $token"

# vitrine: one streamed PUT.
start_server
t0=$(now)
answer=$(curl -sS --fail-with-body -T "$file" -H "$auth" -H 'Expect:' -H 'Content-Type: video/mp4' \
  "$api/recordings?filename=bench.mp4")
t1=$(now)
report "vitrine PUT (streamed)" "$(echo "$t1 - $t0" | bc -l)" "$server" "$idle"
echo "$answer" | grep -q "\"sha256\":\"$expected\"" || { echo "wrong sha256: $answer"; exit 1; }
stop_server

# vitrine: tus, CHUNK_MIB PATCHes.
start_server
t0=$(now)
location=$(curl -sS --fail-with-body -o /dev/null -D - -X POST -H "$auth" -H 'Tus-Resumable: 1.0.0' \
  -H "Upload-Length: $bytes" "$api/uploads" | awk 'tolower($1)=="location:" {print $2}' | tr -d '\r')
offset=0
while [ "$offset" -lt "$bytes" ]; do
  dd if="$file" bs="$chunk" skip="$offset" count="$chunk" iflag=skip_bytes,count_bytes status=none |
    curl -sS --fail-with-body -o /dev/null -X PATCH -H "$auth" -H 'Tus-Resumable: 1.0.0' -H 'Expect:' \
      -H "Upload-Offset: $offset" -H 'Content-Type: application/offset+octet-stream' \
      --data-binary @- "http://127.0.0.1:$port$location"
  offset=$((offset + chunk < bytes ? offset + chunk : bytes))
done
t1=$(now)
report "vitrine tus (${chunk_mib} MiB PATCHes)" "$(echo "$t1 - $t0" | bc -l)" "$server" "$idle"

# tus interrupted: the whole file in one PATCH, cut off by curl after half of it went, then
# resumed from the server's offset (HEAD) in CHUNK_MIB PATCHes.
location=$(curl -sS --fail-with-body -o /dev/null -D - -X POST -H "$auth" -H 'Tus-Resumable: 1.0.0' \
  -H "Upload-Length: $bytes" "$api/uploads" | awk 'tolower($1)=="location:" {print $2}' | tr -d '\r')
head -c $((bytes / 2)) "$file" | { cat; sleep 30; } |
  curl -sS -o /dev/null --max-time 10 -X PATCH -H "$auth" -H 'Tus-Resumable: 1.0.0' -H 'Expect:' \
    -H "Upload-Offset: 0" -H "Content-Length: $bytes" -H 'Content-Type: application/offset+octet-stream' \
    -T - "http://127.0.0.1:$port$location" 2>/dev/null || true
offset=""
for _ in $(seq 100); do
  offset=$(curl -sS -I -H "$auth" -H 'Tus-Resumable: 1.0.0' "http://127.0.0.1:$port$location" |
    awk 'tolower($1)=="upload-offset:" {print $2}' | tr -d '\r')
  [ -n "$offset" ] && break; sleep 0.1
done
echo "   interrupted after $((offset / 1048576)) MiB; resuming from the server's offset"
while [ "$offset" -lt "$bytes" ]; do
  dd if="$file" bs="$chunk" skip="$offset" count="$chunk" iflag=skip_bytes,count_bytes status=none |
    curl -sS --fail-with-body -o /dev/null -X PATCH -H "$auth" -H 'Tus-Resumable: 1.0.0' -H 'Expect:' \
      -H "Upload-Offset: $offset" -H 'Content-Type: application/offset+octet-stream' \
      --data-binary @- "http://127.0.0.1:$port$location"
  offset=$((offset + chunk < bytes ? offset + chunk : bytes))
done
echo "   resumed upload complete"
stop_server
stored=$(sha256sum "$work"/data/blobs/recordings/* | cut -d' ' -f1 | sort -u)
[ "$stored" = "$expected" ] || { echo "stored recordings differ from the file"; exit 1; }

# nginx, same disk, same run.
nport=18082
mkdir -p "$work/nginx/root" "$work/nginx/body-temp"
# Started as root, nginx's worker runs as an unprivileged user: let it write there.
chmod 755 "$work" "$work/nginx"
chmod 777 "$work/nginx/root" "$work/nginx/body-temp"
sed -e "s|WORK|$work|g" -e "s|PORT|$nport|g" bench/nginx-upload.conf >"$work/nginx/nginx.conf"
"$nginx_bin" -c "$work/nginx/nginx.conf" -p "$work/nginx" &
for _ in $(seq 100); do [ -s "$work/nginx/nginx.pid" ] && break; sleep 0.1; done
sleep 0.3
worker=$(pgrep -P "$(cat "$work/nginx/nginx.pid")" | head -1)
nidle=$(awk '/VmRSS/ {print $2}' "/proc/$worker/status")
t0=$(now)
curl -sS --fail-with-body -o /dev/null -T "$file" -H 'Expect:' "http://127.0.0.1:$nport/upload/whole.mp4"
t1=$(now)
report "nginx PUT (peer)" "$(echo "$t1 - $t0" | bc -l)" "$worker" "$nidle"
# The same, made durable as vitrine makes it before answering (fsync of the file).
t0=$(now)
curl -sS --fail-with-body -o /dev/null -T "$file" -H 'Expect:' "http://127.0.0.1:$nport/upload/synced.mp4"
sync "$work/nginx/root/upload/synced.mp4"
t1=$(now)
report "nginx PUT + fsync (peer)" "$(echo "$t1 - $t0" | bc -l)" "$worker" "$nidle"
t0=$(now)
offset=0; n=0
while [ "$offset" -lt "$bytes" ]; do
  dd if="$file" bs="$chunk" skip="$offset" count="$chunk" iflag=skip_bytes,count_bytes status=none |
    curl -sS --fail-with-body -o /dev/null -X PUT -H 'Expect:' --data-binary @- \
      "http://127.0.0.1:$nport/upload/chunk-$n"
  offset=$((offset + chunk)); n=$((n + 1))
done
t1=$(now)
report "nginx ${chunk_mib} MiB PUTs (peer)" "$(echo "$t1 - $t0" | bc -l)" "$worker" "$nidle"
[ "$(sha256sum "$work/nginx/root/upload/whole.mp4" | cut -d' ' -f1)" = "$expected" ] || echo "nginx stored other bytes"
