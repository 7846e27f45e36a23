#!/usr/bin/env bats
# imapsync never loses, doubles or half-writes a message, and never writes
# outside the backup: kill -9 at many moments of full and incremental runs
# (real Dovecot; Maildir and mbox backups), a UIDVALIDITY reset, a folder
# emptied on the server, a full disk under an mbox, and hostile servers
# (the fake) with folder names that try to leave the backup, huge or
# cut-off literals, untagged surprises, BYE and bare NO.

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

teardown() {
	fake_stop
	# The small file system of the full-disk test.
	if [ -n "${FULL_MNT:-}" ] && mountpoint -q "$FULL_MNT"; then
		umount "$FULL_MNT" || umount -l "$FULL_MNT"
	fi
	return 0
}

now() {
	date +%s.%N
}

# The kill-test account: about 300 messages in three folders, a few of
# them 1-2 MB.
seed_kill_account() {
	imap_create "Entwürfe" "Archive/2024"
	imap_seed INBOX 100 --flags --big 1
	imap_seed "Entwürfe" 100 --flags --big 1
	imap_seed "Archive/2024" 100 --flags --big 1
}

# kill_at DELAY ARGS...: run imapsync ARGS in the background, SIGKILL it
# after DELAY seconds; KILL_RC is its exit status (137: killed).
kill_at() {
	local delay=$1
	shift
	# In a subshell, so the shell's "Killed" notice goes nowhere.
	KILL_RC=$(
		{
			imapsync "$@" >/dev/null 2>"$BATS_TEST_TMPDIR/killed.err" &
			pid=$!
			sleep "$delay"
			kill -9 "$pid" 2>/dev/null
			rc=0
			wait "$pid" || rc=$?
			echo "$rc"
		} 2>/dev/null
	)
	if [ "$KILL_RC" -ne 0 ] && [ "$KILL_RC" -ne 137 ]; then
		echo "imapsync exited $KILL_RC before the kill:" >&2
		cat "$BATS_TEST_TMPDIR/killed.err" >&2
		return 1
	fi
}

# A run that is not killed must leave the backup equal to the server.
complete_run() {
	mp_run imapsync $(imap_opts) --maildir "$MD"
	expect_status 0 || return 1
	expect_backup_is_server "$MD" --flags
}

complete_mbox_run() {
	mp_run imapsync $(imap_opts) --mbox "$MD"
	expect_status 0 || return 1
	expect_mbox_is_server "$MD"
}

# An mbox run killed with a batch journaled and not yet settled.
count_journaled() {
	if [ -n "$(find "$MD" -name .mailpipe-journal 2>/dev/null)" ]; then
		JOURNALED=$((JOURNALED + 1))
	fi
}

# time_full_run OUTPUT: SPAN is how long a full run into an empty backup
# takes (OUTPUT --maildir or --mbox), to spread kills over.
time_full_run() {
	local t0 t1
	t0=$(now)
	mp_run imapsync $(imap_opts) "$1" "$BATS_TEST_TMPDIR/scratch" -q
	expect_status 0 || return 1
	t1=$(now)
	rm -rf "$BATS_TEST_TMPDIR/scratch"
	SPAN=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

# kill_full_runs OUTPUT N FIRST RERUN SANE COMPLETE: N kills of runs from
# an empty backup at FIRST + SPAN*k/N seconds, every other rerun killed
# too (at SPAN*(round+1)/RERUN); after each kill the backup must pass SANE
# and, after a complete run, COMPLETE. Counts in KILLED and ROUNDS; runs
# AFTER_KILL (if set) after every kill; SPAN shrinks when runs finish
# before their signal.
kill_full_runs() {
	local to=$1 n=$2 first=$3 rerun=$4 sane=$5 complete=$6 r delay full=0
	for ((r = 0; full < n && r < 2 * n + 2; r++)); do
		ROUNDS=$((ROUNDS + 1))
		rm -rf "$MD"
		delay=$(awk -v s="$SPAN" -v k="$full" -v n="$n" -v f="$first" \
			'BEGIN { printf "%.3f", f + s * k / n }')
		kill_at "$delay" $(imap_opts) "$to" "$MD" || return 1
		if [ "$KILL_RC" -eq 137 ]; then
			KILLED=$((KILLED + 1))
			full=$((full + 1))
		else
			# Done before the signal: the machine is faster now.
			SPAN=$(awk -v s="$SPAN" 'BEGIN { printf "%.3f", s * 0.8 }')
		fi
		"$sane" "$MD" || {
			echo "after the kill at $delay s of a full run ($to)" >&2
			return 1
		}
		${AFTER_KILL:-true}
		if [ $((r % 2)) -eq 1 ]; then
			kill_at "$(awk -v s="$SPAN" -v k="$r" -v d="$rerun" \
				'BEGIN { printf "%.3f", s * (k + 1) / d }')" \
				$(imap_opts) "$to" "$MD" || return 1
			[ "$KILL_RC" -eq 137 ] && KILLED=$((KILLED + 1))
			"$sane" "$MD" || {
				echo "after killing the rerun of round $ROUNDS ($to)" >&2
				return 1
			}
		fi
		"$complete" || {
			echo "in the rerun after the kill at $delay s of a full run ($to)" >&2
			return 1
		}
	done
}

@test "kill -9 at 20 moments of full and incremental runs, each followed by a rerun: every message once, byte for byte" {
	seed_kill_account
	# Not "i": bats' run sets a variable of that name in its caller.
	local r delay
	KILLED=0 ROUNDS=0
	time_full_run --maildir
	echo "# a full run of 300 messages takes $SPAN s" >&3
	# 14 kills of runs from an empty backup, spread over a whole run, and
	# about 7 more in their reruns.
	kill_full_runs --maildir 14 0.01 40 expect_backup_sane complete_run

	# Incremental runs: new mail, flag changes and an expunge each time;
	# every other one with --mirror (killed while moving, too).
	export IMAP_ALLOWED=$BATS_TEST_TMPDIR/allowed
	local mirror
	for ((r = 0; r < 12 && (r < 6 || KILLED < 20); r++)); do
		ROUNDS=$((ROUNDS + 1))
		imap_seed INBOX 15 --flags --big $((r % 3 == 0))
		imap_seed "Entwürfe" 10 --flags
		imap_seed "Archive/2024" 5
		imap_flags add '\Seen \Flagged' "Archive/2024" "$((r * 5 + 1)):$((r * 5 + 5))"
		imap_flags remove '\Seen' INBOX "$((r * 4 + 1)):$((r * 4 + 3))"
		imap_server_messages >>"$IMAP_ALLOWED"
		imap_expunge "Entwürfe" "$((r + 1))"
		mirror=
		[ $((r % 2)) -eq 1 ] && mirror=--mirror
		delay=$(awk -v s="$SPAN" -v k="$r" 'BEGIN { printf "%.3f", 0.01 + s * k / 20 }')
		kill_at "$delay" $(imap_opts) --maildir "$MD" $mirror
		[ "$KILL_RC" -eq 137 ] && KILLED=$((KILLED + 1))
		expect_backup_sane "$MD" || {
			echo "after the kill at $delay s of an incremental run $mirror" >&2
			return 1
		}
		# The rerun mirrors: what the server expunged moves to Removed.
		mp_run imapsync $(imap_opts) --maildir "$MD" --mirror
		expect_status 0
		expect_backup_is_server "$MD" --flags --removed $((r + 1)) || {
			echo "in the rerun after the kill at $delay s of an incremental run $mirror" >&2
			return 1
		}
	done
	echo "# $KILLED of the runs died of the signal ($ROUNDS rounds)" >&3
	[ "$KILLED" -ge 20 ]
}

# uv_backup OUTPUT: a backup (--maildir or --mbox into $MD) of two
# folders, Archive/2024 with 30 messages.
uv_backup() {
	imap_create "Archive/2024" "Entwürfe"
	imap_seed "Archive/2024" 30 --flags --big 1
	imap_seed "Entwürfe" 10
	mp_run imapsync $(imap_opts) "$1" "$MD"
	expect_status 0
}

# uv_renumber_rerun OUTPUT: Dovecot forgets Archive/2024's UIDs (a new
# UIDVALIDITY, UIDs anew) and gets 4 new messages; the rerun must say so,
# match the 30 it has by content and fetch only the 4.
uv_renumber_rerun() {
	local before dir
	before=$(imap_uidvalidity "Archive/2024")
	dir=$(imap_path "Archive/2024")
	rm -f "$dir/dovecot-uidlist" "$dir"/dovecot.index*
	imap_seed "Archive/2024" 4
	[ "$(imap_uidvalidity "Archive/2024")" != "$before" ]
	mp_run imapsync $(imap_opts) "$1" "$MD" --json
	expect_status 0
	"$MP_PYTHON" -c 'import json, sys
j = {f["name"]: f for f in json.loads(sys.argv[1])["folders"]}
a = j["Archive/2024"]
assert a["uidvalidity_changed"] is True, a
assert a["matched"] == 30, a
assert a["fetched"] == 4, a
assert j["Entwürfe"]["uidvalidity_changed"] is False' "$output"
}

@test "UIDVALIDITY change on the server: reported, nothing lost, nothing twice, nothing local deleted" {
	local dir
	uv_backup --maildir
	uv_renumber_rerun --maildir
	expect_backup_is_server "$MD"
	# Said in the plain summary too.
	dir=$(imap_path "Archive/2024")
	rm -f "$dir/dovecot-uidlist" "$dir"/dovecot.index*
	mp_run imapsync $(imap_opts) --maildir "$MD"
	expect_status 0
	expect_err "UIDVALIDITY"
	expect_backup_is_server "$MD"
	# And then it is an ordinary folder again.
	mp_run imapsync $(imap_opts) --maildir "$MD"
	expect_status 0
	expect_err "0 new messages"
	refute_err "UIDVALIDITY"
	expect_backup_is_server "$MD"
}

@test "--mbox: kill -9 at 10 moments of full and incremental runs, each followed by a rerun: every message once, byte for byte" {
	seed_kill_account
	local r delay
	KILLED=0 ROUNDS=0 JOURNALED=0
	time_full_run --mbox
	echo "# a full --mbox run of 300 messages takes $SPAN s" >&3
	# 6 kills of runs from an empty backup, spread over a whole run; every
	# other rerun is killed early too.
	AFTER_KILL=count_journaled
	kill_full_runs --mbox 6 0.02 20 expect_mbox_sane complete_mbox_run
	unset AFTER_KILL

	# Incremental runs: new mail in every folder, a big message now and then.
	for ((r = 0; r < 8 && (r < 4 || KILLED < 10); r++)); do
		ROUNDS=$((ROUNDS + 1))
		imap_seed INBOX 40 --big $((r % 2 == 0))
		imap_seed "Entwürfe" 30
		imap_seed "Archive/2024" 30 --big 1
		delay=$(awk -v s="$SPAN" -v k="$r" 'BEGIN { printf "%.3f", 0.02 + s * k / 16 }')
		kill_at "$delay" $(imap_opts) --mbox "$MD"
		[ "$KILL_RC" -eq 137 ] && KILLED=$((KILLED + 1))
		expect_mbox_sane "$MD" || {
			echo "after the kill at $delay s of an incremental --mbox run" >&2
			return 1
		}
		count_journaled
		complete_mbox_run || {
			echo "in the rerun after the kill at $delay s of an incremental --mbox run" >&2
			return 1
		}
	done
	echo "# $KILLED of the --mbox runs died of the signal ($ROUNDS rounds), $JOURNALED in a batch" >&3
	[ "$KILLED" -ge 8 ]
	# Some died with a batch half written, which the rerun cut off.
	[ "$JOURNALED" -ge 1 ]
}

@test "--mbox: UIDVALIDITY change: matched by content in the file, nothing appended twice, nothing cut" {
	local dir mb=$MD/Archive/2024.mbox
	uv_backup --mbox
	cp "$mb" "$BATS_TEST_TMPDIR/before.mbox"
	uv_renumber_rerun --mbox
	expect_mbox_is_server "$MD"
	cmp -n "$(stat -c %s "$BATS_TEST_TMPDIR/before.mbox")" "$BATS_TEST_TMPDIR/before.mbox" "$mb"
	# The new UIDs point at the messages already there.
	local uv off
	uv=$(imap_uidvalidity "Archive/2024")
	[ "$(grep -c "^$uv " "$MD/.mailpipe/Archive/2024/.mailpipe-uids")" -eq 34 ]
	for off in $(grep "^$uv " "$MD/.mailpipe/Archive/2024/.mailpipe-uids" | cut -d' ' -f3 | tr -d @); do
		[ "$(tail -c +$((off + 1)) "$mb" | head -c 5)" = "From " ]
	done
	# Again, with nothing new: all matched, the file untouched.
	cp "$mb" "$BATS_TEST_TMPDIR/before.mbox"
	dir=$(imap_path "Archive/2024")
	rm -f "$dir/dovecot-uidlist" "$dir"/dovecot.index*
	mp_run imapsync $(imap_opts) --mbox "$MD"
	expect_status 0
	expect_err "Archive/2024: 0 new"
	expect_err "UIDVALIDITY"
	cmp "$BATS_TEST_TMPDIR/before.mbox" "$mb"
	expect_mbox_is_server "$MD"
	mp_run imapsync $(imap_opts) --mbox "$MD"
	expect_status 0
	expect_err "0 new messages"
	refute_err "UIDVALIDITY"

	# Messages the file cannot keep byte for byte (no final newline; CR
	# before CRLF, and a CR at the very end) still match the file.
	imap_create "Odd"
	odd_message "Odd" 1 'Subject: no newline\n\nthe last line has none'
	odd_message "Odd" 2 'Subject: cr\r\n\r\nCR CR LF\r\r\nFrom here\r\r\nlast\r'
	odd_message "Odd" 3 'Subject: empty body\n\n'
	mp_run imapsync $(imap_opts) --mbox "$MD"
	expect_status 0
	expect_err "Odd: 3 new"
	cp "$MD/Odd.mbox" "$BATS_TEST_TMPDIR/odd.mbox"
	dir=$(imap_path "Odd")
	rm -f "$dir/dovecot-uidlist" "$dir"/dovecot.index*
	imap_sync "Odd"
	mp_run imapsync $(imap_opts) --mbox "$MD" --folder Odd --json
	expect_status 0
	[ "$("$MP_PYTHON" -c 'import json, sys
f = json.loads(sys.argv[1])["folders"][0]
print(f["uidvalidity_changed"], f["matched"], f["fetched"])' "$output")" = "True 3 0" ]
	cmp "$BATS_TEST_TMPDIR/odd.mbox" "$MD/Odd.mbox"
}

# odd_message FOLDER N FORMAT: deliver printf FORMAT's bytes as they are
# into the folder on the server.
odd_message() {
	local d
	d=$(imap_path "$1")
	# shellcheck disable=SC2059 # the format is the message
	printf "$3" >"$d/tmp/odd.$2"
	chown --reference="$d" "$d/tmp/odd.$2"
	chmod 600 "$d/tmp/odd.$2"
	mv "$d/tmp/odd.$2" "$d/new/$(date +%s).M$2P$$.odd"
	imap_sync "$1"
}

@test "--mbox on a full disk: exit 74 with one clean error, the file cut back, nothing recorded; with room the rerun completes" {
	FULL_MNT=$BATS_TEST_TMPDIR/full
	mkdir -p "$FULL_MNT"
	if ! mount -t tmpfs -o size=1m tmpfs "$FULL_MNT" 2>"$BATS_TEST_TMPDIR/mount.err"; then
		FULL_MNT=
		skip "cannot mount a small tmpfs: $(cat "$BATS_TEST_TMPDIR/mount.err")"
	fi
	imap_seed INBOX 0 --sizes 300000 300000 300000 300000
	mp_run imapsync $(imap_opts) --mbox "$FULL_MNT/mb"
	expect_status 74
	[ "$(grep -ci 'space' <<<"$stderr")" -eq 1 ] || { _mp_show; false; }
	if grep -v '^imapsync: ' <<<"$stderr" | grep -q .; then
		_mp_show
		false
	fi
	# Whatever stays is whole and recorded; what was not is cut off.
	expect_mbox_sane "$FULL_MNT/mb"
	[ "$(grep -c '^From ' "$FULL_MNT/mb/INBOX.mbox")" -lt 4 ]
	mount -o remount,size=16m "$FULL_MNT"
	mp_run imapsync $(imap_opts) --mbox "$FULL_MNT/mb"
	expect_status 0
	expect_mbox_is_server "$FULL_MNT/mb"
}

@test "a folder that had mail and shows none on the server: reported, nothing changed locally" {
	imap_create "a.b"
	imap_seed "a.b" 12 --flags
	imap_seed INBOX 3
	mp_run imapsync $(imap_opts) --maildir "$MD"
	expect_status 0
	imap_expunge "a.b" all
	[ "$(imap_uids "a.b" | wc -l)" -eq 0 ]
	tree_snapshot "$MD" >"$BATS_TEST_TMPDIR/tree.before"
	mp_run imapsync $(imap_opts) --maildir "$MD"
	expect_err "a.b: the server shows it empty"
	expect_err "nothing changed"
	tree_snapshot "$MD" >"$BATS_TEST_TMPDIR/tree.after"
	diff "$BATS_TEST_TMPDIR/tree.before" "$BATS_TEST_TMPDIR/tree.after"
	# --mirror follows expunges, but not into an empty folder.
	tree_snapshot "$MD/.a%2Eb" >"$BATS_TEST_TMPDIR/tree.before"
	mp_run imapsync $(imap_opts) --maildir "$MD" --mirror
	expect_err "a.b: the server shows it empty"
	tree_snapshot "$MD/.a%2Eb" >"$BATS_TEST_TMPDIR/tree.after"
	diff "$BATS_TEST_TMPDIR/tree.before" "$BATS_TEST_TMPDIR/tree.after"
	[ "$(folder_count "$MD/.a%2Eb")" -eq 12 ]
	[ ! -e "$MD/.%Removed" ] || [ "$(folder_count "$MD/.%Removed")" -eq 0 ]
}

@test "a UID in the journal whose file never reached cur/ (a crash before the Maildir flush) is fetched again" {
	imap_create "Archive/2024"
	imap_seed "Archive/2024" 20 --flags
	mp_run imapsync $(imap_opts) --maildir "$MD"
	expect_status 0
	# The moment of a crash in the first run: the last batch's UIDs
	# journaled, its files not yet moved in, no folder state written.
	local dir=$MD/.Archive.2024 base
	for base in $(tail -n 3 "$dir/mailpipe-uids" | cut -d' ' -f3); do
		[ -n "$base" ]
		rm "$dir"/cur/"$base":*
	done
	rm "$dir/mailpipe-state"
	[ "$(folder_count "$dir")" -eq 17 ]
	mp_run imapsync $(imap_opts) --maildir "$MD"
	expect_status 0
	expect_backup_is_server "$MD" --flags || { _mp_show; false; }
}

@test "a power cut before the run's last sync (state file empty, moves undone, files back in tmp/): the rerun fetches those once more, nothing twice" {
	imap_create "Archive/2024"
	imap_seed "Archive/2024" 20 --flags
	mp_run imapsync $(imap_opts) --maildir "$MD"
	expect_status 0
	# What such a crash can leave: the UID list synced, the state file
	# replaced by an empty one, the last moves into cur/ undone.
	local dir=$MD/.Archive.2024 base f
	for base in $(tail -n 4 "$dir/mailpipe-uids" | cut -d' ' -f3); do
		f=$(echo "$dir"/cur/"$base":*)
		mv "$f" "$dir/tmp/$base"
	done
	: >"$dir/mailpipe-state"
	imap_flags add '\Deleted' "Archive/2024" 1
	mp_run imapsync $(imap_opts) --maildir "$MD"
	expect_status 0
	expect_err "Archive/2024: 4 new"
	expect_backup_is_server "$MD" --flags || { _mp_show; false; }
	# The state is whole again: the next run opens nothing.
	mp_run imapsync $(imap_opts) --maildir "$MD"
	expect_err "Archive/2024: unchanged"
}

@test "the UID list: a torn last line (a crash mid-append) is dropped and fetched again; a damaged line elsewhere is a clear error (65)" {
	imap_create "Archive/2024"
	imap_seed "Archive/2024" 6
	mp_run imapsync $(imap_opts) --maildir "$MD"
	expect_status 0
	local list=$MD/.Archive.2024/mailpipe-uids base
	# Torn: the last line cut short, its file not moved in yet.
	base=$(tail -n 1 "$list" | cut -d' ' -f3)
	rm "$MD/.Archive.2024"/cur/"$base":*
	truncate -s -10 "$list"
	: >"$MD/.Archive.2024/mailpipe-state"
	mp_run imapsync $(imap_opts) --maildir "$MD"
	expect_status 0
	expect_backup_is_server "$MD" || { _mp_show; false; }
	# Damaged in the middle: said where, nothing fetched for that folder.
	sed -i '2s/.*/12 x3 garbage/' "$list"
	imap_seed "Archive/2024" 1
	mp_run imapsync $(imap_opts) --maildir "$MD"
	expect_status 65
	expect_err "mailpipe-uids:2: malformed line"
}

# --- hostile servers (the fake) ---

# The message every folder of the fake holds, as sent (CRLF) and as stored.
HMSG='Subject: hostile\r\nX-Marker: HOSTILE-MARKER\r\n\r\nbody\r\n'
HMSG_LF=$'Subject: hostile\nX-Marker: HOSTILE-MARKER\n\nbody\n'
HMSG_LEN=$((${#HMSG_LF} + 4))

# fake_folders LIST-LINES [EXTRA-RULES]: a fake whose LIST answers with the
# given untagged lines (\r\n between them) and whose every folder holds
# one message (UID 1); extra ON rules go first.
fake_folders() {
	{
		fake_imap_login
		[ -n "${2:-}" ] && printf '%s\n' "$2"
		cat <<-EOF
		ON ^\S+ LIST => $1\r\n\$TAG OK done
		ON ^\S+ EXAMINE => * 1 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 2] n\r\n\$TAG OK [READ-ONLY] done
		ON ^\S+ UID FETCH (\d+) \(.*BODY => * \$1 FETCH (UID \$1 FLAGS (\\\\Seen) INTERNALDATE "01-Jan-2024 10:00:00 +0000" BODY[] {$HMSG_LEN}\r\n$HMSG)\r\n\$TAG OK done
		ON ^\S+ UID FETCH => * 1 FETCH (UID 1 FLAGS (\\\\Seen) INTERNALDATE "01-Jan-2024 10:00:00 +0000" RFC822.SIZE $HMSG_LEN)\r\n\$TAG OK done
		DRAIN
		EOF
	} >"$BATS_TEST_TMPDIR/fake.script"
	fake_start "$BATS_TEST_TMPDIR/fake.script"
}

# Run imapsync against the fake into $BOX/inner/md, its memory measured.
hostile_run() {
	BOX=$BATS_TEST_TMPDIR/box
	MD=$BOX/inner/md
	mkdir -p "$BOX/inner"
	mp_run rss_run "$BATS_TEST_TMPDIR/rss" imapsync $(fake_imap_opts) --maildir "$MD" "$@"
	local kb
	kb=$(cat "$BATS_TEST_TMPDIR/rss")
	if [ "$kb" -gt "${RSS_LIMIT_KB:-102400}" ]; then
		echo "imapsync used $kb KiB against a hostile server" >&2
		return 1
	fi
}

# Every file and directory made is inside the backup.
expect_inside() {
	local out
	out=$(find "$BOX" -mindepth 1 ! -path "$BOX/inner" ! -path "$MD" ! -path "$MD/*")
	if [ -n "$out" ]; then
		echo "written outside the backup $MD:" >&2
		echo "$out" >&2
		return 1
	fi
	[ ! -e /abs ] && [ ! -e "$BATS_TEST_TMPDIR/x" ] && [ ! -e "$BATS_TEST_TMPDIR/b" ]
}

# Diagnostics are imapsync's own lines: a server's name never breaks one.
expect_clean_lines() {
	if grep -v '^imapsync: ' <<<"$stderr" | grep -q .; then
		echo "stderr has lines that are not imapsync's:" >&2
		_mp_show
		return 1
	fi
}

# Nothing whole or partial in new/ or cur/ of any folder.
no_messages() {
	local f
	f=$(cd "$MD" 2>/dev/null && find . \( -path '*/new/*' -o -path '*/cur/*' \) -type f)
	if [ -n "$f" ]; then
		echo "expected no messages in $MD, found: $f" >&2
		return 1
	fi
}

@test "hostile: folder names ../../x, /abs, a/../../b, .. and a.b are kept inside the backup, each message once" {
	fake_folders '* LIST () "/" INBOX\r\n* LIST () "/" "../../x"\r\n* LIST () "/" "/abs"\r\n* LIST () "/" "a/../../b"\r\n* LIST () "/" ".."\r\n* LIST (\\Noselect) "/" "a"\r\n* LIST () "/" "a.b"'
	hostile_run
	expect_status 0
	expect_inside
	[ "$(grep -rl HOSTILE-MARKER "$MD" | wc -l)" -eq 6 ]
	# Encoded, as documented.
	[ "$(folder_count "$MD/.%2E%2E.%2E%2E.x")" -eq 1 ]
	[ "$(folder_count "$MD/.%00.abs")" -eq 1 ]
	[ "$(folder_count "$MD/.a.%2E%2E.%2E%2E.b")" -eq 1 ]
	[ "$(folder_count "$MD/.a%2Eb")" -eq 1 ]
	local f
	f=$(grep -rl HOSTILE-MARKER "$MD/.a%2Eb")
	[ "$(cat "$f"; echo x)" = "${HMSG_LF}x" ]
	expect_clean_lines
}

@test "hostile: with --mbox the same names stay inside the backup, as files named by the nested layout" {
	# a.b.mbox/c would need a directory where a.b's file is: skipped.
	fake_folders '* LIST () "/" INBOX\r\n* LIST () "/" "../../x"\r\n* LIST () "/" "/abs"\r\n* LIST () "/" "a/../../b"\r\n* LIST () "/" ".."\r\n* LIST () "/" "a.b"\r\n* LIST () "/" "a.b.mbox/c"'
	BOX=$BATS_TEST_TMPDIR/box
	MD=$BOX/inner/md
	mkdir -p "$BOX/inner"
	mp_run imapsync $(fake_imap_opts) --mbox "$MD"
	expect_status 0
	expect_inside
	[ "$(grep -rl HOSTILE-MARKER "$MD" | wc -l)" -eq 6 ]
	local f
	for f in INBOX %2E./%2E./x %00/abs a/%2E./%2E./b %2E. a.b; do
		[ -f "$MD/$f.mbox" ] || { echo "no $MD/$f.mbox" >&2; false; }
	done
	# The message, then the empty line that ends it in an mbox.
	[ "$(sed 1d "$MD/a.b.mbox"; echo x)" = "${HMSG_LF}"$'\n'"x" ]
	expect_err "a.b.mbox/c: skipped"
	expect_clean_lines
}

@test "hostile: the same names in the nested layout stay inside the backup" {
	fake_folders '* LIST () "/" "../../x"\r\n* LIST () "/" "/abs"\r\n* LIST () "/" "a/../../b"\r\n* LIST () "/" ".."\r\n* LIST () "/" "cur"\r\n* LIST () "/" ".hidden/new"'
	hostile_run --layout nested
	expect_status 0
	expect_inside
	[ "$(grep -rl HOSTILE-MARKER "$MD" | wc -l)" -eq 6 ]
	# None of them landed in the root Maildir (INBOX).
	[ -z "$(find "$MD/cur" "$MD/new" -type f)" ]
	expect_clean_lines
}

@test "hostile: a folder name with a line break is encoded or skipped, never a broken line or a usage error" {
	fake_folders '* LIST () "/" INBOX\r\n* LIST () "/" {8}\r\nnew\nline\r\n* LIST () "/" {8}\r\nx\r\n* BYE\r\n* LIST () "/" "zz"'
	hostile_run
	expect_inside
	# The server's name is not the user's mistake.
	[ "$status" -ne 64 ] || { _mp_show; false; }
	[ "$status" -lt 128 ]
	expect_clean_lines
	# The other folders are backed up.
	[ "$(folder_count "$MD")" -eq 1 ]
	[ "$(folder_count "$MD/.zz")" -eq 1 ]
}

@test "hostile: a NUL in a folder name is refused or encoded, without a crash" {
	fake_folders '* LIST () "/" INBOX\r\n* LIST () "/" {3}\r\na\x00b\r\n* LIST () "/" "../\x00/x"'
	hostile_run
	[ "$status" -eq 0 ] || [ "$status" -eq 76 ] || { _mp_show; false; }
	expect_inside
	expect_clean_lines
	refute grep -rq HOSTILE-MARKER "$BOX/inner" --exclude-dir=md
}

@test "hostile: a literal of 2^62 bytes is a protocol error (76), nothing allocated, nothing written" {
	fake_folders '* LIST () "/" INBOX' \
		'ON ^\S+ UID FETCH (\d+) \(.*BODY => * 1 FETCH (UID 1 BODY[] {4611686018427387904}\r\nSubject: huge'
	hostile_run
	expect_status 76
	no_messages
	expect_clean_lines
	fake_stop
	# In a LIST answer too.
	fake_folders '* LIST () "/" {4611686018427387904}\r\nINBOX'
	hostile_run
	expect_status 76
	no_messages
	expect_inside
}

# fake_cut_literal: INBOX with two messages; the first comes whole, the
# second's literal is cut off by a disconnect half-way.
fake_cut_literal() {
	{
		fake_imap_login
		cat <<-EOF
		ON ^\S+ LIST => * LIST () "/" INBOX\r\n\$TAG OK done
		ON ^\S+ EXAMINE => * 2 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 3] n\r\n\$TAG OK [READ-ONLY] done
		ON ^\S+ UID FETCH 1:\* => * 1 FETCH (UID 1 FLAGS () RFC822.SIZE $HMSG_LEN)\r\n* 2 FETCH (UID 2 FLAGS () RFC822.SIZE 5000)\r\n\$TAG OK done
		ON ^\S+ UID FETCH 1 \(.*BODY => * 1 FETCH (UID 1 FLAGS () BODY[] {$HMSG_LEN}\r\n$HMSG)\r\n\$TAG OK done
		UNTIL ^\S+ UID FETCH 2 \(.*BODY
		SR: * 2 FETCH (UID 2 FLAGS () BODY[] {5000}\r\nSubject: cut\r\n\r\nHALF-WRITTEN and then
		CLOSE
		EOF
	} >"$BATS_TEST_TMPDIR/cut.script"
	fake_start "$BATS_TEST_TMPDIR/cut.script"
}

# fake_two_whole: the same INBOX serving both messages whole.
fake_two_whole() {
	{
		fake_imap_login
		cat <<-EOF
		ON ^\S+ LIST => * LIST () "/" INBOX\r\n\$TAG OK done
		ON ^\S+ EXAMINE => * 2 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 3] n\r\n\$TAG OK [READ-ONLY] done
		ON ^\S+ STATUS => * STATUS INBOX (MESSAGES 2 UIDNEXT 3 UIDVALIDITY 7)\r\n\$TAG OK done
		ON ^\S+ UID FETCH (\d+) \(.*BODY => * \$1 FETCH (UID \$1 FLAGS () BODY[] {$HMSG_LEN}\r\n$HMSG)\r\n\$TAG OK done
		ON ^\S+ UID FETCH \d+:(\d+|\*) \( => * 1 FETCH (UID 1 FLAGS () RFC822.SIZE $HMSG_LEN)\r\n* 2 FETCH (UID 2 FLAGS () RFC822.SIZE $HMSG_LEN)\r\n\$TAG OK done
		DRAIN
		EOF
	} >"$BATS_TEST_TMPDIR/whole.script"
	fake_start "$BATS_TEST_TMPDIR/whole.script"
}

@test "hostile: a literal cut off by a disconnect exits 75, nothing half-written; the rerun stores it once" {
	fake_cut_literal
	hostile_run
	expect_status 75
	expect_clean_lines
	refute grep -rq HALF-WRITTEN "$MD"
	# What came whole may stay.
	local f
	for f in $(cd "$MD" && find . \( -path '*/new/*' -o -path '*/cur/*' \) -type f); do
		[ "$(cat "$MD/$f"; echo x)" = "${HMSG_LF}x" ]
	done
	fake_stop
	# The rerun gets both, the first not twice.
	fake_two_whole
	hostile_run
	expect_status 0
	[ "$(folder_count "$MD")" -eq 2 ]
	[ -z "$(cd "$MD" && find . -path '*/tmp/*' -type f)" ]
}

@test "hostile: with --mbox a literal cut off by a disconnect exits 75, what came whole is kept once, nothing half-written" {
	fake_cut_literal
	BOX=$BATS_TEST_TMPDIR/box
	MD=$BOX/inner/md
	mkdir -p "$BOX/inner"
	mp_run imapsync $(fake_imap_opts) --mbox "$MD"
	expect_status 75
	expect_clean_lines
	refute grep -q HALF-WRITTEN "$MD/INBOX.mbox"
	[ "$(grep -c '^From ' "$MD/INBOX.mbox")" -le 1 ]
	[ ! -e "$MD/.mailpipe/.mailpipe-journal" ]
	fake_stop
	fake_two_whole
	mp_run imapsync $(fake_imap_opts) --mbox "$MD"
	expect_status 0
	[ "$(grep -c '^From ' "$MD/INBOX.mbox")" -eq 2 ]
	[ "$(grep -c HOSTILE-MARKER "$MD/INBOX.mbox")" -eq 2 ]
	[ "$(wc -l <"$MD/.mailpipe/.mailpipe-uids")" -eq 2 ]
}

@test "hostile: unsolicited EXPUNGE, EXISTS and FETCH in the middle of a fetch are tolerated" {
	{
		fake_imap_login
		cat <<-EOF
		ON ^\S+ LIST => * LIST () "/" INBOX\r\n\$TAG OK done
		ON ^\S+ EXAMINE => * 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 4] n\r\n\$TAG OK [READ-ONLY] done
		ON ^\S+ UID FETCH 1:\* => * 1 FETCH (UID 1 FLAGS () RFC822.SIZE $HMSG_LEN)\r\n* 2 EXISTS\r\n* 2 FETCH (UID 2 FLAGS (\\\\Seen) RFC822.SIZE $HMSG_LEN)\r\n* 3 FETCH (UID 3 FLAGS () RFC822.SIZE $HMSG_LEN)\r\n\$TAG OK done
		ON ^\S+ UID FETCH 1 \(.*BODY => * 3 EXPUNGE\r\n* 5 EXISTS\r\n* 1 FETCH (UID 1 FLAGS () BODY[] {$HMSG_LEN}\r\n$HMSG)\r\n* 4 EXISTS\r\n\$TAG OK done
		ON ^\S+ UID FETCH 2 \(.*BODY => * 2 FETCH (FLAGS (\\\\Seen \\\\Flagged))\r\n* 1 EXPUNGE\r\n* 1 FETCH (UID 2 FLAGS (\\\\Seen) BODY[] {$HMSG_LEN}\r\n$HMSG)\r\n\$TAG OK done
		ON ^\S+ UID FETCH 3 \(.*BODY => * 7 EXISTS\r\n\$TAG OK [EXPUNGEISSUED] some messages were expunged
		DRAIN
		EOF
	} >"$BATS_TEST_TMPDIR/expunge.script"
	fake_start "$BATS_TEST_TMPDIR/expunge.script"
	hostile_run
	expect_status 0
	[ "$(folder_count "$MD")" -eq 2 ]
	[ -z "$(cd "$MD" && find . -path '*/tmp/*' -type f)" ]
}

@test "hostile: BYE in the middle of a fetch exits 75 with the server's words, nothing half-written" {
	{
		fake_imap_login
		cat <<-EOF
		ON ^\S+ LIST => * LIST () "/" INBOX\r\n\$TAG OK done
		ON ^\S+ EXAMINE => * 1 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 2] n\r\n\$TAG OK [READ-ONLY] done
		ON ^\S+ UID FETCH 1:\* => * 1 FETCH (UID 1 FLAGS () RFC822.SIZE 500)\r\n\$TAG OK done
		UNTIL ^\S+ UID FETCH 1 \(.*BODY
		S: * BYE server shutting down for maintenance
		CLOSE
		EOF
	} >"$BATS_TEST_TMPDIR/bye.script"
	fake_start "$BATS_TEST_TMPDIR/bye.script"
	hostile_run
	expect_status 75
	expect_err "shutting down for maintenance"
	expect_clean_lines
	no_messages
}

@test "an [ALERT] from the server is shown on stderr once, printable, also under -q" {
	fake_folders '* LIST () "/" INBOX' \
		"ON ^\S+ EXAMINE => * OK [ALERT] Mailbox 95% full\\x1b[31m\r\n* 1 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 2] n\r\n\$TAG OK [READ-ONLY] done"
	hostile_run -q
	expect_status 0
	[ "$(grep -c 'imapsync: the server says: Mailbox 95% full?\[31m$' <<<"$stderr")" -eq 1 ] ||
		{ _mp_show; false; }
	expect_clean_lines
	[ "$(folder_count "$MD")" -eq 1 ]
}

@test "hostile: NO without text and BAD without text are clean errors" {
	fake_folders '* LIST () "/" INBOX' 'ON ^\S+ EXAMINE => $TAG NO'
	hostile_run
	[ "$status" -eq 69 ] || [ "$status" -eq 75 ] || { _mp_show; false; }
	expect_err "INBOX"
	expect_clean_lines
	no_messages
	fake_stop
	fake_folders '* LIST () "/" INBOX' 'ON ^\S+ UID FETCH 1:\* => $TAG BAD'
	hostile_run
	expect_status 76
	expect_clean_lines
	no_messages
	fake_stop
	fake_folders '' 'ON ^\S+ LIST => $TAG NO'
	hostile_run
	[ "$status" -eq 69 ] || [ "$status" -eq 75 ] || { _mp_show; false; }
	expect_clean_lines
}

@test "hostile: a server that suddenly lists no folders changes nothing (75)" {
	fake_folders '* LIST () "/" INBOX\r\n* LIST () "/" "a.b"'
	hostile_run
	expect_status 0
	fake_stop
	tree_snapshot "$MD" >"$BATS_TEST_TMPDIR/tree.before"
	fake_folders '* OK nothing here'
	hostile_run
	expect_status 75
	expect_err "lists no folders"
	tree_snapshot "$MD" >"$BATS_TEST_TMPDIR/tree.after"
	diff "$BATS_TEST_TMPDIR/tree.before" "$BATS_TEST_TMPDIR/tree.after"
	fake_stop
	fake_folders '* OK nothing here'
	hostile_run --mirror
	expect_status 75
	tree_snapshot "$MD" >"$BATS_TEST_TMPDIR/tree.after"
	diff "$BATS_TEST_TMPDIR/tree.before" "$BATS_TEST_TMPDIR/tree.after"
}
