# shellcheck shell=bash
# deploy/lib.sh — shell functions shared by deploy/install.sh and tests/run.sh. Source it after
# defining say and die.

# ensure_packages PKG... installs with apt-get those of the Debian packages not installed yet,
# from the machine's own apt sources.
ensure_packages() {
	local p missing=()
	for p; do
		[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	say "installing ${missing[*]}"
	command -v apt-get >/dev/null || die "apt-get not found: this script expects Debian; install ${missing[*]} by hand"
	local apt_opts=(-q -y -o DPkg::Lock::Timeout=300)
	DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update
	DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}"
}

# require_go MINOR checks that Go 1.MINOR or newer is on PATH (adding /usr/local/go/bin if need
# be) and sets go_version to the installed toolchain's version.
require_go() {
	local min=$1
	if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
		export PATH="/usr/local/go/bin:$PATH"
	fi
	command -v go >/dev/null ||
		die "Go 1.$min or newer is needed and 'go' is not on PATH (nor in /usr/local/go/bin); install it from the Go downloads page into /usr/local/go and run this again"
	# The installed toolchain itself, not one go.mod might make it download.
	go_version=$(cd / && GOTOOLCHAIN=local go env GOVERSION)
	if [[ ! $go_version =~ ^go1\.([0-9]+) ]] || ((BASH_REMATCH[1] < min)); then
		die "Go 1.$min or newer is needed; $(command -v go) is $go_version"
	fi
}
