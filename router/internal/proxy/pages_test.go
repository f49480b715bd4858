package proxy

import (
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestPages compares the pages the router answers with by itself to the
// golden files in testdata/pages; go test -update rewrites them.
func TestPages(t *testing.T) {
	tests := []struct {
		status int
		accept string
	}{
		{http.StatusNotFound, "text/html"},
		{http.StatusNotFound, "application/json"},
		{http.StatusServiceUnavailable, "text/html"},
		{http.StatusServiceUnavailable, "application/json"},
		{http.StatusBadGateway, "text/html"},
		{http.StatusBadGateway, "application/json"},
		{http.StatusRequestEntityTooLarge, "application/json"},
		{http.StatusRequestTimeout, "application/json"},
		{0, "text/html"}, // the router has no table yet
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%d-%s", tt.status, filepath.Base(tt.accept))
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Host = "<b>shop</b>.localhost:8000" // escaped in HTML
			r.Header.Set("Accept", tt.accept)
			r.Header.Set("X-Request-Id", "0123456789abcdef0123456789abcdef")
			w := httptest.NewRecorder()
			if tt.status == 0 {
				ServeStarting(w, r)
			} else {
				writeError(w, r, tt.status, r.Header.Get("X-Request-Id"))
			}
			got := fmt.Sprintf("%d %s\n\n%s", w.Code, w.Header().Get("Content-Type"), w.Body.String())
			path := filepath.Join("testdata", "pages", name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("page (-want +got):\n%s", diff)
			}
		})
	}
}
