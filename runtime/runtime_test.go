package runtime

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"paas/internal/testenv"
)

func TestPingRealContainerd(t *testing.T) {
	sock := testenv.Containerd(t)
	r := New(sock, "paas-test")
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := r.Ping(ctx)
	if err != nil || v == "" {
		t.Fatalf("Ping(%s) = %q, %v; want a version", sock, v, err)
	}
	// A second ping reuses the connection.
	if v2, err := r.Ping(ctx); err != nil || v2 != v {
		t.Errorf("second Ping = %q, %v; want %q", v2, err, v)
	}
}

func TestPingUnreachable(t *testing.T) {
	for _, addr := range []string{
		filepath.Join(t.TempDir(), "missing.sock"),
		t.TempDir(), // exists, but is no socket
	} {
		r := New(addr, "")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := r.Ping(ctx)
		cancel()
		r.Close()
		if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "unreachable") {
			t.Errorf("Ping(%s) = %v; want an 'unreachable' error naming the address", addr, err)
		}
	}
}
