#!/usr/bin/env bash
# Upload benchmark to S3 (issue 12), run by hand:  bash bench/upload-s3.sh
#
# Starts s3s-fs (target/tools/s3s-fs/bin/s3s-fs, as .ci/run installs it, or $S3S_FS) on a
# loopback port, then `vitrine serve` (release build, SQLite) with its recordings in that
# bucket, and uploads one recording of SIZE_MIB (default 512) through tus in CHUNK_MIB
# (default 8) MiB PATCHes and as one streamed PUT, with curl: MB/s, and the server's peak
# resident memory (VmHWM) against its idle RSS; the server is restarted between the two so
# each peak is its own. In the same run, the peer: the same file PUT straight to s3s-fs by
# curl, signed with SigV4 with an UNSIGNED-PAYLOAD, and the same file as curl's own
# multipart upload (parts of CHUNK_MIB, in sequence). vitrine runs with parts of PART_MIB
# (default 8) and unsigned payloads (UNSIGNED, default true, as curl sends; false signs
# each part's SHA-256, vitrine's default over http://).
set -euo pipefail
size_mib=${SIZE_MIB:-512}
chunk_mib=${CHUNK_MIB:-8}
part_mib=${PART_MIB:-8}
unsigned=${UNSIGNED:-true}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
s3s_fs=${S3S_FS:-$root/target/tools/s3s-fs/bin/s3s-fs}
[ -x "$s3s_fs" ] || { echo "s3s-fs is missing: cargo install s3s-fs --version 0.14.1 --features binary --locked --root target/tools/s3s-fs"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/var/tmp}/vitrine-upload-s3-bench.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

cd "$root"
cargo build --release -q -p vitrine -p vitrine-bench

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
echo "== $((bytes / 1048576)) MiB recording, tus chunks of $chunk_mib MiB, parts of $part_mib MiB, unsigned payload $unsigned, work dir $work ($(df --output=source "$work" | tail -1)), $(nproc) cores"

# The bucket.
key=bench-key secret=bench-secret bucket=recordings s3port=18091
mkdir -p "$work/s3/$bucket"
"$s3s_fs" --host 127.0.0.1 --port "$s3port" --access-key "$key" --secret-key "$secret" "$work/s3" \
  >"$work/s3s-fs.log" 2>&1 &
s3pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$s3port/" && break; sleep 0.1; done

url="sqlite://$work/vitrine.db?mode=rwc"
read -r token submission < <("$target/release/seed-upload" --database-url "$url" | tail -n 1)
port=18092
start_server() {
  "$target/release/vitrine" serve --database-url "$url" --listen "127.0.0.1:$port" \
    --data-dir "$work/data" --log warn \
    --s3-endpoint "http://127.0.0.1:$s3port" --s3-allow-http --s3-bucket "$bucket" \
    --s3-access-key-id "$key" --s3-secret-access-key "$secret" \
    --s3-part-size-mib "$part_mib" --s3-unsigned-payload="$unsigned" >>"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  idle=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; }
peak() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
now() { date +%s.%N; }
# Each line starts with the page cache written back: a phase does not pay for the previous
# phase's 512 MiB still being flushed to the disk (which made the figures swing by ±30 %).
settle() { sync; sleep 1; }
report() { # name seconds pid idle_kib
  local peak_kib; peak_kib=$(peak "$3")
  awk -v n="$1" -v s="$2" -v b="$bytes" -v p="$peak_kib" -v i="$4" 'BEGIN {
    printf "%-36s %8.1f MB/s  (%6.2f s)   peak RSS %7.1f MiB, growth %6.1f MiB\n",
      n, b / s / 1e6, s, p / 1024, (p - i) / 1024 }'
}
api="http://127.0.0.1:$port/api/v1/submissions/$submission"
auth="Authorization: Bearer $token"

# vitrine: tus, CHUNK_MIB PATCHes (each request ends in a tail under one part, written to
# the bucket and read back by the next request, as any server would).
start_server
settle
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
tus_s=$(echo "$t1 - $t0" | bc -l)
report "vitrine tus to S3 (${chunk_mib} MiB PATCHes)" "$tus_s" "$server" "$idle"
stop_server

# vitrine: one streamed PUT.
start_server
settle
t0=$(now)
answer=$(curl -sS --fail-with-body -T "$file" -H "$auth" -H 'Expect:' -H 'Content-Type: video/mp4' \
  "$api/recordings?filename=bench.mp4")
t1=$(now)
put_s=$(echo "$t1 - $t0" | bc -l)
report "vitrine PUT to S3 (streamed)" "$put_s" "$server" "$idle"
echo "$answer" | grep -q "\"sha256\":\"$expected\"" || { echo "wrong sha256: $answer"; exit 1; }
stop_server
for object in "$work/s3/$bucket"/recordings/*; do
  [ "$(sha256sum "$object" | cut -d' ' -f1)" = "$expected" ] || { echo "$object differs from the file"; exit 1; }
done

# The peer: curl PUT straight to s3s-fs, SigV4, same file, same run.
sidle=$(awk '/VmRSS/ {print $2}' "/proc/$s3pid/status")
settle
t0=$(now)
# (No `Expect:` override here: curl signs the empty header and s3s-fs refuses the signature.)
curl -sS --fail-with-body -o /dev/null -T "$file" \
  --aws-sigv4 "aws:amz:us-east-1:s3" --user "$key:$secret" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
  "http://127.0.0.1:$s3port/$bucket/direct.mp4"
t1=$(now)
curl_s=$(echo "$t1 - $t0" | bc -l)
report "curl PUT straight to s3s-fs (peer)" "$curl_s" "$s3pid" "$sidle"
[ "$(sha256sum "$work/s3/$bucket/direct.mp4" | cut -d' ' -f1)" = "$expected" ] || echo "s3s-fs stored other bytes"
# The second peer: curl uploading the same file to s3s-fs as a multipart upload of parts of
# the tus chunk's size, one after the other, then completing it: the least any multipart
# client asks of the bucket (s3s-fs writes each part to its own file and, at completion,
# reads them all back into the object, hashing them again).
rm -f "$work/s3/$bucket/direct.mp4"
s3() { curl -sS --fail-with-body --aws-sigv4 "aws:amz:us-east-1:s3" --user "$key:$secret" \
  -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"; }
mkdir -p "$work/parts"
split -b "$chunk" -d -a 5 "$file" "$work/parts/part-"
settle
t0=$(now)
upload_id=$(s3 -X POST "http://127.0.0.1:$s3port/$bucket/multipart.mp4?uploads=" |
  sed -n 's:.*<UploadId>\(.*\)</UploadId>.*:\1:p')
complete="<CompleteMultipartUpload>"
n=0
for part in "$work"/parts/part-*; do
  n=$((n + 1))
  etag=$(s3 -o /dev/null -D - -T "$part" \
    "http://127.0.0.1:$s3port/$bucket/multipart.mp4?partNumber=$n&uploadId=$upload_id" |
    awk 'tolower($1)=="etag:" {print $2}' | tr -d '\r')
  complete+="<Part><PartNumber>$n</PartNumber><ETag>$etag</ETag></Part>"
done
complete+="</CompleteMultipartUpload>"
s3 -o /dev/null -X POST -H 'Content-Type: application/xml' --data-binary "$complete" \
  "http://127.0.0.1:$s3port/$bucket/multipart.mp4?uploadId=$upload_id"
t1=$(now)
multipart_s=$(echo "$t1 - $t0" | bc -l)
report "curl multipart to s3s-fs (peer, ${chunk_mib} MiB parts)" "$multipart_s" "$s3pid" "$sidle"
[ "$(sha256sum "$work/s3/$bucket/multipart.mp4" | cut -d' ' -f1)" = "$expected" ] || echo "s3s-fs stored other bytes (multipart)"
awk -v t="$tus_s" -v p="$put_s" -v c="$curl_s" -v m="$multipart_s" 'BEGIN {
  printf "vitrine PUT / curl PUT: %.2fx (target >= 0.8x); tus / curl PUT: %.2fx; tus / curl multipart: %.2fx; curl multipart / curl PUT: %.2fx\n", c / p, c / t, m / t, c / m }'
