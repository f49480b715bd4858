package tests

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"paas/controller"
	"paas/internal/testenv"
)

// TestConfigEncryptedAtRest sets a config var to a random value and then looks for that value in
// every file of the server's data directory, and in everything the server printed: it must be in
// none of them, while the API still returns it.
func TestConfigEncryptedAtRest(t *testing.T) {
	s := startServer(t, serverOptions{logLevel: "debug"})
	admin, _ := loginAdmin(t, s)
	canary := "canary-" + randomHex(24)

	// The value goes into the app's config, and into the config snapshots of releases: v1 is
	// made with it, v2 by another change, v3 by a rollback to v1.
	mustCLI(t, admin, "apps:create", "vault")
	mustCLI(t, admin, "config:set", "-a", "vault", "SECRET="+canary)
	mustCLI(t, admin, "releases:create", "-a", "vault", "--image", "busybox:latest", "--process", "web=httpd -f -p 8080")
	mustCLI(t, admin, "config:set", "-a", "vault", "OTHER=1")
	mustCLI(t, admin, "rollback", "-a", "vault", "v1")
	if got := mustCLI(t, admin, "config:get", "-a", "vault", "SECRET"); got != canary+"\n" {
		t.Errorf("paas config:get -a vault SECRET = %q, want the value set", got)
	}
	for _, v := range []string{"v1", "v2", "v3"} {
		r := mustCLIJSON[controller.Release](t, admin, "releases:info", "-a", "vault", v, "--json")
		if r.Config["SECRET"] != canary {
			t.Errorf("paas releases:info -a vault %s --json: SECRET = %q, want the value set", v, r.Config["SECRET"])
		}
	}

	if fi, err := os.Stat(s.dataDir); err != nil {
		t.Fatal(err)
	} else if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("mode of the data directory the server made = %v, want drwx------", got)
	}
	forms := map[string][]byte{
		"as it is": []byte(canary),
		"base64":   []byte(base64.StdEncoding.EncodeToString([]byte(canary))),
		"hex":      []byte(hex.EncodeToString([]byte(canary))),
	}
	checkDataDir := func(when string) {
		t.Helper()
		var files []string
		sawApp := false // a control: the app's name is not secret, so the database holds it
		err := filepath.WalkDir(s.dataDir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files = append(files, filepath.Base(path))
			want := os.FileMode(0o600)
			if rel, _ := filepath.Rel(s.dataDir, path); rel == filepath.Join("network", "resolv.conf") {
				want = 0o644 // bind-mounted into containers, read by the apps' users; a copy of the host's
			}
			if fi, err := d.Info(); err == nil && fi.Mode().Perm() != want {
				t.Errorf("%s: %s has mode %v, want %v (secrets and state are the owner's alone)", when, path, fi.Mode().Perm(), want)
			}
			for form, v := range forms {
				if bytes.Contains(b, v) {
					t.Errorf("%s: %s holds the config value (%s)", when, path, form)
				}
			}
			sawApp = sawApp || bytes.Contains(b, []byte("vault"))
			return nil
		})
		if err != nil {
			t.Fatalf("%s: reading the data directory: %v", when, err)
		}
		if !sawApp {
			t.Errorf("%s: no file of the data directory (%s) holds the app's name; is the state elsewhere?", when, strings.Join(files, ", "))
		}
		t.Logf("%s: looked in %s", when, strings.Join(files, ", "))
	}
	checkDataDir("while the server runs")
	s.stop(t) // SQLite moves its write-ahead log into the database file on close
	checkDataDir("after the server stopped")

	for name, out := range map[string]string{"log (stderr)": s.stderr.String(), "stdout": s.stdout.String()} {
		if strings.Contains(out, canary) {
			t.Errorf("the server's %s holds the config value", name)
		}
	}
	if !strings.Contains(s.stderr.String(), "level=DEBUG") {
		t.Errorf("the server logged nothing at debug level; the log check above saw less than it could")
	}
}

// TestKill9KeepsAcknowledgedWrites writes config vars as fast as one client can, kills the
// server with SIGKILL in the middle, and restarts it on the same data directory: every write the
// server acknowledged must be there, and nothing that was never sent.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	const (
		writeFor   = time.Second      // how long to write before the kill
		maxWrites  = 20000            // a bound on writes, whatever the speed
		maxTime    = 10 * time.Second // a bound on the writer, whatever happens
		keysPerApp = 100              // apps hold few vars: every change re-seals all of them
	)
	s := startServer(t, serverOptions{})
	token := s.adminToken(t)
	c := s.client(t, token)

	// A write is an app created (key "") or a config var set.
	type write struct{ app, key, value string }
	type result struct {
		acked    []write
		inFlight *write // sent and not acknowledged: it may or may not have been committed
		err      error  // what ended the writes
	}
	ctx, cancel := context.WithTimeout(t.Context(), maxTime)
	defer cancel()
	first := make(chan struct{}) // closed when the first write is acknowledged
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		var r result
		defer func() { done <- r }()
		send := func(w write) bool {
			r.inFlight = &w
			if w.key == "" {
				_, r.err = c.CreateApp(ctx, w.app)
			} else {
				_, r.err = c.SetConfig(ctx, w.app, map[string]*string{w.key: &w.value})
			}
			if r.err != nil {
				return false
			}
			r.acked, r.inFlight = append(r.acked, w), nil
			if len(r.acked) == 1 {
				close(first)
			}
			return true
		}
		for i := 0; i < maxWrites && ctx.Err() == nil; i++ {
			app := fmt.Sprintf("k9-%d", i/keysPerApp)
			if i%keysPerApp == 0 && !send(write{app: app}) {
				return
			}
			if !send(write{app: app, key: "K_" + strconv.Itoa(i), value: strconv.Itoa(i)}) {
				return
			}
		}
	}()

	var r result
	select {
	case <-first:
		select {
		case r = <-done: // all writes done before the time was up
			if r.err != nil {
				t.Fatalf("a write failed before the kill: %v", r.err)
			}
			s.kill9(t)
		case <-time.After(writeFor):
			s.kill9(t)
			r = <-done // the write in flight fails with the server gone; ctx bounds it
		}
	case r = <-done:
		t.Fatalf("no write was acknowledged: %v", r.err)
	}
	elapsed := time.Since(start)
	if r.err == nil && len(r.acked) < maxWrites {
		t.Errorf("the writer stopped without an error after %d writes", len(r.acked))
	}

	s2 := startServer(t, serverOptions{dataDir: s.dataDir})
	code, h, err := s2.healthAs(token)
	if err != nil || !h.Components["database"].OK {
		t.Errorf("after kill -9 and restart: GET /healthz = %d %+v, %v; want the database ok", code, h, err)
	}
	if s2.containerd == os.Getenv(testenv.EnvContainerd) && (code != http.StatusOK || h.Status != "ok") {
		t.Errorf("after kill -9 and restart: GET /healthz = %d %+v; want 200 ok", code, h)
	}
	c2 := s2.client(t, token)
	apps, err := c2.Apps(t.Context())
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	got := map[write]bool{} // every write the state shows
	for _, a := range apps {
		got[write{app: a.Name}] = true
		cfg, err := c2.Config(t.Context(), a.Name)
		if err != nil {
			t.Fatalf("after restart: %v", err)
		}
		for k, v := range cfg {
			got[write{app: a.Name, key: k, value: v}] = true
		}
	}
	lost := 0
	for _, w := range r.acked {
		if !got[w] {
			if lost < 10 {
				t.Errorf("acknowledged write %+v is lost after kill -9", w)
			}
			lost++
		}
		delete(got, w)
	}
	inFlightKept := false
	if r.inFlight != nil && got[*r.inFlight] {
		inFlightKept = true
		delete(got, *r.inFlight)
	}
	for w := range got {
		t.Errorf("after kill -9 the state holds %+v, which was never written", w)
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged writes lost", lost, len(r.acked))
	}
	t.Logf("kill -9 after %v: %d writes acknowledged (%.0f/s), %d lost; the write in flight (%+v) was kept: %v; the writer ended with: %v",
		elapsed.Round(time.Millisecond), len(r.acked), float64(len(r.acked))/elapsed.Seconds(), lost, r.inFlight, inFlightKept, r.err)

	// The restarted server takes writes again.
	after := "restart"
	if _, err := c2.SetConfig(t.Context(), "k9-0", map[string]*string{"AFTER": &after}); err != nil {
		t.Errorf("SetConfig after the restart: %v", err)
	}
}

// TestHealthReportsContainerd checks /healthz against a real containerd and against a socket
// where none answers: the second server is degraded, says why, and still serves the API.
func TestHealthReportsContainerd(t *testing.T) {
	t.Run("reachable", func(t *testing.T) {
		sock := testenv.Containerd(t)
		s := startServer(t, serverOptions{containerd: sock})
		// Anyone gets the status; an admin the components.
		if code, h, err := s.health(); err != nil || code != http.StatusOK || h.Status != "ok" || h.Components != nil {
			t.Errorf("GET /healthz anonymously = %d %+v, %v; want 200, status ok and no components", code, h, err)
		}
		token := s.adminToken(t)
		code, h, err := s.healthAs(token)
		if err != nil {
			t.Fatal(err)
		}
		cd := h.Components["containerd"]
		if code != http.StatusOK || h.Status != "ok" || !cd.OK || cd.Version == "" || cd.Address != sock || cd.Error != "" {
			t.Errorf("GET /healthz = %d %+v; want 200, status ok, containerd ok at %s with a version", code, h, sock)
		}
		if db := h.Components["database"]; !db.OK || db.Address != "sqlite" {
			t.Errorf("GET /healthz: database = %+v, want ok, sqlite", db)
		}
		if h, err := s.client(t, token).Health(t.Context()); err != nil || !h.Components["containerd"].OK {
			t.Errorf("Client.Health as the admin = %+v, %v; want no error and the components", h, err)
		}
	})

	t.Run("missing", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "containerd.sock")
		s := startServer(t, serverOptions{containerd: missing})
		if code, h, err := s.health(); err != nil || code != http.StatusServiceUnavailable || h.Status != "degraded" || h.Components != nil {
			t.Errorf("GET /healthz anonymously = %d %+v, %v; want 503, status degraded and no components", code, h, err)
		}
		admin, token := loginAdmin(t, s)
		code, h, err := s.healthAs(token)
		if err != nil {
			t.Fatal(err)
		}
		cd := h.Components["containerd"]
		if code != http.StatusServiceUnavailable || h.Status != "degraded" || cd.OK || cd.Version != "" || cd.Address != missing || !strings.Contains(cd.Error, missing) {
			t.Errorf("GET /healthz = %d %+v; want 503, status degraded, containerd not ok with an error naming %s", code, h, missing)
		}
		if db := h.Components["database"]; !db.OK {
			t.Errorf("GET /healthz: database = %+v, want ok", db)
		}
		if _, err := s.client(t, "").Health(t.Context()); err == nil {
			t.Errorf("Client.Health = nil error, want one for a degraded server")
		}
		if !strings.Contains(s.stderr.String(), "containerd is unreachable") {
			t.Errorf("the server did not warn in its log that containerd is unreachable:\n%s", s.stderr.String())
		}

		// The API works all the same.
		mustCLI(t, admin, "apps:create", "still-up")
		mustCLI(t, admin, "config:set", "-a", "still-up", "FOO=bar")
		cfg := mustCLIJSON[map[string]string](t, admin, "config", "-a", "still-up", "--json")
		if diff := cmp.Diff(map[string]string{"FOO": "bar"}, cfg); diff != "" {
			t.Errorf("paas config -a still-up --json on a degraded server: (-want +got)\n%s", diff)
		}
	})
}

// TestPostgresBackend runs a short CLI session against a server whose state is in PostgreSQL,
// then restarts the server and reads the state back.
func TestPostgresBackend(t *testing.T) {
	dsn := testenv.Postgres(t)
	s := startServer(t, serverOptions{database: dsn})
	admin, adminToken := loginAdmin(t, s)
	if _, h, err := s.healthAs(adminToken); err != nil || !h.Components["database"].OK || h.Components["database"].Address != "postgres" {
		t.Errorf("GET /healthz as admin: database = %+v, %v; want ok, postgres", h.Components["database"], err)
	}
	alice, aliceToken := createUser(t, s, admin, "alice")

	steps := []struct {
		args []string
		want string
	}{
		{[]string{"apps:create", "pg-shop"}, "Created pg-shop\n"},
		{[]string{"config:set", "-a", "pg-shop", "FOO=bar"}, "Setting FOO on pg-shop... done (takes effect with the first release)\n"},
		{[]string{"releases:create", "-a", "pg-shop", "--image", "busybox:latest", "--process", "web=httpd -f -p 8080"}, "Releasing busybox:latest to pg-shop... done, v1\n"},
		{[]string{"config:set", "-a", "pg-shop", "FOO=baz", "BAR=1"}, "Setting FOO and BAR and restarting pg-shop... done, v2\n"},
		{[]string{"rollback", "-a", "pg-shop"}, "Rolling back pg-shop... done, v3: Rollback to v1\n"},
		{[]string{"domains:add", "-a", "pg-shop", "pg.example.com"}, "Added pg.example.com to pg-shop\n"},
	}
	for _, st := range steps {
		got := mustCLI(t, alice, st.args...)
		if !strings.HasPrefix(got, st.want) { // apps:create goes on with the app's URLs
			t.Errorf("%s = %q, want %q", cmdline(st.args), got, st.want)
		}
	}
	wantCLIError(t, alice, "app pg-shop already exists", "apps:create", "pg-shop")
	cfg := mustCLIJSON[map[string]string](t, alice, "config", "-a", "pg-shop", "--json")
	if diff := cmp.Diff(map[string]string{"FOO": "bar"}, cfg); diff != "" {
		t.Errorf("paas config -a pg-shop --json after rollback to v1: (-want +got)\n%s", diff)
	}
	releases := mustCLIJSON[[]controller.Release](t, alice, "releases", "-a", "pg-shop", "--json")
	var versions []string
	for _, r := range releases {
		versions = append(versions, fmt.Sprintf("v%d %s", r.Version, r.Description))
	}
	wantVersions := []string{"v3 Rollback to v1", "v2 Set BAR, FOO", "v1 Deploy " + releases[len(releases)-1].Image}
	if diff := cmp.Diff(wantVersions, versions); diff != "" {
		t.Errorf("paas releases -a pg-shop --json: (-want +got)\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "paas.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat paas.db in the data directory = %v; want none, the state being in PostgreSQL", err)
	}

	// The state outlives the server.
	s.stop(t)
	s2 := startServer(t, serverOptions{database: dsn, dataDir: s.dataDir})
	c := s2.client(t, aliceToken)
	if cfg, err := c.Config(t.Context(), "pg-shop"); err != nil || cfg["FOO"] != "bar" || len(cfg) != 1 {
		t.Errorf("after a restart: Config(pg-shop) = %v, %v; want FOO=bar", cfg, err)
	}
	if ds, err := c.Domains(t.Context(), "pg-shop"); err != nil || len(ds) != 1 || ds[0].Name != "pg.example.com" {
		t.Errorf("after a restart: Domains(pg-shop) = %+v, %v; want pg.example.com", ds, err)
	}
}
