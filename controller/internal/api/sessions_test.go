package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"paas/controller"
)

// call makes a request with optional cookie, CSRF token and extra headers.
func (e *env) call(method, path, body string, cookie *http.Cookie, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return w
}

// sessionCookieOf returns the answer's session cookie: named name, if
// given, else controller.SessionCookie (plain HTTP).
func sessionCookieOf(t *testing.T, w *httptest.ResponseRecorder, name ...string) *http.Cookie {
	t.Helper()
	want := controller.SessionCookie
	if len(name) > 0 {
		want = name[0]
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == want {
			return c
		}
	}
	t.Fatalf("no %s cookie in the answer %d %s", want, w.Code, w.Body)
	return nil
}

// TestSessions: a password sign-in gives an HttpOnly, SameSite=Strict
// cookie; calls that change state with it need the session's CSRF token
// from the same origin; sign-out ends the session on the server.
func TestSessions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.st.SetPassword(ctx, e.actors["admin"], "olive", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreateApp(ctx, e.actors["owner"], "shop"); err != nil {
		t.Fatal(err)
	}

	// Wrong password, unknown user, a user without a password: all 401.
	for _, body := range []string{
		`{"username":"olive","password":"wrong horse battery"}`,
		`{"username":"nobody","password":"correct horse battery"}`,
		`{"username":"carl","password":"correct horse battery"}`,
	} {
		if w := e.call("POST", "/v1/sessions", body, nil, nil); w.Code != http.StatusUnauthorized {
			t.Errorf("sign in with %s = %d %s, want 401", body, w.Code, w.Body)
		}
	}
	// Not JSON (a cross-site form could send this) or from another origin: refused.
	w := e.call("POST", "/v1/sessions", `{"username":"olive","password":"correct horse battery"}`, nil, map[string]string{"Content-Type": "text/plain"})
	if w.Code != http.StatusForbidden {
		t.Errorf("sign in with a text/plain body = %d, want 403", w.Code)
	}
	w = e.call("POST", "/v1/sessions", `{"username":"olive","password":"correct horse battery"}`, nil, map[string]string{"Origin": "https://evil.example"})
	if w.Code != http.StatusForbidden {
		t.Errorf("sign in from another origin = %d, want 403", w.Code)
	}

	w = e.call("POST", "/v1/sessions", `{"username":"olive","password":"correct horse battery"}`, nil, nil)
	if w.Code != http.StatusCreated {
		t.Fatalf("sign in = %d %s", w.Code, w.Body)
	}
	var sess controller.Session
	if err := json.Unmarshal(w.Body.Bytes(), &sess); err != nil || sess.CSRFToken == "" || sess.User.Name != "olive" {
		t.Fatalf("sign-in answer %s: %v", w.Body, err)
	}
	c := sessionCookieOf(t, w)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/" {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure over plain HTTP", c)
	}
	if strings.Contains(w.Body.String(), c.Value) {
		t.Error("the answer's body holds the session secret")
	}

	// Reads with the cookie alone.
	if w := e.call("GET", "/v1/apps/shop", "", c, nil); w.Code != http.StatusOK {
		t.Errorf("GET app with the session = %d %s", w.Code, w.Body)
	}
	// Changes need the CSRF token, and the right one, from the same origin.
	for _, hdr := range []map[string]string{
		nil,
		{"X-CSRF-Token": "0000"},
		{"X-CSRF-Token": sess.CSRFToken, "Origin": "https://evil.example"},
	} {
		w := e.call("PATCH", "/v1/apps/shop/config", `{"A":"1"}`, c, hdr)
		if w.Code != http.StatusForbidden {
			t.Errorf("PATCH config with the session and %v = %d %s, want 403", hdr, w.Code, w.Body)
		}
	}
	if cfg, _ := e.st.Config(ctx, "shop"); len(cfg) != 0 {
		t.Errorf("refused calls changed the config: %v", cfg)
	}
	w = e.call("PATCH", "/v1/apps/shop/config", `{"A":"1"}`, c, map[string]string{"X-CSRF-Token": sess.CSRFToken, "Origin": "http://example.com"})
	if w.Code != http.StatusOK {
		t.Errorf("PATCH config with the session and its CSRF token = %d %s", w.Code, w.Body)
	}
	// The current session tells its CSRF token again (for a reloaded page).
	w = e.call("GET", "/v1/sessions/current", "", c, nil)
	var again controller.Session
	if json.Unmarshal(w.Body.Bytes(), &again); again.CSRFToken != sess.CSRFToken {
		t.Errorf("GET /v1/sessions/current = %d %s, want the CSRF token of the sign-in", w.Code, w.Body)
	}
	// Another user's app.
	if w := e.call("GET", "/v1/apps/nope", "", c, nil); w.Code != http.StatusNotFound && w.Code != http.StatusForbidden {
		t.Errorf("GET another app = %d", w.Code)
	}

	// Sign out: without the CSRF token refused; with it the session ends.
	if w := e.call("DELETE", "/v1/sessions/current", "", c, nil); w.Code != http.StatusForbidden {
		t.Errorf("sign out without the CSRF token = %d, want 403", w.Code)
	}
	w = e.call("DELETE", "/v1/sessions/current", "", c, map[string]string{"X-CSRF-Token": sess.CSRFToken})
	if w.Code != http.StatusNoContent || sessionCookieOf(t, w).MaxAge >= 0 {
		t.Errorf("sign out = %d %v, want 204 and the cookie cleared", w.Code, w.Result().Cookies())
	}
	if w := e.call("GET", "/v1/me", "", c, nil); w.Code != http.StatusUnauthorized {
		t.Errorf("GET /v1/me with the ended session's cookie = %d, want 401", w.Code)
	}

	// An API token signs in too; behind a trusted proxy over HTTPS the cookie is Secure.
	e.h = New(Options{Store: e.st, TrustForwardedProto: true})
	w = e.call("POST", "/v1/sessions", `{"token":"`+e.tokens["collaborator"]+`"}`, nil, map[string]string{"X-Forwarded-Proto": "https"})
	if w.Code != http.StatusCreated || !sessionCookieOf(t, w, controller.SecureSessionCookie).Secure {
		t.Errorf("sign in with a token over HTTPS = %d %s, want 201 and a Secure cookie", w.Code, w.Body)
	}
}

// TestSessionCookieHostPrefix: over HTTPS (direct, or behind a trusted
// proxy) the session cookie is __Host-paas_session: Secure, Path=/, no
// Domain, so that an app under the base domain, same-site with the
// dashboard, can neither set nor shadow it; and over HTTPS a cookie of the
// plain name (which an app could plant with Domain=<base>) is not read.
// Over plain HTTP on localhost, sign-in keeps working with the plain name.
func TestSessionCookieHostPrefix(t *testing.T) {
	e := newEnv(t)
	e.h = New(Options{Store: e.st, TrustForwardedProto: true})
	overTLS := func(method, path, body string, c *http.Cookie, hdr map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "https://paas.example.com"+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if c != nil {
			req.AddCookie(c)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, req)
		return w
	}
	viaProxy := func(method, path, body string, c *http.Cookie, hdr map[string]string) *httptest.ResponseRecorder {
		h := map[string]string{"X-Forwarded-Proto": "https"}
		for k, v := range hdr {
			h[k] = v
		}
		return e.call(method, path, body, c, h)
	}
	signIn := `{"token":"` + e.tokens["owner"] + `"}`
	for name, call := range map[string]func(string, string, string, *http.Cookie, map[string]string) *httptest.ResponseRecorder{
		"TLS": overTLS, "trusted proxy": viaProxy,
	} {
		t.Run(name, func(t *testing.T) {
			w := call("POST", "/v1/sessions", signIn, nil, nil)
			if w.Code != http.StatusCreated {
				t.Fatalf("sign in = %d %s", w.Code, w.Body)
			}
			for _, c := range w.Result().Cookies() {
				if c.Name != controller.SecureSessionCookie {
					t.Errorf("sign-in over HTTPS set cookie %s; want only %s", c.Name, controller.SecureSessionCookie)
				}
			}
			c := sessionCookieOf(t, w, controller.SecureSessionCookie)
			if !c.Secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
				t.Errorf("cookie %+v: want Secure, Path=/, no Domain, HttpOnly, SameSite=Strict", c)
			}
			if w := call("GET", "/v1/me", "", c, nil); w.Code != http.StatusOK {
				t.Errorf("GET /v1/me with %s = %d %s; want 200", c.Name, w.Code, w.Body)
			}
			planted := &http.Cookie{Name: controller.SessionCookie, Value: c.Value}
			if w := call("GET", "/v1/me", "", planted, nil); w.Code != http.StatusUnauthorized {
				t.Errorf("GET /v1/me over HTTPS with only %s = %d; want 401 (that name is not read over HTTPS)", planted.Name, w.Code)
			}
			var sess controller.Session
			_ = json.Unmarshal(w.Body.Bytes(), &sess)
			w = call("DELETE", "/v1/sessions/current", "", c, map[string]string{"X-CSRF-Token": sess.CSRFToken})
			if w.Code != http.StatusNoContent || sessionCookieOf(t, w, controller.SecureSessionCookie).MaxAge >= 0 {
				t.Errorf("sign out = %d %v; want 204 and %s cleared", w.Code, w.Result().Cookies(), controller.SecureSessionCookie)
			}
		})
	}
	// Plain HTTP (localhost): the plain name, not Secure, and it works.
	w := e.call("POST", "/v1/sessions", signIn, nil, nil)
	c := sessionCookieOf(t, w)
	if w.Code != http.StatusCreated || c.Secure || c.Path != "/" {
		t.Fatalf("sign in over HTTP = %d, cookie %+v; want 201 and %s, not Secure", w.Code, c, controller.SessionCookie)
	}
	if w := e.call("GET", "/v1/me", "", c, nil); w.Code != http.StatusOK {
		t.Errorf("GET /v1/me over HTTP with %s = %d %s; want 200", c.Name, w.Code, w.Body)
	}
}

// TestBootstrapTokenFileRemoved: the bootstrap admin token's file is
// removed the first time the token is used, by the CLI (a bearer call) or
// to sign in to the dashboard; another user's token leaves it.
func TestBootstrapTokenFileRemoved(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		name    string
		call    func() *httptest.ResponseRecorder
		removed bool
	}{
		{"CLI", func() *httptest.ResponseRecorder {
			return e.call("GET", "/v1/me", "", nil, map[string]string{"Authorization": "Bearer " + e.tokens["admin"]})
		}, true},
		{"dashboard sign-in", func() *httptest.ResponseRecorder {
			return e.call("POST", "/v1/sessions", `{"token":"`+e.tokens["admin"]+`"}`, nil, nil)
		}, true},
		{"dashboard sign-in, another token", func() *httptest.ResponseRecorder {
			return e.call("POST", "/v1/sessions", `{"token":"`+e.tokens["owner"]+`"}`, nil, nil)
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "admin-token")
			if err := os.WriteFile(file, []byte(e.tokens["admin"]+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			e.h = New(Options{Store: e.st, BootstrapTokenFile: file})
			if w := c.call(); w.Code >= 300 {
				t.Fatalf("call = %d %s", w.Code, w.Body)
			}
			_, err := os.Stat(file)
			if removed := errors.Is(err, fs.ErrNotExist); removed != c.removed {
				t.Errorf("%s: bootstrap token file removed = %v (stat: %v); want %v", c.name, removed, err, c.removed)
			}
		})
	}
}

// TestSignInLimit: after signInMaxFails failures a user name is refused
// with 429 for a while, even with the right password.
func TestSignInLimit(t *testing.T) {
	e := newEnv(t)
	if err := e.st.SetPassword(context.Background(), e.actors["admin"], "olive", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	for i := range signInMaxFails {
		w := e.call("POST", "/v1/sessions", `{"username":"olive","password":"guess number `+string(rune('a'+i))+`"}`, nil, nil)
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d = %d %s, want 401", i+1, w.Code, w.Body)
		}
	}
	w := e.call("POST", "/v1/sessions", `{"username":"olive","password":"correct horse battery"}`, nil, nil)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "too many failed sign-ins") {
		t.Errorf("sign in after %d failures = %d %v %s, want 429 with Retry-After", signInMaxFails, w.Code, w.Header(), w.Body)
	}
}

// TestSignInConcurrent: concurrent wrong sign-ins from one address are
// counted before their password is hashed, so exactly signInMaxFails of
// them are hashed and the rest are refused with 429; and however many
// sign-ins come at once (here from many addresses), no more hashes run at
// once than the store's slots.
func TestSignInConcurrent(t *testing.T) {
	e := newEnv(t)
	if err := e.st.SetPassword(context.Background(), e.actors["admin"], "olive", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	signIn := func(n int, addr func(i int) string, body func(i int) string) []*httptest.ResponseRecorder {
		out := make([]*httptest.ResponseRecorder, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				req := httptest.NewRequest("POST", "/v1/sessions", strings.NewReader(body(i)))
				req.Header.Set("Content-Type", "application/json")
				req.RemoteAddr = addr(i)
				w := httptest.NewRecorder()
				<-start
				e.h.ServeHTTP(w, req)
				out[i] = w
			})
		}
		close(start)
		wg.Wait()
		return out
	}
	count := func(ws []*httptest.ResponseRecorder) map[int]int {
		m := map[int]int{}
		for _, w := range ws {
			m[w.Code]++
			if (w.Code == http.StatusTooManyRequests || w.Code == http.StatusServiceUnavailable) && w.Header().Get("Retry-After") == "" {
				t.Errorf("a %d answer has no Retry-After", w.Code)
			}
		}
		return m
	}

	const n = 40
	before := e.st.PasswordHashes()
	ws := signIn(n, func(int) string { return "192.0.2.7:4000" }, func(i int) string {
		return fmt.Sprintf(`{"username":"olive","password":"wrong guess %d"}`, i)
	})
	after := e.st.PasswordHashes()
	got := count(ws)
	want := map[int]int{http.StatusUnauthorized: signInMaxFails, http.StatusTooManyRequests: n - signInMaxFails}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%d concurrent wrong sign-ins from one address: statuses (-want +got):\n%s", n, diff)
	}
	if hashed := after.Runs - before.Runs; hashed != signInMaxFails {
		t.Errorf("%d concurrent wrong sign-ins from one address hashed %d passwords, want %d", n, hashed, signInMaxFails)
	}

	// From n addresses, for n user names: all are let through the
	// limiter, and the hashes queue for the store's slots.
	before = e.st.PasswordHashes()
	ws = signIn(n, func(i int) string { return fmt.Sprintf("198.51.100.%d:4000", i+1) }, func(i int) string {
		return fmt.Sprintf(`{"username":"user%d","password":"wrong guess"}`, i)
	})
	after = e.st.PasswordHashes()
	got = count(ws)
	if got[http.StatusUnauthorized]+got[http.StatusServiceUnavailable] != n {
		t.Errorf("%d sign-ins from %d addresses: statuses %v, want only 401 (and 503 when the hashes queue too long)", n, n, got)
	}
	if hashed := after.Runs - before.Runs; hashed != int64(got[http.StatusUnauthorized]) {
		t.Errorf("%d sign-ins hashed %d passwords, want one per 401 (%d)", n, hashed, got[http.StatusUnauthorized])
	}
	if bound := int64(runtime.GOMAXPROCS(0)); after.Peak > bound || after.Peak < 1 {
		t.Errorf("%d concurrent sign-ins ran up to %d hashes at once; want 1 to %d (GOMAXPROCS)", n, after.Peak, bound)
	}
}
