# imap.bash — helpers for the imapsync tests: `load ../lib/imap` after common.
#
# The server side is alice's account on the private Dovecot. Folders are
# made with doveadm; messages are delivered straight into each folder's
# Maildir (tmp/, then a rename into new/, or into cur/ with flags), owned by
# the mail user and dated by their mtime (Dovecot's INTERNALDATE), as an
# external delivery agent would; Dovecot's indexes are then brought up to
# date with one doveadm call. doveadm changes flags and expunges.
#
#   imap_server_prepare     (setup_file) give the Dovecot instance the
#                           hierarchy separator "/" and the listescape
#                           plugin, so folder names may hold '.' (Maildir++
#                           on disk either way); imap_server_restore undoes
#                           it (teardown_file) if this file did it
#   imap_reset              delete every folder of alice but INBOX, empty
#                           INBOX
#   dadm ARGS...            doveadm with the test instance's config
#   imap_create NAME...     create folders
#   imap_path NAME          the folder's Maildir on the server
#   imap_seed NAME N [--big K] [--flags] [--tag T] [--sizes S...]
#                           deliver N messages (K of them 1-2 MB; with
#                           --flags a mix of \Seen \Flagged \Answered
#                           \Draft) into folder NAME, each dated years ago
#   imap_sync NAME...       let Dovecot notice what was delivered
#   imap_flags add|remove FLAGS NAME QUERY...  FLAGS e.g. '\Seen \Flagged';
#                           QUERY a doveadm search: "1:3" (message numbers),
#                           "uid 7", "all"
#   imap_expunge NAME QUERY...
#   imap_uids NAME          the folder's UIDs now, one per line
#   imap_uidvalidity NAME
#   imap_folders            alice's selectable folders, one per line (UTF-8)
#   imap_opts [imaps|imap]  imapsync's options to reach Dovecot as alice
#   local_dir ROOT NAME [nested]   where the backup keeps folder NAME
#   folder_count DIR        messages in a Maildir (new/ and cur/)
#   expect_backup_is_server ROOT [--nested] [--flags] [--mtime] [--removed N]
#                           every server folder is in the backup with the
#                           same messages (SHA-256 multiset), no folder more
#                           (but the Removed folder, with N messages if
#                           given); --flags: each message's Maildir flags
#                           match the server's; --mtime: so do the mtimes
#   expect_backup_sane ROOT [--nested]
#                           after a crash: no message twice in a folder,
#                           none the server does not have, and every file
#                           in new/ and cur/ named in the folder's UID
#                           journal (so a rerun cannot fetch it again);
#                           messages listed in $IMAP_ALLOWED (lines as
#                           imap_server_messages prints) count as the
#                           server's, e.g. ones expunged there since
#   imap_server_messages    NAME<TAB>SHA-256 of every message on the server,
#                           sorted
#   mbox_file ROOT NAME     where an --mbox backup keeps folder NAME
#   expect_mbox_is_server ROOT
#                           every server folder is in the --mbox backup as
#                           its own file with the same messages (SHA-256
#                           multiset, mboxrd-unquoted), each after a From
#                           line dated its INTERNALDATE; no other mbox in
#                           ROOT holds mail; no journal left
#   expect_mbox_sane ROOT   after a crash: the part of each mbox before its
#                           journal's size (all of it without a journal) is
#                           whole messages, none twice, none the server does
#                           not have ($IMAP_ALLOWED counts), each one named
#                           by its offset in the folder's UID list, and no
#                           entry there below that size points elsewhere
#   tree_snapshot DIR       every path, type, size and mtime under DIR
#   fake_imap_login         fake-server script lines: greeting, LOGIN,
#                           CAPABILITY, LOGOUT (as ON rules)
#   fake_imap_opts          imapsync's options to reach the fake
#
# The account is shared with the other test files: the imapsync files reset
# it before every test and at their end.

: "${IMAP_HASH_CACHE:=${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:-/tmp}}/imap-hash.cache}"
export IMAP_HASH_CACHE

_IMAP_PY=$(
	cat <<-'PY'
	import hashlib, json, os, random, sys, time
	from collections import Counter

	def sha(b):
	    return hashlib.sha256(b).hexdigest()

	UTF8 = "Grüße aus Köln — naïve café, ☃ 日本語のテキスト, Ελληνικά 🙂"
	FLAG_MIX = ["", "S", "FS", "RS", "S", "", "DS", "FRS", "S"]

	def body(i, rnd, big):
	    out = ["From the start of a line", ">From quoted", ".", "..", "",
	           UTF8, "trailing spaces   ", "\ttab first", "line %d" % i]
	    rnd.shuffle(out)
	    if i % 7 == 0:
	        out.append("L" * 5000 + " long line end")
	    if big:
	        line = "".join(rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789")
	                       for _ in range(76))
	        n, k = 0, 0
	        while n < big:
	            k += 1
	            s = line[k % 40:] + line[:k % 40] if k % 997 else "From inside %d" % k
	            out.append(s)
	            n += len(s) + 1
	    return out

	def message(folder, i, tag, rnd, big):
	    token = "%s-%d-%08x" % (tag, i, rnd.getrandbits(32))
	    head = [
	        "Return-Path: <sender@example.test>",
	        "From: Sender <sender@example.test>",
	        "To: alice@example.test",
	        "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= %s" % token,
	        "Date: Tue, 14 Jul 2020 10:%02d:%02d +0000" % (i // 60 % 60, i % 60),
	        "Message-ID: <%s@example.test>" % token,
	        "X-Folder: %s" % folder,
	        "MIME-Version: 1.0",
	        "Content-Type: text/plain; charset=utf-8",
	    ]
	    return ("\n".join(head) + "\n\n" + "\n".join(body(i, rnd, big)) + "\n").encode()

	def seed(args):
	    folder, d, n = args[0], args[1], int(args[2])
	    rest, big, tag, flags, sizes = args[3:], 0, "m", False, []
	    while rest:
	        if rest[0] == "--big":
	            big, rest = int(rest[1]), rest[2:]
	        elif rest[0] == "--tag":
	            tag, rest = rest[1], rest[2:]
	        elif rest[0] == "--flags":
	            flags, rest = True, rest[1:]
	        elif rest[0] == "--sizes":
	            sizes, rest = [int(x) for x in rest[1:]], []
	        else:
	            sys.exit("seed: bad argument %r" % rest[0])
	    st = os.stat(d)
	    rnd = random.Random()
	    bigs = set(rnd.sample(range(n), min(big, n))) if n else set()
	    jobs = [(i, (rnd.randint(1 << 20, 2 << 20) if i in bigs else 0)) for i in range(n)]
	    jobs += [(n + j, s) for j, s in enumerate(sizes)]
	    base = rnd.randint(1300000000, 1600000000)
	    for i, size in jobs:
	        data = message(folder, i, tag, rnd, size)
	        name = "%d.M%06dP%dQ%d.mailpipe-test,S=%d" % (
	            int(time.time()), rnd.randint(0, 999999), os.getpid(), i, len(data))
	        tmp = os.path.join(d, "tmp", name)
	        with open(tmp, "wb") as f:
	            f.write(data)
	        os.chown(tmp, st.st_uid, st.st_gid)
	        os.chmod(tmp, 0o600)
	        t = base + i * 3607
	        os.utime(tmp, (t, t))
	        fl = FLAG_MIX[rnd.randrange(len(FLAG_MIX))] if flags else ""
	        if fl:
	            os.rename(tmp, os.path.join(d, "cur", name + ":2," + fl))
	        else:
	            os.rename(tmp, os.path.join(d, "new", name))

	def local_name(name, layout):
	    """The documented mapping of a server folder (UTF-8, '/' delimiter)
	    to its place in the backup."""
	    if name.upper() == "INBOX":
	        return ""
	    out = []
	    for c in name.split("/"):
	        if c == "":
	            out.append("%00")
	            continue
	        s = ""
	        for ch in c:
	            o = ord(ch)
	            if ch in "%/\\" or o < 0x20 or o == 0x7f or 0x80 <= o <= 0x9f:
	                s += "".join("%%%02X" % b for b in ch.encode())
	            elif ch == "." and (layout == "maildir++" or s == ""):
	                s += "%2E"
	            else:
	                s += ch
	        if layout == "nested" and c in ("cur", "new", "tmp"):
	            s = "%%%02X" % ord(c[0]) + c[1:]
	        out.append(s)
	    return "." + ".".join(out) if layout == "maildir++" else "/".join(out)

	CACHE = os.environ.get("IMAP_HASH_CACHE")

	def load_cache():
	    if CACHE and os.path.exists(CACHE):
	        with open(CACHE) as f:
	            return json.load(f)
	    return {}

	def save_cache(cache):
	    if CACHE:
	        with open(CACHE + ".tmp", "w") as f:
	            json.dump(cache, f)
	        os.rename(CACHE + ".tmp", CACHE)

	def cached_sha(path, cache):
	    st = os.stat(path)
	    key = "%d:%d:%d:%d" % (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
	    if key not in cache:
	        with open(path, "rb") as f:
	            cache[key] = sha(f.read())
	    return cache[key], int(st.st_mtime)

	def files(top, cache):
	    """[(base name, sha256, flags, mtime)] of top/new and top/cur. Dovecot
	    may rename files meanwhile: list again until a pass sees them all."""
	    for _ in range(50):
	        out, moved = [], False
	        for sub in ("new", "cur"):
	            d = os.path.join(top, sub)
	            if not os.path.isdir(d):
	                continue
	            for name in os.listdir(d):
	                try:
	                    h, mtime = cached_sha(os.path.join(d, name), cache)
	                except FileNotFoundError:
	                    moved = True
	                    continue
	                base, _, info = name.partition(":")
	                fl = "".join(sorted(c for c in info[2:] if c.isupper())) \
	                    if info.startswith("2,") else ""
	                out.append((base, h, fl, mtime))
	        if not moved:
	            return out
	        time.sleep(0.05)
	    sys.exit("%s keeps changing" % top)

	def local_maildirs(root, layout):
	    """Relative paths of the Maildirs in a backup."""
	    out = []
	    for dirpath, dirnames, _ in os.walk(root):
	        rel = os.path.relpath(dirpath, root)
	        rel = "" if rel == "." else rel
	        if "cur" in dirnames and "new" in dirnames:
	            out.append(rel)
	        if layout == "maildir++":
	            # Folders sit beside INBOX's cur/new/tmp, one level only.
	            if rel:
	                dirnames[:] = []
	            else:
	                dirnames[:] = [n for n in dirnames if n.startswith(".")]
	        else:
	            dirnames[:] = [n for n in dirnames if n not in ("cur", "new", "tmp")]
	    return out

	def pairs():
	    """NAME<TAB>SERVER-DIR lines on stdin."""
	    out = []
	    for line in sys.stdin.read().splitlines():
	        if line.strip():
	            name, _, path = line.partition("\t")
	            out.append((name, path))
	    return out

	def removed_dir(layout):
	    return ".%Removed" if layout == "maildir++" else ".Removed"

	def compare(args):
	    root, layout, opts = args[0], args[1], args[2:]
	    want_removed = None
	    if "--removed" in opts:
	        want_removed = int(opts[opts.index("--removed") + 1])
	    cache = load_cache()
	    problems = []
	    expected = set()
	    for name, spath in pairs():
	        rel = local_name(name, layout)
	        expected.add(rel)
	        ldir = os.path.join(root, rel) if rel else root
	        s = files(spath, cache)
	        l = files(ldir, cache) if os.path.isdir(ldir) else []
	        key = lambda f: (f[1],) + ((f[2],) if "--flags" in opts else ()) + \
	            ((f[3],) if "--mtime" in opts else ())
	        cs, cl = Counter(map(key, s)), Counter(map(key, l))
	        if cs != cl:
	            only_s, only_l = cs - cl, cl - cs
	            detail = ""
	            if "--flags" in opts or "--mtime" in opts:
	                hs = {f[1]: f for f in s}
	                for k in list(only_l)[:3]:
	                    srv = hs.get(k[0])
	                    detail += "\n    local %s flags %r mtime %s; server: %s" % (
	                        k[0][:12], k[1] if len(k) > 1 else "",
	                        k[-1], "flags %r mtime %s" % (srv[2], srv[3]) if srv else "none")
	            problems.append("folder %r (local %r): server %d, backup %d messages; "
	                            "%d only on the server, %d only in the backup%s" % (
	                                name, rel, len(s), len(l), sum(only_s.values()),
	                                sum(only_l.values()), detail))
	    rem = removed_dir(layout)
	    for rel in local_maildirs(root, layout):
	        if rel in expected:
	            continue
	        n = len(files(os.path.join(root, rel), cache))
	        if rel == rem:
	            if want_removed is not None and n != want_removed:
	                problems.append("%s holds %d messages, expected %d" % (rem, n, want_removed))
	            continue
	        if n:
	            problems.append("backup folder %r (%d messages) is not on the server" % (rel, n))
	    if want_removed and not os.path.isdir(os.path.join(root, rem)):
	        problems.append("no %s folder in the backup" % rem)
	    save_cache(cache)
	    if problems:
	        sys.exit("backup differs from the server:\n  " + "\n  ".join(problems))

	def load_allowed():
	    # $IMAP_ALLOWED: "NAME<TAB>SHA-256" lines of messages that count as
	    # the server's (expunged there since).
	    allowed = {}
	    path = os.environ.get("IMAP_ALLOWED")
	    if path and os.path.exists(path):
	        for line in open(path, encoding="utf-8"):
	            name, _, h = line.rstrip("\n").partition("\t")
	            allowed.setdefault(name, set()).add(h)
	    return allowed

	def sane(args):
	    root, layout = args[0], args[1]
	    cache = load_cache()
	    problems = []
	    journal = ".mailpipe-uids" if layout == "nested" else "mailpipe-uids"
	    allowed = load_allowed()
	    for name, spath in pairs():
	        rel = local_name(name, layout)
	        ldir = os.path.join(root, rel) if rel else root
	        if not os.path.isdir(ldir):
	            continue
	        l = files(ldir, cache)
	        srv = set(f[1] for f in files(spath, cache)) | allowed.get(name, set())
	        dups = [h for h, n in Counter(f[1] for f in l).items() if n > 1]
	        if dups:
	            problems.append("%r: %d message(s) twice" % (name, len(dups)))
	        stray = [f for f in l if f[1] not in srv]
	        if stray:
	            problems.append("%r: %d local message(s) not on the server (partial?): %s"
	                            % (name, len(stray), stray[0][0]))
	        names = set()
	        try:
	            with open(os.path.join(ldir, journal), "rb") as f:
	                for line in f.read().decode("utf-8", "replace").splitlines():
	                    w = line.split(" ", 2)
	                    if len(w) == 3:
	                        names.add(w[2])
	        except FileNotFoundError:
	            pass
	        unjournaled = [f[0] for f in l if f[0] not in names]
	        if unjournaled:
	            problems.append("%r: %d file(s) in new/ or cur/ not in %s: %s"
	                            % (name, len(unjournaled), journal, unjournaled[0]))
	    save_cache(cache)
	    if problems:
	        sys.exit("after the crash:\n  " + "\n  ".join(problems))

	def localname(args):
	    print(local_name(args[0], args[1]))

	def counts(args):
	    cache = {}
	    print(len(files(args[0], cache)))

	def messages(args):
	    cache = load_cache()
	    out = []
	    for name, spath in pairs():
	        out += ["%s\t%s" % (name, f[1]) for f in files(spath, cache)]
	    save_cache(cache)
	    for line in sorted(out):
	        print(line)

	import re

	def mbox_parse(data, where):
	    """[(offset of its From line, date on it, message)] of an mboxrd
	    file; the empty line before the next From line is not part of the
	    message."""
	    msgs, pos, cur = [], 0, None
	    lines = data.split(b"\n")
	    if lines[-1] == b"":
	        lines.pop()
	    else:
	        sys.exit("%s: does not end with a newline (partial message?)" % where)
	    for line in lines:
	        line += b"\n"
	        if line.startswith(b"From "):
	            # "From SENDER DATE": the date is what follows the sender.
	            date = line.decode("ascii", "replace").rstrip("\n").split(" ", 2)[2:]
	            cur = (pos, date[0] if date else "", [])
	            msgs.append(cur)
	        elif cur is None:
	            sys.exit("%s: text before the first From line: %r" % (where, line[:80]))
	        else:
	            cur[2].append(re.sub(rb"^>(>*From )", rb"\1", line))
	        pos += len(line)
	    out = []
	    for off, date, body in msgs:
	        if not body or body[-1] != b"\n":
	            sys.exit("%s: the message at %d does not end with an empty line"
	                     % (where, off))
	        out.append((off, date, b"".join(body[:-1])))
	    return out

	def mbox_rel(name):
	    return (local_name(name, "nested") or "INBOX") + ".mbox"

	def mbox_state(root, name, file):
	    return os.path.join(root, ".mailpipe", local_name(name, "nested"), file)

	def mboxcompare(args):
	    root = args[0]
	    cache = load_cache()
	    problems, expected = [], set()
	    for name, spath in pairs():
	        rel = mbox_rel(name)
	        expected.add(rel)
	        path = os.path.join(root, rel)
	        s = [(f[1], time.asctime(time.gmtime(f[3]))) for f in files(spath, cache)]
	        l = []
	        if os.path.exists(path):
	            with open(path, "rb") as f:
	                l = [(sha(m), d) for _, d, m in mbox_parse(f.read(), path)]
	        cs, cl = Counter(s), Counter(l)
	        if cs != cl:
	            problems.append("folder %r (%s): server %d, mbox %d messages; %d only on "
	                            "the server, %d only in the mbox (hash, From date): %r"
	                            % (name, rel, len(s), len(l), sum((cs - cl).values()),
	                               sum((cl - cs).values()), list(cl - cs)[:2]))
	        if os.path.exists(mbox_state(root, name, ".mailpipe-journal")):
	            problems.append("folder %r: a journal is left" % name)
	    for dirpath, dirnames, filenames in os.walk(root):
	        dirnames[:] = [n for n in dirnames if n != ".mailpipe"]
	        for n in filenames:
	            rel = os.path.relpath(os.path.join(dirpath, n), root)
	            if n.endswith(".mbox") and rel not in expected and \
	                    os.path.getsize(os.path.join(dirpath, n)):
	                problems.append("mbox %r is not a server folder" % rel)
	    save_cache(cache)
	    if problems:
	        sys.exit("mbox backup differs from the server:\n  " + "\n  ".join(problems))

	def mboxsane(args):
	    root = args[0]
	    cache = load_cache()
	    problems = []
	    allowed = load_allowed()
	    for name, spath in pairs():
	        path = os.path.join(root, mbox_rel(name))
	        if not os.path.exists(path):
	            continue
	        with open(path, "rb") as f:
	            data = f.read()
	        try:
	            with open(mbox_state(root, name, ".mailpipe-journal")) as f:
	                limit = int(f.read().split()[1])
	        except FileNotFoundError:
	            limit = len(data)
	        if limit > len(data):
	            problems.append("%r: the journal says %d bytes, the mbox has %d"
	                            % (name, limit, len(data)))
	            continue
	        msgs = mbox_parse(data[:limit], path)
	        srv = set(f[1] for f in files(spath, cache)) | allowed.get(name, set())
	        hashes = [sha(m) for _, _, m in msgs]
	        dups = [h for h, n in Counter(hashes).items() if n > 1]
	        if dups:
	            problems.append("%r: %d message(s) twice" % (name, len(dups)))
	        stray = [h for h in hashes if h not in srv]
	        if stray:
	            problems.append("%r: %d message(s) not on the server" % (name, len(stray)))
	        offsets = set(off for off, _, _ in msgs)
	        named = set()
	        try:
	            with open(mbox_state(root, name, ".mailpipe-uids"), "rb") as f:
	                for line in f.read().decode("utf-8", "replace").splitlines():
	                    w = line.split(" ", 2)
	                    if len(w) == 3 and w[2].startswith("@"):
	                        named.add(int(w[2][1:]))
	        except FileNotFoundError:
	            pass
	        if offsets - named:
	            problems.append("%r: %d message(s) not in the UID list, e.g. at %d"
	                            % (name, len(offsets - named), min(offsets - named)))
	        wrong = [o for o in named if o < limit and o not in offsets]
	        if wrong:
	            problems.append("%r: UID list entries that are no message start: %r"
	                            % (name, sorted(wrong)[:3]))
	    save_cache(cache)
	    if problems:
	        sys.exit("after the crash:\n  " + "\n  ".join(problems))

	def mboxfile(args):
	    print(os.path.join(args[0], mbox_rel(args[1])))

	{"mboxcompare": mboxcompare, "mboxsane": mboxsane, "mboxfile": mboxfile,
	 "seed": seed, "compare": compare, "sane": sane, "localname": localname,
	 "count": counts, "messages": messages}[sys.argv[1]](sys.argv[2:])
	PY
)

_imap_conf() {
	echo "$MP_SERVERS_DIR/dovecot/dovecot.conf"
}

dadm() {
	doveadm -c "$(_imap_conf)" "$@"
}

imap_server_prepare() {
	local conf i
	conf=$(_imap_conf)
	if grep -q 'listescape' "$conf" && grep -Eq '^[[:space:]]*separator[[:space:]]*=[[:space:]]*/' "$conf"; then
		return 0
	fi
	cp -p "$conf" "$conf.imapsync-tests"
	echo "# added by tests/lib/imap.bash: '/' between levels, so names may hold '.'" >>"$conf"
	# shellcheck disable=SC2016 # Dovecot expands it
	grep -q 'listescape' "$conf" ||
		echo 'mail_plugins = $mail_plugins listescape' >>"$conf"
	grep -Eq '^[[:space:]]*separator[[:space:]]*=' "$conf" ||
		printf 'namespace inbox {\n  separator = /\n  inbox = yes\n}\n' >>"$conf"
	dadm reload || return 1
	export IMAP_PREPARED=$conf
	# New processes take the new settings; wait until doveadm agrees.
	for ((i = 0; i < 50; i++)); do
		dadm mailbox list -u "$MP_USER" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "imap_server_prepare: doveadm fails after the reload" >&2
	return 1
}

imap_server_restore() {
	[ -n "${IMAP_PREPARED:-}" ] && [ -f "$IMAP_PREPARED.imapsync-tests" ] || return 0
	mv "$IMAP_PREPARED.imapsync-tests" "$IMAP_PREPARED"
	dadm reload || true
	unset IMAP_PREPARED
	return 0
}

imap_reset() {
	local names=() n
	mapfile -t names < <(dadm mailbox list -u "$MP_USER" | grep -vx INBOX)
	if [ ${#names[@]} -gt 0 ]; then
		dadm mailbox delete -u "$MP_USER" -r -s "${names[@]}" 2>/dev/null || true
		# What doveadm could not delete goes by hand.
		mapfile -t names < <(dadm mailbox list -u "$MP_USER" | grep -vx INBOX)
		for n in "${names[@]}"; do
			rm -rf "$(dadm mailbox path -u "$MP_USER" "$n")" 2>/dev/null || true
		done
	fi
	dadm expunge -u "$MP_USER" mailbox INBOX all 2>/dev/null || true
	rm -f "$IMAP_HASH_CACHE"
	[ -z "$(dadm mailbox list -u "$MP_USER" | grep -vx INBOX)" ] || {
		echo "imap_reset: folders left: $(dadm mailbox list -u "$MP_USER" | tr '\n' ' ')" >&2
		return 1
	}
}

imap_create() {
	dadm mailbox create -u "$MP_USER" "$@"
}

imap_path() {
	dadm mailbox path -u "$MP_USER" "$1"
}

imap_seed() {
	local name=$1 dir
	shift
	dir=$(imap_path "$name") || return 1
	[ -d "$dir/new" ] || {
		echo "imap_seed: no Maildir for $name at $dir" >&2
		return 1
	}
	"$MP_PYTHON" -c "$_IMAP_PY" seed "$name" "$dir" "$@" || return 1
	imap_sync "$name"
}

imap_sync() {
	dadm mailbox status -u "$MP_USER" messages "$@" >/dev/null
}

imap_flags() {
	local op=$1 flags=$2 name=$3
	shift 3
	dadm flags "$op" -u "$MP_USER" "$flags" mailbox "$name" "$@"
}

imap_expunge() {
	local name=$1
	shift
	dadm expunge -u "$MP_USER" mailbox "$name" "$@"
}

imap_uids() {
	dadm fetch -u "$MP_USER" uid mailbox "$1" all | sed -n 's/^uid: //p'
}

imap_uidvalidity() {
	dadm mailbox status -u "$MP_USER" uidvalidity "$1" | sed 's/.*uidvalidity=//'
}

imap_folders() {
	# "mailbox status" lists the selectable ones only.
	dadm mailbox status -u "$MP_USER" messages '*' | sed 's/ messages=[0-9]*$//'
}

imap_opts() {
	echo --server "$(mp_url "${1:-imaps}")" --tls-ca-file "$MP_CA" --timeout 20
}

local_dir() {
	local rel
	rel=$("$MP_PYTHON" -c "$_IMAP_PY" localname "$2" "${3:-maildir++}")
	if [ -n "$rel" ]; then
		echo "$1/$rel"
	else
		echo "$1"
	fi
}

folder_count() {
	"$MP_PYTHON" -c "$_IMAP_PY" count "$1"
}

# The server's folders with their Maildirs, as NAME<TAB>DIR lines.
_imap_pairs() {
	local n
	imap_folders | while IFS= read -r n; do
		printf '%s\t%s\n' "$n" "$(imap_path "$n")"
	done
}

expect_backup_is_server() {
	local root=$1 layout=maildir++
	shift
	if [ "${1:-}" = --nested ]; then
		layout=nested
		shift
	fi
	_imap_pairs | "$MP_PYTHON" -c "$_IMAP_PY" compare "$root" "$layout" "$@"
}

expect_backup_sane() {
	local layout=maildir++
	[ "${2:-}" = --nested ] && layout=nested
	_imap_pairs | "$MP_PYTHON" -c "$_IMAP_PY" sane "$1" "$layout"
}

imap_server_messages() {
	_imap_pairs | "$MP_PYTHON" -c "$_IMAP_PY" messages
}

mbox_file() {
	"$MP_PYTHON" -c "$_IMAP_PY" mboxfile "$1" "$2"
}

expect_mbox_is_server() {
	_imap_pairs | "$MP_PYTHON" -c "$_IMAP_PY" mboxcompare "$1"
}

expect_mbox_sane() {
	_imap_pairs | "$MP_PYTHON" -c "$_IMAP_PY" mboxsane "$1"
}

tree_snapshot() {
	(cd "$1" && find . -printf '%p %y %s %T@\n' | LC_ALL=C sort)
}

# The fake's greeting and login; the test adds its own rules and DRAIN.
fake_imap_login() {
	cat <<-'EOF'
	S: * OK [CAPABILITY IMAP4rev1 LITERAL+] fake IMAP ready
	ON ^\S+ CAPABILITY => * CAPABILITY IMAP4rev1 LITERAL+\r\n$TAG OK done
	ON ^\S+ LOGIN => $TAG OK [CAPABILITY IMAP4rev1 LITERAL+] logged in
	ON ^\S+ LOGOUT => * BYE bye\r\n$TAG OK done
	ON ^\S+ NOOP => $TAG OK done
	EOF
}

fake_imap_opts() {
	echo --server "imap://alice@127.0.0.1:$FAKE_PORT" --tls=no --allow-plaintext-auth \
		--timeout 5 --jobs 1
}
