#!/usr/bin/env bats
# imapsync against the real Dovecot: alice's account gets folders with a
# non-ASCII name, a level below another, a '.' and a '%' in a name, filled
# with generated messages ("From " and "." lines, 8-bit text, long lines,
# 1-2 MB bodies) with flags and old INTERNALDATEs; the backup is compared
# with the server's store message by message (SHA-256 per folder), with
# Maildir flags and mtimes. Incremental runs, folder selection, layouts,
# dry runs, JSON, --stdout, --mda, --mbox (one mboxrd file per folder and
# its roll-back journal), expunges with and without --mirror, and parallel
# connections.

load ../lib/common
load ../lib/pop3
load ../lib/imap

setup_file() {
	need_servers
	imap_server_prepare
	imap_reset
}

teardown_file() {
	imap_reset
	imap_server_restore
	release_servers
}

setup() {
	export MAILPIPE_PASSWORD=$MP_PASS
	imap_reset
	MD=$BATS_TEST_TMPDIR/backup
}

# sync ARGS...: imapsync against Dovecot over IMAPS as alice.
sync() {
	mp_run imapsync $(imap_opts) "$@"
}

# The account most tests use: 68 messages in INBOX and four folders.
seed_account() {
	imap_create "Entwürfe" "Archive/2024" "a.b" "50% off"
	imap_seed INBOX 20 --flags --big 1
	imap_seed "Entwürfe" 15 --flags
	imap_seed "Archive/2024" 25 --flags --big 1
	imap_seed "a.b" 5 --flags
	imap_seed "50% off" 3
}

# json_get EXPR: evaluate a Python expression over the JSON on stdout
# ($output) as `j`, with `f` the folders by name.
json_get() {
	"$MP_PYTHON" -c 'import json, sys
j = json.loads(sys.argv[1])
f = {x["name"]: x for x in j["folders"]}
print(eval(sys.argv[2]))' "$output" "$1"
}

@test "full backup: every folder byte for byte with flags and INTERNALDATE; a rerun fetches nothing; then exactly the 50 new ones and the flag changes" {
	seed_account
	sync --maildir "$MD"
	expect_status 0
	[ "$output" = "" ]
	expect_err "imapsync: 5 folders, 68 new messages"
	expect_err "imapsync: Entwürfe: 15 new"
	expect_backup_is_server "$MD" --flags --mtime
	# The documented Maildir++ names: INBOX is the root, '.' and '%' escaped.
	[ "$(folder_count "$MD")" -eq 20 ]
	[ "$(folder_count "$MD/.Entwürfe")" -eq 15 ]
	[ "$(folder_count "$MD/.Archive.2024")" -eq 25 ]
	[ "$(folder_count "$MD/.a%2Eb")" -eq 5 ]
	[ "$(folder_count "$MD/.50%25 off")" -eq 3 ]
	# Flags are Maildir info in cur/: \Seen is S, \Flagged F, \Answered R.
	local names
	names=$(cd "$MD" && find . -path '*/cur/*' -type f)
	grep -q ':2,[A-Z]*S' <<<"$names"
	grep -q ':2,[A-Z]*F' <<<"$names"
	grep -q ':2,[A-Z]*R' <<<"$names"
	# Nothing left behind in tmp/.
	[ -z "$(cd "$MD" && find . -path '*/tmp/*' -type f)" ]

	# Nothing changed: nothing fetched, nothing touched.
	tree_snapshot "$MD" >"$BATS_TEST_TMPDIR/tree.before"
	sync --maildir "$MD"
	expect_status 0
	expect_err "imapsync: 5 folders, 0 new messages"
	[ "$(grep -c 'unchanged' <<<"$stderr")" -eq 5 ] || { _mp_show; false; }
	tree_snapshot "$MD" >"$BATS_TEST_TMPDIR/tree.after"
	diff "$BATS_TEST_TMPDIR/tree.before" "$BATS_TEST_TMPDIR/tree.after"

	# 50 new messages in three folders, and flags changed in three.
	imap_seed INBOX 20 --flags
	imap_seed "Archive/2024" 20
	imap_seed "a.b" 10 --flags
	imap_flags add '\Seen \Answered' "Entwürfe" 1:5
	imap_flags add '\Flagged' INBOX 1:3
	imap_flags remove '\Seen \Flagged \Answered \Draft' "Archive/2024" 1:10
	sync --maildir "$MD"
	expect_status 0
	expect_err "imapsync: 5 folders, 50 new messages"
	expect_err "imapsync: 50% off: unchanged, 0 new"
	expect_backup_is_server "$MD" --flags --mtime
}

@test "a rerun: one LIST with every folder's STATUS, one connection for a few new messages, one FETCH per changed folder for new mail and flags" {
	seed_account
	sync --maildir "$MD"
	expect_status 0
	imap_seed INBOX 3
	# No generated message has all four flags, so this changes some.
	imap_flags add '\Seen \Flagged \Answered \Draft' "Entwürfe" 1:2
	sync --maildir "$MD" --jobs 4 -v
	expect_status 0
	expect_err "5 folders, 3 new messages"
	expect_backup_is_server "$MD" --flags --mtime
	# Dovecot offers LIST-STATUS: no STATUS command of its own.
	[ "$(grep -c '^C: A[0-9]* LIST "" "\*" RETURN (STATUS (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ))$' <<<"$stderr")" -eq 1 ] || { _mp_show; false; }
	refute grep -q '^C: A[0-9]* STATUS ' <<<"$stderr"
	# Three new messages do not repay a second login.
	[ "$(grep -c '^-- TLS started' <<<"$stderr")" -eq 1 ] || { _mp_show; false; }
	# Only the two changed folders are opened, each with one listing of
	# what changed since the last run (the new mail and the flags).
	[ "$(grep -c '^C: A[0-9]* EXAMINE ' <<<"$stderr")" -eq 2 ] || { _mp_show; false; }
	[ "$(grep -c '^C: A[0-9]* UID FETCH 1:\* (UID FLAGS INTERNALDATE RFC822.SIZE MODSEQ) (CHANGEDSINCE [0-9]*)$' <<<"$stderr")" -eq 2 ] || { _mp_show; false; }
}

@test "on a terminal a progress line counts the new messages of every folder; not when stderr is no terminal" {
	imap_create "Archive/2024"
	imap_seed INBOX 30
	imap_seed "Archive/2024" 20
	script -qec "imapsync $(imap_opts) --maildir $MD" /dev/null >"$BATS_TEST_TMPDIR/tty.out"
	grep -aq $'\rimapsync: 50/50 messages, ' "$BATS_TEST_TMPDIR/tty.out"
	# Wiped before each folder's line.
	grep -aq $'\r\033\[Kimapsync: INBOX: 30 new' "$BATS_TEST_TMPDIR/tty.out"
	expect_backup_is_server "$MD"
	imap_seed INBOX 2
	sync --maildir "$MD"
	expect_status 0
	refute grep -q 'messages, ' <<<"$stderr"
}

@test "--json prints one parseable summary with the right counts; the rerun is all unchanged" {
	seed_account
	sync --maildir "$MD" --json
	expect_status 0
	"$MP_PYTHON" -m json.tool <<<"$output" >/dev/null
	[ "$(json_get 'len(j["folders"])')" -eq 5 ]
	[ "$(json_get 'sum(x["fetched"] for x in j["folders"])')" -eq 68 ]
	[ "$(json_get 'f["Entwürfe"]["fetched"]')" -eq 15 ]
	[ "$(json_get 'f["INBOX"]["fetched"]')" -eq 20 ]
	[ "$(json_get 'f["a.b"]["fetched"]')" -eq 5 ]
	[ "$(json_get 'f["Archive/2024"]["bytes"] > 1000000')" = True ]
	[ "$(json_get 'all(x["error"] is None for x in j["folders"])')" = True ]
	# The summary lines stay off stdout.
	refute_out "new messages"
	sync --maildir "$MD" --json
	expect_status 0
	"$MP_PYTHON" -m json.tool <<<"$output" >/dev/null
	[ "$(json_get 'sum(x["fetched"] for x in j["folders"])')" -eq 0 ]
	[ "$(json_get 'all(x["unchanged"] for x in j["folders"])')" = True ]
	# A flag change is counted.
	imap_flags add '\Flagged' "a.b" 1:2
	imap_flags remove '\Flagged' "a.b" 3:5
	sync --maildir "$MD" --json
	expect_status 0
	[ "$(json_get 'f["a.b"]["flags_updated"] >= 1')" = True ]
	[ "$(json_get 'f["a.b"]["fetched"]')" -eq 0 ]
	expect_backup_is_server "$MD" --flags
}

@test "--folder selects by IMAP pattern and --exclude drops by glob" {
	seed_account
	sync --maildir "$MD" --folder 'Archive*' --folder 'a.b'
	expect_status 0
	expect_err "2 folders, 30 new messages"
	[ "$(folder_count "$MD/.Archive.2024")" -eq 25 ]
	[ "$(folder_count "$MD/.a%2Eb")" -eq 5 ]
	[ ! -e "$MD/.Entwürfe" ]
	[ "$(folder_count "$MD")" -eq 0 ]

	local md2=$BATS_TEST_TMPDIR/backup2
	sync --maildir "$md2" --exclude 'Entw*' --exclude 'Archive/*' --exclude '50%*'
	expect_status 0
	expect_err "2 folders, 25 new messages"
	[ "$(folder_count "$md2")" -eq 20 ]
	[ "$(folder_count "$md2/.a%2Eb")" -eq 5 ]
	[ ! -e "$md2/.Entwürfe" ]
	[ ! -e "$md2/.Archive.2024" ]
	[ ! -e "$md2/.50%25 off" ]

	# A pattern that matches nothing is a mistake to hear about (67).
	tree_snapshot "$MD" >"$BATS_TEST_TMPDIR/tree.before"
	sync --maildir "$MD" --folder 'Archiv'
	expect_status 67
	expect_err "imapsync: no folder on the server matches --folder 'Archiv'"
	tree_snapshot "$MD" >"$BATS_TEST_TMPDIR/tree.after"
	diff "$BATS_TEST_TMPDIR/tree.before" "$BATS_TEST_TMPDIR/tree.after"
}

@test "--layout nested: one directory per level, names safe, state files hidden; a rerun fetches nothing" {
	seed_account
	# A folder named like a Maildir's own directory.
	imap_create "tmp"
	imap_seed "tmp" 2
	sync --maildir "$MD" --layout nested
	expect_status 0
	expect_err "6 folders, 70 new messages"
	expect_backup_is_server "$MD" --nested --flags --mtime
	[ "$(folder_count "$MD/Archive/2024")" -eq 25 ]
	[ "$(folder_count "$MD/Entwürfe")" -eq 15 ]
	[ "$(folder_count "$MD/a.b")" -eq 5 ]
	[ "$(folder_count "$MD/50%25 off")" -eq 3 ]
	[ "$(folder_count "$MD/%74mp")" -eq 2 ]
	# INBOX's own tmp/ holds nothing of the folder "tmp".
	[ -z "$(find "$MD/tmp" -type f)" ]
	[ -e "$MD/.mailpipe-uids" ] && [ ! -e "$MD/mailpipe-uids" ]
	[ -e "$MD/Archive/2024/.mailpipe-state" ]
	sync --maildir "$MD" --layout nested
	expect_status 0
	expect_err "6 folders, 0 new messages"
}

@test "--dry-run changes nothing, but tells what it would fetch" {
	seed_account
	sync --maildir "$MD" --dry-run
	expect_status 0
	expect_err "68 new messages"
	[ ! -e "$MD" ]
	sync --maildir "$MD"
	expect_status 0
	imap_seed "Entwürfe" 7
	imap_flags add '\Flagged' INBOX 1:4
	imap_expunge "a.b" 1
	tree_snapshot "$MD" >"$BATS_TEST_TMPDIR/tree.before"
	sync --maildir "$MD" --dry-run
	expect_status 0
	expect_err "7 new messages"
	sync --maildir "$MD" --dry-run --mirror
	expect_status 0
	tree_snapshot "$MD" >"$BATS_TEST_TMPDIR/tree.after"
	diff "$BATS_TEST_TMPDIR/tree.before" "$BATS_TEST_TMPDIR/tree.after"
	# The real run then does it.
	sync --maildir "$MD"
	expect_status 0
	expect_err "7 new messages"
	[ "$(folder_count "$MD/.Entwürfe")" -eq 22 ]
}

@test "--stdout: an mboxrd stream of the new messages only, byte for byte; state kept in --state" {
	seed_account
	local state=$BATS_TEST_TMPDIR/state
	export STREAM=$BATS_TEST_TMPDIR/stream
	mp_run bash -c 'imapsync "$@" >"$STREAM"' _ $(imap_opts) --stdout --state "$state"
	expect_status 0
	head -n 1 "$STREAM" | grep -q '^From '
	mbox_hashes "$STREAM" >"$BATS_TEST_TMPDIR/got"
	imap_server_messages | cut -f2 | sort >"$BATS_TEST_TMPDIR/want"
	same_hashes "$BATS_TEST_TMPDIR/got" "$BATS_TEST_TMPDIR/want" "stream" "server"
	# Quoted on the way out: no body line of the stream starts "From x".
	refute grep -q '^From the start of a line' "$STREAM"
	grep -q '^>From the start of a line' "$STREAM"
	[ -n "$(find "$state" -type f)" ]

	imap_server_messages | cut -f2 | sort >"$BATS_TEST_TMPDIR/before"
	imap_seed "a.b" 3
	imap_seed INBOX 2
	imap_server_messages | cut -f2 | sort >"$BATS_TEST_TMPDIR/after"
	mp_run bash -c 'imapsync "$@" >"$STREAM"' _ $(imap_opts) --stdout --state "$state"
	expect_status 0
	mbox_hashes "$STREAM" >"$BATS_TEST_TMPDIR/got"
	comm -13 "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after" >"$BATS_TEST_TMPDIR/new"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/new")" -eq 5 ]
	same_hashes "$BATS_TEST_TMPDIR/got" "$BATS_TEST_TMPDIR/new" "second stream" "new on the server"

	mp_run bash -c 'imapsync "$@" >"$STREAM"' _ $(imap_opts) --stdout --state "$state"
	expect_status 0
	[ ! -s "$STREAM" ]
}

# An MDA that keeps each message in $OUT/N and logs folder, UID, SHA-256;
# it fails (exit 75) the first time it sees UIDs listed in $OUT/fail-once.
make_mda() {
	export OUT=$BATS_TEST_TMPDIR/mda
	mkdir -p "$OUT"
	: >"$OUT/log"
	: >"$OUT/fail-once"
	cat >"$OUT/mda.sh" <<-'EOF'
	#!/bin/bash
	n=$(mktemp "$OUT/msg.XXXXXX")
	cat >"$n"
	key="$MAILPIPE_FOLDER $MAILPIPE_UID"
	if grep -qxF "$key" "$OUT/fail-once" && ! grep -qxF "$key" "$OUT/failed"; then
		echo "$key" >>"$OUT/failed"
		rm -f "$n"
		exit 75
	fi
	printf '%s\t%s\t%s\n' "$MAILPIPE_FOLDER" "$MAILPIPE_UID" \
		"$(sha256sum <"$n" | cut -d' ' -f1)" >>"$OUT/log"
	EOF
	chmod +x "$OUT/mda.sh"
	: >"$OUT/failed"
}

@test "--mda delivers each new message once with MAILPIPE_FOLDER and MAILPIPE_UID; a failed delivery is retried next run" {
	seed_account
	make_mda
	local state=$BATS_TEST_TMPDIR/state
	sync --mda "$OUT/mda.sh" --state "$state"
	expect_status 0
	expect_err "68 new messages"
	# Each (folder, UID) once, and the messages are the server's.
	[ -z "$(cut -f1,2 "$OUT/log" | sort | uniq -d)" ]
	cut -f1,3 "$OUT/log" | sort >"$BATS_TEST_TMPDIR/got"
	imap_server_messages >"$BATS_TEST_TMPDIR/want"
	diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
	# The UIDs are the server's.
	local f
	for f in INBOX "a.b" "Entwürfe"; do
		diff <(imap_uids "$f" | sort -n) <(awk -F'\t' -v f="$f" '$1 == f { print $2 }' "$OUT/log" | sort -n)
	done

	# Nothing new: nothing delivered.
	sync --mda "$OUT/mda.sh" --state "$state"
	expect_status 0
	[ "$(wc -l <"$OUT/log")" -eq 68 ]

	# Two new; the MDA fails for one: that one is not recorded.
	imap_seed "a.b" 2
	local last
	last=$(imap_uids "a.b" | tail -n 1)
	echo "a.b $last" >"$OUT/fail-once"
	sync --mda "$OUT/mda.sh" --state "$state"
	expect_status 75
	[ "$(wc -l <"$OUT/log")" -eq 69 ]
	sync --mda "$OUT/mda.sh" --state "$state"
	expect_status 0
	[ "$(wc -l <"$OUT/log")" -eq 70 ]
	grep -q "^a.b	$last	" "$OUT/log"
	[ -z "$(cut -f1,2 "$OUT/log" | sort | uniq -d)" ]
}

@test "--mda and --stdout after a UIDVALIDITY change: what was handed on before is known by its hash, only the new mail goes out" {
	imap_create "Archive/2024"
	imap_seed "Archive/2024" 8
	imap_seed INBOX 3
	make_mda
	local state=$BATS_TEST_TMPDIR/state state2=$BATS_TEST_TMPDIR/state2 before dir
	sync --mda "$OUT/mda.sh" --state "$state"
	expect_status 0
	sync --stdout --state "$state2"
	expect_status 0
	[ "$(grep -c '^From ' <<<"$output")" -eq 11 ]
	# Dovecot forgets the folder's UIDs: a new UIDVALIDITY, UIDs anew.
	before=$(imap_uidvalidity "Archive/2024")
	dir=$(imap_path "Archive/2024")
	rm -f "$dir/dovecot-uidlist" "$dir"/dovecot.index*
	imap_seed "Archive/2024" 2
	[ "$(imap_uidvalidity "Archive/2024")" != "$before" ]
	sync --mda "$OUT/mda.sh" --state "$state" --json
	expect_status 0
	"$MP_PYTHON" -c 'import json, sys
a = {f["name"]: f for f in json.loads(sys.argv[1])["folders"]}["Archive/2024"]
assert a["uidvalidity_changed"] and a["matched"] == 8 and a["fetched"] == 2, a' "$output"
	# Each message of the server handed to the MDA exactly once.
	[ "$(wc -l <"$OUT/log")" -eq 13 ]
	cut -f3 "$OUT/log" | sort >"$BATS_TEST_TMPDIR/got"
	imap_server_messages | cut -f2 | sort >"$BATS_TEST_TMPDIR/want"
	diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
	# The stream gets the two new ones only.
	sync --stdout --state "$state2"
	expect_status 0
	[ "$(grep -c '^From ' <<<"$output")" -eq 2 ]
	# And nothing more next time.
	sync --mda "$OUT/mda.sh" --state "$state"
	expect_status 0
	[ "$(wc -l <"$OUT/log")" -eq 13 ]
}

@test "server-side expunges are kept locally by default; --mirror moves them into .%Removed, never deletes" {
	seed_account
	sync --maildir "$MD"
	expect_status 0
	imap_expunge "Archive/2024" 1:3
	imap_expunge INBOX 5
	sync --maildir "$MD"
	expect_status 0
	[ "$(folder_count "$MD/.Archive.2024")" -eq 25 ]
	[ "$(folder_count "$MD")" -eq 20 ]
	[ ! -e "$MD/.%Removed" ] || [ "$(folder_count "$MD/.%Removed")" -eq 0 ]

	# New mail arrives meanwhile: it is fetched and stays where it is.
	imap_seed "Archive/2024" 4
	sync --maildir "$MD" --mirror
	expect_status 0
	expect_err "4 new messages"
	expect_backup_is_server "$MD" --flags --removed 4
	[ "$(folder_count "$MD/.Archive.2024")" -eq 26 ]
	# Moved whole, not refetched or lost: the backup holds 68 + 4.
	[ "$(cd "$MD" && find . -path '*/cur/*' -type f -o -path '*/new/*' -type f | wc -l)" -eq 72 ]

	# Mirroring again changes nothing and fetches nothing.
	tree_snapshot "$MD" >"$BATS_TEST_TMPDIR/tree.before"
	sync --maildir "$MD" --mirror
	expect_status 0
	expect_err "0 new messages"
	expect_backup_is_server "$MD" --flags --removed 4
	[ "$(cd "$MD" && find . -path '*/cur/*' -type f -o -path '*/new/*' -type f | wc -l)" -eq 72 ]
}

@test "--jobs 1 and --jobs 4 (over STARTTLS) make the same backup" {
	seed_account
	local a=$BATS_TEST_TMPDIR/a b=$BATS_TEST_TMPDIR/b
	sync --maildir "$a" --jobs 1
	expect_status 0
	mp_run imapsync $(imap_opts imap) --maildir "$b" --jobs 4
	expect_status 0
	expect_err "5 folders, 68 new messages"
	expect_backup_is_server "$a" --flags --mtime
	expect_backup_is_server "$b" --flags --mtime
	diff <(cd "$a" && find . -type d | sort) <(cd "$b" && find . -type d | sort)
}

@test "usage errors: two outputs, --mirror without a Maildir, bad --jobs, --layout or a line break in --folder (64)" {
	mp_run imapsync --server "imaps://alice@127.0.0.1:1" --maildir "$MD" --stdout
	expect_status 64
	mp_run imapsync --server "imaps://alice@127.0.0.1:1" --stdout --mirror
	expect_status 64
	mp_run imapsync --server "imaps://alice@127.0.0.1:1" --maildir "$MD" --jobs 0
	expect_status 64
	mp_run imapsync --server "imaps://alice@127.0.0.1:1" --maildir "$MD" --layout flat
	expect_status 64
	mp_run imapsync --server "imaps://alice@127.0.0.1:1" --maildir "$MD" --folder $'a\r\nb'
	expect_status 64
	mp_run imapsync --server "imaps://alice@127.0.0.1:1"
	expect_status 64
	[ ! -e "$MD" ]
	# --json would land inside the mbox stream.
	mp_run imapsync --server "imaps://alice@127.0.0.1:1" --stdout --json
	expect_status 64
	expect_err "--json and --stdout"
	# The same bad values from the config file are config errors (78).
	printf 'server = imaps://alice@127.0.0.1:1\nlayout = flat\n' >"$XDG_CONFIG_HOME/mailpipe.conf"
	mp_run imapsync --config "$XDG_CONFIG_HOME/mailpipe.conf" --maildir "$MD"
	expect_status 78
	expect_err "mailpipe.conf:2: layout must be"
}

@test "a second imapsync on the same backup while one runs refuses with 75" {
	# A server that greets slowly keeps the first run holding the lock.
	fake_start - <<-'EOF'
	SLEEP 3
	S: * BYE busy
	CLOSE
	EOF
	local backup=$BATS_TEST_TMPDIR/locked
	imapsync --server "imap://alice@127.0.0.1:$FAKE_PORT" --tls=no \
		--maildir "$backup" --timeout 10 2>/dev/null &
	local first=$! i
	for ((i = 0; i < 100; i++)); do
		grep -q '^# connection' "$FAKE_LOG" && break
		sleep 0.05
	done
	MAILPIPE_PASSWORD=$MP_PASS mp_run imapsync $(imap_opts imaps) --maildir "$backup"
	expect_status 75
	expect_err "already running"
	wait "$first" || true
	# Free again once the first is gone.
	MAILPIPE_PASSWORD=$MP_PASS mp_run imapsync $(imap_opts imaps) --maildir "$backup"
	expect_status 0
}

# Messages delivered now (INTERNALDATE today), unlike imap_seed's.
save_recent() {
	local folder=$1 i
	shift
	for i in "$@"; do
		printf 'From: Sender <sender@example.test>\nTo: alice@example.test\nSubject: %s\nMessage-ID: <%s@example.test>\n\nbody %s\n' \
			"$i" "$i" "$i" | dadm save -u "$MP_USER" -m "$folder"
	done
}

# The Subject lines of the messages in a Maildir, sorted.
subjects() {
	cat "$1"/new/* "$1"/cur/* 2>/dev/null | sed -n 's/^Subject: //p' | sed 's/.*?= //; s/-[0-9a-f]*$//' | sort
}

@test "--since and --search narrow what is fetched" {
	imap_create "Work"
	# Years-old mail (imap_seed's INTERNALDATEs), then two from today.
	imap_seed INBOX 4 --tag keep
	imap_seed INBOX 5 --tag skip
	imap_seed "Work" 3 --tag keep
	save_recent INBOX recent-1 recent-2

	# --search as given, in every folder: only the matching ones.
	sync --maildir "$MD" --search 'SUBJECT keep'
	expect_status 0
	expect_err "2 folders, 7 new messages"
	[ "$(folder_count "$MD")" -eq 4 ]
	[ "$(folder_count "$MD/.Work")" -eq 3 ]
	[ -z "$(subjects "$MD" | grep -v '^keep-')" ]

	# --since: a day to come matches nothing, in either spelling.
	sync --maildir "$MD" --since 2099-01-01
	expect_status 0
	expect_err "2 folders, 0 new messages"
	sync --maildir "$MD" --since 1-Jan-2099
	expect_status 0
	expect_err "0 new messages"

	# Both: SINCE and the search keys together; then a date that takes
	# in the other recent one, but none of the old mail.
	sync --maildir "$MD" --since 30d --search 'SUBJECT recent-1'
	expect_status 0
	expect_err "1 new messages"
	sync --maildir "$MD" --since 2021-01-01 --json
	expect_status 0
	[ "$(json_get 'f["INBOX"]["fetched"]')" -eq 1 ]
	[ "$(json_get 'f["Work"]["fetched"]')" -eq 0 ]
	[ "$(folder_count "$MD")" -eq 6 ]

	# Narrowing never removes: a narrow run that matches little keeps
	# all, and flag changes still reach kept messages.
	imap_flags add '\Flagged' INBOX 1
	tree_snapshot "$MD/.Work/cur" >"$BATS_TEST_TMPDIR/work.before"
	sync --maildir "$MD" --search 'SUBJECT nothing-like-this'
	expect_status 0
	expect_err "INBOX: 0 new (0.0 MB), 1 flags updated"
	[ "$(folder_count "$MD")" -eq 6 ]
	tree_snapshot "$MD/.Work/cur" >"$BATS_TEST_TMPDIR/work.after"
	diff "$BATS_TEST_TMPDIR/work.before" "$BATS_TEST_TMPDIR/work.after"
	[ "$(ls "$MD/cur" | grep -c ':2,F$')" -eq 1 ]

	# Non-ASCII search text (sent as a UTF-8 literal) matches the
	# RFC 2047-encoded subjects; mail left out before is fetched once
	# criteria take it in; a config file's keys work as the flags do.
	sync --maildir "$MD" --search 'SUBJECT "Grüße skip-3"' --dry-run
	expect_status 0
	expect_err "1 new messages"
	mkdir -p "$XDG_CONFIG_HOME/mailpipe"
	printf 'search = SUBJECT "Grüße skip"\nsince = 1-Jan-1990\n' >"$XDG_CONFIG_HOME/mailpipe/config"
	sync --maildir "$MD"
	expect_status 0
	expect_err "5 new messages"
	expect_backup_is_server "$MD" --flags --mtime
	[ "$(subjects "$MD" | grep -c '^skip-')" -eq 5 ]
}

@test "--search and --since mistakes: the server's words for bad criteria (64); line breaks and bad dates refused before connecting" {
	imap_seed INBOX 2
	sync --maildir "$MD" --search 'FROBNICATE 7'
	expect_status 64
	expect_err "the server refused the search criteria:"
	expect_err "FROBNICATE"
	[ "$(folder_count "$MD")" -eq 0 ]
	sync --maildir "$MD" --search 'SUBJECT "unclosed'
	expect_status 64
	expect_err "unclosed double quote"
	# A literal's head would have the server wait for bytes.
	sync --maildir "$MD" --search 'SUBJECT {3}'
	expect_status 64
	expect_err "outside double quotes"

	# Nothing is even connected to: the server here does not exist.
	local none="imaps://alice@127.0.0.1:1"
	mp_run imapsync --server "$none" --maildir "$MD" --search $'SUBJECT a\r\nA1 DELETE INBOX'
	expect_status 64
	expect_err "line break"
	mp_run imapsync --server "$none" --maildir "$MD" --search $'SUBJECT a\nb'
	expect_status 64
	mp_run imapsync --server "$none" --maildir "$MD" --search '  '
	expect_status 64
	mp_run imapsync --server "$none" --maildir "$MD" --since 2026-13-01
	expect_status 64
	expect_err "since takes a date like 25-Nov-2026"
	mp_run imapsync --server "$none" --maildir "$MD" --since yesterday
	expect_status 64
	# From the config file it is a config error, with file and line.
	mkdir -p "$XDG_CONFIG_HOME/mailpipe"
	printf 'since = 31-Feb-2026\n' >"$XDG_CONFIG_HOME/mailpipe/config"
	mp_run imapsync --server "$none" --maildir "$MD"
	expect_status 78
	expect_err "config:1: since takes a date"
	refute_err "connect"
}

# mbox_sums ROOT: name, size and SHA-256 of every mbox of an --mbox backup.
mbox_sums() {
	(cd "$1" && find . -name '*.mbox' -type f -printf '%p %s ' -exec sha256sum {} \; | LC_ALL=C sort)
}

@test "--mbox DIR keeps one mboxrd file per folder, byte for byte; a rerun appends nothing; then exactly the new ones" {
	seed_account
	imap_create "Lists" "Lists/dev"
	imap_seed "Lists" 4
	imap_seed "Lists/dev" 6
	sync --mbox "$MD"
	expect_status 0
	[ "$output" = "" ]
	expect_err "imapsync: 7 folders, 78 new messages"
	expect_err "imapsync: Lists/dev: 6 new"
	expect_mbox_is_server "$MD"
	# Named as in the nested layout, whatever --layout says; INBOX too.
	local f
	for f in INBOX Entwürfe Archive/2024 a.b "50%25 off" Lists Lists/dev; do
		[ -s "$MD/$f.mbox" ] || { echo "no $MD/$f.mbox" >&2; false; }
	done
	[ "$(mbox_file "$MD" "Archive/2024")" = "$MD/Archive/2024.mbox" ]
	[ "$(stat -c %a "$MD/Lists")" = 700 ]
	[ "$(stat -c %a "$MD/INBOX.mbox")" = 600 ]
	[ ! -e "$MD/cur" ] && [ ! -e "$MD/.Lists" ]
	# mboxrd: From lines quoted, nothing added to the messages.
	head -n 1 "$MD/INBOX.mbox" | grep -q '^From MAILER-DAEMON [A-Z][a-z][a-z] [A-Z][a-z][a-z] [ 0-9][0-9] [0-9:]\{8\} 20[0-9][0-9]$'
	grep -q '^>From the start of a line' "$MD/INBOX.mbox"
	grep -q '^>>From quoted' "$MD/INBOX.mbox"
	refute grep -q '^From the start of a line' "$MD/INBOX.mbox"
	refute grep -qE '^(X-)?Status:' "$MD/INBOX.mbox"
	# The state is inside the backup: each UID names where its message's
	# From line starts.
	[ -e "$MD/.mailpipe/.mailpipe-state" ] && [ -e "$MD/.mailpipe/Lists/dev/.mailpipe-uids" ]
	diff <(imap_uids INBOX | sort -n) <(cut -d' ' -f2 "$MD/.mailpipe/.mailpipe-uids" | sort -n)
	local off
	for off in $(cut -d' ' -f3 "$MD/.mailpipe/Lists/dev/.mailpipe-uids" | tr -d @); do
		[ "$(tail -c +$((off + 1)) "$MD/Lists/dev.mbox" | head -c 5)" = "From " ]
	done
	[ -z "$(find "$MD" -name '*.lock' -o -name '*journal*')" ]

	# Nothing new: nothing appended, nothing rewritten.
	mbox_sums "$MD" >"$BATS_TEST_TMPDIR/sums.before"
	sync --mbox "$MD"
	expect_status 0
	expect_err "imapsync: 7 folders, 0 new messages"
	mbox_sums "$MD" >"$BATS_TEST_TMPDIR/sums.after"
	diff "$BATS_TEST_TMPDIR/sums.before" "$BATS_TEST_TMPDIR/sums.after"

	# New mail in three folders: appended after what was there, once.
	cp -a "$MD" "$BATS_TEST_TMPDIR/old"
	imap_seed INBOX 5
	imap_seed "Lists/dev" 3 --big 1
	imap_seed "a.b" 2
	imap_flags add '\Flagged' "Entwürfe" 1:3
	sync --mbox "$MD" --json
	expect_status 0
	[ "$(json_get 'sum(x["fetched"] for x in j["folders"])')" -eq 10 ]
	[ "$(json_get 'f["Lists/dev"]["fetched"]')" -eq 3 ]
	[ "$(json_get 'f["Entwürfe"]["flags_updated"]')" -eq 0 ]
	expect_mbox_is_server "$MD"
	for f in INBOX Lists/dev a.b Entwürfe; do
		cmp -n "$(stat -c %s "$BATS_TEST_TMPDIR/old/$f.mbox")" \
			"$BATS_TEST_TMPDIR/old/$f.mbox" "$MD/$f.mbox"
	done
	cmp "$BATS_TEST_TMPDIR/old/Entwürfe.mbox" "$MD/Entwürfe.mbox"
}

@test "--mbox: a journaled batch of a stopped run is cut off and fetched once more; messages gone from the file are fetched again" {
	imap_seed INBOX 10
	sync --mbox "$MD"
	expect_status 0
	local mb=$MD/INBOX.mbox st=$MD/.mailpipe size
	size=$(stat -c %s "$mb")
	cp "$st/.mailpipe-state" "$BATS_TEST_TMPDIR/state.1"
	imap_seed INBOX 5
	sync --mbox "$MD"
	expect_status 0
	expect_err "INBOX: 5 new"
	# A run stopped after recording its batch, before dropping the batch's
	# journal and writing the folder state; half a message after it too.
	cp "$BATS_TEST_TMPDIR/state.1" "$st/.mailpipe-state"
	printf 'size %s\n' "$size" >"$st/.mailpipe-journal"
	printf 'From MAILER-DAEMON Thu Jan  1 00:00:00 2026\nSubject: half a message\n' >>"$mb"
	cp "$mb" "$BATS_TEST_TMPDIR/crashed.mbox"
	sync --mbox "$MD"
	expect_status 0
	expect_err "INBOX: 5 new"
	[ ! -e "$st/.mailpipe-journal" ]
	refute grep -q 'half a message' "$mb"
	cmp -n "$size" "$BATS_TEST_TMPDIR/crashed.mbox" "$mb"
	expect_mbox_is_server "$MD"
	[ "$(wc -l <"$st/.mailpipe-uids")" -eq 15 ]

	# Cut short behind imapsync's back: the UIDs whose messages went are
	# fetched again when the folder is next looked at (new mail here).
	local cut
	cut=$(sort -k2n "$st/.mailpipe-uids" | sed -n '13p' | cut -d' ' -f3 | tr -d @)
	[ "$cut" -gt 0 ]
	truncate -s "$cut" "$mb"
	imap_seed INBOX 1
	sync --mbox "$MD"
	expect_status 0
	expect_err "INBOX: 4 new"
	expect_mbox_is_server "$MD"
	[ "$(wc -l <"$st/.mailpipe-uids")" -eq 16 ]
}

@test "--mbox: usage errors with --mirror, --maildir and --stdout (64); --dry-run creates nothing; the config key mbox" {
	local none="imaps://alice@127.0.0.1:1"
	mp_run imapsync --server "$none" --mbox "$MD" --mirror
	expect_status 64
	expect_err "--mirror works on a --maildir backup only"
	mp_run imapsync --server "$none" --mbox "$MD" --maildir "$MD.md"
	expect_status 64
	expect_err "choose one of --maildir, --mbox, --stdout and --mda"
	mp_run imapsync --server "$none" --mbox "$MD" --stdout
	expect_status 64
	[ ! -e "$MD" ] && [ ! -e "$MD.md" ]

	imap_create "a.b"
	imap_seed INBOX 3
	imap_seed "a.b" 2
	sync --mbox "$MD" --dry-run
	expect_status 0
	expect_err "2 folders, 5 new messages"
	[ ! -e "$MD" ]

	mkdir -p "$XDG_CONFIG_HOME/mailpipe"
	printf 'mbox = %s\n' "$MD" >"$XDG_CONFIG_HOME/mailpipe/config"
	sync
	expect_status 0
	expect_err "2 folders, 5 new messages"
	expect_mbox_is_server "$MD"
	# An output in the config file and another on the command line.
	sync --maildir "$MD.md"
	expect_status 64
	[ ! -e "$MD.md" ]
}
