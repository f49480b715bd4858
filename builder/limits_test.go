package builder_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"paas/builder"
	"paas/builder/internal/buildtest"
)

// TestBuildLimits: a RUN step that fork-bombs, one that allocates without
// bound and one that outlasts the build's timeout are each stopped by
// their limit, at once, with a message that names it; no image is left.
func TestBuildLimits(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, run string
		limits    builder.Limits
		want      string
	}{
		{"fork bomb", `RUN f(){ f|f& }; f; sleep 120`, builder.Limits{Pids: 64},
			"build reached its process limit (limit 64 processes) in Dockerfile:2: RUN f(){ f|f& }; f; sleep 120"},
		{"background sleeps", `RUN i=0; while [ $i -lt 100000 ]; do sleep 120 & i=$((i+1)); done; wait`, builder.Limits{Pids: 64},
			"build reached its process limit (limit 64 processes) in Dockerfile:2: RUN i=0; while [ $i -lt 100000 ]; do sleep 120 & i=$((i+1)); done; wait"},
		{"unbounded allocation", `RUN head -c 4294967296 /dev/zero | tail`, builder.Limits{Memory: 64 << 20},
			"build ran out of memory (limit 64MiB) in Dockerfile:2: RUN head -c 4294967296 /dev/zero | tail"},
		{"allocation the shell survives", `RUN head -c 4294967296 /dev/zero | tail || true`, builder.Limits{Memory: 64 << 20},
			"build ran out of memory (limit 64MiB) in Dockerfile:2: RUN head -c 4294967296 /dev/zero | tail || true"},
		{"timeout", `RUN sleep 120`, builder.Limits{Timeout: 3 * time.Second},
			"build timed out after 3s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"Dockerfile": "FROM busybox\n" + tt.run + "\n"})
			var out buildtest.SyncBuffer
			start := time.Now()
			_, err := e.b.Build(context.Background(), builder.Request{App: "shop", Dir: dir, Output: &out, Limits: tt.limits})
			took := time.Since(start)
			t.Logf("build output:\n%s", out.String())
			if err == nil || err.Error() != tt.want {
				t.Errorf("Build = %v, want %q", err, tt.want)
			}
			if !errors.Is(err, builder.ErrLimit) {
				t.Errorf("Build = %v, want an error matching ErrLimit", err)
			}
			if took > 30*time.Second {
				t.Errorf("Build took %s, want the limit to stop it within 30s", took)
			}
			assertNoAppImage(t, e)
			buildtest.AssertClean(t, e.ctx, e.c)
		})
	}
	// Within its limits the same kind of work succeeds.
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM busybox\nRUN head -c 16M /dev/zero | tail | wc -c; for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait\n"})
	if _, err := e.b.Build(context.Background(), builder.Request{App: "shop", Dir: dir, Limits: builder.Limits{Memory: 128 << 20, Pids: 64, Timeout: time.Minute}}); err != nil {
		t.Errorf("Build within limits = %v, want success", err)
	}
}

// countWriter counts what is written to it.
type countWriter struct{ n atomic.Int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

// TestLoudStepDoesNotFillHost: a RUN step that prints 256 MiB gets all of
// it to the build's output, while the file the shim writes it to on the
// host never holds more than a few MiB of it.
func TestLoudStepDoesNotFillHost(t *testing.T) {
	e := newEnv(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the step's output file is made
	const size = 256 << 20
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM busybox\nRUN yes paas | head -c 268435456\n"})
	var out countWriter
	done := make(chan error, 1)
	go func() {
		_, err := e.b.Build(context.Background(), builder.Request{App: "shop", Dir: dir, Output: &out})
		done <- err
	}()
	var peak int64
	for wait := true; wait; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Build = %v", err)
			}
			wait = false
		case <-time.After(5 * time.Millisecond):
		}
		files, _ := filepath.Glob(filepath.Join(tmp, "paas-build-log-*", "output"))
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil {
				peak = max(peak, fi.Sys().(*syscall.Stat_t).Blocks*512)
			}
		}
	}
	t.Logf("output %d bytes; the host file held at most %d bytes", out.n.Load(), peak)
	if out.n.Load() < size {
		t.Errorf("build output = %d bytes, want the step's %d and more", out.n.Load(), size)
	}
	if peak > 32<<20 {
		t.Errorf("the step's output file on the host held %d bytes at its peak, want at most 32 MiB", peak)
	}
}
