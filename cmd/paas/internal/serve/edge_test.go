package serve

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"paas/controller"
	"paas/controller/server"
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

// TestMetricsNeedAuth: paas server's /metrics, which names every app, is
// for admins and the metrics token only; /healthz tells anyone the status
// and only admins the components.
func TestMetricsNeedAuth(t *testing.T) {
	ctx := t.Context()
	const metricsToken = "0123456789abcdef0123456789abcdef"
	ctl, err := server.Open(ctx, server.Options{DataDir: t.TempDir(), MetricsToken: metricsToken,
		Health: func(context.Context) controller.Health {
			return controller.Health{Status: "ok", Components: map[string]controller.ComponentHealth{"containerd": {OK: true, Address: "/run/containerd/containerd.sock", Version: "1.6.20"}}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	admin, _, err := ctl.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rtr, err := router.New(router.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rtr.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{{App: "secret-project", Domains: []string{"secret-project.localhost"}}}})
	req := httptest.NewRequest("GET", "http://secret-project.localhost/", nil)
	rtr.ServeHTTP(httptest.NewRecorder(), req) // a request, so the app has series
	mux := apiMux(ctl, rtr)
	get := func(path, token string) (int, string) {
		req := httptest.NewRequest("GET", "http://paas.example/"+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		return w.Code, w.Body.String()
	}
	for _, c := range []struct {
		name, token string
		want        int
	}{
		{"anonymous", "", http.StatusUnauthorized},
		{"wrong token", "not-the-metrics-token", http.StatusUnauthorized},
		{"admin", admin, http.StatusOK},
		{"metrics token", metricsToken, http.StatusOK},
	} {
		code, body := get("metrics", c.token)
		if code != c.want || (code == http.StatusOK) != strings.Contains(body, "secret-project") {
			t.Errorf("GET /metrics as %s = %d (names the app: %v), want %d", c.name, code, strings.Contains(body, "secret-project"), c.want)
		}
	}
	if code, _ := get("v1/apps", metricsToken); code != http.StatusUnauthorized {
		t.Errorf("GET /v1/apps with the metrics token = %d, want 401: it reads metrics only", code)
	}
	code, body := get("healthz", "")
	if code != http.StatusOK || strings.TrimSpace(body) != "{\n  \"status\": \"ok\"\n}" {
		t.Errorf("GET /healthz anonymous = %d %q, want 200 and the status only", code, body)
	}
	if code, body := get("healthz", admin); code != http.StatusOK || !strings.Contains(body, "containerd.sock") {
		t.Errorf("GET /healthz as admin = %d %q, want the components", code, body)
	}
}

// TestMetricsTokenFile: the token is read from its file; a short one, or
// a missing file, stops the server with a clear error.
func TestMetricsTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := strings.Repeat("ab", 16)
	cases := []struct {
		file, want, err string
	}{
		{"", "", ""},
		{write("good", good+"\n"), good, ""},
		{write("short", "tooshort\n"), "", "at least 32 characters"},
		{write("two", good+" "+good), "", "one word"},
		{filepath.Join(dir, "missing"), "", "no such file"},
	}
	for _, c := range cases {
		got, err := (&Settings{MetricsTokenFile: c.file}).metricsToken()
		if got != c.want || (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("metricsToken(%s) = %q, %v; want %q, error with %q", c.file, got, err, c.want, c.err)
		}
	}
}
