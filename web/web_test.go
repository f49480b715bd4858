package web_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"paas/controller"
	"paas/controller/server"
	"paas/web"
)

// TestHandler: what the dashboard's files are served with, and what is not
// served at all.
func TestHandler(t *testing.T) {
	srv := httptest.NewServer(web.Handler(web.Options{}))
	defer srv.Close()
	tests := []struct {
		method, path string
		status       int
		ctype        string // prefix
	}{
		{"GET", "/", 200, "text/html"},
		{"HEAD", "/", 200, "text/html"},
		{"GET", "/index.html", 200, "text/html"},
		{"GET", "/assets/app.js", 200, "text/javascript"},
		{"GET", "/assets/style.css", 200, "text/css"},
		{"GET", "/assets/nope.js", 404, "text/plain"},
		{"GET", "/assets/", 404, "text/plain"},
		{"GET", "/signin", 200, "text/html"},
		{"GET", "/apps/shop", 404, "text/plain"},
		{"POST", "/", 405, "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Content-Type"); !strings.HasPrefix(got, tt.ctype) {
				t.Errorf("Content-Type = %q, want %s...", got, tt.ctype)
			}
			if got := resp.Header.Get("Content-Security-Policy"); got != web.ContentSecurityPolicy {
				t.Errorf("Content-Security-Policy = %q, want %q", got, web.ContentSecurityPolicy)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
			}
		})
	}

	// An unchanged file is not sent again.
	resp, err := http.Get(srv.URL + "/assets/app.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/assets/app.js", nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("GET with If-None-Match of the ETag: status = %d, want 304", resp.StatusCode)
	}
}

// sessions is a web.Sessions with one live session.
type sessions string

func (s sessions) CheckSession(_ context.Context, secret string) error {
	if secret != string(s) {
		return controller.Errorf(controller.ErrUnauthorized, "no such session")
	}
	return nil
}

// TestPagesNeedASession: without a live session cookie the page redirects
// to the sign-in page (which, like the assets, needs none).
func TestPagesNeedASession(t *testing.T) {
	srv := httptest.NewServer(web.Handler(web.Options{Sessions: sessions("s3cret")}))
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		path, cookie string
		status       int
		location     string
		name         string // the cookie's name; "" for controller.SessionCookie
	}{
		{"/", "", http.StatusSeeOther, "/signin", ""},
		{"/", "wrong", http.StatusSeeOther, "/signin", ""},
		{"/index.html", "", http.StatusSeeOther, "/signin", ""},
		{"/", "s3cret", http.StatusOK, "", ""},
		{"/", "s3cret", http.StatusOK, "", controller.SecureSessionCookie}, // over HTTPS
		{"/", "wrong", http.StatusSeeOther, "/signin", controller.SecureSessionCookie},
		{"/signin", "", http.StatusOK, "", ""},
		{"/assets/app.js", "", http.StatusOK, "", ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
		if tt.cookie != "" {
			name := tt.name
			if name == "" {
				name = controller.SessionCookie
			}
			req.AddCookie(&http.Cookie{Name: name, Value: tt.cookie})
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status || resp.Header.Get("Location") != tt.location {
			t.Errorf("GET %s with cookie %q = %d Location %q, want %d %q", tt.path, tt.cookie, resp.StatusCode, resp.Header.Get("Location"), tt.status, tt.location)
		}
		if tt.path != "/assets/app.js" && resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: Cache-Control %q, want no-store", tt.path, resp.Header.Get("Cache-Control"))
		}
	}
}

// TestPageHasNoInlineCode: the policy forbids inline script and style, so
// the page must have none (they would silently not run), and nothing may
// come from another origin.
func TestPageHasNoInlineCode(t *testing.T) {
	srv := httptest.NewServer(web.Handler(web.Options{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), // a script with a body
		regexp.MustCompile(`<script(?:\s[^>]*)?>`),          // checked below for src
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`),
		regexp.MustCompile(`(?:src|href)="(?:https?:)?//`),
	} {
		for _, m := range bad.FindAllString(page, -1) {
			if strings.HasPrefix(m, "<script") && strings.Contains(m, `src="/assets/`) && strings.HasSuffix(m, ">") {
				continue
			}
			t.Errorf("index.html has %q", m)
		}
	}
}

// TestDashboard drives the dashboard in a real headless Chromium against a
// real controller (no runtime): a page without a session goes to sign-in;
// sign in with a password; open an app made through the API, set a config
// var, scale and roll back through the page and check each through the API;
// markup in config values and log lines stays text; a change without the
// CSRF token is refused; sign out ends the session; another user cannot see
// the app; screenshots at desktop and phone width.
func TestDashboard(t *testing.T) {
	b := startBrowser(t) // first: skips (or fails under CI) without Chromium

	ctx := context.Background()
	// The runtime's log directory, written here as the runtime's log
	// driver writes it: "<app>.<type>.<n>.v<release>.<id>.log".
	logDir := t.TempDir()
	logFile := filepath.Join(logDir, "shop.web.1.v1.abc123.log")
	logLine := func(text string) {
		t.Helper()
		f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := fmt.Fprintf(f, "%s stdout %s\n", time.Now().UTC().Format(time.RFC3339Nano), text); err != nil {
			t.Fatal(err)
		}
	}
	ctl, err := server.Open(ctx, server.Options{DataDir: t.TempDir(), LogDir: logDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	token, _, err := ctl.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The mux of paas server: the API at /v1 and /healthz, the dashboard at /.
	mux := http.NewServeMux()
	mux.Handle("/v1/", ctl.Handler())
	mux.Handle("/healthz", ctl.Handler())
	mux.Handle("/", web.Handler(web.Options{Sessions: ctl}))
	srv := httptest.NewServer(mux) // on 127.0.0.1
	t.Cleanup(func() {
		srv.CloseClientConnections() // the browser's, should it still be open
		srv.Close()
	})

	c, err := controller.NewClient(srv.URL, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	const adminPassword = "correct horse battery staple"
	if err := c.SetPassword(ctx, "admin", adminPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(ctx, controller.NewUser{Name: "eve", Password: "eve's own password"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateApp(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	// The app's first line, once it exists (paas logs shows nothing dated
	// before an app's creation: a former app of the same name's).
	logLine(`listening on :5000 <b id="logmarkup">bold?</b>`)
	if _, err := c.CreateRelease(ctx, "shop", controller.NewRelease{
		Image:        "paas/shop:build-1",
		ProcessTypes: map[string]string{"web": "./server --port $PORT", "worker": "./worker"},
		Description:  "Deploy 1a2b3c4",
	}); err != nil {
		t.Fatal(err)
	}
	// Markup in a value is shown as text, never run or parsed.
	const markup = `<img src=x id=injected onerror="document.title='pwned'">`
	if _, err := c.SetConfig(ctx, "shop", map[string]*string{"BANNER": ptr(markup)}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	dir := artifactDir(t)

	// A page without a session goes to the sign-in page, keeping the place.
	b.open(srv.URL + "/#/apps/shop")
	b.waitText("#signin h1", "Sign in")
	if u := b.url(); !strings.HasSuffix(u, "/signin#/apps/shop") {
		t.Errorf("without a session the page went to %s, want /signin#/apps/shop", u)
	}
	b.typeInto("#username", "admin")
	b.typeInto("#password", "not the password")
	b.click("#signin button[type=submit]")
	b.waitText("#signin .msg", "Wrong user name or password")
	b.typeInto("#password", adminPassword)
	b.click("#signin button[type=submit]")
	b.waitText("#nav .who", "admin")
	b.waitText("#app-name", "shop") // back where it was going
	cookie := b.cookie(controller.SessionCookie)
	if !cookie.HTTPOnly || cookie.SameSite != "Strict" {
		t.Errorf("session cookie %+v: want HttpOnly and SameSite=Strict", cookie)
	}

	// The apps list shows the app made through the API.
	b.click("#nav-apps")
	b.waitText(`tr[data-app="shop"]`, "v2")
	b.waitText(`tr[data-app="shop"]`, "deploying") // no runtime: the release never goes live
	b.screenshot(dir, "apps-desktop.png")
	b.click(`tr[data-app="shop"] a`)
	b.waitText("#app-name", "shop")
	b.waitText("#git-remote", "git remote add paas ssh://")
	b.find("#scale-web")

	// Config: hidden until revealed; markup stays text.
	b.waitText(`#config tr[data-key="BANNER"]`, "Reveal")
	if got := b.text(`#config tr[data-key="BANNER"] td.value`); strings.Contains(got, "img") {
		t.Errorf("config value shown before it was revealed: %q", got)
	}
	b.click(`#config tr[data-key="BANNER"] button.link`)
	b.waitText(`#config tr[data-key="BANNER"] td.value`, markup)
	var injected bool
	b.must(b.exec(&injected, `return document.getElementById('injected') !== null || document.title === 'pwned';`))
	if injected {
		t.Error("a config value's markup became part of the page")
	}

	// A change with the session cookie but without the CSRF token is
	// refused, from the page's own origin and from Go alike.
	var status int
	b.must(b.execAsync(&status, `const done = arguments[arguments.length - 1];
		fetch('/v1/apps/shop/config', {method: 'PATCH', credentials: 'same-origin', headers: {'Content-Type': 'application/json'}, body: '{"EVIL":"1"}'})
			.then((r) => done(r.status), () => done(-1));`))
	if status != http.StatusForbidden {
		t.Errorf("PATCH config from the page without the CSRF token = %d, want 403", status)
	}
	req, _ := http.NewRequest("PATCH", srv.URL+"/v1/apps/shop/config", strings.NewReader(`{"EVIL":"1"}`))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(&http.Cookie{Name: controller.SessionCookie, Value: cookie.Value})
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("PATCH config with the session cookie and no CSRF token = %v %v, want 403", resp.Status, err)
	}
	if cfg, _ := c.Config(ctx, "shop"); cfg["EVIL"] != "" {
		t.Error("a change without the CSRF token went through")
	}

	// Set a config var through the page; see it through the API, and the
	// release it made with its diff.
	b.typeInto("#config-key", "GREETING")
	b.typeInto("#config-value", "hello world")
	b.click("#config-set")
	b.waitText("#config .msg", "Set GREETING")
	b.waitText(`#config tr[data-key="GREETING"]`, "GREETING")
	cfg, err := c.Config(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if cfg["GREETING"] != "hello world" {
		t.Errorf("after setting it in the page, GREETING = %q through the API, want %q", cfg["GREETING"], "hello world")
	}
	b.waitText(`#releases tr[data-version="3"]`, "Set GREETING")
	b.click("#diff-v3")
	b.waitText("#diffrow-v3", "added GREETING")
	if got := b.text("#diffrow-v3"); strings.Contains(got, "hello world") {
		t.Errorf("the diff shows a value before it was revealed: %q", got)
	}
	b.click("#diffrow-v3 button.link")
	b.waitText("#diffrow-v3", "hello world")

	// Scale through the page; see it through the API.
	b.typeInto("#scale-web", "3")
	b.click("#scale-web-btn")
	b.waitText("#formation .msg", "Scaled web to 3")
	procs, err := c.Formation(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if q := quantity(procs, "web"); q != 3 {
		t.Errorf("after scaling in the page, web = %d through the API, want 3", q)
	}
	b.waitText("#app-counts", "0 / ")

	// An error from the API is shown in plain words.
	b.typeInto("#domain-name", "shop.localhost")
	b.click("#domain-form button[type=submit]")
	b.waitText("#domains .msg", "already shop's default domain")
	b.typeInto("#domain-name", "shop.example.com")
	b.click("#domain-form button[type=submit]")
	b.waitText("#domains .msg", "Added shop.example.com")

	// Health checks: set one for web, see it through the API.
	b.typeInto("#hc-path", "/health")
	b.typeInto("#hc-timeout", "2")
	b.typeInto("#hc-attempts", "4")
	b.click("#hc-form button[type=submit]")
	b.waitText("#health .msg", "Saved the health check of web")
	b.waitText(`#health tr[data-type="web"]`, "/health")
	hcs, err := c.HealthChecks(ctx, "shop")
	if err != nil || len(hcs) != 1 || hcs[0].Path != "/health" || hcs[0].Timeout != 2 || hcs[0].Attempts != 4 {
		t.Errorf("after saving in the page, health checks = %+v, %v; want web /health 2s x4", hcs, err)
	}

	// Roll back to v1 (two presses: arm, then confirm).
	b.click("#rollback-v1")
	b.waitText("#rollback-v1", "Confirm")
	b.click("#rollback-v1")
	b.waitText("#releases .msg", "Rolled back to v1")
	app, err := c.App(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if app.Release != 4 || app.Current == nil || !strings.Contains(app.Current.Description, "v1") {
		t.Errorf("after the rollback in the page, the app is at v%d (%+v), want v4, a rollback to v1", app.Release, app.Current)
	}
	b.waitFor("GREETING to leave the page's config after the rollback", func() (bool, string) {
		got := b.text("#config-body")
		return !strings.Contains(got, "GREETING"), got
	})

	// Logs: the last lines, then a line arriving in the live (streamed) view.
	b.waitText("#log-lines", `app[web.1]: listening on :5000 <b id="logmarkup">bold?</b>`)
	b.must(b.exec(&injected, `return document.getElementById('logmarkup') !== null;`))
	if injected {
		t.Error("a log line's markup became part of the page")
	}
	b.waitText("#logs-state", "following live")
	logLine("GET /cart 200")
	b.waitText("#log-lines", "app[web.1]: GET /cart 200")

	// Screenshots of the app page.
	b.must(b.exec(nil, `window.scrollTo(0, 0); document.activeElement.blur();`))
	b.resize(1280, 2600)
	t.Logf("desktop screenshot: %s", b.screenshot(dir, "app-desktop.png"))
	b.resize(390, 4200)
	var width int
	b.must(b.exec(&width, `return document.documentElement.scrollWidth;`))
	if width > 400 {
		t.Errorf("at phone width the page is %dpx wide: something overflows", width)
	}
	t.Logf("phone screenshot: %s", b.screenshot(dir, "app-phone.png"))

	// Keyboard: the focused control is outlined.
	b.resize(1280, 1000)
	var outline string
	b.must(b.exec(&outline, `const e = document.getElementById('scale-web'); e.focus(); return getComputedStyle(e).outlineStyle;`))
	if outline == "none" || outline == "" {
		t.Errorf("a focused input has outline-style %q: focus must be visible", outline)
	}

	// Account and admin pages.
	b.click("#nav-account")
	b.waitText("#tokens", "bootstrap")
	b.typeInto("#token-desc", "made in the page")
	b.click("#token-form button[type=submit]")
	b.waitText("#new-token", "shown only this once")
	secret := b.text("#new-token-secret")
	if tc, err := controller.NewClient(srv.URL, secret, nil); err != nil {
		t.Fatal(err)
	} else if _, err := tc.Apps(ctx); err != nil {
		t.Errorf("the token made in the page does not work: %v", err)
	}
	// Revoke it in the page: it stops working.
	b.click(`#tokens tr[data-token-id] button[id^="revoke-token-"]:not([id="revoke-token-1"])`)
	b.click(`#tokens tr[data-token-id] button.armed`)
	b.waitText("#tokens .msg", "it no longer works")
	if tc, err := controller.NewClient(srv.URL, secret, nil); err != nil {
		t.Fatal(err)
	} else if _, err := tc.Apps(ctx); !errors.Is(err, controller.ErrUnauthorized) {
		t.Errorf("after revoking it in the page the token gives %v, want ErrUnauthorized", err)
	}
	// An SSH key, added in the page, is the user's.
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	b.typeInto("#key-text", strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))+" me@laptop")
	b.click("#key-form button[type=submit]")
	b.waitText("#keys .msg", "Added key SHA256:")
	if keys, err := c.Keys(ctx); err != nil || len(keys) != 1 || keys[0].Comment != "me@laptop" {
		t.Errorf("after adding a key in the page, keys = %+v, %v", keys, err)
	}
	b.waitText("#collabs", "shop")
	phoneToo := func(name string) {
		t.Helper()
		b.screenshot(dir, name+"-desktop.png")
		b.resize(390, 1400)
		var width int
		b.must(b.exec(&width, `return document.documentElement.scrollWidth;`))
		if width > 400 {
			t.Errorf("%s at phone width is %dpx wide: something overflows", name, width)
		}
		b.screenshot(dir, name+"-phone.png")
		b.resize(1280, 1000)
	}
	phoneToo("account")
	b.click("#nav-admin")
	b.waitText(`#users tr[data-user="eve"]`, "eve")
	b.waitText("#audit-table", "user.password")
	phoneToo("admin")

	// Sign out: the session ends on the server, not just in the page.
	b.click("#signout")
	b.waitText("#signin h1", "Sign in")
	req, _ = http.NewRequest("GET", srv.URL+"/v1/me", nil)
	req.AddCookie(&http.Cookie{Name: controller.SessionCookie, Value: cookie.Value})
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/me with the signed-out session's cookie = %v %v, want 401", resp.Status, err)
	}
	b.open(srv.URL + "/")
	b.waitText("#signin h1", "Sign in")

	// Another user does not see the app: the API refuses, the page says so.
	b.typeInto("#username", "eve")
	b.typeInto("#password", "eve's own password")
	b.click("#signin button[type=submit]")
	b.waitText("#nav .who", "eve")
	b.waitText("#apps", "No apps yet")
	b.open(srv.URL + "/#/apps/shop")
	b.waitFor("the page to say eve cannot see shop", func() (bool, string) {
		got := b.text("#main .msg")
		return strings.Contains(got, "access to app shop") || strings.Contains(got, "no app called shop"), got
	})
	b.must(b.execAsync(&status, `const done = arguments[arguments.length - 1];
		fetch('/v1/apps/shop', {credentials: 'same-origin'}).then((r) => done(r.status), () => done(-1));`))
	if status != http.StatusForbidden && status != http.StatusNotFound {
		t.Errorf("GET another user's app as eve = %d, want 403 or 404", status)
	}

	for _, l := range b.consoleLog() {
		if strings.Contains(l, "Content Security Policy") || strings.Contains(l, "Uncaught") {
			t.Errorf("browser console: %s", l)
		}
	}
	t.Logf("browser steps took %v", time.Since(start).Round(time.Millisecond))
}

func quantity(procs []controller.Process, typ string) int {
	for _, p := range procs {
		if p.Type == typ {
			return p.Quantity
		}
	}
	return -1
}

func ptr(s string) *string { return &s }
