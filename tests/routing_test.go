package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// getHost sends GET url with the given Host header, as a browser asking
// for http://<host>:PORT/ would.
func getHost(url, host string) (int, string, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestRoutingAndZeroDowntime: requests to the server's HTTP port reach an
// app by its Host — default domain, custom domain, wildcard — spread over
// its instances; unknown app hosts get 404 while other hosts reach the API;
// under a bounded load through the router, a config change and a rollback
// roll out with no failed request; the router's lines reach paas logs.
func TestRoutingAndZeroDowntime(t *testing.T) {
	r := newAppRig(t)
	s, admin := r.s, r.admin
	mustCLI(t, admin, "apps:create", "shop")
	mustCLI(t, admin, "releases:create", "-a", "shop", "--image", busyboxImage, "--process", "web="+webCommand)
	mustCLI(t, admin, "scale", "-a", "shop", "web=2")
	mustCLI(t, admin, "domains:add", "-a", "shop", "shop.example.com")
	mustCLI(t, admin, "domains:add", "-a", "shop", "*.shop.test")

	// Both instances answer through the router.
	seen := map[string]bool{}
	waitUntil(t, "both instances to answer through the router", 40*time.Second, func() (bool, string) {
		code, body, err := getHost(s.url+"/", "shop.localhost")
		if err == nil && code == 200 {
			seen[strings.Fields(body)[1]] = true
		}
		return len(seen) == 2, fmt.Sprint(code, " ", body, " ", err, " ", seen)
	})
	for _, host := range []string{"shop.example.com", "SHOP.example.com.", "a.shop.test"} {
		if code, body, err := getHost(s.url+"/", host); err != nil || code != 200 || !strings.HasPrefix(body, "shop web.") {
			t.Errorf("GET Host %s = %d %q, %v; want shop's page", host, code, body, err)
		}
	}
	if code, _, err := getHost(s.url+"/", "nope.localhost"); err != nil || code != 404 {
		t.Errorf("GET Host nope.localhost = %d, %v; want 404", code, err)
	}
	if code, body, err := getHost(s.url+"/v1/info", "127.0.0.1"); err != nil || code != 200 || !strings.Contains(body, "base_domain") {
		t.Errorf("GET /v1/info by address = %d %q, %v; want the API", code, body, err)
	}

	// A bounded load through the router while two rollouts happen.
	var ok, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				code, body, err := getHost(s.url+"/", "shop.localhost")
				if err != nil || code != 200 {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%d %q %v", code, body, err))
					mu.Unlock()
				} else {
					ok.Add(1)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	waitRelease := func(v string) {
		waitUntil(t, "every answer to come from "+v, 60*time.Second, func() (bool, string) {
			for i := 0; i < 4; i++ {
				_, body, _ := getHost(s.url+"/", "shop.localhost")
				if !strings.HasSuffix(strings.TrimSpace(body), v) {
					return false, body
				}
			}
			out, _, _ := cli(t, admin, "ps", "-a", "shop")
			return strings.Count(out, " "+v+" ") == 2 && !strings.Contains(out, "stopping"), out
		})
	}
	mustCLI(t, admin, "config:set", "-a", "shop", "GREETING=bonjour") // v2
	waitRelease("v2")
	mustCLI(t, admin, "rollback", "-a", "shop", "v1") // v3
	waitRelease("v3")
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	t.Logf("through the router during two rollouts: %d requests ok, %d failed", ok.Load(), failed.Load())
	if failed.Load() != 0 || ok.Load() < 100 {
		if len(failures) > 5 {
			failures = failures[:5]
		}
		t.Errorf("%d of %d requests failed, want 0; first: %v", failed.Load(), ok.Load()+failed.Load(), failures)
	}

	// The router's access lines are in the app's logs.
	waitUntil(t, "router lines in paas logs", 10*time.Second, func() (bool, string) {
		out, _, _ := cli(t, admin, "logs", "-a", "shop", "--ps", "router", "-n", "5")
		return strings.Contains(out, "paas[router]: at=info method=GET") && strings.Contains(out, "status=200"), out
	})
	r.destroy(t, "shop")
}

// TestStandaloneRouterOutlivesController: paas router follows a remote
// controller; when the controller is killed, it keeps serving the last
// table.
func TestStandaloneRouterOutlivesController(t *testing.T) {
	r := newAppRig(t)
	s, admin, token, ns := r.s, r.admin, r.token, r.ns
	mustCLI(t, admin, "apps:create", "shop")
	mustCLI(t, admin, "releases:create", "-a", "shop", "--image", busyboxImage, "--process", "web="+webCommand)

	var stderr syncBuffer
	rt := exec.Command(paasBin, "router", "--controller", s.url, "--token", token, "--listen", "127.0.0.1:0")
	rt.Env = baseEnv(t.TempDir())
	rt.Stderr = &stderr
	if err := rt.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Process.Kill(); _ = rt.Wait() })
	var url string
	waitUntil(t, "the router to listen", 10*time.Second, func() (bool, string) {
		if m := listeningRE.FindStringSubmatch(stderr.String()); m != nil {
			url = "http://" + m[1]
			return true, ""
		}
		return false, stderr.String()
	})
	waitUntil(t, "the app through the standalone router", 40*time.Second, func() (bool, string) {
		code, body, err := getHost(url+"/", "shop.localhost")
		return err == nil && code == 200 && strings.HasPrefix(body, "shop web.1"), fmt.Sprint(code, body, err)
	})
	s.kill9(t)
	for i := 0; i < 20; i++ {
		if code, body, err := getHost(url+"/", "shop.localhost"); err != nil || code != 200 {
			t.Fatalf("with the controller killed, request %d through the router = %d %q, %v", i, code, body, err)
		}
	}
	// Clean up the app's container: a new controller on the same state
	// and networks, as after a crash, destroys the app.
	s2 := restartServer(t, s, s.dataDir, ns)
	login(t, s2, admin, "admin", token)
	r.destroy(t, "shop")
}

// TestTLSBySNI: with an uploaded certificate, the app answers HTTPS (HTTP/2)
// for its domain, chosen by SNI; a name with no certificate gets no
// handshake.
func TestTLSBySNI(t *testing.T) {
	r := newAppRig(t, "--tls-listen", "127.0.0.1:0")
	s, admin := r.s, r.admin
	mustCLI(t, admin, "apps:create", "shop")
	mustCLI(t, admin, "releases:create", "-a", "shop", "--image", busyboxImage, "--process", "web="+webCommand)
	mustCLI(t, admin, "domains:add", "-a", "shop", "shop.example.com")
	dir := t.TempDir()
	certPEM, keyPEM := selfSignedPEM(t, "shop.example.com")
	os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600)
	otherCert, otherKey := selfSignedPEM(t, "elsewhere.example.org")
	os.WriteFile(filepath.Join(dir, "other.pem"), otherCert, 0o600)
	os.WriteFile(filepath.Join(dir, "other-key.pem"), otherKey, 0o600)
	wantCLIError(t, admin, "none of which is a domain of the app", "certs:add", "-a", "shop", filepath.Join(dir, "other.pem"), filepath.Join(dir, "other-key.pem"))
	wantCLIError(t, admin, "not a usable certificate and key", "certs:add", "-a", "shop", filepath.Join(dir, "cert.pem"), filepath.Join(dir, "cert.pem"))
	mustCLI(t, admin, "certs:add", "-a", "shop", filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if out := mustCLI(t, admin, "certs", "-a", "shop"); !strings.Contains(out, "shop.example.com") {
		t.Errorf("paas certs:\n%s", out)
	}
	m := regexp.MustCompile(`msg="listening for HTTPS" addr=(127\.0\.0\.1:[0-9]+)`).FindStringSubmatch(s.stderr.String())
	if m == nil {
		t.Fatalf("the server did not log its HTTPS address:\n%s", s.stderr.String())
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := func(name string) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: name},
			ForceAttemptHTTP2: true,
		}}
	}
	waitUntil(t, "HTTPS by SNI", 40*time.Second, func() (bool, string) {
		req, _ := http.NewRequest("GET", "https://"+m[1]+"/", nil)
		req.Host = "shop.example.com"
		resp, err := client("shop.example.com").Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.Proto != "HTTP/2.0" {
			t.Errorf("HTTPS protocol = %s, want HTTP/2.0", resp.Proto)
		}
		return resp.StatusCode == 200 && strings.HasPrefix(string(b), "shop web.1"), fmt.Sprint(resp.StatusCode, string(b))
	})
	if _, err := client("other.example.com").Get("https://" + m[1] + "/"); err == nil {
		t.Error("a TLS handshake for a name with no certificate succeeded")
	}

	// http:set force-https=true: plain HTTP is redirected to the HTTPS port,
	// which serves the app; max-body-size: a larger body gets 413.
	wantCLIError(t, admin, "unknown setting", "http:set", "-a", "shop", "gzip=on")
	wantCLIError(t, admin, "invalid max-body-size", "http:set", "-a", "shop", "max-body-size=lots")
	out := mustCLI(t, admin, "http:set", "-a", "shop", "force-https=true", "max-body-size=1K")
	if !strings.Contains(out, "true") || !strings.Contains(out, "1K") {
		t.Errorf("paas http:set:\n%s", out)
	}
	_, tlsPort, _ := net.SplitHostPort(m[1])
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	waitUntil(t, "a redirect to HTTPS", 20*time.Second, func() (bool, string) {
		req, _ := http.NewRequest("GET", s.url+"/basket?id=7", nil)
		req.Host = "shop.example.com"
		resp, err := noFollow.Do(req)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		return resp.StatusCode == http.StatusPermanentRedirect && loc == "https://shop.example.com:"+tlsPort+"/basket?id=7", fmt.Sprint(resp.StatusCode, " ", loc)
	})
	post := func(n int) int {
		req, _ := http.NewRequest("POST", "https://"+m[1]+"/", strings.NewReader(strings.Repeat("x", n)))
		req.Host = "shop.example.com"
		resp, err := client("shop.example.com").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(2048); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2 KiB body with max-body-size=1K: %d, want 413", code)
	}
	// busybox httpd answers POST with 501: what matters is that the router
	// let the body through to it.
	if code := post(512); code != http.StatusNotImplemented {
		t.Errorf("a 512-byte body with max-body-size=1K: %d, want the app's own 501", code)
	}
	mustCLI(t, admin, "http:set", "-a", "shop", "force-https=false", "max-body-size=0")
	waitUntil(t, "plain HTTP again", 20*time.Second, func() (bool, string) {
		req, _ := http.NewRequest("GET", s.url+"/", nil)
		req.Host = "shop.example.com"
		resp, err := noFollow.Do(req)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, fmt.Sprint(resp.StatusCode)
	})
	if out := mustCLI(t, admin, "http", "-a", "shop"); !strings.Contains(out, "false") || !strings.Contains(out, "default") {
		t.Errorf("paas http:\n%s", out)
	}
	r.destroy(t, "shop")
}

func selfSignedPEM(t *testing.T, name string) ([]byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}
