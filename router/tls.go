package router

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strings"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"paas/controller"
)

// certIndex finds an app's certificate by the name a client asks for.
type certIndex struct {
	exact map[string]*tls.Certificate
	wild  map[string]*tls.Certificate // by suffix: ".example.com" for *.example.com
	hosts map[string]bool             // exact custom domains of the table, for ACME
}

// buildCerts parses the table's certificates; a bad one is logged and
// skipped, the rest are served.
func (r *Router) buildCerts(t controller.RoutingTable) *certIndex {
	idx := &certIndex{exact: map[string]*tls.Certificate{}, wild: map[string]*tls.Certificate{}, hosts: map[string]bool{}}
	for _, a := range t.Apps {
		for _, d := range a.Domains {
			if !strings.HasPrefix(d, "*.") {
				idx.hosts[strings.ToLower(d)] = true
			}
		}
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
			for _, n := range names {
				n = strings.ToLower(n)
				if w, ok := strings.CutPrefix(n, "*"); ok {
					idx.wild[w] = &pair
				} else {
					idx.exact[n] = &pair
				}
			}
		}
	}
	return idx
}

// GetCertificate picks the certificate for a TLS handshake by its server
// name (SNI): an exact name first, then a wildcard one label up.
func (r *Router) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	idx := r.certs.Load()
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	if idx != nil {
		if c := idx.exact[name]; c != nil {
			return c, nil
		}
		if i := strings.IndexByte(name, '.'); i > 0 {
			if c := idx.wild[name[i:]]; c != nil {
				return c, nil
			}
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
	if idx == nil || !idx.hosts[host] || host == "localhost" || strings.HasSuffix(host, ".localhost") {
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
