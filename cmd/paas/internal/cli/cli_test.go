package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"paas/controller"
	"paas/controller/server"
)

// testServer is a real controller, with a new SQLite database of its own,
// serving its API over HTTP.
type testServer struct {
	URL   string
	Token string             // the bootstrap admin's API token
	Admin *controller.Client // a client with the admin's token

	seen int64 // the last audit event changes reported
}

// newTestServer starts a controller and bootstraps its admin. It is shut
// down when the test ends.
func newTestServer(t *testing.T) *testServer {
	t.Helper()
	ctx := t.Context()
	ctl, err := server.Open(ctx, server.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("server.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := ctl.Close(); err != nil {
			t.Errorf("closing the controller: %v", err)
		}
	})
	token, created, err := ctl.Bootstrap(ctx)
	if err != nil || !created {
		t.Fatalf("Bootstrap() = _, %v, %v; want a new admin", created, err)
	}
	srv := httptest.NewServer(ctl.Handler())
	t.Cleanup(srv.Close)
	admin, err := controller.NewClient(srv.URL, token, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{URL: srv.URL, Token: token, Admin: admin}
	s.changes(t) // the bootstrap
	return s
}

// newUser creates a user who is no admin and returns their first token.
func (s *testServer) newUser(t *testing.T, name string) controller.NewToken {
	t.Helper()
	cu, err := s.Admin.CreateUser(t.Context(), controller.NewUser{Name: name})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", name, err)
	}
	return cu.Token
}

// changes returns the state changes the server recorded in its audit log
// since the last call, oldest first, each as "ACTOR ACTION APP DETAIL".
func (s *testServer) changes(t *testing.T) []string {
	t.Helper()
	evs, err := s.Admin.Audit(t.Context(), controller.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	var out []string
	for _, e := range slices.Backward(evs) {
		if e.ID <= s.seen {
			continue
		}
		s.seen = e.ID
		out = append(out, strings.Join(strings.Fields(e.Actor+" "+e.Action+" "+e.App+" "+e.Detail), " "))
	}
	return out
}

// config reads an app's config vars back from the server.
func (s *testServer) config(t *testing.T, app string) map[string]string {
	t.Helper()
	vars, err := s.Admin.Config(t.Context(), app)
	if err != nil {
		t.Fatalf("Config(%s): %v", app, err)
	}
	return vars
}

// result is what one run of Main gave.
type result struct {
	Code           int
	Stdout, Stderr string
}

func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(t.Context(), Env{
		Stdin:  strings.NewReader(stdin),
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: func(k string) string { return env[k] },
	}, args)
	return result{Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
}

func TestLoginLogout(t *testing.T) {
	srv := newTestServer(t)
	alice := srv.newUser(t, "alice")
	env := map[string]string{"HOME": t.TempDir()}
	notLoggedIn := result{Code: 1, Stderr: "error: not logged in: run paas login URL\n"}
	steps := []struct {
		stdin string
		args  []string
		want  result
	}{
		{args: []string{"whoami"}, want: notLoggedIn},
		{args: []string{"login", srv.URL + "/", "--token", srv.Token}, want: result{Stdout: "Logged in to " + srv.URL + " as admin\n"}},
		{args: []string{"whoami"}, want: result{Stdout: "admin\n"}},
		{args: []string{"logout"}, want: result{Stdout: "Logged out of " + srv.URL + "\n"}},
		{args: []string{"whoami"}, want: notLoggedIn},
		{args: []string{"logout"}, want: result{Stdout: "Not logged in\n"}},
		// The URL is remembered; the token is one line of a standard input that is no terminal.
		{stdin: alice.Secret + "\n", args: []string{"login"}, want: result{Stdout: "Logged in to " + srv.URL + " as alice\n"}},
		{args: []string{"login", "--token", "paas_bad"}, want: result{Code: 1, Stderr: "error: " + srv.URL + " does not accept this token: invalid API token\n"}},
		{args: []string{"whoami"}, want: result{Stdout: "alice\n"}},
		// A saved token the server no longer accepts gets the hint.
		{args: []string{"tokens:revoke", fmt.Sprint(alice.ID)}, want: result{Stdout: fmt.Sprintf("Revoked token %d\n", alice.ID)}},
		{args: []string{"whoami"}, want: result{Code: 1, Stderr: "error: this API token was revoked\nhint: run paas login\n"}},
	}
	for i, s := range steps {
		if got := runCLI(t, env, s.stdin, s.args...); got != s.want {
			t.Fatalf("step %d: paas %s = %+v, want %+v", i, strings.Join(s.args, " "), got, s.want)
		}
	}
	fi, err := os.Stat(filepath.Join(env["HOME"], ".config", "paas", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config file mode = %v, want 0600", fi.Mode().Perm())
	}
}

// seedApps gives srv two apps of the admin's: shop, with config vars
// FOO=0 and BAR=x and a release v1 that runs one web process, and fresh,
// with no config and no release yet.
func seedApps(t *testing.T, srv *testServer) {
	t.Helper()
	ctx := t.Context()
	for _, name := range []string{"fresh", "shop"} {
		if _, err := srv.Admin.CreateApp(ctx, name); err != nil {
			t.Fatalf("CreateApp(%s): %v", name, err)
		}
	}
	foo, bar := "0", "x"
	if _, err := srv.Admin.SetConfig(ctx, "shop", map[string]*string{"FOO": &foo, "BAR": &bar}); err != nil {
		t.Fatalf("SetConfig(shop): %v", err)
	}
	nr := controller.NewRelease{Image: "registry.example.com/shop:1", ProcessTypes: map[string]string{"web": "bin/server"}}
	if _, err := srv.Admin.CreateRelease(ctx, "shop", nr); err != nil {
		t.Fatalf("CreateRelease(shop): %v", err)
	}
	srv.changes(t)
}

func TestCommands(t *testing.T) {
	tests := []struct {
		name string
		as   string // whose token the CLI uses: admin (the default), bob (no admin, no apps) or bad
		args []string
		want result
		// wantChanges is what the server's audit log records the command
		// changed; none for a command that must change nothing.
		wantChanges []string
		// wantConfig, if not nil, is the config each app named has after
		// the command, read back from the server.
		wantConfig map[string]map[string]string
	}{
		{
			name:        "config:set",
			args:        []string{"config:set", "-a", "shop", "FOO=1", "URL=a=b"},
			want:        result{Stdout: "Setting FOO and URL and restarting shop... done, v2\n"},
			wantChanges: []string{"admin config.set shop Set FOO, URL"},
			wantConfig:  map[string]map[string]string{"shop": {"FOO": "1", "BAR": "x", "URL": "a=b"}},
		},
		{
			name:        "config:set before the first release",
			args:        []string{"config:set", "--app", "fresh", "FOO=1"},
			want:        result{Stdout: "Setting FOO on fresh... done (takes effect with the first release)\n"},
			wantChanges: []string{"admin config.set fresh Set FOO"},
			wantConfig:  map[string]map[string]string{"fresh": {"FOO": "1"}},
		},
		{
			name:       "config:set of a bad key sends nothing",
			args:       []string{"config:set", "-a", "shop", "NEW=1", "1X=2"},
			want:       result{Code: 1, Stderr: "error: invalid config key \"1X\": use letters, digits and '_', not starting with a digit\n"},
			wantConfig: map[string]map[string]string{"shop": {"FOO": "0", "BAR": "x"}},
		},
		{
			name:        "config:unset",
			args:        []string{"config:unset", "-a", "shop", "FOO", "BAR", "BAZ"},
			want:        result{Stdout: "Unsetting FOO, BAR and BAZ and restarting shop... done, v2\n"},
			wantChanges: []string{"admin config.set shop Unset BAR, BAZ, FOO"},
			wantConfig:  map[string]map[string]string{"shop": {}},
		},
		{
			name:        "config:set that changes nothing",
			args:        []string{"config:set", "-a", "shop", "FOO=0"},
			want:        result{Stdout: "Setting FOO on shop... done (no change: the config already was so)\n"},
			wantChanges: nil,
			wantConfig:  map[string]map[string]string{"shop": {"FOO": "0", "BAR": "x"}},
		},
		{
			name:        "scale with limits",
			args:        []string{"scale", "-a", "shop", "web=2", "--memory", "512M", "--cpu", "0.5"},
			want:        result{Stdout: "Scaled shop\nTYPE  QUANTITY  MEMORY  CPU  PIDS     COMMAND\nweb   2         512M    0.5  default  bin/server\n"},
			wantChanges: []string{"admin formation.scale shop web=2 memory=536870912 cpu=500m"},
		},
		{
			name:        "scale with a process limit",
			args:        []string{"scale", "-a", "shop", "web", "--pids", "512"},
			want:        result{Stdout: "Scaled shop\nTYPE  QUANTITY  MEMORY   CPU      PIDS  COMMAND\nweb   1         default  default  512   bin/server\n"},
			wantChanges: []string{"admin formation.scale shop web=1 memory=0 cpu=0m pids=512"},
		},
		{
			name: "scale with a negative process limit sends nothing",
			args: []string{"scale", "-a", "shop", "web", "--pids", "-1"},
			want: result{Code: 1, Stderr: "error: invalid --pids -1: use a number of processes, or 0 for the default\n"},
		},
		{
			name: "scale of a bare type without limits",
			args: []string{"scale", "-a", "shop", "web"},
			want: result{Code: 1, Stderr: "error: \"web\" is not TYPE=N, as in web=2\n"},
		},
		{
			name: "scale of a type the release does not have",
			args: []string{"scale", "-a", "shop", "worker=1"},
			want: result{Code: 1, Stderr: "error: release v1 has no process type worker (it has: web)\n"},
		},
		{
			name: "apps",
			args: []string{"apps"},
			want: result{Stdout: "NAME   OWNER  RELEASE  URL\n" +
				"fresh  admin           http://fresh.localhost\n" +
				"shop   admin  v1       http://shop.localhost\n"},
		},
		{
			name: "apps of a user with none",
			as:   "bob",
			args: []string{"apps"},
			want: result{Stdout: "NAME  OWNER  RELEASE  URL\n"},
		},
		{
			name: "another user's app is forbidden, with no hint",
			as:   "bob",
			args: []string{"config:set", "-a", "shop", "FOO=1"},
			want: result{Code: 1, Stderr: "error: you do not have access to app shop\n"},
		},
		{
			name: "unknown app",
			args: []string{"config", "-a", "nope"},
			want: result{Code: 1, Stderr: "error: no app named nope\n"},
		},
		{
			name: "unauthorized gets a hint",
			as:   "bad",
			args: []string{"apps"},
			want: result{Code: 1, Stderr: "error: invalid API token\nhint: run paas login\n"},
		},
		{
			name: "apps:destroy needs the name",
			args: []string{"apps:destroy", "shop"},
			want: result{Code: 1, Stderr: "This destroys shop, its releases, config, domains and running instances.\nType shop to confirm: \nerror: not confirmed: type shop, or pass --confirm shop\n"},
		},
		{
			name: "apps:destroy with a wrong --confirm",
			args: []string{"apps:destroy", "shop", "--confirm", "shoe"},
			want: result{Code: 1, Stderr: "error: confirmation \"shoe\" does not match shop; nothing was changed\n"},
		},
		{
			name:        "users:limits sets a user's app limit",
			args:        []string{"users:limits", "bob", "--apps", "3"},
			want:        result{Stdout: "=== bob\nApps owned:  0\nApp limit:   3\n"},
			wantChanges: []string{"admin user.limits user bob apps=3"},
		},
		{
			name:        "users:limits gives back the default",
			args:        []string{"users:limits", "bob", "--apps", "default"},
			want:        result{Stdout: "=== bob\nApps owned:  0\nApp limit:   none\n"},
			wantChanges: []string{"admin user.limits user bob apps=default"},
		},
		{
			name: "users:limits shows the limits",
			args: []string{"users:limits", "bob"},
			want: result{Stdout: "=== bob\nApps owned:  0\nApp limit:   none\n"},
		},
		{
			name: "users:limits with a bad number sends nothing",
			args: []string{"users:limits", "bob", "--apps", "-1"},
			want: result{Code: 1, Stderr: "error: invalid --apps \"-1\": use a number of apps (0 or more), or default\n"},
		},
		{
			name: "users:limits of one's own is for admins",
			as:   "bob",
			args: []string{"users:limits", "bob", "--apps", "100"},
			want: result{Code: 1, Stderr: "error: only an admin may do this\n"},
		},
		{
			name: "unknown command",
			args: []string{"frobnicate"},
			want: result{Code: 1, Stderr: "error: unknown command \"frobnicate\" for \"paas\"\n"},
		},
		{
			name: "missing argument",
			args: []string{"domains:add", "-a", "shop"},
			want: result{Code: 1, Stderr: "error: usage: paas domains:add NAME [flags]\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newTestServer(t)
			tokens := map[string]string{"": srv.Token, "bob": srv.newUser(t, "bob").Secret, "bad": "paas_bad"}
			seedApps(t, srv)
			env := map[string]string{"PAAS_URL": srv.URL, "PAAS_TOKEN": tokens[tt.as]}
			cmd := "paas " + strings.Join(tt.args, " ")
			got := runCLI(t, env, "", tt.args...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", cmd, diff)
			}
			if diff := cmp.Diff(tt.wantChanges, srv.changes(t)); diff != "" {
				t.Errorf("%s: changes on the server (-want +got):\n%s", cmd, diff)
			}
			for app, want := range tt.wantConfig {
				if diff := cmp.Diff(want, srv.config(t, app)); diff != "" {
					t.Errorf("%s: config of %s on the server (-want +got):\n%s", cmd, app, diff)
				}
			}
		})
	}
}

// TestJSON checks that --json prints what the server answered, as it
// answered it.
func TestJSON(t *testing.T) {
	srv := newTestServer(t)
	seedApps(t, srv)
	tests := []struct {
		args []string
		api  func() (any, error) // the same answer, straight from the API
	}{
		{[]string{"apps:list", "--json"}, func() (any, error) { return srv.Admin.Apps(t.Context()) }},
		{[]string{"whoami", "--json"}, func() (any, error) { return srv.Admin.Me(t.Context()) }},
		{[]string{"config", "-a", "shop", "--json"}, func() (any, error) { return srv.Admin.Config(t.Context(), "shop") }},
		{[]string{"formation", "-a", "shop", "--json"}, func() (any, error) { return srv.Admin.Formation(t.Context(), "shop") }},
		{[]string{"releases", "-a", "shop", "--json"}, func() (any, error) { return srv.Admin.Releases(t.Context(), "shop") }},
		{[]string{"apps:info", "fresh", "--json"}, func() (any, error) { return srv.Admin.App(t.Context(), "fresh") }},
	}
	env := map[string]string{"PAAS_URL": srv.URL, "PAAS_TOKEN": srv.Token}
	for _, tt := range tests {
		v, err := tt.api()
		if err != nil {
			t.Fatalf("the API's answer to paas %s: %v", strings.Join(tt.args, " "), err)
		}
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got, want := runCLI(t, env, "", tt.args...), result{Stdout: string(b) + "\n"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("paas %s (-want +got):\n%s", strings.Join(tt.args, " "), diff)
		}
	}
}

// TestGitRemote runs apps:create and apps:destroy in a git work tree, and
// app commands that take their app from the remote.
func TestGitRemote(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	srv := newTestServer(t)
	env := map[string]string{"PAAS_URL": srv.URL, "PAAS_TOKEN": srv.Token}
	dir := t.TempDir()
	t.Chdir(dir)
	if out, err := exec.Command("git", "init", "-q", dir).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	remote := func(name string) string {
		out, _ := exec.Command("git", "remote", "get-url", name).Output()
		return strings.TrimSpace(string(out))
	}
	// The server names the host the API was asked at, and its default SSH port.
	gitURL := func(app string) string { return "ssh://git@127.0.0.1:2222/" + app + ".git" }

	steps := []struct {
		args []string
		want result
	}{
		{args: []string{"config:set", "FOO=1"}, want: result{Code: 1, Stderr: "error: no app given: use --app NAME, or run this in a git work tree with a paas remote\n"}},
		{args: []string{"apps:create", "shop"}, want: result{Stdout: "Created shop\nhttp://shop.localhost | " + gitURL("shop") + "\n" +
			"Git remote paas added: push with git push paas main\n"}},
		{args: []string{"config:set", "FOO=1"}, want: result{Stdout: "Setting FOO on shop... done (takes effect with the first release)\n"}},
		{args: []string{"releases:create", "--image", "registry.example.com/shop:1"}, want: result{Stdout: "Releasing registry.example.com/shop:1 to shop... done, v1\n"}},
		{args: []string{"config:set", "BAR=2"}, want: result{Stdout: "Setting BAR and restarting shop... done, v2\n"}},
		{args: []string{"apps:create", "cart"}, want: result{Stdout: "Created cart\nhttp://cart.localhost | " + gitURL("cart") + "\n" +
			"Git remote paas already exists (" + gitURL("shop") + "); left as it is.\n" +
			"Add another with paas apps:create --remote NAME, or git remote add NAME " + gitURL("cart") + "\n"}},
		{args: []string{"apps:create", "shop"}, want: result{Code: 1, Stderr: "error: app shop already exists\n"}},
		{args: []string{"apps:create", "cart2", "--remote", "cart"}, want: result{Stdout: "Created cart2\nhttp://cart2.localhost | " + gitURL("cart2") + "\n" +
			"Git remote cart added: push with git push cart main\n"}},
		{args: []string{"apps:destroy", "--app", "cart2", "--confirm", "cart2"}, want: result{Stdout: "Destroyed cart2\n"}},
		{args: []string{"apps:destroy", "--confirm", "shop"}, want: result{Stdout: "Destroyed shop\nRemoved git remote paas\n"}},
	}
	for i, s := range steps {
		if got := runCLI(t, env, "", s.args...); got != s.want {
			t.Fatalf("step %d: paas %s = %+v, want %+v", i, strings.Join(s.args, " "), got, s.want)
		}
	}
	if got := remote("paas"); got != "" {
		t.Errorf("git remote paas = %q after apps:destroy, want none", got)
	}
	if got, want := remote("cart"), gitURL("cart2"); got != want {
		t.Errorf("git remote cart = %q, want %q", got, want)
	}
	wantChanges := []string{
		"admin app.create shop",
		"admin config.set shop Set FOO",
		"admin release.create shop v1 registry.example.com/shop:1",
		"admin config.set shop Set BAR",
		"admin app.create cart",
		"admin app.create cart2",
		"admin app.destroy cart2",
		"admin app.destroy shop",
	}
	if diff := cmp.Diff(wantChanges, srv.changes(t)); diff != "" {
		t.Errorf("changes on the server (-want +got):\n%s", diff)
	}
	apps, err := srv.Admin.Apps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range apps {
		names = append(names, a.Name)
	}
	if diff := cmp.Diff([]string{"cart"}, names); diff != "" {
		t.Errorf("apps on the server (-want +got):\n%s", diff)
	}
}
