package tests

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"paas/controller"
	"paas/internal/testenv"
)

// TestCLIEndToEnd is the acceptance test of the controller through the CLI: an operator starts
// the server and logs in with the bootstrap token; users get accounts and tokens; an app is
// created, configured, scaled, released, rolled back, given a domain and a collaborator, and
// destroyed; each user sees and may change only what they should; and the audit log records
// every change.
func TestCLIEndToEnd(t *testing.T) {
	s := startServer(t, serverOptions{containerd: testenv.Containerd(t)})
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()

	// The bootstrap token: in a file only its owner may read, shown to the operator on stdout,
	// and removed when first used.
	tokenFile := filepath.Join(s.dataDir, "admin-token")
	fi, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatalf("the server made no bootstrap token file: %v", err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode of %s = %v, want -rw-------", tokenFile, got)
	}
	adminToken := s.adminToken(t)
	if !strings.Contains(s.stdout.String(), adminToken) {
		t.Errorf("the server's stdout does not show the admin token of %s:\n%s", tokenFile, s.stdout.String())
	}
	admin := newHome(t, "admin")
	login(t, s, admin, "admin", adminToken)
	if _, err := os.Stat(tokenFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after the first login with the bootstrap token, stat %s = %v; want it removed", tokenFile, err)
	}
	configFile := filepath.Join(admin, ".config", "paas", "config.json")
	if fi, err := os.Stat(configFile); err != nil {
		t.Errorf("paas login saved no config at $XDG_CONFIG_HOME/paas/config.json: %v", err)
	} else if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode of %s = %v, want -rw-------", configFile, got)
	}
	if got := mustCLI(t, admin, "whoami"); got != "admin\n" {
		t.Errorf("paas whoami = %q, want %q", got, "admin\n")
	}
	me := mustCLIJSON[controller.User](t, admin, "whoami", "--json")
	if want := (controller.User{Name: "admin", Admin: true}); me.Name != want.Name || me.Admin != want.Admin || me.CreatedAt.IsZero() {
		t.Errorf("paas whoami --json = %+v, want %+v with its creation time", me, want)
	}

	// Users: alice's token printed alone, bob's as JSON and typed on standard input, carol's
	// given in PAAS_TOKEN.
	stdout, stderr, err := cli(t, admin, "users:create", "alice")
	if err != nil {
		t.Fatalf("paas users:create alice: %v\n%s", err, stderr)
	}
	aliceToken := strings.TrimSuffix(stdout, "\n")
	if aliceToken == "" || strings.ContainsAny(aliceToken, " \n") {
		t.Errorf("paas users:create alice printed %q, want the token alone", stdout)
	}
	if want := "Created user alice. Their first API token, shown only this once:\n"; stderr != want {
		t.Errorf("paas users:create alice: stderr = %q, want %q", stderr, want)
	}
	alice := newHome(t, "alice")
	login(t, s, alice, "alice", aliceToken)

	created := mustCLIJSON[controller.CreatedUser](t, admin, "users:create", "bob", "--json")
	if created.User.Name != "bob" || created.User.Admin || created.Token.Secret == "" {
		t.Errorf("paas users:create bob --json = %+v, want user bob, not an admin, with a token", created)
	}
	bob := newHome(t, "bob")
	stdout, stderr, err = runCLI(t, bob, cliOptions{stdin: created.Token.Secret + "\n"}, "login", s.url)
	if want := fmt.Sprintf("Logged in to %s as bob\n", s.url); err != nil || stdout != want {
		t.Errorf("paas login %s <token = %q, %v (stderr %q); want %q", s.url, stdout, err, stderr, want)
	}

	carolToken := strings.TrimSpace(mustCLI(t, admin, "users:create", "carol"))
	carol := newHome(t, "carol")
	stdout, stderr, err = runCLI(t, carol, cliOptions{env: []string{"PAAS_TOKEN=" + carolToken}}, "login", s.url)
	if want := fmt.Sprintf("Logged in to %s as carol\n", s.url); err != nil || stdout != want {
		t.Errorf("PAAS_TOKEN=... paas login %s = %q, %v (stderr %q); want %q", s.url, stdout, err, stderr, want)
	}
	users := mustCLIJSON[[]controller.User](t, admin, "users", "--json")
	wantUsers := []controller.User{{Name: "admin", Admin: true}, {Name: "alice"}, {Name: "bob"}, {Name: "carol"}}
	if diff := cmp.Diff(wantUsers, users, cmpopts.IgnoreFields(controller.User{}, "CreatedAt")); diff != "" {
		t.Errorf("paas users --json: (-want +got)\n%s", diff)
	}
	wantCLIError(t, alice, "only an admin may do this", "users:create", "mallory")

	// alice creates shop in a git work tree, which gets a paas remote; bob creates bob-app
	// outside any, which gets none.
	repo := filepath.Join(t.TempDir(), "shop-src")
	if err := os.Mkdir(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := runGit(t, repo, "init", "-q"); err != nil {
		t.Fatal(err)
	}
	got := mustCLIIn(t, alice, repo, "apps:create", "shop")
	remote, err := runGit(t, repo, "remote", "get-url", "paas")
	if err != nil {
		t.Fatalf("after paas apps:create shop in a git work tree: %v", err)
	}
	if !regexp.MustCompile(`^ssh://git@127\.0\.0\.1:[0-9]+/shop\.git$`).MatchString(remote) {
		t.Errorf("git remote get-url paas = %q, want ssh://git@127.0.0.1:PORT/shop.git", remote)
	}
	want := "Created shop\n" +
		"http://shop.localhost:" + port + " | " + remote + "\n" +
		"Git remote paas added: push with git push paas main\n"
	if got != want {
		t.Errorf("paas apps:create shop (in a git work tree) = %q, want %q", got, want)
	}
	got = mustCLI(t, bob, "apps:create", "bob-app")
	if !regexp.MustCompile(`^Created bob-app\nhttp://bob-app\.localhost:` + port + ` \| ssh://git@127\.0\.0\.1:[0-9]+/bob-app\.git\n$`).MatchString(got) {
		t.Errorf("paas apps:create bob-app (outside git) = %q, want the app's URLs and no git remote", got)
	}

	// Config before the first release: recorded, no release made.
	canary := "canary-" + randomHex(16)
	got = mustCLI(t, alice, "config:set", "-a", "shop", "FOO=bar", "CANARY="+canary)
	if want := "Setting FOO and CANARY on shop... done (takes effect with the first release)\n"; got != want {
		t.Errorf("paas config:set -a shop FOO=bar CANARY=... = %q, want %q", got, want)
	}
	got = mustCLI(t, alice, "config:unset", "-a", "shop", "CANARY")
	if want := "Unsetting CANARY on shop... done (takes effect with the first release)\n"; got != want {
		t.Errorf("paas config:unset -a shop CANARY = %q, want %q", got, want)
	}
	cfg := mustCLIJSON[map[string]string](t, alice, "config", "-a", "shop", "--json")
	if diff := cmp.Diff(map[string]string{"FOO": "bar"}, cfg); diff != "" {
		t.Errorf("paas config -a shop --json: (-want +got)\n%s", diff)
	}
	// In the work tree the app comes from the paas remote.
	if got := mustCLIIn(t, alice, repo, "config:get", "FOO"); got != "bar\n" {
		t.Errorf("paas config:get FOO (in shop's work tree) = %q, want %q", got, "bar\n")
	}

	// Scale before any release: recorded, and kept by the first release.
	got = mustCLI(t, alice, "scale", "-a", "shop", "web=2")
	if !strings.HasPrefix(got, "Scaled shop\n") {
		t.Errorf("paas scale -a shop web=2 = %q, want it to start with %q", got, "Scaled shop\n")
	}
	ps := mustCLIJSON[[]controller.Process](t, alice, "formation", "-a", "shop", "--json")
	if diff := cmp.Diff([]controller.Process{{Type: "web", Quantity: 2}}, ps); diff != "" {
		t.Errorf("paas ps -a shop --json before the first release: (-want +got)\n%s", diff)
	}

	// v1 from an image; v2 from a config change.
	got = mustCLI(t, alice, "releases:create", "-a", "shop", "--image", "busybox:latest", "--process", "web=httpd -f -p 8080")
	if want := "Releasing busybox:latest to shop... done, v1\n"; got != want {
		t.Errorf("paas releases:create -a shop --image busybox:latest ... = %q, want %q", got, want)
	}
	ps = mustCLIJSON[[]controller.Process](t, alice, "formation", "-a", "shop", "--json")
	if diff := cmp.Diff([]controller.Process{{Type: "web", Quantity: 2, Command: "httpd -f -p 8080"}}, ps); diff != "" {
		t.Errorf("paas ps -a shop --json after v1: (-want +got)\n%s", diff)
	}
	got = mustCLI(t, alice, "config:set", "-a", "shop", "FOO=baz")
	if want := "Setting FOO and restarting shop... done, v2\n"; got != want {
		t.Errorf("paas config:set -a shop FOO=baz = %q, want %q", got, want)
	}
	releases := mustCLIJSON[[]controller.Release](t, alice, "releases", "-a", "shop", "--json")
	if len(releases) != 2 {
		t.Fatalf("paas releases -a shop --json = %d releases, want v2 and v1: %+v", len(releases), releases)
	}
	image := releases[1].Image // normalized by the server: [registry/]library/busybox:latest
	if !strings.HasSuffix(image, "busybox:latest") {
		t.Errorf("image of v1 = %q, want busybox:latest, normalized", image)
	}
	web := map[string]string{"web": "httpd -f -p 8080"}
	wantReleases := []controller.Release{
		{Version: 2, Image: image, ProcessTypes: web, ConfigKeys: []string{"FOO"}, Description: "Set FOO", CreatedBy: "alice"},
		{Version: 1, Image: image, ProcessTypes: web, ConfigKeys: []string{"FOO"}, Description: "Deploy " + image, CreatedBy: "alice"},
	}
	// The status is the scheduler's to change; it must be a known one.
	ignoreReleaseState := cmpopts.IgnoreFields(controller.Release{}, "CreatedAt", "Status")
	if diff := cmp.Diff(wantReleases, releases, ignoreReleaseState); diff != "" {
		t.Errorf("paas releases -a shop --json: (-want +got)\n%s", diff)
	}
	for _, r := range releases {
		switch r.Status {
		case controller.ReleasePending, controller.ReleaseDeploying, controller.ReleaseSucceeded, controller.ReleaseFailed:
		default:
			t.Errorf("release v%d has status %q, not one of the release statuses", r.Version, r.Status)
		}
	}

	// Rollback to v1 makes v3 with v1's image and config, and makes that config the app's.
	v1 := mustCLIJSON[controller.Release](t, alice, "releases:info", "-a", "shop", "v1", "--json")
	if diff := cmp.Diff(map[string]string{"FOO": "bar"}, v1.Config); diff != "" {
		t.Errorf("config of v1: (-want +got)\n%s", diff)
	}
	got = mustCLI(t, alice, "rollback", "-a", "shop", "v1")
	if want := "Rolling back shop... done, v3: Rollback to v1\n"; got != want {
		t.Errorf("paas rollback -a shop v1 = %q, want %q", got, want)
	}
	cfg = mustCLIJSON[map[string]string](t, alice, "config", "-a", "shop", "--json")
	if diff := cmp.Diff(v1.Config, cfg); diff != "" {
		t.Errorf("paas config -a shop --json after rollback to v1: (-v1's +got)\n%s", diff)
	}
	v3 := mustCLIJSON[controller.Release](t, alice, "releases:info", "-a", "shop", "v3", "--json")
	wantV3 := v1
	wantV3.Version, wantV3.Description = 3, "Rollback to v1"
	if diff := cmp.Diff(wantV3, v3, ignoreReleaseState); diff != "" {
		t.Errorf("paas releases:info -a shop v3 --json: (-want +got)\n%s", diff)
	}
	// Setting a var to the value it has changes nothing, and makes no release.
	if got, want := mustCLI(t, alice, "config:set", "-a", "shop", "FOO=bar"), "Setting FOO on shop... done (no change: the config already was so)\n"; got != want {
		t.Errorf("paas config:set -a shop FOO=bar (as it is) = %q, want %q", got, want)
	}
	info := mustCLIJSON[controller.AppInfo](t, alice, "apps:info", "shop", "--json")
	if info.Release != 3 || info.Current == nil || info.Current.Version != 3 {
		t.Errorf("paas apps:info shop --json: release %d, current %+v; want v3", info.Release, info.Current)
	}

	// A custom domain.
	if got := mustCLI(t, alice, "domains:add", "-a", "shop", "shop.example.com"); got != "Added shop.example.com to shop\n" {
		t.Errorf("paas domains:add -a shop shop.example.com = %q, want %q", got, "Added shop.example.com to shop\n")
	}
	domains := mustCLIJSON[[]controller.Domain](t, alice, "domains", "-a", "shop", "--json")
	ignoreCreated := cmpopts.IgnoreFields(controller.Domain{}, "CreatedAt")
	if diff := cmp.Diff([]controller.Domain{{Name: "shop.example.com", App: "shop"}}, domains, ignoreCreated); diff != "" {
		t.Errorf("paas domains -a shop --json: (-want +got)\n%s", diff)
	}

	// SSH keys made by OpenSSH: alice names the file, bob relies on ~/.ssh/id_ed25519.pub. Each
	// sees only their own.
	aliceKey := filepath.Join(t.TempDir(), "alice_ed25519")
	alicePub := sshKeygen(t, aliceKey, "-t", "ed25519", "-C", "alice@e2e")
	fp := sshFingerprint(t, aliceKey+".pub")
	got = mustCLI(t, alice, "keys:add", aliceKey+".pub")
	keys := mustCLIJSON[[]controller.Key](t, alice, "keys", "--json")
	if len(keys) != 1 {
		t.Fatalf("paas keys --json = %+v, want alice's one key", keys)
	}
	if want := fmt.Sprintf("Added key %d from %s: %s\n", keys[0].ID, aliceKey+".pub", fp); got != want {
		t.Errorf("paas keys:add %s = %q, want %q", aliceKey+".pub", got, want)
	}
	f := strings.Fields(alicePub)
	wantKey := controller.Key{Fingerprint: fp, Type: "ssh-ed25519", Comment: "alice@e2e", PublicKey: f[0] + " " + f[1], User: "alice"}
	ignoreKeyIdentity := cmpopts.IgnoreFields(controller.Key{}, "ID", "CreatedAt")
	if diff := cmp.Diff([]controller.Key{wantKey}, keys, ignoreKeyIdentity); diff != "" {
		t.Errorf("paas keys --json: (-want +got)\n%s", diff)
	}
	bobPub := sshKeygen(t, filepath.Join(bob, ".ssh", "id_ed25519"), "-t", "ed25519", "-C", "bob@e2e")
	got = mustCLI(t, bob, "keys:add")
	if want := filepath.Join(bob, ".ssh", "id_ed25519.pub"); !strings.Contains(got, want) {
		t.Errorf("paas keys:add (no FILE) = %q, want it to name %s", got, want)
	}
	f = strings.Fields(bobPub)
	bobKeys := mustCLIJSON[[]controller.Key](t, bob, "keys", "--json")
	wantBobKey := controller.Key{Fingerprint: sshFingerprint(t, filepath.Join(bob, ".ssh", "id_ed25519.pub")),
		Type: "ssh-ed25519", Comment: "bob@e2e", PublicKey: f[0] + " " + f[1], User: "bob"}
	if diff := cmp.Diff([]controller.Key{wantBobKey}, bobKeys, ignoreKeyIdentity); diff != "" {
		t.Errorf("bob: paas keys --json: (-want +got)\n%s", diff)
	}

	// bob becomes a collaborator: he may read and configure shop, not destroy it or share it.
	// carol, a stranger to shop, may do nothing with it.
	if got := mustCLI(t, alice, "access:add", "-a", "shop", "bob"); got != "Added bob to the collaborators of shop\n" {
		t.Errorf("paas access:add -a shop bob = %q, want %q", got, "Added bob to the collaborators of shop\n")
	}
	collaborators := mustCLIJSON[[]controller.Collaborator](t, alice, "access", "-a", "shop", "--json")
	if diff := cmp.Diff([]controller.Collaborator{{User: "bob"}}, collaborators, cmpopts.IgnoreFields(controller.Collaborator{}, "CreatedAt")); diff != "" {
		t.Errorf("paas access -a shop --json: (-want +got)\n%s", diff)
	}
	cfg = mustCLIJSON[map[string]string](t, bob, "config", "-a", "shop", "--json")
	if diff := cmp.Diff(map[string]string{"FOO": "bar"}, cfg); diff != "" {
		t.Errorf("bob: paas config -a shop --json: (-want +got)\n%s", diff)
	}
	if got := mustCLI(t, bob, "config:set", "-a", "shop", "FROM_BOB=1"); got != "Setting FROM_BOB and restarting shop... done, v4\n" {
		t.Errorf("bob: paas config:set -a shop FROM_BOB=1 = %q, want %q", got, "Setting FROM_BOB and restarting shop... done, v4\n")
	}
	wantCLIError(t, bob, "only the owner of shop may do this", "apps:destroy", "shop", "--confirm", "shop")
	wantCLIError(t, bob, "only the owner of shop may do this", "access:add", "-a", "shop", "carol")
	wantCLIError(t, carol, "you do not have access to app shop", "config", "-a", "shop")
	wantCLIError(t, carol, "you do not have access to app shop", "config:set", "-a", "shop", "FOO=carol")
	wantCLIError(t, carol, "you do not have access to app shop", "apps:destroy", "shop", "--confirm", "shop")

	for _, tc := range []struct {
		user, home string
		want       []string
	}{
		{"admin", admin, []string{"bob-app owner=bob release=0", "shop owner=alice release=4"}},
		{"alice", alice, []string{"shop owner=alice release=4"}},
		{"bob", bob, []string{"bob-app owner=bob release=0", "shop owner=alice release=4"}},
		{"carol", carol, nil},
	} {
		apps := mustCLIJSON[[]controller.App](t, tc.home, "apps", "--json")
		if diff := cmp.Diff(tc.want, appSummaries(apps), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: paas apps --json: (-want +got)\n%s", tc.user, diff)
		}
	}

	// A second token for alice works until she revokes it; then it is refused as unauthorized,
	// by the CLI and by the API.
	stdout, stderr, err = cli(t, alice, "tokens:create", "--description", "ci")
	if err != nil {
		t.Fatalf("paas tokens:create: %v\n%s", err, stderr)
	}
	secret := strings.TrimSuffix(stdout, "\n")
	m := regexp.MustCompile(`^Created token ([0-9]+)\. Copy its secret now; it is not shown again:\n$`).FindStringSubmatch(stderr)
	if m == nil || secret == "" || strings.ContainsAny(secret, " \n") {
		t.Fatalf("paas tokens:create = stdout %q, stderr %q; want the secret alone and the token's ID", stdout, stderr)
	}
	tokenID := m[1]
	tokens := mustCLIJSON[[]controller.Token](t, alice, "tokens", "--json")
	if len(tokens) != 2 || fmt.Sprint(tokens[1].ID) != tokenID || tokens[1].Description != "ci" || !strings.HasPrefix(secret, tokens[1].Prefix) {
		t.Errorf("paas tokens --json = %+v, want alice's first token and token %s (ci) whose prefix starts %q", tokens, tokenID, secret)
	}
	ci := newHome(t, "ci")
	withToken := cliOptions{env: []string{"PAAS_URL=" + s.url, "PAAS_TOKEN=" + secret}}
	if stdout, stderr, err := runCLI(t, ci, withToken, "whoami"); err != nil || stdout != "alice\n" {
		t.Errorf("PAAS_TOKEN=<new token> paas whoami = %q, %v (stderr %q); want alice", stdout, err, stderr)
	}
	if got, want := mustCLI(t, alice, "tokens:revoke", tokenID), "Revoked token "+tokenID+"\n"; got != want {
		t.Errorf("paas tokens:revoke %s = %q, want %q", tokenID, got, want)
	}
	stdout, stderr, err = runCLI(t, ci, withToken, "whoami")
	if want := "error: this API token was revoked\nhint: run paas login\n"; exitCode(err) != 1 || stdout != "" || stderr != want {
		t.Errorf("PAAS_TOKEN=<revoked token> paas whoami = exit status %d, stdout %q, stderr %q; want exit status 1 and %q", exitCode(err), stdout, stderr, want)
	}
	if _, err := s.client(t, secret).Me(t.Context()); !errors.Is(err, controller.ErrUnauthorized) {
		t.Errorf("Me with a revoked token = %v, want an error wrapping %v", err, controller.ErrUnauthorized)
	}
	wantCLIError(t, ci, "does not accept this token", "login", s.url, "--token", secret)
	tokens = mustCLIJSON[[]controller.Token](t, alice, "tokens", "--json")
	if len(tokens) != 1 || fmt.Sprint(tokens[0].ID) == tokenID {
		t.Errorf("paas tokens --json after revoking %s = %+v, want only alice's first token", tokenID, tokens)
	}

	// The audit log holds every change made above, each once, and nothing else; only an admin
	// may read it.
	wantCLIError(t, alice, "only an admin may do this", "audit")
	events := mustCLIJSON[[]controller.AuditEvent](t, admin, "audit", "--json", "--limit", "1000")
	wantEvents := map[string]int{
		"paas user.create":            1, // the bootstrap admin
		"admin user.create":           3,
		"alice app.create shop":       1,
		"bob app.create bob-app":      1,
		"alice config.set shop":       3, // set FOO and CANARY, unset CANARY, set FOO
		"alice formation.scale shop":  1,
		"alice release.create shop":   1,
		"alice release.rollback shop": 1,
		"alice domain.add shop":       1,
		"alice key.add":               1,
		"bob key.add":                 1,
		"alice access.add shop":       1,
		"bob config.set shop":         1,
		"alice token.create":          1,
		"alice token.revoke":          1,
	}
	if diff := cmp.Diff(wantEvents, countEvents(events)); diff != "" {
		t.Errorf("paas audit --json: events by actor, action and app: (-want +got)\n%s", diff)
	}
	for i, e := range events {
		if i > 0 && e.ID >= events[i-1].ID {
			t.Errorf("paas audit --json: event %d comes after event %d; want newest first", e.ID, events[i-1].ID)
		}
		if e.Time.IsZero() {
			t.Errorf("audit event %d (%s) has no time", e.ID, e.Action)
		}
		if e.Actor != "paas" && !strings.HasPrefix(e.RemoteAddr, "127.0.0.1:") {
			t.Errorf("audit event %d (%s) has remote address %q, want 127.0.0.1:PORT", e.ID, e.Action, e.RemoteAddr)
		}
		if strings.Contains(e.Detail, canary) {
			t.Errorf("audit event %d (%s) holds a config value: %q", e.ID, e.Action, e.Detail)
		}
	}

	// Destroying shop takes a confirmation, then removes the app, its git remote, and its
	// domain, which another app may then take.
	stdout, stderr, err = runCLI(t, alice, cliOptions{dir: repo}, "apps:destroy", "shop")
	if exitCode(err) != 1 || !strings.Contains(stderr, "error: not confirmed") {
		t.Errorf("paas apps:destroy shop (nothing typed) = exit status %d, stdout %q, stderr %q; want exit status 1, not confirmed", exitCode(err), stdout, stderr)
	}
	wantCLIError(t, alice, `confirmation "shop2" does not match shop; nothing was changed`, "apps:destroy", "shop", "--confirm", "shop2")
	if apps := mustCLIJSON[[]controller.App](t, alice, "apps", "--json"); len(apps) != 1 {
		t.Errorf("paas apps --json after unconfirmed destroys = %v, want shop still there", appSummaries(apps))
	}
	got = mustCLIIn(t, alice, repo, "apps:destroy", "shop", "--confirm", "shop")
	if want := "Destroyed shop\nRemoved git remote paas\n"; got != want {
		t.Errorf("paas apps:destroy shop --confirm shop = %q, want %q", got, want)
	}
	if out, err := runGit(t, repo, "remote"); err != nil || out != "" {
		t.Errorf("git remote after destroying shop = %q, %v; want no remotes", out, err)
	}
	if apps := mustCLIJSON[[]controller.App](t, alice, "apps", "--json"); len(apps) != 0 {
		t.Errorf("alice: paas apps --json after destroying shop = %v, want none", appSummaries(apps))
	}
	if apps := mustCLIJSON[[]controller.App](t, admin, "apps", "--json"); len(apps) != 1 || apps[0].Name != "bob-app" {
		t.Errorf("admin: paas apps --json after destroying shop = %v, want bob-app alone", appSummaries(apps))
	}
	wantCLIError(t, alice, "no app named shop", "config", "-a", "shop")
	wantCLIError(t, bob, "no app named shop", "releases", "-a", "shop")
	if got := mustCLI(t, bob, "domains:add", "-a", "bob-app", "shop.example.com"); got != "Added shop.example.com to bob-app\n" {
		t.Errorf("paas domains:add -a bob-app shop.example.com after shop is gone = %q", got)
	}
	events = mustCLIJSON[[]controller.AuditEvent](t, admin, "audit", "--json", "--app", "shop", "--limit", "1")
	if len(events) != 1 || events[0].Action != "app.destroy" || events[0].Actor != "alice" {
		t.Errorf("paas audit --app shop --limit 1 --json = %+v, want alice's app.destroy", events)
	}

	// A user who owns an app, or the last admin, cannot be removed; carol can, and her token
	// stops working.
	wantCLIError(t, admin, "user bob owns apps (bob-app)", "users:remove", "bob", "--confirm", "bob")
	wantCLIError(t, admin, "user admin is the last admin", "users:remove", "admin", "--confirm", "admin")
	if got := mustCLI(t, admin, "users:remove", "carol", "--confirm", "carol"); got != "Deleted user carol\n" {
		t.Errorf("paas users:remove carol --confirm carol = %q, want %q", got, "Deleted user carol\n")
	}
	stdout, stderr, err = cli(t, carol, "whoami")
	if exitCode(err) != 1 || stdout != "" || !strings.HasSuffix(stderr, "\nhint: run paas login\n") {
		t.Errorf("paas whoami as a removed user = exit status %d, stdout %q, stderr %q; want exit status 1 and an unauthorized error", exitCode(err), stdout, stderr)
	}
	users = mustCLIJSON[[]controller.User](t, admin, "users", "--json")
	wantUsers = []controller.User{{Name: "admin", Admin: true}, {Name: "alice"}, {Name: "bob"}}
	if diff := cmp.Diff(wantUsers, users, cmpopts.IgnoreFields(controller.User{}, "CreatedAt")); diff != "" {
		t.Errorf("paas users --json after removing carol: (-want +got)\n%s", diff)
	}
}

// countEvents counts audit events by "actor action [app]".
func countEvents(events []controller.AuditEvent) map[string]int {
	n := make(map[string]int)
	for _, e := range events {
		n[strings.TrimSpace(e.Actor+" "+e.Action+" "+e.App)]++
	}
	return n
}
