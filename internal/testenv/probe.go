package testenv

import "strings"

// ContainmentProbe is a busybox shell script that looks at its container
// from inside and tries to leave it, one line of output per attempt: its
// capabilities, seccomp and no_new_privs; its uid and gid maps; a user
// namespace; a raw socket; a device node; who it is. The runtime's tests
// run it in instances and one-offs, the builder's in RUN steps.
const ContainmentProbe = `grep -E '^(CapEff|Seccomp|NoNewPrivs)' /proc/self/status
echo "uid_map $(cat /proc/self/uid_map)"
echo "gid_map $(cat /proc/self/gid_map)"
unshare -U true 2>&1; echo "unshare=$?"
ping -c1 -W1 127.0.0.1 >/dev/null 2>/tmp/ping.err; echo "ping=$? $(cat /tmp/ping.err)"
mknod /tmp/null c 1 3 2>&1; echo "mknod=$?"
rm -f /tmp/ping.err
echo "id $(id)"`

// ContainmentWant is ContainmentProbe's output in a contained container
// whose user is id (as id(1) prints it): containerd's capabilities
// without NET_RAW, MKNOD, SETFCAP and AUDIT_WRITE (0x405fb, not
// 0xa80425fb), seccomp filtering, no_new_privs, the user namespace of
// runtime.DefaultUserNS, and each escape refused with EPERM.
func ContainmentWant(id string) string {
	return `CapEff:	00000000000405fb
NoNewPrivs:	1
Seccomp:	2
Seccomp_filters:	1
uid_map 0 2000000000 65536
gid_map 0 2000000000 65536
unshare: unshare(0x10000000): Operation not permitted
unshare=1
ping=1 ping: permission denied (are you root?)
mknod: /tmp/null: Operation not permitted
mknod=1
id ` + id
}

// ContainmentOutput normalizes ContainmentProbe's output for comparison:
// the columns of the id maps squeezed, surrounding space trimmed.
func ContainmentOutput(s string) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if strings.HasPrefix(l, "uid_map") || strings.HasPrefix(l, "gid_map") {
			l = strings.Join(strings.Fields(l), " ")
		}
		out = append(out, strings.TrimRight(l, "\r"))
	}
	return strings.Join(out, "\n")
}
