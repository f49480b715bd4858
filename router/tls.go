package router

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"paas/controller"
)

// certIndex finds an app's certificate by the name a client asks for. A
// certificate is indexed only under names its own app holds, as the
// router routes them: an exact domain of the app (the default one
// included), a name under a wildcard domain of the app that no app holds
// exactly, or that wildcard itself. Whatever names a certificate lists, it
// is never served for another app's name nor for the API's.
type certIndex struct {
	exact  map[string]*tls.Certificate // by host name
	wild   map[string]*tls.Certificate // by suffix: ".example.com" for *.example.com
	routed map[string]bool             // every app's exact domains: never answered from wild
	hosts  map[string]bool             // exact custom domains of the table, for ACME
	api    map[string]bool             // the table's APIHosts: no app's certificate, no ACME
}

// appCert is a parsed certificate and the names it lists, lower case.
type appCert struct {
	pair  *tls.Certificate
	names []string
}

// buildCerts parses the table's certificates and indexes each under the
// names its app holds; a bad one is logged and skipped, the rest are
// served.
func (r *Router) buildCerts(t controller.RoutingTable) *certIndex {
	idx := &certIndex{exact: map[string]*tls.Certificate{}, wild: map[string]*tls.Certificate{},
		routed: map[string]bool{}, hosts: map[string]bool{}, api: map[string]bool{}}
	for _, h := range t.APIHosts {
		idx.api[h] = true
	}
	base := t.BaseDomain
	if base == "" {
		base = r.opts.BaseDomain
	}
	// Who holds each name, as the proxy's table decides: the first app to
	// list it; the API's names are no app's, and names under an app's
	// default domain that app's only.
	exactOwner, wildOwner := map[string]string{}, map[string]string{}
	domains := make([][]string, len(t.Apps))
	for i, a := range t.Apps {
		ds := a.Domains
		if len(ds) == 0 {
			ds = []string{a.App + "." + base}
		}
		for _, d := range ds {
			d = strings.TrimSuffix(strings.ToLower(d), ".")
			if owner, ok := controller.DefaultDomainOwner(d, base); idx.api[d] || ok && owner != a.App {
				continue // as the proxy's table: the API's, or under another app's default domain
			}
			domains[i] = append(domains[i], d)
			if w, ok := strings.CutPrefix(d, "*"); ok {
				if _, taken := wildOwner[w]; !taken {
					wildOwner[w] = a.App
				}
				continue
			}
			if _, taken := exactOwner[d]; !taken {
				exactOwner[d] = a.App
			}
			idx.routed[d] = true
			idx.hosts[d] = true
		}
	}
	for i, a := range t.Apps {
		var certs []appCert
		for _, c := range a.Certs {
			pair, err := tls.X509KeyPair([]byte(c.CertPEM), []byte(c.KeyPEM))
			if err != nil {
				r.log.Warn("skipping an unusable certificate", "app", a.App, "err", err)
				continue
			}
			leaf, err := x509.ParseCertificate(pair.Certificate[0])
			if err != nil {
				r.log.Warn("skipping an unreadable certificate", "app", a.App, "err", err)
				continue
			}
			pair.Leaf = leaf
			names := leaf.DNSNames
			if len(names) == 0 {
				names = []string{leaf.Subject.CommonName}
			}
			ac := appCert{pair: &pair}
			for _, n := range names {
				ac.names = append(ac.names, strings.TrimSuffix(strings.ToLower(n), "."))
			}
			certs = append(certs, ac)
		}
		// A certificate's own names first: exact names the app holds
		// (exactly, or under its wildcard when no app holds them exactly)
		// and wildcards the app holds.
		for _, c := range certs {
			for _, n := range c.names {
				if w, ok := strings.CutPrefix(n, "*"); ok {
					if wildOwner[w] == a.App && later(c.pair, idx.wild[w]) {
						idx.wild[w] = c.pair
					}
					continue
				}
				holder, ok := exactOwner[n]
				if !ok && !idx.api[n] {
					if i := strings.IndexByte(n, '.'); i > 0 {
						holder = wildOwner[n[i:]]
					}
				}
				if holder == a.App && later(c.pair, idx.exact[n]) {
					idx.exact[n] = c.pair
				}
			}
		}
		// Then the app's exact domains that only a wildcard certificate
		// of the app covers.
		for _, d := range domains[i] {
			if strings.HasPrefix(d, "*") || exactOwner[d] != a.App || idx.exact[d] != nil {
				continue
			}
			for _, c := range certs {
				if slices.ContainsFunc(c.names, func(n string) bool { return controller.DomainCovers(n, d) }) {
					idx.exact[d] = c.pair
					break
				}
			}
		}
	}
	return idx
}

// later tells whether c should replace cur, an app's certificate for the
// same name: when there is none yet, or c expires later (a renewal
// uploaded next to the old one).
func later(c, cur *tls.Certificate) bool {
	return cur == nil || c.Leaf.NotAfter.After(cur.Leaf.NotAfter)
}

// lookup returns the certificate for name, or nil.
func (idx *certIndex) lookup(name string) *tls.Certificate {
	if c := idx.exact[name]; c != nil {
		return c
	}
	if idx.routed[name] || idx.api[name] {
		return nil // held by an app that has no certificate for it, or the API's
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		return idx.wild[name[i:]]
	}
	return nil
}

// GetCertificate picks the certificate for a TLS handshake by its server
// name (SNI): the certificate of the app that holds the name (see
// certIndex), else one from ACME, else none.
func (r *Router) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	idx := r.certs.Load()
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	if idx != nil && idx.api[name] {
		return nil, fmt.Errorf("no certificate for %q: it is a host name of the API", name)
	}
	if idx != nil {
		if c := idx.lookup(name); c != nil {
			return c, nil
		}
	}
	if r.acme != nil {
		return r.acme.GetCertificate(hello)
	}
	return nil, fmt.Errorf("no certificate for %q", name)
}

// ACMEOptions turn on automatic certificates: for an app's domain with no
// uploaded certificate, one is obtained over ACME (HTTP-01) on the first
// TLS handshake that asks for it, and renewed before it expires.
type ACMEOptions struct {
	DirectoryURL string       // the CA's ACME directory
	Email        string       // contact for the account; may be empty
	CacheDir     string       // keeps the account and certificates
	HTTPClient   *http.Client // to reach the CA; if nil, http.DefaultClient
}

func newACME(o *ACMEOptions, policy autocert.HostPolicy) *autocert.Manager {
	return &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(o.CacheDir),
		HostPolicy: policy,
		Email:      o.Email,
		Client:     &acme.Client{DirectoryURL: o.DirectoryURL, HTTPClient: o.HTTPClient},
	}
}

// acmePolicy allows certificates only for the table's custom domains: not
// for wildcards (HTTP-01 cannot prove them), not for names under
// localhost, not for hosts no app has.
func (r *Router) acmePolicy(_ context.Context, host string) error {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h // HTTP-01 requests name the port when it is not 80
	}
	host = strings.ToLower(host)
	idx := r.certs.Load()
	if idx == nil || !idx.hosts[host] || idx.api[host] || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("acme: %q is not a custom domain of an app", host)
	}
	return nil
}

// ACMEHandler answers the CA's HTTP-01 challenges on the HTTP side and
// hands every other request to next. Without ACME it is next.
func (r *Router) ACMEHandler(next http.Handler) http.Handler {
	if r.acme == nil {
		return next
	}
	return r.acme.HTTPHandler(next)
}

// TLSConfig is the TLS set-up of the router's HTTPS side: certificates by
// SNI from the routing table, TLS 1.2 or newer, HTTP/2.
func (r *Router) TLSConfig() *tls.Config {
	c := &tls.Config{
		GetCertificate: r.GetCertificate,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	if r.acme != nil {
		c.NextProtos = append(c.NextProtos, acme.ALPNProto) // for tls-alpn-01 challenges
	}
	return c
}

// ServeTLS serves HTTPS on ln, as Serve serves HTTP.
func (r *Router) ServeTLS(ctx context.Context, ln net.Listener) error {
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		r.SetHTTPSPort(a.Port)
	}
	srv := r.newServer()
	srv.TLSConfig = r.TLSConfig()
	ln = r.LimitListener(ln) // MaxConnsPerClient, counted with Serve's
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("router: serve TLS: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	return err
}
