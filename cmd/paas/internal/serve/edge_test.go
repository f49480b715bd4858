package serve

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"paas/router"
)

// TestAccessLogForget: forgetting a destroyed app writes the lines queued
// before it, then closes and removes the app's access log; a later app of
// the same name starts a new file with none of the former lines.
func TestAccessLogForget(t *testing.T) {
	dir := t.TempDir()
	l := newAccessLog(dir)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	now := time.Now()
	l.add(router.AccessEntry{App: "shop", Time: now, Method: "GET", Path: "/reset?token=former-owner", Status: 200})
	l.add(router.AccessEntry{App: "other", Time: now, Method: "GET", Path: "/kept", Status: 200})
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	if err := l.forget(fctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "shop.router.log")); !os.IsNotExist(err) {
		t.Errorf("after forget, shop.router.log: %v; want it removed", err)
	}
	l.add(router.AccessEntry{App: "shop", Time: now, Method: "GET", Path: "/new-owner", Status: 200})
	if err := l.forget(fctx, "nobody"); err != nil { // a barrier: the line above is written
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "shop.router.log"))
	if err != nil || strings.Contains(string(b), "former-owner") || !strings.Contains(string(b), "/new-owner") {
		t.Errorf("shop.router.log after a new app's request = %q, %v; want only the new line", b, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "other.router.log")); !strings.Contains(string(b), "/kept") {
		t.Errorf("other.router.log = %q, want its line kept", b)
	}
}
