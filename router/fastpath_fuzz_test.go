package router_test

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"paas/router"
)

// FuzzFastResponse sends whatever an app might answer through the fast
// path and checks it against net/http's own reading of the same bytes:
// the client gets the status and body net/http reads there, or the
// router's 502 (it may be stricter), and the client's connection is never
// left out of step — the next request on it gets its own answer, or the
// connection is closed.
func FuzzFastResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\nuntil the end",
		"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close, X-A\r\nX-A: 1\r\n\r\nokEXTRA",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
	} {
		f.Add([]byte(s))
	}
	var reply atomic.Pointer[[]byte]
	app := newRawApp(f, "web.1", func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if req.URL.Path != "/fuzz" {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext")
				continue
			}
			_, _ = c.Write(*reply.Load())
			return // the end of the connection ends a close-delimited body
		}
	})
	addr := fastRouter(f, router.Options{Logger: slog.New(slog.DiscardHandler)}, app.ep)
	f.Fuzz(func(t *testing.T, raw []byte) {
		reply.Store(&raw)
		want, wantErr := readDirect(raw)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		_, _ = io.WriteString(c, "GET /fuzz HTTP/1.1\r\nHost: "+appHost+"\r\n\r\n")
		got, err := readResponse(br)
		switch {
		case err != nil:
			// Cut off: fine when net/http could not read it either, or when
			// the app's body ended early.
			if wantErr == nil && want.complete {
				t.Fatalf("app sent %q: the client read %v, net/http reads %d %q", raw, err, want.code, want.body)
			}
			return
		case got.code == http.StatusBadGateway && want.code != http.StatusBadGateway:
			// The router may be stricter than net/http.
		case wantErr != nil:
			t.Fatalf("app sent %q, which net/http refuses (%v): the client got %d %q", raw, wantErr, got.code, got.body)
		case got.code != want.code || got.body != want.body:
			t.Fatalf("app sent %q: the client got %d %q, net/http reads %d %q", raw, got.code, got.body, want.code, want.body)
		}
		if got.close {
			return
		}
		// In step: the next request gets its own answer, or a closed
		// connection.
		_, _ = io.WriteString(c, "GET /next HTTP/1.1\r\nHost: "+appHost+"\r\n\r\n")
		next, err := readResponse(br)
		if err == nil && (next.code != 200 || next.body != "next") {
			t.Fatalf("app sent %q: the next request on the connection got %d %q", raw, next.code, next.body)
		}
	})
}

// fuzzResponse is a response as read, and whether its body was read to
// its end.
type fuzzResponse struct {
	code     int
	body     string
	close    bool
	complete bool
}

func readResponse(br *bufio.Reader) (fuzzResponse, error) {
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		return fuzzResponse{}, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return fuzzResponse{code: resp.StatusCode, body: string(b), close: resp.Close, complete: err == nil}, err
}

// readDirect is net/http's reading of raw as the answer to a GET, 1xx
// responses skipped as its transport does.
func readDirect(raw []byte) (fuzzResponse, error) {
	br := bufio.NewReader(bytes.NewReader(raw))
	for {
		resp, err := readResponse(br)
		if err != nil && resp.code == 0 {
			return resp, err
		}
		if resp.code >= 100 && resp.code < 200 && resp.code != http.StatusSwitchingProtocols {
			continue
		}
		return resp, nil
	}
}
