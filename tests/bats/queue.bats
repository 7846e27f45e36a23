#!/usr/bin/env bats
# The queue: with --queue a message that cannot go now is kept under
# $XDG_STATE_HOME/mailpipe/queue and mailsend exits 0; -bp lists it; -q sends
# it through the real Postfix -> Dovecot exactly once, keeps it on a 4xx,
# moves it to dead.letter on a 5xx, and refuses to run twice at once.

load ../lib/common

setup_file() {
	need_servers
}

setup() {
	export MAILPIPE_PASSWORD=$MP_PASS
	marker="q$RANDOM$RANDOM$$"
	QDIR=$XDG_STATE_HOME/mailpipe/queue
	DEAD=$XDG_STATE_HOME/mailpipe/dead.letter
}

teardown() {
	fake_stop
	if [ -n "${HOLDER_PID:-}" ]; then
		kill "$HOLDER_PID" 2>/dev/null || true
		wait "$HOLDER_PID" 2>/dev/null || true
		HOLDER_PID=
	fi
}

# A port on 127.0.0.1 where nothing listens.
closed_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# queue_msg MARKER RCPT...: send a message to a server that is down, with
# --queue; it must be queued (exit 0).
queue_msg() {
	local m=$1 port
	shift
	port=$(closed_port)
	printf 'From: alice@example.test\nTo: %s\nSubject: queued %s\nDate: Wed, 25 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.test>\n\nbody of %s\nFrom the start\n>From quoted\n.\nlast line\n' \
		"$1" "$m" "$m" "$m" >"$BATS_TEST_TMPDIR/$m.msg"
	mp_run_stdin "$BATS_TEST_TMPDIR/$m.msg" mailsend --queue \
		--server "smtp://alice@127.0.0.1:$port" --tls-ca-file "$MP_CA" \
		--timeout 5 -i -f alice@example.test "$@"
	expect_status 0
	expect_err "queued for later"
	expect_err "mailsend -q"
}

queued() {
	find "$QDIR/new" -type f 2>/dev/null | wc -l
}

# The delivered file holds the queued message as sent, and nothing of the
# queue's envelope.
expect_delivered_as_sent() {
	python3 - "$1" "$2" <<-'PY'
	import sys
	got = open(sys.argv[1], "rb").read()
	sent = open(sys.argv[2], "rb").read()
	if not got.endswith(sent):
	    sys.exit("delivered message differs:\n%r\n---\n%r" % (got[-400:], sent))
	if b"X-Mailpipe-" in got:
	    sys.exit("the queue envelope leaked into the message")
	PY
}

@test "queue: -bp on an empty queue" {
	mp_run mailsend -bp
	expect_status 0
	expect_out "Mail queue is empty"
}

@test "queue: server down with --queue exits 0; -bp lists it; -q delivers it once" {
	queue_msg "$marker" bob@example.test
	[ "$(queued)" -eq 1 ]
	[ "$(stat -c %a "$QDIR")" = 700 ]

	mp_run mailsend -bp
	expect_status 0
	expect_out "from     <alice@example.test>"
	expect_out "to       <bob@example.test>"
	expect_out "server   smtp://alice@127.0.0.1:"
	expect_out "-- 1 message,"
	expect_out_i "refused"

	mp_run mailsend -q $(submission_args)
	expect_status 0
	expect_err "1 sent, 0 deferred, 0 failed"
	wait_mail "$MP_MAILDIR2" "$marker" 1
	expect_delivered_as_sent "$(mail_with "$MP_MAILDIR2" "$marker")" "$BATS_TEST_TMPDIR/$marker.msg"
	[ "$(queued)" -eq 0 ]

	mp_run mailsend -bp
	expect_status 0
	expect_out "Mail queue is empty"

	# A second flush has nothing to send.
	mp_run mailsend -q $(submission_args)
	expect_status 0
	refute_err "sent"
	wait_mail "$MP_MAILDIR2" "$marker" 1
}

@test "queue: several queued messages are each delivered exactly once" {
	queue_msg "$marker-1" bob@example.test
	queue_msg "$marker-2" bob@example.test alice@example.test
	queue_msg "$marker-3" bob@example.test
	[ "$(queued)" -eq 3 ]
	mp_run mailsend -bp
	expect_out "-- 3 messages,"

	mp_run mailsend -q $(submission_args)
	expect_status 0
	expect_err "3 sent, 0 deferred, 0 failed"
	wait_mail "$MP_MAILDIR2" "queued $marker-1" 1
	wait_mail "$MP_MAILDIR2" "queued $marker-2" 1
	wait_mail "$MP_MAILDIR" "queued $marker-2" 1
	wait_mail "$MP_MAILDIR2" "queued $marker-3" 1
	[ "$(queued)" -eq 0 ]
}

@test "queue: -q uses the server recorded with the message when none is given" {
	mkdir -p "$QDIR/tmp" "$QDIR/new" "$QDIR/cur"
	printf 'X-Mailpipe-Server: smtp://alice@127.0.0.1:%s\nX-Mailpipe-From: <alice@example.test>\nX-Mailpipe-To: <bob@example.test>\nX-Mailpipe-Queued: 1700000000\nX-Mailpipe-Reason: test\n\nSubject: recorded %s\n\nhello\n' \
		"$SUBMISSION_PORT" "$marker" >"$QDIR/new/1700000000.M1P1Q1R1.test"
	mp_run mailsend -q --tls-ca-file "$MP_CA" --timeout 10
	expect_status 0
	expect_err "1 sent"
	wait_mail "$MP_MAILDIR2" "recorded $marker" 1
	[ "$(queued)" -eq 0 ]
}

# write_config PORT-OF-work: two accounts; home (the default) is down.
write_config() {
	mkdir -p "$XDG_CONFIG_HOME/mailpipe"
	cat >"$XDG_CONFIG_HOME/mailpipe/config" <<-CONF
	[defaults]
	default-account = home
	timeout = 5
	tls-ca-file = $MP_CA
	[account home]
	server = smtp://nobody@127.0.0.1:$2
	[account work]
	server = smtp://alice@127.0.0.1:$1
	CONF
}

@test "queue: a message keeps its account; -q sends it with that account's current settings" {
	local down
	down=$(closed_port)
	write_config "$down" "$down"
	printf 'Subject: account %s\nDate: Wed, 25 Nov 2026 10:00:00 +0000\n\nhello\n' "$marker" >"$BATS_TEST_TMPDIR/msg"
	mp_run_stdin "$BATS_TEST_TMPDIR/msg" mailsend -a work --queue -i -f alice@example.test bob@example.test
	expect_status 0
	expect_err "queued for later"
	mp_run mailsend -bp
	expect_out "account  work"

	# The account is fixed; the flush runs under the default account.
	write_config "$SUBMISSION_PORT" "$down"
	mp_run mailsend -q
	expect_status 0
	expect_err "1 sent"
	wait_mail "$MP_MAILDIR2" "account $marker" 1
	[ "$(queued)" -eq 0 ]
}

@test "queue: a flush while another holds the lock exits 75 and sends nothing" {
	queue_msg "$marker" bob@example.test
	python3 - "$QDIR/lock" "$BATS_TEST_TMPDIR/held" <<-'PY' 3>&- &
	import fcntl, sys, time
	f = open(sys.argv[1], "a+")
	fcntl.lockf(f, fcntl.LOCK_EX)
	open(sys.argv[2], "w").close()
	time.sleep(60)
	PY
	HOLDER_PID=$!
	for ((i = 0; i < 100; i++)); do
		[ -e "$BATS_TEST_TMPDIR/held" ] && break
		sleep 0.05
	done
	[ -e "$BATS_TEST_TMPDIR/held" ]

	mp_run mailsend -q $(submission_args)
	expect_status 75
	expect_err "another mailsend -q is running"
	[ "$(queued)" -eq 1 ]
	[ -z "$(mail_with "$MP_MAILDIR2" "$marker")" ]

	kill "$HOLDER_PID"
	wait "$HOLDER_PID" 2>/dev/null || true
	HOLDER_PID=
	mp_run mailsend -q $(submission_args)
	expect_status 0
	wait_mail "$MP_MAILDIR2" "$marker" 1
	[ "$(queued)" -eq 0 ]
}

@test "queue: a 5xx at flush moves the message to dead.letter (mboxrd), out of the queue" {
	queue_msg "$marker" bob@example.test
	fake_start - <<-'EOF'
	S: 220 fake ESMTP
	ON ^EHLO => 250-fake\r\n250 8BITMIME
	ON ^MAIL => 250 2.1.0 ok
	ON ^RCPT => 250 2.1.5 ok
	ON ^DATA => 554 5.7.1 refused for good
	ON ^RSET => 250 2.0.0 ok
	ON ^QUIT => 221 2.0.0 bye
	DRAIN
	EOF
	mp_run mailsend -q --server "smtp://127.0.0.1:$FAKE_PORT" --tls=no --timeout 10
	expect_status 69
	expect_err "cannot be delivered"
	expect_err "refused for good"
	expect_err "$DEAD"
	expect_err "0 sent, 0 deferred, 1 failed"
	[ "$(queued)" -eq 0 ]
	[ -f "$DEAD" ]
	[ "$(stat -c %a "$DEAD")" = 600 ]
	head -n1 "$DEAD" | grep -Eq '^From MAILER-DAEMON [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} [0-9]{4}$'
	grep -qx "Subject: queued $marker" "$DEAD"
	grep -qx ">From the start" "$DEAD"
	grep -qx ">>From quoted" "$DEAD"
	grep -qx "last line" "$DEAD"
	! grep -q "X-Mailpipe-" "$DEAD"
	# The entry ends with an empty line, as mbox wants before the next From_.
	[ "$(tail -c 2 "$DEAD" | od -An -c | tr -d ' ')" = '\n\n' ]
	fake_log | grep -q "^C: DATA"
}

@test "queue: a 4xx at flush keeps the message queued (exit 0, as sendmail -q); a later flush delivers it" {
	queue_msg "$marker" bob@example.test
	fake_start - <<-'EOF'
	S: 220 fake ESMTP
	ON ^EHLO => 250 fake
	ON ^MAIL => 250 2.1.0 ok
	ON ^RCPT => 451 4.3.0 try again later
	ON ^DATA => 503 5.5.1 no recipients
	ON ^RSET => 250 2.0.0 ok
	ON ^QUIT => 221 2.0.0 bye
	DRAIN
	EOF
	mp_run mailsend -q --server "smtp://127.0.0.1:$FAKE_PORT" --tls=no --timeout 10
	expect_status 0
	expect_err "deferred"
	expect_err "try again later"
	expect_err "0 sent, 1 deferred, 0 failed"
	[ "$(queued)" -eq 1 ]
	[ ! -e "$DEAD" ]
	mp_run mailsend -bp
	expect_out "to       <bob@example.test>"

	mp_run mailsend -q $(submission_args)
	expect_status 0
	wait_mail "$MP_MAILDIR2" "$marker" 1
	[ "$(queued)" -eq 0 ]
}

@test "queue: after a partial delivery only the recipients still pending stay queued" {
	queue_msg "$marker" bob@example.test carol@example.test
	fake_start - <<-'EOF'
	S: 220 fake ESMTP
	ON ^EHLO => 250 fake
	ON ^MAIL => 250 2.1.0 ok
	ON ^RCPT TO:<bob@ => 250 2.1.5 ok
	ON ^RCPT TO:<carol@ => 452 4.2.2 mailbox full
	ON ^DATA => 354 go ahead
	ON ^\.$ => 250 2.0.0 accepted
	ON ^RSET => 250 2.0.0 ok
	ON ^QUIT => 221 2.0.0 bye
	DRAIN
	EOF
	mp_run mailsend -q --server "smtp://127.0.0.1:$FAKE_PORT" --tls=no --timeout 10
	expect_status 0
	expect_err "mailbox full"
	[ "$(queued)" -eq 1 ]
	mp_run mailsend -bp
	expect_out "to       <carol@example.test>"
	refute_out "<bob@example.test>"
	fake_log | grep -q "^C: body of $marker"
}

@test "queue: offline, -q --quiet prints nothing and exits 0, so cron has nothing to mail" {
	queue_msg "$marker" bob@example.test
	mp_run mailsend -q --quiet --server "smtp://127.0.0.1:1" --tls=no --timeout 5
	expect_status 0
	[ -z "$output" ] && [ -z "$stderr" ]
	[ "$(queued)" -eq 1 ]
}
