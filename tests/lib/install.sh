# install.sh — sourced by tests/run and tests/demo.
#
#   mp_install_deps    install the Debian packages mailpipe's build and tests
#                      need, only those missing; apt-get update only then.
# Works as root, or through sudo otherwise. apt output goes to a log that is
# shown only on failure.

MP_PACKAGES=(
	meson ninja-build gcc clang pkg-config libgnutls28-dev gnutls-bin
	bats mandoc python3
	dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix
)

_mp_installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

mp_install_deps() {
	local p missing=() sudo=() log rc=0
	for p in "${MP_PACKAGES[@]}"; do
		_mp_installed "$p" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0

	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null; then
			echo "install: missing packages (${missing[*]}) and not root, no sudo" >&2
			return 1
		fi
		sudo=(sudo)
	fi
	echo "install: ${missing[*]}"
	log=$(mktemp "${TMPDIR:-/tmp}/mp-install.XXXXXX")
	# Postfix asks how to configure itself; the tests bring their own config.
	{
		echo "postfix postfix/main_mailer_type select No configuration" |
			"${sudo[@]}" debconf-set-selections &&
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
			apt-get -q -o DPkg::Lock::Timeout=300 update &&
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
			apt-get -q -y -o DPkg::Lock::Timeout=300 \
			-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
			install --no-install-recommends "${missing[@]}"
	} >"$log" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		echo "install: apt-get failed (exit $rc):" >&2
		tail -n 40 "$log" >&2
		rm -f "$log"
		return 1
	fi
	rm -f "$log"
	for p in "${missing[@]}"; do
		if ! _mp_installed "$p"; then
			echo "install: $p still not installed" >&2
			return 1
		fi
	done
	return 0
}
