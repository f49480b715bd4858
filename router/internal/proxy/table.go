package proxy

import (
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"

	"github.com/traefik/traefik/v2/pkg/middlewares/requestdecorator"
	muxhttp "github.com/traefik/traefik/v2/pkg/muxer/http"

	"paas/controller"
)

// Table serves one routing table. It is immutable once built and safe for
// concurrent use.
type Table struct {
	p         *Proxy
	decorator *requestdecorator.RequestDecorator
	// exact maps a lower-case host name to its app: O(1) whatever the number
	// of apps, where the muxer tries its rules one by one.
	exact map[string]*app
	// wildcards holds one HostRegexp rule per wildcard domain, the most
	// specific first; nil when the table has none.
	wildcards *muxhttp.Muxer
	// apiHosts are the server's own host names (the table's APIHosts):
	// never an app's, whatever domains the apps list.
	apiHosts map[string]bool
}

// hostname is a lower-case DNS name, optionally a wildcard of one label.
var hostname = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Build makes the handler for t. Apps with no domains answer at
// <app>.<base>, where base is t.BaseDomain or else defaultBase. Domains
// that are not valid host names, domains already taken by an app earlier
// in the table, names under another app's default domain
// (login.<other>.<base>) and the table's APIHosts are skipped and logged;
// they never fail the build. A request for one of the APIHosts is never routed to an
// app, not even by a wildcard that covers it.
func (p *Proxy) Build(t controller.RoutingTable, defaultBase string) (*Table, error) {
	tb := &Table{
		p:         p,
		decorator: requestdecorator.New(nil),
		exact:     make(map[string]*app, len(t.Apps)),
		apiHosts:  make(map[string]bool, len(t.APIHosts)),
	}
	for _, h := range t.APIHosts {
		tb.apiHosts[canonicalHost(h)] = true
	}
	base := t.BaseDomain
	if base == "" {
		base = defaultBase
	}
	type wildcard struct {
		domain string
		app    *app
	}
	var wild []wildcard
	taken := make(map[string]string) // wildcard domain -> app
	for _, ar := range t.Apps {
		a := p.newApp(ar)
		domains := ar.Domains
		if len(domains) == 0 && base != "" {
			domains = []string{ar.App + "." + base}
		}
		for _, d := range domains {
			d = strings.TrimSuffix(strings.ToLower(d), ".")
			if !hostname.MatchString(d) {
				p.cfg.Logger.Warn("skipping invalid domain", "app", ar.App, "domain", d)
				continue
			}
			if owner, ok := controller.DefaultDomainOwner(d, base); ok && owner != ar.App {
				p.cfg.Logger.Warn("skipping domain: it is under another app's default domain", "app", ar.App, "domain", d, "owner", owner)
				continue
			}
			if strings.HasPrefix(d, "*.") {
				if other, dup := taken[d]; dup {
					p.cfg.Logger.Warn("skipping domain taken by another app", "app", ar.App, "domain", d, "owner", other)
					continue
				}
				taken[d] = ar.App
				wild = append(wild, wildcard{d, a})
				continue
			}
			if tb.apiHosts[d] {
				p.cfg.Logger.Warn("skipping domain: it is a host name of the API", "app", ar.App, "domain", d)
				continue
			}
			if other, dup := tb.exact[d]; dup {
				p.cfg.Logger.Warn("skipping domain taken by another app", "app", ar.App, "domain", d, "owner", other.name)
				continue
			}
			tb.exact[d] = a
		}
	}
	if len(wild) > 0 {
		m, err := muxhttp.NewMuxer()
		if err != nil {
			return nil, fmt.Errorf("rule muxer: %w", err)
		}
		m.NotFoundHandler = http.HandlerFunc(tb.notFound)
		for _, w := range wild {
			// *.example.com matches one label: a.example.com, not
			// example.com nor a.b.example.com, as a wildcard certificate does.
			rule := "HostRegexp(`{sub:[a-z0-9-]+}." + w.domain[2:] + "`)"
			// More labels is more specific; the muxer tries higher priorities first.
			prio := 1000*strings.Count(w.domain, ".") + len(w.domain)
			if err := m.AddRoute(rule, prio, w.app); err != nil {
				p.cfg.Logger.Warn("skipping domain", "app", w.app.name, "domain", w.domain, "err", err)
			}
		}
		m.SortRoutes()
		tb.wildcards = m
	}
	return tb, nil
}

// ServeHTTP routes r by its Host.
func (t *Table) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := canonicalHost(r.Host)
	if a, ok := t.exact[host]; ok {
		a.ServeHTTP(w, r)
		return
	}
	if t.apiHosts[host] {
		t.notFound(w, r)
		return
	}
	if t.wildcards != nil {
		// The muxer's Host rules match the host the decorator puts in the
		// request's context (a copy of the request): only wildcards need it.
		t.decorator.ServeHTTP(w, r, t.wildcards.ServeHTTP)
		return
	}
	t.notFound(w, r)
}

// canonicalHost is the host of a Host header as traefik's request
// decorator canonicalises it (no port, no IPv6 brackets, trimmed, lower
// case), without a trailing dot. It allocates only for a host not already
// in lower case.
func canonicalHost(h string) string {
	if strings.Contains(h, ":") {
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		} else if h[0] == '[' && h[len(h)-1] == ']' {
			h = h[1 : len(h)-1]
		}
	}
	h = strings.ToLower(strings.TrimSpace(h))
	if n := len(h); n > 0 && h[n-1] == '.' {
		h = h[:n-1]
	}
	return h
}

// IsAPIHost tells whether host (a Host header) is one of the table's
// APIHosts, which no app may have.
func (t *Table) IsAPIHost(host string) bool {
	return len(t.apiHosts) > 0 && t.apiHosts[canonicalHost(host)]
}

func (t *Table) notFound(w http.ResponseWriter, r *http.Request) {
	t.p.cfg.Metrics.unknownHost.Inc()
	writeError(w, r, http.StatusNotFound, requestID(r.Header.Get("X-Request-Id")))
}
