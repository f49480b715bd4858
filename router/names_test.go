package router_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"paas/controller"
	"paas/router"
)

// certFor makes a self-signed certificate for names, PEM-encoded with its
// key; its serial number tells it apart in a handshake.
func certFor(t *testing.T, serial int64, names ...string) controller.TLSCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return controller.TLSCert{
		CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		KeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})),
	}
}

// servedSerial returns the serial number of the certificate the router
// picks for a TLS handshake naming sni, or 0 when it has none.
func servedSerial(t *testing.T, r *router.Router, sni string) int64 {
	t.Helper()
	c, err := r.GetCertificate(&tls.ClientHelloInfo{ServerName: sni})
	if err != nil || c == nil {
		return 0
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf.SerialNumber.Int64()
}

// TestAPIHostsAreNeverAnApps: an app whose route lists the API's host
// name, or a wildcard that covers it, does not get that name's requests,
// certificate or ACME certificate, whether the name comes from the table
// (the controller's --api-hosts) or from the router's own options (paas
// router --api-hosts); its other names keep working.
func TestAPIHostsAreNeverAnApps(t *testing.T) {
	for _, c := range []struct {
		name            string
		table, fromOpts []string
	}{
		{"from the table", []string{"paas.example.com"}, nil},
		{"from the options", nil, []string{"paas.example.com"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, ep := backend(t, "thief")
			r, addr := startRouter(t, router.Options{APIHosts: c.fromOpts,
				ACME: &router.ACMEOptions{DirectoryURL: "http://" + closedAddr(t) + "/directory", CacheDir: t.TempDir()}})
			r.Update(controller.RoutingTable{Version: 1, BaseDomain: "apps.example.com", APIHosts: c.table, Apps: []controller.AppRoute{{
				App:       "thief",
				Domains:   []string{"thief.apps.example.com", "paas.example.com", "*.example.com"},
				Endpoints: []controller.Endpoint{ep},
				Certs:     []controller.TLSCert{certFor(t, 7, "paas.example.com"), certFor(t, 8, "*.example.com")},
			}}})
			for _, h := range []string{"paas.example.com", "PAAS.example.com.", "paas.example.com:80"} {
				if code, _, body := get(t, addr, h, "/", nil); code != http.StatusNotFound || body == "thief" {
					t.Errorf("GET Host: %s = %d %q; want 404, not the app", h, code, body)
				}
			}
			for _, h := range []string{"thief.apps.example.com", "www.example.com"} {
				if code, _, body := get(t, addr, h, "/", nil); code != http.StatusOK || body != "thief" {
					t.Errorf("GET Host: %s = %d %q; want 200 thief", h, code, body)
				}
			}
			if got := servedSerial(t, r, "paas.example.com"); got != 0 {
				t.Errorf("TLS for paas.example.com got the app's certificate %d; want none", got)
			}
			if got := servedSerial(t, r, "www.example.com"); got != 8 {
				t.Errorf("TLS for www.example.com got certificate %d; want the app's wildcard, 8", got)
			}
			// ACME's host policy answers the CA's HTTP-01 challenges: no
			// certificate can be had for the API's name.
			code, _, body := get(t, addr, "paas.example.com", "/.well-known/acme-challenge/token", nil)
			if code != http.StatusForbidden || !strings.Contains(body, "not a custom domain") {
				t.Errorf("ACME challenge for paas.example.com = %d %q; want 403 from the host policy", code, body)
			}
		})
	}
}
