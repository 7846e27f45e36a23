# pop3.bash — helpers for the popfetch tests: `load ../lib/pop3` after common.
#
# Alice's server-side Maildir ($MP_MAILDIR, read by the private Dovecot) is
# filled directly with files, as a delivery agent would (tmp/, then a rename
# into new/), owned by the mail user. Every seeded message is recorded by its
# SHA-256 in a manifest, so the tests can compare sets of messages:
#
#   pop3_clear              remove every message from alice's INBOX (and the
#                           manifest); Dovecot notices at its next sync
#   pop3_seed N [--big K] [--tag T]   (needs root or the mail user's uid)
#                           add N new messages (K of them 1-3 MB), with "."
#                           "..", ".x", "From x", ">From y" lines, 8-bit UTF-8,
#                           long lines and blank lines at the end
#   pop3_seed_sizes S1 S2.. add one message of about each size (bytes)
#   pop3_count              messages on the server now
#   server_hashes           SHA-256 of each message file on the server, sorted
#   maildir_hashes DIR      ... of each file in DIR/new and DIR/cur
#   mbox_hashes FILE        ... of each message of an mbox or --stdout stream
#                           (mboxrd-unquoted, the blank line after each
#                           message dropped); fails on a malformed mbox
#   manifest_hashes         ... of every message seeded since pop3_clear
#   same_hashes A B         two such lists (files) must be equal, duplicates
#                           counted; prints what differs
#   expect_no_loss KIND PATH STATE
#                           after a crash: nothing lost, nothing twice, all
#                           that STATE records is local (see below)
#   pop3_settle             wait until Dovecot's pop3 processes are gone
#   pop3_opts [pop3|pop3s]  the options for popfetch to reach Dovecot as alice
#   expect_local_is_manifest KIND PATH
#                           the Maildir/mbox holds every seeded message once
#   state_files             popfetch's state files in the default place
#   no_local_mail MAILDIR   nothing in new/ or cur/
#   fake_pop3_login [STAT]  the fake-server script lines for greeting, CAPA and
#                           USER/PASS, then the answer STAT gets when given
#                           (a run in keep mode glances with STAT before it
#                           lists); fake_pop3_opts: popfetch's options to
#                           reach the fake (--tls=no --allow-plaintext-auth)
#   endless_pop3_start MODE a POP3 server whose LIST or UIDL never ends
#                           (MODE list or uidl; ENDLESS_PORT);
#                           endless_pop3_stop
#   rss_run KBFILE CMD...   run CMD, write its peak RSS (KiB) to KBFILE, exit
#                           with its status
#   refute CMD...           CMD must fail (a bare `! cmd` never fails a test)
#
# The mailbox is shared with the other test files: each popfetch file clears
# it before every test and at its end.

: "${POP3_MANIFEST:=${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:-/tmp}}/seeded}"
# Hashes of message files already read, by inode (see cached_sha).
: "${POP3_HASH_CACHE:=${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:-/tmp}}/hash.cache}"
export POP3_HASH_CACHE

_POP3_PY=$(
	cat <<-'PY'
	import hashlib, os, random, re, sys, time

	def sha(b):
	    return hashlib.sha256(b).hexdigest()

	UTF8 = "Grüße aus Köln — naïve café, ☃ 日本語のテキスト, Ελληνικά, emoji 🙂"

	def body_lines(i, rnd):
	    out = [
	        "From x the start of a line",
	        ">From y already quoted",
	        ">>From z twice quoted",
	        "From",
	        "From:not a separator",
	        " From indented",
	        ".",
	        "..",
	        ".x leading dot",
	        "...three",
	        "",
	        UTF8,
	        "trailing spaces   ",
	        "\ttab first",
	    ]
	    rnd.shuffle(out)
	    if i % 5 == 0:
	        out.append("L" * 9000 + " long line end")
	    if i % 37 == 7:
	        out.append("M" * 60000)
	    if i % 3 == 0:
	        out.append("From the end")
	    if i % 4 == 1:
	        out.append(".")
	    if i % 4 == 0:
	        out += ["", "", ""]
	    return out

	def big_lines(size, rnd):
	    out, n, k = [], 0, 0
	    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	    line = "".join(rnd.choice(alphabet) for _ in range(76))
	    while n < size:
	        k += 1
	        if k % 997 == 0:
	            s = "From inside a big body %d" % k
	        elif k % 991 == 0:
	            s = "."
	        elif k % 983 == 0:
	            s = ">From %d" % k
	        else:
	            s = line[k % 50:] + line[: k % 50]
	        out.append(s)
	        n += len(s) + 1
	    return out

	def message(i, tag, big, rnd, size=None):
	    token = "%s-%d-%08x" % (tag, i, rnd.getrandbits(32))
	    head = [
	        "Return-Path: <sender@example.test>",
	        "From: Sender Name <sender@example.test>",
	        "To: alice@example.test",
	        "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= %s" % token,
	        "Date: Wed, 25 Nov 2026 10:%02d:%02d +0000" % (i // 60 % 60, i % 60),
	        "Message-ID: <%s@example.test>" % token,
	        "MIME-Version: 1.0",
	        "Content-Type: text/plain; charset=utf-8",
	        "Content-Transfer-Encoding: 8bit",
	        "X-Folded: one",
	        "  two (folded)",
	    ]
	    if size is not None:
	        body = ["sized message " + token] + big_lines(size, rnd)
	    elif big:
	        body = body_lines(i, rnd) + big_lines(rnd.randint(1 << 20, 3 << 20), rnd)
	    else:
	        body = body_lines(i, rnd)
	    return ("\n".join(head) + "\n\n" + "\n".join(body) + "\n").encode("utf-8")

	def deliver(maildir, data, uid, gid, seq):
	    s, w = len(data), len(data) + data.count(b"\n")
	    name = "%d.M%06dP%dQ%d.mailpipe-test,S=%d,W=%d" % (
	        int(time.time()), int(time.time() * 1e6) % 1000000, os.getpid(), seq, s, w)
	    tmp = os.path.join(maildir, "tmp", name)
	    with open(tmp, "wb") as f:
	        f.write(data)
	    os.chown(tmp, uid, gid)
	    os.chmod(tmp, 0o600)
	    os.rename(tmp, os.path.join(maildir, "new", name))

	def seed(args):
	    maildir, manifest, n = args[0], args[1], int(args[2])
	    big, tag, sizes = 0, "m", []
	    rest = args[3:]
	    while rest:
	        if rest[0] == "--big":
	            big = int(rest[1]); rest = rest[2:]
	        elif rest[0] == "--tag":
	            tag = rest[1]; rest = rest[2:]
	        elif rest[0] == "--sizes":
	            sizes = [int(x) for x in rest[1:]]; rest = []
	        else:
	            sys.exit("seed: bad argument %r" % rest[0])
	    st = os.stat(os.path.dirname(maildir))
	    for d in ("", "new", "cur", "tmp"):
	        p = os.path.join(maildir, d)
	        os.makedirs(p, exist_ok=True)
	        os.chown(p, st.st_uid, st.st_gid)
	        os.chmod(p, 0o700)
	    rnd = random.Random()
	    # Big ones spread through the mailbox, not all at the end.
	    bigs = set(rnd.sample(range(n), min(big, n))) if n else set()
	    hashes = []
	    base = int(time.time() * 1000) % 1000000
	    msgs = [message(base + i, tag, i in bigs, rnd) for i in range(n)]
	    msgs += [message(base + n + j, tag, False, rnd, size=s) for j, s in enumerate(sizes)]
	    for k, data in enumerate(msgs):
	        deliver(maildir, data, st.st_uid, st.st_gid, k)
	        hashes.append(sha(data))
	    with open(manifest, "a") as f:
	        f.writelines(h + "\n" for h in hashes)

	CACHE = os.environ.get("POP3_HASH_CACHE")

	def cached_sha(path, cache):
	    """Message files never change: hash each (device, inode, size, mtime)
	    once per test."""
	    st = os.stat(path)
	    key = "%d:%d:%d:%d" % (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
	    if key not in cache:
	        with open(path, "rb") as f:
	            cache[key] = sha(f.read())
	    return cache[key]

	def dir_files(top):
	    """{base name (without :info): sha256} of top/new and top/cur. Dovecot
	    may move or remove files meanwhile: list again until one pass sees
	    every file it listed."""
	    import json
	    cache = {}
	    if CACHE and os.path.exists(CACHE):
	        with open(CACHE) as f:
	            cache = json.load(f)
	    try:
	        return dir_files_pass(top, cache)
	    finally:
	        if CACHE:
	            with open(CACHE + ".tmp", "w") as f:
	                json.dump(cache, f)
	            os.rename(CACHE + ".tmp", CACHE)

	def dir_files_pass(top, cache):
	    for _ in range(50):
	        out, moved = {}, False
	        for sub in ("new", "cur"):
	            d = os.path.join(top, sub)
	            if not os.path.isdir(d):
	                continue
	            for name in os.listdir(d):
	                try:
	                    h = cached_sha(os.path.join(d, name), cache)
	                except FileNotFoundError:
	                    moved = True
	                    continue
	                key = name.split(":", 1)[0]
	                while key in out:
	                    key += "+"
	                out[key] = h
	        if not moved:
	            return out
	        time.sleep(0.05)
	    sys.exit("%s keeps changing" % top)

	def dir_hashes(args):
	    out = []
	    for top in args:
	        out += dir_files(top).values()
	    for h in sorted(out):
	        print(h)

	def uidls(maildir):
	    """{base name: UIDL} as Dovecot makes them (%08Xu%08Xv)."""
	    try:
	        lines = open(os.path.join(maildir, "dovecot-uidlist"), "rb").read().decode().splitlines()
	    except FileNotFoundError:
	        return {}
	    if not lines:
	        return {}
	    head = lines[0].split()
	    v = [int(w[1:]) for w in head[1:] if w.startswith("V")]
	    if head[0] != "3" or not v:
	        sys.exit("dovecot-uidlist: unknown format %r" % lines[0])
	    out = {}
	    for line in lines[1:]:
	        left, sep, name = line.partition(" :")
	        if sep:
	            out[name] = "%08x%08x" % (int(left.split()[0]), v[0])
	    return out

	def check(args):
	    """After a crash: nothing lost, nothing twice, and every message the
	    state records that is still on the server has a local copy."""
	    kind, path, manifest, state, server = args
	    local = read_local(kind, path)
	    want = set(open(manifest).read().split())
	    from collections import Counter
	    problems = []
	    dups = [h for h, n in Counter(local).items() if n > 1]
	    if dups:
	        problems.append("%d message(s) twice locally" % len(dups))
	    stray = set(local) - want
	    if stray:
	        problems.append("%d local message(s) that were never on the server" % len(stray))
	    files = dir_files(server)
	    lost = want - set(local) - set(files.values())
	    if lost:
	        problems.append("%d message(s) neither on the server nor local" % len(lost))
	    recorded = set()
	    if os.path.exists(state):
	        for line in open(state):
	            if not line.startswith("#") and line.strip():
	                recorded.add(line.split()[-1].lower())
	    names = uidls(server)
	    known = [n for n in files if names.get(n) in recorded]
	    bad = [n for n in known if files[n] not in local]
	    if bad:
	        problems.append("%d message(s) recorded in the state but not local" % len(bad))
	    if problems:
	        sys.exit("; ".join(problems) + " (%d local, %d on the server, %d seeded)"
	                 % (len(local), len(files), len(want)))

	def read_local(kind, path):
	    if kind == "maildir":
	        return list(dir_files(path).values())
	    if not os.path.exists(path):
	        return []
	    with open(path, "rb") as f:
	        return [sha(m) for m in mbox_messages(f.read())]

	SEP = re.compile(rb"^From ")
	QUOTED = re.compile(rb"^>(>*From )")

	def mbox_messages(data):
	    msgs, cur = [], None
	    for line in data.splitlines(keepends=True):
	        if SEP.match(line):
	            if not line.endswith(b"\n"):
	                sys.exit("mbox: separator line without a newline")
	            cur = []
	            msgs.append(cur)
	            continue
	        if cur is None:
	            sys.exit("mbox: text before the first 'From ' line: %r" % line[:80])
	        cur.append(QUOTED.sub(rb"\1", line))
	    out = []
	    for m in msgs:
	        if not m or m[-1] != b"\n":
	            sys.exit("mbox: a message does not end with the blank line popfetch adds")
	        out.append(b"".join(m[:-1]))
	    return out

	def mbox_hashes(args):
	    with open(args[0], "rb") as f:
	        data = f.read()
	    if data and not data.endswith(b"\n"):
	        sys.exit("mbox: does not end with a newline (partial message?)")
	    for h in sorted(sha(m) for m in mbox_messages(data)):
	        print(h)

	def same(args):
	    a = open(args[0]).read().split()
	    b = open(args[1]).read().split()
	    if sorted(a) == sorted(b):
	        return
	    from collections import Counter
	    ca, cb = Counter(a), Counter(b)
	    only_a = sum((ca - cb).values())
	    only_b = sum((cb - ca).values())
	    dup_a = sum(v - 1 for v in ca.values() if v > 1)
	    dup_b = sum(v - 1 for v in cb.values() if v > 1)
	    sys.exit("message sets differ: %s has %d messages (%d extra, %d duplicates), "
	             "%s has %d (%d extra, %d duplicates)" % (
	                 args[2] if len(args) > 2 else args[0], len(a), only_a, dup_a,
	                 args[3] if len(args) > 3 else args[1], len(b), only_b, dup_b))

	def rss(args):
	    import resource, subprocess
	    rc = subprocess.call(args[1:])
	    with open(args[0], "w") as f:
	        f.write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
	    sys.exit(rc if rc >= 0 else 128 - rc)

	{"seed": seed, "dirs": dir_hashes, "mbox": mbox_hashes, "same": same,
	 "rss": rss, "check": check}[sys.argv[1]](sys.argv[2:])
	PY
)

pop3_clear() {
	local d
	for d in new cur tmp; do
		[ -d "$MP_MAILDIR/$d" ] || continue
		find "$MP_MAILDIR/$d" -mindepth 1 -maxdepth 1 -type f -delete
	done
	# Dovecot's INBOX indexes would still list what was just removed
	# (another suite may have used the mailbox over IMAP): start afresh.
	rm -f "$MP_MAILDIR"/dovecot.index* "$MP_MAILDIR"/dovecot-uidlist
	rm -f "$POP3_MANIFEST"
	: >"$POP3_MANIFEST"
}

pop3_seed() {
	"$MP_PYTHON" -c "$_POP3_PY" seed "$MP_MAILDIR" "$POP3_MANIFEST" "$@"
}

pop3_seed_sizes() {
	"$MP_PYTHON" -c "$_POP3_PY" seed "$MP_MAILDIR" "$POP3_MANIFEST" 0 --sizes "$@"
}

pop3_count() {
	find "$MP_MAILDIR/new" "$MP_MAILDIR/cur" -mindepth 1 -maxdepth 1 -type f 2>/dev/null | wc -l
}

server_hashes() {
	"$MP_PYTHON" -c "$_POP3_PY" dirs "$MP_MAILDIR"
}

maildir_hashes() {
	"$MP_PYTHON" -c "$_POP3_PY" dirs "$1"
}

mbox_hashes() {
	"$MP_PYTHON" -c "$_POP3_PY" mbox "$1"
}

manifest_hashes() {
	sort "$POP3_MANIFEST"
}

# same_hashes FILE-A FILE-B [NAME-A NAME-B]
same_hashes() {
	"$MP_PYTHON" -c "$_POP3_PY" same "$@"
}

# expect_local_is_manifest KIND PATH: the Maildir (KIND maildir) or mbox /
# stream (KIND mbox) holds every seeded message exactly once, byte for byte.
expect_local_is_manifest() {
	local got=$BATS_TEST_TMPDIR/got.hashes
	"${1}_hashes" "$2" >"$got" || return 1
	manifest_hashes >"$BATS_TEST_TMPDIR/want.hashes"
	same_hashes "$got" "$BATS_TEST_TMPDIR/want.hashes" "local $1" "seeded"
}

# expect_no_loss KIND PATH STATE: after a crash, every seeded message is on
# the server or local (KIND maildir or mbox), none twice, and whatever STATE
# records as fetched and the server still holds is local.
expect_no_loss() {
	"$MP_PYTHON" -c "$_POP3_PY" check "$1" "$2" "$POP3_MANIFEST" "$3" "$MP_MAILDIR"
}

# pop3_settle: wait (up to 2 s) until no Dovecot pop3 process of this
# instance is left, e.g. one serving a client that was killed; it would
# hold the mailbox lock ([IN-USE]) for the next run. Dovecot sometimes
# keeps one whose client died during the TLS handshake until its idle
# timeout (minutes): such a leftover of our own test server is ended.
pop3_settle() {
	local master i
	master=$(cat "$MP_SERVERS_DIR/dovecot/run/master.pid" 2>/dev/null) || return 0
	for ((i = 0; i < 40; i++)); do
		pgrep -P "$master" -x pop3 >/dev/null || return 0
		sleep 0.05
	done
	pkill -KILL -P "$master" -x pop3 2>/dev/null || true
	for ((i = 0; i < 40; i++)); do
		pgrep -P "$master" -x pop3 >/dev/null || return 0
		sleep 0.05
	done
	echo "pop3_settle: Dovecot pop3 processes still running" >&2
	return 0
}

pop3_opts() {
	echo --server "$(mp_url "${1:-pop3s}")" --tls-ca-file "$MP_CA" --timeout 20
}

rss_run() {
	"$MP_PYTHON" -c "$_POP3_PY" rss "$@"
}

# The state files popfetch keeps (default location).
state_files() {
	find "$XDG_STATE_HOME/mailpipe/popfetch" -name '*.state' 2>/dev/null
}

fake_pop3_login() {
	cat <<-'EOF'
	S: +OK fake POP3 ready
	C: ^CAPA$
	S: +OK capabilities
	S: USER
	S: UIDL
	S: RESP-CODES
	S: .
	C: ^USER alice$
	S: +OK
	C: ^PASS
	S: +OK logged in
	C: ^CAPA$
	S: +OK capabilities
	S: USER
	S: UIDL
	S: RESP-CODES
	S: .
	EOF
	[ $# -eq 0 ] || printf 'C: ^STAT$\nS: %s\n' "$1"
}

fake_pop3_opts() {
	echo --server "pop3://alice@127.0.0.1:$FAKE_PORT" --tls=no --allow-plaintext-auth --timeout 5
}

# refute CMD...: CMD must fail (a bare `! cmd` never fails a bats test).
refute() {
	if "$@"; then
		echo "expected to fail: $*" >&2
		return 1
	fi
	return 0
}

# endless_pop3_start MODE: a POP3 server whose answer never ends (MODE
# list: one message in UIDL, then LIST lines "N 100" for ever, until the
# client goes away; MODE uidl: UIDL lines "N uid-N" for ever). Exports
# ENDLESS_PORT; endless_pop3_stop ends it.
endless_pop3_start() {
	local dir=$BATS_TEST_TMPDIR/endless i
	mkdir -p "$dir"
	rm -f "$dir/port"
	"$MP_PYTHON" - "$1" "$dir/port" >"$dir/log" 2>&1 3>&- <<-'PY' &
	import os, signal, socket, sys
	mode, portfile = sys.argv[1:3]
	signal.alarm(60)
	srv = socket.socket()
	srv.bind(("127.0.0.1", 0))
	srv.listen(1)
	with open(portfile + ".tmp", "w") as f:
	    f.write("%d\n" % srv.getsockname()[1])
	os.rename(portfile + ".tmp", portfile)
	c, _ = srv.accept()
	rd = c.makefile("rb")
	c.sendall(b"+OK endless POP3\r\n")
	sent = 0
	while True:
	    line = rd.readline()
	    if not line:
	        break
	    cmd = line.strip().upper()
	    if cmd == b"CAPA":
	        c.sendall(b"+OK\r\nUSER\r\nUIDL\r\n.\r\n")
	    elif cmd.startswith((b"USER", b"PASS")):
	        c.sendall(b"+OK\r\n")
	    elif cmd == b"STAT":
	        c.sendall(b"+OK 1 100\r\n")
	    elif cmd == b"UIDL" and mode != "uidl":
	        c.sendall(b"+OK\r\n1 uid-1\r\n.\r\n")
	    elif cmd == b"LIST" and mode == "list" or cmd == b"UIDL" and mode == "uidl":
	        c.sendall(b"+OK\r\n")
	        fmt = b"%d 100\r\n" if mode == "list" else b"%d uid-%d\r\n"
	        n = 1
	        try:
	            while True:
	                c.sendall(b"".join(fmt % ((i,) * fmt.count(b"%d"))
	                                   for i in range(n, n + 10000)))
	                n += 10000
	        except OSError:
	            sent = n
	            break
	    elif cmd == b"QUIT":
	        c.sendall(b"+OK\r\n")
	        break
	    else:
	        c.sendall(b"-ERR no\r\n")
	print("sent about %d lines" % sent)
	PY
	ENDLESS_PID=$!
	for ((i = 0; i < 100; i++)); do
		if [ -s "$dir/port" ]; then
			ENDLESS_PORT=$(cat "$dir/port")
			export ENDLESS_PORT ENDLESS_PID
			return 0
		fi
		sleep 0.05
	done
	echo "endless_pop3_start: did not start" >&2
	cat "$dir/log" >&2
	return 1
}

endless_pop3_stop() {
	if [ -n "${ENDLESS_PID:-}" ]; then
		kill "$ENDLESS_PID" 2>/dev/null || true
		wait "$ENDLESS_PID" 2>/dev/null || true
		ENDLESS_PID=
	fi
	return 0
}

# no_local_mail MAILDIR: no message in new/ or cur/ (a missing Maildir
# counts as empty).
no_local_mail() {
	local f
	f=$(find "$1/new" "$1/cur" -type f 2>/dev/null | head -n 3)
	if [ -n "$f" ]; then
		echo "expected no mail in $1, found: $f" >&2
		return 1
	fi
}
