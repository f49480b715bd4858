package proxy

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/traefik/traefik/v2/pkg/middlewares/requestdecorator"

	"paas/controller"
)

func TestRequestID(t *testing.T) {
	tests := []struct {
		in   string
		keep bool
	}{
		{"", false},
		{"abc-123", true},
		{"Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1", false}, // ';' is not kept
		{"f0e1d2c3-b4a5-4697-8899-aabbccddeeff", true},
		{"a/b+c=d:e.f_g", true},
		{"<script>", false},
		{"has space", false},
		{string(make([]byte, 129)), false},
	}
	for _, tt := range tests {
		got := requestID(tt.in)
		if kept := got == tt.in; kept != tt.keep {
			t.Errorf("requestID(%q) = %q, want kept %v", tt.in, got, tt.keep)
		}
		if !tt.keep && len(got) != 32 {
			t.Errorf("requestID(%q) = %q, want 32 hex digits", tt.in, got)
		}
	}
	if a, b := requestID(""), requestID(""); a == b {
		t.Errorf("requestID(\"\") twice = %q, %q, want different ids", a, b)
	}
}

func TestForwardedPort(t *testing.T) {
	tests := []struct {
		host string
		tls  bool
		want string
	}{
		{"a.localhost:8000", false, "8000"},
		{"a.localhost", false, "80"},
		{"a.localhost", true, "443"},
		{"a.localhost:", false, "80"},
		{"[::1]:8443", true, "8443"},
		{"[::1]", false, "80"},
		{"", false, "80"},
	}
	for _, tt := range tests {
		r := &http.Request{Host: tt.host}
		if tt.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if got := forwardedPort(r); got != tt.want {
			t.Errorf("forwardedPort(Host %q, TLS %v) = %q, want %q", tt.host, tt.tls, got, tt.want)
		}
	}
}

func TestWantsJSON(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"application/json", true},
		{"application/json, text/plain, */*", true},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", false},
		{"text/html, application/json", false},
	}
	for _, tt := range tests {
		r := &http.Request{Header: http.Header{"Accept": {tt.accept}}}
		if got := wantsJSON(r); got != tt.want {
			t.Errorf("wantsJSON(Accept %q) = %v, want %v", tt.accept, got, tt.want)
		}
	}
}

func TestHostname(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"localhost", true},
		{"shop.localhost", true},
		{"a-b.example.co.uk", true},
		{"*.example.com", true},
		{"xn--bcher-kva.example", true},
		{"*.*.example.com", false},
		{"a.*.example.com", false},
		{"-a.example.com", false},
		{"a-.example.com", false},
		{"a..b", false},
		{"bad`host", false},
		{"Upper.example.com", false}, // the table is lower-case; Build lower-cases first
		{"", false},
	}
	for _, tt := range tests {
		if got := hostname.MatchString(tt.in); got != tt.want {
			t.Errorf("hostname.MatchString(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestCanonicalHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a.localhost", "a.localhost"},
		{"A.LocalHost:8080", "a.localhost"},
		{"a.example.com.", "a.example.com"},
		{"a.example.com.:80", "a.example.com"},
		{"[::1]:8443", "::1"},
		{"[::1]", "::1"},
		{" a.localhost ", "a.localhost"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := canonicalHost(tt.in); got != tt.want {
			t.Errorf("canonicalHost(%q) = %q, want %q", tt.in, got, tt.want)
		}
		// The same host as traefik's request decorator, which the wildcard
		// muxer matches on, less a trailing dot.
		var dec string
		requestdecorator.New(nil).ServeHTTP(nil, &http.Request{Host: tt.in}, func(_ http.ResponseWriter, r *http.Request) {
			dec = strings.TrimSuffix(requestdecorator.GetCanonizedHost(r.Context()), ".")
		})
		if dec != tt.want {
			t.Errorf("requestdecorator canonicalises %q to %q, canonicalHost to %q", tt.in, dec, tt.want)
		}
	}
}

// A client that names X-Request-Id or X-Forwarded-Port as hop-by-hop
// headers (Connection) does not keep them from the backend.
func TestForwardedHeadersNotHopByHop(t *testing.T) {
	seen := make(chan http.Header, 1)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen <- r.Header.Clone() }))
	defer be.Close()
	p := New(Config{Logger: slog.New(slog.DiscardHandler), Metrics: NewMetrics(), MaxIdleConnsPerHost: 4, DefaultMaxBody: -1})
	defer p.CloseIdleConnections()
	tb, err := p.Build(controller.RoutingTable{Apps: []controller.AppRoute{{App: "a", Domains: []string{"a.localhost"},
		Endpoints: []controller.Endpoint{{Instance: "web.1", Address: strings.TrimPrefix(be.URL, "http://")}}}}}, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://a.localhost:8000/", nil)
	req.Header = http.Header{"Connection": {"X-Request-Id, X-Forwarded-Port"}, "X-Request-Id": {"abc-123"}, "X-Forwarded-Port": {"1"}}
	w := httptest.NewRecorder()
	tb.ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("status %d, want 200", w.Code)
	}
	h := <-seen
	if got := h.Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("backend saw X-Request-Id %q, want %q", got, "abc-123")
	}
	if got := h.Get("X-Forwarded-Port"); got != "8000" {
		t.Errorf("backend saw X-Forwarded-Port %q, want %q", got, "8000")
	}
}
