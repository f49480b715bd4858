package logs

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"paas/controller"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(body)
	f.Close()
}

func TestMergeFilterFollow(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "shop.web.1.v3.aaaaaa.log"),
		"2026-11-22T21:00:00.5Z stdout listening\n2026-11-22T21:00:03Z stderr oops\n")
	writeFile(t, filepath.Join(dir, "shop.web.2.v3.bbbbbb.log"), "2026-11-22T21:00:01Z stdout listening too\n")
	writeFile(t, filepath.Join(dir, "shop.worker.1.v3.cccccc.log"), "2026-11-22T21:00:02Z stdout working\n")
	writeFile(t, filepath.Join(dir, "shop-two.web.1.v1.dddddd.log"), "2026-11-22T21:00:02Z stdout another app\n")
	events := func() []controller.Event {
		return []controller.Event{{Time: time.Date(2026, 11, 22, 21, 0, 1, 500, time.UTC), Message: "web.2 of v3 is healthy"}}
	}
	cases := []struct {
		process string
		lines   int
		want    []string
	}{
		{"", 0, []string{
			"2026-11-22T21:00:00Z app[web.1]: listening",
			"2026-11-22T21:00:01Z app[web.2]: listening too",
			"2026-11-22T21:00:01Z paas[scheduler]: web.2 of v3 is healthy",
			"2026-11-22T21:00:02Z app[worker.1]: working",
			"2026-11-22T21:00:03Z app[web.1]: oops",
		}},
		{"", 2, []string{"2026-11-22T21:00:02Z app[worker.1]: working", "2026-11-22T21:00:03Z app[web.1]: oops"}},
		{"web", 0, []string{"2026-11-22T21:00:00Z app[web.1]: listening", "2026-11-22T21:00:01Z app[web.2]: listening too", "2026-11-22T21:00:03Z app[web.1]: oops"}},
		{"web.2", 0, []string{"2026-11-22T21:00:01Z app[web.2]: listening too"}},
	}
	for _, c := range cases {
		var b bytes.Buffer
		if err := Write(context.Background(), &b, Options{App: "shop", Dir: dir, Lines: c.lines, Process: c.process, Events: events}); err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("Write(process %q, lines %d) (-want +got):\n%s", c.process, c.lines, diff)
		}
	}

	// Follow picks up new lines and new instances.
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuf
	done := make(chan error)
	go func() {
		done <- Write(ctx, &out, Options{App: "shop", Dir: dir, Lines: 1, Follow: true, Poll: 20 * time.Millisecond})
	}()
	time.Sleep(100 * time.Millisecond)
	writeFile(t, filepath.Join(dir, "shop.web.1.v3.aaaaaa.log"), "2026-11-22T21:00:04Z stdout later\n")
	writeFile(t, filepath.Join(dir, "shop.web.3.v3.eeeeee.log"), "2026-11-22T21:00:05Z stdout newcomer\n")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "newcomer") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := "2026-11-22T21:00:03Z app[web.1]: oops\n2026-11-22T21:00:04Z app[web.1]: later\n2026-11-22T21:00:05Z app[web.3]: newcomer\n"
	if out.String() != want {
		t.Errorf("followed output = %q, want %q", out.String(), want)
	}
}

// TestSinceAndGone: lines and events older than Since (a former app of
// the same name) are not shown, undated lines are; a followed stream ends
// when Gone says so.
func TestSinceAndGone(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "shop.web.1.v3.aaaaaa.log"),
		"2026-11-22T20:59:59.9Z stdout former owner\n2026-11-22T21:00:00Z stdout new owner\nundated\n")
	writeFile(t, filepath.Join(dir, "shop.router.log"), "2026-11-22T20:00:00Z stdout at=info path=\"/?token=former\"\n")
	events := func() []controller.Event {
		return []controller.Event{
			{Time: time.Date(2026, 11, 22, 20, 59, 0, 0, time.UTC), Message: "former event"},
			{Time: time.Date(2026, 11, 22, 21, 0, 1, 0, time.UTC), Message: "new event"},
		}
	}
	var b bytes.Buffer
	since := time.Date(2026, 11, 22, 21, 0, 0, 0, time.UTC)
	if err := Write(context.Background(), &b, Options{App: "shop", Dir: dir, Events: events, Since: since}); err != nil {
		t.Fatal(err)
	}
	want := "- app[web.1]: undated\n2026-11-22T21:00:00Z app[web.1]: new owner\n2026-11-22T21:00:01Z paas[scheduler]: new event\n"
	if b.String() != want {
		t.Errorf("Write(Since %v) = %q, want %q", since, b.String(), want)
	}

	gone := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Write(context.Background(), io.Discard, Options{App: "shop", Dir: dir, Follow: true, Poll: 10 * time.Millisecond,
			Gone: func() bool {
				select {
				case <-gone:
					return true
				default:
					return false
				}
			}})
	}()
	close(gone)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("followed Write ended with %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a followed stream went on after Gone said true")
	}
}
