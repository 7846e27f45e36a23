# fake.bash — bats helpers around tests/lib/fakeserver.py (loaded by common.bash).
#
#   fake_start SCRIPT|- [--tls NAME] [--implicit-tls] [fakeserver options]
#       start the fake in the background ("-" reads the script from stdin);
#       --tls NAME serves $MP_CERTS/NAME.pem with NAME-key.pem (call need_certs
#       first). Exports FAKE_PORT, FAKE_PID, FAKE_LOG.
#   fake_wait      wait (up to 10 s) for the fake to finish; sets FAKE_STATUS
#   fake_log       fake_wait, then print the log ("C: " lines are what the
#                  client sent, "S: " what the fake sent, "# " notes)
#   fake_stop      kill the fake if it still runs (teardown does this)

fake_start() {
	local script=$1 dir i args=()
	shift
	_fake_n=$((${_fake_n:-0} + 1))
	dir=$BATS_TEST_TMPDIR/fake$_fake_n
	mkdir -p "$dir"
	if [ "$script" = - ]; then
		cat >"$dir/script"
		script=$dir/script
	fi
	while [ $# -gt 0 ]; do
		case $1 in
		--tls)
			args+=(--tls-cert "$MP_CERTS/$2.pem" --tls-key "$MP_CERTS/$2-key.pem")
			shift 2
			;;
		*)
			args+=("$1")
			shift
			;;
		esac
	done
	FAKE_LOG=$dir/log
	: >"$FAKE_LOG"
	# fd 3 is bats' own; a background child holding it stalls bats.
	"$MP_PYTHON" "$MP_LIB/fakeserver.py" --script "$script" --port-file "$dir/port" \
		--log "$FAKE_LOG" "${args[@]}" >"$dir/stderr" 2>&1 3>&- &
	FAKE_PID=$!
	for ((i = 0; i < 100; i++)); do
		if [ -s "$dir/port" ]; then
			FAKE_PORT=$(cat "$dir/port")
			export FAKE_PORT FAKE_PID FAKE_LOG
			return 0
		fi
		kill -0 "$FAKE_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "fake_start: fakeserver did not start" >&2
	cat "$dir/stderr" >&2
	return 1
}

fake_wait() {
	local i
	[ -n "${FAKE_PID:-}" ] || return 0
	for ((i = 0; i < 200; i++)); do
		kill -0 "$FAKE_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill "$FAKE_PID" 2>/dev/null || true
	FAKE_STATUS=0
	wait "$FAKE_PID" 2>/dev/null || FAKE_STATUS=$?
	FAKE_PID=
	return 0
}

fake_log() {
	fake_wait
	cat "$FAKE_LOG"
}

fake_stop() {
	if [ -n "${FAKE_PID:-}" ]; then
		kill "$FAKE_PID" 2>/dev/null || true
		wait "$FAKE_PID" 2>/dev/null || true
		FAKE_PID=
	fi
	return 0
}
