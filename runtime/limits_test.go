package runtime_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"paas/runtime"
)

// TestDefaultLimits: an instance whose spec sets no limits gets the
// runtime's default memory, CPU and pids (the operator's instance-*
// settings); one that sets them gets its own.
func TestDefaultLimits(t *testing.T) {
	r := newTestRuntime(t, func(o *runtime.Options) { o.Memory, o.CPU, o.Pids = 96<<20, 250, 100 })
	ctx := context.Background()
	type limits struct {
		Memory, CPUQuota, Pids int64
	}
	for _, tt := range []struct {
		name string
		spec runtime.Spec
		want limits
	}{
		{"defaults", runtime.Spec{}, limits{96 << 20, 25000, 100}},
		{"own", runtime.Spec{Memory: 128 << 20, CPU: 1500, Pids: 300}, limits{128 << 20, 150000, 300}},
	} {
		s := tt.spec
		s.App, s.Release, s.Process, s.Number, s.Image, s.Command = "shop", 1, "worker", 1, testImage, "sleep 600"
		inst, err := r.Start(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		c, err := runtime.Dial(r)
		if err != nil {
			t.Fatal(err)
		}
		ctr, err := c.LoadContainer(ctx, inst.ID)
		if err != nil {
			t.Fatal(err)
		}
		sp, err := ctr.Spec(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got limits
		if res := sp.Linux.Resources; res != nil {
			if res.Memory != nil && res.Memory.Limit != nil {
				got.Memory = *res.Memory.Limit
			}
			if res.CPU != nil && res.CPU.Quota != nil {
				got.CPUQuota = *res.CPU.Quota
			}
			if res.Pids != nil && res.Pids.Limit != nil {
				got.Pids = *res.Pids.Limit
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: container limits (-want +got):\n%s", tt.name, diff)
		}
		if err := r.Stop(ctx, inst.ID); err != nil {
			t.Fatal(err)
		}
	}
}
