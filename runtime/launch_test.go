package runtime_test

import (
	"context"
	"slices"
	"testing"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"paas/internal/testenv"
	"paas/runtime"
)

// TestCapabilities: containers keep containerd's default capabilities
// without the dropped ones, and CapEff is their mask.
func TestCapabilities(t *testing.T) {
	ctx := namespaces.WithNamespace(context.Background(), "test")
	spec, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range spec.Process.Capabilities.Bounding {
		if !slices.Contains(runtime.DroppedCapabilities, c) {
			want = append(want, c)
		}
	}
	got := slices.Clone(runtime.Capabilities)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Capabilities = %v, want containerd's defaults without %v: %v", got, runtime.DroppedCapabilities, want)
	}
	if got := runtime.CapEff(); got != 0x405fb {
		t.Errorf("CapEff() = %#x, want 0x405fb", got)
	}
}

func TestParseIDMap(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    runtime.IDMap
		wantErr bool
	}{
		{"2000000000:65536", runtime.IDMap{Host: 2000000000, Size: 65536}, false},
		{"100000:65536", runtime.IDMap{Host: 100000, Size: 65536}, false},
		{"0:65536", runtime.IDMap{}, true},          // the host's root
		{"100000:1000", runtime.IDMap{}, true},      // too small for nobody
		{"4294901760:65536", runtime.IDMap{}, true}, // past the largest uid
		{"100000", runtime.IDMap{}, true},           // no size
		{"-1:65536", runtime.IDMap{}, true},         // negative
		{"100000:65536:1", runtime.IDMap{}, true},   // three fields
		{" 100000:65536", runtime.IDMap{}, true},    // space
	} {
		got, err := runtime.ParseIDMap(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseIDMap(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestCheckKernel: this machine's kernel has all the launcher needs (the
// CI machine runs Linux 6.18).
func TestCheckKernel(t *testing.T) {
	testenv.Root(t)
	for _, f := range runtime.CheckKernel(t.TempDir(), runtime.DefaultUserNS) {
		if !f.OK {
			t.Errorf("CheckKernel: %s: %s", f.Name, f.Info)
		}
	}
}

func TestCommonParent(t *testing.T) {
	for _, tc := range []struct {
		dirs []string
		want string
	}{
		{[]string{"/s/snapshots/3/fs", "/s/snapshots/12/fs", "/s/snapshots/12/work"}, "/s/snapshots"},
		{[]string{"/s/snapshots/3/fs"}, "/s/snapshots/3"},
		{[]string{"/a/fs", "/b/fs"}, "/"},
		{[]string{"/s/snap/1/fs", "/s/snapshots/2/fs"}, "/s"},
	} {
		if got := runtime.CommonParent(tc.dirs); got != tc.want {
			t.Errorf("commonParent(%q) = %q, want %q", tc.dirs, got, tc.want)
		}
	}
}
