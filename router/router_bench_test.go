package router_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"paas/controller"
	"paas/router"
)

// bigTable has n apps, each with its default domain, a custom domain and
// three endpoints, and one wildcard domain per hundred apps.
func bigTable(n int, version int64) controller.RoutingTable {
	t := controller.RoutingTable{Version: version, BaseDomain: "localhost", Apps: make([]controller.AppRoute, n)}
	for i := range n {
		name := fmt.Sprintf("app-%05d", i)
		domains := []string{name + ".localhost", name + ".example.com"}
		if i%100 == 0 {
			domains = append(domains, "*."+name+".example.org")
		}
		eps := make([]controller.Endpoint, 3)
		for j := range eps {
			eps[j] = controller.Endpoint{Instance: fmt.Sprintf("web.%d", j+1), Release: 1,
				Address: fmt.Sprintf("10.%d.%d.%d:5000", i>>8&255, i&255, j+2)}
		}
		t.Apps[i] = controller.AppRoute{App: name, Domains: domains, Endpoints: eps}
	}
	return t
}

// BenchmarkUpdate10000Apps times a whole-table swap with 10,000 apps
// (20,000 host names, 100 wildcards, 30,000 endpoints).
func BenchmarkUpdate10000Apps(b *testing.B) {
	r, err := router.New(router.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	tables := []controller.RoutingTable{bigTable(10000, 0), bigTable(10000, 0)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := tables[i%2]
		t.Version = int64(i + 1)
		r.Update(t)
	}
}

// BenchmarkProxy sends requests over loopback through the router and,
// as its peer, through net/http/httputil's ReverseProxy alone, to the same
// backend.
func BenchmarkProxy(b *testing.B) {
	body := []byte("hello from the backend\n")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	defer backend.Close()
	target, _ := url.Parse(backend.URL)

	r, err := router.New(router.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	r.Update(controller.RoutingTable{Version: 1, Apps: []controller.AppRoute{
		{App: "app", Domains: []string{"app.localhost"}, Endpoints: []controller.Endpoint{{Instance: "web.1", Address: target.Host}}},
	}})
	bare := httputil.NewSingleHostReverseProxy(target)
	bare.Transport = &http.Transport{MaxIdleConnsPerHost: 256}

	for _, p := range []struct {
		name string
		h    http.Handler
	}{{"router", r}, {"stdlib", bare}} {
		b.Run(p.name, func(b *testing.B) {
			srv := httptest.NewServer(p.h)
			defer srv.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest("GET", srv.URL+"/", nil)
					req.Host = "app.localhost"
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}
