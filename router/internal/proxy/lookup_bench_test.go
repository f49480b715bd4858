package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/traefik/traefik/v2/pkg/middlewares/requestdecorator"
	muxhttp "github.com/traefik/traefik/v2/pkg/muxer/http"
)

// BenchmarkHostLookup compares, for 10,000 apps, finding an app through
// traefik's muxer with one Host rule per app (it tries rules one by one)
// with the exact-host map that Table uses before its wildcard muxer.
func BenchmarkHostLookup(b *testing.B) {
	const n = 10000
	found := 0
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { found++ })
	req := httptest.NewRequest("GET", "/", nil)
	req.Host = fmt.Sprintf("app-%05d.localhost", n/2)
	rec := httptest.NewRecorder()
	decorator := requestdecorator.New(nil)

	b.Run("muxer", func(b *testing.B) {
		m, err := muxhttp.NewMuxer()
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			if err := m.AddRoute(fmt.Sprintf("Host(`app-%05d.localhost`)", i), 0, ok); err != nil {
				b.Fatal(err)
			}
		}
		m.SortRoutes()
		for b.Loop() {
			decorator.ServeHTTP(rec, req, m.ServeHTTP)
		}
	})
	b.Run("map", func(b *testing.B) {
		exact := make(map[string]http.Handler, n)
		for i := range n {
			exact[fmt.Sprintf("app-%05d.localhost", i)] = ok
		}
		route := func(w http.ResponseWriter, r *http.Request) {
			exact[requestdecorator.GetCanonizedHost(r.Context())].ServeHTTP(w, r)
		}
		for b.Loop() {
			decorator.ServeHTTP(rec, req, route)
		}
	})
	if found == 0 {
		b.Fatal("no lookup found the app")
	}
}
