package router_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"paas/router"
)

// TestTrickledBodyIsCut: a client that announces a big body and sends a
// byte now and then, each within the body read timeout, is cut off (408)
// at about that timeout by the body's minimum rate (default 500 B/s), on
// the fast path (Content-Length) and on net/http's (chunked). Before, each
// byte restarted the timeout: 1 byte every 59 s held a connection for the
// length of a 100 MiB body.
func TestTrickledBodyIsCut(t *testing.T) {
	const timeout = 400 * time.Millisecond
	const gap = 100 * time.Millisecond // well within the timeout
	const giveUp = 4 * time.Second     // the old code never cut it
	tests := []struct {
		name, head, piece string
	}{
		{"fast path", "POST /upload HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: 104857600\r\n\r\n", "x"},
		{"net/http", "POST /upload HTTP/1.1\r\nHost: a.localhost\r\nTransfer-Encoding: chunked\r\n\r\n", "1\r\nx\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app := newRecorder(t, "web.1", nil)
			addr := fastRouter(t, router.Options{BodyReadTimeout: timeout}, app.ep)
			rc := dialRaw(t, addr)
			start := time.Now()
			rc.send(tt.head)
			stop := make(chan struct{})
			trickled := make(chan struct{})
			go func() {
				defer close(trickled)
				for time.Since(start) < giveUp {
					select {
					case <-stop:
						return
					case <-time.After(gap):
					}
					if _, err := io.WriteString(rc.c, tt.piece); err != nil {
						return // cut off
					}
				}
			}()
			resp, err := rc.tryRead("POST")
			took := time.Since(start)
			close(stop)
			<-trickled
			if err != nil || resp.code != http.StatusRequestTimeout || took > timeout+1500*time.Millisecond {
				t.Errorf("a body trickled a byte every %v = %d (%v) after %v; want 408 after about %v", gap, resp.code, err, took, timeout)
			}
		})
	}
}

// TestSteadyBodyArrives: a body above the minimum rate arrives however long
// it takes, each wait within the timeout.
func TestSteadyBodyArrives(t *testing.T) {
	app := newRecorder(t, "web.1", nil)
	addr := fastRouter(t, router.Options{BodyReadTimeout: 300 * time.Millisecond, MinBodyRate: 1000}, app.ep)
	rc := dialRaw(t, addr)
	const pieces, size = 15, 200 // 2000 B/s for 1.5 s: five times the timeout
	rc.send(fmt.Sprintf("POST /steady HTTP/1.1\r\nHost: a.localhost\r\nContent-Length: %d\r\n\r\n", pieces*size))
	for i := range pieces {
		time.Sleep(100 * time.Millisecond)
		rc.send(strings.Repeat(string(rune('a'+i)), size))
	}
	if resp := rc.read("POST"); resp.code != 200 || resp.body != fmt.Sprintf("POST /steady %d", pieces*size) {
		t.Errorf("a steady body at 2000 B/s = %d %q, want 200", resp.code, resp.body)
	}
}

// TestMaxConnsPerClient: one client address holds at most
// MaxConnsPerClient connections (default 256), whether the fast path or
// net/http serves them; the next is answered 429 and closed; a closed
// connection gives its place back.
func TestMaxConnsPerClient(t *testing.T) {
	const max = 256 // router.Options' default
	app := newRecorder(t, "web.1", nil)
	addr := fastRouter(t, router.Options{}, app.ep)
	conns := make([]*rawClient, 0, max)
	for i := range max {
		rc := dialRaw(t, addr)
		if i%2 == 1 {
			// Handed to net/http (an unknown host) and kept alive there.
			rc.send("GET / HTTP/1.1\r\nHost: nobody.localhost\r\n\r\n")
			if resp := rc.read("GET"); resp.code != http.StatusNotFound {
				t.Fatalf("connection %d: GET for an unknown host = %d, want 404", i+1, resp.code)
			}
		}
		conns = append(conns, rc)
	}
	// Every one of them is open and served.
	conns[0].send("GET /first HTTP/1.1\r\nHost: a.localhost\r\n\r\n")
	if resp := conns[0].read("GET"); resp.code != 200 {
		t.Fatalf("GET on connection 1 of %d = %d, want 200", max, resp.code)
	}
	over := dialRaw(t, addr)
	over.send("GET /over HTTP/1.1\r\nHost: a.localhost\r\n\r\n")
	resp, err := over.tryRead("GET")
	if err != nil || resp.code != http.StatusTooManyRequests || resp.header.Get("Retry-After") == "" || !over.closed() {
		t.Fatalf("connection %d from one address: %d %v (err %v); want 429 with Retry-After, then closed", max+1, resp.code, resp.header, err)
	}
	// A place freed is a place taken.
	conns[1].c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rc := dialRaw(t, addr)
		rc.send("GET /again HTTP/1.1\r\nHost: a.localhost\r\n\r\n")
		resp, err := rc.tryRead("GET")
		if err == nil && resp.code == 200 {
			rc.c.Close()
			break
		}
		rc.c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("after one connection closed, a new one = %d (%v), want 200", resp.code, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for len(app.hits) > 0 {
		if h := <-app.hits; h.uri == "/over" {
			t.Errorf("the request over the limit reached the app")
		}
	}
}

// TestLimitListener: a listener wrapped by LimitListener (the HTTPS one)
// shares the count and closes connections over it.
func TestLimitListener(t *testing.T) {
	r, err := router.New(router.Options{MaxConnsPerClient: 2})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lln := r.LimitListener(ln)
	defer lln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := lln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	got := 0
	timeout := time.After(2 * time.Second)
collect:
	for {
		select {
		case c := <-accepted:
			defer c.Close()
			got++
		case <-timeout:
			break collect
		}
	}
	if got != 2 {
		t.Errorf("LimitListener accepted %d of 3 connections from one address, want 2", got)
	}
	_ = clients[2].SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := clients[2].Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("the third connection reads %d bytes, %v; want it closed", n, err)
	}
}
