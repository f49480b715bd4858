package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Client speaks to a controller's REST API. Its zero value is not usable;
// make one with NewClient. A Client is safe for concurrent use.
type Client struct {
	base  string // e.g. http://host:8000, no trailing slash
	token string
	http  *http.Client
}

// NewClient returns a client of the controller at baseURL that
// authenticates with token (may be empty for the public calls). If hc is
// nil, http.DefaultClient is used.
func NewClient(baseURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, Errorf(ErrInvalid, "invalid controller URL %q: use http://HOST:PORT or https://HOST", baseURL)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimRight(u.String(), "/"), token: token, http: hc}, nil
}

// URL is the controller's base URL.
func (c *Client) URL() string { return c.base }

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the controller at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: bad answer from the controller: %w", method, path, err)
	}
	return nil
}

func decodeError(resp *http.Response) error {
	var e struct {
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(b))
		if e.Error == "" {
			e.Error = resp.Status
		}
	}
	if kind := kindOfStatus(resp.StatusCode); kind != nil {
		return &Error{Kind: kind, Msg: e.Error}
	}
	return fmt.Errorf("controller error (%s): %s", resp.Status, e.Error)
}

func appPath(app string, parts ...string) string {
	p := "/v1/apps/" + url.PathEscape(app)
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// Info returns the controller's public description.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var i Info
	return i, c.do(ctx, "GET", "/v1/info", nil, &i)
}

// Health returns the server's health. A degraded server answers 503 with
// the same body, which is returned together with an error.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/healthz", nil)
	if err != nil {
		return h, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token) // an admin's sees the components
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return h, fmt.Errorf("cannot reach the controller at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return h, fmt.Errorf("bad health answer: %w", err)
	}
	if h.Status != "ok" {
		return h, errors.New("server is " + h.Status)
	}
	return h, nil
}

// Me returns the user the client's token belongs to.
func (c *Client) Me(ctx context.Context) (User, error) {
	var u User
	return u, c.do(ctx, "GET", "/v1/me", nil, &u)
}

// Apps lists the apps the user may see: all for an admin, else those they
// own or collaborate on.
func (c *Client) Apps(ctx context.Context) ([]App, error) {
	var a []App
	return a, c.do(ctx, "GET", "/v1/apps", nil, &a)
}

// CreateApp creates an app owned by the caller. An empty name asks the
// server to choose one (the API refuses an explicitly empty name).
func (c *Client) CreateApp(ctx context.Context, name string) (App, error) {
	body := map[string]string{}
	if name != "" {
		body["name"] = name
	}
	var a App
	return a, c.do(ctx, "POST", "/v1/apps", body, &a)
}

// App returns an app with its formation, domains and current release.
func (c *Client) App(ctx context.Context, name string) (AppInfo, error) {
	var a AppInfo
	return a, c.do(ctx, "GET", appPath(name), nil, &a)
}

// DestroyApp deletes an app and everything that belongs to it.
func (c *Client) DestroyApp(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", appPath(name), nil, nil)
}

// Config returns an app's config vars.
func (c *Client) Config(ctx context.Context, app string) (map[string]string, error) {
	var m map[string]string
	return m, c.do(ctx, "GET", appPath(app, "config"), nil, &m)
}

// SetConfig sets the vars with a non-nil value and unsets those with nil,
// in one change.
func (c *Client) SetConfig(ctx context.Context, app string, vars map[string]*string) (ConfigChange, error) {
	var cc ConfigChange
	return cc, c.do(ctx, "PATCH", appPath(app, "config"), vars, &cc)
}

// Formation returns an app's process types and their scale and limits.
func (c *Client) Formation(ctx context.Context, app string) ([]Process, error) {
	var p []Process
	return p, c.do(ctx, "GET", appPath(app, "formation"), nil, &p)
}

// Scale changes the formation of one or more process types at once.
func (c *Client) Scale(ctx context.Context, app string, updates []ProcessUpdate) ([]Process, error) {
	var p []Process
	return p, c.do(ctx, "PATCH", appPath(app, "formation"), updates, &p)
}

// Releases lists an app's releases, newest first.
func (c *Client) Releases(ctx context.Context, app string) ([]Release, error) {
	var r []Release
	return r, c.do(ctx, "GET", appPath(app, "releases"), nil, &r)
}

// Release returns one release with its config.
func (c *Client) Release(ctx context.Context, app string, version int) (Release, error) {
	var r Release
	return r, c.do(ctx, "GET", appPath(app, "releases", "v"+strconv.Itoa(version)), nil, &r)
}

// CreateRelease releases an existing image with the app's current config.
func (c *Client) CreateRelease(ctx context.Context, app string, nr NewRelease) (Release, error) {
	var r Release
	return r, c.do(ctx, "POST", appPath(app, "releases"), nr, &r)
}

// Rollback makes a new release with the image and config of an earlier
// one; version 0 means the release before the current one.
func (c *Client) Rollback(ctx context.Context, app string, version int) (Release, error) {
	var r Release
	return r, c.do(ctx, "POST", appPath(app, "rollback"), Rollback{Version: version}, &r)
}

// Builds lists an app's builds, newest first.
func (c *Client) Builds(ctx context.Context, app string) ([]Build, error) {
	var b []Build
	return b, c.do(ctx, "GET", appPath(app, "builds"), nil, &b)
}

// Domains lists an app's custom domains.
func (c *Client) Domains(ctx context.Context, app string) ([]Domain, error) {
	var d []Domain
	return d, c.do(ctx, "GET", appPath(app, "domains"), nil, &d)
}

// AddDomain routes a host name to an app.
func (c *Client) AddDomain(ctx context.Context, app, name string) (Domain, error) {
	var d Domain
	return d, c.do(ctx, "POST", appPath(app, "domains"), map[string]string{"name": name}, &d)
}

// UpdateApp changes an app's HTTP settings; nil fields are left as they are.
func (c *Client) UpdateApp(ctx context.Context, app string, u AppUpdate) (App, error) {
	var a App
	return a, c.do(ctx, "PATCH", appPath(app), u, &a)
}

// RemoveDomain stops routing a host name to an app.
func (c *Client) RemoveDomain(ctx context.Context, app, name string) error {
	return c.do(ctx, "DELETE", appPath(app, "domains", name), nil, nil)
}

// Collaborators lists the users who may work on an app besides its owner.
func (c *Client) Collaborators(ctx context.Context, app string) ([]Collaborator, error) {
	var cs []Collaborator
	return cs, c.do(ctx, "GET", appPath(app, "collaborators"), nil, &cs)
}

// AddCollaborator gives a user access to an app.
func (c *Client) AddCollaborator(ctx context.Context, app, user string) (Collaborator, error) {
	var co Collaborator
	return co, c.do(ctx, "POST", appPath(app, "collaborators"), map[string]string{"user": user}, &co)
}

// RemoveCollaborator takes a user's access to an app away.
func (c *Client) RemoveCollaborator(ctx context.Context, app, user string) error {
	return c.do(ctx, "DELETE", appPath(app, "collaborators", user), nil, nil)
}

// Keys lists the caller's SSH keys.
func (c *Client) Keys(ctx context.Context) ([]Key, error) {
	var k []Key
	return k, c.do(ctx, "GET", "/v1/keys", nil, &k)
}

// AddKey adds an SSH public key, in authorized_keys form, to the caller.
func (c *Client) AddKey(ctx context.Context, publicKey string) (Key, error) {
	var k Key
	return k, c.do(ctx, "POST", "/v1/keys", map[string]string{"public_key": publicKey}, &k)
}

// RemoveKey removes one of the caller's SSH keys.
func (c *Client) RemoveKey(ctx context.Context, id int64) error {
	return c.do(ctx, "DELETE", "/v1/keys/"+strconv.FormatInt(id, 10), nil, nil)
}

// Tokens lists the caller's API tokens (never their secrets).
func (c *Client) Tokens(ctx context.Context) ([]Token, error) {
	var t []Token
	return t, c.do(ctx, "GET", "/v1/tokens", nil, &t)
}

// CreateToken makes a new API token for the caller.
func (c *Client) CreateToken(ctx context.Context, description string) (NewToken, error) {
	var t NewToken
	return t, c.do(ctx, "POST", "/v1/tokens", map[string]string{"description": description}, &t)
}

// RevokeToken revokes one of the caller's tokens.
func (c *Client) RevokeToken(ctx context.Context, id int64) error {
	return c.do(ctx, "DELETE", "/v1/tokens/"+strconv.FormatInt(id, 10), nil, nil)
}

// Users lists all users (admin only).
func (c *Client) Users(ctx context.Context) ([]User, error) {
	var u []User
	return u, c.do(ctx, "GET", "/v1/users", nil, &u)
}

// CreateUser creates a user and a first token for them (admin only).
func (c *Client) CreateUser(ctx context.Context, nu NewUser) (CreatedUser, error) {
	var cu CreatedUser
	return cu, c.do(ctx, "POST", "/v1/users", nu, &cu)
}

// DeleteUser deletes a user who owns no apps, with their keys and tokens
// (admin only).
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/v1/users/"+url.PathEscape(name), nil, nil)
}

// SetPassword sets a user's dashboard password; an empty one removes it
// (admin only). The user's sessions end.
func (c *Client) SetPassword(ctx context.Context, name, password string) error {
	return c.do(ctx, "PUT", "/v1/users/"+url.PathEscape(name)+"/password", Password{Password: password}, nil)
}

// UserQuota returns a user's limits and what they use of them (admin
// only).
func (c *Client) UserQuota(ctx context.Context, name string) (UserQuota, error) {
	var q UserQuota
	return q, c.do(ctx, "GET", "/v1/users/"+url.PathEscape(name)+"/limits", nil, &q)
}

// SetUserLimits sets a user's own limits; a nil Apps gives them the
// server's default again (admin only).
func (c *Client) SetUserLimits(ctx context.Context, name string, l UserLimits) (UserQuota, error) {
	var q UserQuota
	return q, c.do(ctx, "PUT", "/v1/users/"+url.PathEscape(name)+"/limits", l, &q)
}

// Audit returns audit events, newest first (admin only).
func (c *Client) Audit(ctx context.Context, q AuditQuery) ([]AuditEvent, error) {
	v := url.Values{}
	if q.App != "" {
		v.Set("app", q.App)
	}
	if q.Actor != "" {
		v.Set("actor", q.Actor)
	}
	if q.Before > 0 {
		v.Set("before", strconv.FormatInt(q.Before, 10))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	path := "/v1/audit"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var ev []AuditEvent
	return ev, c.do(ctx, "GET", path, nil, &ev)
}

// Instances lists an app's instances (paas ps).
func (c *Client) Instances(ctx context.Context, app string) ([]Instance, error) {
	var in []Instance
	return in, c.do(ctx, "GET", appPath(app, "instances"), nil, &in)
}

// Events lists an app's recent platform events, oldest first.
func (c *Client) Events(ctx context.Context, app string) ([]Event, error) {
	var ev []Event
	return ev, c.do(ctx, "GET", appPath(app, "events"), nil, &ev)
}

// Table returns the routing table once its version is greater than after,
// waiting for a change on the server (admin only). It is the router's
// table source when the router runs apart from the controller.
func (c *Client) Table(ctx context.Context, after int64) (RoutingTable, error) {
	var t RoutingTable
	for {
		err := c.do(ctx, "GET", "/v1/routing?after="+strconv.FormatInt(after, 10)+"&wait=25", nil, &t)
		if err != nil || t.Version > after {
			return t, err
		}
	}
}

// LogOptions choose what Logs streams.
type LogOptions struct {
	Lines   int    // past lines; 0 means 100
	Follow  bool   // keep streaming new lines
	Process string // web or web.2; "" for all
}

// Logs writes an app's log lines to w until they end (or, with Follow,
// until ctx ends).
func (c *Client) Logs(ctx context.Context, app string, o LogOptions, w io.Writer) error {
	v := url.Values{}
	if o.Lines > 0 {
		v.Set("lines", strconv.Itoa(o.Lines))
	}
	if o.Follow {
		v.Set("follow", "1")
	}
	if o.Process != "" {
		v.Set("ps", o.Process)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+appPath(app, "logs")+"?"+v.Encode(), nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the controller at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	_, err = io.Copy(w, resp.Body)
	if ctx.Err() != nil {
		return nil // the caller stopped following
	}
	return err
}

// Run runs command in a one-off instance of the app's current release.
// Attached, it copies the output to out and returns the command's exit
// code; detached, it returns once the instance started.
func (c *Client) Run(ctx context.Context, app, command string, detached bool, out io.Writer) (int, error) {
	b, _ := json.Marshal(RunRequest{Command: command, Detached: detached})
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+appPath(app, "run"), bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the controller at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return 0, decodeError(resp)
	}
	if detached {
		return 0, nil
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		return 0, err
	}
	code, err := strconv.Atoi(resp.Trailer.Get("Paas-Exit-Code"))
	if err != nil {
		return 0, errors.New("the run ended without an exit code (connection lost?)")
	}
	return code, nil
}

// Restart replaces an app's instances of a process type ("" for all) as a
// rolling restart: new ones first, old ones once the new are healthy.
func (c *Client) Restart(ctx context.Context, app, process string) error {
	body := map[string]string{}
	if process != "" {
		body["type"] = process
	}
	return c.do(ctx, "POST", appPath(app, "restart"), body, nil)
}

// HealthChecks lists an app's health checks.
func (c *Client) HealthChecks(ctx context.Context, app string) ([]HealthCheck, error) {
	var h []HealthCheck
	return h, c.do(ctx, "GET", appPath(app, "healthchecks"), nil, &h)
}

// SetHealthCheck sets a process type's health check.
func (c *Client) SetHealthCheck(ctx context.Context, app string, h HealthCheck) (HealthCheck, error) {
	var out HealthCheck
	return out, c.do(ctx, "PUT", appPath(app, "healthchecks", h.Type), h, &out)
}

// UnsetHealthCheck removes a process type's health check.
func (c *Client) UnsetHealthCheck(ctx context.Context, app, process string) error {
	return c.do(ctx, "DELETE", appPath(app, "healthchecks", process), nil, nil)
}

// Certs lists an app's TLS certificates.
func (c *Client) Certs(ctx context.Context, app string) ([]Cert, error) {
	var cs []Cert
	return cs, c.do(ctx, "GET", appPath(app, "certs"), nil, &cs)
}

// AddCert uploads a certificate chain and key (PEM) for an app.
func (c *Client) AddCert(ctx context.Context, app string, nc NewCert) (Cert, error) {
	var out Cert
	return out, c.do(ctx, "POST", appPath(app, "certs"), nc, &out)
}

// RemoveCert removes an app's certificate by name.
func (c *Client) RemoveCert(ctx context.Context, app, name string) error {
	return c.do(ctx, "DELETE", appPath(app, "certs", name), nil, nil)
}
