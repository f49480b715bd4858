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
	ch      chan router.AccessEntry
	dropped atomic.Int64
	files   map[string]*os.File // owned by run
}

func newAccessLog(dir string) *accessLog {
	return &accessLog{dir: dir, ch: make(chan router.AccessEntry, 10000), files: map[string]*os.File{}}
}

func (l *accessLog) add(e router.AccessEntry) {
	select {
	case l.ch <- e:
	default:
		l.dropped.Add(1)
	}
}

func (l *accessLog) run(ctx context.Context) {
	defer func() {
		for _, f := range l.files {
			f.Close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-l.ch:
			if controller.ValidateAppName(e.App) != nil {
				continue
			}
			f := l.files[e.App]
			if f == nil {
				var err error
				f, err = os.OpenFile(filepath.Join(l.dir, e.App+".router.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
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
}
