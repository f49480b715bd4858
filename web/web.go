package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"paas/controller"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is sent with every answer of the dashboard: scripts,
// styles and connections from the dashboard's own origin only, nothing
// inline, no plugins, no framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// Sessions tells whether a dashboard session cookie is valid. The
// controller (*server.Controller) implements it.
type Sessions interface {
	// CheckSession returns nil if secret, the value of the cookie named
	// controller.SecureSessionCookie or controller.SessionCookie, belongs
	// to a live session, and an error
	// otherwise. It is called for every page load, concurrently.
	CheckSession(ctx context.Context, secret string) error
}

// Options configure the dashboard.
type Options struct {
	// Sessions checks the session cookie of each page load: a page asked
	// for without a valid session is redirected to the sign-in page,
	// "/signin". If nil, pages are served to anyone (the API still
	// authenticates every call the page makes).
	Sessions Sessions
}

// asset is one embedded file, ready to serve.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// handler serves the embedded dashboard.
type handler struct {
	opts   Options
	index  asset
	assets map[string]asset // by name under /assets/
}

// Handler returns the dashboard: the page at "/" (for a signed-in browser)
// and at "/signin", and its files under "/assets/"; any other path is
// answered 404. It is safe for concurrent use.
func Handler(opts Options) http.Handler {
	h := &handler{opts: opts, assets: map[string]asset{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		a := asset{body: b, ctype: mime.TypeByExtension(path.Ext(p)), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		if a.ctype == "" {
			a.ctype = "application/octet-stream"
		}
		name := strings.TrimPrefix(p, "static/")
		if name == "index.html" {
			h.index = a
		} else {
			h.assets[name] = a
		}
		return nil
	})
	if err != nil || h.index.body == nil {
		// The files are compiled in: this is a broken build, not a runtime condition.
		panic("web: embedded dashboard files are missing: " + errString(err))
	}
	return h
}

// signedIn tells whether the request carries a live session cookie.
func (h *handler) signedIn(r *http.Request) bool {
	if h.opts.Sessions == nil {
		return true
	}
	// The API reads one of the two names, by whether the request came over
	// HTTPS; a page shell served on the other costs nothing (every call
	// the page makes is authenticated by the API).
	for _, name := range []string{controller.SecureSessionCookie, controller.SessionCookie} {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			return h.opts.Sessions.CheckSession(r.Context(), c.Value) == nil
		}
	}
	return false
}

func errString(err error) string {
	if err == nil {
		return "no index.html"
	}
	return err.Error()
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")

	var a asset
	page := false
	switch name, isAsset := strings.CutPrefix(r.URL.Path, "/assets/"); {
	case r.URL.Path == "/" || r.URL.Path == "/index.html":
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !h.signedIn(r) {
			// The fragment (#/apps/shop) stays with the browser across
			// the redirect, so the page can go back there after sign-in.
			hd.Set("Cache-Control", "no-store")
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		a, page = h.index, true
	case r.URL.Path == "/signin":
		a, page = h.index, true
	case isAsset && h.assets[name].body != nil:
		a = h.assets[name]
	default:
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("404 page not found: the dashboard is at /, the API at /v1\n"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hd.Set("Content-Type", a.ctype)
	hd.Set("ETag", a.etag)
	if page {
		hd.Set("Cache-Control", "no-store") // the page depends on the session
	} else {
		hd.Set("Cache-Control", "no-cache") // revalidate: the ETag makes that cheap
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
