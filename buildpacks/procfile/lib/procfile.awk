# Reads a Procfile ("name: command" lines; blank lines and lines starting
# with # are skipped) and prints launch.toml's [[processes]]. On a bad line
# it prints the reason and the line, and exits 1.

function bad(msg) {
	printf "Procfile line %d: %s\n    %s\n", NR, msg, raw
	failed = 1
	exit 1
}

# esc quotes s for a TOML basic string.
function esc(s,    out, c, k) {
	out = ""
	for (k = 1; k <= length(s); k++) {
		c = substr(s, k, 1)
		if (c == "\\" || c == "\"")
			out = out "\\"
		out = out c
	}
	return out
}

{
	raw = $0
	sub(/\r$/, "", raw)
	line = raw
	sub(/^[ \t]+/, "", line)
	sub(/[ \t]+$/, "", line)
	if (line == "" || substr(line, 1, 1) == "#")
		next
	i = index(line, ":")
	if (i == 0)
		bad("want \"name: command\"")
	name = substr(line, 1, i - 1)
	sub(/[ \t]+$/, "", name)
	cmd = substr(line, i + 1)
	sub(/^[ \t]+/, "", cmd)
	if (name !~ /^[a-z][a-z0-9_-]*$/)
		bad("bad process name \"" name "\": use lower-case letters, digits, '_' and '-', starting with a letter")
	if (cmd == "")
		bad("process \"" name "\" has no command")
	if (name in seen)
		bad("process \"" name "\" is declared twice")
	seen[name] = 1
	n++
	printf "[[processes]]\ntype = \"%s\"\ncommand = \"%s\"\n\n", name, esc(cmd)
}

END {
	if (!failed && n == 0) {
		print "Procfile: no processes declared (want lines of \"name: command\")"
		exit 1
	}
}
