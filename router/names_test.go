package router_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"paas/controller"
	"paas/router"
)

// certFor makes a self-signed certificate for names, PEM-encoded with its
// key, valid for a day; its serial number tells it apart in a handshake.
func certFor(t *testing.T, serial int64, names ...string) controller.TLSCert {
	t.Helper()
	return certUntil(t, serial, time.Now().Add(24*time.Hour), names...)
}

// certUntil is certFor with an expiry.
func certUntil(t *testing.T, serial int64, notAfter time.Time, names ...string) controller.TLSCert {
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
		NotAfter:     notAfter,
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

// handshakeSerial makes a TLS handshake with the router's HTTPS side at
// addr naming sni, and returns the serial number of the certificate it
// is shown, or 0 when the router has none for sni (the handshake fails).
func handshakeSerial(t *testing.T, addr, sni string) int64 {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		if strings.Contains(err.Error(), "internal error") {
			return 0 // the server's alert when GetCertificate has nothing
		}
		t.Fatalf("TLS handshake for %s: %v", sni, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestCertsServedOnlyForTheirAppsNames: a certificate is served only for
// names its own app holds. Another app's names listed in it (exact ones,
// other apps' default domains, a wildcard over them) get that app's own
// certificate or none, even when the owner has none; a name under an
// app's wildcard that another app holds exactly is the other app's.
func TestCertsServedOnlyForTheirAppsNames(t *testing.T) {
	r, err := router.New(router.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.Update(controller.RoutingTable{Version: 1, BaseDomain: "apps.example.com", Apps: []controller.AppRoute{
		{App: "aaa-evil", Domains: []string{"aaa-evil.apps.example.com"},
			Certs: []controller.TLSCert{certFor(t, 1, "aaa-evil.apps.example.com", "shop.example.com", "shop.apps.example.com",
				"*.apps.example.com", "login.zone.example.com", "api.multi.example.com")}},
		{App: "multi", Domains: []string{"multi.apps.example.com", "multi.example.com", "www.multi.example.com"},
			Certs: []controller.TLSCert{certFor(t, 3, "*.multi.example.com"), certFor(t, 4, "multi.example.com")}},
		{App: "shop", Domains: []string{"shop.apps.example.com", "shop.example.com", "shop.example.org"},
			Certs: []controller.TLSCert{certFor(t, 5, "shop.example.org")}},
		{App: "squatter", Domains: []string{"squatter.apps.example.com", "login.zone.example.com"}},
		{App: "renew", Domains: []string{"renew.example.com"}, // a renewal uploaded next to the old certificate
			Certs: []controller.TLSCert{certFor(t, 12, "renew.example.com"), certUntil(t, 13, time.Now().Add(90*24*time.Hour), "renew.example.com")}},
		{App: "zone", Domains: []string{"zone.apps.example.com", "*.zone.example.com"},
			Certs: []controller.TLSCert{certFor(t, 2, "*.zone.example.com")}},
	}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.ServeTLS(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeTLS: %v", err)
		}
	}()
	for _, c := range []struct {
		sni  string
		want int64
	}{
		{"aaa-evil.apps.example.com", 1},
		{"shop.example.com", 0},        // shop's name, shop has no certificate for it
		{"shop.apps.example.com", 0},   // shop's default domain
		{"nobody.apps.example.com", 0}, // no app's: not evil's *.apps.example.com
		{"shop.example.org", 5},        // shop's own
		{"www.zone.example.com", 2},    // under zone's wildcard
		{"login.zone.example.com", 0},  // squatter's exact name under zone's wildcard
		{"www.multi.example.com", 3},   // multi's exact domain, by multi's wildcard certificate
		{"multi.example.com", 4},       // exact certificate
		{"api.multi.example.com", 0},   // nobody's: not multi's wildcard, not evil's exact
		{"multi.apps.example.com", 0},  // multi's default domain, no certificate names it
	} {
		if got := handshakeSerial(t, ln.Addr().String(), c.sni); got != c.want {
			t.Errorf("TLS handshake for %s showed certificate %d; want %d (0: none)", c.sni, got, c.want)
		}
	}
}

// TestNamesUnderAnotherAppsDefaultDomain: a route that lists a name under
// another app's default domain (a row added before the API refused them)
// does not get it, nor its certificate; the owner keeps its own subtree.
func TestNamesUnderAnotherAppsDefaultDomain(t *testing.T) {
	_, squat := backend(t, "squat")
	_, shop := backend(t, "shop")
	r, addr := startRouter(t, router.Options{})
	r.Update(controller.RoutingTable{Version: 1, BaseDomain: "apps.example.com", Apps: []controller.AppRoute{
		{App: "aaa-squat", Domains: []string{"aaa-squat.apps.example.com", "login.shop.apps.example.com", "*.shop.apps.example.com", "nobody.apps.example.com"},
			Endpoints: []controller.Endpoint{squat},
			Certs:     []controller.TLSCert{certFor(t, 9, "login.shop.apps.example.com", "*.shop.apps.example.com")}},
		{App: "shop", Domains: []string{"shop.apps.example.com", "api.shop.apps.example.com"}, Endpoints: []controller.Endpoint{shop}},
	}})
	for _, c := range []struct {
		host string
		code int
		body string
	}{
		{"login.shop.apps.example.com", http.StatusNotFound, ""},
		{"www.shop.apps.example.com", http.StatusNotFound, ""},
		{"nobody.apps.example.com", http.StatusNotFound, ""},
		{"aaa-squat.apps.example.com", http.StatusOK, "squat"},
		{"shop.apps.example.com", http.StatusOK, "shop"},
		{"api.shop.apps.example.com", http.StatusOK, "shop"},
	} {
		code, _, body := get(t, addr, c.host, "/", nil)
		if code != c.code || c.body != "" && body != c.body || c.body == "" && body == "squat" {
			t.Errorf("GET Host: %s = %d %.20q; want %d %q", c.host, code, body, c.code, c.body)
		}
	}
	for _, sni := range []string{"login.shop.apps.example.com", "www.shop.apps.example.com"} {
		if got := servedSerial(t, r, sni); got != 0 {
			t.Errorf("TLS for %s got certificate %d; want none", sni, got)
		}
	}
}
