package runtime

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func newLocalServer(b *testing.B, h http.Handler) string {
	s := httptest.NewServer(h)
	b.Cleanup(s.Close)
	return s.URL
}
