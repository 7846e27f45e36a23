#!/usr/bin/env bats
# The test harness itself: the private Postfix + Dovecot really carry mail,
# and the fake server really plays its script. Uses Python clients only, so
# a failure here points at the harness, not at mailpipe.

load ../lib/common

setup_file() {
	need_servers
}

@test "harness: env file exports the servers" {
	[ -f "$MP_SERVERS_DIR/env" ]
	run bash -c ". '$MP_SERVERS_DIR/env'; echo \$IMAPS_PORT \$MP_CA \$MP_SERVERS_UP"
	[ "$status" -eq 0 ]
	[ "$output" = "$IMAPS_PORT $MP_CA 1" ]
}

@test "harness: smtp -> postfix -> lmtp -> dovecot maildir, read back over imaps" {
	local subject="harness-$RANDOM-$$"
	run --separate-stderr python3 - <<-EOF
	import glob, imaplib, os, smtplib, ssl, time
	ctx = ssl.create_default_context(cafile=os.environ["MP_CA"])
	msg = ("From: carol@example.org\r\nTo: alice@example.test\r\n"
	       "Subject: $subject\r\n\r\nhello alice\r\n")
	s = smtplib.SMTP("127.0.0.1", int(os.environ["SMTP_PORT"]), timeout=10)
	s.starttls(context=ctx)
	s.sendmail("carol@example.org", ["alice@example.test"], msg)
	s.quit()
	for _ in range(100):
	    hits = [f for f in glob.glob(os.environ["MP_MAILDIR"] + "/new/*")
	            if "$subject" in open(f, errors="replace").read()]
	    if hits:
	        break
	    time.sleep(0.1)
	assert hits, "message never reached alice's Maildir/new"
	m = imaplib.IMAP4_SSL("127.0.0.1", int(os.environ["IMAPS_PORT"]), ssl_context=ctx)
	m.login(os.environ["MP_USER"], os.environ["MP_PASS"])
	m.select("INBOX", readonly=True)
	typ, data = m.search(None, "SUBJECT", "$subject")
	assert typ == "OK" and data[0].split(), data
	typ, data = m.fetch(data[0].split()[0], "(BODY.PEEK[TEXT])")
	print(data[0][1].decode())
	m.logout()
	EOF
	expect_status 0
	expect_out "hello alice"
}

@test "harness: submission offers AUTH only after STARTTLS and accepts alice" {
	run --separate-stderr python3 - <<-'EOF'
	import os, smtplib, ssl
	ctx = ssl.create_default_context(cafile=os.environ["MP_CA"])
	s = smtplib.SMTP("127.0.0.1", int(os.environ["SUBMISSION_PORT"]), timeout=10)
	s.ehlo()
	assert not s.has_extn("auth"), "AUTH offered before TLS"
	s.starttls(context=ctx)
	s.ehlo()
	print("auth:", s.esmtp_features["auth"])
	s.login(os.environ["MP_USER"], os.environ["MP_PASS"])
	s.quit()
	s = smtplib.SMTP_SSL("127.0.0.1", int(os.environ["SUBMISSIONS_PORT"]), context=ctx, timeout=10)
	s.login(os.environ["MP_USER2"], os.environ["MP_PASS2"])
	s.quit()
	EOF
	expect_status 0
	expect_out "SCRAM-SHA-256"
}

@test "harness: pop3 stls and imap starttls with the test CA" {
	run --separate-stderr python3 - <<-'EOF'
	import imaplib, os, poplib, ssl
	ctx = ssl.create_default_context(cafile=os.environ["MP_CA"])
	p = poplib.POP3("127.0.0.1", int(os.environ["POP3_PORT"]), timeout=10)
	p.stls(ctx)
	p.user(os.environ["MP_USER2"])
	p.pass_(os.environ["MP_PASS2"])
	p.quit()
	m = imaplib.IMAP4("127.0.0.1", int(os.environ["IMAP_PORT"]))
	m.starttls(ctx)
	m.login(os.environ["MP_USER"], os.environ["MP_PASS"])
	m.logout()
	print("ok")
	EOF
	expect_status 0
	expect_out "ok"
}

@test "harness: fake server plays its script and logs what the client sent" {
	fake_start - --tls server <<-'EOF'
	S: 220 fake ESMTP
	C: ^EHLO (\S+)
	S: 250-hi $1
	S: 250 STARTTLS
	C: ^STARTTLS$
	SR: 220 go\r\n250 injected\r\n
	TLS
	ON ^EHLO => 250 ok
	ON ^QUIT => 221 bye
	DRAIN
	EOF
	run --separate-stderr python3 - <<-'EOF'
	import os, smtplib, ssl
	ctx = ssl.create_default_context(cafile=os.environ["MP_CA"])
	s = smtplib.SMTP("127.0.0.1", int(os.environ["FAKE_PORT"]), timeout=10)
	s.ehlo("client.example")
	s.starttls(context=ctx)
	print(s.ehlo())
	s.quit()
	EOF
	expect_status 0
	fake_wait
	[ "$FAKE_STATUS" -eq 0 ]
	run fake_log
	[[ "$output" == *"C: ehlo client.example"* ]]
	[[ "$output" == *"S: 250 injected"* ]]
	[[ "$output" == *"# TLS started"* ]]
	[[ "$output" == *"C: quit"* ]]
	[[ "$output" == *"S: 221 bye"* ]]
}
