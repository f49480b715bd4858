package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// FuzzParseHead checks the fast path's request parser against net/http's:
// whatever parseHead takes, net/http must read the same way — method,
// target, Host, body length, Connection: close — or a request could mean
// one thing to the router and another to an app behind a net/http-based
// server (request smuggling). What parseHead refuses goes to net/http
// itself, so refusing is always safe.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a.localhost\r\n\r\n",
		"POST /x?y=1 HTTP/1.1\r\nHost: a.localhost:8000\r\nContent-Length: 5\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: A.Localhost.\r\nConnection: keep-alive, close\r\nX-Request-Id: abc\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n X: folded\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
		"GET / HTTP/1.1\r\nhost: a\r\nHOST: b\r\n\r\n",
		"PUT /%2e%2e/ HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\nAccept: application/json\r\n\r\n",
		"DELETE / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\nForwarded: for=x\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		i := bytes.Index(raw, crlfcrlf)
		if i < 0 {
			return
		}
		raw = raw[:i+4]
		var h head
		if !parseHead(&h, raw) {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			t.Fatalf("parseHead takes what net/http refuses (%v):\n%q", err, raw)
		}
		if req.Method != string(h.method) || req.RequestURI != string(h.target) || req.Host != string(h.host) {
			t.Fatalf("parsed %q %q host %q, net/http %q %q host %q:\n%q",
				h.method, h.target, h.host, req.Method, req.RequestURI, req.Host, raw)
		}
		if req.ContentLength != h.length {
			t.Fatalf("body length %d, net/http %d:\n%q", h.length, req.ContentLength, raw)
		}
		if req.Close != h.close {
			t.Fatalf("close %v, net/http %v:\n%q", h.close, req.Close, raw)
		}
		if len(req.TransferEncoding) > 0 {
			t.Fatalf("parseHead took a request with Transfer-Encoding:\n%q", raw)
		}
		if want := strings.ToLower(strings.TrimSuffix(stripPort(req.Host), ".")); string(h.hostKey) != want {
			t.Fatalf("host key %q, want %q:\n%q", h.hostKey, want, raw)
		}
		// Every header line kept is one net/http saw; none of the dropped
		// ones is among those the router sets itself or hop-by-hop ones.
		for j := range h.ndrop {
			line := string(raw[h.drop[j][0]:h.drop[j][1]])
			name, _, _ := strings.Cut(line, ":")
			switch http.CanonicalHeaderKey(strings.TrimSpace(name)) {
			case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate",
				"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Request-Id":
			default:
				t.Fatalf("dropped %q:\n%q", line, raw)
			}
		}
	})
}

func stripPort(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		return h[:i]
	}
	return h
}
