package store

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"paas/controller"
)

// TestQuotas: the operator's maximums refuse a scale above them with a
// message naming the maximum, and change nothing.
func TestQuotas(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		s.SetQuotas(controller.Quotas{MaxMemory: 1 << 30, MaxCPU: 2000, MaxPids: 1000, MaxProcessInstances: 5, MaxAppInstances: 8})
		f := newFixture(t, s)
		if _, err := s.CreateApp(ctx, f.owner, "shop"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Scale(ctx, f.owner, "shop", []controller.ProcessUpdate{{Type: "web", Quantity: num(1)}}); err != nil {
			t.Fatal(err)
		}
		bad := []struct {
			name string
			u    []controller.ProcessUpdate
			want string
		}{
			{"per type", []controller.ProcessUpdate{{Type: "web", Quantity: num(6)}}, "web=6: quantity must be between 0 and 5"},
			{"memory", []controller.ProcessUpdate{{Type: "web", Memory: ptr(int64(2 << 30))}}, "web: memory limit must be between 16M and 1G"},
			{"cpu", []controller.ProcessUpdate{{Type: "web", CPU: num(2001)}}, "web: CPU limit must be between 10m and 2000m (millicores)"},
			{"pids", []controller.ProcessUpdate{{Type: "web", Pids: ptr(int64(1001))}}, "web: process limit must be between 16 and 1000"},
			{"few pids", []controller.ProcessUpdate{{Type: "web", Pids: ptr(int64(8))}}, "web: process limit must be between 16 and 1000"},
			{"per app", []controller.ProcessUpdate{{Type: "web", Quantity: num(5)}, {Type: "worker", Quantity: num(4)}}, "shop would run 9 instances: at most 8 per app on this server"},
		}
		for _, b := range bad {
			_, err := s.Scale(ctx, f.owner, "shop", b.u)
			wantKind(t, "Scale("+b.name+")", err, controller.ErrInvalid)
			if err == nil || err.Error() != b.want {
				t.Errorf("Scale(%s) = %v, want %q", b.name, err, b.want)
			}
		}
		got, err := s.Formation(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]controller.Process{{Type: "web", Quantity: 1}}, got); diff != "" {
			t.Errorf("Formation after refused scales (-want +got):\n%s", diff)
		}
		// At the maximums it is fine.
		got, err = s.Scale(ctx, f.owner, "shop", []controller.ProcessUpdate{{Type: "web", Quantity: num(5), Memory: ptr(int64(1 << 30)), CPU: num(2000), Pids: ptr(int64(1000))}, {Type: "worker", Quantity: num(3)}})
		if err != nil {
			t.Errorf("Scale at the maximums = %v", err)
		}
		want := []controller.Process{{Type: "web", Quantity: 5, Memory: 1 << 30, CPU: 2000, Pids: 1000}, {Type: "worker", Quantity: 3}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Scale at the maximums (-want +got):\n%s", diff)
		}
		s.SetQuotas(controller.Quotas{MaxMemory: 1536 << 20})
		_, err = s.Scale(ctx, f.owner, "shop", []controller.ProcessUpdate{{Type: "web", Memory: ptr(int64(2 << 30))}})
		if want := "web: memory limit must be between 16M and 1536M"; err == nil || err.Error() != want {
			t.Errorf("Scale(memory over 1536M) = %v, want %q", err, want)
		}
	})
}

// TestAppLimit: a user owns at most the server's default number of apps,
// or their own limit set by an admin; admins have none; concurrent
// creations cannot pass the limit together.
func TestAppLimit(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		s.SetQuotas(controller.Quotas{AppLimit: 2})
		f := newFixture(t, s)
		for _, name := range []string{"shop", "blog"} {
			if _, err := s.CreateApp(ctx, f.owner, name); err != nil {
				t.Fatal(err)
			}
		}
		_, err := s.CreateApp(ctx, f.owner, "cart")
		wantKind(t, "CreateApp past the limit", err, controller.ErrForbidden)
		if want := "you own 2 apps, the most you may (your limit is 2): destroy one, or ask an admin to raise your limit"; err == nil || err.Error() != want {
			t.Errorf("CreateApp past the limit = %v, want %q", err, want)
		}
		if _, err := s.App(ctx, "cart"); err == nil {
			t.Error("the refused app exists")
		}
		q, err := s.UserQuota(ctx, "olive")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(controller.UserQuota{User: "olive", AppLimit: num(2), AppsOwned: 2}, q); diff != "" {
			t.Errorf("UserQuota (-want +got):\n%s", diff)
		}
		// Admins have no limit.
		for i := range 3 {
			if _, err := s.CreateApp(ctx, f.admin, fmt.Sprintf("admin-%d", i)); err != nil {
				t.Errorf("admin's app %d: %v", i, err)
			}
		}
		// An admin raises olive's limit, then gives her the default again.
		q, err = s.SetUserLimits(ctx, f.admin, "olive", controller.UserLimits{Apps: num(3)})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(controller.UserQuota{User: "olive", Apps: num(3), AppLimit: num(3), AppsOwned: 2}, q); diff != "" {
			t.Errorf("SetUserLimits(3) (-want +got):\n%s", diff)
		}
		if _, err := s.CreateApp(ctx, f.owner, "cart"); err != nil {
			t.Errorf("CreateApp under a raised limit = %v", err)
		}
		if q, err = s.SetUserLimits(ctx, f.admin, "olive", controller.UserLimits{}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(controller.UserQuota{User: "olive", AppLimit: num(2), AppsOwned: 3}, q); diff != "" {
			t.Errorf("SetUserLimits(default) (-want +got):\n%s", diff)
		}
		// Bad limits change nothing.
		_, err = s.SetUserLimits(ctx, f.admin, "olive", controller.UserLimits{Apps: num(-1)})
		wantKind(t, "SetUserLimits(-1)", err, controller.ErrInvalid)
		_, err = s.SetUserLimits(ctx, f.admin, "nobody", controller.UserLimits{Apps: num(1)})
		wantKind(t, "SetUserLimits(unknown user)", err, controller.ErrNotFound)
		if q, _ := s.UserQuota(ctx, "olive"); q.Apps != nil {
			t.Errorf("olive's own limit after refused changes = %d, want none", *q.Apps)
		}
		// A limit of 0: no apps at all.
		if _, err := s.SetUserLimits(ctx, f.admin, "otto", controller.UserLimits{Apps: num(0)}); err != nil {
			t.Fatal(err)
		}
		_, err = s.CreateApp(ctx, f.other, "otto-1")
		wantKind(t, "CreateApp with limit 0", err, controller.ErrForbidden)
		// Ten creations at once under a limit of 2: two apps.
		if _, err := s.SetUserLimits(ctx, f.admin, "otto", controller.UserLimits{Apps: num(2)}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		created := 0
		for i := range 10 {
			wg.Go(func() {
				if _, err := s.CreateApp(ctx, f.other, fmt.Sprintf("otto-%d", i)); err == nil {
					mu.Lock()
					created++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if q, _ := s.UserQuota(ctx, "otto"); created != 2 || q.AppsOwned != 2 {
			t.Errorf("concurrent creations under a limit of 2: %d succeeded, otto owns %d; want 2 and 2", created, q.AppsOwned)
		}
		evs, err := s.Audit(ctx, controller.AuditQuery{Actor: f.admin.Name})
		if err != nil {
			t.Fatal(err)
		}
		var limits []string
		for _, e := range evs {
			if e.Action == "user.limits" {
				limits = append(limits, e.Detail)
			}
		}
		if diff := cmp.Diff([]string{"user otto apps=2", "user otto apps=0", "user olive apps=default", "user olive apps=3"}, limits); diff != "" {
			t.Errorf("audit of user.limits (-want +got):\n%s", diff)
		}
	})
}
