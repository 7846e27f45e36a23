#!/usr/bin/env bats
# mailsend over LMTP straight into Dovecot (per-recipient replies), and
# DSN options through Postfix submission.

load ../lib/common

setup_file() {
	need_servers
}

setup() {
	marker="m$RANDOM$RANDOM$$"
}

@test "lmtp: delivers to Dovecot over LMTP with STARTTLS, one reply per recipient" {
	printf 'From: alice@example.test\nTo: bob@example.test\nSubject: lmtp %s\n\nover lmtp\n' "$marker" >"$BATS_TEST_TMPDIR/msg"
	mp_run_stdin "$BATS_TEST_TMPDIR/msg" mailsend --server "lmtp://127.0.0.1:$LMTP_PORT" \
		--tls-ca-file "$MP_CA" -v -i bob@example.test alice@example.test
	expect_status 0
	expect_err "C: LHLO"
	expect_err "TLS started"
	wait_mail "$MP_MAILDIR2" "$marker"
	wait_mail "$MP_MAILDIR" "$marker"
	# Dovecot delivers straight away: no Received line from Postfix.
	! grep -q "Postfix" "$(mail_with "$MP_MAILDIR2" "$marker")"
}

@test "lmtp: an unknown user is refused for that recipient only (67), the other gets it" {
	printf 'To: bob@example.test\nSubject: lmtp-partial %s\n\nx\n' "$marker" >"$BATS_TEST_TMPDIR/msg"
	mp_run_stdin "$BATS_TEST_TMPDIR/msg" mailsend --server "lmtp://127.0.0.1:$LMTP_PORT" \
		--tls-ca-file "$MP_CA" -i bob@example.test nosuchuser@example.test
	expect_status 67
	expect_err "<nosuchuser@example.test>: 550"
	wait_mail "$MP_MAILDIR2" "$marker"
}

@test "dsn: --dsn-notify and --dsn-return reach the server as NOTIFY, RET and ENVID" {
	printf 'To: bob@example.test\nSubject: dsn %s\n\nx\n' "$marker" >"$BATS_TEST_TMPDIR/msg"
	MAILPIPE_PASSWORD=$MP_PASS mp_run_stdin "$BATS_TEST_TMPDIR/msg" mailsend $(submission_args) -v -i \
		--dsn-notify SUCCESS,FAILURE --dsn-return HDRS -V "env-$marker" bob@example.test
	expect_status 0
	expect_err "RET=HDRS"
	expect_err "ENVID=env-$marker"
	expect_err "NOTIFY=SUCCESS,FAILURE"
	wait_mail "$MP_MAILDIR2" "dsn $marker"
}

@test "dsn: asked for but not offered by the server is refused before sending (69)" {
	fake_start - <<-'EOF'
	S: 220 fake ESMTP
	ON ^EHLO => 250-fake\r\n250 PIPELINING
	ON ^QUIT => 221 bye
	ON . => 500 unexpected
	DRAIN
	EOF
	printf 'Subject: x\n\nx\n' >"$BATS_TEST_TMPDIR/msg"
	mp_run_stdin "$BATS_TEST_TMPDIR/msg" mailsend --server "smtp://127.0.0.1:$FAKE_PORT" --tls=no -i \
		--dsn-notify NEVER bob@example.test
	expect_status 69
	expect_err "DSN"
	fake_wait
	! grep -q '^C: MAIL' "$FAKE_LOG"
}
