package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"paas/controller"
	"paas/controller/internal/store"
)

// Dashboard sessions. A browser signs in once (POST /v1/sessions) with a
// user name and password or an API token and gets a session cookie:
// HttpOnly, SameSite=Strict, Path=/, no Domain; over HTTPS Secure and named
// with the __Host- prefix (controller.SecureSessionCookie), over plain
// HTTP controller.SessionCookie. A
// call authenticated by that cookie with a method other than GET or HEAD
// must also carry the session's CSRF token in the X-CSRF-Token header; the
// token is derived from the session's secret, so it is bound to the
// session and needs no storage. Calls with "Authorization: Bearer" are not
// affected: a bearer token is never sent by a browser on its own.

// csrfHeader carries the CSRF token of a cookie-authenticated call.
const csrfHeader = "X-CSRF-Token"

// csrfToken derives a session's CSRF token from its secret.
func csrfToken(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("paas csrf v1"))
	return hex.EncodeToString(m.Sum(nil))
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin tells whether a browser's Origin header, if any, names the
// host the request was sent to.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true // not a cross-origin fetch or form post by a current browser
	}
	u, err := url.Parse(o)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// secure tells whether the request came over HTTPS, to this server or to a
// trusted proxy in front of it.
func (s *server) secure(r *http.Request) bool {
	return r.TLS != nil || s.opt.TrustForwardedProto && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// sessionActor authenticates a request by its session cookie, checking the
// CSRF token when the method changes state.
func (s *server) sessionActor(r *http.Request, secret string) (store.Actor, error) {
	who, _, err := s.opt.Store.Session(r.Context(), secret)
	if err != nil {
		return store.Actor{}, err
	}
	if !safeMethod(r.Method) {
		got := r.Header.Get(csrfHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(csrfToken(secret))) != 1 {
			return who, controller.Errorf(controller.ErrForbidden, "this request has no valid CSRF token: reload the page and try again")
		}
		if !sameOrigin(r) {
			return who, controller.Errorf(controller.ErrForbidden, "cross-site request refused")
		}
	}
	return who, nil
}

// cookieName is the session cookie's name for r: with the __Host- prefix
// over HTTPS, the plain one over HTTP (the prefix needs Secure).
func (s *server) cookieName(r *http.Request) string {
	if s.secure(r) {
		return controller.SecureSessionCookie
	}
	return controller.SessionCookie
}

// sessionCookie is the session cookie to set (or, for an empty secret, to
// clear) in the answer to r.
func (s *server) sessionCookie(secret string, expires time.Time, r *http.Request) *http.Cookie {
	c := &http.Cookie{
		Name: s.cookieName(r), Value: secret, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secure(r),
	}
	if secret == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	return c
}

func (s *server) signIn(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	// A JSON body only: a cross-site page cannot send one without a CORS
	// preflight, which this API never answers. That stops login CSRF.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" || !sameOrigin(r) {
		return controller.Errorf(controller.ErrForbidden, "sign in with a JSON body from the dashboard's own page")
	}
	var in controller.SignIn
	if err := decode(w, r, &in); err != nil {
		return err
	}
	tokenSignIn := in.Token != "" && in.Username == "" && in.Password == ""
	if !tokenSignIn && (in.Token != "" || in.Username == "" || in.Password == "") {
		return controller.Errorf(controller.ErrInvalid, "give a user name and a password, or an API token")
	}
	ip := clientIP(r)
	keys := []string{"ip " + ip}
	if in.Username != "" {
		keys = append(keys, "user "+in.Username)
	}
	// The attempt is counted before the password is hashed, in one step
	// with the check: concurrent attempts cannot all pass the check
	// before any is counted. A success takes its count back.
	if wait := s.signIns.attempt(keys, time.Now()); wait > 0 {
		mins := int(wait.Round(time.Minute) / time.Minute)
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		msg := "too many failed sign-ins: try again in a minute"
		if mins > 1 {
			msg = fmt.Sprintf("too many failed sign-ins: try again in %d minutes", mins)
		}
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": msg})
		return nil
	}
	var who store.Actor
	var err error
	if tokenSignIn {
		var tok controller.Token
		who, tok, err = s.opt.Store.Authenticate(r.Context(), strings.TrimSpace(in.Token))
		if err != nil {
			err = controller.Errorf(controller.ErrUnauthorized, "this API token is not accepted (unknown or revoked)")
		} else {
			s.tokenUsed(tok)
		}
	} else {
		who, err = s.opt.Store.CheckPassword(r.Context(), in.Username, in.Password)
	}
	if err != nil {
		if controller.HTTPStatus(err) == http.StatusUnauthorized {
			s.log.Info("failed sign-in", "user", in.Username, "addr", ip)
			time.Sleep(signInFailDelay) // slows a guesser; the limiter stops them
		} else if !errors.Is(err, store.ErrBusy) {
			// Not a wrong password (the database failed): no count. A busy
			// hasher keeps the count, so that waiting is no free retry.
			s.signIns.refund(keys, time.Now())
		}
		return err
	}
	s.signIns.refund(keys[:1], time.Now())
	s.signIns.forget("user " + in.Username) // a success clears the user's failures
	who.Addr = r.RemoteAddr
	secret, expires, err := s.opt.Store.CreateSession(r.Context(), who)
	if err != nil {
		return err
	}
	u, err := s.opt.Store.User(r.Context(), who.Name)
	if err != nil {
		return err
	}
	http.SetCookie(w, s.sessionCookie(secret, expires, r))
	writeJSON(w, http.StatusCreated, controller.Session{User: u, CSRFToken: csrfToken(secret), ExpiresAt: expires})
	return nil
}

func (s *server) currentSession(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	u, err := s.opt.Store.User(r.Context(), who.Name)
	if err != nil {
		return err
	}
	out := controller.Session{User: u}
	if r.Header.Get("Authorization") == "" {
		if c, err := r.Cookie(s.cookieName(r)); err == nil {
			_, exp, err := s.opt.Store.Session(r.Context(), c.Value)
			if err != nil {
				return err
			}
			out.CSRFToken, out.ExpiresAt = csrfToken(c.Value), exp
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) signOut(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	c, err := r.Cookie(s.cookieName(r))
	if r.Header.Get("Authorization") != "" || err != nil {
		// Authenticated by an API token: there is no session to end.
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err := s.opt.Store.EndSession(r.Context(), who, c.Value); err != nil {
		return err
	}
	http.SetCookie(w, s.sessionCookie("", time.Time{}, r))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) setPassword(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	var in controller.Password
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := s.opt.Store.SetPassword(r.Context(), who, r.PathValue("name"), in.Password); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Failed sign-ins are limited per client address and per user name: after
// signInMaxFails failures (or attempts still being checked) within
// signInWindow, further attempts are refused, before any password is
// hashed, until the window has passed. Each failure is also answered only after
// signInFailDelay.
const (
	signInMaxFails  = 10
	signInWindow    = 15 * time.Minute
	signInFailDelay = 500 * time.Millisecond
	signInMaxKeys   = 10000 // bounds the limiter's memory
)

type failures struct {
	n     int
	first time.Time
}

// limiter counts sign-in attempts: each is counted before it is checked,
// and taken back when it succeeds. It is safe for concurrent use.
type limiter struct {
	mu    sync.Mutex
	fails map[string]failures
}

// attempt counts an attempt against every key and returns 0, or, when any
// key has had signInMaxFails attempts within signInWindow, counts nothing
// and returns how long it is still blocked for. The check and the count are
// one step, so concurrent attempts cannot all pass before any is counted.
func (l *limiter) attempt(keys []string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fails == nil {
		l.fails = map[string]failures{}
	}
	var wait time.Duration
	for _, k := range keys {
		f, ok := l.fails[k]
		if !ok {
			continue
		}
		left := f.first.Add(signInWindow).Sub(now)
		if left <= 0 {
			delete(l.fails, k)
			continue
		}
		if f.n >= signInMaxFails && left > wait {
			wait = left
		}
	}
	if wait > 0 {
		return wait
	}
	if len(l.fails) >= signInMaxKeys {
		for k, f := range l.fails {
			if now.Sub(f.first) > signInWindow {
				delete(l.fails, k)
			}
		}
	}
	for _, k := range keys {
		f := l.fails[k]
		if f.n == 0 || now.Sub(f.first) > signInWindow {
			f = failures{first: now}
		}
		f.n++
		l.fails[k] = f
	}
	return 0
}

// refund takes back an attempt that turned out not to be a wrong guess (a
// success, or a failure of the server's own).
func (l *limiter) refund(keys []string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		f, ok := l.fails[k]
		if !ok {
			continue
		}
		if f.n <= 1 || now.Sub(f.first) > signInWindow {
			delete(l.fails, k)
			continue
		}
		f.n--
		l.fails[k] = f
	}
}

// forget drops every count of key.
func (l *limiter) forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, key)
}
