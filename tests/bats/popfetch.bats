#!/usr/bin/env bats
# popfetch against the real Dovecot: alice's INBOX is filled with generated
# messages ("." and "From " lines, 8-bit text, long lines, 1-3 MB bodies) and
# what arrives in a Maildir, an mbox, an MDA or a --stdout stream is compared
# byte for byte (by SHA-256) with the server's files. Keep, delete, age,
# status, limits, dry runs, the run lock and --all.

load ../lib/common
load ../lib/pop3

setup_file() {
	need_servers
	pop3_clear
}

teardown_file() {
	pop3_clear
	release_servers
}

setup() {
	export MAILPIPE_PASSWORD=$MP_PASS
	pop3_clear
	MD=$BATS_TEST_TMPDIR/md
}

# fetch ARGS...: popfetch against Dovecot over POP3S as alice.
fetch() {
	mp_run popfetch $(pop3_opts pop3s) "$@"
}

# The server's messages now, into FILE.
snap_server() {
	server_hashes >"$1"
}

expect_server_is() {
	server_hashes >"$BATS_TEST_TMPDIR/server.now"
	same_hashes "$BATS_TEST_TMPDIR/server.now" "$1" "server now" "expected"
}

# Files in a Maildir's new/ and cur/.
local_count() {
	find "$1/new" "$1/cur" -mindepth 1 -maxdepth 1 -type f 2>/dev/null | wc -l
}

@test "popfetch pop3s: a generated mailbox arrives in the Maildir byte for byte; --keep leaves the server as it was" {
	pop3_seed 40 --big 2
	snap_server "$BATS_TEST_TMPDIR/before"
	fetch --maildir "$MD" --keep
	expect_status 0
	expect_err "popfetch: fetched 40 ("
	expect_err "deleted 0"
	[ "$output" = "" ]
	expect_local_is_manifest maildir "$MD"
	expect_server_is "$BATS_TEST_TMPDIR/before"
	# Delivered whole: nothing left behind in tmp/, names fit new/.
	[ -z "$(ls -A "$MD/tmp")" ]
	refute grep -q '[:/]' <(ls "$MD/new")
	# A second run finds nothing new and changes nothing.
	fetch --maildir "$MD" --keep
	expect_status 0
	expect_err "popfetch: fetched 0 ("
	[ "$(local_count "$MD")" -eq 40 ]
	expect_server_is "$BATS_TEST_TMPDIR/before"
}

@test "popfetch pop3 (STLS): byte for byte; messages added later are fetched once each" {
	pop3_seed 12 --big 1
	mp_run popfetch $(pop3_opts pop3) --maildir "$MD"
	expect_status 0
	expect_err "fetched 12 ("
	expect_local_is_manifest maildir "$MD"
	pop3_seed 5
	mp_run popfetch $(pop3_opts pop3) --maildir "$MD"
	expect_status 0
	expect_err "fetched 5 ("
	expect_local_is_manifest maildir "$MD"
	mp_run popfetch $(pop3_opts pop3) --maildir "$MD"
	expect_status 0
	expect_err "fetched 0 ("
	expect_local_is_manifest maildir "$MD"
	# Nothing was deleted by default.
	[ "$(pop3_count)" -eq 17 ]
}

# client_sent LINE: the -v trace on stderr shows the client sending LINE.
client_sent() {
	grep -qx "C: $1" <<<"$stderr"
}

@test "popfetch in keep mode: a rerun glances (STAT, the last UIDL) instead of listing; new mail, a replaced message, a UIDL taken out of the state and a day's age make it list" {
	local st=$BATS_TEST_TMPDIR/pf.state
	pop3_seed 5
	fetch --maildir "$MD" --state "$st"
	expect_status 0
	expect_err "fetched 5 ("
	grep -q '^#@ maildrop 5 ' "$st"
	fetch --maildir "$MD" --state "$st" -v
	expect_status 0
	expect_err "fetched 0 ("
	client_sent STAT
	client_sent "UIDL 5"
	refute client_sent UIDL
	# New mail changes the count.
	pop3_seed 2
	fetch --maildir "$MD" --state "$st" -v
	expect_err "fetched 2 ("
	client_sent UIDL
	grep -q '^#@ maildrop 7 ' "$st"
	# One message gone and one come: the count is the same, the last UIDL
	# is not.
	rm "$(find "$MP_MAILDIR/new" "$MP_MAILDIR/cur" -type f | sort | head -n 1)"
	pop3_seed 1
	fetch --maildir "$MD" --state "$st"
	expect_err "fetched 1 ("
	[ "$(local_count "$MD")" -eq 8 ]
	# A UIDL taken out of the state by hand is fetched again: the last
	# message's, which the server still has.
	local last
	last=$(sed -n 's/^#@ maildrop [0-9]* [0-9]* [0-9]* [0-9]* //p' "$st")
	[ -n "$last" ]
	sed -i "/^[0-9]* [0-9]* $last\$/d" "$st"
	fetch --maildir "$MD" --state "$st"
	expect_err "fetched 1 ("
	[ "$(local_count "$MD")" -eq 9 ]
	# A glance a day old is not trusted.
	sed -i 's/^\(#@ maildrop [0-9]* [0-9]*\) [0-9]*/\1 1000/' "$st"
	fetch --maildir "$MD" --state "$st" -v
	expect_err "fetched 0 ("
	client_sent UIDL
	# Deleting, popfetch always lists.
	fetch --maildir "$MD" --state "$st" --delete -v
	expect_status 0
	refute client_sent STAT
	[ "$(pop3_count)" -eq 0 ]
	refute grep -q '^#@' "$st"
}

@test "popfetch -q prints nothing on success" {
	pop3_seed 2
	fetch --maildir "$MD" -q
	expect_status 0
	[ "$output" = "" ]
	[ "${stderr:-}" = "" ]
	[ "$(local_count "$MD")" -eq 2 ]
}

@test "popfetch on a terminal shows a progress line that counts the messages; not when stderr is no terminal" {
	pop3_seed 12
	script -qec "popfetch $(pop3_opts) --maildir $MD --keep --state $BATS_TEST_TMPDIR/pf.state" \
		/dev/null >"$BATS_TEST_TMPDIR/tty.out" || { cat -v "$BATS_TEST_TMPDIR/tty.out"; false; }
	grep -aq $'\rpopfetch: 12/12 messages, ' "$BATS_TEST_TMPDIR/tty.out" || { cat -v "$BATS_TEST_TMPDIR/tty.out"; false; }
	# Wiped before the summary.
	grep -aq $'\r\033\[Kpopfetch: fetched 12 ' "$BATS_TEST_TMPDIR/tty.out"
	[ "$(find "$MD/new" -type f | wc -l)" -eq 12 ]
	pop3_seed 3
	mp_run popfetch $(pop3_opts) --maildir "$MD" --keep --state "$BATS_TEST_TMPDIR/pf.state"
	expect_status 0
	refute grep -q 'messages, ' <<<"$stderr"
}

@test "popfetch --delete removes from the server exactly what is kept locally" {
	pop3_seed 6
	fetch --maildir "$MD" --keep --limit 2
	expect_status 0
	expect_err "fetched 2 ("
	[ "$(pop3_count)" -eq 6 ]
	# Two more now, and the two kept before: four deleted, two stay.
	fetch --maildir "$MD" --delete --limit 2
	expect_status 0
	expect_err "fetched 2 ("
	expect_err "deleted 4"
	[ "$(pop3_count)" -eq 2 ]
	[ "$(local_count "$MD")" -eq 4 ]
	maildir_hashes "$MD" >"$BATS_TEST_TMPDIR/local"
	server_hashes >"$BATS_TEST_TMPDIR/server"
	# Disjoint, and together every message once.
	[ -z "$(comm -12 "$BATS_TEST_TMPDIR/local" "$BATS_TEST_TMPDIR/server")" ]
	sort "$BATS_TEST_TMPDIR/local" "$BATS_TEST_TMPDIR/server" >"$BATS_TEST_TMPDIR/both"
	manifest_hashes >"$BATS_TEST_TMPDIR/want"
	same_hashes "$BATS_TEST_TMPDIR/both" "$BATS_TEST_TMPDIR/want" "local+server" "seeded"
	# The rest, and the server is empty.
	fetch --maildir "$MD" --delete
	expect_status 0
	expect_err "fetched 2 ("
	expect_err "deleted 2"
	[ "$(pop3_count)" -eq 0 ]
	expect_local_is_manifest maildir "$MD"
}

@test "popfetch --delete-older-than: 30d keeps what was just fetched, 0s deletes it, nothing is fetched twice" {
	pop3_seed 3
	fetch --maildir "$MD" --delete-older-than 30d
	expect_status 0
	expect_err "fetched 3 ("
	expect_err "deleted 0"
	[ "$(pop3_count)" -eq 3 ]
	fetch --maildir "$MD" --delete-older-than 30d
	expect_status 0
	expect_err "fetched 0 ("
	[ "$(pop3_count)" -eq 3 ]
	fetch --maildir "$MD" --delete-older-than 0s
	expect_status 0
	expect_err "fetched 0 ("
	expect_err "deleted 3"
	[ "$(pop3_count)" -eq 0 ]
	expect_local_is_manifest maildir "$MD"
	fetch --maildir "$MD" --delete-older-than 2x
	expect_status 64
	expect_err "delete-older-than"
}

@test "popfetch --mbox: mboxrd that unquotes back to the same bytes, each message once, old content kept" {
	local mb=$BATS_TEST_TMPDIR/mail.mbox
	printf 'From someone@example.test Thu Jan  1 00:00:00 2026\nSubject: older\n\n>From quoted before\nold body\n\n' >"$mb"
	printf 'Subject: older\n\nFrom quoted before\nold body\n' | sha256sum | cut -d' ' -f1 >>"$POP3_MANIFEST"
	pop3_seed 20 --big 1
	fetch --mbox "$mb"
	expect_status 0
	expect_err "fetched 20 ("
	expect_local_is_manifest mbox "$mb"
	# Quoting happened: no body line starts with a bare "From " but the
	# separators, one per message.
	[ "$(grep -c '^From ' "$mb")" -eq 21 ]
	local sum
	sum=$(sha256sum <"$mb")
	fetch --mbox "$mb"
	expect_status 0
	expect_err "fetched 0 ("
	[ "$(sha256sum <"$mb")" = "$sum" ]
	[ ! -e "$mb.lock" ]
}

@test "popfetch --stdout: an mboxrd stream for a pipeline, each message once" {
	export STREAM=$BATS_TEST_TMPDIR/stream
	pop3_seed 12 --big 1
	run --separate-stderr bash -c 'set -o pipefail; popfetch "$@" --stdout | tee "$STREAM" | grep -c "^From "' _ \
		$(pop3_opts pop3s)
	if [ "$status" -ne 0 ] || [ "$output" != 12 ]; then
		_mp_show
		false
	fi
	[ -s "$STREAM" ]
	expect_local_is_manifest mbox "$STREAM"
	# Diagnostics never mix into the stream.
	refute grep -q '^popfetch' "$STREAM"
	# All recorded: the next stream is empty.
	fetch --stdout
	expect_status 0
	[ "$output" = "" ]
	expect_err "fetched 0 ("
}

@test "popfetch --stdout --delete: only the messages written out are deleted" {
	export STREAM=$BATS_TEST_TMPDIR/stream
	pop3_seed 8
	# The stream goes to a file: $output would lose its trailing newlines.
	mp_run bash -c 'popfetch "$@" >"$STREAM"' _ $(pop3_opts pop3s) --stdout --delete --limit 3
	expect_status 0
	expect_err "fetched 3 ("
	expect_err "deleted 3"
	[ "$(grep -c '^From ' "$BATS_TEST_TMPDIR/stream")" -eq 3 ]
	[ "$(pop3_count)" -eq 5 ]
	mbox_hashes "$BATS_TEST_TMPDIR/stream" >"$BATS_TEST_TMPDIR/got"
	server_hashes >"$BATS_TEST_TMPDIR/server"
	[ -z "$(comm -12 "$BATS_TEST_TMPDIR/got" "$BATS_TEST_TMPDIR/server")" ]
	sort "$BATS_TEST_TMPDIR/got" "$BATS_TEST_TMPDIR/server" >"$BATS_TEST_TMPDIR/both"
	manifest_hashes >"$BATS_TEST_TMPDIR/want"
	same_hashes "$BATS_TEST_TMPDIR/both" "$BATS_TEST_TMPDIR/want" "stream+server" "seeded"
}

@test "popfetch --mda: each message once on the command's stdin, with its metadata in the environment" {
	export DIR=$BATS_TEST_TMPDIR/mda
	mkdir -p "$DIR/msgs" "$DIR/env"
	pop3_seed 6
	local cmd='cat > "$DIR/msgs/$MAILPIPE_UIDL" && env | grep "^MAILPIPE_" | sort > "$DIR/env/$MAILPIPE_UIDL"'
	fetch --mda "$cmd"
	expect_status 0
	expect_err "fetched 6 ("
	[ "$(ls "$DIR/msgs" | wc -l)" -eq 6 ]
	(cd "$DIR/msgs" && sha256sum * | cut -d' ' -f1 | sort) >"$BATS_TEST_TMPDIR/got"
	manifest_hashes >"$BATS_TEST_TMPDIR/want"
	same_hashes "$BATS_TEST_TMPDIR/got" "$BATS_TEST_TMPDIR/want" "delivered" "seeded"
	local f u size lines
	for f in "$DIR"/msgs/*; do
		u=${f##*/}
		grep -qx "MAILPIPE_UIDL=$u" "$DIR/env/$u"
		grep -qx "MAILPIPE_SERVER=127.0.0.1" "$DIR/env/$u"
		grep -qx "MAILPIPE_USER=$MP_USER" "$DIR/env/$u"
		# The password popfetch was given never reaches the command.
		if grep -q "^MAILPIPE_PASSWORD=" "$DIR/env/$u"; then
			echo "the MDA saw MAILPIPE_PASSWORD" >&2
			false
		fi
		# The size POP3 gives: the message with CRLF line ends.
		size=$(wc -c <"$f")
		lines=$(wc -l <"$f")
		grep -qx "MAILPIPE_SIZE=$((size + lines))" "$DIR/env/$u" || {
			cat "$DIR/env/$u"
			echo "expected MAILPIPE_SIZE=$((size + lines))"
			false
		}
	done
	# Recorded: the command is not run again.
	rm -rf "$DIR/msgs"/*
	fetch --mda "$cmd"
	expect_status 0
	expect_err "fetched 0 ("
	[ -z "$(ls -A "$DIR/msgs")" ]
}

@test "popfetch --status counts new and total messages and bytes, touching neither server nor state" {
	pop3_seed 5
	local bytes lines total
	bytes=$(cat "$MP_MAILDIR"/new/* "$MP_MAILDIR"/cur/* 2>/dev/null | wc -c)
	lines=$(cat "$MP_MAILDIR"/new/* "$MP_MAILDIR"/cur/* 2>/dev/null | wc -l)
	total=$((bytes + lines))
	snap_server "$BATS_TEST_TMPDIR/before"
	fetch --status
	expect_status 0
	expect_out "5 new ($total bytes), 5 in all ($total bytes)"
	[ -z "$(state_files)" ]
	expect_server_is "$BATS_TEST_TMPDIR/before"
	fetch --maildir "$MD" --limit 2
	expect_status 0
	local state sum
	state=$(state_files)
	[ -n "$state" ]
	sum=$(sha256sum <"$state")
	fetch --status
	expect_status 0
	expect_out "3 new ("
	expect_out "5 in all ($total bytes)"
	[ "$(sha256sum <"$state")" = "$sum" ]
	[ "$(local_count "$MD")" -eq 2 ]
	expect_server_is "$BATS_TEST_TMPDIR/before"
}

@test "popfetch --limit N caps each run; runs add up to everything once" {
	pop3_seed 7
	fetch --maildir "$MD" --limit 3
	expect_status 0
	expect_err "fetched 3 ("
	[ "$(local_count "$MD")" -eq 3 ]
	fetch --maildir "$MD" --limit 3
	expect_status 0
	expect_err "fetched 3 ("
	fetch --maildir "$MD" --limit 3
	expect_status 0
	expect_err "fetched 1 ("
	expect_local_is_manifest maildir "$MD"
	fetch --maildir "$MD" --limit 0
	expect_status 64
}

@test "popfetch --max-size skips larger messages; --delete-oversized deletes them unread" {
	pop3_seed 3
	cp "$POP3_MANIFEST" "$BATS_TEST_TMPDIR/small"
	pop3_seed_sizes 700000
	fetch --maildir "$MD" --max-size 500k
	expect_status 0
	expect_err "fetched 3 ("
	expect_err "skipped 1"
	[ "$(pop3_count)" -eq 4 ]
	maildir_hashes "$MD" >"$BATS_TEST_TMPDIR/got"
	sort "$BATS_TEST_TMPDIR/small" >"$BATS_TEST_TMPDIR/want"
	same_hashes "$BATS_TEST_TMPDIR/got" "$BATS_TEST_TMPDIR/want" "local" "small ones"
	fetch --status --max-size 500k
	expect_status 0
	expect_out "0 new"
	expect_out "4 in all"
	# Delete the big one unread; the small ones stay (no --delete).
	fetch --maildir "$MD" --max-size 500k --delete-oversized
	expect_status 0
	expect_err "fetched 0 ("
	expect_err "deleted 1"
	[ "$(pop3_count)" -eq 3 ]
	server_hashes >"$BATS_TEST_TMPDIR/server"
	same_hashes "$BATS_TEST_TMPDIR/server" "$BATS_TEST_TMPDIR/want" "server" "small ones"
	[ "$(local_count "$MD")" -eq 3 ]
	fetch --maildir "$MD" --delete-oversized
	expect_status 64
}

@test "popfetch --dry-run shows what it would fetch and delete, and changes nothing" {
	pop3_seed 4
	snap_server "$BATS_TEST_TMPDIR/before"
	fetch --dry-run --maildir "$MD" --delete
	expect_status 0
	[ "$(grep -c '^would fetch ' <<<"$output")" -eq 4 ]
	# Dovecot offers TOP: each line shows From and the decoded Subject.
	[ "$(grep -c '  From: Sender Name <sender@example.test>  Subject: Grüße ' <<<"$output")" -eq 4 ] ||
		{ _mp_show; false; }
	refute_out "would delete"
	[ ! -e "$MD" ]
	[ -z "$(state_files)" ]
	expect_server_is "$BATS_TEST_TMPDIR/before"
	fetch --maildir "$MD" --keep
	expect_status 0
	local state sum
	state=$(state_files)
	sum=$(sha256sum <"$state")
	fetch --dry-run --maildir "$MD" --delete
	expect_status 0
	refute_out "would fetch"
	[ "$(grep -c '^would delete ' <<<"$output")" -eq 4 ]
	[ "$(sha256sum <"$state")" = "$sum" ]
	[ "$(local_count "$MD")" -eq 4 ]
	expect_server_is "$BATS_TEST_TMPDIR/before"
}

@test "popfetch: a second run for the same account while one runs exits 75 saying so" {
	fake_start - <<-'EOF'
	SLEEP 3
	S: -ERR [SYS/TEMP] busy
	CLOSE
	EOF
	popfetch $(fake_pop3_opts) --maildir "$MD" 2>"$BATS_TEST_TMPDIR/first.err" &
	local first=$! i
	for ((i = 0; i < 100; i++)); do
		grep -q '^# connection' "$FAKE_LOG" && break
		sleep 0.05
	done
	grep -q '^# connection' "$FAKE_LOG"
	mp_run popfetch $(fake_pop3_opts) --maildir "$MD"
	expect_status 75
	expect_err "already running"
	local rc=0
	wait "$first" || rc=$?
	[ "$rc" -eq 75 ] || { cat "$BATS_TEST_TMPDIR/first.err"; false; }
	# The first is gone: the lock is free (the server is gone too).
	fake_wait
	mp_run popfetch $(fake_pop3_opts) --maildir "$MD"
	expect_status 75
	refute_err "already running"
}

@test "popfetch --all fetches again what was fetched before" {
	pop3_seed 3
	fetch --maildir "$MD"
	expect_status 0
	expect_err "fetched 3 ("
	fetch --maildir "$MD" --all
	expect_status 0
	expect_err "fetched 3 ("
	[ "$(local_count "$MD")" -eq 6 ]
	maildir_hashes "$MD" >"$BATS_TEST_TMPDIR/got"
	sort "$POP3_MANIFEST" "$POP3_MANIFEST" >"$BATS_TEST_TMPDIR/want"
	same_hashes "$BATS_TEST_TMPDIR/got" "$BATS_TEST_TMPDIR/want" "local" "seeded twice"
}

@test "popfetch: usage errors" {
	fetch
	expect_status 64
	expect_err "--maildir"
	fetch --maildir "$MD" --mbox "$BATS_TEST_TMPDIR/mb"
	expect_status 64
	fetch --maildir "$MD" --keep --delete
	expect_status 64
	fetch --maildir "$MD" --max-size lots
	expect_status 64
	[ ! -e "$MD" ]
}

@test "popfetch: a malformed state file is exit 78 naming file and line, also when the login fails too; nothing is fetched" {
	local st=$BATS_TEST_TMPDIR/pf.state
	pop3_seed 2
	printf '# mailpipe popfetch state 1\n1 2 fine\nnot a state line\n' >"$st"
	fetch --maildir "$MD" --state "$st"
	expect_status 78
	expect_err "pf.state:3: malformed state line"
	[ "$(local_count "$MD")" -eq 0 ]
	# The state is read while popfetch logs in; its error is the one the
	# user can mend, so it wins over the server's.
	MAILPIPE_PASSWORD=wrong-password fetch --maildir "$MD" --state "$st"
	expect_status 78
	expect_err "pf.state:3"
	refute_err "authentication failed"
	[ "$(pop3_count)" -eq 2 ]
	grep -qx 'not a state line' "$st"
}

@test "popfetch: a message with a 200 KB line (as Dovecot stores and serves it) arrives byte for byte and blocks nothing after it" {
	pop3_seed 2
	# One message with a very long line, as some mailers send.
	"$MP_PYTHON" - "$MP_MAILDIR" "$POP3_MANIFEST" <<-'PY'
	import hashlib, os, sys, time
	maildir, manifest = sys.argv[1:3]
	data = b"Subject: long line\n\n" + b"Z" * 200000 + b"\nend\n"
	st = os.stat(maildir)
	name = "%d.M1P%d.mailpipe-test" % (time.time(), os.getpid())
	with open(os.path.join(maildir, "tmp", name), "wb") as f:
	    f.write(data)
	os.chown(os.path.join(maildir, "tmp", name), st.st_uid, st.st_gid)
	os.rename(os.path.join(maildir, "tmp", name), os.path.join(maildir, "new", name))
	open(manifest, "a").write(hashlib.sha256(data).hexdigest() + "\n")
	PY
	pop3_seed 2
	fetch --maildir "$MD"
	expect_status 0
	expect_err "fetched 5 ("
	expect_local_is_manifest maildir "$MD"
}
