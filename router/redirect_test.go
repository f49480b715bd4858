package router_test

import (
	"net/http"
	"testing"

	"paas/controller"
	"paas/router"
)

// An app that forces HTTPS gets its plain-HTTP requests redirected (308,
// path and query kept) to the router's HTTPS port, on every one of its
// domains; other apps are proxied as before; without an HTTPS side there
// is nowhere to redirect to and the app is served over HTTP.
func TestForceHTTPSRedirect(t *testing.T) {
	_, epA := backend(t, "a")
	_, epB := backend(t, "b")
	r, addr := startRouter(t, router.Options{})
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{"a.localhost", "shop.example.com", "*.shop.example.net"}, Endpoints: []controller.Endpoint{epA}, ForceHTTPS: true},
		{App: "b", Domains: []string{"b.localhost"}, Endpoints: []controller.Endpoint{epB}},
	}})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(host, path string) (int, string, string) {
		t.Helper()
		req, err := http.NewRequest("POST", "http://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Content-Type")
	}

	// No HTTPS side yet: served over HTTP.
	if code, loc, _ := do("a.localhost", "/"); code != 200 {
		t.Fatalf("without an HTTPS port: %d %q, want 200", code, loc)
	}

	r.SetHTTPSPort(8443)
	for _, c := range []struct{ host, path, want string }{
		{"a.localhost", "/cart?x=1&y=2", "https://a.localhost:8443/cart?x=1&y=2"},
		{"A.LOCALHOST:8000", "/", "https://a.localhost:8443/"},
		{"shop.example.com", "/p/%2F", "https://shop.example.com:8443/p/%2F"},
		{"eu.shop.example.net", "/", "https://eu.shop.example.net:8443/"},
	} {
		code, loc, _ := do(c.host, c.path)
		if code != http.StatusPermanentRedirect || loc != c.want {
			t.Errorf("POST %s%s: %d %q, want 308 %q", c.host, c.path, code, loc, c.want)
		}
	}
	if code, loc, _ := do("b.localhost", "/"); code != 200 {
		t.Errorf("app without force-https: %d %q, want 200", code, loc)
	}
	// The wildcard does not cover its own apex.
	if code, _, _ := do("shop.example.net", "/"); code != 404 {
		t.Errorf("apex of a wildcard: %d, want 404", code)
	}

	r.SetHTTPSPort(443)
	if _, loc, _ := do("a.localhost", "/x"); loc != "https://a.localhost/x" {
		t.Errorf("HTTPS on 443: Location %q, want no port", loc)
	}

	// Turned off in the next table: served over HTTP again.
	r.Update(controller.RoutingTable{Version: 2, Apps: []controller.AppRoute{
		{App: "a", Domains: []string{"a.localhost"}, Endpoints: []controller.Endpoint{epA}},
	}})
	if code, loc, _ := do("a.localhost", "/"); code != 200 {
		t.Errorf("after force-https was turned off: %d %q, want 200", code, loc)
	}
}
