# common.sh - shared by tools/demo.sh and tools/test.sh: install missing
# Debian packages, configure meson build directories. Source it; it expects
# `set -euo pipefail` in the caller and cwd at the repository root.

# Installs the Debian packages among "$@" that are not installed yet.
wsdbg_need_packages() {
	local missing=() pkg
	for pkg in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
			grep -q 'install ok installed'; then
			missing+=("$pkg")
		fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "wsdbg: installing missing Debian packages: ${missing[*]}"
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null; then
			sudo=(sudo)
		else
			echo "wsdbg: need root (or sudo) to install: ${missing[*]}" >&2
			return 1
		fi
	fi
	export DEBIAN_FRONTEND=noninteractive
	# Wait for another apt run (unattended upgrades) instead of failing.
	local wait=(-o DPkg::Lock::Timeout=600)
	"${sudo[@]}" apt-get "${wait[@]}" update -qq
	"${sudo[@]}" apt-get "${wait[@]}" install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
}

# Packages every build needs.
WSDBG_BUILD_PACKAGES=(build-essential meson ninja-build pkg-config zlib1g-dev uthash-dev
	libjansson-dev)

# Configures build directory $1 with the meson options that follow, once;
# later runs reuse it (ninja reconfigures when meson.build changes).
wsdbg_setup() {
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null
	fi
}
