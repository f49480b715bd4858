package api

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
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
	names := leaf.DNSNames
	if len(names) == 0 && leaf.Subject.CommonName != "" {
		names = []string{leaf.Subject.CommonName}
	}
	if len(names) == 0 {
		return store.CertInfo{}, controller.Errorf(controller.ErrInvalid, "the certificate names no host")
	}
	covers := false
	for _, n := range names {
		n = strings.ToLower(n)
		for _, d := range domains {
			if n == d || (strings.HasPrefix(n, "*.") && strings.HasSuffix(d, n[1:]) && !strings.Contains(strings.TrimSuffix(d, n[1:]), ".")) {
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
	c, err := s.opt.Store.AddCert(r.Context(), who, app, ci)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

func (s *server) removeCert(w http.ResponseWriter, r *http.Request, who store.Actor) error {
	if err := s.opt.Store.RemoveCert(r.Context(), who, r.PathValue("app"), strings.ToLower(r.PathValue("name"))); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
