package serve

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"paas/router"
)

// acmeOptions turns the ACME settings into the router's: nil when no
// directory is set. caFile, if set, holds the roots that the ACME server's
// own HTTPS is checked against (a private CA, or Pebble in the tests).
func acmeOptions(directory, email, caFile, cacheDir string) (*router.ACMEOptions, error) {
	if directory == "" {
		return nil, nil
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("ACME CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ACME CA file %s holds no PEM certificate", caFile)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	return &router.ACMEOptions{DirectoryURL: directory, Email: email, CacheDir: cacheDir, HTTPClient: hc}, nil
}
