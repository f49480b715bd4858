package serve

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"paas/controller"
	"paas/router"
)

// edge sends each request on the HTTP port either to the API and
// dashboard (its Host is one of the server's own names, --api-hosts, or
// any host that is no app's) or to the router (an app's host:
// <app>.<base-domain>, or a custom domain). The server's own names are
// decided first: no app's domain, exact or wildcard, can take them.
type edge struct {
	base     string
	apiHosts map[string]bool
	router   http.Handler
	api      http.Handler
	custom   atomic.Pointer[hostSet]
}

type hostSet struct {
	exact map[string]bool
	wild  []string // suffixes: ".example.com" for *.example.com
}

func newEdge(base string, apiHosts []string, rt, api http.Handler) *edge {
	e := &edge{base: strings.ToLower(base), apiHosts: map[string]bool{}, router: rt, api: api}
	for _, h := range apiHosts {
		e.apiHosts[controller.CanonicalHost(h)] = true
	}
	e.custom.Store(&hostSet{exact: map[string]bool{}})
	return e
}

// follow keeps the set of custom domains in step with the routing table.
func (e *edge) follow(ctx context.Context, src router.TableSource) {
	var after int64
	for ctx.Err() == nil {
		t, err := src.Table(ctx, after)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		after = t.Version
		hs := &hostSet{exact: map[string]bool{}}
		for _, a := range t.Apps {
			for _, d := range a.Domains {
				if w, ok := strings.CutPrefix(d, "*"); ok {
					hs.wild = append(hs.wild, w)
				} else {
					hs.exact[d] = true
				}
			}
		}
		e.custom.Store(hs)
	}
}

func (e *edge) isApp(host string) bool {
	host = controller.CanonicalHost(host)
	if host == "" || e.apiHosts[host] || net.ParseIP(host) != nil || host == e.base {
		return false
	}
	if strings.HasSuffix(host, "."+e.base) {
		return true
	}
	hs := e.custom.Load()
	if hs.exact[host] {
		return true
	}
	for _, w := range hs.wild {
		if strings.HasSuffix(host, w) && !strings.Contains(strings.TrimSuffix(host, w), ".") {
			return true
		}
	}
	return false
}

func (e *edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.isApp(r.Host) {
		e.router.ServeHTTP(w, r)
		return
	}
	e.api.ServeHTTP(w, r)
}

// accessLog writes the router's access lines into each app's log stream
// (<log dir>/<app>.router.log, in the log driver's line format) from a
// goroutine of its own, so requests never wait on the disk; when it falls
// behind, lines are dropped and counted.
type accessLog struct {
	dir     string
	ch      chan accessItem
	dropped atomic.Int64
	files   map[string]*os.File // owned by run
}

// accessItem is a line to write, or an app whose file to remove.
type accessItem struct {
	e      router.AccessEntry
	forget string        // an app destroyed: close and remove its file
	done   chan struct{} // closed when forget is done
}

func newAccessLog(dir string) *accessLog {
	return &accessLog{dir: dir, ch: make(chan accessItem, 10000), files: map[string]*os.File{}}
}

func (l *accessLog) add(e router.AccessEntry) {
	select {
	case l.ch <- accessItem{e: e}:
	default:
		l.dropped.Add(1)
	}
}

// forget closes and removes a destroyed app's access log, after the lines
// queued before it are written: none of them reaches a later app of the
// same name. It waits until that is done or ctx ends.
func (l *accessLog) forget(ctx context.Context, app string) error {
	it := accessItem{forget: app, done: make(chan struct{})}
	select {
	case l.ch <- it:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-it.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *accessLog) path(app string) string { return filepath.Join(l.dir, app+".router.log") }

func (l *accessLog) run(ctx context.Context) {
	defer func() {
		for _, f := range l.files {
			f.Close()
		}
	}()
	for {
		var it accessItem
		select {
		case <-ctx.Done():
			return
		case it = <-l.ch:
		}
		if it.forget != "" {
			if f := l.files[it.forget]; f != nil {
				f.Close()
				delete(l.files, it.forget)
			}
			if controller.ValidateAppName(it.forget) == nil {
				_ = os.Remove(l.path(it.forget))
			}
			close(it.done)
			continue
		}
		e := it.e
		if controller.ValidateAppName(e.App) != nil {
			continue
		}
		f := l.files[e.App]
		if f == nil {
			var err error
			f, err = os.OpenFile(l.path(e.App), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			if err != nil {
				continue
			}
			l.files[e.App] = f
		}
		fmt.Fprintf(f, "%s stdout at=info method=%s path=%q host=%s instance=%s status=%d bytes=%d duration=%s request_id=%s fwd=%s\n",
			e.Time.UTC().Format(time.RFC3339Nano), e.Method, e.Path, e.Host, e.Instance, e.Status, e.Bytes,
			e.Duration.Round(time.Microsecond), e.RequestID, e.RemoteAddr)
	}
}
