// Package routing holds the controller's current routing table and lets
// followers watch it: Table returns as soon as the table is newer than the
// version the caller has. The scheduler publishes; the router (in the same
// process or over the API) follows.
package routing

import (
	"context"
	"reflect"
	"sync"

	"paas/controller"
)

// Publisher holds the current table. The zero value is not usable; use
// New. It is safe for concurrent use.
type Publisher struct {
	mu      sync.Mutex
	table   controller.RoutingTable
	changed chan struct{} // closed and replaced on every change
}

// New returns a Publisher with an empty table at version 1. Every table
// it publishes carries baseDomain and apiHosts, the server's own host
// names (see controller.RoutingTable).
func New(baseDomain string, apiHosts ...string) *Publisher {
	return &Publisher{
		table:   controller.RoutingTable{Version: 1, BaseDomain: baseDomain, Apps: []controller.AppRoute{}, APIHosts: apiHosts},
		changed: make(chan struct{}),
	}
}

// Publish makes apps the current table, with a new version, unless it is
// the same as the current one. It reports whether the table changed.
func (p *Publisher) Publish(apps []controller.AppRoute) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if apps == nil {
		apps = []controller.AppRoute{}
	}
	if reflect.DeepEqual(apps, p.table.Apps) {
		return false
	}
	p.table = controller.RoutingTable{Version: p.table.Version + 1, BaseDomain: p.table.BaseDomain, Apps: apps, APIHosts: p.table.APIHosts}
	close(p.changed)
	p.changed = make(chan struct{})
	return true
}

// Table returns the current table once its version is greater than after;
// until then it waits, and returns ctx's error if ctx ends first.
func (p *Publisher) Table(ctx context.Context, after int64) (controller.RoutingTable, error) {
	for {
		p.mu.Lock()
		t, ch := p.table, p.changed
		p.mu.Unlock()
		if t.Version > after {
			return t, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return controller.RoutingTable{}, ctx.Err()
		}
	}
}

// Current returns the current table without waiting.
func (p *Publisher) Current() controller.RoutingTable {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.table
}
