package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestDestroyHoldsTheName: while a destroyed app's leftovers are being
// removed (AppDestroyed), its name cannot be taken by anyone; once the
// destroy has answered, it can.
func TestDestroyHoldsTheName(t *testing.T) {
	e := newEnv(t)
	if _, err := e.st.CreateApp(context.Background(), e.actors["owner"], "shop"); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	e.h = New(Options{Store: e.st, AppDestroyed: func(app string) { close(entered); <-release }})
	destroyed := make(chan *httptest.ResponseRecorder)
	go func() { destroyed <- e.do("DELETE", "/v1/apps/shop", "", e.tokens["owner"]) }()
	<-entered
	if w := e.do("POST", "/v1/apps", `{"name":"shop"}`, e.tokens["other"]); w.Code != http.StatusConflict {
		t.Errorf("create shop while it is being destroyed = %d %s, want 409", w.Code, w.Body)
	}
	if w := e.do("DELETE", "/v1/apps/shop", "", e.tokens["admin"]); w.Code != http.StatusNotFound {
		t.Errorf("destroy shop again while it is being destroyed = %d %s, want 404", w.Code, w.Body)
	}
	select {
	case w := <-destroyed:
		t.Fatalf("destroy answered %d before its leftovers were removed", w.Code)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if w := <-destroyed; w.Code != http.StatusNoContent {
		t.Errorf("destroy = %d %s, want 204", w.Code, w.Body)
	}
	if w := e.do("POST", "/v1/apps", `{"name":"shop"}`, e.tokens["other"]); w.Code != http.StatusCreated {
		t.Errorf("create shop after the destroy = %d %s, want 201", w.Code, w.Body)
	}
}
