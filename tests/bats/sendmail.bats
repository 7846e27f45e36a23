#!/usr/bin/env bats
# mailsend in sendmail mode, against the real Postfix -> LMTP -> Dovecot:
# what goes in on stdin arrives byte for byte; -t, Bcc, cron's own call
# through a "sendmail" symlink, partial refusals and exit codes.

load ../lib/common

setup_file() {
	need_servers
}

setup() {
	export MAILPIPE_PASSWORD=$MP_PASS
	marker="m$RANDOM$RANDOM$$"
}

# The delivered file must end with exactly the message sent (line ends
# made LF, as Dovecot stores them), preceded only by trace fields.
expect_exact() {
	python3 - "$1" "$2" <<-'PY'
	import re, sys
	got = open(sys.argv[1], "rb").read()
	sent = open(sys.argv[2], "rb").read().replace(b"\r\n", b"\n")
	if not got.endswith(sent):
	    sys.exit("delivered message differs from the one sent:\n%r\n---\n%r" % (got[-400:], sent[-400:]))
	head = got[: len(got) - len(sent)]
	for line in head.split(b"\n"):
	    if line and not re.match(rb"(Return-Path|Delivered-To|Received):|[ \t]", line):
	        sys.exit("unexpected field added: %r" % line)
	PY
}

@test "sendmail: dots, 'From ' lines, 8-bit text and folded headers arrive byte for byte (LF input)" {
	printf 'From: Alice <alice@example.test>\nTo: bob@example.test\nSubject: exact %s\nDate: Wed, 25 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.test>\nX-Long: aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn\n oooo pppp qqqq (folded)\n\n.\n..\n.leading dot\nFrom the start\n>From quoted\n\xc3\xa9t\xc3\xa9 8-bit\n.\nlast line\n' \
		"$marker" "$marker" >"$BATS_TEST_TMPDIR/msg"
	mp_run_stdin "$BATS_TEST_TMPDIR/msg" mailsend $(submission_args) -i bob@example.test
	expect_status 0
	wait_mail "$MP_MAILDIR2" "$marker"
	expect_exact "$(mail_with "$MP_MAILDIR2" "$marker")" "$BATS_TEST_TMPDIR/msg"
}

@test "sendmail: CRLF input arrives byte for byte" {
	printf 'From: alice@example.test\r\nTo: bob@example.test\r\nSubject: crlf %s\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <%s@example.test>\r\n\r\n.\r\nbody\r\n' \
		"$marker" "$marker" >"$BATS_TEST_TMPDIR/msg"
	mp_run_stdin "$BATS_TEST_TMPDIR/msg" mailsend $(submission_args) -i bob@example.test
	expect_status 0
	wait_mail "$MP_MAILDIR2" "$marker"
	expect_exact "$(mail_with "$MP_MAILDIR2" "$marker")" "$BATS_TEST_TMPDIR/msg"
}

@test "sendmail: without -i a lone '.' line ends the message, as sendmail does" {
	printf 'To: bob@example.test\nSubject: dot %s\n\nkept\n.\ndropped-%s\n' "$marker" "$marker" >"$BATS_TEST_TMPDIR/msg"
	mp_run_stdin "$BATS_TEST_TMPDIR/msg" mailsend $(submission_args) bob@example.test
	expect_status 0
	wait_mail "$MP_MAILDIR2" "dot $marker"
	! grep -q "dropped-$marker" "$(mail_with "$MP_MAILDIR2" "dot $marker")"
}

@test "sendmail: -t reads To, Cc and Bcc; Bcc is delivered but removed from the message" {
	printf 'From: alice@example.test\nTo: bob@example.test\nBcc: alice@example.test\nSubject: bcc %s\n\nhello\n' "$marker" >"$BATS_TEST_TMPDIR/msg"
	mp_run_stdin "$BATS_TEST_TMPDIR/msg" mailsend $(submission_args) -t -i
	expect_status 0
	wait_mail "$MP_MAILDIR2" "$marker"
	wait_mail "$MP_MAILDIR" "$marker"
	for f in $(mail_with "$MP_MAILDIR2" "$marker") $(mail_with "$MP_MAILDIR" "$marker"); do
		! grep -qi '^Bcc:' "$f"
	done
}

@test "sendmail: cron's call through a 'sendmail' symlink, with From rewritten for the provider" {
	mkdir -p "$BATS_TEST_TMPDIR/bin" "$XDG_CONFIG_HOME/mailpipe"
	ln -s "$(command -v mailsend)" "$BATS_TEST_TMPDIR/bin/sendmail"
	cat >"$XDG_CONFIG_HOME/mailpipe/config" <<-CONF
	[defaults]
	default-account = cron
	[account cron]
	server = smtp://alice@127.0.0.1:$SUBMISSION_PORT
	tls-ca-file = $MP_CA
	from = alice@example.test
	rewrite-from = local
	CONF
	printf 'From: root (Cron Daemon)\nTo: bob\nSubject: Cron <root@host> run-parts %s\n\nbackup done\n' "$marker" >"$BATS_TEST_TMPDIR/msg"
	mp_run_stdin "$BATS_TEST_TMPDIR/msg" "$BATS_TEST_TMPDIR/bin/sendmail" -FCronDaemon -i -B8BITMIME -oem bob
	expect_status 0
	wait_mail "$MP_MAILDIR2" "$marker"
	f=$(mail_with "$MP_MAILDIR2" "$marker")
	grep -q '^From: "CronDaemon" <alice@example.test>' "$f"
	grep -q '^Return-Path: <alice@example.test>' "$f"
}

@test "sendmail: a NUL byte is refused with 65 and nothing is sent" {
	printf 'To: bob@example.test\nSubject: nul %s\n\na\0b\n' "$marker" >"$BATS_TEST_TMPDIR/msg"
	mp_run_stdin "$BATS_TEST_TMPDIR/msg" mailsend $(submission_args) -i bob@example.test
	expect_status 65
	expect_err "NUL"
	sleep 0.5
	[ -z "$(mail_with "$MP_MAILDIR2" "nul $marker")" ]
}

@test "sendmail: a line over 998 octets is refused with 65" {
	{ printf 'To: bob@example.test\nSubject: long %s\n\n' "$marker"; head -c 1200 /dev/zero | tr '\0' a; echo; } >"$BATS_TEST_TMPDIR/msg"
	mp_run_stdin "$BATS_TEST_TMPDIR/msg" mailsend $(submission_args) -i bob@example.test
	expect_status 65
	expect_err "998"
}

@test "sendmail: CR or LF in -f, a recipient or --to is a usage error and nothing connects" {
	printf 'Subject: x\n\nx\n' >"$BATS_TEST_TMPDIR/msg"
	fake_start - <<-'EOF'
	S: 220 fake
	DRAIN
	EOF
	local srv=(--server "smtp://127.0.0.1:$FAKE_PORT" --tls=no)
	mp_run_stdin "$BATS_TEST_TMPDIR/msg" mailsend "${srv[@]}" -f $'alice@example.test\r\nRCPT TO:<x@y>' bob@example.test
	expect_status 64
	mp_run_stdin "$BATS_TEST_TMPDIR/msg" mailsend "${srv[@]}" $'bob@example.test\r\nDATA'
	expect_status 64
	mp_run_stdin "$BATS_TEST_TMPDIR/msg" mailsend "${srv[@]}" --to $'bob@example.test\nBcc: x@y' --subject s
	expect_status 64
	mp_run_stdin "$BATS_TEST_TMPDIR/msg" mailsend "${srv[@]}" --to bob@example.test --subject $'s\r\nBcc: x@y'
	expect_status 64
	mp_run_stdin "$BATS_TEST_TMPDIR/msg" mailsend "${srv[@]}" --to bob@example.test --header $'X-A: b\r\nBcc: x@y'
	expect_status 64
	kill "$FAKE_PID" 2>/dev/null || true
	! grep -q '^C:' "$FAKE_LOG"
}

# A scripted server for the refusal cases: $1 answers MAIL, $2 the first
# RCPT, $3 the second.
fake_smtp() {
	fake_start - <<-EOF
	S: 220 fake ESMTP
	ON ^EHLO => 250-fake\r\n250-PIPELINING\r\n250 8BITMIME
	ON ^MAIL => $1
	ON ^RCPT TO:<bob => $2
	ON ^RCPT => $3
	ON ^DATA => 354 go
	ON ^\.\$ => 250 2.0.0 queued
	ON ^QUIT => 221 bye
	ON ^RSET => 250 ok
	DRAIN
	EOF
}

fake_send() {
	printf 'From: alice@example.test\nSubject: x\n\nx\n' >"$BATS_TEST_TMPDIR/msg"
	mp_run_stdin "$BATS_TEST_TMPDIR/msg" mailsend --server "smtp://127.0.0.1:$FAKE_PORT" --tls=no -i "$@"
}

@test "sendmail: one refused recipient is reported, the other still gets the message, exit 67" {
	fake_smtp "250 ok" "250 ok" "550 5.1.1 <nobody@example.test>: no such user"
	fake_send bob@example.test nobody@example.test
	expect_status 67
	expect_err "<nobody@example.test>: 550 5.1.1"
	fake_wait
	grep -q '^C: \.$' "$FAKE_LOG"
}

@test "sendmail: a 4xx refusal exits 75, a 5xx 69" {
	fake_smtp "451 4.3.0 try later" "250 ok" "250 ok"
	fake_send bob@example.test
	expect_status 75
	expect_err "451"
	fake_smtp "554 5.7.1 go away" "250 ok" "250 ok"
	fake_send bob@example.test
	expect_status 69
	expect_err "554"
}

@test "sendmail: a message over the server's SIZE limit is refused before it is sent" {
	fake_start - <<-'EOF'
	S: 220 fake ESMTP
	ON ^EHLO => 250-fake\r\n250-SIZE 100\r\n250 8BITMIME
	ON ^QUIT => 221 bye
	ON . => 500 unexpected
	DRAIN
	EOF
	{ printf 'Subject: big\n\n'; head -c 500 /dev/zero | tr '\0' a; echo; } >"$BATS_TEST_TMPDIR/msg"
	mp_run_stdin "$BATS_TEST_TMPDIR/msg" mailsend --server "smtp://127.0.0.1:$FAKE_PORT" --tls=no -i bob@example.test
	expect_status 69
	expect_err "100"
	fake_wait
	! grep -q '^C: MAIL' "$FAKE_LOG"
}
