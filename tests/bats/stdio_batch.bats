#!/usr/bin/env bats
# mailsend -bs (SMTP on stdin/stdout, relayed upstream) and --batch (every
# message of a Maildir or mbox over one session), against the real Postfix
# -> LMTP -> Dovecot, and the scripted fake where a refusal is needed.

load ../lib/common

setup_file() {
	need_servers
}

setup() {
	export MAILPIPE_PASSWORD=$MP_PASS
	marker="m$RANDOM$RANDOM$$"
}

# The final reply codes of a -bs transcript, in order, on one line.
reply_codes() {
	printf '%s\n' "$output" | tr -d '\r' | sed -n 's/^\([0-9][0-9][0-9]\) .*/\1/p' | tr '\n' ' ' | sed 's/ $//'
}

expect_codes() {
	local got
	got=$(reply_codes)
	if [ "$got" != "$1" ]; then
		echo "expected reply codes '$1', got '$got'" >&2
		_mp_show
		return 1
	fi
}

# The delivered file $1 must end with the content of $2 (LF line ends),
# preceded only by the trace fields the servers add.
expect_tail() {
	python3 - "$1" "$2" <<-'PY'
	import re, sys
	got = open(sys.argv[1], "rb").read()
	want = open(sys.argv[2], "rb").read().replace(b"\r\n", b"\n")
	if not got.endswith(want):
	    sys.exit("delivered message differs:\n%r\n--- expected end:\n%r" % (got[-400:], want[-400:]))
	for line in got[: len(got) - len(want)].split(b"\n"):
	    if line and not re.match(rb"(Return-Path|Delivered-To|Received):|[ \t]", line):
	        sys.exit("unexpected field added: %r" % line)
	PY
}

# new_maildir DIR: an empty Maildir.
new_maildir() {
	mkdir -p "$1/new" "$1/cur" "$1/tmp"
}

# A scripted upstream for -bs and batch: nobody@ is refused with 550 5.1.1,
# later@ with 450, everyone else accepted; one connection only.
fake_upstream() {
	fake_start - <<-'EOF'
	S: 220 fake ESMTP
	ON ^EHLO => 250-fake\r\n250-PIPELINING\r\n250 8BITMIME
	ON ^MAIL => 250 2.1.0 ok
	ON ^RCPT TO:<nobody@ => 550 5.1.1 no such user here
	ON ^RCPT TO:<later@ => 450 4.2.0 mailbox busy
	ON ^RCPT => 250 2.1.5 ok
	ON ^DATA => 354 go
	ON ^\.$ => 250 2.0.0 queued
	ON ^RSET => 250 2.0.0 ok
	ON ^QUIT => 221 bye
	DRAIN
	EOF
}

fake_args() {
	echo --server "smtp://127.0.0.1:$FAKE_PORT" --tls=no --timeout 10
}

# --- -bs ------------------------------------------------------------------

@test "-bs: a dialogue is answered in order and the message arrives with dots unstuffed once" {
	cat >"$BATS_TEST_TMPDIR/in" <<-EOF
	EHLO client.example
	MAIL FROM:<alice@example.test>
	RCPT TO:<bob@example.test>
	DATA
	From: alice@example.test
	To: bob@example.test
	Subject: bs $marker
	Date: Wed, 25 Nov 2026 10:00:00 +0000
	Message-ID: <bs-$marker@example.test>

	..
	...two
	.leading-removed
	last
	.
	QUIT
	EOF
	mp_run_stdin "$BATS_TEST_TMPDIR/in" mailsend -bs $(submission_args)
	expect_status 0
	expect_codes "220 250 250 250 354 250 221"
	expect_out "250-PIPELINING"
	expect_out "250-8BITMIME"
	expect_out "250-SIZE"
	expect_out "ENHANCEDSTATUSCODES"
	printf 'From: alice@example.test\nTo: bob@example.test\nSubject: bs %s\nDate: Wed, 25 Nov 2026 10:00:00 +0000\nMessage-ID: <bs-%s@example.test>\n\n.\n..two\nleading-removed\nlast\n' "$marker" "$marker" >"$BATS_TEST_TMPDIR/want"
	wait_mail "$MP_MAILDIR2" "bs $marker"
	expect_tail "$(mail_with "$MP_MAILDIR2" "bs $marker")" "$BATS_TEST_TMPDIR/want"
}

@test "-bs: pipelined commands in one write, two messages over one upstream session" {
	printf 'EHLO c\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: p1 %s\r\n\r\none\r\n.\r\nRSET\r\nMAIL FROM:<alice@example.test> BODY=8BITMIME SIZE=200\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: p2 %s\r\n\r\ntwo \xc3\xa9\r\n.\r\nQUIT\r\n' \
		"$marker" "$marker" >"$BATS_TEST_TMPDIR/in"
	mp_run_stdin "$BATS_TEST_TMPDIR/in" mailsend -bs $(submission_args)
	expect_status 0
	expect_codes "220 250 250 250 354 250 250 250 250 354 250 221"
	wait_mail "$MP_MAILDIR2" "p1 $marker"
	wait_mail "$MP_MAILDIR2" "p2 $marker"
	grep -q $'^two \xc3\xa9$' "$(mail_with "$MP_MAILDIR2" "p2 $marker")"
}

@test "-bs: commands out of sequence, bad addresses and unknown commands get their codes" {
	printf 'MAIL FROM:<alice@example.test>\r\nHELO c\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nMAIL FROM:<alice@example.test> FOO=1\r\nMAIL FROM:alice\r\nMAIL FROM:<alice@example.test>\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bad address@example.test>\r\nRCPT TO:bob\r\nRCPT TO:<bob@example.test> NOTIFY=NEVER\r\nDATA\r\nVRFY bob\r\nNOOP\r\nXYZZY\r\nEXPN list\r\nRSET\r\nQUIT\r\n' >"$BATS_TEST_TMPDIR/in"
	mp_run_stdin "$BATS_TEST_TMPDIR/in" mailsend -bs --server smtp://127.0.0.1:1 --tls=no
	expect_status 0
	expect_codes "220 503 250 503 503 555 553 250 503 553 553 555 554 252 250 500 502 250 221"
}

@test "-bs: an upstream 5xx for the only recipient becomes 550; a partial refusal is 250 with the refused on stderr" {
	fake_upstream
	printf 'EHLO c\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\nSubject: x\r\n\r\nx\r\n.\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\nSubject: y\r\n\r\ny\r\n.\r\nQUIT\r\n' >"$BATS_TEST_TMPDIR/in"
	mp_run_stdin "$BATS_TEST_TMPDIR/in" mailsend -bs $(fake_args)
	expect_status 0
	expect_codes "220 250 250 250 354 550 250 250 250 354 250 221"
	expect_out "550 5.1.1 "
	expect_out "no such user here"
	expect_err "<nobody@example.test>: 550 5.1.1 no such user here"
	fake_log >/dev/null
	# One upstream session for both messages.
	[ "$(grep -c '^C: EHLO' "$FAKE_LOG")" -eq 1 ]
	[ "$(grep -c '^C: MAIL FROM:<alice@example.test>' "$FAKE_LOG")" -eq 2 ]
}

@test "-bs: with --queue, recipients deferred with 4xx after others took the message are queued" {
	fake_upstream
	printf 'EHLO c\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nRCPT TO:<later@example.test>\r\nDATA\r\nSubject: d %s\r\n\r\nd\r\n.\r\nQUIT\r\n' "$marker" >"$BATS_TEST_TMPDIR/in"
	mp_run_stdin "$BATS_TEST_TMPDIR/in" mailsend -bs --queue $(fake_args)
	expect_status 0
	expect_codes "220 250 250 250 250 354 250 221"
	expect_out "relayed to 1 of 2 recipients and queued for 1"
	expect_err "<later@example.test>: 450 4.2.0 mailbox busy"
	f=$(grep -rl "d $marker" "$XDG_STATE_HOME/mailpipe/queue/new")
	[ "$(printf '%s\n' "$f" | grep -c .)" -eq 1 ]
	grep -q 'later@example.test' "$f"
	! grep -q 'bob@example.test' "$f"
}

@test "-bs: upstream down: 451 without --queue; 250 and queued with --queue" {
	printf 'EHLO c\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: q %s\r\n\r\nq\r\n.\r\nQUIT\r\n' "$marker" >"$BATS_TEST_TMPDIR/in"
	mp_run_stdin "$BATS_TEST_TMPDIR/in" mailsend -bs --server smtp://127.0.0.1:1 --tls=no
	expect_status 0
	expect_codes "220 250 250 250 354 451 221"
	[ ! -d "$XDG_STATE_HOME/mailpipe/queue/new" ] || [ -z "$(ls -A "$XDG_STATE_HOME/mailpipe/queue/new")" ]
	mp_run_stdin "$BATS_TEST_TMPDIR/in" mailsend -bs --queue --server smtp://127.0.0.1:1 --tls=no
	expect_status 0
	expect_codes "220 250 250 250 354 250 221"
	expect_out_i "queued"
	[ "$(grep -rl "q $marker" "$XDG_STATE_HOME/mailpipe/queue/new" | wc -l)" -eq 1 ]
}

@test "-bs: input ending without QUIT, even inside DATA, ends quietly with 0 and sends nothing" {
	fake_upstream
	printf 'EHLO c\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: cut\r\n\r\nhalf a mess' >"$BATS_TEST_TMPDIR/in"
	mp_run_stdin "$BATS_TEST_TMPDIR/in" mailsend -bs $(fake_args)
	expect_status 0
	expect_codes "220 250 250 250 354"
	[ -z "$stderr" ]
	kill "$FAKE_PID" 2>/dev/null || true
	! grep -q '^C: MAIL' "$FAKE_LOG"
}

# --- --batch --------------------------------------------------------------

@test "batch: 20 Maildir messages arrive exactly once over one session; the Maildir is emptied" {
	local md=$BATS_TEST_TMPDIR/outbox i
	new_maildir "$md"
	for ((i = 1; i <= 20; i++)); do
		local sub=new
		[ $((i % 4)) -eq 0 ] && sub=cur
		printf 'From: Alice <alice@example.test>\nTo: bob@example.test\nSubject: batch %s n%02d-%s\n\nmessage %d\n.\nFrom here\n' \
			"$marker" "$i" "$marker" "$i" >"$md/$sub/17000000$(printf %02d "$i").M1P1.host:2,S"
	done
	mp_run mailsend --batch "$md" $(submission_args)
	expect_status 0
	[ "$(printf '%s\n' "$output" | grep -c '^sent  ')" -eq 20 ]
	expect_out "sent  1700000001.M1P1.host:2,S to 1 recipient"
	# Sent in name order across new/ and cur/.
	[ "$(printf '%s\n' "$output" | sed -n '4p')" = "sent  1700000004.M1P1.host:2,S to 1 recipient" ]
	wait_mail "$MP_MAILDIR2" "batch $marker" 20
	for ((i = 1; i <= 20; i++)); do
		[ "$(mail_with "$MP_MAILDIR2" "n$(printf %02d "$i")-$marker" | wc -l)" -eq 1 ]
	done
	[ "$(find "$md/new" "$md/cur" -type f | wc -l)" -eq 0 ]
}

@test "batch: an mbox with '>From ' quoting arrives unquoted; the mbox is emptied" {
	local mbox=$BATS_TEST_TMPDIR/out.mbox
	printf 'From alice@example.test Thu Jan  1 00:00:00 2026\nFrom: alice@example.test\nTo: bob@example.test\nSubject: mbox1 %s\nDate: Wed, 25 Nov 2026 10:00:00 +0000\nMessage-ID: <mbox1-%s@example.test>\n\n>From the quoted line\n>>From twice quoted\n> From not quoted\n\nFrom alice@example.test Thu Jan  1 00:00:01 2026\nFrom: alice@example.test\nTo: bob@example.test\nBcc: alice@example.test\nSubject: mbox2 %s\n\nsecond\n\n' \
		"$marker" "$marker" "$marker" >"$mbox"
	mp_run mailsend --batch "$mbox" $(submission_args)
	expect_status 0
	expect_out "sent  mbox message 1 to 1 recipient"
	expect_out "sent  mbox message 2 to 2 recipients"
	printf 'From: alice@example.test\nTo: bob@example.test\nSubject: mbox1 %s\nDate: Wed, 25 Nov 2026 10:00:00 +0000\nMessage-ID: <mbox1-%s@example.test>\n\nFrom the quoted line\n>From twice quoted\n> From not quoted\n' "$marker" "$marker" >"$BATS_TEST_TMPDIR/want"
	wait_mail "$MP_MAILDIR2" "mbox1 $marker"
	expect_tail "$(mail_with "$MP_MAILDIR2" "mbox1 $marker")" "$BATS_TEST_TMPDIR/want"
	# The Bcc recipient got it, and nobody sees the Bcc field.
	wait_mail "$MP_MAILDIR2" "mbox2 $marker"
	wait_mail "$MP_MAILDIR" "mbox2 $marker"
	! grep -qi '^Bcc:' "$(mail_with "$MP_MAILDIR2" "mbox2 $marker")"
	[ -f "$mbox" ] && [ ! -s "$mbox" ]
	[ ! -e "$mbox.lock" ]
}

@test "batch: a message refused with 550 stays in the Maildir, the others are sent; exit 67" {
	local md=$BATS_TEST_TMPDIR/outbox
	new_maildir "$md"
	printf 'From: alice@example.test\nTo: bob@example.test\nSubject: a\n\na\n' >"$md/new/1.a"
	printf 'From: alice@example.test\nTo: nobody@example.test\nSubject: b\n\nb\n' >"$md/new/2.b"
	printf 'From: alice@example.test\nTo: bob@example.test\nSubject: c\n\nc\n' >"$md/cur/3.c:2,"
	fake_upstream
	mp_run mailsend --batch "$md" $(fake_args)
	expect_status 67
	expect_out "sent  1.a to 1 recipient"
	expect_out "FAILED 2.b: "
	expect_out "no such user here"
	expect_out "sent  3.c:2, to 1 recipient"
	expect_err "1 of 3 messages"
	[ "$(find "$md/new" "$md/cur" -type f | wc -l)" -eq 1 ]
	[ -f "$md/new/2.b" ]
	fake_log >/dev/null
	[ "$(grep -c '^C: EHLO' "$FAKE_LOG")" -eq 1 ]
}

@test "batch: a message refused with 550 stays in the mbox byte for byte, the others are removed" {
	local mbox=$BATS_TEST_TMPDIR/out.mbox
	printf 'From a Thu Jan  1 00:00:00 2026\nFrom: alice@example.test\nTo: bob@example.test\nSubject: a\n\na\n\n' >"$mbox"
	printf 'From b Thu Jan  1 00:00:01 2026\nFrom: alice@example.test\nTo: nobody@example.test\nSubject: b\n\n>From b\n\n' >"$BATS_TEST_TMPDIR/kept"
	cat "$BATS_TEST_TMPDIR/kept" >>"$mbox"
	printf 'From c Thu Jan  1 00:00:02 2026\nFrom: alice@example.test\nTo: bob@example.test\nSubject: c\n\nc\n\n' >>"$mbox"
	chmod 640 "$mbox"
	fake_upstream
	mp_run mailsend --quiet --batch "$mbox" $(fake_args)
	expect_status 67
	[ -z "$output" ]
	cmp "$mbox" "$BATS_TEST_TMPDIR/kept"
	[ "$(stat -c %a "$mbox")" = 640 ]
	fake_log >/dev/null
	[ "$(grep -c '^C: Subject: [ac]$' "$FAKE_LOG")" -eq 2 ]
}

@test "batch: a connection lost for good stops the batch and leaves what was not sent" {
	local md=$BATS_TEST_TMPDIR/outbox
	new_maildir "$md"
	for i in 1 2 3; do
		printf 'From: alice@example.test\nTo: bob@example.test\nSubject: %s\n\n%s\n' "$i" "$i" >"$md/new/$i.x"
	done
	# One message, then the server goes away; it accepts no new connection.
	fake_start - <<-'EOF'
	S: 220 fake ESMTP
	ON ^EHLO => 250-fake\r\n250-PIPELINING\r\n250 8BITMIME
	ON ^MAIL => 250 2.1.0 ok
	ON ^RCPT => 250 2.1.5 ok
	ON ^DATA => 354 go
	UNTIL ^\.$
	S: 250 2.0.0 queued
	C: ^(RSET|MAIL)
	CLOSE
	EOF
	mp_run mailsend --batch "$md" $(fake_args)
	expect_status 75
	expect_out "sent  1.x to 1 recipient"
	expect_out "FAILED 2.x: "
	refute_out "3.x"
	expect_err "stopped at message 2"
	[ ! -e "$md/new/1.x" ] && [ -f "$md/new/2.x" ] && [ -f "$md/new/3.x" ]
}

@test "batch: a file that is not an mbox, and a directory that is not a Maildir, are refused" {
	printf 'hello\n' >"$BATS_TEST_TMPDIR/notmbox"
	mp_run mailsend --batch "$BATS_TEST_TMPDIR/notmbox" --server smtp://127.0.0.1:1 --tls=no
	expect_status 65
	expect_err "not an mbox"
	mkdir -p "$BATS_TEST_TMPDIR/plain"
	mp_run mailsend --batch "$BATS_TEST_TMPDIR/plain" --server smtp://127.0.0.1:1 --tls=no
	expect_status 64
	expect_err "not a Maildir"
	[ "$(cat "$BATS_TEST_TMPDIR/notmbox")" = hello ]
}
