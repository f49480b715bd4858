package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"slices"
	"strings"
	"time"

	"paas/controller"
	"paas/controller/internal/store"
)

// ParseCert checks an uploaded certificate: PEM, a key that matches, not
// expired, and naming at least one of the app's domains (domains holds
// them: the default one and the custom ones).
func ParseCert(nc controller.NewCert, domains []string, now time.Time) (store.CertInfo, error) {
	pair, err := tls.X509KeyPair([]byte(nc.CertPEM), []byte(nc.KeyPEM))
	if err != nil {
		return store.CertInfo{}, controller.Errorf(controller.ErrInvalid, "not a usable certificate and key: %v (give the PEM chain, leaf first, and its private key)", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return store.CertInfo{}, controller.Errorf(controller.ErrInvalid, "cannot read the certificate: %v", err)
	}
	if now.After(leaf.NotAfter) {
		return store.CertInfo{}, controller.Errorf(controller.ErrInvalid, "the certificate expired on %s", leaf.NotAfter.Format(time.DateOnly))
	}
	names := slices.Clone(leaf.DNSNames)
	if len(names) == 0 && leaf.Subject.CommonName != "" {
		names = []string{leaf.Subject.CommonName}
	}
	if len(names) == 0 {
		return store.CertInfo{}, controller.Errorf(controller.ErrInvalid, "the certificate names no host")
	}
	for i, n := range names {
		names[i] = strings.TrimSuffix(strings.ToLower(n), ".")
	}
	covers := false
	for _, n := range names {
		for _, d := range domains {
			if controller.DomainCovers(n, d) || controller.DomainCovers(d, n) {
				covers = true
			}
		}
	}
	if !covers {
		return store.CertInfo{}, controller.Errorf(controller.ErrInvalid, "the certificate is for %s, none of which is a domain of the app (%s): add the domain first",
			strings.Join(names, ", "), strings.Join(domains, ", "))
	}
	return store.CertInfo{
		Cert:    controller.Cert{Name: strings.ToLower(names[0]), Domains: names, Issuer: leaf.Issuer.String(), NotAfter: leaf.NotAfter},
		CertPEM: nc.CertPEM, KeyPEM: nc.KeyPEM,
	}, nil
}

func (s *server) listCerts(w http.ResponseWriter, r *http.Request, _ store.Actor) error {
	cs, err := s.opt.Store.Certs(r.Context(), r.PathValue("app"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cs)
	return nil
}

func (s *server) addCert(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	var in controller.NewCert
	if err := decode(w, r, &in); err != nil {
		return err
	}
	app := r.PathValue("app")
	ds, err := s.opt.Store.Domains(r.Context(), app)
	if err != nil {
		return err
	}
	domains := []string{app + "." + s.opt.BaseDomain}
	for _, d := range ds {
		domains = append(domains, d.Name)
	}
	ci, err := ParseCert(in, domains, time.Now())
	if err != nil {
		return err
	}
	if err := s.checkCertNames(r.Context(), app, ci.Domains); err != nil {
		return err
	}
	c, err := s.opt.Store.AddCert(r.Context(), who, app, ci)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

// checkCertNames refuses a certificate of app that names a domain another
// app holds, a name under another app's default domain, or one of the
// server's own host names. (A wildcard that merely covers such names is
// accepted: the router serves a certificate only for names its app holds.)
func (s *server) checkCertNames(ctx context.Context, app string, names []string) error {
	all, err := s.opt.Store.AllDomains(ctx)
	if err != nil {
		return err
	}
	holder := make(map[string]string, len(all))
	for _, d := range all {
		holder[d.Name] = d.App
	}
	for _, n := range names {
		if slices.Contains(s.opt.APIHosts, n) {
			return controller.Errorf(controller.ErrInvalid, "the certificate names %s, a host name of this paas server's API: no app may hold a certificate for it", n)
		}
		if other, ok := holder[n]; ok && other != app {
			return controller.Errorf(controller.ErrInvalid, "the certificate names %s, a domain of another app: give a certificate for this app's domains only", n)
		}
		if owner, ok := controller.DefaultDomainOwner(n, s.opt.BaseDomain); ok && owner != app {
			return controller.Errorf(controller.ErrInvalid, "the certificate names %s, which belongs to the app %s (%s.%s and every name under it): give a certificate for this app's domains only", n, owner, owner, s.opt.BaseDomain)
		}
	}
	return nil
}

func (s *server) removeCert(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	if err := s.opt.Store.RemoveCert(r.Context(), who, r.PathValue("app"), strings.ToLower(r.PathValue("name"))); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
