#!/usr/bin/env bash
# verify.sh: checks this OsirisCare auditor pack offline, with nothing but
# bash, coreutils (sha256sum, base64, sort, tail, mktemp), xxd and
# OpenSSL 3 or later. README.md describes each step and what it proves.
#
#   ./verify.sh                      check the pack against its own log key
#   ./verify.sh --log-key '<vkey>'   and require that key to be the one you
#                                    got from the practice (monthly email/PDF)
#
# Prints progress, then one summary line; exits 1 on the first failure,
# naming the file and why, and 2 when a tool is missing.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")"

GIVEN_KEY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --log-key) GIVEN_KEY="${2:?--log-key needs the key, e.g. --log-key 'portal.example/log/…+1a2b3c4d+AB…'}"; shift 2 ;;
    --log-key=*) GIVEN_KEY="${1#*=}"; shift ;;
    -h|--help) printf 'usage: ./verify.sh [--log-key VKEY]\nChecks this auditor pack; see README.md.\n'; exit 0 ;;
    *) printf 'verify.sh: unknown argument %s (try --help)\n' "$1" >&2; exit 2 ;;
  esac
done

fail() { printf 'FAILED: %s: %s\n' "$1" "$2" >&2; exit 1; }
say() { printf '%s\n' "$*" >&2; }
for tool in openssl sha256sum base64 xxd sort tail mktemp; do
  command -v "$tool" >/dev/null 2>&1 || { say "verify.sh needs $tool, which is not installed"; exit 2; }
done
ver=$(openssl version)
if ! [[ $ver =~ ^OpenSSL\ ([0-9]+)\. ]] || (( BASH_REMATCH[1] < 3 )); then
  say "verify.sh needs OpenSSL 3 or later (for Ed25519 with -rawin); this is: $ver"; exit 2
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- helpers ---------------------------------------------------------------
UUID='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
DEC='(0|[1-9][0-9]*)'
B64HASH='^[A-Za-z0-9+/]{43}=$'
CHAIN_DOMAIN_HEX=6f73697269732d636861696e2d7631   # "osiris-chain-v1"

sha_hex() { local h; h=$(sha256sum); printf '%s' "${h%% *}"; }
# RFC 6962 node hash SHA-256(0x01 || left || right) of two hex hashes, in R.
node() { R=$(xxd -r -p <<< "01$1$2" | sha256sum); R=${R%% *}; }
# SHA-256(0x00 || leaf text) of the leaf text in $1 (RFC 6962 leaf hash).
leaf_hash_of() { { printf '\0'; printf '%s' "$1"; } | sha_hex; }
ends_in_newline() { [ -s "$1" ] && [ "$(tail -c 1 "$1" | xxd -p)" = 0a ]; }

# Ed25519: key (hex), message file, signature (hex).
ed_verify() {
  printf '302a300506032b6570032100%s' "$1" | xxd -r -p > "$TMP/key.der"
  printf '%s' "$3" | xxd -r -p > "$TMP/sig.bin"
  openssl pkeyutl -verify -pubin -keyform DER -inkey "$TMP/key.der" -rawin \
    -in "$2" -sigfile "$TMP/sig.bin" >/dev/null 2>&1
}

# A verifier key <name>+<key ID>+base64(type || key) of signature type $2
# (01 signed-note Ed25519, 04 cosignature/v1): checks the key ID, sets
# VK_NAME, VK_ID and VK_KEY (hex).
parse_vkey() {
  local v=$1 type=$2 file=$3 rest material h
  VK_NAME=${v%%+*}; rest=${v#*+}; VK_ID=${rest%%+*}; material=${rest#*+}
  [[ -n $VK_NAME && $VK_NAME != *[[:space:]]* && $VK_ID =~ ^[0-9a-f]{8}$ ]] \
    || fail "$file" "$v is not a verifier key <name>+<8 hex digits>+<base64>"
  h=$(printf '%s' "$material" | base64 -d 2>/dev/null | xxd -p -c 64) || true
  [[ $h =~ ^${type}[0-9a-f]{64}$ ]] || fail "$file" "the key of $VK_NAME is not type 0x$type and 32 bytes"
  VK_KEY=${h:2}
  h=$({ printf '%s\n' "$VK_NAME"; printf '%s' "$material" | base64 -d; } | sha_hex)
  [ "${h:0:8}" = "$VK_ID" ] || fail "$file" "the key ID of $VK_NAME does not match its name and key"
}

# RFC 9162 §2.1.3.2: leaf index $1 in a tree of $2 leaves, leaf hash $3,
# root $4, proof hashes in PROOF.
verify_inclusion() {
  local fn=$1 sn=$(($2 - 1)) r=$3 p
  (( $1 < $2 )) || return 1
  for p in "${PROOF[@]}"; do
    (( sn == 0 )) && return 1
    if (( (fn & 1) == 1 || fn == sn )); then
      node "$p" "$r"; r=$R
      if (( (fn & 1) == 0 )); then
        while (( (fn & 1) == 0 && fn != 0 )); do fn=$((fn >> 1)); sn=$((sn >> 1)); done
      fi
    else
      node "$r" "$p"; r=$R
    fi
    fn=$((fn >> 1)); sn=$((sn >> 1))
  done
  (( sn == 0 )) && [ "$r" = "$4" ]
}

# RFC 9162 §2.1.4.2: from $1 leaves (root $3) to $2 leaves (root $4),
# proof hashes in PROOF.
verify_consistency() {
  local first=$1 second=$2 fn sn fr sr c
  local path=("${PROOF[@]}")
  (( first <= second )) || return 1
  if (( first == second || first == 0 )); then
    (( ${#path[@]} == 0 )) || return 1
    (( first == 0 )) || [ "$3" = "$4" ]; return
  fi
  (( ${#path[@]} > 0 )) || return 1
  (( (first & (first - 1)) == 0 )) && path=("$3" "${path[@]}")
  fn=$((first - 1)); sn=$((second - 1))
  while (( fn & 1 )); do fn=$((fn >> 1)); sn=$((sn >> 1)); done
  fr=${path[0]}; sr=${path[0]}
  for c in "${path[@]:1}"; do
    (( sn == 0 )) && return 1
    if (( (fn & 1) == 1 || fn == sn )); then
      node "$c" "$fr"; fr=$R; node "$c" "$sr"; sr=$R
      if (( (fn & 1) == 0 )); then
        while (( (fn & 1) == 0 && fn != 0 )); do fn=$((fn >> 1)); sn=$((sn >> 1)); done
      fi
    else
      node "$sr" "$c"; sr=$R
    fi
    fn=$((fn >> 1)); sn=$((sn >> 1))
  done
  (( sn == 0 )) && [ "$fr" = "$3" ] && [ "$sr" = "$4" ]
}

# Base64 hashes (one per argument) to hex lines in PROOF.
decode_hashes() {
  local file=$1; shift
  local h
  for h in "$@"; do [[ $h =~ $B64HASH ]] || fail "$file" "\"$h\" is not a base64 SHA-256 hash"; done
  PROOF=()
  (( $# == 0 )) && return
  mapfile -t PROOF < <(printf '%s\n' "$@" | base64 -d | xxd -p -c 32)
}

# A checkpoint note: the log's signature, then each cosignature of a policy
# witness, then the quorum. Sets CP_SIZE, CP_ROOT (hex), CP_LINES (the
# three text lines) and CP_COSIGS.
open_checkpoint() {
  local f=$1 lines=() i l rest sname shex w ts signed=0 cosigned=" "
  local -a cs=()
  [ -f "$f" ] || fail "$f" "is missing from the pack"
  ends_in_newline "$f" || fail "$f" "does not end in a newline"
  mapfile -t lines < "$f"
  (( ${#lines[@]} >= 5 )) && [ -z "${lines[3]}" ] \
    || fail "$f" "is not a checkpoint note (origin, size, root hash, a blank line, signature lines)"
  [ "${lines[0]}" = "$LOG_NAME" ] || fail "$f" "is of log ${lines[0]}, not $LOG_NAME (policy.txt)"
  [[ ${lines[1]} =~ ^$DEC$ ]] || fail "$f" "line 2 is not a tree size"
  [[ ${lines[2]} =~ $B64HASH ]] || fail "$f" "line 3 is not a base64 root hash"
  CP_SIZE=${lines[1]}
  CP_ROOT=$(printf '%s' "${lines[2]}" | base64 -d | xxd -p -c 32)
  CP_LINES=("${lines[0]}" "${lines[1]}" "${lines[2]}")
  printf '%s\n' "${CP_LINES[@]}" > "$TMP/cp.txt"
  for (( i = 4; i < ${#lines[@]}; i++ )); do
    l=${lines[i]}
    [[ $l == "— "* ]] || fail "$f" "line $((i + 1)) is not a signature line (— <name> <base64>)"
    rest=${l#"— "}; sname=${rest%% *}
    shex=$(printf '%s' "${rest#* }" | base64 -d 2>/dev/null | xxd -p -c 256) || true
    if [ "$sname" = "$LOG_NAME" ] && [ "${shex:0:8}" = "$LOG_ID" ]; then
      (( ${#shex} == 136 )) || fail "$f" "the log's signature is not 4 + 64 bytes"
      ed_verify "$LOG_KEY" "$TMP/cp.txt" "${shex:8}" || fail "$f" "the log's signature does not verify"
      signed=1
      continue
    fi
    for w in "${!W_NAME[@]}"; do
      [ "$sname" = "${W_NAME[$w]}" ] && [ "${shex:0:8}" = "${W_ID[$w]}" ] || continue
      (( ${#shex} == 152 )) || fail "$f" "the cosignature of $sname is not 4 + 8 + 64 bytes"
      ts=$((16#${shex:8:16}))
      { printf 'cosignature/v1\ntime %s\n' "$ts"; cat "$TMP/cp.txt"; } > "$TMP/cosig.msg"
      ed_verify "${W_KEY[$w]}" "$TMP/cosig.msg" "${shex:24}" \
        || fail "$f" "the cosignature of $sname does not verify"
      cosigned+="$w "
    done
  done
  (( signed == 1 )) || fail "$f" "carries no signature of the log key $LOG_NAME+$LOG_ID"
  for w in "${REQUIRED[@]}"; do
    [[ $cosigned == *" $w "* ]] \
      || fail "$f" "lacks the cosignature of witness $w, which policy.txt's quorum requires"
  done
  read -r -a cs <<< "$cosigned"
  CP_COSIGS=${#cs[@]}
}

# A tlog-proof file $1 for the leaf text $2 (from the file $3) against the
# final checkpoint; sets PROOF_INDEX. When the proof's extra differs from
# the leaf file and is the one in the log, the leaf file is named.
check_proof() {
  local f=$1 leaf=$2 leaf_file=$3 pl=() i=1 hashes=() extra=""
  [ -f "$f" ] || fail "$f" "is missing from the pack"
  mapfile -t pl < "$f"
  [ "${pl[0]:-}" = "c2sp.org/tlog-proof@v1" ] || fail "$f" "is not a c2sp.org/tlog-proof@v1 file"
  if [[ ${pl[1]:-} == "extra "* ]]; then
    extra=${pl[1]#extra }
    i=2
  fi
  [[ ${pl[i]:-} =~ ^index\ $DEC$ ]] || fail "$f" "has no index line"
  PROOF_INDEX=${BASH_REMATCH[1]}
  i=$((i + 1))
  while [ -n "${pl[i]:-}" ]; do hashes+=("${pl[i]}"); i=$((i + 1)); done
  [ "${pl[i+1]:-}" = "${FINAL_LINES[0]}" ] && [ "${pl[i+2]:-}" = "${FINAL_LINES[1]}" ] \
    && [ "${pl[i+3]:-}" = "${FINAL_LINES[2]}" ] \
    || fail "$f" "its checkpoint is not the one in checkpoints/final.checkpoint"
  decode_hashes "$f" "${hashes[@]}"
  if [ -n "$extra" ] && [ "$(printf '%s' "$extra" | base64 -d 2>/dev/null | sha_hex)" != "$(printf '%s' "$leaf" | sha_hex)" ]; then
    local extra_hash
    extra_hash=$({ printf '\0'; printf '%s' "$extra" | base64 -d 2>/dev/null; } | sha_hex)
    if verify_inclusion "$PROOF_INDEX" "$FINAL_SIZE" "$extra_hash" "$FINAL_ROOT"; then
      fail "$leaf_file" "is not the leaf the log holds at index $PROOF_INDEX: the copy in $f is, and its proof verifies"
    fi
    fail "$f" "its extra is not the leaf it proves, and neither is in the log"
  fi
  verify_inclusion "$PROOF_INDEX" "$FINAL_SIZE" "$(leaf_hash_of "$leaf")" "$FINAL_ROOT" \
    || fail "$f" "the inclusion proof of leaf $PROOF_INDEX does not verify against the final checkpoint: the proof or its leaf was changed"
}

# --- 1. files ----------------------------------------------------------------
say "1/6 every file against manifest.sha256"
[ -f manifest.sha256 ] || fail manifest.sha256 "is missing from the pack"
if ! out=$(sha256sum --strict --quiet -c manifest.sha256 2>/dev/null); then
  while IFS= read -r line; do [[ $line == *": FAILED"* ]] && break; done <<< "$out"
  fail "${line%%: FAILED*}" "its SHA-256 is not the one manifest.sha256 lists, or it is missing"
fi
declare -A LISTED=()
while read -r _ name; do LISTED[$name]=1; done < manifest.sha256
shopt -s globstar nullglob
for f in **; do
  [ -f "$f" ] && [ "$f" != manifest.sha256 ] || continue
  [ -n "${LISTED[$f]:-}" ] || fail "$f" "is not listed in manifest.sha256"
done

# --- 2. keys and policy --------------------------------------------------------
say "2/6 keys and policy"
declare -A W_NAME=() W_ID=() W_KEY=() GROUP=()
LOG_VKEY="" QUORUM="" n=0
while IFS= read -r line || [ -n "$line" ]; do
  n=$((n + 1))
  read -r -a w <<< "$line" || true
  (( ${#w[@]} == 0 )) && continue
  case "${w[0]}" in
    \#*) ;;
    log) LOG_VKEY=${w[1]:-} ;;
    witness)
      parse_vkey "${w[2]:-}" 04 policy.txt
      W_NAME[${w[1]}]=$VK_NAME; W_ID[${w[1]}]=$VK_ID; W_KEY[${w[1]}]=$VK_KEY ;;
    group)
      [ "${w[2]:-}" = all ] || fail policy.txt "line $n: this script reads only groups that need all members"
      GROUP[${w[1]}]="${w[*]:3}" ;;
    quorum) QUORUM=${w[1]:-} ;;
    *) fail policy.txt "line $n is not one this script reads (log, witness, group, quorum)" ;;
  esac
done < policy.txt
[ -n "$LOG_VKEY" ] || fail policy.txt "has no log line"
parse_vkey "$LOG_VKEY" 01 policy.txt
LOG_NAME=$VK_NAME LOG_ID=$VK_ID LOG_KEY=$VK_KEY
read -r pack_key < keys/log.vkey || true
[ "${pack_key:-}" = "$LOG_VKEY" ] || fail keys/log.vkey "is not the log key policy.txt names"
if [ -n "$GIVEN_KEY" ] && [ "$GIVEN_KEY" != "$LOG_VKEY" ]; then
  fail keys/log.vkey "the pack's log key $LOG_VKEY is not the one you gave ($GIVEN_KEY): this pack was not signed by your practice's log"
fi
REQUIRED=()
case "$QUORUM" in
  "") fail policy.txt "has no quorum line" ;;
  none) ;;
  *)
    if [ -n "${W_NAME[$QUORUM]:-}" ]; then REQUIRED=("$QUORUM")
    elif [ -n "${GROUP[$QUORUM]+set}" ]; then read -r -a REQUIRED <<< "${GROUP[$QUORUM]}"
    else fail policy.txt "its quorum $QUORUM is not defined"; fi ;;
esac
for w in "${REQUIRED[@]}"; do
  [ -n "${W_NAME[$w]:-}" ] || fail policy.txt "its quorum names $w, which is not a witness"
done

# --- 3. checkpoints ------------------------------------------------------------
say "3/6 checkpoints: signatures, cosignatures, consistency"
open_checkpoint checkpoints/final.checkpoint
FINAL_SIZE=$CP_SIZE FINAL_ROOT=$CP_ROOT FINAL_LINES=("${CP_LINES[@]}")
CHECKPOINTS=1 COSIGS=$CP_COSIGS
for f in checkpoints/*.checkpoint; do
  [ "$f" = checkpoints/final.checkpoint ] && continue
  open_checkpoint "$f"
  proof=${f%.checkpoint}.consistency
  (( CP_SIZE <= FINAL_SIZE )) \
    || fail "$f" "has $CP_SIZE leaves, more than the final checkpoint's $FINAL_SIZE: the log was rolled back"
  [ -f "$proof" ] || fail "$proof" "is missing from the pack"
  mapfile -t lines < "$proof"
  decode_hashes "$proof" "${lines[@]}"
  verify_consistency "$CP_SIZE" "$FINAL_SIZE" "$CP_ROOT" "$FINAL_ROOT" \
    || fail "$proof" "does not prove $f consistent with the final checkpoint"
  CHECKPOINTS=$((CHECKPOINTS + 1)) COSIGS=$((COSIGS + CP_COSIGS))
done

# --- 4–5. sites: keys, then bundles -------------------------------------------------
say "4/6 appliance keys"
BUNDLES=0 TOTAL=0
for d in bundles/*/; do
  n=("$d"*.json); TOTAL=$((TOTAL + ${#n[@]}))
done
for d in bundles/*/; do
  site=${d%/}; site=${site##*/}
  [[ $site =~ ^$UUID$ ]] || fail "$d" "is not named after a site id"
  # The site's key registrations, in log order.
  KEY_IDX=() KEY_HEX=()
  while read -r idx; do
    f=leaves/$site/key-$idx.leaf
    ends_in_newline "$f" || fail "$f" "does not end in a newline"
    mapfile -t l < "$f"
    (( ${#l[@]} == 5 )) && [ "${l[0]}" = osiriscare.site-key/v1 ] && [ "${l[1]}" = "site $site" ] \
      && [[ ${l[2]} =~ ^key\ ([0-9a-f]{64})$ ]] && key=${BASH_REMATCH[1]} \
      && [[ ${l[3]} =~ ^witness\ ([0-9a-f]{64}|none)$ ]] && [[ ${l[4]} =~ ^registered\ $DEC$ ]] \
      || fail "$f" "is not an osiriscare.site-key/v1 leaf of site $site in its exact form"
    printf -v text '%s\n' "${l[@]}"
    check_proof "proofs/$site/key-$idx.tlog-proof" "$text" "$f"
    (( PROOF_INDEX == idx )) || fail "proofs/$site/key-$idx.tlog-proof" "proves leaf $PROOF_INDEX, not $idx"
    KEY_IDX+=("$idx"); KEY_HEX+=("$key")
  done < <(for f in leaves/"$site"/key-*.leaf; do f=${f##*/key-}; printf '%s\n' "${f%.leaf}"; done | sort -n)
  (( ${#KEY_IDX[@]} > 0 )) || fail "leaves/$site/" "holds no site-key leaf: the pack cannot show which key this site registered"
  latest=${KEY_HEX[${#KEY_HEX[@]} - 1]}
  read -r hexfile < "keys/$site.hex" || true
  [ "${hexfile:-}" = "$latest" ] || fail "keys/$site.hex" "is not the appliance key of the site's latest site-key leaf"
  pem_hex=$(openssl pkey -pubin -in "keys/$site.pem" -outform DER 2>/dev/null | xxd -p -c 64) || true
  [ "$pem_hex" = "302a300506032b6570032100$latest" ] \
    || fail "keys/$site.pem" "is not the appliance key of the site's latest site-key leaf"

  (( BUNDLES == 0 )) && say "5/6 bundles: hash, leaf, appliance signature, chain, inclusion ($TOTAL)"
  mapfile -t positions < <(for f in bundles/"$site"/*.json; do f=${f##*/}; printf '%s\n' "${f%.json}"; done | sort -n)
  prev_pos="" prev_chain="" prev_index=""
  for pos in "${positions[@]}"; do
    b=bundles/$site/$pos.json f=leaves/$site/$pos.leaf
    [[ $pos =~ ^$DEC$ ]] || fail "$b" "is not named <position>.json"
    if [ -n "$prev_pos" ] && (( pos != prev_pos + 1 )); then
      fail "bundles/$site/$((prev_pos + 1)).json" "is missing: the site's bundles jump from position $prev_pos to $pos"
    fi
    [ -f "$f" ] || fail "$f" "is missing from the pack"
    ends_in_newline "$f" || fail "$f" "does not end in a newline"
    mapfile -t l < "$f"
    (( ${#l[@]} == 8 )) && [ "${l[0]}" = osiriscare.evidence/v1 ] \
      && [[ ${l[1]} =~ ^site\ ($UUID)$ ]] && [[ ${l[2]} =~ ^position\ $DEC$ ]] \
      && [[ ${l[3]} =~ ^bundle\ [0-9a-f]{64}$ ]] && [[ ${l[4]} =~ ^chain\ [0-9a-f]{64}$ ]] \
      && [[ ${l[5]} =~ ^key\ [0-9a-f]{64}$ ]] && [[ ${l[6]} =~ ^signature\ [0-9a-f]{128}$ ]] \
      && [[ ${l[7]} =~ ^received\ $DEC$ ]] \
      || fail "$f" "is not an osiriscare.evidence/v1 leaf in its exact form"
    [ "${l[1]}" = "site $site" ] && [ "${l[2]}" = "position $pos" ] \
      || fail "$f" "is the leaf of ${l[1]}, ${l[2]}, not of its file's"
    bundle=${l[3]#bundle } chain=${l[4]#chain } key=${l[5]#key } sig=${l[6]#signature }
    [ "$(sha_hex < "$b")" = "$bundle" ] || fail "$b" "its SHA-256 is not the one its leaf logged"
    ed_verify "$key" "$b" "$sig" \
      || fail "$b" "the appliance signature its leaf logged does not verify over its bytes with the key the leaf names"
    printf -v text '%s\n' "${l[@]}"
    check_proof "proofs/$site/$pos.tlog-proof" "$text" "$f"
    registered=""
    for (( k = ${#KEY_IDX[@]} - 1; k >= 0; k-- )); do
      (( KEY_IDX[k] < PROOF_INDEX )) && { registered=${KEY_HEX[k]}; break; }
    done
    [ -n "$registered" ] || fail "$f" "comes before any site-key leaf of its site in the log: its key was never registered"
    [ "$registered" = "$key" ] \
      || fail "$f" "names appliance key $key, but the site's registered key at that point of the log is $registered"
    expected=""
    if (( pos == 0 )); then
      expected=$(printf '%s%s%016x%064d%s' "$CHAIN_DOMAIN_HEX" "${site//-/}" "$pos" 0 "$bundle" | xxd -r -p | sha_hex)
    elif [ -n "$prev_pos" ]; then
      (( prev_index < PROOF_INDEX )) || fail "$f" "is leaf $PROOF_INDEX of the log, not after leaf $prev_index of position $prev_pos"
      expected=$(printf '%s%s%016x%s%s' "$CHAIN_DOMAIN_HEX" "${site//-/}" "$pos" "$prev_chain" "$bundle" | xxd -r -p | sha_hex)
    fi
    [ -z "$expected" ] || [ "$expected" = "$chain" ] \
      || fail "$f" "its chain hash does not follow from the previous position's (osiris-chain-v1)"
    prev_pos=$pos prev_chain=$chain prev_index=$PROOF_INDEX
    BUNDLES=$((BUNDLES + 1))
    (( BUNDLES % 100 == 0 )) && say "  $BUNDLES of $TOTAL bundles"
  done
done
for f in leaves/*/* proofs/*/*; do
  [[ $f =~ ^(leaves|proofs)/($UUID)/(0|[1-9][0-9]*)\. ]] || continue
  [ -f "bundles/${BASH_REMATCH[2]}/${BASH_REMATCH[3]}.json" ] \
    || fail "$f" "has no bundle bundles/${BASH_REMATCH[2]}/${BASH_REMATCH[3]}.json"
done

# --- 6. reports -----------------------------------------------------------------
say "6/6 monthly reports"
REPORTS=0 UNLOGGED=0
for pdf in reports/*.pdf; do
  month=${pdf#reports/}; month=${month%.pdf}
  f=leaves/reports/$month.leaf
  if [ ! -f "$f" ]; then UNLOGGED=$((UNLOGGED + 1)); continue; fi
  ends_in_newline "$f" || fail "$f" "does not end in a newline"
  mapfile -t l < "$f"
  (( ${#l[@]} == 3 )) && [ "${l[0]}" = osiriscare.report/v1 ] && [ "${l[1]}" = "month $month" ] \
    && [[ ${l[2]} =~ ^sha256\ ([0-9a-f]{64})$ ]] \
    || fail "$f" "is not the osiriscare.report/v1 leaf of $month in its exact form"
  [ "$(sha_hex < "$pdf")" = "${BASH_REMATCH[1]}" ] || fail "$pdf" "its SHA-256 is not the one the log holds for it"
  printf -v text '%s\n' "${l[@]}"
  check_proof "proofs/reports/$month.tlog-proof" "$text" "$f"
  REPORTS=$((REPORTS + 1))
done

say "the log: $LOG_VKEY"
[ -n "$GIVEN_KEY" ] || say "(not compared with a key you hold: pass --log-key with the key from the practice's monthly email or PDF)"
say "final checkpoint: $FINAL_SIZE leaves; $REPORTS reports match the log; $UNLOGGED reports predate it"
printf '%s bundles verified, %s checkpoints, %s cosignatures\n' "$BUNDLES" "$CHECKPOINTS" "$COSIGS"
