package store

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"paas/controller"
)

// TestAppBuildpacks: an app's custom buildpacks keep their order through
// replace and remove, on both databases, and go with the app.
func TestAppBuildpacks(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		if _, err := s.CreateApp(ctx, f.owner, "shop"); err != nil {
			t.Fatal(err)
		}
		add := func(name, data string) controller.Buildpack {
			t.Helper()
			b, err := s.AddBuildpack(ctx, f.owner, "shop", name, []byte(data))
			if err != nil {
				t.Fatalf("AddBuildpack(%s): %v", name, err)
			}
			return b
		}
		add("a", "archive a")
		add("b", "archive b")
		if b := add("a", "archive a2"); b.Position != 1 || b.Size != 10 {
			t.Errorf("replaced a: position %d, size %d; want 1, 10", b.Position, b.Size)
		}
		add("c", "archive c")
		if err := s.RemoveBuildpack(ctx, f.owner, "shop", "b"); err != nil {
			t.Fatal(err)
		}
		wantKind(t, "RemoveBuildpack of a missing one", s.RemoveBuildpack(ctx, f.owner, "shop", "b"), controller.ErrNotFound)
		bs, err := s.Buildpacks(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		type short struct {
			Name     string
			Position int
			Size     int64
		}
		var got []short
		for _, b := range bs {
			got = append(got, short{b.Name, b.Position, b.Size})
		}
		if diff := cmp.Diff([]short{{"a", 1, 10}, {"c", 2, 9}}, got); diff != "" {
			t.Errorf("Buildpacks (-want +got):\n%s", diff)
		}
		archs, err := s.BuildpackArchives(ctx, "shop")
		if err != nil || len(archs) != 2 || !bytes.Equal(archs[0], []byte("archive a2")) || !bytes.Equal(archs[1], []byte("archive c")) {
			t.Errorf("BuildpackArchives = %q, %v", archs, err)
		}
		if err := s.DestroyApp(ctx, f.owner, "shop"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateApp(ctx, f.owner, "shop"); err != nil {
			t.Fatal(err)
		}
		if bs, err := s.Buildpacks(ctx, "shop"); err != nil || len(bs) != 0 {
			t.Errorf("a new app of a destroyed one's name has buildpacks %v (%v)", bs, err)
		}
	})
}
