package routing

import (
	"context"
	"testing"
	"time"

	"paas/controller"
)

func TestPublishAndWatch(t *testing.T) {
	p := New("localhost")
	ctx := context.Background()
	t0, err := p.Table(ctx, 0)
	if err != nil || t0.Version != 1 || len(t0.Apps) != 0 {
		t.Fatalf("Table(0) = %+v, %v; want the empty version 1", t0, err)
	}
	got := make(chan controller.RoutingTable)
	go func() {
		tb, _ := p.Table(ctx, t0.Version)
		got <- tb
	}()
	select {
	case tb := <-got:
		t.Fatalf("Table(after current) returned %+v before a change", tb)
	case <-time.After(50 * time.Millisecond):
	}
	apps := []controller.AppRoute{{App: "shop", Domains: []string{"shop.localhost"}}}
	if !p.Publish(apps) {
		t.Fatal("Publish of a new table reported no change")
	}
	select {
	case tb := <-got:
		if tb.Version != 2 || tb.Apps[0].App != "shop" || tb.BaseDomain != "localhost" {
			t.Errorf("watched table = %+v, want version 2 with shop", tb)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher did not wake on Publish")
	}
	if p.Publish([]controller.AppRoute{{App: "shop", Domains: []string{"shop.localhost"}}}) {
		t.Error("publishing an equal table made a new version")
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := p.Table(cctx, 2); err == nil {
		t.Error("Table with a context that ends returned no error")
	}
}
