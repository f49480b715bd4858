package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"paas/controller"
)

// TestBadInputChangesNothing sends bad input through the CLI and, where the CLI would catch it
// before the server sees it, straight to the API: each must fail with a message that says what
// is wrong, and leave every piece of state a user can see exactly as it was, audit log included.
//
// An app name left out is not bad input: apps:create without NAME, and a create request without
// a name, ask the server to choose one. An empty name given explicitly, on the command line or as
// "name": "" in the request, is bad input like any other invalid name.
func TestBadInputChangesNothing(t *testing.T) {
	s := startServer(t, serverOptions{})
	admin, adminToken := loginAdmin(t, s)
	alice, aliceToken := createUser(t, s, admin, "alice")
	bob, bobToken := createUser(t, s, admin, "bob")
	adminAPI, aliceAPI, bobAPI := s.client(t, adminToken), s.client(t, aliceToken), s.client(t, bobToken)

	// alice's shop has config, a release, a formation and a domain; her other app has nothing.
	mustCLI(t, alice, "apps:create", "shop")
	mustCLI(t, alice, "apps:create", "other")
	mustCLI(t, alice, "config:set", "-a", "shop", "FOO=bar")
	mustCLI(t, alice, "releases:create", "-a", "shop", "--image", "busybox:latest", "--process", "web=httpd -f -p 8080")
	mustCLI(t, alice, "scale", "-a", "shop", "web=2")
	mustCLI(t, alice, "domains:add", "-a", "shop", "shop.example.com")
	keys := t.TempDir()
	aliceKey := filepath.Join(keys, "alice")
	sshKeygen(t, aliceKey, "-t", "ed25519", "-C", "alice@e2e")
	mustCLI(t, alice, "keys:add", aliceKey+".pub")
	aliceKeys, err := aliceAPI.Keys(t.Context())
	if err != nil || len(aliceKeys) != 1 {
		t.Fatalf("alice's keys = %+v, %v; want the one she added", aliceKeys, err)
	}

	// Key files, good keys in bad forms and bad keys.
	fresh1 := sshKeygen(t, filepath.Join(keys, "fresh1"), "-t", "ed25519")
	fresh2 := sshKeygen(t, filepath.Join(keys, "fresh2"), "-t", "ed25519")
	sshKeygen(t, filepath.Join(keys, "rsa1024"), "-t", "rsa", "-b", "1024")
	private, err := os.ReadFile(filepath.Join(keys, "fresh1"))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := func(name, content string) string {
		path := filepath.Join(keys, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	malformed := keyFile("malformed.pub", "ssh-ed25519 AAAA!!not-base64!! x@y\n")
	garbage := keyFile("garbage.pub", "hello world\n")
	empty := keyFile("empty.pub", "")
	withOptions := keyFile("options.pub", `command="sh -c id" `+fresh1)
	twoKeys := keyFile("two.pub", fresh1+fresh2)

	long := strings.Repeat("a", 31)
	cliTests := []struct {
		name string
		home string // whose CLI
		args []string
		want string // in the error message
	}{
		{"app name with a semicolon", alice, []string{"apps:create", "a;b"}, `invalid app name "a;b"`},
		{"app name with a command substitution", alice, []string{"apps:create", "$(id)"}, `invalid app name "$(id)"`},
		{"app name with a path", alice, []string{"apps:create", "../x"}, `invalid app name "../x"`},
		{"app name in upper case", alice, []string{"apps:create", "Shop"}, `invalid app name "Shop"`},
		{"app name of 31 characters", alice, []string{"apps:create", long}, `invalid app name "` + long + `"`},
		{"app name of a space", alice, []string{"apps:create", " "}, `invalid app name " "`},
		{"empty app name", alice, []string{"apps:create", ""}, "app name is empty"},
		{"app name taken", bob, []string{"apps:create", "shop"}, "app shop already exists"},
		{"app named by a path", alice, []string{"config:set", "-a", "../shop", "A=1"}, `invalid app name "../shop"`},

		{"domain of another app", alice, []string{"domains:add", "-a", "other", "shop.example.com"}, "domain shop.example.com is already in use by another app"},
		{"domain of another app in other case", alice, []string{"domains:add", "-a", "other", "SHOP.Example.COM."}, "domain shop.example.com is already in use by another app"},
		{"domain added twice", alice, []string{"domains:add", "-a", "shop", "shop.example.com"}, "shop already has domain shop.example.com"},
		{"domain under the base domain", alice, []string{"domains:add", "-a", "other", "shop.localhost"}, "shop.localhost is reserved"},
		{"domain with a port", alice, []string{"domains:add", "-a", "other", "other.example.com:80"}, `invalid domain "other.example.com:80"`},
		{"IP address as a domain", alice, []string{"domains:add", "-a", "other", "10.0.0.1"}, "IP addresses cannot be app domains"},
		{"domain for an app of someone else", bob, []string{"domains:add", "-a", "shop", "bob.example.com"}, "you do not have access to app shop"},
		{"remove the domain of another app", alice, []string{"domains:remove", "-a", "other", "shop.example.com"}, "other has no domain shop.example.com"},
		{"remove a domain of an app of someone else", bob, []string{"domains:remove", "-a", "shop", "shop.example.com"}, "you do not have access to app shop"},

		{"malformed SSH key", alice, []string{"keys:add", malformed}, "not an SSH public key"},
		{"text that is no SSH key", alice, []string{"keys:add", garbage}, "not an SSH public key"},
		{"empty key file", alice, []string{"keys:add", empty}, "is empty"},
		{"private key", alice, []string{"keys:add", filepath.Join(keys, "fresh1")}, "is a private key"},
		{"key with authorized_keys options", alice, []string{"keys:add", withOptions}, "authorized_keys options"},
		{"two keys in one file", alice, []string{"keys:add", twoKeys}, "give one SSH key at a time"},
		{"RSA key of 1024 bits", alice, []string{"keys:add", filepath.Join(keys, "rsa1024.pub")}, "RSA key of 1024 bits is too weak"},
		{"key added twice", alice, []string{"keys:add", aliceKey + ".pub"}, "you already added key"},
		{"key of another user", bob, []string{"keys:add", aliceKey + ".pub"}, "belongs to another user"},
		{"remove the key of another user", bob, []string{"keys:remove", aliceKeys[0].Fingerprint}, "no SSH key of yours"},

		{"config key starting with a digit", alice, []string{"config:set", "-a", "shop", "1A=x"}, `invalid config key "1A"`},
		{"config key with a dash", alice, []string{"config:set", "-a", "shop", "A-B=x"}, `invalid config key "A-B"`},
		{"config key with a space", alice, []string{"config:set", "-a", "shop", "A B=x"}, `invalid config key "A B"`},
		{"config key PORT", alice, []string{"config:set", "-a", "shop", "PORT=80"}, "config key PORT is reserved"},
		{"config key PAAS_X", alice, []string{"config:set", "-a", "shop", "PAAS_X=1"}, "config key PAAS_X is reserved"},
		{"empty config key", alice, []string{"config:set", "-a", "shop", "=x"}, `invalid config key ""`},
		{"good and bad config keys at once", alice, []string{"config:set", "-a", "shop", "GOOD=1", "1A=x"}, `invalid config key "1A"`},
		{"config key given twice", alice, []string{"config:set", "-a", "shop", "A=1", "A=2"}, "A is given twice"},
		{"config unset of a reserved key", alice, []string{"config:unset", "-a", "shop", "PORT"}, "config key PORT is reserved"},
		{"config of an app of someone else", bob, []string{"config:set", "-a", "shop", "FOO=evil"}, "you do not have access to app shop"},

		{"image reference that is none", alice, []string{"releases:create", "-a", "shop", "--image", "Not An Image!"}, "invalid image reference"},
		{"rollback to a release that does not exist", alice, []string{"rollback", "-a", "shop", "v9"}, "shop has no release v9"},
		{"rollback to the current release", alice, []string{"rollback", "-a", "shop", "v1"}, "v1 is the current release already"},
		{"rollback with nothing before", alice, []string{"rollback", "-a", "shop"}, "shop has no release before v1"},
		{"scale beyond the limit", alice, []string{"scale", "-a", "shop", "web=21"}, "web=21: quantity must be between 0 and 20"},
		{"memory beyond the limit", alice, []string{"scale", "-a", "shop", "web=1", "--memory", "8G"}, "web: memory limit must be between 16M and 4G"},
		{"scale a process type the release lacks", alice, []string{"scale", "-a", "shop", "worker=1"}, "release v1 has no process type worker"},
		{"collaborator who does not exist", alice, []string{"access:add", "-a", "shop", "nobody"}, "no user named nobody"},
		{"owner as a collaborator", alice, []string{"access:add", "-a", "shop", "alice"}, "alice owns shop already"},
		{"remove a collaborator who is none", alice, []string{"access:remove", "-a", "shop", "bob"}, "bob is not a collaborator on shop"},
		{"revoke the token of another user", alice, []string{"tokens:revoke", "1"}, "you have no token 1"},
		{"user name in upper case", admin, []string{"users:create", "Eve"}, `invalid user name "Eve"`},
		{"user who exists", admin, []string{"users:create", "alice"}, "user alice already exists"},
		{"destroy an app of someone else", bob, []string{"apps:destroy", "shop", "--confirm", "shop"}, "you do not have access to app shop"},
	}

	createApp := func(name string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := aliceAPI.CreateApp(ctx, name)
			return err
		}
	}
	setConfig := func(vars map[string]*string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := aliceAPI.SetConfig(ctx, "shop", vars)
			return err
		}
	}
	addDomain := func(name string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := aliceAPI.AddDomain(ctx, "other", name)
			return err
		}
	}
	addKey := func(key string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := aliceAPI.AddKey(ctx, key)
			return err
		}
	}
	createRelease := func(nr controller.NewRelease) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := aliceAPI.CreateRelease(ctx, "shop", nr)
			return err
		}
	}
	scale := func(u controller.ProcessUpdate) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := aliceAPI.Scale(ctx, "shop", []controller.ProcessUpdate{u})
			return err
		}
	}
	raw := func(method, path, body string) func(context.Context) error {
		return func(ctx context.Context) error {
			return rawCall(ctx, s.url, aliceToken, method, path, body)
		}
	}
	str := func(s string) *string { return &s }
	intp := func(n int) *int { return &n }
	int64p := func(n int64) *int64 { return &n }

	// Straight to the API: what the CLI refuses itself, and what it cannot send.
	apiTests := []struct {
		name string
		call func(context.Context) error
		kind error  // the error kind, as errors.Is sees it
		want string // in the error message
	}{
		{"app name with a semicolon", createApp("a;b"), controller.ErrInvalid, `invalid app name "a;b"`},
		{"app name with a command substitution", createApp("$(id)"), controller.ErrInvalid, `invalid app name "$(id)"`},
		{"app name with a path", createApp("../x"), controller.ErrInvalid, `invalid app name "../x"`},
		{"app name in upper case", createApp("Shop"), controller.ErrInvalid, `invalid app name "Shop"`},
		{"app name of 31 characters", createApp(long), controller.ErrInvalid, "invalid app name"},
		{"app name of a space", createApp(" "), controller.ErrInvalid, "invalid app name"},
		{"app name with a newline", createApp("shop\nx"), controller.ErrInvalid, "invalid app name"},
		{"app name taken", createApp("other"), controller.ErrConflict, "app other already exists"},

		{"config key starting with a digit", setConfig(map[string]*string{"1A": str("x")}), controller.ErrInvalid, `invalid config key "1A"`},
		{"config key with a dash", setConfig(map[string]*string{"A-B": str("x")}), controller.ErrInvalid, `invalid config key "A-B"`},
		{"config key with a space", setConfig(map[string]*string{"A B": str("x")}), controller.ErrInvalid, `invalid config key "A B"`},
		{"config key PORT", setConfig(map[string]*string{"PORT": str("80")}), controller.ErrInvalid, "config key PORT is reserved"},
		{"config key PAAS_X", setConfig(map[string]*string{"PAAS_X": str("1")}), controller.ErrInvalid, "config key PAAS_X is reserved"},
		{"config key with a shell substitution", setConfig(map[string]*string{"$(id)": str("1")}), controller.ErrInvalid, "invalid config key"},
		{"good and bad config keys at once", setConfig(map[string]*string{"GOOD": str("1"), "1A": str("x")}), controller.ErrInvalid, `invalid config key "1A"`},
		{"unset of a reserved key with a good set", setConfig(map[string]*string{"GOOD": str("1"), "PORT": nil}), controller.ErrInvalid, "config key PORT is reserved"},
		{"config value with a NUL byte", setConfig(map[string]*string{"A": str("x\x00y")}), controller.ErrInvalid, "value of A contains a NUL byte"},
		{"config value over the limit", setConfig(map[string]*string{"A": str(strings.Repeat("x", controller.MaxConfigValueLen+1))}), controller.ErrInvalid, "the limit is"},
		{"no config vars", setConfig(map[string]*string{}), controller.ErrInvalid, "no config vars given"},

		{"domain with a semicolon", addDomain("a;b.example.com"), controller.ErrInvalid, "invalid domain"},
		{"domain with a path", addDomain("../../etc/passwd"), controller.ErrInvalid, "invalid domain"},
		{"domain that is the app's default", addDomain("other.localhost"), controller.ErrConflict, "other.localhost is already other's default domain"},
		{"domain of another app", addDomain("shop.example.com"), controller.ErrConflict, "already in use by another app"},

		{"private key", addKey(string(private)), controller.ErrInvalid, "that is a private key"},
		{"empty key", addKey(""), controller.ErrInvalid, "the SSH public key is empty"},
		{"key of two lines", addKey(fresh1 + fresh2), controller.ErrInvalid, "give one SSH key at a time"},

		{"image digest that is none", createRelease(controller.NewRelease{Image: "busybox:latest", Digest: "sha256:xyz"}), controller.ErrInvalid, "invalid image digest"},
		{"process type in upper case", createRelease(controller.NewRelease{Image: "busybox:latest", ProcessTypes: map[string]string{"Web": "x"}}), controller.ErrInvalid, `invalid process type "Web"`},
		{"command of two lines", createRelease(controller.NewRelease{Image: "busybox:latest", ProcessTypes: map[string]string{"web": "x\nrm -rf /"}}), controller.ErrInvalid, "must be one line"},
		{"negative scale", scale(controller.ProcessUpdate{Type: "web", Quantity: intp(-1)}), controller.ErrInvalid, "quantity must be between 0 and 20"},
		{"memory limit too small", scale(controller.ProcessUpdate{Type: "web", Memory: int64p(1)}), controller.ErrInvalid, "memory limit must be between"},
		{"CPU limit too large", scale(controller.ProcessUpdate{Type: "web", CPU: intp(1 << 30)}), controller.ErrInvalid, "CPU limit must be between"},
		{"scale nothing", scale(controller.ProcessUpdate{Type: "web"}), controller.ErrInvalid, "give a quantity or a limit"},

		{"remove the key of another user", func(ctx context.Context) error {
			return bobAPI.RemoveKey(ctx, aliceKeys[0].ID)
		}, controller.ErrNotFound, fmt.Sprintf("you have no key %d", aliceKeys[0].ID)},
		{"user name with a path", func(ctx context.Context) error {
			_, err := adminAPI.CreateUser(ctx, controller.NewUser{Name: "../x"})
			return err
		}, controller.ErrInvalid, "invalid user name"},
		{"user created by a non-admin", func(ctx context.Context) error {
			_, err := aliceAPI.CreateUser(ctx, controller.NewUser{Name: "mallory", Admin: true})
			return err
		}, controller.ErrForbidden, "only an admin may do this"},
		{"collaborator name with a semicolon", func(ctx context.Context) error {
			_, err := aliceAPI.AddCollaborator(ctx, "shop", "bob;x")
			return err
		}, controller.ErrInvalid, "invalid user name"},
		{"collaborator added by a stranger", func(ctx context.Context) error {
			_, err := bobAPI.AddCollaborator(ctx, "shop", "bob")
			return err
		}, controller.ErrForbidden, "you do not have access to app shop"},

		{"empty app name", raw("POST", "/v1/apps", `{"name": ""}`), controller.ErrInvalid, "app name is empty"},
		{"app name that is not a string", raw("POST", "/v1/apps", `{"name": ["shop2"]}`), controller.ErrInvalid, "invalid JSON"},
		{"JSON body with an unknown field", raw("POST", "/v1/apps", `{"name": "fine", "owner": "bob"}`), controller.ErrInvalid, "unknown field"},
		{"JSON body of two values", raw("POST", "/v1/apps", `{"name": "fine"} {"name": "fine2"}`), controller.ErrInvalid, "more than one value"},
		{"body that is not JSON", raw("POST", "/v1/apps", `name=fine`), controller.ErrInvalid, "invalid JSON"},
		{"config value that is a number", raw("PATCH", "/v1/apps/shop/config", `{"FOO": 1}`), controller.ErrInvalid, "invalid JSON"},
		{"body over the limit", raw("POST", "/v1/apps", `{"name": "fine", "x": "`+strings.Repeat("x", 2<<20)+`"}`), controller.ErrInvalid, "larger than"},
	}

	snap := func(t testing.TB) state {
		t.Helper()
		return takeState(t, adminAPI, map[string]*controller.Client{"alice": aliceAPI, "bob": bobAPI})
	}
	// Each case is compared with the state just before it, so that a change is blamed on the
	// case that made it alone.
	before := snap(t)
	if len(before.Apps) != 2 || len(before.Audit) == 0 || len(before.Keys["alice"]) != 1 {
		t.Fatalf("set-up: apps %v, %d audit events, alice's keys %v; want shop and other, events, and a key", appSummaries(before.Apps), len(before.Audit), before.Keys["alice"])
	}
	for _, tt := range cliTests {
		t.Run("cli/"+tt.name, func(t *testing.T) {
			wantCLIError(t, tt.home, tt.want, tt.args...)
			after := snap(t)
			if diff := cmp.Diff(before, after, stateOpts); diff != "" {
				t.Errorf("%s changed the state: (-before +after)\n%s", cmdline(tt.args), diff)
			}
			before = after
		})
	}
	for _, tt := range apiTests {
		t.Run("api/"+tt.name, func(t *testing.T) {
			err := tt.call(t.Context())
			if !errors.Is(err, tt.kind) || !strings.Contains(fmt.Sprint(err), tt.want) {
				t.Errorf("%s = %v; want an error of kind %v saying %q", tt.name, err, tt.kind, tt.want)
			}
			after := snap(t)
			if diff := cmp.Diff(before, after, stateOpts); diff != "" {
				t.Errorf("%s changed the state: (-before +after)\n%s", tt.name, diff)
			}
			before = after
		})
	}
}

// state is everything about the server that users can see.
type state struct {
	Users         []controller.User
	Apps          []controller.App                     // as an admin sees them
	Config        map[string]map[string]string         // by app
	Releases      map[string][]controller.Release      // by app
	Formation     map[string][]controller.Process      // by app
	Domains       map[string][]controller.Domain       // by app
	Collaborators map[string][]controller.Collaborator // by app
	Keys          map[string][]controller.Key          // by user
	Tokens        map[string][]controller.Token        // by user
	Audit         []controller.AuditEvent
}

// stateOpts compares states: a token's last use is recorded on use, which reading the state is.
var stateOpts = cmpopts.IgnoreFields(controller.Token{}, "LastUsedAt")

// takeState reads the state through the API: all of it with an admin's client, and what is
// per user with each user's.
func takeState(t testing.TB, admin *controller.Client, users map[string]*controller.Client) state {
	t.Helper()
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("reading the state: %v", err)
		}
	}
	st := state{
		Config:        map[string]map[string]string{},
		Releases:      map[string][]controller.Release{},
		Formation:     map[string][]controller.Process{},
		Domains:       map[string][]controller.Domain{},
		Collaborators: map[string][]controller.Collaborator{},
		Keys:          map[string][]controller.Key{},
		Tokens:        map[string][]controller.Token{},
	}
	var err error
	st.Users, err = admin.Users(ctx)
	must(err)
	st.Apps, err = admin.Apps(ctx)
	must(err)
	for _, a := range st.Apps {
		var (
			cfg map[string]string
			rs  []controller.Release
			ps  []controller.Process
			ds  []controller.Domain
			cs  []controller.Collaborator
		)
		cfg, err = admin.Config(ctx, a.Name)
		must(err)
		rs, err = admin.Releases(ctx, a.Name)
		must(err)
		ps, err = admin.Formation(ctx, a.Name)
		must(err)
		ds, err = admin.Domains(ctx, a.Name)
		must(err)
		cs, err = admin.Collaborators(ctx, a.Name)
		must(err)
		st.Config[a.Name], st.Releases[a.Name], st.Formation[a.Name], st.Domains[a.Name], st.Collaborators[a.Name] = cfg, rs, ps, ds, cs
	}
	for name, c := range users {
		var (
			ks []controller.Key
			ts []controller.Token
		)
		ks, err = c.Keys(ctx)
		must(err)
		ts, err = c.Tokens(ctx)
		must(err)
		st.Keys[name], st.Tokens[name] = ks, ts
	}
	st.Audit, err = admin.Audit(ctx, controller.AuditQuery{Limit: 1000})
	must(err)
	return st
}

// rawCall sends a request the client cannot make and returns the answer's error, of the kind
// its status maps to.
func rawCall(ctx context.Context, base, token, method, path, body string) error {
	req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	kinds := map[int]error{
		http.StatusNotFound:            controller.ErrNotFound,
		http.StatusConflict:            controller.ErrConflict,
		http.StatusUnprocessableEntity: controller.ErrInvalid,
		http.StatusBadRequest:          controller.ErrInvalid,
		http.StatusUnauthorized:        controller.ErrUnauthorized,
		http.StatusForbidden:           controller.ErrForbidden,
	}
	switch kind, ok := kinds[resp.StatusCode]; {
	case resp.StatusCode < 300:
		return nil
	case ok:
		return fmt.Errorf("%w: %s %s: %s: %s", kind, method, path, resp.Status, e.Error)
	default:
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
}
