package router_test

// Tests of the fast path (router/internal/proxy/fast.go, router/serve.go):
// plain HTTP/1.1 requests for an app's exact domain, served without
// net/http. They speak raw HTTP to the router where the bytes on the wire
// matter (pipelining, framing, malformed input) and check what the apps
// receive; the apps are net/http servers, or raw TCP ones for responses
// net/http would not send.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"paas/controller"
	"paas/router"
)

const appHost = "a.localhost"

// fastRouter starts a router that serves app "a" at a.localhost from eps.
func fastRouter(t testing.TB, opts router.Options, eps ...controller.Endpoint) string {
	t.Helper()
	r, addr := startRouter(t, opts)
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{appHost}, Endpoints: eps},
	}})
	return addr
}

// hit is a request as an app received it.
type hit struct {
	method, uri, host string
	header            http.Header
	contentLength     int64
	transferEncoding  []string
	body              string
	bodyErr           error
}

// sig sums a hit up for comparisons: method, target and body (its length
// when long).
func (h hit) sig() string {
	s := h.method + " " + h.uri
	switch {
	case len(h.body) > 32:
		s += fmt.Sprintf(" <%d bytes>", len(h.body))
	case h.body != "":
		s += " " + h.body
	}
	return s
}

// recorder is a net/http app instance that records each request it
// receives, body read to the end, and answers "<method> <target> <body
// length>" — or calls answer, if set.
type recorder struct {
	ep    controller.Endpoint
	hits  chan hit
	conns atomic.Int64 // connections accepted
}

func newRecorder(t *testing.T, name string, answer http.HandlerFunc) *recorder {
	t.Helper()
	rec := &recorder{hits: make(chan hit, 1000)}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		rec.hits <- hit{method: r.Method, uri: r.URL.RequestURI(), host: r.Host, header: r.Header.Clone(),
			contentLength: r.ContentLength, transferEncoding: r.TransferEncoding, body: string(b), bodyErr: err}
		if answer != nil {
			answer(w, r)
			return
		}
		fmt.Fprintf(w, "%s %s %d", r.Method, r.URL.RequestURI(), len(b))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			rec.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	rec.ep = endpoint(name, srv)
	return rec
}

// next returns the next request the app received.
func (rec *recorder) next(t *testing.T) hit {
	t.Helper()
	select {
	case h := <-rec.hits:
		return h
	case <-time.After(5 * time.Second):
		t.Fatal("the app received no request within 5s")
		return hit{}
	}
}

// before sends a GET for path through the router at addr and returns the
// requests the app received before it, as sigs: once the app has that
// one, it has all that were sent before.
func (rec *recorder) before(t *testing.T, addr, path string) []string {
	t.Helper()
	if code, _, _ := get(t, addr, appHost, path, nil); code != 200 {
		t.Fatalf("GET %s = %d, want 200", path, code)
	}
	var got []string
	for {
		h := rec.next(t)
		if h.uri == path {
			return got
		}
		got = append(got, h.sig())
	}
}

// rawClient is a client connection to the router, spoken over raw TCP.
type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // nothing hangs
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawClient) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatalf("writing %.40q: %v", s, err)
	}
}

// response is a response as the client read it.
type response struct {
	code    int
	status  string // the first status line read, which a 1xx would be
	header  http.Header
	trailer http.Header
	body    string
	close   bool // Connection: close (net/http takes it out of header)
}

// read reads the response to a request with method, body and all.
func (rc *rawClient) read(method string) response {
	rc.t.Helper()
	resp, err := rc.tryRead(method)
	if err != nil {
		rc.t.Fatalf("reading the response to %s: %v", method, err)
	}
	return resp
}

func (rc *rawClient) tryRead(method string) (response, error) {
	line, _ := rc.br.Peek(12)
	status := string(line)
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		return response{status: status}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, status: status, header: resp.Header, trailer: resp.Trailer, body: string(b), close: resp.Close}, err
}

// closed reports whether the router closes the connection (within 5s): a
// read ends with no data.
func (rc *rawClient) closed() bool {
	_ = rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := rc.br.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// getOK sends a GET for path on the connection and checks that the
// recorder answers it.
func (rc *rawClient) getOK(path string) {
	rc.t.Helper()
	rc.send("GET " + path + " HTTP/1.1\r\nHost: " + appHost + "\r\n\r\n")
	resp := rc.read("GET")
	if want := "GET " + path + " 0"; resp.code != 200 || resp.body != want {
		rc.t.Errorf("GET %s on the same connection = %d %q, want 200 %q", path, resp.code, resp.body, want)
	}
}

// rawApp is an app instance written against the socket, for responses
// net/http would not send: serve handles each connection the router opens.
type rawApp struct {
	ep    controller.Endpoint
	conns atomic.Int64 // connections accepted
}

func newRawApp(t testing.TB, name string, serve func(c net.Conn, br *bufio.Reader)) *rawApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := &rawApp{ep: controller.Endpoint{Instance: name, Release: 1, Address: ln.Addr().String()}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			app.conns.Add(1)
			_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // nothing hangs
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return app
}

// reply is what a scripted raw app sends for a request.
type reply struct {
	raw    string
	hangUp bool // close the connection after raw
	reset  bool // reset it after raw
}

// okReply answers the requests a script does not name.
var okReply = reply{raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}

// script serves each request on a connection with the reply for its path.
func script(replies map[string]reply) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			rp, ok := replies[req.URL.Path]
			if !ok {
				rp = okReply
			}
			if _, err := io.WriteString(c, rp.raw); err != nil {
				return
			}
			if rp.reset {
				_ = c.(*net.TCPConn).SetLinger(0)
			}
			if rp.hangUp || rp.reset {
				return
			}
		}
	}
}

// namedReply is a test case: what the app answers, and its name.
type namedReply struct {
	name  string
	reply reply
}

// scriptedRouter starts a raw app answering "/<i>" with tests[i]'s reply
// and a router in front of it, and returns the router's address.
func scriptedRouter(t *testing.T, tests []namedReply) string {
	t.Helper()
	replies := map[string]reply{}
	for i, tt := range tests {
		replies[fmt.Sprint("/", i)] = tt.reply
	}
	app := newRawApp(t, "web.1", script(replies))
	return fastRouter(t, router.Options{}, app.ep)
}

func TestFastKeepAlive(t *testing.T) {
	app := newRecorder(t, "web.1", nil)
	addr := fastRouter(t, router.Options{}, app.ep)

	rc := dialRaw(t, addr)
	for i := range 30 {
		rc.getOK(fmt.Sprintf("/raw/%d?i=%d", i, i))
	}

	// A net/http client: its connection is kept too.
	var reused atomic.Int64
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	for i := range 20 {
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(ci httptrace.GotConnInfo) {
				if ci.Reused {
					reused.Add(1)
				}
			},
		})
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%s/client/%d", addr, i), nil)
		req.Host = appHost
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("GET /client/%d 0", i); err != nil || resp.StatusCode != 200 || string(b) != want {
			t.Errorf("GET /client/%d = %d %q (%v), want 200 %q", i, resp.StatusCode, b, err, want)
		}
	}
	if got := reused.Load(); got != 19 {
		t.Errorf("net/http client reused its connection for %d of 20 requests, want 19", got)
	}
	if got := app.conns.Load(); got != 1 {
		t.Errorf("the app accepted %d connections for 50 sequential requests, want 1 (reused)", got)
	}
}

func TestFastPipelining(t *testing.T) {
	type req struct{ raw, method, want string }
	fast := []req{
		{"GET /1 HTTP/1.1\r\nHost: a.localhost\r\n\r\n", "GET", "GET /1 0"},
		{"POST /2 HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 5\r\n\r\nhello", "POST", "POST /2 5"},
		{"HEAD /3 HTTP/1.1\r\nHost: a.localhost\r\n\r\n", "HEAD", ""},
		{"GET /4?x=y HTTP/1.1\r\nHost: a.localhost\r\n\r\n", "GET", "GET /4?x=y 0"},
		{"PUT /5 HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 0\r\n\r\n", "PUT", "PUT /5 0"},
		{"POST /6 HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 11\r\n\r\nGET /x\r\n\r\n!", "POST", "POST /6 11"},
		{"DELETE /7 HTTP/1.1\r\nHost: a.localhost\r\n\r\n", "DELETE", "DELETE /7 0"},
	}
	handedOver := req{"POST /te HTTP/1.1\r\nHost: a.localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "POST", "POST /te 3"}
	tests := []struct {
		name string
		reqs []req
	}{
		{"fast path", fast},
		{"hand-over in the middle", append(append(append([]req{}, fast[:3]...), handedOver), fast[3:]...)},
		{"many", func() []req {
			var rs []req
			for i := range 100 {
				rs = append(rs, req{fmt.Sprintf("GET /m%d HTTP/1.1\r\nHost: a.localhost\r\n\r\n", i), "GET", fmt.Sprintf("GET /m%d 0", i)})
			}
			return rs
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := newRecorder(t, "web.1", nil)
			addr := fastRouter(t, router.Options{}, app.ep)
			rc := dialRaw(t, addr)
			var all strings.Builder
			for _, r := range tt.reqs {
				all.WriteString(r.raw)
			}
			rc.send(all.String()) // at once
			for i, r := range tt.reqs {
				resp := rc.read(r.method)
				if resp.code != 200 || resp.body != r.want {
					t.Errorf("pipelined response %d (%s) = %d %q, want 200 %q", i, r.method, resp.code, resp.body, r.want)
				}
			}
			var want, got []string
			for _, r := range tt.reqs {
				want = append(want, strings.Fields(r.raw)[0]+" "+strings.Fields(r.raw)[1])
				h := app.next(t)
				got = append(got, h.method+" "+h.uri)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("requests the app received (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFastRequestBodies(t *testing.T) {
	app := newRecorder(t, "web.1", nil)
	addr := fastRouter(t, router.Options{}, app.ep)
	rnd := rand.New(rand.NewChaCha8([32]byte{1}))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	tests := []struct {
		name, method string
		body         []byte
	}{
		{"one byte", "POST", []byte("x")},
		{"a request in the body", "POST", []byte("GET /smuggled HTTP/1.1\r\nHost: a.localhost\r\n\r\n")},
		{"just under the read buffer", "PUT", random(8<<10 - 1)},
		{"just over the read buffer", "PATCH", random(8<<10 + 1)},
		{"64 KiB and a bit", "POST", random(64<<10 + 3)},
		{"5 MiB", "POST", random(5 << 20)},
		{"DELETE with a body", "DELETE", random(100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, "http://"+addr+"/up", bytes.NewReader(tt.body))
			req.Host = appHost
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := fmt.Sprintf("%s /up %d", tt.method, len(tt.body)); resp.StatusCode != 200 || string(b) != want {
				t.Errorf("%s %d bytes = %d %q, want 200 %q", tt.method, len(tt.body), resp.StatusCode, b, want)
			}
			h := app.next(t)
			if h.body != string(tt.body) || h.bodyErr != nil {
				t.Errorf("the app got a %d-byte body (%v), want the %d bytes sent", len(h.body), h.bodyErr, len(tt.body))
			}
			if h.contentLength != int64(len(tt.body)) || h.transferEncoding != nil {
				t.Errorf("the app got Content-Length %d, Transfer-Encoding %q; want %d and none", h.contentLength, h.transferEncoding, len(tt.body))
			}
		})
	}
	if got := app.before(t, addr, "/sentinel"); len(got) != 0 {
		t.Errorf("the app received requests nobody sent: %q", got)
	}
}

// TestFastStalledBody: a client that stalls in the middle of a body, after
// part of it went to the app, gets 408 and is disconnected; the app sees
// the body cut short, not a complete one.
func TestFastStalledBody(t *testing.T) {
	app := newRecorder(t, "web.1", nil)
	const timeout = 300 * time.Millisecond
	addr := fastRouter(t, router.Options{BodyReadTimeout: timeout}, app.ep)
	rc := dialRaw(t, addr)
	const length = 100 << 10
	start := time.Now()
	rc.send(fmt.Sprintf("POST /stall HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: %d\r\n\r\n%s", length, strings.Repeat("x", 20<<10)))
	resp := rc.read("POST")
	took := time.Since(start)
	if resp.code != http.StatusRequestTimeout || took < timeout || took > timeout+3*time.Second {
		t.Errorf("POST with a body stalled after 20 KiB = %d after %v, want 408 after about %v", resp.code, took, timeout)
	}
	if !resp.close {
		t.Errorf("408 lacks Connection: close")
	}
	if !rc.closed() {
		t.Errorf("the connection stays open after the 408")
	}
	if h := app.next(t); h.bodyErr == nil || len(h.body) >= length {
		t.Errorf("the app read %d bytes of body (err %v), want a body cut short", len(h.body), h.bodyErr)
	}
}

// TestFastTrickledBody: a body that comes slowly but steadily arrives, in
// particular when BodyReadTimeout is negative (no limit) and the upload
// outlasts the idle or read-header timeout. The chunked case goes to
// net/http: it shows the answer the fast path must match.
func TestFastTrickledBody(t *testing.T) {
	tests := []struct {
		name      string
		opts      router.Options
		splitHead bool // the head in two writes: it is read in two
		chunked   bool // handed over to net/http
	}{
		{"within the body read timeout", router.Options{BodyReadTimeout: 400 * time.Millisecond}, false, false},
		{"no body read timeout, longer than the idle timeout", router.Options{BodyReadTimeout: -1, IdleTimeout: 400 * time.Millisecond}, false, false},
		{"no body read timeout, longer than the read-header timeout", router.Options{BodyReadTimeout: -1, ReadHeaderTimeout: 400 * time.Millisecond}, true, false},
		{"chunked, no body read timeout, longer than the idle timeout", router.Options{BodyReadTimeout: -1, IdleTimeout: 400 * time.Millisecond}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app := newRecorder(t, "web.1", nil)
			addr := fastRouter(t, tt.opts, app.ep)
			rc := dialRaw(t, addr)
			const pieces, size, pause = 12, 100, 100 * time.Millisecond // 1.2s in all
			head := fmt.Sprintf("POST /slow HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: %d\r\n\r\n", pieces*size)
			if tt.chunked {
				head = "POST /slow HTTP/1.1\r\nHost: a.localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
			}
			if tt.splitHead {
				i := strings.Index(head, "Content-Length")
				rc.send(head[:i])
				time.Sleep(pause)
				head = head[i:]
			}
			rc.send(head)
			start := time.Now()
			for i := range pieces {
				time.Sleep(pause)
				piece := strings.Repeat(string(rune('a'+i)), size)
				if tt.chunked {
					piece = fmt.Sprintf("%x\r\n%s\r\n", size, piece)
					if i == pieces-1 {
						piece += "0\r\n\r\n"
					}
				}
				if _, err := io.WriteString(rc.c, piece); err != nil {
					t.Errorf("writing the body: %v after %v", err, time.Since(start))
					break
				}
			}
			resp, err := rc.tryRead("POST")
			if want := fmt.Sprintf("POST /slow %d", pieces*size); err != nil || resp.code != 200 || resp.body != want {
				t.Errorf("POST trickled over %v = %d %.60q (%v), want 200 %q", pieces*pause, resp.code, resp.body, err, want)
			}
		})
	}
}

func TestFastBodyTooLarge(t *testing.T) {
	app := newRecorder(t, "web.1", nil)
	r, addr := startRouter(t, router.Options{MaxBodyBytes: 2000})
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{appHost}, Endpoints: []controller.Endpoint{app.ep}, MaxBodyBytes: 1000},
		{App: "b", Domains: []string{"b.localhost"}, Endpoints: []controller.Endpoint{app.ep}}, // the router's limit
	}})
	tests := []struct {
		host string
		size int
		want int
	}{
		{appHost, 1000, 200},
		{appHost, 1001, 413},
		{"b.localhost", 2000, 200},
		{"b.localhost", 2001, 413},
	}
	for i, tt := range tests {
		rc := dialRaw(t, addr)
		rc.send(fmt.Sprintf("POST /big%d HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", i, tt.host, tt.size, strings.Repeat("x", tt.size)))
		if resp := rc.read("POST"); resp.code != tt.want {
			t.Errorf("POST %s with %d bytes = %d, want %d", tt.host, tt.size, resp.code, tt.want)
		}
		var want []string
		if tt.want == 200 {
			want = []string{fmt.Sprintf("POST /big%d <%d bytes>", i, tt.size)}
		}
		if diff := cmp.Diff(want, app.before(t, addr, fmt.Sprint("/sentinel", i))); diff != "" {
			t.Errorf("POST %s with %d bytes: requests the app received (-want +got):\n%s", tt.host, tt.size, diff)
		}
	}
}

// TestFastResponseFraming passes responses of every framing, byte for
// byte as an app may send them, and checks each leaves the client's
// connection usable (or closes it, when the body ends with the app's
// connection).
func TestFastResponseFraming(t *testing.T) {
	bigCookie := "big=" + strings.Repeat("c", 20<<10)
	tests := []struct {
		name, method string
		reply        reply
		wantCode     int
		wantBody     string
		wantHeader   map[string]string // "" for absent
		wantTrailer  map[string]string
		wantClose    bool // the router closes the client's connection after
	}{
		{
			name: "content length", method: "GET",
			reply:    reply{raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-App: yes\r\n\r\nhello"},
			wantCode: 200, wantBody: "hello", wantHeader: map[string]string{"X-App": "yes", "Content-Length": "5"},
		},
		{
			name: "chunked with trailers", method: "GET",
			reply: reply{raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
				"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n"},
			wantCode: 200, wantBody: "hello world", wantTrailer: map[string]string{"X-Sum": "42"},
		},
		{
			name: "close-delimited", method: "GET",
			reply:    reply{raw: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", hangUp: true},
			wantCode: 200, wantBody: "until the end", wantClose: true,
		},
		{
			name: "HTTP/1.0 close-delimited", method: "GET",
			reply:    reply{raw: "HTTP/1.0 200 OK\r\n\r\nold", hangUp: true},
			wantCode: 200, wantBody: "old", wantClose: true,
		},
		{
			name: "HEAD with a length", method: "HEAD",
			reply:    reply{raw: "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"},
			wantCode: 200, wantBody: "", wantHeader: map[string]string{"Content-Length": "1234"},
		},
		{
			name: "HEAD chunked", method: "HEAD",
			reply:    reply{raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
			wantCode: 200, wantBody: "",
		},
		{
			name: "204", method: "GET",
			reply:    reply{raw: "HTTP/1.1 204 No Content\r\nX-App: yes\r\n\r\n"},
			wantCode: 204, wantHeader: map[string]string{"X-App": "yes"},
		},
		{
			name: "304 with the length of the resource", method: "GET",
			reply:    reply{raw: "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 10\r\n\r\n"},
			wantCode: 304, wantHeader: map[string]string{"Etag": `"v1"`},
		},
		{
			name: "103 Early Hints dropped", method: "GET",
			reply: reply{raw: "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" +
				"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"},
			wantCode: 200, wantBody: "hi", wantHeader: map[string]string{"Link": ""},
		},
		{
			name: "100 Continue dropped", method: "GET",
			reply: reply{raw: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n" +
				"HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nmade"},
			wantCode: 201, wantBody: "made",
		},
		{
			name: "header line over 8 KiB", method: "GET",
			reply:    reply{raw: "HTTP/1.1 200 OK\r\nSet-Cookie: " + bigCookie + "\r\nContent-Length: 2\r\n\r\nok"},
			wantCode: 200, wantBody: "ok", wantHeader: map[string]string{"Set-Cookie": bigCookie},
		},
		{
			name: "hop-by-hop headers dropped", method: "GET",
			reply: reply{raw: "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5, max=100\r\n" +
				"Proxy-Connection: keep-alive\r\nContent-Length: 2\r\n\r\nok"},
			wantCode: 200, wantBody: "ok",
			wantHeader: map[string]string{"Connection": "", "Keep-Alive": "", "Proxy-Connection": ""},
		},
		{
			// RFC 9110 section 7.6.1: a proxy removes the headers that
			// Connection names, as httputil.ReverseProxy does.
			name: "headers named by Connection dropped", method: "GET",
			reply:    reply{raw: "HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: secret\r\nContent-Length: 2\r\n\r\nok"},
			wantCode: 200, wantBody: "ok", wantHeader: map[string]string{"Connection": "", "X-Hop": ""},
		},
		{
			name: "app closes after a response with a length", method: "GET",
			reply:    reply{raw: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye", hangUp: true},
			wantCode: 200, wantBody: "bye", wantHeader: map[string]string{"Connection": ""},
		},
	}
	replies := map[string]reply{}
	for i, tt := range tests {
		replies[fmt.Sprint("/case", i)] = tt.reply
	}
	app := newRawApp(t, "web.1", script(replies))
	addr := fastRouter(t, router.Options{}, app.ep)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, addr)
			rc.send(fmt.Sprintf("%s /case%d HTTP/1.1\r\nHost: a.localhost\r\n\r\n", tt.method, i))
			resp := rc.read(tt.method)
			if want := fmt.Sprint("HTTP/1.1 ", tt.wantCode); resp.status != want {
				t.Errorf("first status line %q, want %q", resp.status, want)
			}
			if resp.code != tt.wantCode || resp.body != tt.wantBody {
				t.Errorf("%s = %d %.40q, want %d %.40q", tt.method, resp.code, resp.body, tt.wantCode, tt.wantBody)
			}
			for k, want := range tt.wantHeader {
				if got := resp.header.Get(k); got != want {
					t.Errorf("header %s = %.40q, want %.40q", k, got, want)
				}
			}
			for k, want := range tt.wantTrailer {
				if got := resp.trailer.Get(k); got != want {
					t.Errorf("trailer %s = %q, want %q", k, got, want)
				}
			}
			if tt.wantClose {
				if !resp.close {
					t.Errorf("response lacks Connection: close")
				}
				if !rc.closed() {
					t.Errorf("the connection stays open after a close-delimited body")
				}
				return
			}
			// Framing kept: the next response on the connection is whole.
			rc.send("GET /next HTTP/1.1\r\nHost: a.localhost\r\n\r\n")
			if resp := rc.read("GET"); resp.code != 200 || resp.body != "ok" {
				t.Errorf("next GET on the connection = %d %q, want 200 ok", resp.code, resp.body)
			}
		})
	}
}

// TestFastStreaming: each piece of a streamed body reaches the client
// before the app sends the next, whatever the framing.
func TestFastStreaming(t *testing.T) {
	const events = 3
	event := func(i int) string { return fmt.Sprintf("data: %d\n\n", i) }
	// stream writes the events, each after the client has read the one
	// before (a signal on next).
	stream := func(next <-chan struct{}, w io.Writer, flush func()) {
		for i := range events {
			if i > 0 {
				select {
				case <-next:
				case <-time.After(5 * time.Second):
					return
				}
			}
			_, _ = io.WriteString(w, event(i))
			flush()
		}
	}
	rawStream := func(next <-chan struct{}, head string, hangUp bool) func(net.Conn, *bufio.Reader) {
		return func(c net.Conn, br *bufio.Reader) {
			for {
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				_, _ = io.WriteString(c, head)
				stream(next, c, func() {})
				if hangUp {
					return
				}
			}
		}
	}
	tests := []struct {
		name string
		app  func(t *testing.T, next <-chan struct{}) controller.Endpoint
	}{
		{"chunked (net/http)", func(t *testing.T, next <-chan struct{}) controller.Endpoint {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				stream(next, w, w.(http.Flusher).Flush)
			}))
			t.Cleanup(srv.Close)
			return endpoint("web.1", srv)
		}},
		{"content length", func(t *testing.T, next <-chan struct{}) controller.Endpoint {
			head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", events*len(event(0)))
			return newRawApp(t, "web.1", rawStream(next, head, false)).ep
		}},
		{"close-delimited", func(t *testing.T, next <-chan struct{}) controller.Endpoint {
			return newRawApp(t, "web.1", rawStream(next, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n", true)).ep
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := make(chan struct{})
			addr := fastRouter(t, router.Options{}, tt.app(t, next))
			rc := dialRaw(t, addr)
			rc.send("GET /events HTTP/1.1\r\nHost: a.localhost\r\n\r\n")
			resp, err := http.ReadResponse(rc.br, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			for i := range events {
				var got string
				for range 2 {
					line, err := br.ReadString('\n')
					if err != nil {
						t.Fatalf("reading event %d: %v after %q (held back?)", i, err, got+line)
					}
					got += line
				}
				if got != event(i) {
					t.Fatalf("event %d = %q, want %q", i, got, event(i))
				}
				if i < events-1 {
					select {
					case next <- struct{}{}:
					case <-time.After(5 * time.Second):
						t.Fatalf("the app does not wait for event %d", i+1)
					}
				}
			}
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Errorf("after the events: %q, %v; want the end of the body", rest, err)
			}
		})
	}
}

func TestFastRequestHeaders(t *testing.T) {
	app := newRecorder(t, "web.1", nil)
	addr := fastRouter(t, router.Options{}, app.ep)
	const generated = "<generated>"
	long := strings.Repeat("i", 128)
	tests := []struct {
		name   string
		host   string
		header string            // lines sent after Host
		want   map[string]string // headers the app sees, beyond the X-Forwarded-* ones; "" for absent
	}{
		{"plain", appHost, "", map[string]string{"X-Request-Id": generated}},
		{"port in Host", "a.localhost:8080", "", map[string]string{"X-Request-Id": generated}},
		{"forwarded headers from the client replaced", appHost,
			"X-Forwarded-For: 6.6.6.6\r\nx-forwarded-host: evil\r\nX-FORWARDED-PROTO: https\r\nX-Forwarded-Port: 443\r\nForwarded: for=6.6.6.6\r\n",
			map[string]string{"Forwarded": "", "X-Request-Id": generated}},
		{"hop-by-hop headers dropped", appHost,
			"Connection: keep-alive\r\nKeep-Alive: timeout=300\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eDp5\r\n",
			map[string]string{"Connection": "", "Keep-Alive": "", "Proxy-Connection": "", "Proxy-Authorization": "", "X-Request-Id": generated}},
		{"end-to-end headers kept", appHost,
			"X-Custom: one\r\nX-Multi: 1\r\nX-Multi: 2\r\nAccept: text/html\r\nCookie: a=b\r\n",
			map[string]string{"X-Custom": "one", "X-Multi": "1,2", "Accept": "text/html", "Cookie": "a=b"}},
		{"request id kept", appHost, "X-Request-Id: abc-123_x.y:z+/=\r\n", map[string]string{"X-Request-Id": "abc-123_x.y:z+/="}},
		{"request id of 128 bytes kept", appHost, "X-Request-Id: " + long + "\r\n", map[string]string{"X-Request-Id": long}},
		{"request id of 129 bytes replaced", appHost, "X-Request-Id: " + long + "x\r\n", map[string]string{"X-Request-Id": generated}},
		{"request id with markup replaced", appHost, "X-Request-Id: <script>\r\n", map[string]string{"X-Request-Id": generated}},
		{"request id with a space replaced", appHost, "X-Request-Id: a b\r\n", map[string]string{"X-Request-Id": generated}},
		{"empty request id replaced", appHost, "X-Request-Id:\r\n", map[string]string{"X-Request-Id": generated}},
		{"first of two request ids kept", appHost, "x-request-id: first\r\nX-Request-Id: second\r\n", map[string]string{"X-Request-Id": "first"}},
	}
	hexID := regexp.MustCompile(`^[0-9a-f]{32}$`)
	ids := map[string]bool{}
	rc := dialRaw(t, addr)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc.send("GET /h HTTP/1.1\r\nHost: " + tt.host + "\r\n" + tt.header + "\r\n")
			if resp := rc.read("GET"); resp.code != 200 {
				t.Fatalf("GET = %d, want 200", resp.code)
			}
			h := app.next(t)
			if h.host != tt.host {
				t.Errorf("the app saw Host %q, want %q", h.host, tt.host)
			}
			port := "80"
			if _, p, err := net.SplitHostPort(tt.host); err == nil {
				port = p
			}
			want := map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": tt.host, "X-Forwarded-Proto": "http", "X-Forwarded-Port": port}
			for k, v := range tt.want {
				want[k] = v
			}
			got := map[string]string{}
			for k := range want {
				got[k] = strings.Join(h.header.Values(k), ",")
			}
			if id := got["X-Request-Id"]; want["X-Request-Id"] == generated && hexID.MatchString(id) {
				if ids[id] {
					t.Errorf("request id %s generated twice", id)
				}
				ids[id] = true
				got["X-Request-Id"] = generated
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("headers the app saw (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFastClientConnection: the client's Connection header decides whether
// its connection stays open.
func TestFastClientConnection(t *testing.T) {
	app := newRecorder(t, "web.1", nil)
	addr := fastRouter(t, router.Options{}, app.ep)
	tests := []struct {
		connection string
		wantClose  bool
	}{
		{"close", true},
		{"CLOSE", true},
		{"keep-alive, close", true},
		{"Keep-Alive", false},
		{"", false},
	}
	for _, tt := range tests {
		rc := dialRaw(t, addr)
		header := ""
		if tt.connection != "" {
			header = "Connection: " + tt.connection + "\r\n"
		}
		rc.send("GET /c HTTP/1.1\r\nHost: a.localhost\r\n" + header + "\r\n")
		resp := rc.read("GET")
		if resp.code != 200 || resp.body != "GET /c 0" {
			t.Errorf("GET with Connection %q = %d %q, want 200", tt.connection, resp.code, resp.body)
		}
		if tt.wantClose {
			if !resp.close {
				t.Errorf("GET with Connection %q: response lacks Connection: close", tt.connection)
			}
			if !rc.closed() {
				t.Errorf("GET with Connection %q: the connection stays open", tt.connection)
			}
			continue
		}
		rc.getOK("/again")
	}
}

func TestFastBackendFailures(t *testing.T) {
	t.Run("app closes idle connections", func(t *testing.T) {
		type request struct{ method, body string }
		sequences := []struct {
			name     string
			requests []request
		}{
			{"GET and HEAD", []request{{"GET", ""}, {"GET", ""}, {"HEAD", ""}, {"GET", ""}}},
			// net/http's transport notices the close and does not pick the
			// connection: the POST gets a new one.
			{"POST", []request{{"GET", ""}, {"POST", "hello"}}},
		}
		for _, seq := range sequences {
			for _, reset := range []bool{false, true} {
				name := seq.name + map[bool]string{false: " after FIN", true: " after RST"}[reset]
				t.Run(name, func(t *testing.T) {
					// One response per connection, announced as kept alive:
					// the app closes it once the router has it back in its pool.
					hungUp := make(chan struct{}, 10)
					app := newRawApp(t, "web.1", func(c net.Conn, br *bufio.Reader) {
						req, err := http.ReadRequest(br)
						if err != nil {
							return
						}
						b, _ := io.ReadAll(req.Body)
						body := req.Method + " " + string(b)
						fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))
						if req.Method != "HEAD" {
							io.WriteString(c, body)
						}
						if reset {
							_ = c.(*net.TCPConn).SetLinger(0)
						}
						c.Close()
						hungUp <- struct{}{}
					})
					addr := fastRouter(t, router.Options{}, app.ep)
					rc := dialRaw(t, addr)
					for i, r := range seq.requests {
						rc.send(fmt.Sprintf("%s /%d HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: %d\r\n\r\n%s", r.method, i, len(r.body), r.body))
						resp := rc.read(r.method)
						want := r.method + " " + r.body
						if r.method == "HEAD" {
							want = ""
						}
						if resp.code != 200 || resp.body != want {
							t.Fatalf("%s %d after the app closed its idle connection = %d %.60q, want 200 %q", r.method, i, resp.code, resp.body, want)
						}
						select {
						case <-hungUp:
						case <-time.After(5 * time.Second):
							t.Fatal("the app did not hang up")
						}
					}
					if got, want := app.conns.Load(), int64(len(seq.requests)); got != want {
						t.Errorf("the app accepted %d connections, want %d", got, want)
					}
				})
			}
		}
	})

	t.Run("app fails mid-response", func(t *testing.T) {
		tests := []namedReply{
			{"reset in a body with a length", reply{raw: "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789", reset: true}},
			{"reset in a chunked body", reply{raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", reset: true}},
			{"closed in a body with a length", reply{raw: "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789", hangUp: true}},
			{"bad chunk size", reply{raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n"}},
		}
		addr := scriptedRouter(t, tests)
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rc := dialRaw(t, addr)
				rc.send(fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: a.localhost\r\n\r\n", i))
				resp, err := rc.tryRead("GET")
				if err == nil {
					t.Errorf("GET = %d %q in full, want a body cut short", resp.code, resp.body)
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Errorf("the client was left hanging: %v", err)
				}
				if !rc.closed() {
					t.Errorf("the client's connection stays open after a broken response")
				}
			})
		}
		// The router is none the worse.
		if code, _, body := get(t, addr, appHost, "/fine", nil); code != 200 || body != "ok" {
			t.Errorf("GET after the failures = %d %q, want 200 ok", code, body)
		}
	})

	t.Run("malformed response heads", func(t *testing.T) {
		tests := []namedReply{
			{"letters in the status code", reply{raw: "HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok"}},
			{"not HTTP", reply{raw: "garbage\r\n\r\n"}},
			{"status code under 100", reply{raw: "HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nok"}},
			{"header line without a colon", reply{raw: "HTTP/1.1 200 OK\r\nNo colon here\r\nContent-Length: 2\r\n\r\nok"}},
			{"two different lengths", reply{raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok"}},
			{"negative length", reply{raw: "HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok"}},
			{"unasked 101", reply{raw: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"}},
			{"reset in the head", reply{raw: "HTTP/1.1 200 OK\r\nX-Partial: y", reset: true}},
			{"closed without an answer", reply{raw: "", hangUp: true}},
			{"bare CR in a header value", reply{raw: "HTTP/1.1 200 OK\r\nX-Split: a\rSet-Cookie: evil=1\r\nContent-Length: 2\r\n\r\nok"}},
			{"space in a header name", reply{raw: "HTTP/1.1 200 OK\r\nX Bad: a\r\nContent-Length: 2\r\n\r\nok"}},
		}
		addr := scriptedRouter(t, tests)
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rc := dialRaw(t, addr)
				rc.send(fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: a.localhost\r\nAccept: text/html\r\n\r\n", i))
				resp := rc.read("GET")
				if resp.code != http.StatusBadGateway || !strings.HasPrefix(resp.body, "<!doctype html>") {
					t.Errorf("GET = %d %.40q, want the router's 502 page", resp.code, resp.body)
				}
				if resp.header.Get("X-Partial") != "" {
					t.Errorf("the 502 page carries the app's partial head")
				}
			})
		}
	})

	t.Run("refused endpoint with another up", func(t *testing.T) {
		live := newRecorder(t, "web.2", nil)
		addr := fastRouter(t, router.Options{}, controller.Endpoint{Instance: "web.1", Address: closedAddr(t)}, live.ep)
		rc := dialRaw(t, addr)
		for i := range 6 {
			rc.send(fmt.Sprintf("POST /%d HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 3\r\n\r\nabc", i))
			if resp, want := rc.read("POST"), fmt.Sprintf("POST /%d 3", i); resp.code != 200 || resp.body != want {
				t.Errorf("POST %d = %d %q, want 200 %q", i, resp.code, resp.body, want)
			}
		}
	})
}

// TestFastAppSendsMoreThanItsLength: bytes an app sends after the end of
// its response are not taken for the answer to the next request sent on
// that connection (the connection is closed instead of pooled).
func TestFastAppSendsMoreThanItsLength(t *testing.T) {
	app := newRawApp(t, "web.1", script(map[string]reply{
		"/extra": {raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!"},
	}))
	addr := fastRouter(t, router.Options{}, app.ep)
	rc := dialRaw(t, addr)
	rc.send("GET /extra HTTP/1.1\r\nHost: a.localhost\r\n\r\n")
	if resp := rc.read("GET"); resp.code != 200 || resp.body != "ok" {
		t.Fatalf("GET /extra = %d %q, want 200 ok", resp.code, resp.body)
	}
	for i := range 3 {
		rc.send("GET /next HTTP/1.1\r\nHost: a.localhost\r\n\r\n")
		if resp := rc.read("GET"); resp.code != 200 || resp.body != "ok" {
			t.Fatalf("GET /next #%d = %d %q, want 200 ok (not the app's extra bytes)", i, resp.code, resp.body)
		}
	}
}

// TestFastAppAnswersBeforeTheBody: an app may answer before it has read
// the request body, and close (a body over its own limit, a failed
// authorisation). Its answer reaches the client, as net/http's transport
// passes it on, not a 502; the client's connection then closes, its body
// unread, without a reset that would destroy the answer.
func TestFastAppAnswersBeforeTheBody(t *testing.T) {
	limited := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1024)); err != nil {
			http.Error(w, "too big for me", http.StatusRequestEntityTooLarge)
			return
		}
		fmt.Fprint(w, "fine")
	}))
	t.Cleanup(limited.Close)
	rejecting := newRawApp(t, "web.2", func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\nnope!")
		// Closed with the body unread: the kernel resets the connection.
	})
	for _, tt := range []struct {
		name string
		ep   controller.Endpoint
		code int
		body string
	}{
		{"net/http app over its body limit", endpoint("web.1", limited), 413, "too big for me\n"},
		{"app closing after a 401", rejecting.ep, 401, "nope!"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := fastRouter(t, router.Options{}, tt.ep)
			rc := dialRaw(t, addr)
			const size = 32 << 20 // more than the socket buffers between client, router and app hold
			go func() {
				_, _ = io.WriteString(rc.c, fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", appHost, size))
				_, _ = io.Copy(rc.c, io.LimitReader(zeros{}, size)) // fails once the router closes
			}()
			resp := rc.read("POST")
			if resp.code != tt.code || resp.body != tt.body {
				t.Errorf("POST of %d bytes = %d %q, want the app's %d %q", size, resp.code, resp.body, tt.code, tt.body)
			}
			if !resp.close {
				t.Error("the answer does not say Connection: close, but the body was left unread")
			}
			if !rc.closed() {
				t.Error("the router kept the connection open with the body unread")
			}
		})
	}
}

// TestFastClientLeavesWhileAppThinks: a client that closes its connection
// while the app is still working on the answer has the app's connection cut,
// as net/http's reverse proxy cuts it, so that the app sees its client go;
// the request is logged as 499. A slow client that stays gets its answer,
// and so does one that pipelines its next request meanwhile.
func TestFastClientLeavesWhileAppThinks(t *testing.T) {
	cancelled := make(chan string, 10)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wait := 20 * time.Second
		if r.URL.Path != "/slow" {
			wait = time.Second + 100*time.Millisecond // past the router's check
		}
		select {
		case <-r.Context().Done():
			cancelled <- r.URL.Path
		case <-time.After(wait):
			fmt.Fprint(w, "done "+r.URL.Path)
		}
	}))
	t.Cleanup(app.Close)
	entries := make(chan router.AccessEntry, 10)
	r, addr := startRouter(t, router.Options{AccessLog: func(e router.AccessEntry) { entries <- e }})
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{appHost}, Endpoints: []controller.Endpoint{endpoint("web.1", app)}},
	}})

	// Stays: gets the answer.
	rc := dialRaw(t, addr)
	rc.send("GET /stays HTTP/1.1\r\nHost: " + appHost + "\r\n\r\n")
	if resp := rc.read("GET"); resp.code != 200 || resp.body != "done /stays" {
		t.Errorf("GET /stays = %d %q, want 200 \"done /stays\"", resp.code, resp.body)
	}
	// Pipelines its next request while waiting: gets both answers.
	rc.send("GET /first HTTP/1.1\r\nHost: " + appHost + "\r\n\r\nGET /second HTTP/1.1\r\nHost: " + appHost + "\r\n\r\n")
	for _, p := range []string{"/first", "/second"} {
		if resp := rc.read("GET"); resp.code != 200 || resp.body != "done "+p {
			t.Errorf("pipelined GET %s = %d %q, want 200 \"done %s\"", p, resp.code, resp.body, p)
		}
	}
	for range 3 {
		if e := <-entries; e.Status != 200 {
			t.Errorf("access log: %s %d, want 200", e.Path, e.Status)
		}
	}

	// Leaves: the app's request is cancelled, long before its 20 s.
	rc2 := dialRaw(t, addr)
	rc2.send("GET /slow HTTP/1.1\r\nHost: " + appHost + "\r\n\r\n")
	time.Sleep(200 * time.Millisecond)
	rc2.c.Close()
	select {
	case p := <-cancelled:
		if p != "/slow" {
			t.Errorf("the app saw %s cancelled, want /slow", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the app still works on /slow 10 s after its client left")
	}
	select {
	case e := <-entries:
		if e.Status != 499 || e.Path != "/slow" {
			t.Errorf("access log: %s %d, want /slow 499", e.Path, e.Status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no access log entry for /slow")
	}
	// The router goes on serving.
	rc3 := dialRaw(t, addr)
	rc3.send("GET /after HTTP/1.1\r\nHost: " + appHost + "\r\n\r\n")
	if resp := rc3.read("GET"); resp.code != 200 || resp.body != "done /after" {
		t.Errorf("GET /after = %d %q, want 200", resp.code, resp.body)
	}
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestFastHandOver: requests the fast path leaves to net/http are answered
// as net/http answers them, on the connection they came on, and the
// connection goes on serving.
func TestFastHandOver(t *testing.T) {
	app := newRecorder(t, "web.1", nil)
	addr := fastRouter(t, router.Options{}, app.ep)
	ref := newRecorder(t, "ref", nil) // plain net/http, for comparison
	bigHeader := "X-Big: " + strings.Repeat("b", 10<<10) + "\r\n"
	tests := []struct {
		name    string
		req     string
		want    int
		wantApp []string // the requests the app gets (sigs)
		keep    bool     // the connection stays open
		parse   bool     // net/http's parser decides: a plain net/http server answers the same
	}{
		{"chunked body",
			"POST /te HTTP/1.1\r\nHost: a.localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			200, []string{"POST /te hello"}, true, true},
		{"Content-Length with Transfer-Encoding: chunked wins, no smuggling",
			"POST /clte HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			200, []string{"POST /clte hello"}, true, true},
		{"bad Content-Length with Transfer-Encoding",
			"POST /badcl HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			400, nil, false, true},
		{"two different Content-Lengths",
			"POST /cl2 HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
			400, nil, false, true},
		{"two equal Content-Lengths",
			"POST /cl55 HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
			200, []string{"POST /cl55 hello"}, true, true},
		{"two Hosts",
			"GET /hosts HTTP/1.1\r\nHost: a.localhost\r\nHost: b.localhost\r\n\r\n",
			400, nil, false, true},
		{"no Host", "GET /nohost HTTP/1.1\r\n\r\n", 400, nil, false, true},
		{"obs-fold",
			"GET /fold HTTP/1.1\r\nHost: a.localhost\r\nX-Folded: a\r\n b\r\n\r\n",
			200, []string{"GET /fold"}, true, true},
		{"bare LF", "GET /lf HTTP/1.1\nHost: a.localhost\n\n", 200, []string{"GET /lf"}, true, true},
		{"HTTP/1.0", "GET /10 HTTP/1.0\r\nHost: a.localhost\r\n\r\n", 200, []string{"GET /10"}, false, true},
		{"HTTP/1.0 keep-alive",
			"GET /10ka HTTP/1.0\r\nHost: a.localhost\r\nConnection: keep-alive\r\n\r\n",
			200, []string{"GET /10ka"}, true, true},
		{"absolute-form target",
			"GET http://a.localhost/abs?q=1 HTTP/1.1\r\nHost: a.localhost\r\n\r\n",
			200, []string{"GET /abs?q=1"}, true, true},
		{"space before a colon",
			"GET /sp HTTP/1.1\r\nHost: a.localhost\r\nX-Bad : v\r\n\r\n",
			400, nil, false, true},
		{"space in the target", "GET /a b HTTP/1.1\r\nHost: a.localhost\r\n\r\n", 400, nil, false, true},
		{"other method", "PROPFIND /dav HTTP/1.1\r\nHost: a.localhost\r\n\r\n", 200, []string{"PROPFIND /dav"}, true, true},
		{"Connection naming a header",
			"GET /conn HTTP/1.1\r\nHost: a.localhost\r\nConnection: X-Hop\r\nX-Hop: 1\r\n\r\n",
			200, []string{"GET /conn"}, true, false},
		{"head over the read buffer",
			"GET /bighead HTTP/1.1\r\nHost: a.localhost\r\n" + bigHeader + "\r\n",
			200, []string{"GET /bighead"}, true, true},
		{"unknown host", "GET /nope HTTP/1.1\r\nHost: nope.localhost\r\n\r\n", 404, nil, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.parse {
				rc := dialRaw(t, ref.ep.Address)
				rc.send(tt.req)
				if resp, err := rc.tryRead(strings.Fields(tt.req)[0]); err != nil || resp.code != tt.want {
					t.Errorf("plain net/http answers %d (%v), the test wants %d", resp.code, err, tt.want)
				}
			}
			rc := dialRaw(t, addr)
			rc.send(tt.req)
			if resp := rc.read(strings.Fields(tt.req)[0]); resp.code != tt.want {
				t.Errorf("router answers %d %.60q, want %d", resp.code, resp.body, tt.want)
			}
			wantApp := tt.wantApp
			if tt.keep {
				rc.getOK("/after")
				wantApp = append(wantApp, "GET /after")
			} else if !rc.closed() {
				t.Errorf("the connection stays open")
			}
			if diff := cmp.Diff(wantApp, app.before(t, addr, "/sentinel")); diff != "" {
				t.Errorf("requests the app received (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("Expect: 100-continue", func(t *testing.T) {
		rc := dialRaw(t, addr)
		rc.getOK("/before") // the fast path first
		rc.send("POST /expect HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
		if resp := rc.read("POST"); resp.code != http.StatusContinue {
			t.Fatalf("POST with Expect: 100-continue = %d before the body, want 100", resp.code)
		}
		rc.send("hello")
		if resp := rc.read("POST"); resp.code != 200 || resp.body != "POST /expect 5" {
			t.Errorf("POST with Expect: 100-continue = %d %q, want 200", resp.code, resp.body)
		}
		rc.getOK("/after")
		want := []string{"GET /before", "POST /expect hello", "GET /after"}
		if diff := cmp.Diff(want, app.before(t, addr, "/sentinel")); diff != "" {
			t.Errorf("requests the app received (-want +got):\n%s", diff)
		}
	})

	t.Run("upgrade after a fast request", func(t *testing.T) {
		// An app that switches to an echo protocol on request.
		echo := newRawApp(t, "web.1", func(c net.Conn, br *bufio.Reader) {
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				if req.Header.Get("Upgrade") != "echo" {
					io.WriteString(c, okReply.raw)
					continue
				}
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
				_, _ = io.Copy(c, br)
				return
			}
		})
		addr := fastRouter(t, router.Options{}, echo.ep)
		rc := dialRaw(t, addr)
		rc.send("GET / HTTP/1.1\r\nHost: a.localhost\r\n\r\n")
		if resp := rc.read("GET"); resp.code != 200 || resp.body != "ok" {
			t.Fatalf("GET = %d %q, want 200 ok", resp.code, resp.body)
		}
		rc.send("GET /up HTTP/1.1\r\nHost: a.localhost\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		resp, err := http.ReadResponse(rc.br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade = %v (%v), want 101", resp, err)
		}
		for _, msg := range []string{"ping", strings.Repeat("z", 64<<10)} {
			rc.send(msg)
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(rc.br, got); err != nil || string(got) != msg {
				t.Fatalf("echo of %.10q... = %.10q... (%v)", msg, got, err)
			}
		}
	})
}

func TestFastAccessLog(t *testing.T) {
	entries := make(chan router.AccessEntry, 100)
	app := newRecorder(t, "web.1", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/a b":
			io.WriteString(w, "hello")
		case "/chunked":
			io.WriteString(w, "ab")
			w.(http.Flusher).Flush()
			io.WriteString(w, "cde")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			io.WriteString(w, "posted")
		}
	})
	bad := newRawApp(t, "bad.1", script(map[string]reply{"/": {raw: "garbage\r\n\r\n"}}))
	r, addr := startRouter(t, router.Options{AccessLog: func(e router.AccessEntry) { entries <- e }})
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{appHost}, Endpoints: []controller.Endpoint{app.ep}},
		{App: "bad", Domains: []string{"bad.localhost"}, Endpoints: []controller.Endpoint{bad.ep}},
	}})

	rc := dialRaw(t, addr)
	requests := []struct{ raw, method string }{
		{"GET /a%20b?q=1 HTTP/1.1\r\nHost: a.localhost\r\nX-Request-Id: rid-1\r\n\r\n", "GET"},
		{"POST /post HTTP/1.1\r\nHost: a.localhost:80\r\nContent-Length: 5\r\n\r\nhello", "POST"},
		{"HEAD /a%20b HTTP/1.1\r\nHost: a.localhost\r\n\r\n", "HEAD"},
		{"GET /chunked HTTP/1.1\r\nHost: A.Localhost\r\n\r\n", "GET"},
		{"GET /empty HTTP/1.1\r\nHost: a.localhost\r\nConnection: close\r\n\r\n", "GET"},
	}
	var ids []string // as the app saw them
	for _, req := range requests {
		rc.send(req.raw)
		rc.read(req.method)
		ids = append(ids, app.next(t).header.Get("X-Request-Id"))
	}
	if !rc.closed() { // the entries are written before the connection closes
		t.Fatal("the connection stays open after Connection: close")
	}
	rc2 := dialRaw(t, addr)
	rc2.send("GET / HTTP/1.1\r\nHost: bad.localhost\r\n\r\n")
	page := rc2.read("GET")
	if page.code != http.StatusBadGateway || !rc2.closed() {
		t.Fatalf("GET from a malformed app = %d, want 502 and the connection closed", page.code)
	}

	var got []router.AccessEntry
	for len(got) < len(requests)+1 {
		select {
		case e := <-entries:
			got = append(got, e)
		case <-time.After(5 * time.Second):
			t.Fatalf("%d access entries, want %d", len(got), len(requests)+1)
		}
	}
	select {
	case e := <-entries:
		t.Errorf("extra access entry %+v", e)
	default:
	}
	remotes := []string{rc.c.LocalAddr().String(), rc2.c.LocalAddr().String()}
	for i := range got {
		e := &got[i]
		remote := remotes[min(i/len(requests), 1)]
		if e.Time.IsZero() || e.Duration <= 0 || e.RemoteAddr != remote {
			t.Errorf("entry %d: time %v, duration %v, remote %q; want set, and remote %s", i, e.Time, e.Duration, e.RemoteAddr, remote)
		}
		if i < len(ids) && e.RequestID != ids[i] {
			t.Errorf("entry %d: request id %q, the app saw %q", i, e.RequestID, ids[i])
		}
		e.Time, e.Duration, e.RemoteAddr = time.Time{}, 0, ""
		if i > 0 && len(e.RequestID) == 32 {
			e.RequestID = "<generated>"
		}
	}
	a := func(method, host, path string, status int, bytes int64) router.AccessEntry {
		return router.AccessEntry{App: "a", Instance: "web.1", Method: method, Host: host, Path: path, Status: status, Bytes: bytes, RequestID: "<generated>"}
	}
	want := []router.AccessEntry{
		a("GET", appHost, "/a b", 200, 5),
		a("POST", "a.localhost:80", "/post", 200, 6),
		a("HEAD", appHost, "/a b", 200, 0),
		a("GET", "A.Localhost", "/chunked", 200, 5),
		a("GET", appHost, "/empty", 204, 0),
		{App: "bad", Instance: "bad.1", Method: "GET", Host: "bad.localhost", Path: "/", Status: 502, Bytes: int64(len(page.body)), RequestID: "<generated>"},
	}
	want[0].RequestID = "rid-1"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access log (-want +got):\n%s", diff)
	}
}

// TestFastIdleTimeout: a connection is closed once idle for IdleTimeout,
// not while its client keeps sending requests at shorter intervals.
func TestFastIdleTimeout(t *testing.T) {
	app := newRecorder(t, "web.1", nil)
	const idle = time.Second
	addr := fastRouter(t, router.Options{IdleTimeout: idle}, app.ep)
	rc := dialRaw(t, addr)
	for i := range 6 { // 1.5s in all, never idle more than 0.3s
		if i > 0 {
			time.Sleep(idle * 3 / 10)
		}
		rc.send(fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: a.localhost\r\n\r\n", i))
		if resp, err := rc.tryRead("GET"); err != nil || resp.code != 200 {
			t.Fatalf("request %d, %v after the first on a connection idle at most %v: %d (%v), want 200", i, time.Duration(i)*idle*3/10, idle*3/10, resp.code, err)
		}
	}
	start := time.Now()
	if !rc.closed() {
		t.Fatalf("an idle connection is still open after 5s, with IdleTimeout %v", idle)
	}
	if took := time.Since(start); took < idle/2 {
		t.Errorf("an idle connection was closed after %v, want about %v", took, idle)
	}
}

// TestFastGracefulShutdown: when Serve's context ends, idle connections
// (on the fast path or handed over) are closed at once, a request in flight
// is answered, and then Serve returns.
func TestFastGracefulShutdown(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	app := newRecorder(t, "web.1", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
			io.WriteString(w, "done")
			return
		}
		io.WriteString(w, "quick")
	})
	r, err := router.New(router.Options{Logger: slog.New(slog.DiscardHandler), ShutdownTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{appHost}, Endpoints: []controller.Endpoint{app.ep}},
	}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, ln) }()

	idleFast := dialRaw(t, addr)
	idleFast.send("GET /q HTTP/1.1\r\nHost: a.localhost\r\n\r\n")
	idleFast.read("GET")
	idleHanded := dialRaw(t, addr) // a chunked body: net/http's
	idleHanded.send("POST /q HTTP/1.1\r\nHost: a.localhost\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n")
	idleHanded.read("POST")
	busy := dialRaw(t, addr)
	busy.send("GET /slow HTTP/1.1\r\nHost: a.localhost\r\n\r\n")
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow request did not reach the app")
	}

	cancel()
	if !idleFast.closed() {
		t.Errorf("an idle fast-path connection stays open during shutdown")
	}
	if !idleHanded.closed() {
		t.Errorf("an idle handed-over connection stays open during shutdown")
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	resp := busy.read("GET")
	if resp.code != 200 || resp.body != "done" {
		t.Errorf("request in flight at shutdown = %d %q, want 200 done", resp.code, resp.body)
	}
	if !resp.close {
		t.Errorf("response during shutdown lacks Connection: close")
	}
	if !busy.closed() {
		t.Errorf("the busy connection stays open after its response during shutdown")
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the last request")
	}
}
