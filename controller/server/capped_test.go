package server

import (
	"bytes"
	"fmt"
	"testing"
)

// TestCappedWriter: build output past the cap is dropped after one line
// that says so, and writes keep succeeding so the build goes on.
func TestCappedWriter(t *testing.T) {
	var buf bytes.Buffer
	w := &cappedWriter{w: &buf, left: 64 << 10, limit: 64 << 10}
	line := bytes.Repeat([]byte("x"), 1000)
	line[999] = '\n'
	for i := range 200 {
		if n, err := w.Write(line); n != len(line) || err != nil {
			t.Fatalf("Write %d = %d, %v; want %d, nil", i, n, err, len(line))
		}
	}
	marker := "\n-----> Build output truncated: it passed this server's limit of 64KiB; the rest is dropped (the build goes on)\n"
	want := string(bytes.Repeat(line, 66)[:64<<10]) + marker
	if got := buf.String(); got != want {
		t.Errorf("output: %d bytes ending %q; want %d bytes ending %q", len(got), tail(got), len(want), tail(want))
	}
}

func tail(s string) string { return fmt.Sprintf("%.120s", s[max(0, len(s)-120):]) }
