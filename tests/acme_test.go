package tests

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// freePort finds a free port on 127.0.0.1 (for daemons that must be told
// their ports before they start).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// pebble starts Pebble, the ACME test CA, with its DNS companion answering
// 127.0.0.1 for every name, validating HTTP-01 on httpPort and TLS-ALPN-01
// on tlsPort. It returns the
// directory URL, the CA file for Pebble's own HTTPS, and the management URL.
func pebble(t *testing.T, httpPort, tlsPort int) (dir, caFile, mgmt string) {
	t.Helper()
	bin, certs := os.Getenv("PAAS_TEST_PEBBLE"), os.Getenv("PAAS_TEST_PEBBLE_CERTS")
	if bin == "" || certs == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("PAAS_TEST_PEBBLE is not set: run the tests with tests/run.sh")
		}
		t.Skip("no Pebble: run tests/run.sh")
	}
	dnsPort, acmePort, mgmtPort := freePort(t), freePort(t), freePort(t)
	start := func(name string, args []string, env ...string) {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Env = append(os.Environ(), env...)
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("%s output:\n%s", name, out.String())
			}
		})
	}
	start("pebble-challtestsrv", []string{"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort), "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
		"-management", fmt.Sprintf("127.0.0.1:%d", freePort(t))})
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", acmePort),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate":                    filepath.Join(certs, "localhost", "cert.pem"),
		"privateKey":                     filepath.Join(certs, "localhost", "key.pem"),
		"httpPort":                       httpPort,
		"tlsPort":                        freePort(t),
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}}
	b, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(t.TempDir(), "pebble.json")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	start("pebble", []string{"-config", cfgFile, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort)},
		"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	caFile = filepath.Join(certs, "pebble.minica.pem")
	dir = fmt.Sprintf("https://127.0.0.1:%d/dir", acmePort)
	mgmt = fmt.Sprintf("https://127.0.0.1:%d", mgmtPort)
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	waitUntil(t, "Pebble to answer", 20*time.Second, func() (bool, string) {
		resp, err := hc.Get(dir)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	return dir, caFile, mgmt
}

// TestACMEFromPebble: an app's custom domain with no uploaded certificate
// gets one over ACME (HTTP-01 through paas's own HTTP port) on the first
// HTTPS request, issued by Pebble, and the app answers over it.
func TestACMEFromPebble(t *testing.T) {
	httpPort, tlsPort := freePort(t), freePort(t)
	dir, caFile, mgmt := pebble(t, httpPort, tlsPort)
	r := newAppRig(t, "--listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--tls-listen", fmt.Sprintf("127.0.0.1:%d", tlsPort),
		"--acme-directory", dir, "--acme-ca-file", caFile, "--acme-email", "ops@example.com")
	mustCLI(t, r.admin, "apps:create", "shop")
	mustCLI(t, r.admin, "releases:create", "-a", "shop", "--image", busyboxImage, "--process", "web="+webCommand)
	mustCLI(t, r.admin, "domains:add", "-a", "shop", "shop.acme.test")
	m := regexp.MustCompile(`msg="listening for HTTPS" addr=(127\.0\.0\.1:[0-9]+)`).FindStringSubmatch(r.s.stderr.String())
	if m == nil {
		t.Fatalf("no HTTPS address in the server's log:\n%s", r.s.stderr.String())
	}
	// Trust Pebble's issuing root, as a browser would trust a real CA.
	pem, _ := os.ReadFile(caFile)
	mgmtPool := x509.NewCertPool()
	mgmtPool.AppendCertsFromPEM(pem)
	mc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: mgmtPool}}}
	resp, err := mc.Get(mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(root) {
		t.Fatalf("Pebble's root is not PEM: %q", root)
	}
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "shop.acme.test"}}}
	var issuer string
	waitUntil(t, "a certificate from Pebble and the app over HTTPS", 90*time.Second, func() (bool, string) {
		req, _ := http.NewRequest("GET", "https://"+m[1]+"/", nil)
		req.Host = "shop.acme.test"
		resp, err := client.Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
			issuer = resp.TLS.PeerCertificates[0].Issuer.String()
		}
		return resp.StatusCode == 200 && strings.HasPrefix(string(b), "shop web.1"), fmt.Sprint(resp.StatusCode, " ", string(b))
	})
	t.Logf("certificate for shop.acme.test issued by %q", issuer)
	if !strings.Contains(strings.ToLower(issuer), "pebble") {
		t.Errorf("issuer = %q, want Pebble's", issuer)
	}
	// Names that are not an app's custom domain get no certificate.
	bad := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "stranger.acme.test"}}}
	if _, err := bad.Get("https://" + m[1] + "/"); err == nil {
		t.Error("a TLS handshake for a name of no app succeeded")
	}
	r.destroy(t, "shop")
}
