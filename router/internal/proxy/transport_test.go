package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func newTestTransport() *h1Transport {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &h1Transport{std: &http.Transport{}, dial: d.DialContext, maxIdle: 4, idleTimeout: time.Minute}
}

// countingServer counts the connections its clients open.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func roundTrip(t *testing.T, tr http.RoundTripper, ctx context.Context, url string, read int) (string, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b []byte
	if read < 0 {
		b, err = io.ReadAll(resp.Body)
	} else {
		b = make([]byte, read)
		_, err = io.ReadFull(resp.Body, b)
	}
	return string(b), err
}

func TestTransportReusesConnections(t *testing.T) {
	body := strings.Repeat("x", 100<<10)
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
	tr := newTestTransport()
	ctx := context.Background()
	tests := []struct {
		name      string
		read      int   // bytes of the body to read; -1: all
		wantConns int32 // connections opened so far
	}{
		{"first", -1, 1},
		{"reused", -1, 1},
		{"abandoned after 10 bytes", 10, 1},
		{"abandoned connection is not reused", -1, 2},
		{"reused again", -1, 2},
	}
	for _, tt := range tests {
		got, err := roundTrip(t, tr, ctx, srv.URL, tt.read)
		if err != nil || (tt.read < 0 && got != body) {
			t.Errorf("%s: GET = %d bytes, %v; want the body", tt.name, len(got), err)
		}
		if n := conns.Load(); n != tt.wantConns {
			t.Errorf("%s: %d connections opened, want %d", tt.name, n, tt.wantConns)
		}
	}
	addr := strings.TrimPrefix(srv.URL, "http://")
	p := tr.pool(addr)
	if len(p.idle) != 1 {
		t.Errorf("before retain: %d idle connections to %s, want 1", len(p.idle), addr)
	}
	tr.retain(map[string]bool{})
	if len(p.idle) != 0 || !p.gone || len(tr.pools) != 0 {
		t.Errorf("after retain(none): %d idle, gone %v, %d pools; want none, true, none", len(p.idle), p.gone, len(tr.pools))
	}
	tr.CloseIdleConnections()
}

func TestTransportCancel(t *testing.T) {
	release := make(chan struct{})
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	})
	defer close(release)
	tr := newTestTransport()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := roundTrip(t, tr, ctx, srv.URL, -1)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("GET with a 100ms deadline on a hung backend = %v after %v, want context.DeadlineExceeded soon", err, time.Since(start))
	}
}

func TestTransportLimitsResponseHeaders(t *testing.T) {
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		c, brw, _ := http.NewResponseController(w).Hijack()
		defer c.Close()
		brw.WriteString("HTTP/1.1 200 OK\r\n")
		for range 20000 { // 2 MB of headers
			brw.WriteString("X-Junk: " + strings.Repeat("j", 92) + "\r\n")
		}
		brw.WriteString("\r\n")
		brw.Flush()
	})
	tr := newTestTransport()
	if _, err := roundTrip(t, tr, context.Background(), srv.URL, -1); !errors.Is(err, errHeaderTooLarge) {
		t.Errorf("GET with 2 MB of response headers = %v, want %v", err, errHeaderTooLarge)
	}
}
