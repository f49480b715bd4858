package api

import (
	"context"
	"crypto/rsa"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"golang.org/x/crypto/ssh"

	"paas/controller"
	"paas/controller/internal/logs"
	"paas/controller/internal/store"
)

// decorate fills in what the store does not know: where to push and where
// the app answers.
func (s *server) decorate(r *http.Request, a controller.App) controller.App {
	host := s.opt.GitHost
	if host == "" {
		host = r.Host
		if h, _, err := net.SplitHostPort(r.Host); err == nil {
			host = h
		}
		if strings.Contains(host, ":") { // an IPv6 literal
			host = "[" + host + "]"
		}
	}
	a.GitURL = fmt.Sprintf("ssh://git@%s:%d/%s.git", host, s.opt.SSHPort, a.Name)
	a.WebURL = s.opt.WebURL(a.Name)
	return a
}

func (s *server) listApps(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	apps, err := s.opt.Store.Apps(r.Context(), who)
	if err != nil {
		return err
	}
	for i := range apps {
		apps[i] = s.decorate(r, apps[i])
	}
	writeJSON(w, http.StatusOK, apps)
	return nil
}

func (s *server) createApp(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	var in struct {
		Name *string `json:"name"` // absent: the server picks a name
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	name := ""
	if in.Name != nil {
		if err := controller.ValidateNewAppName(*in.Name); err != nil {
			return err
		}
		name = *in.Name
		if err := s.checkAppName(name); err != nil {
			return err
		}
	}
	s.names.Lock()
	if s.destroying[name] {
		s.names.Unlock()
		return controller.Errorf(controller.ErrConflict, "an app named %s is being destroyed: try again in a moment", name)
	}
	a, err := s.opt.Store.CreateApp(r.Context(), who, name)
	s.names.Unlock()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, s.decorate(r, a))
	return nil
}

// checkAppName refuses a new app whose default domain, <app>.<base>, is
// one of the server's own host names.
func (s *server) checkAppName(name string) error {
	if d := name + "." + s.opt.BaseDomain; slices.Contains(s.opt.APIHosts, d) {
		return controller.Errorf(controller.ErrInvalid, "app name %s is reserved: its default domain %s is a host name of this paas server's API and dashboard", name, d)
	}
	return nil
}

func (s *server) getApp(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	ctx, name := r.Context(), r.PathValue("app")
	a, err := s.opt.Store.App(ctx, name)
	if err != nil {
		return err
	}
	info := controller.AppInfo{App: s.decorate(r, a)}
	if info.Formation, err = s.opt.Store.Formation(ctx, name); err != nil {
		return err
	}
	if info.Domains, err = s.opt.Store.Domains(ctx, name); err != nil {
		return err
	}
	if info.Collaborators, err = s.opt.Store.Collaborators(ctx, name); err != nil {
		return err
	}
	if a.Release > 0 {
		rel, err := s.opt.Store.Release(ctx, name, a.Release)
		if err != nil {
			return err
		}
		rel.Config = nil
		info.Current = &rel
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

// destroyApp deletes an app, then everything kept by its name elsewhere
// (AppDestroyed: instances, their logs, events; the build logs here)
// before it answers. Meanwhile the name cannot be taken again: whoever
// creates an app of the same name next finds nothing of this one.
func (s *server) destroyApp(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	app := r.PathValue("app")
	s.names.Lock()
	if s.destroying[app] {
		s.names.Unlock()
		return controller.Errorf(controller.ErrConflict, "app %s is being destroyed already", app)
	}
	if err := s.opt.Store.DestroyApp(r.Context(), who, app); err != nil {
		s.names.Unlock()
		return err
	}
	s.destroying[app] = true
	s.names.Unlock()
	defer func() {
		s.names.Lock()
		delete(s.destroying, app)
		s.names.Unlock()
	}()
	if s.opt.Changed != nil {
		s.opt.Changed() // the scheduler stops the app's instances now
	}
	if s.opt.AppDestroyed != nil {
		s.opt.AppDestroyed(app)
	}
	if s.opt.BuildLogDir != "" {
		if err := os.RemoveAll(filepath.Join(s.opt.BuildLogDir, app)); err != nil {
			s.log.Warn("removing build logs", "app", app, "err", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) getConfig(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	cfg, err := s.opt.Store.Config(r.Context(), r.PathValue("app"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cfg)
	return nil
}

func (s *server) setConfig(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	var in map[string]*string
	if err := decode(w, r, &in); err != nil {
		return err
	}
	cc, err := s.opt.Store.SetConfig(r.Context(), who, r.PathValue("app"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cc)
	return nil
}

func (s *server) getFormation(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	f, err := s.opt.Store.Formation(r.Context(), r.PathValue("app"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, f)
	return nil
}

func (s *server) scale(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	var in []controller.ProcessUpdate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	f, err := s.opt.Store.Scale(r.Context(), who, r.PathValue("app"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, f)
	return nil
}

func (s *server) listReleases(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	rs, err := s.opt.Store.Releases(r.Context(), r.PathValue("app"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rs)
	return nil
}

func (s *server) getRelease(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	v, err := controller.ParseReleaseVersion(r.PathValue("version"))
	if err != nil {
		return err
	}
	rel, err := s.opt.Store.Release(r.Context(), r.PathValue("app"), v)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rel)
	return nil
}

// validateImage checks an image reference and a digest, if given.
func validateImage(nr *controller.NewRelease) error {
	named, err := reference.ParseNormalizedNamed(nr.Image)
	if err != nil {
		return controller.Errorf(controller.ErrInvalid, "invalid image reference %q: %v", clip(nr.Image), err)
	}
	nr.Image = reference.TagNameOnly(named).String()
	if nr.Digest != "" {
		if _, err := digest.Parse(nr.Digest); err != nil {
			return controller.Errorf(controller.ErrInvalid, "invalid image digest %q: want sha256:<64 hex digits>", clip(nr.Digest))
		}
	}
	if len(nr.Description) > 200 {
		return controller.Errorf(controller.ErrInvalid, "release description is longer than 200 characters")
	}
	for t, cmd := range nr.ProcessTypes {
		if strings.TrimSpace(cmd) == "" {
			return controller.Errorf(controller.ErrInvalid, "process type %s has an empty command", t)
		}
		if strings.ContainsAny(cmd, "\x00\n\r") {
			return controller.Errorf(controller.ErrInvalid, "the command of process type %s must be one line", t)
		}
	}
	return nil
}

func (s *server) createRelease(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	var in controller.NewRelease
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := validateImage(&in); err != nil {
		return err
	}
	rel, err := s.opt.Store.CreateRelease(r.Context(), who, r.PathValue("app"), in, 0)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rel)
	return nil
}

func (s *server) rollback(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	var in controller.Rollback
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Version < 0 {
		return controller.Errorf(controller.ErrInvalid, "invalid release version %d", in.Version)
	}
	rel, err := s.opt.Store.Rollback(r.Context(), who, r.PathValue("app"), in.Version)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rel)
	return nil
}

func (s *server) listBuilds(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	bs, err := s.opt.Store.Builds(r.Context(), r.PathValue("app"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, bs)
	return nil
}

// appMetrics serves the router's request metrics of an app, per minute
// over the last hour.
func (s *server) appMetrics(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	app := r.PathValue("app")
	a, err := s.opt.Store.App(r.Context(), app)
	if err != nil {
		return err
	}
	var m controller.AppMetrics
	ok := false
	if s.opt.Metrics != nil {
		m, ok = s.opt.Metrics(app)
	}
	if !ok {
		return controller.Errorf(controller.ErrNotFound, "no request metrics: this server runs no router")
	}
	// The router counts by name, and drops an app's series when it leaves
	// the routing table (a destroy does that before the name is free):
	// minutes that ended before the app was created can only hold a
	// former app's requests. The minute it was created in is its own.
	for i, mm := range m.Minutes {
		if !mm.Start.Add(time.Minute).After(a.CreatedAt) {
			m.Minutes[i] = controller.MetricsMinute{Start: mm.Start}
		}
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

// buildLog serves a build's output as text, as it stands: a running
// build's log grows, and the dashboard asks again.
func (s *server) buildLog(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	app := r.PathValue("app")
	b, err := s.opt.Store.Build(r.Context(), app, id)
	if err != nil {
		return err
	}
	var f *os.File
	if s.opt.BuildLogDir != "" {
		f, err = os.Open(filepath.Join(s.opt.BuildLogDir, app, fmt.Sprintf("%d.log", b.ID)))
	}
	if f == nil || err != nil {
		return controller.Errorf(controller.ErrNotFound, "no output was kept for build %d", b.ID)
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Build-Status", b.Status)
	_, err = io.Copy(w, f)
	return err
}

func (s *server) listDomains(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	ds, err := s.opt.Store.Domains(r.Context(), r.PathValue("app"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ds)
	return nil
}

// checkDomain refuses the server's own host names, and wildcards that
// cover one (they would send the API's traffic, tokens and passwords
// included, to the app), and names under the base domain: <app>.<base> is
// each app's default domain and it, and every name under it, belong to
// that app alone (whether or not the app exists yet).
func (s *server) checkDomain(appName, name string) error {
	if h, ok := controller.APIHostCovered(name, s.opt.APIHosts); ok {
		if h == name {
			return controller.Errorf(controller.ErrInvalid, "%s is reserved: it is a host name of this paas server's API and dashboard, which no app may hold", name)
		}
		return controller.Errorf(controller.ErrInvalid, "%s is reserved: it covers %s, a host name of this paas server's API and dashboard, which no app may hold", name, h)
	}
	base := s.opt.BaseDomain
	if name == base || name == "*."+base {
		return controller.Errorf(controller.ErrInvalid, "%s is the base domain of all apps", name)
	}
	if owner, ok := controller.DefaultDomainOwner(name, base); ok {
		switch {
		case name == owner+"."+base && owner == appName:
			return controller.Errorf(controller.ErrConflict, "%s is already %s's default domain", name, appName)
		case name == owner+"."+base:
			return controller.Errorf(controller.ErrInvalid, "%s is reserved: names under %s are the apps' default domains", name, base)
		case owner != appName:
			return controller.Errorf(controller.ErrInvalid, "%s is reserved: %s.%s and every name under it belong to the app %s", name, owner, base, owner)
		}
	}
	return nil
}

func (s *server) addDomain(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	name, err := controller.NormalizeDomain(in.Name)
	if err != nil {
		return err
	}
	appName := r.PathValue("app")
	if err := s.checkDomain(appName, name); err != nil {
		return err
	}
	d, err := s.opt.Store.AddDomain(r.Context(), who, appName, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, d)
	return nil
}

func (s *server) removeDomain(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	name, err := controller.NormalizeDomain(r.PathValue("domain"))
	if err != nil {
		return err
	}
	if err := s.opt.Store.RemoveDomain(r.Context(), who, r.PathValue("app"), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) listCollaborators(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	cs, err := s.opt.Store.Collaborators(r.Context(), r.PathValue("app"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cs)
	return nil
}

func (s *server) addCollaborator(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	var in struct {
		User string `json:"user"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if err := controller.ValidateUserName(in.User); err != nil {
		return err
	}
	c, err := s.opt.Store.AddCollaborator(r.Context(), who, r.PathValue("app"), in.User)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

func (s *server) removeCollaborator(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	if err := s.opt.Store.RemoveCollaborator(r.Context(), who, r.PathValue("app"), r.PathValue("user")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) listKeys(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	ks, err := s.opt.Store.Keys(r.Context(), who)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ks)
	return nil
}

// ParseKey reads one SSH public key in authorized_keys form and checks it
// is of a type and strength fit for git pushes.
func ParseKey(text string) (controller.Key, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return controller.Key{}, controller.Errorf(controller.ErrInvalid, "the SSH public key is empty")
	}
	if strings.Contains(text, "PRIVATE KEY") {
		return controller.Key{}, controller.Errorf(controller.ErrInvalid, "that is a private key: give the public key (the .pub file) and keep the private key to yourself")
	}
	pub, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(text))
	if err != nil {
		return controller.Key{}, controller.Errorf(controller.ErrInvalid, "not an SSH public key: give one line such as the contents of ~/.ssh/id_ed25519.pub")
	}
	if len(options) > 0 {
		return controller.Key{}, controller.Errorf(controller.ErrInvalid, "the key has authorized_keys options (%s): give the bare key", clip(strings.Join(options, ",")))
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return controller.Key{}, controller.Errorf(controller.ErrInvalid, "give one SSH key at a time")
	}
	switch pub.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256:
	case ssh.KeyAlgoRSA:
		if ck, ok := pub.(ssh.CryptoPublicKey); ok {
			if rk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok && rk.N.BitLen() < 2048 {
				return controller.Key{}, controller.Errorf(controller.ErrInvalid, "RSA key of %d bits is too weak: use 2048 bits or more, or ed25519", rk.N.BitLen())
			}
		}
	default:
		return controller.Key{}, controller.Errorf(controller.ErrInvalid, "SSH keys of type %s are not accepted: use ed25519, ECDSA or RSA", pub.Type())
	}
	comment = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, comment)
	if len(comment) > 200 {
		comment = comment[:200]
	}
	return controller.Key{
		Fingerprint: ssh.FingerprintSHA256(pub),
		Type:        pub.Type(),
		Comment:     comment,
		PublicKey:   strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))),
	}, nil
}

func (s *server) addKey(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	var in struct {
		PublicKey string `json:"public_key"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	k, err := ParseKey(in.PublicKey)
	if err != nil {
		return err
	}
	k, err = s.opt.Store.AddKey(r.Context(), who, k)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, k)
	return nil
}

func (s *server) removeKey(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	if err := s.opt.Store.RemoveKey(r.Context(), who, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) listTokens(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	ts, err := s.opt.Store.Tokens(r.Context(), who.UserID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ts)
	return nil
}

func (s *server) createToken(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	var in struct {
		Description string `json:"description"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	t, err := s.opt.Store.CreateToken(r.Context(), who, in.Description)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, t)
	return nil
}

func (s *server) revokeToken(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	if err := s.opt.Store.RevokeToken(r.Context(), who, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) listUsers(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	us, err := s.opt.Store.Users(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, us)
	return nil
}

func (s *server) createUser(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	var in controller.NewUser
	if err := decode(w, r, &in); err != nil {
		return err
	}
	cu, err := s.opt.Store.CreateUser(r.Context(), who, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, cu)
	return nil
}

func (s *server) deleteUser(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	if err := s.opt.Store.DeleteUser(r.Context(), who, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) audit(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	q := r.URL.Query()
	aq := controller.AuditQuery{App: q.Get("app"), Actor: q.Get("actor")}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return controller.Errorf(controller.ErrInvalid, "invalid before %q: want an event ID", clip(v))
		}
		aq.Before = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return controller.Errorf(controller.ErrInvalid, "invalid limit %q: want 1 to 1000", clip(v))
		}
		aq.Limit = n
	}
	evs, err := s.opt.Store.Audit(r.Context(), aq)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, evs)
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func (s *server) listInstances(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	out := []controller.Instance{}
	if s.opt.Instances != nil {
		var err error
		if out, err = s.opt.Instances(r.Context(), r.PathValue("app")); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) listEvents(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	a, err := s.opt.Store.App(r.Context(), r.PathValue("app"))
	if err != nil {
		return err
	}
	out := []controller.Event{}
	if s.opt.Events != nil {
		for _, e := range s.opt.Events(a.Name) {
			if !e.Time.Before(a.CreatedAt) { // not a former app's of that name
				out = append(out, e)
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// routingTable answers the routing table at once, or, with ?after=N, as
// soon as it is newer than version N (waiting at most ?wait= seconds,
// 30 by default, then answering the current table).
func (s *server) routingTable(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	if s.opt.Routes == nil {
		return controller.Errorf(controller.ErrNotFound, "this server publishes no routing table")
	}
	q := r.URL.Query()
	var after int64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return controller.Errorf(controller.ErrInvalid, "invalid after %q: want a table version", clip(v))
		}
		after = n // a negative version asks for the current table
	}
	wait := 30 * time.Second
	if v := q.Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 300 {
			return controller.Errorf(controller.ErrInvalid, "invalid wait %q: want 0 to 300 seconds", clip(v))
		}
		wait = time.Duration(n) * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	t, err := s.opt.Routes.Table(ctx, after)
	if err != nil {
		if r.Context().Err() != nil {
			return r.Context().Err()
		}
		t, err = s.opt.Routes.Table(r.Context(), 0) // timed out: answer the current table
		if err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// appLogs streams an app's log lines as text: ?lines=N (default 100),
// ?follow=1 to keep streaming, ?ps=web or ?ps=web.2 to filter.
func (s *server) appLogs(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	q := r.URL.Query()
	a, err := s.opt.Store.App(r.Context(), r.PathValue("app"))
	if err != nil {
		return err
	}
	o := logs.Options{App: a.Name, Dir: s.opt.LogDir, Follow: q.Get("follow") == "1" || q.Get("follow") == "true", Process: q.Get("ps"),
		Since: a.CreatedAt, Gone: s.appGone(a)}
	if v := q.Get("lines"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return controller.Errorf(controller.ErrInvalid, "invalid lines %q: want 1 to 10000", clip(v))
		}
		o.Lines = n
	}
	if o.Process != "" {
		typ, num, hasNum := strings.Cut(o.Process, ".")
		if err := controller.ValidateProcessType(typ); err != nil {
			return err
		}
		if n, err := strconv.Atoi(num); hasNum && (err != nil || n < 1) {
			return controller.Errorf(controller.ErrInvalid, "invalid process %q: use TYPE or TYPE.N, e.g. web or web.2", clip(o.Process))
		}
	}
	if s.opt.Events != nil {
		app := o.App
		o.Events = func() []controller.Event { return s.opt.Events(app) }
	}
	if o.Dir == "" {
		o.Dir = os.DevNull // no runtime: no instance files
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if o.Follow {
		// A followed log may stream longer than the server's write timeout.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	}
	w.WriteHeader(http.StatusOK)
	fw := flushWriter{w}
	if err := logs.Write(r.Context(), fw, o); err != nil {
		s.log.Warn("log stream ended", "app", o.App, "err", err)
	}
	return nil
}

// appGone returns a function that tells, at most once a second, whether
// app a was destroyed (or replaced by a new app of its name): a followed
// log then ends.
func (s *server) appGone(a controller.App) func() bool {
	var last time.Time
	gone := false
	return func() bool {
		if gone || time.Since(last) < time.Second {
			return gone
		}
		last = time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		now, err := s.opt.Store.App(ctx, a.Name)
		gone = controller.HTTPStatus(err) == http.StatusNotFound || err == nil && !now.CreatedAt.Equal(a.CreatedAt)
		return gone
	}
}

type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) { return f.w.Write(p) }
func (f flushWriter) Flush()                      { _ = http.NewResponseController(f.w).Flush() }

// ExitCodeTrailer carries a one-off run's exit code after its output.
const ExitCodeTrailer = "Paas-Exit-Code"

// run starts a one-off command. Detached, it answers 202 at once;
// attached, it streams the output as text and sends the exit code in the
// Paas-Exit-Code trailer.
func (s *server) run(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	var in controller.RunRequest
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if s.opt.Run == nil {
		return controller.Errorf(controller.ErrInvalid, "this server runs no apps (no container runtime)")
	}
	if strings.TrimSpace(in.Command) == "" {
		return controller.Errorf(controller.ErrInvalid, "no command given: paas run -- COMMAND")
	}
	if strings.ContainsRune(in.Command, 0) || len(in.Command) > 16<<10 {
		return controller.Errorf(controller.ErrInvalid, "the command must be text of at most 16 KiB")
	}
	app := r.PathValue("app")
	if in.Detached {
		if _, err := s.opt.Run(r.Context(), app, in.Command, true, io.Discard); err != nil {
			return err
		}
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "started"})
		return nil
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Trailer", ExitCodeTrailer)
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.WriteHeader(http.StatusOK)
	code, err := s.opt.Run(r.Context(), app, in.Command, false, flushWriter{w})
	if err != nil {
		fmt.Fprintf(w, "paas: %v\n", err)
		code = 255
	}
	w.Header().Set(ExitCodeTrailer, strconv.Itoa(code))
	return nil
}

// restart replaces an app's instances, all or of one process type, as a
// rolling restart.
func (s *server) restart(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	var in struct {
		Type string `json:"type,omitempty"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if s.opt.Restart == nil {
		return controller.Errorf(controller.ErrInvalid, "this server runs no apps (no container runtime)")
	}
	app := r.PathValue("app")
	procs, err := s.opt.Store.Formation(r.Context(), app)
	if err != nil {
		return err
	}
	if in.Type != "" {
		found := false
		for _, p := range procs {
			found = found || p.Type == in.Type
		}
		if !found {
			return controller.Errorf(controller.ErrInvalid, "%s has no process type %s", app, clip(in.Type))
		}
	}
	if err := s.opt.Restart(r.Context(), app, in.Type); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "restarting"})
	return nil
}

func (s *server) listHealthChecks(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	hs, err := s.opt.Store.HealthChecks(r.Context(), r.PathValue("app"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hs)
	return nil
}

func (s *server) setHealthCheck(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	var in controller.HealthCheck
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Type != "" && in.Type != r.PathValue("type") {
		return controller.Errorf(controller.ErrInvalid, "the body's type %q differs from the path's %q", clip(in.Type), clip(r.PathValue("type")))
	}
	in.Type = r.PathValue("type")
	if err := s.opt.Store.SetHealthCheck(r.Context(), who, r.PathValue("app"), in, false); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, in)
	return nil
}

func (s *server) unsetHealthCheck(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	if err := s.opt.Store.SetHealthCheck(r.Context(), who, r.PathValue("app"), controller.HealthCheck{Type: r.PathValue("type")}, true); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
