package controller

// RoutingTable is what the router needs to know, as the controller
// publishes it: for each app, the host names it answers to and the web
// instances that are healthy now. Every change makes a new table with a
// larger Version; followers list it, then watch for a newer version.
type RoutingTable struct {
	Version    int64      `json:"version"`
	BaseDomain string     `json:"base_domain"` // apps' default domains are <app>.<BaseDomain>
	Apps       []AppRoute `json:"apps"`        // sorted by name
	// APIHosts are the server's own host names (the API and dashboard):
	// a router never sends a request for one to an app, nor serves an
	// app's certificate for one, whatever domains the apps list.
	APIHosts []string `json:"api_hosts,omitempty"`
}

// AppRoute routes one app.
type AppRoute struct {
	App string `json:"app"`
	// Domains are the host names routed to the app, lower-case, without
	// ports: the default <app>.<base-domain> first, then custom domains,
	// which may be wildcards such as *.example.com.
	Domains []string `json:"domains"`
	// Endpoints are the healthy web instances; empty when none is (the
	// router answers 503 then).
	Endpoints []Endpoint `json:"endpoints"`
	// MaxBodyBytes limits a request's body; 0 means the router's default.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// ForceHTTPS: the router answers the app's plain-HTTP requests with a
	// redirect to HTTPS when it serves HTTPS.
	ForceHTTPS bool `json:"force_https,omitempty"`
	// Certs are the app's TLS certificates, served by SNI.
	Certs []TLSCert `json:"certs,omitempty"`
}

// TLSCert is a certificate chain and its private key, PEM-encoded, as the
// router needs them. Only admins (and routers) ever see the key.
type TLSCert struct {
	CertPEM string `json:"cert_pem"`
	KeyPEM  string `json:"key_pem"`
}

// Endpoint is one web instance's address.
type Endpoint struct {
	Instance string `json:"instance"` // process and number, e.g. web.1
	Release  int    `json:"release"`
	Address  string `json:"address"` // host:port reachable from the router, e.g. 10.88.0.5:5000
}
