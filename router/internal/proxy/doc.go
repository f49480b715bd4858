// Package proxy builds the http.Handler that serves one routing table, out
// of traefik's parts: requestdecorator canonicalises the Host, exact host
// names are looked up in a map, wildcard domains (*.example.com) go through
// traefik's rule muxer (HostRegexp rules, most specific first), and each
// app is a traefik weighted-round-robin balancer over its endpoints, each
// endpoint served by one shared httputil.ReverseProxy and transport, so
// that keep-alive pools to the backends outlive table swaps. The transport
// sends GET and HEAD requests itself on the request's goroutine
// (h1Transport: about a third less CPU per request than http.Transport
// on two cores) and everything else — bodies, WebSocket upgrades —
// through http.Transport.
//
// A Table is immutable once built; the router swaps whole tables. The only
// state that changes inside a Table is the passive health of an endpoint:
// one that refuses a connection is left out of its balancer for a cooldown
// while the request is retried once on another endpoint.
//
// Traefik types never leave this package.
package proxy
