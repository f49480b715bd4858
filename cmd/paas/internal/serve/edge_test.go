package serve

import (
	"context"
	"fmt"
	"io"
	"net"
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

// oneTable is a router.TableSource that has one table and then waits.
type oneTable struct{ t controller.RoutingTable }

func (s oneTable) Table(ctx context.Context, after int64) (controller.RoutingTable, error) {
	if after < s.t.Version {
		return s.t, nil
	}
	<-ctx.Done()
	return controller.RoutingTable{}, ctx.Err()
}

// TestEdgeSendsAPIHostsToTheAPI runs the HTTP side as paas server does
// (the router's fast path, then the edge, the router and the API) with a
// routing table in which an app holds the API's host name and a wildcard
// over it, as a domain row slipped past the API's checks would give: every
// request for the API's name still reaches the API, in any spelling;
// the app keeps its other names.
func TestEdgeSendsAPIHostsToTheAPI(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "thief")
	}))
	defer app.Close()
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "api") })

	s := Settings{APIHosts: "paas.example.com", Listen: ":8000"}
	apiHosts, err := s.DeriveAPIHosts(func() (string, error) { return "box", nil })
	if err != nil {
		t.Fatal(err)
	}
	table := controller.RoutingTable{Version: 2, BaseDomain: "apps.example.com", APIHosts: apiHosts, Apps: []controller.AppRoute{{
		App:       "thief",
		Domains:   []string{"thief.apps.example.com", "paas.example.com", "*.example.com"},
		Endpoints: []controller.Endpoint{{Instance: "web.1", Release: 1, Address: strings.TrimPrefix(app.URL, "http://")}},
	}}}
	rtr, err := router.New(router.Options{BaseDomain: "apps.example.com", APIHosts: apiHosts})
	if err != nil {
		t.Fatal(err)
	}
	rtr.Update(table)
	front := newEdge("apps.example.com", apiHosts, rtr, api)
	ctx, cancel := context.WithCancel(context.Background())
	followed := make(chan struct{})
	go func() { front.follow(ctx, oneTable{table}); close(followed) }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		served <- rtr.ServeWith(ctx, ln, &http.Server{Handler: rtr.ACMEHandler(front), ReadHeaderTimeout: 5 * time.Second})
	}()
	defer func() {
		cancel()
		<-followed
		if err := <-served; err != nil {
			t.Errorf("ServeWith: %v", err)
		}
	}()
	// Wait until the edge has the table's custom domains.
	for deadline := time.Now().Add(5 * time.Second); !front.custom.Load().exact["paas.example.com"]; {
		if time.Now().After(deadline) {
			t.Fatal("the edge never took the table")
		}
		time.Sleep(10 * time.Millisecond)
	}

	client := &http.Client{Timeout: 5 * time.Second}
	for _, c := range []struct{ host, want string }{
		{"paas.example.com", "api"},
		{"paas.example.com:8000", "api"},
		{"PAAS.Example.COM.", "api"},
		{"127.0.0.1", "api"},
		{"thief.apps.example.com", "thief"},
		{"www.example.com", "thief"},
	} {
		for _, method := range []string{"GET", "POST"} { // POST with a body: the fast path's other branch
			req, err := http.NewRequest(method, "http://"+ln.Addr().String()+"/v1/me", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			req.Host = c.host
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s Host: %s: %v", method, c.host, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != c.want {
				t.Errorf("%s Host: %s reached %q (%d); want %q", method, c.host, body, resp.StatusCode, c.want)
			}
		}
	}
}

// TestDeriveAPIHosts: the default is derived from the git host, the listen
// address and the machine's name; --api-hosts replaces it.
func TestDeriveAPIHosts(t *testing.T) {
	hostname := func() (string, error) { return "Box.Example.NET", nil }
	for _, c := range []struct {
		s    Settings
		want string
	}{
		{Settings{Listen: ":8000"}, "box.example.net,localhost"},
		{Settings{Listen: ":8000", GitHost: "paas.example.com"}, "paas.example.com,box.example.net,localhost"},
		{Settings{Listen: "10.0.0.5:8000", GitHost: "Paas.Example.com."}, "paas.example.com,10.0.0.5,box.example.net,localhost"},
		{Settings{Listen: "[::]:8000"}, "box.example.net,localhost"},
		{Settings{Listen: ":8000", GitHost: "paas.example.com", APIHosts: "api.example.com, PAAS.example.com:443"}, "api.example.com,paas.example.com"},
	} {
		got, err := c.s.DeriveAPIHosts(hostname)
		if err != nil || strings.Join(got, ",") != c.want {
			t.Errorf("DeriveAPIHosts(%+v) = %q, %v; want %q", c.s, got, err, c.want)
		}
	}
	got, err := routerAPIHosts("", "http://Paas.example.com:8000")
	if err != nil || strings.Join(got, ",") != "paas.example.com" {
		t.Errorf("routerAPIHosts(\"\", controller URL) = %q, %v; want paas.example.com", got, err)
	}
}

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
