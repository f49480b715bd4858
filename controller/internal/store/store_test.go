package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"paas/controller"
	"paas/controller/internal/seal"
	"paas/internal/testenv"
)

// forEachDB runs a test against a fresh SQLite file and a fresh
// PostgreSQL database (which fails under CI=true when PostgreSQL is
// missing, and is skipped elsewhere).
func forEachDB(t *testing.T, fn func(t *testing.T, s *Store)) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var dsn string
			if db == "sqlite" {
				dsn = filepath.Join(t.TempDir(), "paas.db")
			} else {
				dsn = testenv.Postgres(t)
			}
			fn(t, openStore(t, dsn))
		})
	}
}

func openStore(t *testing.T, dsn string) *Store {
	t.Helper()
	key, err := seal.LoadOrCreateKey(filepath.Join(t.TempDir(), "key"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := seal.New(key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), dsn, sealer)
	if err != nil {
		t.Fatalf("Open(%q) = %v", dsn, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fixture makes an admin, two users and an app owned by the first user.
type fixture struct {
	admin, owner, other Actor
}

func newFixture(t *testing.T, s *Store) fixture {
	t.Helper()
	ctx := context.Background()
	var secret string
	if _, err := s.Bootstrap(ctx, func(x string) error { secret = x; return nil }); err != nil {
		t.Fatal(err)
	}
	admin, _, err := s.Authenticate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{admin: admin}
	for _, p := range []struct {
		name string
		dst  *Actor
	}{{"olive", &f.owner}, {"otto", &f.other}} {
		cu, err := s.CreateUser(ctx, admin, controller.NewUser{Name: p.name})
		if err != nil {
			t.Fatal(err)
		}
		if *p.dst, _, err = s.Authenticate(ctx, cu.Token.Secret); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: error = %v, want kind %v", what, err, kind)
	}
}

func str(s string) *string { return &s }
func num(n int) *int       { return &n }

func TestBootstrap(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if created, err := s.Bootstrap(ctx, func(string) error { return errors.New("disk full") }); err == nil || created {
			t.Fatalf("Bootstrap with failing keep = %v, %v; want false and an error", created, err)
		}
		if us, _ := s.Users(ctx); len(us) != 0 {
			t.Fatalf("after a failed Bootstrap, Users = %v, want none", us)
		}
		var secret string
		created, err := s.Bootstrap(ctx, func(x string) error { secret = x; return nil })
		if err != nil || !created {
			t.Fatalf("Bootstrap = %v, %v; want true, nil", created, err)
		}
		who, tok, err := s.Authenticate(ctx, secret)
		if err != nil || who.Name != BootstrapUser || !who.Admin || tok.Description != BootstrapTokenDescription {
			t.Fatalf("Authenticate(bootstrap token) = %+v, %+v, %v", who, tok, err)
		}
		again, err := s.Bootstrap(ctx, func(string) error { t.Error("second Bootstrap called keep"); return nil })
		if err != nil || again {
			t.Errorf("second Bootstrap = %v, %v; want false, nil", again, err)
		}
		_, _, err = s.Authenticate(ctx, "paas_nonsense")
		wantKind(t, "Authenticate(unknown)", err, controller.ErrUnauthorized)
	})
}

func TestUsersAndTokens(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		_, err := s.CreateUser(ctx, f.admin, controller.NewUser{Name: "olive"})
		wantKind(t, "CreateUser(duplicate)", err, controller.ErrConflict)
		for _, bad := range []string{"", "Olive", "a b", "x;y", strings.Repeat("a", 40)} {
			_, err := s.CreateUser(ctx, f.admin, controller.NewUser{Name: bad})
			wantKind(t, fmt.Sprintf("CreateUser(%q)", bad), err, controller.ErrInvalid)
		}
		nt, err := s.CreateToken(ctx, f.owner, "laptop")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(nt.Secret, nt.Prefix) || len(nt.Secret) < 40 {
			t.Errorf("CreateToken = %+v: secret should start with its prefix and be long", nt)
		}
		if who, _, err := s.Authenticate(ctx, nt.Secret); err != nil || who.Name != "olive" {
			t.Errorf("Authenticate(new token) = %v, %v; want olive", who.Name, err)
		}
		wantKind(t, "RevokeToken(someone else's)", s.RevokeToken(ctx, f.other, nt.ID), controller.ErrNotFound)
		if err := s.RevokeToken(ctx, f.owner, nt.ID); err != nil {
			t.Fatal(err)
		}
		_, _, err = s.Authenticate(ctx, nt.Secret)
		wantKind(t, "Authenticate(revoked)", err, controller.ErrUnauthorized)
		wantKind(t, "RevokeToken(twice)", s.RevokeToken(ctx, f.owner, nt.ID), controller.ErrNotFound)

		if _, err := s.CreateApp(ctx, f.owner, "shop"); err != nil {
			t.Fatal(err)
		}
		wantKind(t, "DeleteUser(app owner)", s.DeleteUser(ctx, f.admin, "olive"), controller.ErrConflict)
		wantKind(t, "DeleteUser(last admin)", s.DeleteUser(ctx, f.admin, "admin"), controller.ErrConflict)
		if err := s.DeleteUser(ctx, f.admin, "otto"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.User(ctx, "otto"); !errors.Is(err, controller.ErrNotFound) {
			t.Errorf("User(deleted) = %v, want not found", err)
		}
	})
}

func TestAppsVisibilityAndDestroy(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		if _, err := s.CreateApp(ctx, f.owner, "shop"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateApp(ctx, f.other, "blog"); err != nil {
			t.Fatal(err)
		}
		_, err := s.CreateApp(ctx, f.other, "shop")
		wantKind(t, "CreateApp(taken)", err, controller.ErrConflict)
		random, err := s.CreateApp(ctx, f.other, "")
		if err != nil || controller.ValidateAppName(random.Name) != nil {
			t.Errorf("CreateApp(\"\") = %q, %v; want a valid random name", random.Name, err)
		}
		names := func(who Actor) []string {
			apps, err := s.Apps(ctx, who)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, a := range apps {
				out = append(out, a.Name)
			}
			return out
		}
		if diff := cmp.Diff([]string{"shop"}, names(f.owner)); diff != "" {
			t.Errorf("Apps(owner) (-want +got):\n%s", diff)
		}
		if _, err := s.AddCollaborator(ctx, f.owner, "shop", "otto"); err != nil {
			t.Fatal(err)
		}
		want := []string{"blog", random.Name, "shop"}
		sort.Strings(want)
		if diff := cmp.Diff(want, names(f.other)); diff != "" {
			t.Errorf("Apps(collaborator) (-want +got):\n%s", diff)
		}
		if got := len(names(f.admin)); got != 3 {
			t.Errorf("Apps(admin) has %d apps, want 3", got)
		}
		for who, want := range map[*Actor]Role{&f.owner: RoleOwner, &f.other: RoleCollaborator, &f.admin: RoleNone} {
			if got, err := s.Access(ctx, *who, "shop"); err != nil || got != want {
				t.Errorf("Access(%s, shop) = %v, %v; want %v", who.Name, got, err, want)
			}
		}
		_, err = s.AddCollaborator(ctx, f.owner, "shop", "olive")
		wantKind(t, "AddCollaborator(owner)", err, controller.ErrInvalid)
		_, err = s.AddCollaborator(ctx, f.owner, "shop", "otto")
		wantKind(t, "AddCollaborator(twice)", err, controller.ErrConflict)
		_, err = s.AddCollaborator(ctx, f.owner, "shop", "nobody")
		wantKind(t, "AddCollaborator(unknown user)", err, controller.ErrNotFound)

		// Destroy removes everything of the app, and only of that app.
		if _, err := s.SetConfig(ctx, f.owner, "shop", map[string]*string{"A": str("1")}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateRelease(ctx, f.owner, "shop", controller.NewRelease{Image: "docker.io/library/busybox:latest", ProcessTypes: map[string]string{"web": "httpd"}}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddDomain(ctx, f.owner, "shop", "shop.example.com"); err != nil {
			t.Fatal(err)
		}
		if err := s.DestroyApp(ctx, f.owner, "shop"); err != nil {
			t.Fatal(err)
		}
		_, err = s.App(ctx, "shop")
		wantKind(t, "App(destroyed)", err, controller.ErrNotFound)
		for table, want := range map[string]int64{"collaborators": 0, "config_vars": 0, "releases": 0, "processes": 0, "domains": 0} {
			var n int64
			if err := s.db.Table(table).Count(&n).Error; err != nil || n != want {
				t.Errorf("rows in %s after destroy = %d, %v; want %d", table, n, err, want)
			}
		}
		// The name is free again, and the audit log kept the history.
		if _, err := s.CreateApp(ctx, f.other, "shop"); err != nil {
			t.Errorf("CreateApp(shop) after destroy = %v", err)
		}
		evs, err := s.Audit(ctx, controller.AuditQuery{App: "shop"})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range evs {
			actions = append(actions, e.Action)
		}
		want = []string{"app.create", "app.destroy", "domain.add", "release.create", "config.set", "access.add", "app.create"}
		if diff := cmp.Diff(want, actions); diff != "" {
			t.Errorf("audit of shop (-want +got):\n%s", diff)
		}
	})
}

func TestConfigReleasesRollback(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		if _, err := s.CreateApp(ctx, f.owner, "shop"); err != nil {
			t.Fatal(err)
		}
		// Before any release, config is recorded and makes no release.
		cc, err := s.SetConfig(ctx, f.owner, "shop", map[string]*string{"A": str("1"), "B": str("x=y z")})
		if err != nil || cc.Release != nil || !cc.Changed {
			t.Fatalf("SetConfig before a release = %+v, %v; want a change and no release", cc, err)
		}
		_, err = s.Rollback(ctx, f.owner, "shop", 0)
		wantKind(t, "Rollback(no release)", err, controller.ErrInvalid)

		v1, err := s.CreateRelease(ctx, f.owner, "shop", controller.NewRelease{Image: "paas/shop:1", ProcessTypes: map[string]string{"web": "./web", "worker": "./work"}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if v1.Version != 1 || v1.Status != controller.ReleasePending || v1.CreatedBy != "olive" {
			t.Errorf("CreateRelease = %+v; want v1, pending, by olive", v1)
		}
		cc, err = s.SetConfig(ctx, f.owner, "shop", map[string]*string{"A": str("2"), "B": nil})
		if err != nil || cc.Release == nil || cc.Release.Version != 2 || cc.Release.Image != "paas/shop:1" {
			t.Fatalf("SetConfig after v1 = %+v, %v; want release v2 of paas/shop:1", cc.Release, err)
		}
		if diff := cmp.Diff(map[string]string{"A": "2"}, cc.Config); diff != "" {
			t.Errorf("config after set/unset (-want +got):\n%s", diff)
		}
		if cc.Release.Description != "Set A; Unset B" {
			t.Errorf("release description = %q, want %q", cc.Release.Description, "Set A; Unset B")
		}
		// A change that changes nothing makes no release.
		if cc, err := s.SetConfig(ctx, f.owner, "shop", map[string]*string{"A": str("2"), "NOPE": nil}); err != nil || cc.Release != nil || cc.Changed {
			t.Errorf("no-op SetConfig = %+v, %v; want no change and no release", cc, err)
		}

		r1, err := s.Release(ctx, "shop", 1)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]string{"A": "1", "B": "x=y z"}, r1.Config); diff != "" {
			t.Errorf("v1 config snapshot (-want +got):\n%s", diff)
		}

		v3, err := s.Rollback(ctx, f.owner, "shop", 0) // to the one before v2: v1
		if err != nil {
			t.Fatal(err)
		}
		if v3.Version != 3 || v3.Image != "paas/shop:1" || v3.Description != "Rollback to v1" {
			t.Errorf("Rollback = %+v; want v3 of v1", v3)
		}
		cfg, _ := s.Config(ctx, "shop")
		if diff := cmp.Diff(r1.Config, cfg); diff != "" {
			t.Errorf("config after rollback is not v1's (-want +got):\n%s", diff)
		}
		_, err = s.Rollback(ctx, f.owner, "shop", 3)
		wantKind(t, "Rollback(current)", err, controller.ErrInvalid)
		_, err = s.Rollback(ctx, f.owner, "shop", 9)
		wantKind(t, "Rollback(v9)", err, controller.ErrNotFound)

		// A failed release is not current and cannot be rolled back to.
		if err := s.SetReleaseStatus(ctx, "shop", 3, controller.ReleaseFailed, "health check failed"); err != nil {
			t.Fatal(err)
		}
		a, _ := s.App(ctx, "shop")
		if a.Release != 2 {
			t.Errorf("current release after v3 failed = v%d, want v2", a.Release)
		}
		_, err = s.Rollback(ctx, f.owner, "shop", 3)
		wantKind(t, "Rollback(failed release)", err, controller.ErrInvalid)

		rs, err := s.Releases(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		var versions []int
		for _, r := range rs {
			versions = append(versions, r.Version)
			if r.Config != nil {
				t.Errorf("Releases lists v%d with its config; only Release should", r.Version)
			}
		}
		if diff := cmp.Diff([]int{3, 2, 1}, versions); diff != "" {
			t.Errorf("release versions (-want +got):\n%s", diff)
		}
	})
}

func TestConfigValidation(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		if _, err := s.CreateApp(ctx, f.owner, "shop"); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"1A", "A-B", "A B", "", "PORT", "PAAS_APP", "A;B", "$(id)"} {
			_, err := s.SetConfig(ctx, f.owner, "shop", map[string]*string{"OK": str("1"), key: str("v")})
			wantKind(t, fmt.Sprintf("SetConfig(%q)", key), err, controller.ErrInvalid)
		}
		_, err := s.SetConfig(ctx, f.owner, "shop", map[string]*string{"BIG": str(strings.Repeat("x", controller.MaxConfigValueLen+1))})
		wantKind(t, "SetConfig(too big)", err, controller.ErrInvalid)
		cfg, err := s.Config(ctx, "shop")
		if err != nil || len(cfg) != 0 {
			t.Errorf("config after refused changes = %v, %v; want empty", cfg, err)
		}
	})
}

func TestConfigSealedAtRest(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		if _, err := s.CreateApp(ctx, f.owner, "shop"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateRelease(ctx, f.owner, "shop", controller.NewRelease{Image: "paas/shop:1"}, 0); err != nil {
			t.Fatal(err)
		}
		const canary = "canary-4f1d2e9a"
		if _, err := s.SetConfig(ctx, f.owner, "shop", map[string]*string{"SECRET": str(canary)}); err != nil {
			t.Fatal(err)
		}
		var values []string
		s.db.Table("config_vars").Pluck("value", &values)
		var snapshots []string
		s.db.Table("releases").Pluck("config", &snapshots)
		var details []string
		s.db.Table("audit_events").Pluck("detail", &details)
		for _, v := range append(append(values, snapshots...), details...) {
			if strings.Contains(v, canary) {
				t.Errorf("the database holds the config value in plain text: %q", v)
			}
		}
		if len(values) != 1 || len(snapshots) != 2 {
			t.Errorf("found %d config rows and %d release snapshots, want 1 and 2", len(values), len(snapshots))
		}
		if cfg, _ := s.Config(ctx, "shop"); cfg["SECRET"] != canary {
			t.Errorf("Config()[SECRET] = %q, want %q", cfg["SECRET"], canary)
		}
	})
}

func TestFormation(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		if _, err := s.CreateApp(ctx, f.owner, "shop"); err != nil {
			t.Fatal(err)
		}
		mem := int64(256 << 20)
		// Before a release any valid type may be scaled.
		got, err := s.Scale(ctx, f.owner, "shop", []controller.ProcessUpdate{{Type: "web", Quantity: num(2), Memory: &mem}, {Type: "clock", Quantity: num(1)}})
		if err != nil {
			t.Fatal(err)
		}
		want := []controller.Process{{Type: "clock", Quantity: 1}, {Type: "web", Quantity: 2, Memory: mem}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Scale before a release (-want +got):\n%s", diff)
		}
		bad := []struct {
			name string
			u    []controller.ProcessUpdate
		}{
			{"none", nil},
			{"negative", []controller.ProcessUpdate{{Type: "web", Quantity: num(-1)}}},
			{"too many", []controller.ProcessUpdate{{Type: "web", Quantity: num(MaxQuantity + 1)}}},
			{"bad type", []controller.ProcessUpdate{{Type: "Web", Quantity: num(1)}}},
			{"twice", []controller.ProcessUpdate{{Type: "web", Quantity: num(1)}, {Type: "web", Quantity: num(2)}}},
			{"nothing", []controller.ProcessUpdate{{Type: "web"}}},
			{"tiny memory", []controller.ProcessUpdate{{Type: "web", Memory: ptr(int64(1 << 20))}}},
			{"huge cpu", []controller.ProcessUpdate{{Type: "web", CPU: num(MaxCPU + 1)}}},
		}
		for _, b := range bad {
			_, err := s.Scale(ctx, f.owner, "shop", b.u)
			wantKind(t, "Scale("+b.name+")", err, controller.ErrInvalid)
		}
		// A release names its process types; new ones join (web at 1 if
		// not scaled before), and only those can be scaled.
		if _, err := s.CreateRelease(ctx, f.owner, "shop", controller.NewRelease{Image: "paas/shop:1", ProcessTypes: map[string]string{"web": "./web", "worker": "./work"}}, 0); err != nil {
			t.Fatal(err)
		}
		got, err = s.Formation(ctx, "shop")
		if err != nil {
			t.Fatal(err)
		}
		want = []controller.Process{{Type: "web", Quantity: 2, Memory: mem, Command: "./web"}, {Type: "worker", Quantity: 0, Command: "./work"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Formation after a release (-want +got):\n%s", diff)
		}
		_, err = s.Scale(ctx, f.owner, "shop", []controller.ProcessUpdate{{Type: "clock", Quantity: num(1)}})
		wantKind(t, "Scale(type not in release)", err, controller.ErrInvalid)
	})
}

func ptr[T any](v T) *T { return &v }

func TestDomainsAndKeysAreUnique(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		for _, a := range []struct {
			who  Actor
			name string
		}{{f.owner, "shop"}, {f.other, "blog"}} {
			if _, err := s.CreateApp(ctx, a.who, a.name); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.AddDomain(ctx, f.owner, "shop", "shop.example.com"); err != nil {
			t.Fatal(err)
		}
		_, err := s.AddDomain(ctx, f.other, "blog", "shop.example.com")
		wantKind(t, "AddDomain(taken by another app)", err, controller.ErrConflict)
		_, err = s.AddDomain(ctx, f.owner, "shop", "shop.example.com")
		wantKind(t, "AddDomain(twice)", err, controller.ErrConflict)
		wantKind(t, "RemoveDomain(other app's)", s.RemoveDomain(ctx, f.other, "blog", "shop.example.com"), controller.ErrNotFound)
		if ds, _ := s.Domains(ctx, "shop"); len(ds) != 1 || ds[0].Name != "shop.example.com" || ds[0].App != "shop" {
			t.Errorf("Domains(shop) = %+v", ds)
		}

		k := controller.Key{Fingerprint: "SHA256:abc", Type: "ssh-ed25519", PublicKey: "ssh-ed25519 AAAA"}
		if _, err := s.AddKey(ctx, f.owner, k); err != nil {
			t.Fatal(err)
		}
		_, err = s.AddKey(ctx, f.other, k)
		wantKind(t, "AddKey(another user's)", err, controller.ErrConflict)
		who, err := s.KeyOwner(ctx, "SHA256:abc")
		if err != nil || who.Name != "olive" {
			t.Errorf("KeyOwner = %v, %v; want olive", who.Name, err)
		}
		ks, _ := s.Keys(ctx, f.owner)
		if len(ks) != 1 {
			t.Fatalf("Keys(owner) = %v", ks)
		}
		wantKind(t, "RemoveKey(another user's)", s.RemoveKey(ctx, f.other, ks[0].ID), controller.ErrNotFound)
		if err := s.RemoveKey(ctx, f.owner, ks[0].ID); err != nil {
			t.Error(err)
		}
	})
}

func TestAuditLogIsAppendOnly(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		newFixture(t, s)
		if err := s.db.Exec("UPDATE audit_events SET actor = 'mallory'").Error; err == nil {
			t.Error("UPDATE of audit_events succeeded")
		}
		if err := s.db.Exec("DELETE FROM audit_events").Error; err == nil {
			t.Error("DELETE from audit_events succeeded")
		}
		evs, err := s.Audit(context.Background(), controller.AuditQuery{})
		if err != nil || len(evs) != 3 {
			t.Errorf("Audit() = %d events, %v; want the 3 of the fixture", len(evs), err)
		}
	})
}

// TestConcurrentChanges makes releases from many goroutines at once: every
// change must succeed and versions must be dense and unique.
func TestConcurrentChanges(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		if _, err := s.CreateApp(ctx, f.owner, "shop"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateRelease(ctx, f.owner, "shop", controller.NewRelease{Image: "paas/shop:1"}, 0); err != nil {
			t.Fatal(err)
		}
		const n = 24
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.SetConfig(ctx, f.owner, "shop", map[string]*string{fmt.Sprintf("K%d", i): str("v")})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent SetConfig: %v", err)
			}
		}
		rs, _ := s.Releases(ctx, "shop")
		if len(rs) != n+1 || rs[0].Version != n+1 {
			t.Errorf("after %d concurrent changes: %d releases, newest v%d; want %d and v%d", n, len(rs), rs[0].Version, n+1, n+1)
		}
		cfg, _ := s.Config(ctx, "shop")
		if len(cfg) != n {
			t.Errorf("config has %d vars after %d concurrent sets, want %d", len(cfg), n, n)
		}
	})
}

// TestPasswords: a password is stored as an Argon2id hash that checks the
// right password only; sessions live until ended.
func TestPasswords(t *testing.T) {
	hash := hashPassword("correct horse battery")
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(hash, "horse") {
		t.Errorf("hashPassword = %q, want a PHC Argon2id string without the password", hash)
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batter": false, "": false} {
		if got := checkPassword(hash, pw); got != want {
			t.Errorf("checkPassword(hash, %q) = %v, want %v", pw, got, want)
		}
	}
	if h1, h2 := hashPassword("same"), hashPassword("same"); h1 == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
}

// TestSessions: passwords and dashboard sessions on both databases.
func TestSessions(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, err := s.Bootstrap(ctx, func(string) error { return nil }); err != nil {
			t.Fatal(err)
		}
		admin := Actor{UserID: 1, Name: BootstrapUser, Admin: true}
		if _, err := s.CreateUser(ctx, admin, controller.NewUser{Name: "bob", Password: "short"}); !errors.Is(err, controller.ErrInvalid) {
			t.Errorf("CreateUser with a short password = %v, want ErrInvalid", err)
		}
		cu, err := s.CreateUser(ctx, admin, controller.NewUser{Name: "bob", Password: "bob's long password"})
		if err != nil || !cu.User.HasPassword {
			t.Fatalf("CreateUser with a password = %+v, %v", cu, err)
		}
		if _, err := s.CheckPassword(ctx, "bob", "wrong password!"); !errors.Is(err, controller.ErrUnauthorized) {
			t.Errorf("CheckPassword(wrong) = %v, want ErrUnauthorized", err)
		}
		if _, err := s.CheckPassword(ctx, BootstrapUser, ""); !errors.Is(err, controller.ErrUnauthorized) {
			t.Errorf("CheckPassword of a user without a password = %v, want ErrUnauthorized", err)
		}
		bob, err := s.CheckPassword(ctx, "bob", "bob's long password")
		if err != nil || bob.Name != "bob" {
			t.Fatalf("CheckPassword(right) = %+v, %v", bob, err)
		}
		secret, exp, err := s.CreateSession(ctx, bob)
		if err != nil || time.Until(exp) < SessionTTL-time.Minute {
			t.Fatalf("CreateSession = %v, %v", exp, err)
		}
		var stored session
		if err := s.db.Where("user_id = ?", bob.UserID).Take(&stored).Error; err != nil || stored.Hash == secret || strings.Contains(stored.Hash, secret) {
			t.Errorf("the stored session %+v (%v) holds the secret, want only its hash", stored, err)
		}
		if who, _, err := s.Session(ctx, secret); err != nil || who.Name != "bob" {
			t.Errorf("Session = %+v, %v; want bob", who, err)
		}
		// An expired session is refused.
		if err := s.db.Model(&session{}).Where("id = ?", stored.ID).Update("expires_at", time.Now().Add(-time.Second)).Error; err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Session(ctx, secret); !errors.Is(err, controller.ErrUnauthorized) {
			t.Errorf("Session after expiry = %v, want ErrUnauthorized", err)
		}
		// Sign-out ends a session; a new password ends them all.
		s1, _, _ := s.CreateSession(ctx, bob)
		s2, _, _ := s.CreateSession(ctx, bob)
		if err := s.EndSession(ctx, bob, s1); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Session(ctx, s1); !errors.Is(err, controller.ErrUnauthorized) {
			t.Errorf("Session after sign-out = %v, want ErrUnauthorized", err)
		}
		if err := s.SetPassword(ctx, admin, "bob", "bob's new password"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Session(ctx, s2); !errors.Is(err, controller.ErrUnauthorized) {
			t.Errorf("Session after a password change = %v, want ErrUnauthorized", err)
		}
		if _, err := s.CheckPassword(ctx, "bob", "bob's long password"); !errors.Is(err, controller.ErrUnauthorized) {
			t.Errorf("the old password still works after a change: %v", err)
		}
		// Deleting the user deletes their sessions.
		s3, _, _ := s.CreateSession(ctx, bob)
		if err := s.DeleteUser(ctx, admin, "bob"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Session(ctx, s3); !errors.Is(err, controller.ErrUnauthorized) {
			t.Errorf("Session of a deleted user = %v, want ErrUnauthorized", err)
		}
		var n int64
		s.db.Model(&session{}).Count(&n)
		if n != 0 {
			t.Errorf("%d sessions left after the user was deleted", n)
		}
	})
}
