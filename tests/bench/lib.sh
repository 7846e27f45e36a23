# tests/bench/lib.sh — the harness the benchmarks share, sourced by
# mailsend.sh, popfetch.sh and imapsync.sh once they have set REPO (the top
# of the repository): building the tool, installing peers, the private
# servers and home, the message generator, timing, medians and the verdict
# table. Each script keeps its own phases and output format.
# shellcheck shell=bash

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

# Microseconds since the epoch, from bash's own clock (no date process).
now_us() {
	local t=${EPOCHREALTIME/[.,]/}
	echo "$t"
}

# ---- the tools -----------------------------------------------------------

# bench_build TOOL VAR: set VAR to the path of the TOOL binary (cmd/TOOL/TOOL)
# in MP_BUILD; without MP_BUILD, in a release build without sanitizers made
# here in build-bench, building TOOL first.
bench_build() {
	local bin
	if [ -z "${MP_BUILD:-}" ]; then
		MP_BUILD=$REPO/build-bench
		if [ ! -f "$MP_BUILD/build.ninja" ]; then
			meson setup "$MP_BUILD" --buildtype=release -Db_sanitize=none \
				>/dev/null || die "meson setup failed"
		fi
		ninja -C "$MP_BUILD" "cmd/$1/$1" >/dev/null ||
			die "could not build $1 in $MP_BUILD"
	fi
	case $MP_BUILD in /*) ;; *) MP_BUILD=$REPO/$MP_BUILD ;; esac
	bin=$MP_BUILD/cmd/$1/$1
	[ -x "$bin" ] || die "no $1 binary at $bin"
	printf -v "$2" '%s' "$bin"
}

# bench_install PKG...: install the Debian packages named, if any.
bench_install() {
	[ "$#" -gt 0 ] || return 0
	echo "installing $* ..." >&2
	# A fresh machine may have no package lists yet: update once, then retry.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"$@" >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
				--no-install-recommends "$@" >/dev/null; } ||
		die "apt-get install $* failed"
}

if [ -x /usr/bin/python3 ]; then
	PY=/usr/bin/python3
else
	PY=python3
fi

# ---- servers and a private home -------------------------------------------

. "$REPO/tests/lib/servers.sh"

W=
cleanup() {
	servers_stop
	[ -n "$W" ] && rm -rf "$W"
}

# bench_start: a work directory W (removed at exit), Postfix and Dovecot
# started privately, and a home of its own for the tools.
bench_start() {
	trap cleanup EXIT
	trap 'exit 130' INT TERM

	W=$(mktemp -d "${TMPDIR:-/tmp}/mp-bench.XXXXXX") || die "mktemp failed"
	servers_start || die "could not start Dovecot and Postfix"

	# No tool may read the user's own configuration or state.
	export HOME=$W/home XDG_CONFIG_HOME=$W/config XDG_STATE_HOME=$W/state
	export XDG_CACHE_HOME=$W/cache
	mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_STATE_HOME"
	export MAILPIPE_PASSWORD=$MP_PASS
}

# ---- generating messages ----------------------------------------------------

# gen_msgs ARGS... <<'PY': run the script's own generator (Python, on stdin)
# with ARGS as sys.argv[1:], after the shared part below. The script sets
# uid and gid (the owner of what store writes) and rnd (a seeded
# random.Random), then POOL = make_pool(), before it draws anything: the
# same seed gives the same messages.
gen_msgs() {
	{ gen_msgs_lib; cat; } | "$PY" - "$@"
}

# Realistic messages: plain text, HTML, base64 attachments, with the
# headers a delivered message has.
gen_msgs_lib() {
	cat <<-'PY'
	import base64, math, os, random, sys, time

	T0 = 1767225600  # 2026-01-01

	WORDS = ("the of and to in is that for it as was with be by on not he this "
	         "are or his from at which but have an they you were her she there "
	         "would their we him been has when who will more no if out so said "
	         "what up its about into than them can only other new some could "
	         "time these two may then do first any my now such like our over "
	         "man me even most made after also did many before must through "
	         "invoice meeting quarterly report attached please review budget "
	         "schedule project deadline customer server backup release notes "
	         "Grüße Köln naïve café façade déjà Zürich smörgåsbord").split()

	def para_lines(n):
	    out = []
	    for _ in range(n):
	        ws, ln = [], 0
	        limit = rnd.randint(40, 76)
	        while ln < limit:
	            w = rnd.choice(WORDS)
	            ws.append(w)
	            ln += len(w) + 1
	        out.append(" ".join(ws))
	    return out

	# A pool of text lines that messages take slices of; a few lines that
	# POP3 has to dot-stuff, IMAP sends as they are and mbox would have to
	# quote.
	def make_pool():
	    pool = para_lines(20000)
	    for k in range(0, len(pool), 53):
	        pool[k] = rnd.choice([".", ".. two dots", ".leading dot", "From here on, a line",
	                              ">From the quoted side", "", "-- ", "> a quoted reply line"])
	    return pool

	def text_lines(size):
	    out, n = [], 0
	    k = rnd.randrange(len(POOL))
	    while n < size:
	        s = POOL[k % len(POOL)]
	        out.append(s)
	        n += len(s) + 1
	        k += 1
	    return out

	def html_lines(size):
	    out, n = ["<html><head><meta charset=\"utf-8\"></head><body>"], 60
	    while n < size:
	        s = "<p style=\"margin:0 0 12px 0;font-family:Arial,sans-serif\">" + \
	            " ".join(text_lines(rnd.randint(200, 900))) + "</p>"
	        out.append(s)
	        n += len(s) + 1
	    out.append("</body></html>")
	    return out

	def b64_lines(size):
	    raw = rnd.randbytes(max(1, size * 3 // 4))
	    return base64.encodebytes(raw).decode().splitlines()

	def rfcdate(t):
	    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))

	def header(i, t, ctype):
	    j = rnd.randint(1, 250)
	    sig = base64.b64encode(rnd.randbytes(256)).decode()
	    return [
	        "Return-Path: <sender%d@example.net>" % j,
	        "Delivered-To: alice@example.test",
	        "Received: from mx%d.example.net (mx%d.example.net [192.0.2.%d])" % (j, j, j),
	        "\tby mail.example.test (Postfix) with ESMTPS id %08X" % rnd.getrandbits(32),
	        "\tfor <alice@example.test>; %s" % rfcdate(t),
	        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.net; s=sel1;",
	        "\th=from:to:subject:date:message-id:mime-version;",
	        "\tbh=%s;" % base64.b64encode(rnd.randbytes(32)).decode(),
	        "\tb=" + sig[:120], "\t " + sig[120:240], "\t " + sig[240:],
	        "From: Sender %d <sender%d@example.net>" % (j, j),
	        "To: Alice <alice@example.test>",
	        "Subject: %s (benchmark message %d)" % (" ".join(rnd.sample(WORDS, 5)), i),
	        "Date: " + rfcdate(t),
	        "Message-ID: <bench.%d.%08x@example.net>" % (i, rnd.getrandbits(32)),
	        "MIME-Version: 1.0",
	    ] + ctype

	def message(i, t, kind, size):
	    if kind == "text":
	        head = header(i, t, ["Content-Type: text/plain; charset=utf-8",
	                             "Content-Transfer-Encoding: 8bit"])
	        body = text_lines(size - 1200)
	    else:
	        b = "=_bench_%d_%08x" % (i, rnd.getrandbits(32))
	        mixed = kind == "attach"
	        head = header(i, t, ["Content-Type: multipart/%s; boundary=\"%s\""
	                             % ("mixed" if mixed else "alternative", b)])
	        part_text = max(300, (size - 1500) // (6 if mixed else 4))
	        body = ["This is a multi-part message in MIME format.", "", "--" + b,
	                "Content-Type: text/plain; charset=utf-8",
	                "Content-Transfer-Encoding: 8bit", ""] + text_lines(part_text)
	        if mixed:
	            body += ["", "--" + b, "Content-Type: application/pdf; name=\"doc%d.pdf\"" % i,
	                     "Content-Disposition: attachment; filename=\"doc%d.pdf\"" % i,
	                     "Content-Transfer-Encoding: base64", ""] + \
	                    b64_lines(size - 1500 - part_text)
	        else:
	            body += ["", "--" + b, "Content-Type: text/html; charset=utf-8",
	                     "Content-Transfer-Encoding: 8bit", ""] + \
	                    html_lines(size - 1500 - part_text)
	        body += ["", "--" + b + "--"]
	    return ("\n".join(head + [""] + body) + "\n").encode()

	# The big one: MIB MiB, mostly a base64 video.
	def big_message(i, t, mib):
	    b = "=_bench_big"
	    head = header(i, t, ["Content-Type: multipart/mixed; boundary=\"%s\"" % b])
	    body = ["--" + b, "Content-Type: text/plain; charset=utf-8", "",
	            "The big one: a video attached.", "", "--" + b,
	            "Content-Type: video/mp4; name=\"big.mp4\"",
	            "Content-Disposition: attachment; filename=\"big.mp4\"",
	            "Content-Transfer-Encoding: base64", ""]
	    body += b64_lines(mib * 1024 * 1024 - 2000) + ["", "--" + b + "--"]
	    return ("\n".join(head + [""] + body) + "\n").encode()

	# The kinds and sizes of n messages: mostly plain text, some HTML, a few
	# attachments; about 29.6 KB on average: 148 MB for 5000 messages.
	def draw_sizes(n):
	    kinds, sizes = [], []
	    for _ in range(n):
	        r = rnd.random()
	        if r < 0.62:
	            kinds.append("text"); s = rnd.lognormvariate(math.log(5000), 0.7)
	        elif r < 0.85:
	            kinds.append("html"); s = rnd.lognormvariate(math.log(18000), 0.6)
	        else:
	            kinds.append("attach"); s = rnd.lognormvariate(math.log(70000), 1.1)
	        sizes.append(s)
	    scale = 29100.0 * n / sum(sizes) if n else 1
	    return kinds, [min(8 << 20, max(2000, int(s * scale))) for s in sizes]

	# Message i into MAILDIR/cur under a Dovecot-style name
	# (secs.MnPpid.host,S=size,W=crlf-size:2,FLAGS), so Dovecot takes the
	# sizes from the name; the mtime t is its INTERNALDATE.
	def store(maildir, i, t, data, flags):
	    name = "%d.M%dP%d.bench,S=%d,W=%d:2,%s" % (t, i, os.getpid(), len(data),
	                                              len(data) + data.count(b"\n"), flags)
	    path = os.path.join(maildir, "cur", name)
	    with open(path, "wb") as f:
	        f.write(data)
	    os.chown(path, uid, gid)
	    os.chmod(path, 0o600)
	    os.utime(path, (t, t))

	# What the sizes of the messages written add up to, for one line.
	def summary(real):
	    n = len(real)
	    real.sort()
	    return ("%.1f MB in all: mean %.1f KB, median %.1f KB, "
	            "95th percentile %.0f KB, largest %.2f MB, %d over 1 MB"
	            % (sum(real) / 1e6, sum(real) / n / 1e3, real[n // 2] / 1e3,
	               real[int(n * 0.95)] / 1e3, real[-1] / 1e6,
	               sum(1 for s in real if s > 1e6)))
	PY
}

# ---- measuring ----------------------------------------------------------------

# Whether the page cache may be dropped here (CAN_DROP yes or no), after a
# sync.
check_drop() {
	CAN_DROP=no
	sync
	if (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
		CAN_DROP=yes
	fi
}

# The starting line of every cold measured run: nothing dirty left over from
# the previous tool (its fsyncs would otherwise pay for it), the page cache
# dropped if allowed, then the server's side read back in (a server that
# just received its mail).
settle() {
	sync
	[ "$CAN_DROP" = yes ] && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
	find "$MP_MAILDIR" -type f -print0 | xargs -0 cat >/dev/null 2>&1
}

# Messages in one Maildir (new and cur, not its subfolders).
md_count() {
	find "$1/new" "$1/cur" -type f 2>/dev/null | wc -l
}

# calc EXPR: floating point arithmetic, two decimals.
calc() {
	awk "BEGIN { printf \"%.2f\", $1 }"
}

# Median of the numbers on stdin.
median() {
	sort -n | awk '{ v[NR] = $1 }
		END { if (NR == 0) exit 1
		      if (NR % 2) print v[(NR + 1) / 2]
		      else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Sorted times in ms of a file of microseconds.
sorted_ms() {
	sort -n "$1" | awk '{ printf "%.1f ", $1 / 1000 }'
}

# show_failure WHAT RC LOG: why a run failed, from the end of its log.
show_failure() {
	echo "${0##*/}: $1 failed (exit $2):" >&2
	tail -n 30 "$3" | sed 's/^/    /' >&2
}

# Exit statuses that mean success for a tool besides 0, set by the script.
declare -A TIMED_OK=()

# timed TOOL SLOT LOG [PREFIX...]: run TOOL once (the command line the
# script's tool_cmd sets in CMD, under PREFIX, e.g. /usr/bin/time), print
# its wall time in microseconds.
timed() {
	local tool=$1 slot=$2 log=$3 t0 t1 rc
	shift 3
	tool_cmd "$tool" "$slot"
	t0=$(now_us)
	"$@" "${CMD[@]}" >"$log" 2>&1
	rc=$?
	t1=$(now_us)
	[ "$rc" -eq "${TIMED_OK[$tool]:-0}" ] && rc=0
	if [ "$rc" -ne 0 ]; then
		show_failure "$tool" "$rc" "$log"
		return 1
	fi
	echo $((t1 - t0))
}

# ---- the verdicts ----------------------------------------------------------

# The script's row() adds a line of its table to rows; verdict MET TEXT one
# verdict.
rows=()
verdicts=()
verdict() { verdicts+=("$(printf '%-8s %s' "$1" "$2")"); }

# run_phases VALID...: run phaseP for each P in PHASES, each one of VALID;
# a phase that fails is a verdict "NOT met" and makes the return status 1.
run_phases() {
	local p started status=0
	for p in $PHASES; do
		case " $* " in
		*" $p "*) ;;
		*) die "unknown phase '$p' in BENCH_PHASES" ;;
		esac
		started=$SECONDS
		if ! "phase$p"; then
			verdict "NOT met" "$p: the phase failed (see above)"
			status=1
		fi
		echo "  (phase $p took $((SECONDS - started)) s)"
		echo
	done
	return "$status"
}

# print_table HEADER [NOTE...]: the table (HEADER, the rows, NOTE lines),
# then the verdicts.
print_table() {
	local line
	printf '%s\n' "$1"
	for line in "${rows[@]}"; do
		printf '%s\n' "$line"
	done
	shift
	for line in "$@"; do
		printf '%s\n' "$line"
	done
	echo
	for line in "${verdicts[@]}"; do
		printf 'verdict: %s\n' "$line"
	done
}
