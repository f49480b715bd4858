package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"paas/controller"
	"paas/controller/internal/routing"
	"paas/controller/internal/seal"
	"paas/controller/internal/store"
)

// env is a store with an admin, an app owner, a collaborator and a user
// with no access, each with an API token, and an API handler over it.
type env struct {
	t       *testing.T
	st      *store.Store
	h       http.Handler
	actors  map[string]store.Actor // by role
	tokens  map[string]string      // by role; "none" has none
	counter int

	buildLogs string // BuildLogDir
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	key, err := seal.LoadOrCreateKey(filepath.Join(t.TempDir(), "key"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, _ := seal.New(key)
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "paas.db"), sealer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	buildLogs := t.TempDir()
	// The API's own host names are set (--api-hosts), so that the matrix
	// runs with them in force.
	e := &env{t: t, st: st, buildLogs: buildLogs, h: New(Options{Store: st, Routes: routing.New("localhost", testAPIHosts...), BuildLogDir: buildLogs, APIHosts: testAPIHosts,
		Metrics:      func(app string) (controller.AppMetrics, bool) { return controller.AppMetrics{App: app}, true },
		Prometheus:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "paas_requests_total 1\n") }),
		MetricsToken: testMetricsToken,
		// The runtime is not under test here: a run that succeeds at once.
		Run:     func(context.Context, string, string, bool, io.Writer) (int, error) { return 0, nil },
		Restart: func(context.Context, string, string) error { return nil }}), actors: map[string]store.Actor{}, tokens: map[string]string{}}
	var secret string
	if _, err := st.Bootstrap(ctx, func(s string) error { secret = s; return nil }); err != nil {
		t.Fatal(err)
	}
	e.tokens["admin"] = secret
	e.actors["admin"], _, _ = st.Authenticate(ctx, secret)
	for role, name := range map[string]string{"owner": "olive", "collaborator": "carl", "other": "otto"} {
		cu, err := st.CreateUser(ctx, e.actors["admin"], controller.NewUser{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[role] = cu.Token.Secret
		e.actors[role], _, _ = st.Authenticate(ctx, cu.Token.Secret)
	}
	// "revoked" holds a token of the owner's that was revoked: it would
	// be allowed everything the owner is, were it not revoked.
	nt, err := st.CreateToken(ctx, e.actors["owner"], "to revoke")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeToken(ctx, e.actors["owner"], nt.ID); err != nil {
		t.Fatal(err)
	}
	e.tokens["revoked"] = nt.Secret
	return e
}

// testAPIHosts are the API's host names in newEnv's API.
var testAPIHosts = []string{"paas.example.com", "console.localhost", "box"}

// testMetricsToken may read /metrics in newEnv's API.
const testMetricsToken = "metrics-token-0123456789abcdef0123"

func (e *env) next() int { e.counter++; return e.counter }

// newKey makes an SSH public key in authorized_keys form.
func newKey(t *testing.T) string {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := ssh.NewPublicKey(pub)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " test@paas"
}

// fixture makes, for one request, an app with a collaborator, two
// releases and a domain, plus the objects the request may delete, and
// returns the values to put in the request's path and body.
func (e *env) fixture(role string) map[string]string {
	t, ctx := e.t, context.Background()
	n := e.next()
	owner := e.actors["owner"]
	app := fmt.Sprintf("app%d", n)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.st.CreateApp(ctx, owner, app)
	must(err)
	_, err = e.st.AddCollaborator(ctx, owner, app, "carl")
	must(err)
	extra, err := e.st.CreateUser(ctx, e.actors["admin"], controller.NewUser{Name: fmt.Sprintf("extra%d", n)})
	must(err)
	_, err = e.st.AddCollaborator(ctx, owner, app, extra.User.Name)
	must(err)
	fresh, err := e.st.CreateUser(ctx, e.actors["admin"], controller.NewUser{Name: fmt.Sprintf("fresh%d", n)})
	must(err)
	_, err = e.st.CreateRelease(ctx, owner, app, controller.NewRelease{Image: "docker.io/library/busybox:latest", ProcessTypes: map[string]string{"web": "httpd -f"}}, 0)
	must(err)
	_, err = e.st.SetConfig(ctx, owner, app, map[string]*string{"A": ptr("1")})
	must(err)
	b, err := e.st.CreateBuild(ctx, owner, app, "0123456789abcdef0123456789abcdef01234567")
	must(err)
	must(os.MkdirAll(filepath.Join(e.buildLogs, app), 0o700))
	must(os.WriteFile(filepath.Join(e.buildLogs, app, fmt.Sprintf("%d.log", b.ID)), []byte("-----> Building\n"), 0o600))
	_, err = e.st.AddDomain(ctx, owner, app, app+".example.com")
	must(err)
	must(e.st.SetHealthCheck(ctx, owner, app, controller.HealthCheck{Type: "worker", Timeout: 3}, false))
	certPEM, keyPEM := selfSigned(t, app+".example.com")
	ci, err := ParseCert(controller.NewCert{CertPEM: certPEM, KeyPEM: keyPEM}, []string{app + ".example.com"}, time.Now())
	must(err)
	_, err = e.st.AddCert(ctx, owner, app, ci)
	must(err)
	_, err = e.st.AddBuildpack(ctx, owner, app, "mine", testBuildpackArchive(t, "", false))
	must(err)
	bpBody, _ := json.Marshal(controller.NewBuildpack{Name: "added", Archive: testBuildpackArchive(t, "", false)})
	newCertPEM, newKeyPEM := selfSigned(t, app+".localhost")
	certBody, _ := json.Marshal(controller.NewCert{CertPEM: newCertPEM, KeyPEM: newKeyPEM})
	// Keys and tokens belong to whoever deletes them; callers with no
	// valid token get the owner's.
	holder := owner
	if a, ok := e.actors[role]; ok {
		holder = a
	}
	k, err := ParseKey(newKey(t))
	must(err)
	k, err = e.st.AddKey(ctx, holder, k)
	must(err)
	tok, err := e.st.CreateToken(ctx, holder, "to delete")
	must(err)
	selfToken := e.tokens[role]
	if selfToken == "" {
		selfToken = "paas_not-a-token"
	}
	victim, err := e.st.CreateUser(ctx, e.actors["admin"], controller.NewUser{Name: fmt.Sprintf("victim%d", n)})
	must(err)
	return map[string]string{
		"app":       app,
		"newapp":    fmt.Sprintf("new%d", n),
		"domain":    app + ".example.com",
		"newdomain": fmt.Sprintf("d%d.example.com", n),
		"collab":    extra.User.Name,
		"fresh":     fresh.User.Name,
		"keyid":     fmt.Sprint(k.ID),
		"tokenid":   fmt.Sprint(tok.ID),
		"victim":    victim.User.Name,
		"newuser":   fmt.Sprintf("nu%d", n),
		"pubkey":    newKey(t),
		"certbody":  string(certBody),
		"bpbody":    string(bpBody),
		"selftoken": selfToken,
		"buildid":   fmt.Sprint(b.ID),
	}
}

func ptr[T any](v T) *T { return &v }

func expand(s string, vars map[string]string) string {
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

func (e *env) do(method, path, body, token string) *httptest.ResponseRecorder {
	var req *http.Request
	if body == "" {
		req = httptest.NewRequest(method, path, nil)
	} else {
		req = httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return w
}

var roles = []string{"admin", "owner", "collaborator", "other", "none", "revoked"}

// TestAuthorizationMatrix calls every endpoint as every kind of caller and
// counts the calls that succeeded without being allowed.
func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t)
	everyone := []string{"admin", "owner", "collaborator", "other"}
	members := []string{"admin", "owner", "collaborator"}
	owners := []string{"admin", "owner"}
	admins := []string{"admin"}
	type endpoint struct {
		pattern string // as registered, to check every route is here
		path    string
		body    string
		allowed []string
	}
	matrix := []endpoint{
		{"GET /healthz", "/healthz", "", roles},
		{"GET /metrics", "/metrics", "", admins},
		{"GET /v1/info", "/v1/info", "", roles},
		{"GET /v1/me", "/v1/me", "", everyone},
		{"POST /v1/sessions", "/v1/sessions", `{"token":"{selftoken}"}`, everyone},
		{"GET /v1/sessions/current", "/v1/sessions/current", "", everyone},
		{"DELETE /v1/sessions/current", "/v1/sessions/current", "", everyone},
		{"GET /v1/apps", "/v1/apps", "", everyone},
		{"POST /v1/apps", "/v1/apps", `{"name":"{newapp}"}`, everyone},
		{"GET /v1/apps/{app}", "/v1/apps/{app}", "", members},
		{"DELETE /v1/apps/{app}", "/v1/apps/{app}", "", owners},
		{"PATCH /v1/apps/{app}", "/v1/apps/{app}", `{"force_https":true,"max_body_bytes":1048576}`, members},
		{"GET /v1/apps/{app}/config", "/v1/apps/{app}/config", "", members},
		{"PATCH /v1/apps/{app}/config", "/v1/apps/{app}/config", `{"B":"2","A":null}`, members},
		{"GET /v1/apps/{app}/formation", "/v1/apps/{app}/formation", "", members},
		{"PATCH /v1/apps/{app}/formation", "/v1/apps/{app}/formation", `[{"type":"web","quantity":3}]`, members},
		{"GET /v1/apps/{app}/releases", "/v1/apps/{app}/releases", "", members},
		{"POST /v1/apps/{app}/releases", "/v1/apps/{app}/releases", `{"image":"busybox:1.36"}`, members},
		{"GET /v1/apps/{app}/releases/{version}", "/v1/apps/{app}/releases/v1", "", members},
		{"POST /v1/apps/{app}/rollback", "/v1/apps/{app}/rollback", `{}`, members},
		{"GET /v1/apps/{app}/builds", "/v1/apps/{app}/builds", "", members},
		{"GET /v1/apps/{app}/builds/{id}/log", "/v1/apps/{app}/builds/{buildid}/log", "", members},
		{"GET /v1/apps/{app}/metrics", "/v1/apps/{app}/metrics", "", members},
		{"GET /v1/apps/{app}/instances", "/v1/apps/{app}/instances", "", members},
		{"GET /v1/apps/{app}/events", "/v1/apps/{app}/events", "", members},
		{"GET /v1/apps/{app}/logs", "/v1/apps/{app}/logs", "", members},
		{"POST /v1/apps/{app}/run", "/v1/apps/{app}/run", `{"command":"true","detached":true}`, members},
		{"POST /v1/apps/{app}/restart", "/v1/apps/{app}/restart", `{"type":"web"}`, members},
		{"GET /v1/apps/{app}/certs", "/v1/apps/{app}/certs", "", members},
		{"POST /v1/apps/{app}/certs", "/v1/apps/{app}/certs", `{certbody}`, members},
		{"DELETE /v1/apps/{app}/certs/{name}", "/v1/apps/{app}/certs/{domain}", "", members},
		{"GET /v1/apps/{app}/buildpacks", "/v1/apps/{app}/buildpacks", "", members},
		{"POST /v1/apps/{app}/buildpacks", "/v1/apps/{app}/buildpacks", `{bpbody}`, members},
		{"DELETE /v1/apps/{app}/buildpacks/{name}", "/v1/apps/{app}/buildpacks/mine", "", members},
		{"GET /v1/apps/{app}/healthchecks", "/v1/apps/{app}/healthchecks", "", members},
		{"PUT /v1/apps/{app}/healthchecks/{type}", "/v1/apps/{app}/healthchecks/web", `{"path":"/health","timeout":2,"attempts":5}`, members},
		{"DELETE /v1/apps/{app}/healthchecks/{type}", "/v1/apps/{app}/healthchecks/worker", "", members},
		{"GET /v1/routing", "/v1/routing", "", admins},
		{"GET /v1/apps/{app}/domains", "/v1/apps/{app}/domains", "", members},
		{"POST /v1/apps/{app}/domains", "/v1/apps/{app}/domains", `{"name":"{newdomain}"}`, members},
		{"DELETE /v1/apps/{app}/domains/{domain}", "/v1/apps/{app}/domains/{domain}", "", members},
		{"GET /v1/apps/{app}/collaborators", "/v1/apps/{app}/collaborators", "", members},
		{"POST /v1/apps/{app}/collaborators", "/v1/apps/{app}/collaborators", `{"user":"{fresh}"}`, owners},
		{"DELETE /v1/apps/{app}/collaborators/{user}", "/v1/apps/{app}/collaborators/{collab}", "", owners},
		{"GET /v1/keys", "/v1/keys", "", everyone},
		{"POST /v1/keys", "/v1/keys", `{"public_key":"{pubkey}"}`, everyone},
		{"DELETE /v1/keys/{id}", "/v1/keys/{keyid}", "", everyone},
		{"GET /v1/tokens", "/v1/tokens", "", everyone},
		{"POST /v1/tokens", "/v1/tokens", `{"description":"ci"}`, everyone},
		{"DELETE /v1/tokens/{id}", "/v1/tokens/{tokenid}", "", everyone},
		{"GET /v1/users", "/v1/users", "", admins},
		{"POST /v1/users", "/v1/users", `{"name":"{newuser}"}`, admins},
		{"DELETE /v1/users/{name}", "/v1/users/{victim}", "", admins},
		{"PUT /v1/users/{name}/password", "/v1/users/{victim}/password", `{"password":"correct horse"}`, admins},
		{"GET /v1/users/{name}/limits", "/v1/users/{victim}/limits", "", admins},
		{"PUT /v1/users/{name}/limits", "/v1/users/{victim}/limits", `{"apps":5}`, admins},
		{"GET /v1/audit", "/v1/audit", "", admins},
	}

	covered := map[string]bool{}
	for _, ep := range matrix {
		covered[ep.pattern] = true
	}
	for _, rt := range (&server{}).routes() {
		if !covered[rt.pattern] {
			t.Errorf("route %s is not in the authorization matrix", rt.pattern)
		}
	}

	unauthorizedSuccesses, calls := 0, 0
	for _, ep := range matrix {
		method, _, _ := strings.Cut(ep.pattern, " ")
		for _, role := range roles {
			allowed := false
			for _, a := range ep.allowed {
				allowed = allowed || a == role
			}
			t.Run(ep.pattern+"/"+role, func(t *testing.T) {
				vars := e.fixture(role)
				w := e.do(method, expand(ep.path, vars), expand(ep.body, vars), e.tokens[role])
				calls++
				ok := w.Code >= 200 && w.Code < 300
				switch {
				case allowed && !ok:
					t.Errorf("%s as %s = %d %s; want success", ep.pattern, role, w.Code, w.Body)
				case !allowed && ok:
					unauthorizedSuccesses++
					t.Errorf("%s as %s = %d; want it refused", ep.pattern, role, w.Code)
				case !allowed:
					want := http.StatusForbidden
					if role == "none" || role == "revoked" {
						want = http.StatusUnauthorized
					}
					if w.Code != want {
						t.Errorf("%s as %s = %d %s; want %d", ep.pattern, role, w.Code, w.Body, want)
					}
					var body struct{ Error string }
					if json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Error == "" {
						t.Errorf("%s as %s: body %q is not {\"error\": ...}", ep.pattern, role, w.Body)
					}
				}
			})
		}
	}
	// The metrics token reads /metrics and nothing else.
	for _, ep := range matrix {
		method, _, _ := strings.Cut(ep.pattern, " ")
		vars := e.fixture("none")
		w := e.do(method, expand(ep.path, vars), expand(ep.body, vars), testMetricsToken)
		ok := w.Code >= 200 && w.Code < 300
		calls++
		if want := ep.pattern == "GET /metrics" || ep.pattern == "GET /healthz" || ep.pattern == "GET /v1/info"; ok != want {
			if ok {
				unauthorizedSuccesses++
			}
			t.Errorf("%s with the metrics token = %d %s; want success %v", ep.pattern, w.Code, w.Body, want)
		}
	}
	t.Logf("%d calls (%d endpoints x %d callers), %d unauthorized successes", calls, len(matrix), len(roles), unauthorizedSuccesses)
	if unauthorizedSuccesses != 0 {
		t.Errorf("%d unauthorized successes, want 0", unauthorizedSuccesses)
	}
}

// TestBadInput sends invalid input and checks for a clear 4xx and no
// change to the state (the audit log, which records every change, does
// not grow).
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	vars := e.fixture("owner")
	otherApp := e.fixture("owner")["app"]
	oc, ok := selfSigned(t, "elsewhere.example.org")
	ob, _ := json.Marshal(controller.NewCert{CertPEM: oc, KeyPEM: ok})
	vars["othercert"] = string(ob)
	tok := e.tokens["owner"]
	cases := []struct {
		name, method, path, body string
		status                   int
		msg                      string // part of the error message
	}{
		{"app name with ;", "POST", "/v1/apps", `{"name":"a;b"}`, 422, "invalid app name"},
		{"app name with $()", "POST", "/v1/apps", `{"name":"$(id)"}`, 422, "invalid app name"},
		{"app name with ../", "POST", "/v1/apps", `{"name":"../x"}`, 422, "invalid app name"},
		{"app name upper case", "POST", "/v1/apps", `{"name":"Shop"}`, 422, "invalid app name"},
		{"app name 31 chars", "POST", "/v1/apps", `{"name":"a` + strings.Repeat("b", 30) + `"}`, 422, "invalid app name"},
		{"app name spaces", "POST", "/v1/apps", `{"name":"  "}`, 422, "invalid app name"},
		{"app name empty", "POST", "/v1/apps", `{"name":""}`, 422, "app name is empty"},
		{"app name of the run stack", "POST", "/v1/apps", `{"name":"stack-run"}`, 422, `app name stack-run is reserved: names starting with "stack-" are the platform's`},
		{"app name of the build stack", "POST", "/v1/apps", `{"name":"stack-build"}`, 422, "app name stack-build is reserved"},
		{"app name of a stack to come", "POST", "/v1/apps", `{"name":"stack-run-trixie"}`, 422, "app name stack-run-trixie is reserved"},
		{"app exists", "POST", "/v1/apps", `{"name":"{app}"}`, 409, "already exists"},
		{"unknown field", "POST", "/v1/apps", `{"name":"ok","owner":"admin"}`, 422, "unknown field"},
		{"not JSON", "POST", "/v1/apps", `name=x`, 422, "invalid JSON"},
		{"two values", "POST", "/v1/apps", `{"name":"x1"}{"name":"x2"}`, 422, "more than one value"},
		{"empty body", "POST", "/v1/apps", ``, 422, "empty"},
		{"huge body", "PATCH", "/v1/apps/{app}/config", `{"A":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, 422, "larger than"},
		{"config key digit", "PATCH", "/v1/apps/{app}/config", `{"1A":"x"}`, 422, "invalid config key"},
		{"config key dash", "PATCH", "/v1/apps/{app}/config", `{"A-B":"x"}`, 422, "invalid config key"},
		{"config key space", "PATCH", "/v1/apps/{app}/config", `{"A B":"x"}`, 422, "invalid config key"},
		{"config key PORT", "PATCH", "/v1/apps/{app}/config", `{"PORT":"80"}`, 422, "reserved"},
		{"config one bad key of two", "PATCH", "/v1/apps/{app}/config", `{"GOOD":"1","$(id)":"x"}`, 422, "invalid config key"},
		{"config value not string", "PATCH", "/v1/apps/{app}/config", `{"A":5}`, 422, "invalid JSON"},
		{"duplicate domain", "POST", "/v1/apps/" + otherApp + "/domains", `{"name":"{domain}"}`, 409, "already in use"},
		{"domain with path", "POST", "/v1/apps/{app}/domains", `{"name":"a.com/x"}`, 422, "invalid domain"},
		{"domain one label", "POST", "/v1/apps/{app}/domains", `{"name":"intranet"}`, 422, "invalid domain"},
		{"domain IP", "POST", "/v1/apps/{app}/domains", `{"name":"10.0.0.1"}`, 422, "IP addresses"},
		{"domain of another app", "POST", "/v1/apps/{app}/domains", `{"name":"` + otherApp + `.localhost"}`, 422, "reserved"},
		{"domain under another app's default domain", "POST", "/v1/apps/{app}/domains", `{"name":"login.` + otherApp + `.localhost"}`, 422, "login." + otherApp + ".localhost is reserved: " + otherApp + ".localhost and every name under it belong to the app " + otherApp},
		{"wildcard under another app's default domain", "POST", "/v1/apps/{app}/domains", `{"name":"*.` + otherApp + `.localhost"}`, 422, "belong to the app " + otherApp},
		{"domain deep under another app's default domain", "POST", "/v1/apps/{app}/domains", `{"name":"a.b.` + otherApp + `.localhost"}`, 422, "belong to the app " + otherApp},
		{"domain under an app yet to be", "POST", "/v1/apps/{app}/domains", `{"name":"login.later.localhost"}`, 422, "belong to the app later"},
		{"domain is the API's", "POST", "/v1/apps/{app}/domains", `{"name":"paas.example.com"}`, 422, "paas.example.com is reserved: it is a host name of this paas server's API"},
		{"domain is the API's, spelt otherwise", "POST", "/v1/apps/{app}/domains", `{"name":"PAAS.Example.com."}`, 422, "host name of this paas server's API"},
		{"wildcard over the API's name", "POST", "/v1/apps/{app}/domains", `{"name":"*.example.com"}`, 422, "*.example.com is reserved: it covers paas.example.com"},
		{"app whose default domain is the API's", "POST", "/v1/apps", `{"name":"console"}`, 422, "app name console is reserved"},
		{"malformed key", "POST", "/v1/keys", `{"public_key":"ssh-ed25519 AAAAnotbase64"}`, 422, "not an SSH public key"},
		{"private key", "POST", "/v1/keys", `{"public_key":"-----BEGIN OPENSSH PRIVATE KEY-----"}`, 422, "private key"},
		{"key with options", "POST", "/v1/keys", `{"public_key":"command=\"sh\" {pubkey}"}`, 422, "options"},
		{"scale negative", "PATCH", "/v1/apps/{app}/formation", `[{"type":"web","quantity":-1}]`, 422, "between 0"},
		{"scale above the maximum", "PATCH", "/v1/apps/{app}/formation", `[{"type":"web","quantity":101}]`, 422, "web=101: quantity must be between 0 and 100"},
		{"memory above the maximum", "PATCH", "/v1/apps/{app}/formation", `[{"type":"web","memory":68719476737}]`, 422, "web: memory limit must be between 16M and 64G"},
		{"pids above the maximum", "PATCH", "/v1/apps/{app}/formation", `[{"type":"web","pids":40000}]`, 422, "web: process limit must be between 16 and 32768"},
		{"own app limit", "PUT", "/v1/users/olive/limits", `{"apps":1000}`, 403, "only an admin may do this"},
		{"scale unknown type", "PATCH", "/v1/apps/{app}/formation", `[{"type":"worker","quantity":1}]`, 422, "no process type worker"},
		{"health check bad path", "PUT", "/v1/apps/{app}/healthchecks/web", `{"path":"health"}`, 422, "invalid health check path"},
		{"health check path on worker", "PUT", "/v1/apps/{app}/healthchecks/worker", `{"path":"/health"}`, 422, "only web processes"},
		{"health check bad type", "PUT", "/v1/apps/{app}/healthchecks/W;b", `{}`, 422, "invalid process type"},
		{"cert not PEM", "POST", "/v1/apps/{app}/certs", `{"cert_pem":"nope","key_pem":"nope"}`, 422, "not a usable certificate"},
		{"cert of another domain", "POST", "/v1/apps/{app}/certs", `{othercert}`, 422, "none of which is a domain of the app"},
		{"scale bad type", "PATCH", "/v1/apps/{app}/formation", `[{"type":"w;b","quantity":1}]`, 422, "invalid process type"},
		{"bad image", "POST", "/v1/apps/{app}/releases", `{"image":"UPPER/Case:!"}`, 422, "invalid image"},
		{"bad digest", "POST", "/v1/apps/{app}/releases", `{"image":"busybox","digest":"md5:x"}`, 422, "invalid image digest"},
		{"bad version", "GET", "/v1/apps/{app}/releases/vx", ``, 422, "invalid release version"},
		{"missing release", "GET", "/v1/apps/{app}/releases/v99", ``, 404, "no release v99"},
		{"rollback to missing", "POST", "/v1/apps/{app}/rollback", `{"version":99}`, 404, "no release v99"},
		{"missing app", "GET", "/v1/apps/nope/config", ``, 404, "no app named nope"},
		{"bad key id", "DELETE", "/v1/keys/abc", ``, 422, "invalid id"},
		{"unknown call", "GET", "/v1/nothing", ``, 404, "no such API call"},
	}
	before, err := e.st.Audit(context.Background(), controller.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := e.do(c.method, expand(c.path, vars), expand(c.body, vars), tok)
			var body struct{ Error string }
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != c.status || !strings.Contains(body.Error, c.msg) {
				t.Errorf("%s %s = %d %q; want %d with %q", c.method, c.path, w.Code, body.Error, c.status, c.msg)
			}
		})
	}
	after, err := e.st.Audit(context.Background(), controller.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("bad input changed state: %d audit events before, %d after; newest: %+v", len(before), len(after), after[0])
	}
	cfg, _ := e.st.Config(context.Background(), vars["app"])
	if len(cfg) != 1 || cfg["A"] != "1" {
		t.Errorf("config after bad input = %v, want only A=1", cfg)
	}
}

// selfSigned makes a certificate for name (and more names, if given) and
// its key, PEM-encoded.
func selfSigned(t *testing.T, name string, more ...string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     append([]string{name}, more...),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}))
}
