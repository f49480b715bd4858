package network

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteResolvConf(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stub := write("stub", "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch corp.example\n")
	real := write("real", "# real servers\nnameserver 10.0.0.2\nnameserver ::1\nnameserver 2001:db8::53\nsearch corp.example lab.example\noptions ndots:2\n")
	dst := filepath.Join(dir, "out", "resolv.conf")

	if err := WriteResolvConf(dst, stub, filepath.Join(dir, "missing"), real); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	want := "# Written by paas from the host's resolver configuration.\n" +
		"nameserver 10.0.0.2\nnameserver 2001:db8::53\nsearch corp.example lab.example\n" +
		"options single-request-reopen timeout:2 attempts:3 ndots:2\n"
	if string(b) != want {
		t.Errorf("resolv.conf =\n%s\nwant\n%s", b, want)
	}

	err = WriteResolvConf(filepath.Join(dir, "none"), stub)
	if err == nil || !strings.Contains(err.Error(), "no name server a container can reach") {
		t.Errorf("only a loopback stub: err = %v", err)
	}
}
