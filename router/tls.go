package router

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"

	"paas/controller"
)

// certIndex finds an app's certificate by the name a client asks for.
type certIndex struct {
	exact map[string]*tls.Certificate
	wild  map[string]*tls.Certificate // by suffix: ".example.com" for *.example.com
}

// buildCerts parses the table's certificates; a bad one is logged and
// skipped, the rest are served.
func (r *Router) buildCerts(t controller.RoutingTable) *certIndex {
	idx := &certIndex{exact: map[string]*tls.Certificate{}, wild: map[string]*tls.Certificate{}}
	for _, a := range t.Apps {
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
	return nil, fmt.Errorf("no certificate for %q", name)
}

// TLSConfig is the TLS set-up of the router's HTTPS side: certificates by
// SNI from the routing table, TLS 1.2 or newer, HTTP/2.
func (r *Router) TLSConfig() *tls.Config {
	return &tls.Config{
		GetCertificate: r.GetCertificate,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// ServeTLS serves HTTPS on ln, as Serve serves HTTP.
func (r *Router) ServeTLS(ctx context.Context, ln net.Listener) error {
	srv := r.newServer()
	srv.TLSConfig = r.TLSConfig()
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
