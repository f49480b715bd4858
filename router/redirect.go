package router

import (
	"net"
	"net/http"
	"strconv"
	"strings"

	"paas/controller"
)

// redirectIndex holds the hosts of the apps that force HTTPS: exact names,
// and wildcard suffixes (".example.com" for *.example.com).
type redirectIndex struct {
	exact map[string]bool
	wild  []string
}

// buildRedirects returns the index of t's apps that force HTTPS, or nil
// when none does, so that the common case costs one pointer load.
func buildRedirects(t controller.RoutingTable) *redirectIndex {
	var idx *redirectIndex
	for _, a := range t.Apps {
		if !a.ForceHTTPS {
			continue
		}
		if idx == nil {
			idx = &redirectIndex{exact: map[string]bool{}}
		}
		for _, d := range a.Domains {
			d = strings.ToLower(d)
			if suffix, ok := strings.CutPrefix(d, "*"); ok {
				idx.wild = append(idx.wild, suffix)
			} else {
				idx.exact[d] = true
			}
		}
	}
	return idx
}

func (x *redirectIndex) match(host string) bool {
	if x.exact[host] {
		return true
	}
	for _, s := range x.wild {
		if strings.HasSuffix(host, s) && len(host) > len(s) {
			return true
		}
	}
	return false
}

// SetHTTPSPort tells the router the port its HTTPS side listens on, where
// the plain-HTTP requests of apps that force HTTPS (paas http:set
// force-https=true) are redirected; 0, the default, turns the redirects
// off (there is nowhere to send them). ServeTLS sets it itself.
func (r *Router) SetHTTPSPort(port int) { r.httpsPort.Store(int32(port)) }

// redirectToHTTPS answers a plain-HTTP request for an app that forces
// HTTPS with a permanent redirect that keeps the method (308), and
// reports whether it did.
func (r *Router) redirectToHTTPS(w http.ResponseWriter, req *http.Request) bool {
	if req.TLS != nil {
		return false
	}
	idx := r.redirects.Load()
	if idx == nil {
		return false
	}
	port := int(r.httpsPort.Load())
	if port == 0 {
		return false
	}
	host := req.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if !idx.match(host) {
		return false
	}
	target := host
	if port != 443 {
		target = net.JoinHostPort(host, strconv.Itoa(port))
	}
	http.Redirect(w, req, "https://"+target+req.URL.RequestURI(), http.StatusPermanentRedirect)
	return true
}
