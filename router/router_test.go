package router_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/websocket"

	"paas/controller"
	"paas/router"
)

// startRouter serves a new Router on a loopback port until the test ends.
func startRouter(t testing.TB, opts router.Options) (*router.Router, string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	r, err := router.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return r, ln.Addr().String()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// backend is an app instance that answers with its name.
func backend(t *testing.T, name string) (*httptest.Server, controller.Endpoint) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv, endpoint(name, srv)
}

func endpoint(name string, srv *httptest.Server) controller.Endpoint {
	return controller.Endpoint{Instance: name, Release: 1, Address: strings.TrimPrefix(srv.URL, "http://")}
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

var client = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64},
}

// get sends a request for host to the router at addr.
func get(t *testing.T, addr, host, path string, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s%s: reading body: %v", host, path, err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func TestHostRouting(t *testing.T) {
	_, a1 := backend(t, "a.1")
	_, b1 := backend(t, "b.1")
	_, w1 := backend(t, "w.1")
	r, addr := startRouter(t, router.Options{})

	code, h, _ := get(t, addr, "a.localhost", "/", nil)
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Errorf("before any table: GET = %d (Retry-After %q), want 503 with Retry-After", code, h.Get("Retry-After"))
	}

	r.Update(controller.RoutingTable{Version: 1, BaseDomain: "localhost", Apps: []controller.AppRoute{
		{App: "a", Domains: []string{"a.localhost", "shop.example.com"}, Endpoints: []controller.Endpoint{a1}},
		{App: "b", Domains: []string{"b.localhost"}, Endpoints: []controller.Endpoint{b1}},
		{App: "c", Domains: []string{"c.localhost"}},
		{App: "d"}, // no domains: d.localhost
		{App: "w", Domains: []string{"w.localhost", "*.example.com", "*.apps.example.com"}, Endpoints: []controller.Endpoint{w1}},
	}})
	tests := []struct {
		host     string
		wantCode int
		wantBody string // a prefix
	}{
		{"a.localhost", 200, "a.1"},
		{"A.LOCALHOST:8000", 200, "a.1"},
		{"a.localhost.", 200, "a.1"},
		{"b.localhost", 200, "b.1"},
		{"shop.example.com", 200, "a.1"}, // exact beats the wildcard
		{"blog.example.com", 200, "w.1"},
		{"Blog.Example.com:80", 200, "w.1"},
		{"x.apps.example.com", 200, "w.1"},
		{"example.com", 404, "<!doctype html>"}, // a wildcard matches one label
		{"a.b.example.com", 404, "<!doctype"},   // ... just one
		{"nope.localhost", 404, "<!doctype html>"},
		{"127.0.0.1", 404, "<!doctype html>"},
		{"c.localhost", 503, "<!doctype html>"},
		{"d.localhost", 503, "<!doctype html>"},
	}
	for _, tt := range tests {
		code, h, body := get(t, addr, tt.host, "/", nil)
		if code != tt.wantCode || !strings.HasPrefix(body, tt.wantBody) {
			t.Errorf("GET Host %s = %d %.40q, want %d %q", tt.host, code, body, tt.wantCode, tt.wantBody)
		}
		if code == 503 && h.Get("Retry-After") == "" {
			t.Errorf("GET Host %s = 503 without Retry-After", tt.host)
		}
	}

	// Programs get JSON.
	code, h, body := get(t, addr, "nope.localhost", "/", http.Header{"Accept": {"application/json"}})
	var got struct {
		Error     string `json:"error"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != 404 || h.Get("Content-Type") != "application/json" {
		t.Errorf("GET unknown host as JSON = %d %s %q (%v), want 404 JSON", code, h.Get("Content-Type"), body, err)
	}
	if got.Error != "no_such_app" || len(got.RequestID) != 32 {
		t.Errorf("GET unknown host as JSON = %+v, want error no_such_app and a request id", got)
	}

	// An older table is ignored; a newer one replaces the whole table.
	r.Update(controller.RoutingTable{Version: 0})
	if code, _, _ := get(t, addr, "a.localhost", "/", nil); code != 200 {
		t.Errorf("after an older table: GET a.localhost = %d, want 200", code)
	}
	r.Update(controller.RoutingTable{Version: 2, Apps: []controller.AppRoute{
		{App: "b", Domains: []string{"b.localhost", "shop.example.com"}, Endpoints: []controller.Endpoint{b1}},
	}})
	if code, _, body := get(t, addr, "shop.example.com", "/", nil); code != 200 || body != "b.1" {
		t.Errorf("after table v2: GET shop.example.com = %d %q, want 200 b.1", code, body)
	}
	if code, _, _ := get(t, addr, "a.localhost", "/", nil); code != 404 {
		t.Errorf("after table v2: GET a.localhost = %d, want 404", code)
	}
	if got, want := r.Version(), int64(2); got != want {
		t.Errorf("Version() = %d, want %d", got, want)
	}
}

func TestInvalidDomainsAreSkipped(t *testing.T) {
	_, a1 := backend(t, "a.1")
	r, addr := startRouter(t, router.Options{})
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{"a.localhost", "bad`host", "*.*.example.com", "sp ace.com", "-x.com"}, Endpoints: []controller.Endpoint{a1}},
	}})
	if code, _, body := get(t, addr, "a.localhost", "/", nil); code != 200 || body != "a.1" {
		t.Errorf("GET a.localhost = %d %q, want 200 a.1", code, body)
	}
}

func TestRoundRobin(t *testing.T) {
	var eps []controller.Endpoint
	for i := 1; i <= 4; i++ {
		_, ep := backend(t, fmt.Sprintf("web.%d", i))
		eps = append(eps, ep)
	}
	r, addr := startRouter(t, router.Options{})
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{"a.localhost"}, Endpoints: eps},
	}})
	got := map[string]int{}
	for range 40 {
		code, _, body := get(t, addr, "a.localhost", "/", nil)
		if code != 200 {
			t.Fatalf("GET = %d %q, want 200", code, body)
		}
		got[body]++
	}
	want := map[string]int{"web.1": 10, "web.2": 10, "web.3": 10, "web.4": 10}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests per instance (-want +got):\n%s", diff)
	}
}

// TestUpdateUnderLoad swaps tables under a bounded concurrent load; an
// instance leaves the table before it stops, as in a rollout.
func TestUpdateUnderLoad(t *testing.T) {
	var srvs []*httptest.Server
	var eps []controller.Endpoint
	for i := 1; i <= 4; i++ {
		srv, ep := backend(t, fmt.Sprintf("web.%d", i))
		srvs, eps = append(srvs, srv), append(eps, ep)
	}
	r, addr := startRouter(t, router.Options{})
	version := int64(1)
	table := func(eps []controller.Endpoint) controller.RoutingTable {
		version++
		return controller.RoutingTable{Version: version, Apps: []controller.AppRoute{
			{App: "a", Domains: []string{"a.localhost"}, Endpoints: eps},
		}}
	}
	r.Update(table(eps))

	const workers, duration = 8, 2 * time.Second
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
				req.Host = "a.localhost"
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	// Flap web.4 in and out of the table, then remove it for good and stop it.
	for i := 0; i < 30 && ctx.Err() == nil; i++ {
		if i%2 == 0 {
			r.Update(table(eps[:3]))
		} else {
			r.Update(table(eps))
		}
		time.Sleep(25 * time.Millisecond)
	}
	r.Update(table(eps[:3]))
	time.Sleep(100 * time.Millisecond) // requests in flight on web.4 finish
	srvs[3].Close()
	wg.Wait()
	t.Logf("%d requests ok, %d failed, %d table swaps", ok.Load(), failed.Load(), version-1)
	if failed.Load() != 0 || ok.Load() < 100 {
		t.Errorf("under load with table swaps: %d ok, %d failed (first: %v), want 0 failed and at least 100 ok", ok.Load(), failed.Load(), firstErr.Load())
	}
	// Had a request gone to the stopped instance, the retry on refusal
	// would hide it; the retry counter does not.
	rec := httptest.NewRecorder()
	r.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if strings.Contains(rec.Body.String(), "paas_router_retries_total{") {
		t.Errorf("requests were retried after refusals: a removed instance was still routed to")
	}
}

func TestRefusedConnectionIsRetried(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		fmt.Fprint(w, "live")
	}))
	defer live.Close()
	dead := controller.Endpoint{Instance: "web.1", Address: closedAddr(t)}
	r, addr := startRouter(t, router.Options{})
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{"a.localhost"}, Endpoints: []controller.Endpoint{dead, endpoint("web.2", live)}},
	}})
	for i := range 10 {
		// A POST too: its body is still there for the second endpoint.
		req, _ := http.NewRequest("POST", "http://"+addr+"/", strings.NewReader(fmt.Sprint("body ", i)))
		req.Host = "a.localhost"
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "live" {
			t.Errorf("POST %d = %d %q, want 200 live", i, resp.StatusCode, b)
		}
	}
	// One retry: then the refusing instance is out of rotation.
	rec := httptest.NewRecorder()
	r.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if want := `paas_router_retries_total{app="a"} 1` + "\n"; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("metrics lack %q", want)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, b := range bodies {
		if want := fmt.Sprint("body ", i); b != want {
			t.Errorf("backend got body %q, want %q", b, want)
		}
	}
}

func TestBackendFailures(t *testing.T) {
	// An instance that accepts the request and hangs up without answering.
	hangup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			c.Close()
		}
	}))
	defer hangup.Close()
	r, addr := startRouter(t, router.Options{})
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "hangup", Domains: []string{"hangup.localhost"}, Endpoints: []controller.Endpoint{endpoint("web.1", hangup)}},
		{App: "dead", Domains: []string{"dead.localhost"}, Endpoints: []controller.Endpoint{{Instance: "web.1", Address: closedAddr(t)}}},
	}})
	tests := []struct {
		host string
		want []int // statuses of successive requests
	}{
		{"hangup.localhost", []int{502, 502}},
		// Refused, nowhere to retry: 502; then out of rotation: 503.
		{"dead.localhost", []int{502, 503}},
	}
	for _, tt := range tests {
		var got []int
		for range tt.want {
			code, _, _ := get(t, addr, tt.host, "/", nil)
			got = append(got, code)
		}
		if !cmp.Equal(got, tt.want) {
			t.Errorf("GET %s x%d = %v, want %v", tt.host, len(tt.want), got, tt.want)
		}
	}
}

func TestForwardedHeaders(t *testing.T) {
	seen := make(chan http.Header, 1)
	seenHost := make(chan string, 1)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		seenHost <- r.Host
	}))
	defer echo.Close()
	r, addr := startRouter(t, router.Options{})
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{"a.localhost"}, Endpoints: []controller.Endpoint{endpoint("web.1", echo)}},
	}})
	_, port, _ := net.SplitHostPort(addr)
	pick := func(h http.Header) map[string]string {
		m := map[string]string{}
		for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Request-Id"} {
			m[k] = h.Get(k)
		}
		return m
	}
	tests := []struct {
		name, host string
		in         http.Header
		want       map[string]string // X-Request-Id "*" means any generated one
	}{
		{"plain", "a.localhost:" + port, nil, map[string]string{
			"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": "a.localhost:" + port,
			"X-Forwarded-Proto": "http", "X-Forwarded-Port": port, "X-Request-Id": "*"}},
		{"spoofed forwarded, kept request id", "a.localhost", http.Header{
			"X-Forwarded-For": {"6.6.6.6"}, "X-Forwarded-Host": {"evil"}, "X-Request-Id": {"abc-123"}},
			map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": "a.localhost",
				"X-Forwarded-Proto": "http", "X-Forwarded-Port": "80", "X-Request-Id": "abc-123"}},
		{"bad request id replaced", "a.localhost", http.Header{"X-Request-Id": {"<script>"}},
			map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": "a.localhost",
				"X-Forwarded-Proto": "http", "X-Forwarded-Port": "80", "X-Request-Id": "*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, _ := get(t, addr, tt.host, "/", tt.in)
			if code != 200 {
				t.Fatalf("GET = %d, want 200", code)
			}
			got := pick(<-seen)
			if host := <-seenHost; host != tt.host {
				t.Errorf("backend saw Host %q, want %q", host, tt.host)
			}
			if tt.want["X-Request-Id"] == "*" {
				if len(got["X-Request-Id"]) != 32 {
					t.Errorf("backend saw X-Request-Id %q, want a generated one", got["X-Request-Id"])
				}
				got["X-Request-Id"] = "*"
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("headers seen by the backend (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHeaderTooLarge(t *testing.T) {
	_, a1 := backend(t, "a.1")
	r, addr := startRouter(t, router.Options{MaxHeaderBytes: 4 << 10})
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{"a.localhost"}, Endpoints: []controller.Endpoint{a1}},
	}})
	tests := []struct {
		size int
		want int
	}{
		{1 << 10, 200},
		{16 << 10, 431}, // beyond the limit and Go's 4 KiB of slack
	}
	for _, tt := range tests {
		code, _, _ := get(t, addr, "a.localhost", "/", http.Header{"X-Big": {strings.Repeat("x", tt.size)}})
		if code != tt.want {
			t.Errorf("GET with a %d-byte header = %d, want %d", tt.size, code, tt.want)
		}
	}
}

func TestBodyTooLarge(t *testing.T) {
	_, a1 := backend(t, "a.1")
	r, addr := startRouter(t, router.Options{MaxBodyBytes: 1 << 20})
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{"a.localhost"}, Endpoints: []controller.Endpoint{a1}, MaxBodyBytes: 1000},
		{App: "b", Domains: []string{"b.localhost"}, Endpoints: []controller.Endpoint{a1}}, // router default
	}})
	tests := []struct {
		host    string
		size    int
		chunked bool
		want    int
	}{
		{"a.localhost", 1000, false, 200},
		{"a.localhost", 1001, false, 413},
		{"a.localhost", 1000, true, 200},
		{"a.localhost", 5000, true, 413},
		{"b.localhost", 1 << 20, false, 200},
		{"b.localhost", 1<<20 + 1, false, 413},
		{"b.localhost", 2 << 20, true, 413},
	}
	for _, tt := range tests {
		var body io.Reader = strings.NewReader(strings.Repeat("x", tt.size))
		if tt.chunked {
			body = io.MultiReader(body) // unknown length: sent chunked
		}
		req, _ := http.NewRequest("POST", "http://"+addr+"/", body)
		req.Host = tt.host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST %s %d bytes: %v", tt.host, tt.size, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("POST %s %d bytes (chunked %v) = %d, want %d", tt.host, tt.size, tt.chunked, resp.StatusCode, tt.want)
		}
	}
}

// TestSlowHeaders: a client trickling its headers is cut off at the
// read-header timeout, while other clients are served.
func TestSlowHeaders(t *testing.T) {
	_, a1 := backend(t, "a.1")
	const timeout = 500 * time.Millisecond
	r, addr := startRouter(t, router.Options{ReadHeaderTimeout: timeout})
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{"a.localhost"}, Endpoints: []controller.Endpoint{a1}},
	}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		// The server closes the connection; reading sees EOF or a reset.
		_, _ = io.Copy(io.Discard, c)
		closed <- time.Since(start)
	}()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.localhost\r\n"); err != nil {
		t.Fatal(err)
	}
	var cutAt time.Duration
	served := 0
	for i := 0; i < 40 && cutAt == 0; i++ { // at most 40 × 50ms
		_, _ = fmt.Fprintf(c, "X-Slow-%d: x\r\n", i)
		if code, _, _ := get(t, addr, "a.localhost", "/", nil); code == 200 {
			served++
		}
		select {
		case cutAt = <-closed:
		case <-time.After(50 * time.Millisecond):
		}
	}
	if cutAt == 0 || cutAt < timeout-100*time.Millisecond || cutAt > timeout+time.Second {
		t.Errorf("trickling client cut off after %v (0: never), want about %v", cutAt, timeout)
	}
	if served == 0 {
		t.Errorf("no other client was served while one trickled its headers")
	}
}

func TestWebSocket(t *testing.T) {
	echo := httptest.NewServer(websocket.Handler(func(ws *websocket.Conn) {
		var msg string
		for websocket.Message.Receive(ws, &msg) == nil && websocket.Message.Send(ws, msg) == nil {
		}
	}))
	defer echo.Close()
	r, addr := startRouter(t, router.Options{})
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{"a.localhost"}, Endpoints: []controller.Endpoint{endpoint("web.1", echo)}},
	}})
	cfg, err := websocket.NewConfig("ws://a.localhost/echo", "http://a.localhost/")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	ws, err := websocket.NewClient(cfg, c)
	if err != nil {
		t.Fatalf("WebSocket handshake through the router: %v", err)
	}
	for _, msg := range []string{"hello", "world", strings.Repeat("z", 100<<10)} {
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := websocket.Message.Receive(ws, &got); err != nil {
			t.Fatal(err)
		}
		if got != msg {
			t.Errorf("echo of %.20q... = %.20q..., want the same", msg, got)
		}
	}
}

func TestSSEIsNotBuffered(t *testing.T) {
	release := make(chan struct{})
	sse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		fmt.Fprint(w, "data: two\n\n")
	}))
	defer sse.Close()
	defer close(release)
	r, addr := startRouter(t, router.Options{})
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{"a.localhost"}, Endpoints: []controller.Endpoint{endpoint("web.1", sse)}},
	}})
	req, _ := http.NewRequest("GET", "http://"+addr+"/events", nil)
	req.Host = "a.localhost"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Errorf("first SSE line = %q, %v; want %q before the backend finishes", line, err, "data: one\n")
	}
}

func TestMetricsAndAccessLog(t *testing.T) {
	_, a1 := backend(t, "web.1")
	var mu sync.Mutex
	var entries []router.AccessEntry
	r, addr := startRouter(t, router.Options{AccessLog: func(e router.AccessEntry) {
		mu.Lock()
		entries = append(entries, e)
		mu.Unlock()
	}})
	r.Update(controller.RoutingTable{Version: 7, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{"a.localhost"}, Endpoints: []controller.Endpoint{a1}},
		{App: "c", Domains: []string{"c.localhost"}},
	}})
	for range 3 {
		get(t, addr, "a.localhost", "/x", nil)
	}
	get(t, addr, "c.localhost", "/", http.Header{"X-Request-Id": {"req-c"}})
	get(t, addr, "nope.localhost", "/", nil)

	mu.Lock()
	var got []router.AccessEntry
	for _, e := range entries {
		if e.Duration <= 0 || e.Time.IsZero() || e.RemoteAddr == "" || e.RequestID == "" {
			t.Errorf("access entry %+v lacks duration, time, remote address or request id", e)
		}
		e.Duration, e.Time, e.RemoteAddr = 0, time.Time{}, ""
		if e.App == "a" {
			e.RequestID = ""
		}
		got = append(got, e)
	}
	mu.Unlock()
	a := router.AccessEntry{App: "a", Instance: "web.1", Method: "GET", Host: "a.localhost", Path: "/x", Status: 200, Bytes: 5}
	want := []router.AccessEntry{a, a, a,
		{App: "c", Method: "GET", Host: "c.localhost", Path: "/", Status: 503, Bytes: got[3].Bytes, RequestID: "req-c"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access log (-want +got):\n%s", diff)
	}

	rec := httptest.NewRecorder()
	r.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range []string{
		`paas_router_requests_total{app="a",code="2xx"} 3`,
		`paas_router_requests_total{app="c",code="5xx"} 1`,
		`paas_router_request_duration_seconds_count{app="a"} 3`,
		`paas_router_response_bytes_total{app="a"} 15`,
		`paas_router_unknown_host_requests_total 1`,
		`paas_router_table_version 7`,
		`paas_router_table_apps 2`,
	} {
		if !strings.Contains(rec.Body.String(), line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}

	// An app that leaves the table leaves the metrics.
	r.Update(controller.RoutingTable{Version: 8})
	rec = httptest.NewRecorder()
	r.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if strings.Contains(rec.Body.String(), `app="a"`) {
		t.Errorf("metrics still have app a after it left the table")
	}
}

// source is a TableSource that fails on demand, which the controller can't
// be made to do: a test double behind the router's own interface.
type source struct {
	mu     sync.Mutex
	tables []controller.RoutingTable // handed out in order
	fails  int                       // calls to fail first
	wake   chan struct{}             // a change: blocked calls look again
}

func (s *source) Table(ctx context.Context, after int64) (controller.RoutingTable, error) {
	for {
		s.mu.Lock()
		if s.fails > 0 {
			s.fails--
			s.mu.Unlock()
			return controller.RoutingTable{}, errors.New("controller unreachable")
		}
		for _, t := range s.tables {
			if t.Version > after {
				s.mu.Unlock()
				return t, nil
			}
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return controller.RoutingTable{}, ctx.Err()
		case <-s.wake:
		}
	}
}

func (s *source) change(f func()) {
	s.mu.Lock()
	f()
	s.mu.Unlock()
	s.wake <- struct{}{}
}

func TestRunFollowsSource(t *testing.T) {
	_, a1 := backend(t, "a.1")
	_, a2 := backend(t, "a.2")
	src := &source{fails: 2, wake: make(chan struct{}), tables: []controller.RoutingTable{
		{Version: 3, Apps: []controller.AppRoute{{App: "a", Domains: []string{"a.localhost"}, Endpoints: []controller.Endpoint{a1}}}},
	}}
	r, addr := startRouter(t, router.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, src) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	}()
	waitVersion := func(v int64) {
		t.Helper()
		for i := 0; i < 300 && r.Version() < v; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if got := r.Version(); got != v {
			t.Fatalf("Version() = %d, want %d", got, v)
		}
	}
	waitVersion(3) // after two failures and backoff
	if code, _, body := get(t, addr, "a.localhost", "/", nil); code != 200 || body != "a.1" {
		t.Errorf("GET a.localhost = %d %q, want 200 a.1", code, body)
	}
	// The controller becomes unreachable: the last table is served.
	src.change(func() { src.fails = 1000 })
	time.Sleep(300 * time.Millisecond)
	for range 5 {
		if code, _, body := get(t, addr, "a.localhost", "/", nil); code != 200 || body != "a.1" {
			t.Errorf("while the source fails: GET a.localhost = %d %q, want 200 a.1", code, body)
		}
	}
	// It comes back with a newer table.
	src.mu.Lock()
	src.fails = 0
	src.tables = append(src.tables, controller.RoutingTable{Version: 4, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{"a.localhost"}, Endpoints: []controller.Endpoint{a2}}}})
	src.mu.Unlock()
	waitVersion(4)
	if code, _, body := get(t, addr, "a.localhost", "/", nil); code != 200 || body != "a.2" {
		t.Errorf("GET a.localhost = %d %q, want 200 a.2", code, body)
	}
}

// TestResponseShapes passes responses of every framing through the router
// and reuses its backend connections in between.
func TestResponseShapes(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			io.WriteString(w, big)
		case "/chunked":
			for i := range 3 {
				fmt.Fprintf(w, "chunk %d;", i)
				w.(http.Flusher).Flush()
			}
		case "/close": // no length: the body ends when the connection does
			w.Header().Set("Connection", "close")
			c, brw, _ := http.NewResponseController(w).Hijack()
			brw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
			brw.Flush()
			c.Close()
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/notmodified":
			w.WriteHeader(http.StatusNotModified)
		case "/created":
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, "made")
		default:
			io.WriteString(w, r.Method+" "+r.URL.RequestURI())
		}
	}))
	// The backend drops idle connections quickly: the router must not fail
	// a request on a kept-alive connection that the backend has closed.
	app.Config.IdleTimeout = 50 * time.Millisecond
	app.Start()
	defer app.Close()
	r, addr := startRouter(t, router.Options{})
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{"a.localhost"}, Endpoints: []controller.Endpoint{endpoint("web.1", app)}},
	}})
	tests := []struct {
		method, path string
		wantCode     int
		wantBody     string
	}{
		{"GET", "/length", 200, big},
		{"GET", "/chunked", 200, "chunk 0;chunk 1;chunk 2;"},
		{"GET", "/close", 200, "until close"},
		{"GET", "/nocontent", 204, ""},
		{"GET", "/notmodified", 304, ""},
		{"GET", "/created", 201, "made"},
		{"HEAD", "/length", 200, ""},
		{"GET", "/q?a=1&b=%20x", 200, "GET /q?a=1&b=%20x"},
		{"DELETE", "/x", 200, "DELETE /x"},
		{"OPTIONS", "/x", 200, "OPTIONS /x"},
	}
	for round := range 2 {
		for _, tt := range tests {
			req, _ := http.NewRequest(tt.method, "http://"+addr+tt.path, nil)
			req.Host = "a.localhost"
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.path, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != tt.wantCode || string(body) != tt.wantBody {
				t.Errorf("round %d: %s %s = %d %.30q (%v), want %d %.30q", round, tt.method, tt.path, resp.StatusCode, body, err, tt.wantCode, tt.wantBody)
			}
		}
		time.Sleep(150 * time.Millisecond) // the backend closes the idle connections
	}
}

// TestStalledBody: a client that announces a body and stops sending it is
// cut off at the body read timeout (the CVE-2024-28869 pattern), with 408.
func TestStalledBody(t *testing.T) {
	_, a1 := backend(t, "a.1") // reads the whole body before answering
	const timeout = 300 * time.Millisecond
	r, addr := startRouter(t, router.Options{BodyReadTimeout: timeout})
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{"a.localhost"}, Endpoints: []controller.Endpoint{a1}},
	}})
	for _, method := range []string{"GET", "POST"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		fmt.Fprintf(c, "%s / HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 10\r\n\r\nab", method)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		took := time.Since(start)
		c.Close()
		if err != nil {
			t.Errorf("%s with a stalled body: %v after %v, want a 408", method, err, took)
			continue
		}
		if resp.StatusCode != http.StatusRequestTimeout || took < timeout || took > timeout+2*time.Second {
			t.Errorf("%s with a stalled body = %d after %v, want 408 after about %v", method, resp.StatusCode, took, timeout)
		}
	}
}

// TestServeDrainsOnShutdown: when Serve's context ends, a request in
// flight is answered before Serve returns.
func TestServeDrainsOnShutdown(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "done")
	}))
	defer slow.Close()
	r, err := router.New(router.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{"a.localhost"}, Endpoints: []controller.Endpoint{endpoint("web.1", slow)}},
	}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, ln) }()

	type result struct {
		code int
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() { // no t.Fatal off the test's goroutine
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/", nil)
		req.Host = "a.localhost"
		resp, err := client.Do(req)
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{resp.StatusCode, string(b), err}
	}()
	time.Sleep(100 * time.Millisecond) // the request is in flight
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
	select {
	case res := <-got:
		if res.err != nil || res.code != 200 || res.body != "done" {
			t.Errorf("request in flight at shutdown = %d %q (%v), want 200 done", res.code, res.body, res.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("request in flight at shutdown got no answer")
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Errorf("the listener still accepts after Serve returned")
	}
}
