package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"paas/controller"
)

// fakeController answers the few API calls these tests make, as the
// controller would, and records what it was sent.
type fakeController struct {
	mu    sync.Mutex
	calls []string // "METHOD PATH BODY"
}

func (f *fakeController) handler() http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /v1/me", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, controller.User{Name: "alice", Admin: true})
	})
	mux.HandleFunc("GET /v1/apps", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, []controller.App{{Name: "shop", Owner: "alice", Release: 3, WebURL: "http://shop.localhost"}})
	})
	mux.HandleFunc("POST /v1/apps", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Name string }
		json.NewDecoder(r.Body).Decode(&body)
		name := firstOf(body.Name, "gentle-fox")
		reply(w, 201, controller.App{Name: name, Owner: "alice", GitURL: "ssh://git@127.0.0.1:2222/" + name + ".git"})
	})
	mux.HandleFunc("DELETE /v1/apps/{app}", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(204)
	})
	mux.HandleFunc("PATCH /v1/apps/{app}/config", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("app") == "fresh" {
			reply(w, 200, controller.ConfigChange{})
			return
		}
		reply(w, 200, controller.ConfigChange{Release: &controller.Release{Version: 4}})
	})
	mux.HandleFunc("PATCH /v1/apps/{app}/formation", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, []controller.Process{{Type: "web", Quantity: 2, Memory: 512 << 20}})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.mu.Lock()
		f.calls = append(f.calls, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+string(body)))
		f.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer good" {
			reply(w, 401, map[string]string{"error": "invalid token"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (f *fakeController) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// result is what one run of Main gave.
type result struct {
	Code           int
	Stdout, Stderr string
}

func runCLI(env map[string]string, stdin string, args ...string) result {
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), Env{
		Stdin:  strings.NewReader(stdin),
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: func(k string) string { return env[k] },
	}, args)
	return result{Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
}

func TestLoginLogout(t *testing.T) {
	srv := httptest.NewServer((&fakeController{}).handler())
	defer srv.Close()
	env := map[string]string{"HOME": t.TempDir()}
	steps := []struct {
		stdin string
		args  []string
		want  result
	}{
		{args: []string{"whoami"}, want: result{Code: 1, Stderr: "error: not logged in: run paas login URL\n"}},
		{args: []string{"login", srv.URL + "/", "--token", "good"}, want: result{Stdout: "Logged in to " + srv.URL + " as alice\n"}},
		{args: []string{"whoami"}, want: result{Stdout: "alice\n"}},
		{args: []string{"logout"}, want: result{Stdout: "Logged out of " + srv.URL + "\n"}},
		{args: []string{"whoami"}, want: result{Code: 1, Stderr: "error: not logged in: run paas login URL\n"}},
		// The URL is remembered; the token is one line of a standard input that is no terminal.
		{stdin: "good\n", args: []string{"login"}, want: result{Stdout: "Logged in to " + srv.URL + " as alice\n"}},
		{args: []string{"login", "--token", "bad"}, want: result{Code: 1, Stderr: "error: " + srv.URL + " does not accept this token: invalid token\n"}},
		{args: []string{"whoami"}, want: result{Stdout: "alice\n"}},
	}
	for i, s := range steps {
		if got := runCLI(env, s.stdin, s.args...); got != s.want {
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

func TestCommands(t *testing.T) {
	fake := &fakeController{}
	srv := httptest.NewServer(fake.handler())
	defer srv.Close()
	env := map[string]string{"PAAS_URL": srv.URL, "PAAS_TOKEN": "good"}
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		want      result
		wantCalls []string
	}{
		{
			name:      "config:set",
			args:      []string{"config:set", "-a", "shop", "FOO=1", "URL=a=b"},
			want:      result{Stdout: "Setting FOO and URL and restarting shop... done, v4\n"},
			wantCalls: []string{`PATCH /v1/apps/shop/config {"FOO":"1","URL":"a=b"}`},
		},
		{
			name:      "config:set before the first release",
			args:      []string{"config:set", "--app", "fresh", "FOO=1"},
			want:      result{Stdout: "Setting FOO on fresh... done (takes effect with the first release)\n"},
			wantCalls: []string{`PATCH /v1/apps/fresh/config {"FOO":"1"}`},
		},
		{
			name: "config:set of a bad key sends nothing",
			args: []string{"config:set", "-a", "shop", "FOO=1", "1X=2"},
			want: result{Code: 1, Stderr: "error: invalid config key \"1X\": use letters, digits and '_', not starting with a digit\n"},
		},
		{
			name:      "config:unset",
			args:      []string{"config:unset", "-a", "shop", "FOO", "BAR", "BAZ"},
			want:      result{Stdout: "Unsetting FOO, BAR and BAZ and restarting shop... done, v4\n"},
			wantCalls: []string{`PATCH /v1/apps/shop/config {"BAR":null,"BAZ":null,"FOO":null}`},
		},
		{
			name:      "scale with limits",
			args:      []string{"scale", "-a", "shop", "web=2", "--memory", "512M", "--cpu", "0.5"},
			want:      result{Stdout: "Scaled shop\nTYPE  QUANTITY  MEMORY  CPU      COMMAND\nweb   2         512M    default\n"},
			wantCalls: []string{`PATCH /v1/apps/shop/formation [{"type":"web","quantity":2,"memory":536870912,"cpu":500}]`},
		},
		{
			name: "scale of a bare type without limits",
			args: []string{"scale", "-a", "shop", "web"},
			want: result{Code: 1, Stderr: "error: \"web\" is not TYPE=N, as in web=2\n"},
		},
		{
			name:      "apps",
			args:      []string{"apps"},
			want:      result{Stdout: "NAME  OWNER  RELEASE  URL\nshop  alice  v3       http://shop.localhost\n"},
			wantCalls: []string{"GET /v1/apps"},
		},
		{
			name:      "apps --json",
			args:      []string{"apps:list", "--json"},
			want:      result{Stdout: "[\n  {\n    \"name\": \"shop\",\n    \"owner\": \"alice\",\n    \"release\": 3,\n    \"git_url\": \"\",\n    \"web_url\": \"http://shop.localhost\",\n    \"created_at\": \"0001-01-01T00:00:00Z\",\n    \"updated_at\": \"0001-01-01T00:00:00Z\"\n  }\n]\n"},
			wantCalls: []string{"GET /v1/apps"},
		},
		{
			name:      "unauthorized gets a hint",
			env:       map[string]string{"PAAS_URL": srv.URL, "PAAS_TOKEN": "bad"},
			args:      []string{"apps"},
			want:      result{Code: 1, Stderr: "error: invalid token\nhint: run paas login\n"},
			wantCalls: []string{"GET /v1/apps"},
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
			e := env
			if tt.env != nil {
				e = tt.env
			}
			got := runCLI(e, "", tt.args...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("paas %s (-want +got):\n%s", strings.Join(tt.args, " "), diff)
			}
			if diff := cmp.Diff(tt.wantCalls, fake.takeCalls()); diff != "" {
				t.Errorf("paas %s: API calls (-want +got):\n%s", strings.Join(tt.args, " "), diff)
			}
		})
	}
}

// TestGitRemote runs apps:create and apps:destroy in a git work tree, and
// an app command that takes its app from the remote.
func TestGitRemote(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	fake := &fakeController{}
	srv := httptest.NewServer(fake.handler())
	defer srv.Close()
	env := map[string]string{"PAAS_URL": srv.URL, "PAAS_TOKEN": "good"}
	dir := t.TempDir()
	t.Chdir(dir)
	if out, err := exec.Command("git", "init", "-q", dir).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v: %s", err, out)
	}
	remote := func(name string) string {
		out, _ := exec.Command("git", "remote", "get-url", name).Output()
		return strings.TrimSpace(string(out))
	}

	steps := []struct {
		args []string
		want result
	}{
		{args: []string{"config:set", "FOO=1"}, want: result{Code: 1, Stderr: "error: no app given: use --app NAME, or run this in a git work tree with a paas remote\n"}},
		{args: []string{"apps:create", "shop"}, want: result{Stdout: "Created shop\nGit remote paas added: push with git push paas main\n"}},
		{args: []string{"config:set", "FOO=1"}, want: result{Stdout: "Setting FOO and restarting shop... done, v4\n"}},
		{args: []string{"apps:create", "cart"}, want: result{Stdout: "Created cart\n" +
			"Git remote paas already exists (ssh://git@127.0.0.1:2222/shop.git); left as it is.\n" +
			"Add another with paas apps:create --remote NAME, or git remote add NAME ssh://git@127.0.0.1:2222/cart.git\n"}},
		{args: []string{"apps:create", "cart2", "--remote", "cart"}, want: result{Stdout: "Created cart2\nGit remote cart added: push with git push cart main\n"}},
		{args: []string{"apps:destroy", "--app", "cart2", "--confirm", "cart2"}, want: result{Stdout: "Destroyed cart2\n"}},
		{args: []string{"apps:destroy", "--confirm", "shop"}, want: result{Stdout: "Destroyed shop\nRemoved git remote paas\n"}},
	}
	for i, s := range steps {
		if got := runCLI(env, "", s.args...); got != s.want {
			t.Fatalf("step %d: paas %s = %+v, want %+v", i, strings.Join(s.args, " "), got, s.want)
		}
	}
	if got := remote("paas"); got != "" {
		t.Errorf("git remote paas = %q after apps:destroy, want none", got)
	}
	if got, want := remote("cart"), "ssh://git@127.0.0.1:2222/cart2.git"; got != want {
		t.Errorf("git remote cart = %q, want %q", got, want)
	}
	wantCalls := []string{
		`POST /v1/apps {"name":"shop"}`,
		`PATCH /v1/apps/shop/config {"FOO":"1"}`,
		`POST /v1/apps {"name":"cart"}`,
		`POST /v1/apps {"name":"cart2"}`,
		"DELETE /v1/apps/cart2",
		"DELETE /v1/apps/shop",
	}
	if diff := cmp.Diff(wantCalls, fake.takeCalls()); diff != "" {
		t.Errorf("API calls (-want +got):\n%s", diff)
	}
}
